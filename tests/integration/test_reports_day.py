"""A known day of calls over real peers, and every figure of the queues, operators and
intervals reports checked exactly against a count made here from the raw call records, on
SQLite and on PostgreSQL.

SIPp callers dial the support queue; two operators' baresip phones answer (1001 in support,
1006 in sales), each with a second of wrap-up. The day: a call answered by 1001; while it
lasts, one caller who hangs up within the short-abandon threshold and one who waits longer,
overflowing after a second to the sales queue (nobody signed in there yet) and hanging up
there; then a call 1001 answers and a supervisor transfers to the sales queue, where 1006
answers it (the long abandon's caller, calling again: reached again); and a callback
requested through the API for the short abandon's number. The independent count follows
docs/reports.md: a call is offered in each queue it entered (from its timeline), answered or
abandoned where its wait ended, overflowed out of the others; each answering operator has
their own talk; a queue's AHT adds its operators' wrap-ups of its calls (from the state
log). The node runs on SQLite; its event journal is then replayed into a second
node on PostgreSQL (the same recorders, writing the raw records and the aggregates there),
so both stores are checked against one run of calls. Each store is checked for a period on
the interval boundaries (aggregates) and one off them (the raw records at the edges)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from parley.app import Node
from parley.journal import Journal
from parley.reports.intervals import interval_ceiling, interval_start
from parley.store.specs import OverflowRule, QueueSpec, UserSpec
from parley.testing.needs import HOLD_MUSIC, STOCK_PROMPTS, needs
from parley.testing.peers import Sipp
from parley.testing.postgres import (  # noqa: F401 - fixtures
    create_database,
    drop_database,
    postgres_server_url,
    postgres_template,
)

from .conftest import needs_baresip, needs_sipp
from .inbound_node import caller_scenario, change, demo_node, operator

pytestmark = needs(STOCK_PROMPTS, HOLD_MUSIC)

SHORT_ABANDON_S = 2
SERVICE_LEVEL_S = 2
SHORT_ANI, LONG_ANI = "555005", "555004"
OVERFLOW_S = 1
BUSY = ("reserved", "ringing", "on_call", "on_hold", "wrap_up")


async def configure(node: Node) -> None:
    """The day's thresholds (short abandons within 2 s, service level 2 s, 1 s of wrap-up,
    support overflowing to sales after 1 s of waiting) and the operators' locations."""
    for username, location in LOCATIONS.items():
        user = await node.store.config.get("users", username)
        assert isinstance(user, UserSpec)
        await change(node, "users", user.model_copy(update={"location": location}))
    site = await node.store.config.site()
    await node.store.config.put_site(site.model_copy(update={
        "short_abandon_s": SHORT_ABANDON_S}))
    for name in ("support", "sales"):
        queue = await node.store.config.get("queues", name)
        assert isinstance(queue, QueueSpec)
        await change(node, "queues", queue.model_copy(update={
            "wrap_up_s": 1, "service_level_s": SERVICE_LEVEL_S,
            "overflow": [OverflowRule(when="wait", threshold=OVERFLOW_S,
                                      target="queue:sales")] if name == "support" else []}))


async def until(check: Any, what: str, within: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await check()
        if value:
            return value
        assert loop.time() < deadline, f"{what} did not happen within {within} s"
        await asyncio.sleep(0.2)


def caller(tmp_path: Path, node: Node, name: str, talk_s: float, ani: str = "") -> Sipp:
    folder = tmp_path / name
    folder.mkdir()
    scenario, _ = caller_scenario(folder, talk_s=talk_s, ani=ani or f"5550{len(name):02d}")
    return Sipp(folder / "sipp", scenario, service="602", calls=1,
                target=f"127.0.0.1:{node.telephony.sip_port}",
                extra=("-timeout", "40s", "-timeout_error"))


async def run_the_day(node: Node, tmp_path: Path) -> None:
    """The calls of the day, over real SIP and RTP."""
    support, sales = operator(node, tmp_path, "1001"), operator(node, tmp_path, "1006")
    acd = node.center.shell.acd

    async def ready(*names: str) -> bool:
        return all(str(acd.agents[name].state) == "ready" for name in names)

    await support.start()
    try:
        await until(lambda: ready("1001"), "1001 ready")
        answered = caller(tmp_path, node, "answered", talk_s=4.5)
        await answered.start()
        await support.wait_event("CALL_ESTABLISHED", within=15)
        short = caller(tmp_path, node, "short", talk_s=0.3)
        long = caller(tmp_path, node, "long", talk_s=3.0)  # overflows to sales after 1 s
        await short.start()
        await long.start()
        for sipp in (answered, short, long):
            result = await sipp.wait(within=30)
            assert result.ok, result.log
        await sales.start()  # only now: nobody took the overflowed call in sales
        await until(lambda: ready("1001", "1006"), "operators ready after wrap-up")
        # the long abandon's caller calls again (and is answered): reached again
        transferred = caller(tmp_path, node, "transferred", talk_s=5.0, ani=LONG_ANI)
        await transferred.start()
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as api:
            login = await api.post("/api/auth/login", json={"username": "supervisor",
                                                            "password": "pw-supervisor"})
            api.headers["X-CSRF-Token"] = login.json()["csrf_token"]

            async def talking() -> list[dict[str, Any]]:
                calls = (await api.get("/api/live/calls")).json()
                return [call for call in calls if call["state"] == "talking"]

            [live] = await until(talking, "the call to transfer answered")
            await asyncio.sleep(0.5)
            moved = await api.post(f"/api/live/calls/{live['id']}/transfer",
                                   json={"target": "queue:sales"})
            assert moved.status_code == 202, moved.text
            await sales.wait_event("CALL_ESTABLISHED", within=15)
            result = await transferred.wait(within=30)
            assert result.ok, result.log
            await until(lambda: ready("1001", "1006"), "wrap-ups over")  # a whole second
            asked = await api.post("/api/callbacks", json={
                "number": SHORT_ANI, "queue": "support",
                "due_at": (node.clock.utcnow() + timedelta(days=1)).isoformat()})
            assert asked.status_code == 201, asked.text
    finally:
        await support.stop()
        await sales.stop()

    async def all_closed() -> bool:
        page = await node.store.interactions.search(number="602", limit=10)
        return len([r for r in page.items if r.ended_at is not None]) == 4

    await until(all_closed, "four closed call records")
    await until(lambda: ready_out(node), "operators logged out")


async def ready_out(node: Node) -> bool:
    """Both operators' latest state log entry is logged_out (their time is all in the log)."""
    async with node.store.sessions() as session:
        rows = (await session.execute(text(
            "SELECT username, state FROM operator_state_log ORDER BY at, id"))).all()
    latest = {username: state for username, state in rows}
    return all(latest.get(name) == "logged_out" for name in ("1001", "1006"))


# --- the independent count from the raw records -------------------------------------------


async def raw(node: Node) -> dict[str, Any]:
    """The raw records: calls (with their transfers and the timeline entries that move
    them between queues and operators), the state log, the callbacks."""
    async with node.store.sessions() as session:
        calls = [dict(row._mapping) for row in await session.execute(text(
            "SELECT id, direction, caller, called, queue, operator, started_at, queued_at, "
            "answered_at, ended_at, "
            "wait_s, talk_s, outcome FROM interactions WHERE ended_at IS NOT NULL"))]
        transfers = dict((await session.execute(text(
            "SELECT interaction_id, count(*) FROM timeline_events WHERE kind = 'transferred' "
            "GROUP BY interaction_id"))).all())
        timeline = (await session.execute(text(
            "SELECT interaction_id, at, kind, detail FROM timeline_events WHERE kind IN "
            "('queued', 'overflowed', 'answered', 'transferred', 'taken over', 'ended') "
            "ORDER BY interaction_id, at, id"))).all()
        states = (await session.execute(text(
            "SELECT username, state, reason, at, queue FROM operator_state_log "
            "ORDER BY username, at, id"))).all()
        callbacks = (await session.execute(text(
            "SELECT queue, requested_at, status, number, interaction_id "
            "FROM callbacks"))).all()
    entries: dict[str, list[tuple[datetime, str, dict[str, Any]]]] = {}
    for interaction_id, at, kind, detail in timeline:
        entries.setdefault(interaction_id, []).append(
            (utc(at), kind, json.loads(detail) if isinstance(detail, str) else detail))
    for call in calls:
        call["transfers"] = transfers.get(call["id"], 0)
        for name in ("started_at", "queued_at", "answered_at", "ended_at"):
            call[name] = utc(call[name])
        call["stays"] = stays(call, entries.get(call["id"], []))
        call["answers"] = answers(entries.get(call["id"], []))
    log = [(u, s, r, utc(a), q) for u, s, r, a, q in states]
    return {"calls": calls, "states": [entry[:4] for entry in log],
            "wrap_ups": wrap_ups(log),
            "callbacks": [(q, utc(r), status) for q, r, status, _n, _i in callbacks],
            "callback_rows": [(n, utc(r), status, i) for _q, r, status, n, i in callbacks]}


TALK_ENDS = ("answered", "transferred", "taken over", "ended")


def talk_of(entries: list[Any], index: int) -> tuple[float, int]:
    """The talk of the answer at ``index`` (to the next answer, transfer, take-over or end)
    and whether a transfer ended it."""
    at = entries[index][0]
    end_at, kind, _detail = next(e for e in entries[index + 1:] if e[1] in TALK_ENDS)
    return (end_at - at).total_seconds(), int(kind == "transferred")


def stays(call: dict[str, Any], entries: list[Any]) -> list[dict[str, Any]]:
    """The call's stay in each queue it entered (a 'queued' entry, or an overflow to a
    queue): its wait, from when the caller began waiting (an overflow does not start it
    again) to the next answer, overflow, queue or end, and how that wait ended; answered,
    the talk of every answer and the transfers until the call entered another queue."""
    found = []
    since = None
    for index, (at, kind, detail) in enumerate(entries):
        if kind == "queued":
            queue, since = detail["queue"], at
        elif kind == "overflowed" and detail.get("to") == "queue":
            queue = detail["target"]
        else:
            continue
        last = next(k for k in range(index + 1, len(entries))
                    if entries[k][1] in ("answered", "overflowed", "queued", "ended"))
        end_at, end_kind, _detail = entries[last]
        assert since is not None
        stay = {"queue": queue, "wait_s": (end_at - since).total_seconds(),
                "talk_s": 0.0, "transfers": 0,
                "end": end_kind if end_kind in ("answered", "overflowed") else
                "abandoned" if end_kind == "ended" and call["outcome"] == "abandoned"
                else "other"}
        if end_kind == "answered":
            for k in range(last, len(entries)):
                if entries[k][1] == "queued":
                    break
                if entries[k][1] == "answered":
                    talk, _transferred = talk_of(entries, k)
                    stay["talk_s"] += talk
                stay["transfers"] += int(entries[k][1] == "transferred")
        found.append(stay)
    return found


def answers(entries: list[Any]) -> list[tuple[str, float, int]]:
    """Each operator's answer: (operator, their talk, transfers that ended it)."""
    return [(detail["operator"], *talk_of(entries, index))
            for index, (_at, kind, detail) in enumerate(entries)
            if kind == "answered" and detail.get("operator")]


def wrap_ups(log: list[Any]) -> list[tuple[str, datetime, float]]:
    """Each wrap-up of a queue's call that has ended: (queue, its start, its seconds)."""
    return [(queue, at, (following[3] - at).total_seconds())
            for (user, state, _r, at, queue), following in pairwise(log)
            if state == "wrap_up" and queue and following[0] == user and following[3] > at]


def utc(value: Any) -> Any:
    """A moment read with plain SQL as an aware UTC datetime (SQLite gives text)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def figures(visits: Iterable[dict[str, Any]], wrap_s: float = 0.0) -> dict[str, Any]:
    """The queue figures of the stays in queues ``visits`` and the wrap-ups' seconds
    ``wrap_s``, counted as docs/reports.md defines them."""
    offered = list(visits)
    answered = [v for v in offered if v["end"] == "answered"]
    abandoned = [v for v in offered if v["end"] == "abandoned"]
    answered_within = [v for v in answered if v["wait_s"] <= SERVICE_LEVEL_S]
    talk = sum(v["talk_s"] for v in answered)
    return {
        "offered": len(offered), "answered": len(answered), "abandoned": len(abandoned),
        "abandoned_short": len([v for v in abandoned if v["wait_s"] <= SHORT_ABANDON_S]),
        "answered_within": len(answered_within),
        "abandoned_within": len([v for v in abandoned if v["wait_s"] <= SERVICE_LEVEL_S]),
        "service_level": round(len(answered_within) / len(answered), 4) if answered else 1.0,
        "service_level_offered": round(len(answered_within) / len(offered), 4)
        if offered else 1.0,
        "abandon_rate": round(len(abandoned) / len(offered), 4) if offered else 0.0,
        "asa_s": round(sum(v["wait_s"] for v in answered) / len(answered), 3)
        if answered else 0.0,
        "aht_s": round((talk + wrap_s) / len(answered), 3) if answered else 0.0,
        "talk_s": round(talk, 3),
        "transfers": sum(v["transfers"] for v in answered),
        "overflowed": len([v for v in offered if v["end"] == "overflowed"]),
    }


def callbacks(records: dict[str, Any], since: datetime, end: datetime,
              bucket: Any = None) -> dict[Any, tuple[int, int]]:
    counted: dict[Any, tuple[int, int]] = {}
    for queue, requested_at, status in records["callbacks"]:
        if since <= requested_at < end:
            key = bucket(requested_at) if bucket else queue
            requested, done = counted.get(key, (0, 0))
            counted[key] = (requested + 1, done + int(status == "done"))
    return counted


def in_period(records: dict[str, Any], since: datetime, end: datetime
              ) -> list[tuple[datetime, dict[str, Any]]]:
    """(the call's start, a stay) of the calls that began in the period."""
    return [(c["started_at"], stay) for c in records["calls"]
            if since <= c["started_at"] < end for stay in c["stays"]]


def expected_queues(records: dict[str, Any], since: datetime, end: datetime) -> list[Any]:
    visits = in_period(records, since, end)
    wraps = [(q, s) for q, at, s in records["wrap_ups"] if since <= at < end]
    asked = callbacks(records, since, end)
    rows = []
    for queue in sorted({v["queue"] for _at, v in visits} | set(asked) | {q for q, _ in wraps}):
        requested, done = asked.get(queue, (0, 0))
        rows.append({"queue": queue,
                     **figures((v for _at, v in visits if v["queue"] == queue),
                               sum(s for q, s in wraps if q == queue)),
                     "callbacks_requested": requested, "callbacks_completed": done})
    return rows


def expected_intervals(records: dict[str, Any], since: datetime, end: datetime) -> list[Any]:
    visits = in_period(records, since, end)
    wraps = [(interval_start(at), s) for _q, at, s in records["wrap_ups"] if since <= at < end]
    asked = callbacks(records, since, end, bucket=interval_start)
    rows = []
    for start in sorted({interval_start(at) for at, _v in visits} | set(asked)
                        | {bucket for bucket, _ in wraps}):
        requested, done = asked.get(start, (0, 0))
        rows.append({"interval": start.isoformat(),
                     **figures((v for at, v in visits if interval_start(at) == start),
                               sum(s for bucket, s in wraps if bucket == start)),
                     "callbacks_requested": requested, "callbacks_completed": done})
    return rows


def state_time(records: dict[str, Any], since: datetime, end: datetime
               ) -> dict[str, dict[tuple[str, str], float]]:
    """Each operator's seconds per (state, reason) within the period, from the state log."""
    seconds: dict[str, dict[tuple[str, str], float]] = {}
    log = records["states"]
    for (user, state, reason, at), following in zip(log, [*log[1:], None], strict=True):
        if following is None or following[0] != user or state == "logged_out":
            continue  # the last entry is logged_out (checked): no open state
        start, stop = max(at, since), min(following[3], end)
        if start < stop:
            own = seconds.setdefault(user, {})
            own[(state, reason)] = own.get((state, reason), 0.0) + (stop - start).total_seconds()
    return seconds


def split_states(seconds: dict[tuple[str, str], float]) -> tuple[dict[str, float],
                                                                 dict[str, float]]:
    by_state = {state: 0.0 for state in ("ready", "not_ready", *BUSY)}
    by_reason: dict[str, float] = {}
    for (state, reason), value in seconds.items():
        by_state[state] += value
        if state == "not_ready":
            by_reason[reason or "-"] = by_reason.get(reason or "-", 0.0) + value
    return by_state, by_reason


def expected_operators(records: dict[str, Any], since: datetime, end: datetime) -> list[Any]:
    taken = [answer for c in records["calls"] if since <= c["started_at"] < end
             for answer in c["answers"]]
    seconds = state_time(records, since, end)
    rows = []
    for user in sorted({who for who, _t, _n in taken} | set(seconds)):
        mine = [(talk, moved) for who, talk, moved in taken if who == user]
        by_state, by_reason = split_states(seconds.get(user, {}))
        busy = sum(by_state[state] for state in BUSY)
        logged_in = sum(by_state.values())
        handle = by_state["on_call"] + by_state["on_hold"] + by_state["wrap_up"]
        rows.append({
            "operator": user, "answered": len(mine),
            "talk_s": round(sum(talk for talk, _moved in mine), 3),
            "transfers": sum(moved for _talk, moved in mine),
            "aht_s": round(handle / len(mine), 3) if mine else 0.0,
            "occupancy": round(busy / (busy + by_state["ready"]), 4)
            if busy + by_state["ready"] else 0.0,
            "utilisation": round(busy / logged_in, 4) if logged_in else 0.0,
            "logged_in_s": round(logged_in, 3),
            "state_s": {state: round(value, 3) for state, value in by_state.items()},
            "not_ready_s_by_reason": {reason: round(value, 3)
                                      for reason, value in sorted(by_reason.items())},
        })
    return rows


LOCATIONS = {"1001": "remote", "1006": "moscow-office"}


def working_figures(seconds: dict[tuple[str, str], float]) -> dict[str, Any]:
    by_state, by_reason = split_states(seconds)
    busy = sum(by_state[state] for state in BUSY)
    logged_in = sum(by_state.values())
    return {
        "logged_in_s": round(logged_in, 3), "ready_s": round(by_state["ready"], 3),
        "on_calls_s": round(sum(by_state[s] for s in BUSY if s != "wrap_up"), 3),
        "wrap_up_s": round(by_state["wrap_up"], 3),
        "not_ready_s": round(by_state["not_ready"], 3),
        "occupancy": round(busy / (busy + by_state["ready"]), 4)
        if busy + by_state["ready"] else 0.0,
        "utilisation": round(busy / logged_in, 4) if logged_in else 0.0,
        "state_s": {state: round(value, 3) for state, value in by_state.items()},
        "not_ready_s_by_reason": {reason: round(value, 3)
                                  for reason, value in sorted(by_reason.items())}}


def expected_working_time(records: dict[str, Any], since: datetime,
                          end: datetime) -> dict[str, Any]:
    """Per operator (with their location), per location and in all, from the state log."""
    seconds = state_time(records, since, end)
    total: dict[tuple[str, str], float] = {}
    places: dict[str, tuple[int, dict[tuple[str, str], float]]] = {}
    for user, own in seconds.items():
        count, summed = places.get(LOCATIONS.get(user, "-"), (0, {}))
        places[LOCATIONS.get(user, "-")] = (count + 1, summed)
        for key, value in own.items():
            total[key] = total.get(key, 0.0) + value
            summed[key] = summed.get(key, 0.0) + value
    return {
        "rows": [{"operator": user, "location": LOCATIONS.get(user, "-"),
                  **working_figures(own)} for user, own in sorted(seconds.items())],
        "locations": [{"location": place, "operators": count, **working_figures(summed)}
                      for place, (count, summed) in sorted(places.items())],
        "total": {"operators": len(seconds), **working_figures(total)}}


def expected_abandoned(records: dict[str, Any], since: datetime, end: datetime) -> list[Any]:
    """Each abandoned call and the first answer on its caller's number after it ended."""
    done = {i: n for n, _r, status, i in records["callback_rows"] if status == "done"}
    rows = []
    for call in sorted((c for c in records["calls"] if since <= c["started_at"] < end
                        and c["queued_at"] and c["answered_at"] is None
                        and c["outcome"] == "abandoned"), key=lambda c: c["started_at"]):
        number = call["caller"]
        later = sorted(
            (c["answered_at"], "callback" if c["id"] in done else
             "inbound" if c["direction"] == "inbound" else "outbound", c["id"])
            for c in records["calls"] if c["answered_at"] is not None
            and c["answered_at"] >= call["ended_at"]
            and (c["caller"] if c["direction"] == "inbound" else c["called"]) == number)
        first = later[0] if later else None
        rows.append({
            "call": call["id"], "started_at": call["started_at"].isoformat(),
            "caller": number, "queue": call["queue"], "wait_s": round(call["wait_s"], 3),
            "callback_requested": any(n == number and r >= call["started_at"]
                                      for n, r, _s, _i in records["callback_rows"]),
            "reached": first is not None,
            "reached_at": first[0].isoformat() if first else None,
            "reached_by": first[1] if first else None,
            "reached_call": first[2] if first else None,
            "delay_s": round((first[0] - call["ended_at"]).total_seconds(), 3)
            if first else None})
    return rows


def close(actual: Any, expected: Any, where: str) -> None:
    """Equal, seconds summed in another order allowed their last rounding digit."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), (where, actual)
        assert actual.keys() == expected.keys(), (where, actual, expected)
        for name in expected:
            close(actual[name], expected[name], f"{where}.{name}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), (where, actual)
        assert len(actual) == len(expected), (where, actual, expected)
        for index, (one, other) in enumerate(zip(actual, expected, strict=True)):
            close(one, other, f"{where}[{index}]")
    elif isinstance(expected, float) and not isinstance(actual, str):
        assert abs(actual - expected) <= 0.0011, (where, actual, expected)
    else:
        assert actual == expected, (where, actual, expected)


async def aggregates(node: Node) -> dict[tuple[Any, ...], tuple[float, ...]]:
    """The interval aggregates' rows (counters rounded to the millisecond)."""
    async with node.store.sessions() as session:
        rows = (await session.execute(text("SELECT * FROM report_intervals"))).all()
    return {(row.dimension, utc(row.interval_start), row.key): tuple(
        round(float(value), 3) for name, value in row._mapping.items()
        if name not in ("dimension", "interval_start", "key")) for row in rows}


async def check_reports(node: Node, began: datetime, ended: datetime) -> dict[str, Any]:
    """Every figure of the three reports, for a period on the interval boundaries and one
    off them, as the raw records count it; the queues rows returned."""
    records = await raw(node)
    whole = (interval_start(began), interval_ceiling(ended + timedelta(seconds=1)))
    off = (began - timedelta(seconds=3), ended + timedelta(seconds=2))
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as api:
        login = await api.post("/api/auth/login", json={"username": "supervisor",
                                                        "password": "pw-supervisor"})
        assert login.status_code == 200, login.text
        for since, end in (whole, off):
            params = {"from": since.isoformat(), "to": end.isoformat()}
            for name, expected in (("queues", expected_queues),
                                   ("intervals", expected_intervals),
                                   ("operators", expected_operators),
                                   ("abandoned", expected_abandoned)):
                response = await api.get(f"/api/reports/{name}", params=params)
                assert response.status_code == 200, response.text
                close(response.json()["rows"], expected(records, since, end),
                      f"{name} {since:%H:%M:%S}-{end:%H:%M:%S}")
            response = await api.get("/api/reports/working_time", params=params)
            assert response.status_code == 200, response.text
            report = response.json()
            close({k: report[k] for k in ("rows", "locations", "total")},
                  expected_working_time(records, since, end), f"working_time {since}")
            # each count leads to as many calls as it says, each in the queue it counts in
            for queue, measure in (("support", "abandoned"), ("support", "overflowed"),
                                   ("sales", "offered"), ("sales", "abandoned")):
                drilled = await api.get("/api/reports/calls", params={
                    **params, "report": "queues", "key": queue, "measure": measure})
                assert drilled.status_code == 200, drilled.text
                behind = [c["id"] for c in records["calls"] if since <= c["started_at"] < end
                          for v in c["stays"] if v["queue"] == queue
                          and (measure == "offered" or v["end"] == measure)]
                lines = drilled.json()["calls"]
                assert sorted(c["id"] for c in lines) == sorted(behind), (queue, measure)
                assert {c["queue"] for c in lines} <= {queue}
        response = await api.get("/api/reports/queues", params={
            "from": whole[0].isoformat(), "to": whole[1].isoformat()})
        abandoned = await api.get("/api/reports/abandoned", params={
            "from": whole[0].isoformat(), "to": whole[1].isoformat()})
    by_caller = {row["caller"]: row for row in abandoned.json()["rows"]}
    # the day as it was made: the long abandon's caller was answered when calling again,
    # the short one's asked for a callback (not made yet)
    assert (by_caller[LONG_ANI]["reached_by"], by_caller[SHORT_ANI]["reached"],
            by_caller[SHORT_ANI]["callback_requested"]) == ("inbound", False, True)
    assert by_caller[LONG_ANI]["delay_s"] > 0
    return {row["queue"]: row for row in response.json()["rows"]}


@needs_sipp
@needs_baresip
async def test_a_known_day_reports_exactly_what_the_raw_records_count(
        tmp_path: Path, postgres_server_url: str,  # noqa: F811
        postgres_template: str) -> None:  # noqa: F811
    began = datetime.now(UTC)
    async with demo_node(tmp_path / "sqlite") as node:
        await configure(node)
        await run_the_day(node, tmp_path)
        ended = node.clock.utcnow()
        rows = await check_reports(node, began, ended)
        # what the recorders added as the day went equals a rebuild from the raw records
        kept = await aggregates(node)
        await node.store.reports.rebuild()
        assert await aggregates(node) == kept
        asked = await node.store.callbacks.list()
        node.journal.sync()
        shutil.copytree(node.journal.folder, tmp_path / "journal")
    # the day as it was made
    # (the transferred call in both queues, the overflowed one abandoned in sales)
    support, sales = rows["support"], rows["sales"]
    assert {k: support[k] for k in ("offered", "answered", "abandoned", "abandoned_short",
                                    "overflowed", "transfers", "callbacks_requested")} == {
        "offered": 4, "answered": 2, "abandoned": 1, "abandoned_short": 1, "overflowed": 1,
        "transfers": 1, "callbacks_requested": 1}
    assert {k: sales[k] for k in ("offered", "answered", "abandoned", "abandoned_short",
                                  "overflowed", "transfers")} == {
        "offered": 2, "answered": 1, "abandoned": 1, "abandoned_short": 0, "overflowed": 0,
        "transfers": 0}
    # AHT has each answer's second of wrap-up on top of the talk
    assert support["aht_s"] - support["talk_s"] / 2 > 0.9
    assert sales["aht_s"] - sales["talk_s"] > 0.9

    # the same events into a node on PostgreSQL: its recorders write them there
    url, name = await asyncio.to_thread(create_database, postgres_server_url,
                                        postgres_template)
    try:
        database = url.replace("postgresql://", "postgresql+asyncpg://", 1)
        async with demo_node(tmp_path / "postgresql", database_url=database) as other:
            await configure(other)
            journal = Journal(tmp_path / "journal")
            journal.open()
            reader = journal.reader("replay", 1)
            while entries := reader.read(500):
                for entry in entries:
                    other.journal.append(entry.envelope)
            reader.close()
            journal.close()
            for callback in asked:
                await other.store.callbacks.request(callback)

            async def written() -> bool:
                page = await other.store.interactions.search(number="602", limit=10)
                return (len([r for r in page.items if r.ended_at is not None]) == 4
                        and other.call_recorder.backlog == 0
                        and other.state_recorder.backlog == 0)

            await until(written, "the journal written on PostgreSQL")
            assert await check_reports(other, began, ended) == rows
    finally:
        await asyncio.to_thread(drop_database, postgres_server_url, name)
