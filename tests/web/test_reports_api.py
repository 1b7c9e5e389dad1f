"""The reports API's contract where no call is needed: each report answers its rows for a
period, every figure has a definition, and a bad period is refused naming the parameter.
(The figures themselves: tests/store/test_reports.py; over real calls:
tests/integration/test_reports_day.py.) The CSV export gives the same rows as the JSON."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook

from parley.center.ports import AttemptFacts
from parley.kpi import DEFINITIONS
from parley.store import Store
from parley.store.call_rows import CallRows
from parley.store.records import OperatorStateRecord
from parley.store.specs import AbandonSpec, CampaignSpec, UserSpec

from .conftest import Api

PERIOD = {"from": "2026-12-01T08:07:00+03:00", "to": "2026-12-01T18:00:00Z"}


async def seed_calls(store: Store, start: datetime) -> None:
    """Four finished calls to the queue ``support`` from ``start`` on, written as the call
    recorder writes them: two answered by ``anna`` (waits 4 s and 30 s), one abandoned after
    3 s (a short abandon) and one after 40 s; ``anna`` ready, then on a call."""
    calls = [("c1", 4, True), ("c2", 30, True), ("c3", 3, False), ("c4", 40, False)]
    for index, (call_id, wait, answered) in enumerate(calls):
        began = start + timedelta(minutes=5 * index)
        queued = began + timedelta(seconds=2)
        reached = queued + timedelta(seconds=wait)
        ended = reached + timedelta(seconds=60 if answered else 0)
        rows = CallRows()
        rows.open(call_id, direction="inbound", caller="+15550001", called="600",
                  started_at=began, variables={})
        rows.add_leg(call_id, f"{call_id}-leg", direction="inbound", endpoint="600",
                     caller="+15550001", called="600", started_at=began, trunk="carrier")
        rows.add_entry(call_id, began, "started", {"caller": "+15550001"})
        rows.add_entry(call_id, queued, "queued", {"queue": "support"})
        rows.add_entry(call_id, reached, "answered" if answered else "abandoned",
                       {"operator": "anna"} if answered else {})
        changes = {"queue": "support", "queued_at": queued, "ended_at": ended,
                   "outcome": "answered" if answered else "abandoned", "wait_s": float(wait),
                   "talk_s": 60.0 if answered else 0.0,
                   "duration_s": (ended - began).total_seconds()}
        if answered:
            changes |= {"answered_at": reached, "operator": "anna"}
        rows.change(call_id, **changes)
        await store.interactions.write_rows(rows)
    await store.operator_states.record_many(
        [OperatorStateRecord("anna", "ready", "", start),
         OperatorStateRecord("anna", "on_call", "", start + timedelta(minutes=1)),
         OperatorStateRecord("anna", "logged_out", "", start + timedelta(minutes=20))],
        consumer="operator states", applied_seq=1)


def test_reports_answer_rows_and_refuse_bad_periods_by_name(api: Api) -> None:
    with api.client("supervisor") as client:
        for name in ("queues", "operators", "teams", "trunks", "numbers", "campaigns",
                     "results"):
            response = client.get(f"/api/reports/{name}", params=PERIOD)
            assert response.status_code == 200, response.text
            assert response.json() == {"from": "2026-12-01T05:07:00+00:00",
                                       "to": "2026-12-01T18:00:00+00:00", "rows": []}
        definitions = client.get("/api/reports/definitions").json()
        assert definitions == DEFINITIONS
        assert {"offered", "answered", "abandoned", "abandoned_short", "service_level",
                "asa_s", "aht_s", "occupancy", "contact_rate", "erlangs"} <= set(definitions)
        for params, message in (
                ({"from": PERIOD["to"], "to": PERIOD["from"]}, "to: must come after from"),
                ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
                 "to: a report covers at most 400 days"),
                ({"from": "1970-01-01T00:00:00Z", "to": "1970-01-02T00:00:00Z"},
                 "from: must be between the years 2000 and 2200")):
            response = client.get("/api/reports/queues", params=params)
            assert response.status_code == 422
            assert response.json()["detail"] == message
        missing = client.get("/api/reports/queues", params={"from": PERIOD["from"]})
        assert missing.status_code == 422
        assert missing.json()["detail"][0]["loc"] == ["query", "to"]
    with api.client("agent") as client:
        assert client.get("/api/reports/queues", params=PERIOD).status_code == 403
        assert client.get("/api/reports/nowhere", params=PERIOD).status_code == 404
    check_abandon_windows(api)


# (campaign, started at, outcome) of the known attempts; "uk": 24 h windows of London's days,
# abandoned / live answers, cap 3%; "us": 30-day windows of New York's days from the day of
# its first attempt, abandoned / (live answers + machines), cap 3%
LONDON_DAY = datetime(2025, 12, 1, tzinfo=UTC)  # London is on UTC in December
NY_FIRST = datetime(2025, 11, 20, 4, 0, tzinfo=UTC)  # 19 November, 23:00 in New York
KNOWN = [
    *[("uk", LONDON_DAY + timedelta(hours=9, minutes=i), "human") for i in range(9)],
    ("uk", LONDON_DAY + timedelta(hours=23, minutes=59), "abandoned"),  # still 1 December
    *[("uk", LONDON_DAY + timedelta(days=1, hours=8, minutes=i), "human") for i in range(39)],
    ("uk", LONDON_DAY + timedelta(days=1, hours=12), "abandoned"),
    *[("uk", LONDON_DAY + timedelta(days=1, hours=13, minutes=i), "machine") for i in range(5)],
    *[("uk", LONDON_DAY + timedelta(days=1, hours=14, minutes=i), "no_answer")
      for i in range(3)],
    ("us", NY_FIRST, "machine"),
    *[("us", LONDON_DAY + timedelta(days=1, hours=15 + i), "human") for i in range(3)],
    ("us", LONDON_DAY + timedelta(days=1, hours=19), "abandoned"),
    ("us", datetime(2025, 12, 19, 4, 30, tzinfo=UTC), "human"),  # 18 December in New York
    ("us", datetime(2025, 12, 19, 5, 30, tzinfo=UTC), "abandoned"),  # the next window
]


async def seed_campaign_attempts(store: Store, now: datetime) -> None:
    """Campaigns "uk" and "us" and their attempts: :data:`KNOWN`, and a few just before
    ``now`` for the current rolling windows (uk: 2 live answers, 1 abandoned in the last
    24 h; us: 1 answer and 1 machine in the last 30 days)."""
    recent = [("uk", now - timedelta(hours=2), "human"),
              ("uk", now - timedelta(hours=3), "abandoned"),
              ("uk", now - timedelta(hours=26), "abandoned"),  # out of the rolling 24 h
              ("us", now - timedelta(days=10), "human"),
              ("us", now - timedelta(days=20), "machine"),
              ("us", now - timedelta(days=40), "abandoned")]  # out of the rolling 30 days
    await store.config.put("campaigns", CampaignSpec(
        name="uk", mode="progressive", caller_id="+442071230000", call_window="any",
        agents=["agent1"],
        time_zone="Europe/London", abandon=AbandonSpec(cap=0.03, window="24h")))
    await store.config.put("campaigns", CampaignSpec(
        name="us", mode="progressive", caller_id="+12125550000", call_window="any",
        agents=["agent1"],
        time_zone="America/New_York",
        abandon=AbandonSpec(cap=0.03, window="30d", definition="all_answers")))
    for index, (campaign, began, outcome) in enumerate([*KNOWN, *recent]):
        await store.campaigns.save_attempt(AttemptFacts(
            f"w{index}", campaign, f"k{index}", "+15550100", "mobile", began,
            answered_at=None if outcome == "no_answer" else began + timedelta(seconds=5),
            ended_at=began + timedelta(seconds=60), outcome=outcome))


def check_abandon_windows(api: Api) -> None:
    """The abandon rate of each campaign per regulatory window, against the known attempts
    counted by hand; the current rolling windows against attempts made just now."""
    store = api.server.store
    assert store is not None
    api.server.call(lambda: seed_campaign_attempts(store, datetime.now(UTC)))
    period = {"from": "2025-12-01T00:00:00Z", "to": "2025-12-03T00:00:00Z"}
    with api.client("supervisor") as client:
        answer = client.get("/api/reports/campaigns/windows", params=period).json()
        rows = [{key: row[key] for key in ("campaign", "window_start", "window_end",
                                           "attempts", "live_answers", "machines",
                                           "abandoned", "denominator", "abandon_rate",
                                           "over_cap", "complete")} for row in answer["rows"]]
        assert rows == [
            {"campaign": "uk", "window_start": "2025-12-01T00:00:00+00:00",
             "window_end": "2025-12-02T00:00:00+00:00", "attempts": 10, "live_answers": 10,
             "machines": 0, "abandoned": 1, "denominator": 10, "abandon_rate": 0.1,
             "over_cap": True, "complete": True},
            {"campaign": "uk", "window_start": "2025-12-02T00:00:00+00:00",
             "window_end": "2025-12-03T00:00:00+00:00", "attempts": 48, "live_answers": 40,
             "machines": 5, "abandoned": 1, "denominator": 40, "abandon_rate": 0.025,
             "over_cap": False, "complete": True},
            # 19 November to 19 December in New York, whole: the machine of 20 November,
            # 3 answers and an abandon on 2 December, the answer of 18 December
            {"campaign": "us", "window_start": "2025-11-19T00:00:00-05:00",
             "window_end": "2025-12-19T00:00:00-05:00", "attempts": 6, "live_answers": 5,
             "machines": 1, "abandoned": 1, "denominator": 6, "abandon_rate": 0.1667,
             "over_cap": True, "complete": True}]
        rules = {rule["campaign"]: rule for rule in answer["campaigns"]}
        assert (rules["uk"]["window"], rules["uk"]["cap"], rules["uk"]["definition"],
                rules["us"]["window"], rules["us"]["definition"]) == \
            ("24h", 0.03, "live_answers", "30d", "all_answers")
        assert rules["uk"]["definition_text"].startswith(
            "Abandoned: a person answered and no operator took the call within 2 s")
        assert "abandoned / live answers and answering machines" in \
            rules["us"]["definition_text"]
        uk, us = rules["uk"]["current"], rules["us"]["current"]
        assert (uk["live_answers"], uk["abandoned"], uk["abandon_rate"], uk["over_cap"]) == \
            (2, 1, 0.5, True)
        assert (us["attempts"], us["denominator"], us["abandoned"], us["over_cap"]) == \
            (2, 2, 0, False)
        one = client.get("/api/reports/campaigns/windows",
                         params={**period, "campaign": "us"}).json()
        assert [row["campaign"] for row in one["rows"]] == ["us"]
        unknown = client.get("/api/reports/campaigns/windows",
                             params={**period, "campaign": "nope"})
        assert (unknown.status_code, unknown.json()["detail"]) == \
            (404, "campaign: no campaign 'nope'")
        # the reports page shows the same windows as a table, the rules in words
        page = client.get("/reports", params={"report": "campaigns",
                                              "from": "2025-12-01T00:00",
                                              "to": "2025-12-03T00:00"})
        assert page.status_code == 200, page.text
        table = page.text.split('id="windows-table"')[1].split("</table>")[0]
        assert [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", "<tr" + line)).strip()
                for line in table.split("<tr")[2:]] == [
            "uk 2025-12-01 00:00 – 2025-12-02 00:00 10 10 0 1 10 10% 3% yes",
            "uk 2025-12-02 00:00 – 2025-12-03 00:00 48 40 5 1 40 2.5% 3% no",
            "us 2025-11-19 00:00 – 2025-12-19 00:00 6 5 1 1 6 16.67% 3% yes"]
        assert "no operator took the call within 2 s" in page.text
        # the campaigns report over the same days keeps its contract
        report = client.get("/api/reports/campaigns", params=period).json()["rows"]
        assert [(row["campaign"], row["attempts"]) for row in report] == [("uk", 58),
                                                                          ("us", 4)]



def test_each_report_exports_the_same_rows_as_csv(api: Api) -> None:
    store = api.server.store
    assert store is not None
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    api.server.call(lambda: seed_calls(store, start))
    period = {"from": "2026-12-01T09:00:00Z", "to": "2026-12-01T10:00:00Z"}
    with api.client("supervisor") as client:
        for name, key in (("queues", "queue"), ("operators", "operator"),
                          ("trunks", "trunk")):
            rows = client.get(f"/api/reports/{name}", params=period).json()["rows"]
            response = client.get(f"/api/reports/{name}.csv", params=period)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/csv")
            assert 'filename="' + name + '-20261201T0900-20261201T1000.csv"' in \
                response.headers["content-disposition"]
            table = list(csv.DictReader(io.StringIO(response.text)))
            assert [line[key] for line in table] == [row[key] for row in rows]
            for line, row in zip(table, rows, strict=True):
                for figure, value in row.items():
                    if isinstance(value, dict):  # spread over one column per entry
                        for part, inner in value.items():
                            assert float(line[f"{figure}.{part}"]) == inner
                    elif figure != key:
                        assert float(line[figure]) == value, (name, figure)
        queue = next(csv.DictReader(io.StringIO(client.get(
            "/api/reports/queues.csv", params=period).text)))
        assert (queue["queue"], queue["offered"], queue["answered"], queue["abandoned"],
                queue["abandoned_short"], queue["asa_s"]) == \
            ("support", "4", "2", "2", "1", "17.0")
        anna = next(csv.DictReader(io.StringIO(client.get(
            "/api/reports/operators.csv", params=period).text)))
        assert (anna["operator"], anna["state_s.ready"], anna["state_s.on_call"]) == \
            ("anna", "60.0", "1140.0")
        bad = client.get("/api/reports/queues.csv", params={**period, "to": period["from"]})
        assert bad.status_code == 422
        assert bad.json()["detail"] == "to: must come after from"
    with api.client("agent") as client:
        assert client.get("/api/reports/queues.csv", params=period).status_code == 403
    check_intervals_and_the_calls_behind_a_figure(api)
    check_working_time_and_abandoned_calls(api)


def check_intervals_and_the_calls_behind_a_figure(api: Api) -> None:
    """The calls of :func:`seed_calls` from 09:00, five minutes apart: three in the 09:00
    interval, one in 09:15; the calls behind the support queue's abandoned count are the two
    abandoned ones, and a figure that counts no calls, or a report without rows of calls, is
    refused by name."""
    period = {"from": "2026-12-01T09:00:00Z", "to": "2026-12-01T09:31:00Z"}
    with api.client("supervisor") as client:
        rows = client.get("/api/reports/intervals", params=period).json()["rows"]
        assert [(row["interval"], row["offered"], row["answered"], row["abandoned"])
                for row in rows] == [("2026-12-01T09:00:00+00:00", 3, 2, 1),
                                     ("2026-12-01T09:15:00+00:00", 1, 0, 1)]
        table = list(csv.DictReader(io.StringIO(
            client.get("/api/reports/intervals.csv", params=period).text)))
        assert [line["abandoned_short"] for line in table] == ["1", "0"]
        behind = client.get("/api/reports/calls", params={
            **period, "report": "queues", "key": "support", "measure": "abandoned"}).json()
        assert (behind["total"], [call["id"] for call in behind["calls"]]) == (
            2, ["c3", "c4"])
        assert behind["calls"][0]["wait_s"] == 3.0
        first = client.get("/api/reports/calls", params={
            **period, "report": "intervals", "key": "2026-12-01T09:00:00Z",
            "measure": "answered"}).json()
        assert [call["id"] for call in first["calls"]] == ["c1", "c2"]
        for wrong, message in (({"measure": "asa_s"}, "measure: 'asa_s' does not count"),
                               ({"report": "results"}, "report: 'results' has no calls"),
                               ({"report": "intervals", "key": "2026-12-01T09:05:00Z"},
                                "key: an interval starts on the quarter hour")):
            refused = client.get("/api/reports/calls", params={
                **period, "report": "queues", "key": "support", "measure": "abandoned",
                **wrong})
            assert refused.status_code == 422
            assert refused.json()["detail"].startswith(message), refused.text
        page = client.get("/reports/calls", params={
            **period, "report": "queues", "key": "support", "measure": "abandoned",
            "call": "c3"})
        assert page.status_code == 200
        assert 'data-call="c4"' in page.text
        assert 'id="call"' in page.text  # the chosen call's timeline
        report = client.get("/reports", params={"report": "queues", "from": "2026-12-01T09:00",
                                                "to": "2026-12-01T10:00"})
        assert "/reports/calls?report=queues&amp;key=support&amp;measure=abandoned" \
            in report.text


async def locate_and_call_back(store: Store) -> None:
    """``anna`` works remotely; at 11:00 an operator calls the abandoned callers' number
    and is answered."""
    await store.config.put("users", UserSpec(username="anna", location="remote"))
    rows = CallRows()
    began = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    rows.open("c5", direction="outbound", caller="1001", called="+15550001",
              started_at=began, variables={})
    rows.change("c5", answered_at=began + timedelta(seconds=5), operator="anna",
                ended_at=began + timedelta(seconds=65), outcome="answered", talk_s=60.0,
                duration_s=65.0)
    await store.interactions.write_rows(rows)


def check_working_time_and_abandoned_calls(api: Api) -> None:
    """Working time per operator, location and in all (``anna``: ready 60 s, on a call
    1,140 s, remote), a team that does not exist refused by name; the abandoned calls c3
    and c4 reached again by the outbound call c5, with the delay from each one's end."""
    store = api.server.store
    assert store is not None
    api.server.call(lambda: locate_and_call_back(store))
    period = {"from": "2026-12-01T09:00:00Z", "to": "2026-12-01T12:00:00Z"}
    with api.client("supervisor") as client:
        report = client.get("/api/reports/working_time", params=period).json()
        [anna] = report["rows"]
        assert (anna["operator"], anna["location"], anna["ready_s"], anna["on_calls_s"],
                anna["logged_in_s"], anna["occupancy"], anna["utilisation"]) == (
            "anna", "remote", 60.0, 1140.0, 1200.0, 0.95, 0.95)
        assert [(row["location"], row["operators"], row["logged_in_s"])
                for row in report["locations"]] == [("remote", 1, 1200.0)]
        assert report["total"]["logged_in_s"] == 1200.0
        assert client.get("/api/reports/working_time", params={
            **period, "operator": "nobody"}).json()["rows"] == []
        missing = client.get("/api/reports/working_time", params={**period, "team": "x"})
        assert (missing.status_code, missing.json()["detail"]) == (404, "team: no team 'x'")
        table = list(csv.DictReader(io.StringIO(
            client.get("/api/reports/working_time.csv", params=period).text)))
        assert [(line["operator"], line["location"], line["state_s.on_call"])
                for line in table] == [("anna", "remote", "1140.0"),
                                       ("*", "remote", "1140.0"), ("*", "*", "1140.0")]
        sheet = load_workbook(io.BytesIO(client.get(
            "/api/reports/working_time.xlsx", params=period).content)).worksheets[0]
        assert [cell.value for cell in sheet["A"] if cell.value in ("anna", "*")] == \
            ["anna", "*", "*"]
        rows = client.get("/api/reports/abandoned", params=period).json()["rows"]
        assert [(row["call"], row["reached_by"], row["reached_call"], row["delay_s"])
                for row in rows] == [("c3", "outbound", "c5", 6600.0),
                                     ("c4", "outbound", "c5", 6263.0)]
        lines = list(csv.DictReader(io.StringIO(
            client.get("/api/reports/abandoned.csv", params=period).text)))
        assert [line["reached"] for line in lines] == ["True", "True"]
        workbook = client.get("/api/reports/abandoned.xlsx", params=period)
        assert workbook.status_code == 200, workbook.text
        page = client.get("/reports", params={"report": "working_time",
                                              "from": "2026-12-01T09:00",
                                              "to": "2026-12-01T12:00"})
        assert page.status_code == 200
        assert "remote" in page.text
        page = client.get("/reports", params={"report": "abandoned",
                                              "from": "2026-12-01T09:00",
                                              "to": "2026-12-01T12:00"})
        assert page.status_code == 200
        assert "c3" in page.text
