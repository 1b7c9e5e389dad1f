"""Custom reports over the API: a supervisor saves a definition, runs it over a period and
gets the ready-made report's own figures for the chosen measures, per key and per time
group, filtered and sorted, as JSON, CSV and XLSX; bad definitions are refused naming the
field; sharing decides who sees a report, only its owner or an admin changes it, and every
change is in the audit log. The ready-made reports export XLSX with typed cells.

Filtered by any dimension, whatever they group by: over a small known set of calls, campaign
attempts and wrap-ups, each filtered figure (operators of one queue and one campaign, a
team's calls on one trunk per interval, queues of one team, trunks of one result code,
campaigns on one trunk, result codes of one queue) equals an independent count of the same
records; combinations nobody counts are refused naming the filter; the CSV, the XLSX's
Definitions sheet and a scheduled export carry the filters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from openpyxl import load_workbook

from parley.center.ports import AttemptFacts
from parley.clock import VirtualClock
from parley.reports.exports import ExportScheduler
from parley.store import Store
from parley.store.call_rows import CallRows
from parley.store.records import WrapupRecord
from parley.store.specs import QueueSpec, TeamSpec, UserSpec

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
                ({**DEFINITION, "filters": {"trunk": "carrier"}},
                 "filters.trunk: a list of names"),
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
    check_filters_on_any_dimension(api, tmp_path / "filtered")


START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
DAY = {"from": "2026-12-02T09:00:00Z", "to": "2026-12-02T11:00:00Z"}
TEAMS = {"A": ["anna", "bob"], "B": ["carl"]}


class Call(NamedTuple):
    id: str
    minute: int
    queue: str
    operator: str | None  # None: abandoned
    trunk: str
    called: str
    wait: int
    direction: str = "inbound"
    campaign: str | None = None
    result: str | None = None


CALLS = [
    Call("f1", 0, "support", "anna", "T1", "600", 4, result="sale"),
    Call("f2", 5, "support", "bob", "T2", "600", 30, result="no_sale"),
    Call("f3", 10, "support", None, "T1", "600", 3),
    Call("f4", 20, "sales", "anna", "T1", "700", 10, result="sale"),
    Call("f5", 25, "sales", "carl", "T2", "700", 8),
    Call("f6", 35, "support", "carl", "T1", "600", 12, result="callback"),
    Call("f7", 40, "sales", None, "T2", "700", 50),
    Call("g1", 50, "support", "anna", "T1", "+15550101", 1, "outbound", "winter", "sale"),
    Call("g2", 55, "support", "carl", "T2", "+15550102", 2, "outbound", "winter"),
    Call("g3", 65, "support", "bob", "T1", "+15550103", 1, "outbound", "summer"),
]
# (attempt, campaign, minute, outcome, operator, trunk, call)
ATTEMPTS = [("a1", "winter", 50, "human", "anna", "T1", "g1"),
            ("a2", "winter", 55, "human", "carl", "T2", "g2"),
            ("a3", "winter", 56, "no_answer", None, "T1", None),
            ("a4", "winter", 57, "abandoned", None, "T2", None),
            ("a5", "summer", 65, "human", "bob", "T1", "g3")]


async def seed(store: Store) -> None:
    """The calls written as the call recorder writes them, the attempts as the dialer does,
    the wrap-ups as the desk saves them; teams A (anna, bob) and B (carl)."""
    for queue in ("support", "sales"):
        await store.config.put("queues", QueueSpec(name=queue))
    for team, members in TEAMS.items():
        await store.config.put("teams", TeamSpec(name=team))
        for member in members:
            await store.config.put("users", UserSpec(username=member, teams=[team]))
    for call in CALLS:
        began = START + timedelta(minutes=call.minute)
        queued = began + timedelta(seconds=1)
        reached = queued + timedelta(seconds=call.wait)
        ended = reached + timedelta(seconds=60 if call.operator else 0)
        rows = CallRows()
        rows.open(call.id, direction=call.direction, caller="+15550001", called=call.called,
                  started_at=began, variables={})
        rows.add_leg(call.id, f"{call.id}-leg", direction=call.direction, endpoint="x",
                     caller="+15550001", called=call.called, started_at=began,
                     trunk=call.trunk)
        changes: dict[str, Any] = {
            "queue": call.queue, "queued_at": queued, "ended_at": ended,
            "outcome": "answered" if call.operator else "abandoned", "wait_s": float(call.wait),
            "talk_s": 60.0 if call.operator else 0.0,
            "duration_s": (ended - began).total_seconds()}
        if call.operator:
            changes |= {"answered_at": reached, "operator": call.operator}
        rows.change(call.id, **changes)
        await store.interactions.write_rows(rows)
        if call.result:
            await store.wrapups.save(WrapupRecord(call.id, None, call.result, "success", "",
                                                  None, {}, call.operator or "", ended))
    await seed_transferred(store)
    for attempt_id, campaign, minute, outcome, operator, trunk, call_id in ATTEMPTS:
        began = START + timedelta(minutes=minute)
        await store.campaigns.save_attempt(AttemptFacts(
            attempt_id, campaign, attempt_id, "+1555", "mobile", began, trunk=trunk,
            call_id=call_id, answered_at=began + timedelta(seconds=5)
            if outcome != "no_answer" else None, ended_at=began + timedelta(seconds=70),
            outcome=outcome, operator=operator, talk_s=60.0 if outcome == "human" else None))


async def seed_transferred(store: Store) -> None:
    """f9 on trunk T3 to 800 at 10:10: waits 4 s in support, anna answers and transfers it
    after a minute to sales, where bob answers after 4 s and talks a minute."""
    began = START + timedelta(minutes=70)
    rows = CallRows()
    rows.open("f9", direction="inbound", caller="+15550009", called="800", started_at=began,
              variables={})
    rows.add_leg("f9", "f9-leg", direction="inbound", endpoint="x", caller="+15550009",
                 called="800", started_at=began, trunk="T3")
    for seconds, kind, detail in ((1, "queued", {"queue": "support"}),
                                  (5, "answered", {"operator": "anna"}),
                                  (65, "transferred", {"by": "anna"}),
                                  (66, "queued", {"queue": "sales"}),
                                  (70, "answered", {"operator": "bob"})):
        rows.add_entry("f9", began + timedelta(seconds=seconds), kind, detail)
    rows.change("f9", queue="sales", queued_at=began + timedelta(seconds=66),
                answered_at=began + timedelta(seconds=70), operator="bob",
                ended_at=began + timedelta(seconds=130), outcome="answered", wait_s=4.0,
                talk_s=60.0, duration_s=130.0)
    await store.interactions.write_rows(rows)


def kept(**filters: list[str]) -> list[Call]:
    """The calls every filter keeps, counted independently of the reports."""
    members = {m for team in filters.get("team", []) for m in TEAMS[team]}
    return [call for call in CALLS
            if all(getattr(call, name) in keys for name, keys in filters.items()
                   if name not in ("team", "number"))
            and (not filters.get("team") or call.operator in members)]


def define(group_by: list[str], measures: list[str], filters: dict[str, list[str]],
           name: str = "Filtered") -> dict[str, Any]:
    return {"name": name, "group_by": group_by, "measures": measures, "filters": filters,
            "period": {"from": "2026-12-02T09:00", "to": "2026-12-02T11:00"}}


def check_filters_on_any_dimension(api: Api, tmp_path: Path) -> None:
    """Filtered figures against independent counts (run in the same server as the test
    above, on the day after its calls)."""
    store = api.server.store
    assert store is not None
    tmp_path.mkdir()
    api.server.call(lambda: seed(store))

    def run(client: Any, definition: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        created = client.post("/api/reports/custom", json=definition)
        assert created.status_code == 201, created.text
        report_id = created.json()["id"]
        assert created.json()["filters"] == definition["filters"]
        ran = client.get(f"/api/reports/custom/{report_id}", params=DAY)
        assert ran.status_code == 200, ran.text
        return report_id, ran.json()["rows"]

    with api.client("supervisor") as client:
        # operators, of queue support and campaign winter: g1 (anna) and g2 (carl)
        report_id, rows = run(client, define(["operator"], ["answered", "talk_s"],
                                             {"queue": ["support"], "campaign": ["winter"]},
                                             "Winter support"))
        expected = {}
        for call in kept(queue=["support"], campaign=["winter"]):
            assert call.operator is not None
            expected[call.operator] = expected.get(call.operator, 0) + 1
        assert expected == {"anna": 1, "carl": 1}
        assert {row["operator"]: row["answered"] for row in rows} == expected
        assert all(row["talk_s"] == 60.0 * row["answered"] for row in rows)

        # team A's calls on trunk T1, per 15-minute interval: f1, f4, g1, g3
        _id, rows = run(client, define(["team", "interval"], ["answered"],
                                       {"team": ["A"], "trunk": ["T1"]}))
        by_interval: dict[str, int] = {}
        for call in kept(team=["A"], trunk=["T1"]):
            began = START + timedelta(minutes=call.minute - call.minute % 15)
            by_interval[began.isoformat(timespec="minutes")] = \
                by_interval.get(began.isoformat(timespec="minutes"), 0) + 1
        assert sum(by_interval.values()) == 4
        assert {row["interval"]: row["answered"] for row in rows if row["answered"]} == \
            by_interval
        assert {row["team"] for row in rows} == {"A"}

        # queues, of team B (carl): offered and answered are the calls carl answered
        _id, rows = run(client, define(["queue"], ["offered", "answered", "abandoned"],
                                       {"team": ["B"]}))
        counted = {q: len([c for c in kept(team=["B"]) if c.queue == q])
                   for q in ("support", "sales")}
        assert counted == {"support": 2, "sales": 1}
        assert [(row["queue"], row["offered"], row["answered"], row["abandoned"])
                for row in rows] == [(q, n, n, 0) for q, n in sorted(counted.items())]

        # trunks, of the calls wrapped up as a sale
        _id, rows = run(client, define(["trunk"], ["calls", "inbound", "outbound"],
                                       {"result": ["sale"]}))
        sales = kept(result=["sale"])
        assert [(row["trunk"], row["calls"], row["inbound"], row["outbound"]) for row in rows] \
            == [("T1", len(sales), len([c for c in sales if c.direction == "inbound"]),
                 len([c for c in sales if c.direction == "outbound"]))]

        # campaigns, dialled on trunk T1: a1, a3 (winter), a5 (summer)
        _id, rows = run(client, define(["campaign"], ["attempts", "live_answers",
                                                      "contact_rate"], {"trunk": ["T1"]}))
        on_t1 = [a for a in ATTEMPTS if a[5] == "T1"]
        assert [(row["campaign"], row["attempts"], row["live_answers"]) for row in rows] == [
            ("summer", len([a for a in on_t1 if a[1] == "summer"]), 1),
            ("winter", len([a for a in on_t1 if a[1] == "winter"]), 1)]
        assert rows[1]["contact_rate"] == 0.5

        # result codes, of queue sales; and numbers dialled, of operator anna
        _id, rows = run(client, define(["result"], ["calls"], {"queue": ["sales"]}))
        assert rows == [{"result": "sale", "calls": len(kept(queue=["sales"], result=["sale"]))}]
        _id, rows = run(client, define(["number"], ["calls", "answered"],
                                       {"operator": ["anna"]}))
        inbound = [c for c in kept(operator=["anna"]) if c.direction == "inbound"]
        assert {row["number"]: row["calls"] for row in rows} == {
            n: len([c for c in inbound if c.called == n]) for n in {c.called for c in inbound}}

        # operators filtered by team only: from the aggregates, state time included (f9
        # adds an answer for each)
        _id, rows = run(client, define(["operator"], ["answered", "logged_in_s"],
                                       {"team": ["A"]}))
        assert [(row["operator"], row["answered"]) for row in rows] == [
            ("anna", len(kept(operator=["anna"])) + 1),
            ("bob", len(kept(operator=["bob"])) + 1)]

        # f9 counts in each queue it waited in, under the operator who answered it there
        _id, rows = run(client, define(["queue"], ["offered", "answered", "transfers"],
                                       {"trunk": ["T3"]}))
        assert [(row["queue"], row["offered"], row["answered"], row["transfers"])
                for row in rows] == [("sales", 1, 1, 0), ("support", 1, 1, 1)]
        _id, rows = run(client, define(["operator"], ["answered"],
                                       {"queue": ["sales"], "trunk": ["T3"]}))
        assert rows == [{"operator": "bob", "answered": 1}]
        _id, rows = run(client, define(["queue"], ["answered"], {"operator": ["anna"],
                                                                 "number": ["800"]}))
        assert rows == [{"queue": "support", "answered": 1}]
        # filtered to every trunk, the raw counting gives the aggregates' figures
        figures = ["offered", "answered", "abandoned", "answered_within", "talk_s",
                   "transfers", "overflowed"]
        for group, report in (("queue", "queues"), ("trunk", "trunks")):
            measures = [f for f in figures if f != "overflowed" or group == "queue"]
            measures = [f for f in measures if group == "queue" or f in (
                "offered", "answered", "abandoned")]
            _id, rows = run(client, define([group], measures, {"trunk": ["T1", "T2", "T3"]}))
            ready = client.get(f"/api/reports/{report}", params=DAY).json()["rows"]
            assert rows == [{group: row[group], **{f: row[f] for f in measures}}
                            for row in ready], group

        for definition, message in (
                (define(["operator"], ["answered", "aht_s"], {"queue": ["support"]}),
                 "filters.queue: operators' state time is not kept by queue, so aht_s cannot "
                 "be filtered by queue"),
                (define(["campaign"], ["attempts"], {"queue": ["support"]}),
                 "filters.queue: campaign attempts are not kept by queue"),
                (define(["queue"], ["offered", "callbacks_requested"], {"operator": ["anna"]}),
                 "filters.operator: callbacks and after-call work are kept by queue only"),
                (define(["queue"], ["offered"], {"region": ["north"]}),
                 "filters.region: unknown dimension 'region'"),
                (define(["queue"], ["offered"], {"queue": ["support", 7]}),
                 "filters.queue[1]: a name (text), not 7"),
                (define(["queue"], ["offered"], {"team": ["Z"]}), "filters.team: no team 'Z'")):
            refused = client.post("/api/reports/custom", json=definition)
            assert refused.status_code == 422, definition
            assert refused.json()["detail"].startswith(message), refused.json()

        text = client.get(f"/api/reports/custom/{report_id}.csv", params=DAY).text
        assert list(csv.DictReader(io.StringIO(text))) == [
            {"operator": "anna", "answered": "1", "talk_s": "60.0"},
            {"operator": "carl", "answered": "1", "talk_s": "60.0"}]
        book = load_workbook(io.BytesIO(client.get(f"/api/reports/custom/{report_id}.xlsx",
                                                   params=DAY).content))
        notes = {row[0]: row[1] for row in book["Definitions"].iter_rows(values_only=True)
                 if row[0]}
        assert (notes["Only queue"], notes["Only campaign"]) == ("support", "winter")

    # a scheduled export of the filtered report carries the same rows
    with api.client("admin") as client:
        added = client.post(f"/api/reports/custom/{report_id}/schedules", json={
            "every": "daily", "at": "06:00", "format": "csv", "to": "folder",
            "folder": str(tmp_path), "file_name": "winter.csv"})
        assert added.status_code == 201, added.text
        schedule_id = added.json()["id"]

    async def export() -> int:  # due on 3 December: the day before is the seeded day
        await store.custom_reports.finish(schedule_id,
                                          next_run_at=datetime(2026, 12, 3, 6, 0, tzinfo=UTC))
        clock = VirtualClock(wall_epoch=datetime(2026, 12, 3, 7, 0, tzinfo=UTC))
        return await ExportScheduler(store, clock).run_due()

    assert api.server.call(export) == 1
    assert (tmp_path / "winter.csv").read_bytes().decode() == text
