"""Custom reports over the API: a supervisor saves a definition, runs it over a period and
gets the ready-made report's own figures for the chosen measures, per key and per time
group, filtered and sorted, as JSON, CSV and XLSX; bad definitions are refused naming the
field; sharing decides who sees a report, only its owner or an admin changes it, and every
change is in the audit log. The ready-made reports export XLSX with typed cells."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from openpyxl import load_workbook

from .conftest import Api
from .test_reports_api import seed_calls

PERIOD = {"from": "2026-12-01T09:00:00Z", "to": "2026-12-01T10:00:00Z"}
DEFINITION = {"name": "Support by interval", "group_by": ["queue", "interval"],
              "filters": {"queue": ["support"]}, "period": "yesterday",
              "measures": ["offered", "answered", "abandoned", "service_level", "asa_s"],
              "sort": {"by": "offered", "descending": True}, "shared_with": "supervisor"}


def test_custom_reports_are_saved_run_exported_shared_and_audited(api: Api,
                                                                 tmp_path: Path) -> None:
    store = api.server.store
    assert store is not None
    api.server.call(lambda: seed_calls(store, datetime(2026, 12, 1, 9, 0, tzinfo=UTC)))
    with api.client("supervisor") as client:
        for body, message in (
                ({**DEFINITION, "name": ""}, "name: required: a non-empty text"),
                ({**DEFINITION, "group_by": ["day"]}, "group_by: name exactly one of queue"),
                ({**DEFINITION, "measures": ["occupancy"]},
                 "measures: 'occupancy' is not a figure of the queues report"),
                ({**DEFINITION, "filters": {"trunk": ["carrier"]}},
                 "filters.trunk: only the grouped dimension (queue) can be filtered"),
                ({**DEFINITION, "period": "fortnight"}, "period: unknown preset 'fortnight'"),
                ({**DEFINITION, "sort": {"by": "talk_s"}},
                 "sort.by: 'talk_s' is not a column of the report"),
                ({**DEFINITION, "shared_with": "everyone"}, "shared_with: one of agent")):
            refused = client.post("/api/reports/custom", json=body)
            assert refused.status_code == 422, body
            assert refused.json()["detail"].startswith(message), refused.json()
        created = client.post("/api/reports/custom", json=DEFINITION)
        assert created.status_code == 201, created.text
        report = created.json()
        assert report["owner"] == "super1"
        assert {key: report[key] for key in DEFINITION} == DEFINITION
        report_id = report["id"]

        ran = client.get(f"/api/reports/custom/{report_id}", params=PERIOD).json()
        assert ran["columns"] == ["queue", "interval", "offered", "answered", "abandoned",
                                  "service_level", "asa_s"]
        # c1 09:00 and c2 09:05 answered, c3 09:10 abandoned: the first interval;
        # c4 09:15 abandoned: the second. Sorted by offered, most first.
        assert ran["rows"] == [
            {"queue": "support", "interval": "2026-12-01T09:00+00:00", "offered": 3,
             "answered": 2, "abandoned": 1, "service_level": 0.5, "asa_s": 17.0},
            {"queue": "support", "interval": "2026-12-01T09:15+00:00", "offered": 1,
             "answered": 0, "abandoned": 1, "service_level": 1.0, "asa_s": 0.0}]
        whole = client.get("/api/reports/queues", params=PERIOD).json()["rows"][0]
        assert sum(row["offered"] for row in ran["rows"]) == whole["offered"]
        assert sum(row["answered"] for row in ran["rows"]) == whole["answered"]
        # its own period (yesterday) is empty: no row
        assert client.get(f"/api/reports/custom/{report_id}").json()["rows"] == []

        text = client.get(f"/api/reports/custom/{report_id}.csv", params=PERIOD).text
        table = list(csv.DictReader(io.StringIO(text)))
        assert [(line["interval"], line["offered"]) for line in table] == \
            [("2026-12-01T09:00+00:00", "3"), ("2026-12-01T09:15+00:00", "1")]
        response = client.get(f"/api/reports/custom/{report_id}.xlsx", params=PERIOD)
        assert response.status_code == 200
        assert 'filename="Support_by_interval-20261201T0900-20261201T1000.xlsx"' in \
            response.headers["content-disposition"]
        book = load_workbook(io.BytesIO(response.content))
        sheet = book["Support by interval"]
        values = list(sheet.iter_rows(values_only=True))
        assert values[0] == tuple(ran["columns"])
        assert values[1][2:] == (3, 2, 1, 0.5, 17.0)
        assert values[1][1] == datetime(2026, 12, 1, 9, 0)
        assert sheet["F2"].number_format == "0.0%"
        assert sheet["G2"].number_format == '#,##0.0" s"'
        notes = {row[0]: row[1] for row in book["Definitions"].iter_rows(values_only=True)
                 if row[0]}
        assert notes["From"] == datetime(2026, 12, 1, 9, 0)
        assert notes["Time zone"] == "UTC"
        assert notes["Only queue"] == "support"
        assert "waited in the queue" in notes["offered"]

        ready = client.get("/api/reports/operators.xlsx", params=PERIOD)
        assert ready.status_code == 200
        operators = list(load_workbook(io.BytesIO(ready.content))["Operators"].iter_rows(
            values_only=True))
        header = operators[0]
        anna = dict(zip(header, operators[1], strict=True))
        assert (anna["operator"], anna["state_s.on_call"], anna["answered"]) == \
            ("anna", 1140.0, 2)

        intervals = client.get("/api/reports/intervals", params=PERIOD).json()["rows"]
        book = load_workbook(io.BytesIO(client.get("/api/reports/intervals.xlsx",
                                                   params=PERIOD).content))
        cells = list(book["Intervals"].iter_rows(values_only=True))
        first = dict(zip(cells[0], cells[1], strict=True))
        assert (first["interval"], first["offered"]) == (datetime(2026, 12, 1, 9, 0),
                                                         intervals[0]["offered"])
        assert len(cells) == len(intervals) + 1

        changed = client.put(f"/api/reports/custom/{report_id}",
                             json={**DEFINITION, "shared_with": None})
        assert changed.status_code == 200
        assert changed.json()["shared_with"] is None
    with api.client("admin") as client:  # an admin sees and changes every report
        assert client.get(f"/api/reports/custom/{report_id}", params=PERIOD).status_code == 200
        shared = client.put(f"/api/reports/custom/{report_id}",
                            json={**DEFINITION, "shared_with": "agent"})
        assert shared.status_code == 200
    with api.client("agent") as client:  # shared with agents: run, not changed
        assert [r["id"] for r in client.get("/api/reports/custom").json()["reports"]] == \
            [report_id]
        assert client.get(f"/api/reports/custom/{report_id}",
                          params=PERIOD).json()["rows"][0]["offered"] == 3
        assert client.put(f"/api/reports/custom/{report_id}",
                          json=DEFINITION).status_code == 403
    with api.client("supervisor") as client:
        client.put(f"/api/reports/custom/{report_id}", json={**DEFINITION,
                                                             "shared_with": None})
    with api.client("agent") as client:  # private again: not even its existence
        assert client.get("/api/reports/custom").json()["reports"] == []
        assert client.get(f"/api/reports/custom/{report_id}").status_code == 404
    schedules = f"/api/reports/custom/{report_id}/schedules"
    daily = {"every": "daily", "at": "06:00", "format": "xlsx", "to": "folder",
             "folder": str(tmp_path)}
    with api.client("supervisor") as client:  # schedules make the node write and call out
        assert client.post(schedules, json=daily).status_code == 403
    with api.client("admin") as client:
        missing = client.post(schedules, json={**daily, "folder": str(tmp_path / "none")})
        assert missing.status_code == 422
        assert missing.json()["detail"] == f"folder: {tmp_path / 'none'} is not a directory " \
            "on the node"
        added = client.post(schedules, json={**daily, "to": "webhook", "format": "csv",
                                             "url": "https://bi.example/in", "secret": "k"})
        assert added.status_code == 201, added.text
        assert (added.json()["secret"], added.json()["last_status"]) == ("********", "")
        assert client.post(schedules, json=daily).status_code == 201
    with api.client("supervisor") as client:
        listed = client.get(schedules).json()["schedules"]
        assert [(entry["to"], entry["format"]) for entry in listed] == [
            ("webhook", "csv"), ("folder", "xlsx")]
    with api.client("admin") as client:
        assert client.delete(f"{schedules}/{listed[0]['id']}").status_code == 204
        assert client.delete(f"{schedules}/{listed[0]['id']}").status_code == 404
    with api.client("supervisor") as client:
        assert client.delete(f"/api/reports/custom/{report_id}").status_code == 204
        assert client.get(f"/api/reports/custom/{report_id}").status_code == 404
    with api.client("admin") as client:
        audit = client.get("/api/audit", params={"target_type": "custom_report"}).json()
        actions = [(entry["actor"], entry["action"]) for entry in audit["items"]][::-1]
        assert actions == [("super1", "custom_report_created"),
                           ("super1", "custom_report_changed"),
                           ("admin1", "custom_report_changed"),
                           ("super1", "custom_report_changed"),
                           ("admin1", "custom_report_scheduled"),
                           ("admin1", "custom_report_scheduled"),
                           ("admin1", "custom_report_unscheduled"),
                           ("super1", "custom_report_deleted")]
