"""Interval aggregates against the raw records: random traffic written the way the recorders
write it (call records in batches, a late outcome, wrap-ups saved once or twice, campaign
attempts written twice, operator states in batches, wrap-ups of queues' calls) keeps
aggregates equal to a rebuild from
the raw records, and every report over periods on and off the interval boundaries equals an
independent count of the generated calls. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from parley.center.ports import AttemptFacts
from parley.clock import VirtualClock
from parley.reports import tables
from parley.reports.intervals import MEASURES
from parley.store import Store
from parley.store import models as m
from parley.store.call_rows import CallRows
from parley.store.records import CallbackRecord, OperatorStateRecord, WrapupRecord
from parley.store.specs import QueueSpec, SiteSpec, TeamSpec, UserSpec

QUEUES = ("support", "sales")
OPERATORS = ("anna", "ben", "carl")
SHORT_S = 5.0
LEVEL_S = {"support": 20.0, "sales": 30.0}


@dataclass
class Call:
    id: str
    started_at: datetime
    queue: str | None
    queued_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime
    operator: str | None
    outcome: str
    trunk: str | None
    transfers: int

    @property
    def wait_s(self) -> float:
        start = self.queued_at or self.started_at
        return round(((self.answered_at or self.ended_at) - start).total_seconds(), 3)


def random_calls(rng: random.Random, start: datetime, count: int) -> list[Call]:
    calls = []
    for index in range(count):
        began = start + timedelta(seconds=rng.uniform(0, 3 * 3600))
        queue = rng.choice((*QUEUES, None))
        queued = began + timedelta(seconds=rng.uniform(0, 20)) if queue else None
        fate = rng.random()
        answered = operator = None
        if queued is not None and fate < 0.6:
            answered = queued + timedelta(seconds=rng.uniform(0, 60))
            operator = rng.choice(OPERATORS)
            ended = answered + timedelta(seconds=rng.uniform(10, 400))
            outcome = "answered"
        elif queued is not None:
            ended = queued + timedelta(seconds=rng.choice((1, 4, 5, 6, 25, 90)))
            outcome = "abandoned" if fate < 0.9 else "voicemail"
        else:
            ended = began + timedelta(seconds=rng.uniform(5, 60))
            outcome = "ivr"
        calls.append(Call(f"call-{index:04d}", began, queue, queued, answered, ended,
                          operator, outcome, rng.choice(("carrier-a", "carrier-b", None)),
                          int(answered is not None and rng.random() < 0.2)))
    return calls


async def write_calls(store: Store, rng: random.Random, calls: list[Call]) -> None:
    """Each call opened in one batch and finished in a later one (or the same), as the call
    recorder does; a few abandons then get their outcome corrected after the hang-up."""
    steps: list[tuple[datetime, str, Call]] = []
    for call in calls:
        steps.append((call.started_at, "open", call))
        steps.append((call.ended_at, "close", call))
    steps.sort(key=lambda step: step[0])
    position = 0
    while position < len(steps):
        size = rng.randint(1, 40)
        rows = CallRows()
        for _at, kind, call in steps[position:position + size]:
            if kind == "open":
                rows.open(call.id, direction="inbound", caller="+15550001", called="600",
                          started_at=call.started_at, variables={})
                rows.add_leg(call.id, f"{call.id}-leg", direction="inbound", endpoint="600",
                             caller="+15550001", called="600", started_at=call.started_at,
                             trunk=call.trunk)
                continue
            changes = {"queue": call.queue, "queued_at": call.queued_at,
                       "answered_at": call.answered_at, "operator": call.operator,
                       "ended_at": call.ended_at, "outcome": call.outcome,
                       "wait_s": call.wait_s,
                       "talk_s": round((call.ended_at - call.answered_at).total_seconds(), 3)
                       if call.answered_at else 0.0,
                       "duration_s": round((call.ended_at - call.started_at).total_seconds(),
                                           3)}
            rows.change(call.id, **{k: v for k, v in changes.items() if v is not None})
            for _ in range(call.transfers):
                rows.add_entry(call.id, call.ended_at, "transferred", {"by": "anna"})
        await store.interactions.write_rows(rows)
        position += size
    for call in calls:
        if call.outcome == "abandoned" and rng.random() < 0.1:
            call.outcome = "callback"
            await store.interactions.set_outcome(call.id, "callback")


def random_states(rng: random.Random, start: datetime) -> list[OperatorStateRecord]:
    entries = []
    for operator in OPERATORS:
        at = start - timedelta(minutes=rng.uniform(0, 30))
        for _ in range(rng.randint(10, 30)):
            state = rng.choice(("ready", "not_ready", "on_call", "on_hold", "wrap_up",
                                "logged_out"))
            reason = rng.choice(("lunch", "training")) if state == "not_ready" else ""
            queue = rng.choice((*QUEUES, None)) if state == "wrap_up" else None
            entries.append(OperatorStateRecord(operator, state, reason, at, queue,
                                               "call-0000" if queue else None))
            at += timedelta(seconds=rng.uniform(30, 500))
    entries.sort(key=lambda entry: entry.at)
    return entries


def count_calls(calls: list[Call], queue: str, since: datetime, until: datetime
                ) -> dict[str, int]:
    mine = [c for c in calls if c.queue == queue and since <= c.started_at < until]
    abandoned = [c for c in mine if c.outcome == "abandoned" and c.answered_at is None]
    return {"offered": len(mine), "answered": sum(c.answered_at is not None for c in mine),
            "abandoned": len(abandoned),
            "abandoned_short": sum(c.wait_s <= SHORT_S for c in abandoned),
            "answered_within": sum(c.answered_at is not None and c.wait_s <= LEVEL_S[queue]
                                   for c in mine),
            "transfers": sum(c.transfers for c in mine)}


def handle_s(calls: list[Call], entries: list[OperatorStateRecord], queue: str,
             since: datetime, until: datetime) -> float:
    """Talk of the queue's answered calls that began in the period, and the wrap-ups of its
    calls that began in it and have ended."""
    talk = sum((c.ended_at - c.answered_at).total_seconds() for c in calls
               if c.queue == queue and c.answered_at and since <= c.started_at < until)
    wrap = 0.0
    for entry in entries:
        if entry.state == "wrap_up" and entry.queue == queue and since <= entry.at < until:
            following = [e.at for e in entries
                         if e.username == entry.username and e.at > entry.at]
            wrap += (min(following) - entry.at).total_seconds() if following else 0.0
    return talk + wrap


def state_time(entries: list[OperatorStateRecord], operator: str, since: datetime,
               until: datetime) -> dict[str, float]:
    own = [e for e in entries if e.username == operator]
    seconds: dict[str, float] = {}
    for entry, following in zip(own, [*own[1:], None], strict=True):
        end = following.at if following is not None else until
        overlap = (min(end, until) - max(entry.at, since)).total_seconds()
        if entry.state != "logged_out" and overlap > 0:
            seconds[entry.state] = seconds.get(entry.state, 0.0) + overlap
    return seconds


async def aggregate_rows(store: Store) -> dict[tuple[object, ...], tuple[float, ...]]:
    async with store.sessions() as session:
        intervals = {
            (row.dimension, row.interval_start, row.key):
            tuple(round(float(getattr(row, name)), 3) for name in MEASURES)
            for row in (await session.scalars(select(m.ReportInterval))).all()
            if any(getattr(row, name) for name in MEASURES)}
        states = {(row.interval_start, row.operator, row.state, row.reason):
                  (round(row.seconds, 3),)
                  for row in (await session.scalars(select(m.ReportStateTime))).all()
                  if abs(row.seconds) > 1e-6}
        return {**intervals, **states}


async def test_aggregates_equal_a_rebuild_and_an_independent_count(
        store: Store, clock: VirtualClock) -> None:
    rng = random.Random(19)
    await store.config.put_site(SiteSpec(short_abandon_s=int(SHORT_S)))
    for queue in QUEUES:
        await store.config.put("queues", QueueSpec(name=queue,
                                                   service_level_s=int(LEVEL_S[queue])))
    await store.config.put("teams", TeamSpec(name="day"))
    for operator in OPERATORS:
        await store.config.put("users", UserSpec(
            username=operator, teams=["day"] if operator != "carl" else []))
    start = clock.utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    calls = random_calls(rng, start, 300)
    await write_calls(store, rng, calls)
    results: dict[str, str] = {}
    for call in calls:
        if call.answered_at is not None and rng.random() < 0.3:
            for result in ("sale", "no_sale")[:rng.randint(1, 2)]:  # some saved again
                await store.wrapups.save(WrapupRecord(
                    call.id, None, result, "success", "", None, {}, call.operator or "anna",
                    call.ended_at))
                results[call.id] = result
    states = random_states(rng, start)
    for first in range(0, len(states), 7):
        await store.operator_states.record_many(states[first:first + 7],
                                                consumer="operator states",
                                                applied_seq=first + 1)
    # callbacks requested over the day, some completed (one after failing first)
    callbacks: list[tuple[str, datetime, str]] = []
    for index in range(30):
        queue = rng.choice(QUEUES)
        asked = start + timedelta(seconds=rng.uniform(0, 3 * 3600))
        await store.callbacks.request(CallbackRecord(
            f"cb{index}", "+15550003", queue, asked, asked + timedelta(hours=1), "pending",
            0, "caller", "", None))
        status = rng.choice(("pending", "done", "failed", "failed-done"))
        for step in status.split("-") if status != "pending" else ():
            await store.callbacks.set_status(f"cb{index}", step)
        callbacks.append((queue, asked, status.split("-")[-1]))
    attempt = AttemptFacts("a1", "winter", "c1", "+15550002", "mobile",
                           start + timedelta(minutes=20))
    await store.campaigns.save_attempt(attempt)
    await store.campaigns.save_attempt(replace(
        attempt, answered_at=attempt.started_at + timedelta(seconds=9), outcome="machine",
        amd="machine", ended_at=attempt.started_at + timedelta(seconds=15)))
    clock.advance(6 * 3600)
    now = clock.utcnow()

    kept = await aggregate_rows(store)
    assert await store.reports.rebuild() == (300, 1, len(states))
    rebuilt = await aggregate_rows(store)
    assert kept.keys() == rebuilt.keys()
    for key, values in kept.items():
        assert values == pytest.approx(rebuilt[key], abs=1e-3), key

    periods = [(start, start + timedelta(hours=3)),  # on the boundaries
               (start + timedelta(minutes=7, seconds=13), start + timedelta(hours=2, minutes=3)),
               (start + timedelta(minutes=31), start + timedelta(minutes=38)),  # one interval
               (start - timedelta(hours=1), now + timedelta(hours=1))]  # into the future
    for since, until in periods:
        rows = {row["queue"]: row for row in await tables.queues(store.reports, since, until)}
        for queue in QUEUES:
            expected = count_calls(calls, queue, since, until)
            got = rows.get(queue, dict.fromkeys(expected, 0))
            assert {name: got[name] for name in expected} == expected, (queue, since, until)
            handled = handle_s(calls, states, queue, since, until)
            assert got.get("aht_s", 0.0) == pytest.approx(
                handled / expected["answered"] if expected["answered"] else 0.0, abs=2e-3)
            asked = [status for q, at, status in callbacks if q == queue and since <= at < until]
            assert (got.get("callbacks_requested", 0), got.get("callbacks_completed", 0)) == (
                len(asked), asked.count("done")), (queue, since, until)
        operators = {row["operator"]: row
                     for row in await tables.operators(store.reports, since, until)}
        for operator in OPERATORS:
            expected_s = state_time(states, operator, since, min(until, now))
            got_s = operators[operator]["state_s"] if operator in operators else {}
            for state, seconds in expected_s.items():
                assert got_s[state] == pytest.approx(seconds, abs=0.01), (operator, state)
            answered = sum(c.operator == operator and since <= c.started_at < until
                           for c in calls)
            assert (operators[operator]["answered"] if operator in operators else 0) \
                == answered
        team = await tables.teams(store.reports, since, until)
        assert [(row["team"], row["operators"], row["answered"]) for row in team] == [
            ("day", 2, sum(c.operator in ("anna", "ben") and since <= c.started_at < until
                           for c in calls))]
        by_result = {row["result"]: row["calls"]
                     for row in await tables.results(store.reports, since, until)}
        expected_results: dict[str, int] = {}
        for call in calls:
            if call.id in results and since <= call.started_at < until:
                expected_results[results[call.id]] = expected_results.get(
                    results[call.id], 0) + 1
        assert {k: v for k, v in by_result.items() if v} == expected_results
    campaigns = await tables.campaigns(store.reports, start, start + timedelta(hours=1))
    assert campaigns == [{
        "campaign": "winter", "attempts": 1, "live_answers": 0, "machines": 1, "offered": 0,
        "answered": 0, "abandoned": 0, "abandoned_short": 0, "contact_rate": 0.0,
        "outbound_abandon_rate": 0.0, "amd": {"human": 0, "machine": 1, "unknown": 0},
        "talk_s": 0.0, "aht_s": 0.0}]
