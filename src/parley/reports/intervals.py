"""What each raw record adds to the interval aggregates (pure: rows in, counters out).

A finished call counts in the 15-minute interval in which it began (``started_at``), under
each dimension it has: its queue, its operator (the last one who answered it), the carrier
trunk of its legs and, inbound, the number dialled. A callback counts under its queue in the
interval it was requested in (completed once done). A campaign attempt counts in the interval
it was dialled in, under its campaign; a call's wrap-up in the interval the call began in,
under its result code. An operator's time in a state is split over the
intervals it spans. The same functions build the aggregates as records are written, rebuild
them from the raw records, and answer the edges of a period exactly from the raw records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

INTERVAL = timedelta(minutes=15)
"""The length of one aggregate interval."""
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

DIMENSIONS = ("queue", "operator", "trunk", "number", "campaign", "result")
"""What interval aggregates are kept per (teams are their operators' sum)."""

MEASURES = ("calls", "inbound", "outbound", "offered", "answered", "abandoned",
            "abandoned_short", "answered_within", "abandoned_within", "wait_answered_s",
            "wait_abandoned_s", "talk_s", "duration_s", "transfers", "attempts",
            "live_answers", "machines", "amd_human", "amd_machine", "amd_unknown",
            "callbacks_requested", "callbacks_completed")
"""The counters of one (interval, dimension, key) row: counts and sums of seconds."""

NOT_WORKING = "logged_out"
"""The operator state whose time is not kept (every other state is working time)."""

Counters = dict[str, float]
Key = tuple[datetime, str, str]
"""(interval start, dimension, key)"""
StateKey = tuple[datetime, str, str, str]
"""(interval start, operator, state, reason)"""


def interval_start(moment: datetime) -> datetime:
    """The start of the interval holding ``moment`` (UTC, aligned on the quarter hour)."""
    moment = moment.astimezone(UTC)
    return moment - ((moment - _EPOCH) % INTERVAL)


def interval_ceiling(moment: datetime) -> datetime:
    """The first interval start at or after ``moment``."""
    start = interval_start(moment)
    return start if start == moment else start + INTERVAL


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What the call figures are measured against: each queue's service-level threshold
    (``service_level_s``, 20 s unless set) and the site's short-abandon threshold
    (``short_abandon_s``)."""

    short_abandon_s: float = 5.0
    service_level_s: Mapping[str, float] | None = None

    def service_level(self, queue: str) -> float:
        return (self.service_level_s or {}).get(queue, 20.0)


class CallFacts(NamedTuple):
    """What the aggregates need of one finished call record."""

    started_at: datetime
    direction: str
    queue: str | None
    operator: str | None
    called: str
    queued_at: datetime | None
    answered_at: datetime | None
    wait_s: float | None
    talk_s: float | None
    duration_s: float | None
    outcome: str | None
    trunk: str | None = None
    transfers: int = 0
    call_id: str = ""
    """The call record's id (for the calls behind a report's figure; not counted)."""


class AttemptFacts(NamedTuple):
    """What the aggregates need of one finished campaign attempt."""

    campaign: str
    started_at: datetime
    outcome: str | None
    amd: str | None
    talk_s: float | None


class CallbackFacts(NamedTuple):
    """What the aggregates need of one callback: it counts under its queue in the interval
    it was requested in, as completed once its status is ``done``."""

    queue: str
    requested_at: datetime
    status: str


class StateEntry(NamedTuple):
    """One row of the operator state log."""

    username: str
    state: str
    reason: str
    at: datetime


def call_counters(call: CallFacts, thresholds: Thresholds) -> Counters:
    """The counters one finished call adds under each of its dimensions.

    ``offered``: the call waited in a queue. ``answered``: an operator answered it.
    ``abandoned``: it waited in a queue and the caller hung up before an answer (outcome
    "abandoned"; a call sent on to voicemail, a callback or elsewhere is offered but
    neither answered nor abandoned); ``abandoned_short`` of those, the waits of at most the
    short-abandon threshold. ``answered_within``/``abandoned_within``: waits of at most the
    queue's service-level threshold."""
    wait = call.wait_s or 0.0
    answered = call.answered_at is not None
    offered = call.queued_at is not None
    abandoned = offered and not answered and call.outcome == "abandoned"
    within = wait <= thresholds.service_level(call.queue or "")
    counters: Counters = {"calls": 1, "duration_s": call.duration_s or 0.0,
                          "transfers": call.transfers}
    counters["inbound" if call.direction == "inbound" else "outbound"] = 1
    if offered:
        counters["offered"] = 1
    if answered:
        counters["answered"] = 1
        counters["talk_s"] = call.talk_s or 0.0
        if offered:
            counters["wait_answered_s"] = wait
            counters["answered_within"] = int(within)
    if abandoned:
        counters["abandoned"] = 1
        counters["wait_abandoned_s"] = wait
        counters["abandoned_short"] = int(wait <= thresholds.short_abandon_s)
        counters["abandoned_within"] = int(within)
    return counters


def call_keys(call: CallFacts) -> Iterator[tuple[str, str]]:
    """The (dimension, key) pairs a call counts under."""
    if call.queue:
        yield "queue", call.queue
    if call.operator:
        yield "operator", call.operator
    if call.trunk:
        yield "trunk", call.trunk
    if call.direction == "inbound" and call.called:
        yield "number", call.called


def attempt_counters(attempt: AttemptFacts) -> Counters:
    """The counters one finished campaign attempt adds to its campaign.

    ``live_answers``: a person answered (connected, or abandoned for want of an operator);
    ``answered``: connected to an operator; ``abandoned``: a person answered and no operator
    took the call in time; ``machines``: an answering machine; ``amd_*``: the detector's
    verdicts (none when detection was off)."""
    counters: Counters = {"attempts": 1}
    if attempt.outcome in ("human", "abandoned"):
        counters["live_answers"] = 1
        counters["offered"] = 1
    if attempt.outcome == "human":
        counters["answered"] = 1
        counters["talk_s"] = attempt.talk_s or 0.0
    if attempt.outcome == "abandoned":
        counters["abandoned"] = 1
    if attempt.outcome == "machine":
        counters["machines"] = 1
    if attempt.amd in ("human", "machine", "unknown"):
        counters[f"amd_{attempt.amd}"] = 1
    return counters


def add(totals: dict[Key, Counters], key: Key, counters: Mapping[str, float],
        sign: int = 1) -> None:
    """Add (or with ``sign`` -1 take away) ``counters`` to ``totals[key]``."""
    row = totals.setdefault(key, {})
    for name, value in counters.items():
        if value:
            row[name] = row.get(name, 0.0) + sign * value


def calls_by_interval(calls: Iterable[CallFacts], thresholds: Thresholds,
                      totals: dict[Key, Counters] | None = None,
                      sign: int = 1) -> dict[Key, Counters]:
    """Every call's counters under each of its keys in its interval, summed."""
    totals = {} if totals is None else totals
    for call in calls:
        counters = call_counters(call, thresholds)
        start = interval_start(call.started_at)
        for dimension, key in call_keys(call):
            add(totals, (start, dimension, key), counters, sign)
    return totals


def attempts_by_interval(attempts: Iterable[AttemptFacts],
                         totals: dict[Key, Counters] | None = None,
                         sign: int = 1) -> dict[Key, Counters]:
    totals = {} if totals is None else totals
    for attempt in attempts:
        add(totals, (interval_start(attempt.started_at), "campaign", attempt.campaign),
            attempt_counters(attempt), sign)
    return totals


def results_by_interval(results: Iterable[tuple[str, datetime]],
                        totals: dict[Key, Counters] | None = None,
                        sign: int = 1) -> dict[Key, Counters]:
    """Each wrap-up (result code, the call's start) counted as one call of its result."""
    totals = {} if totals is None else totals
    for result, started_at in results:
        add(totals, (interval_start(started_at), "result", result), {"calls": 1}, sign)
    return totals


def callbacks_by_interval(callbacks: Iterable[CallbackFacts],
                          totals: dict[Key, Counters] | None = None,
                          sign: int = 1) -> dict[Key, Counters]:
    """Each callback counted as requested (and, done, completed) under its queue in the
    interval it was requested in."""
    totals = {} if totals is None else totals
    for callback in callbacks:
        add(totals, (interval_start(callback.requested_at), "queue", callback.queue),
            {"callbacks_requested": 1,
             "callbacks_completed": int(callback.status == "done")}, sign)
    return totals


def split(start: datetime, end: datetime) -> Iterator[tuple[datetime, float]]:
    """[start, end) cut at interval boundaries: (interval start, seconds in it)."""
    cursor = start
    while cursor < end:
        bucket = interval_start(cursor)
        stop = min(end, bucket + INTERVAL)
        yield bucket, (stop - cursor).total_seconds()
        cursor = stop


def state_segments(entries: Iterable[StateEntry]) -> Iterator[tuple[StateEntry, datetime]]:
    """Each entry of one operator's log (in order) with the time the next one began: the
    segments of working time (logged-out time left out). The last entry has no end yet and
    is not returned."""
    previous: StateEntry | None = None
    for entry in entries:
        if previous is not None and previous.state != NOT_WORKING and entry.at > previous.at:
            yield previous, entry.at
        previous = entry


def add_state_time(totals: dict[StateKey, float], entry: StateEntry, end: datetime,
                   window: tuple[datetime, datetime] | None = None, sign: int = 1) -> None:
    """Add the segment from ``entry`` to ``end`` (clipped to ``window``) per interval."""
    start = entry.at
    if window is not None:
        start, end = max(start, window[0]), min(end, window[1])
    for bucket, seconds in split(start, end):
        key = (bucket, entry.username, entry.state, entry.reason)
        totals[key] = totals.get(key, 0.0) + sign * seconds


def subtract(after: dict[Key, Counters], before: dict[Key, Counters]) -> dict[Key, Counters]:
    """``after - before``, key by key, dropping what does not change."""
    delta: dict[Key, Counters] = {}
    for key, counters in after.items():
        add(delta, key, counters)
    for key, counters in before.items():
        add(delta, key, counters, -1)
    return {key: row for key, row in delta.items() if any(row.values())}
