"""What each raw record adds to the interval aggregates (pure: rows in, counters out).

A finished call counts in the 15-minute interval in which it began (``started_at``): under
each queue it waited in (:func:`walk`: offered in each, answered or abandoned in the one
where its wait ended, overflowed out of the others), under each operator who answered it
(their own talk), and once under the carrier trunk of its legs and, inbound, the number
dialled. An operator's wrap-up of a queue's call adds its seconds to that queue in the
interval the wrap-up began in (:func:`wrap_up_by_interval`). A callback counts under its
queue in the interval it was requested in (completed once done). A campaign attempt counts
in the interval it was dialled in, under its campaign; a call's wrap-up result in the
interval the call began in, under its result code. An operator's time in a state is split
over the intervals it spans. The same functions build the aggregates as records are written,
rebuild them from the raw records, and answer the edges of a period exactly from the raw
records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

INTERVAL = timedelta(minutes=15)
"""The length of one aggregate interval."""
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

DIMENSIONS = ("queue", "operator", "trunk", "number", "campaign", "result")
"""What interval aggregates are kept per (teams are their operators' sum)."""

MEASURES = ("calls", "inbound", "outbound", "offered", "answered", "abandoned",
            "abandoned_short", "answered_within", "abandoned_within", "wait_answered_s",
            "wait_abandoned_s", "talk_s", "duration_s", "transfers", "attempts",
            "live_answers", "machines", "amd_human", "amd_machine", "amd_unknown",
            "callbacks_requested", "callbacks_completed", "wrap_up_s", "overflowed")
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


class Step(NamedTuple):
    """One entry of a call's timeline that moves it between queues and operators
    (:data:`STEP_KINDS`), with what its detail names."""

    at: datetime
    kind: str
    queue: str = ""
    operator: str = ""
    to: str = ""
    target: str = ""


STEP_KINDS = ("queued", "overflowed", "answered", "transferred", "taken over", "ended")
"""The timeline entries :func:`queue_visits` and :func:`answers` read."""


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
    ended_at: datetime | None = None
    steps: tuple[Step, ...] = ()
    """Its timeline's :data:`STEP_KINDS` entries, oldest first."""


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
    """One row of the operator state log (a wrap-up names the queue and the call record it
    follows, when the operator answered the call from a queue)."""

    username: str
    state: str
    reason: str
    at: datetime
    queue: str | None = None
    interaction_id: str | None = None


def call_counters(call: CallFacts, thresholds: Thresholds) -> Counters:
    """The counters one finished call adds as a whole (under its trunk and number).

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
    """The (dimension, key) pairs a call counts under once, as a whole (its carrier trunk
    and, inbound, the number dialled); queues and operators: :func:`counted`."""
    if call.trunk:
        yield "trunk", call.trunk
    if call.direction == "inbound" and call.called:
        yield "number", call.called


class QueueVisit(NamedTuple):
    """One queue's stretch of a call: its wait there, how the wait ended (``answered``,
    ``abandoned``, ``overflowed`` to another queue or target, ``other``: sent on to a
    callback, voicemail or the flow), and, answered, the conversation that followed (every
    operator's talk and the transfers made) until the call entered another queue or ended.

    The wait runs from when the caller began waiting: entering this queue, or the first
    queue of a chain of overflows (the caller waited all along, as the ACD counts it)."""

    queue: str
    wait_s: float
    end: str
    operator: str | None = None
    talk_s: float = 0.0
    transfers: int = 0


class Answer(NamedTuple):
    """One operator's answer of a call: their own talk (to the next answer, transfer,
    take-over or the end), the transfers that ended it, and the queue wait it ended (if
    it ended one)."""

    operator: str
    talk_s: float
    transfers: int = 0
    queue: str | None = None
    wait_s: float | None = None


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def walk(call: CallFacts) -> tuple[list[QueueVisit], list[Answer]]:
    """The queues a call waited in and the operators who answered it, from its timeline
    (:attr:`CallFacts.steps`). A record without those entries (written before they were
    kept) counts as one visit to its queue and one answer by its operator."""
    visits: list[dict[str, Any]] = []
    answered: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None  # the visit the call is in (waiting or talking)
    talking: dict[str, Any] | None = None  # the answer whose talk runs

    def end_talk(at: datetime, transferred: bool) -> None:
        nonlocal talking
        if talking is None:
            if transferred and current is not None and current["end"] == "answered":
                current["transfers"] += 1
            return
        seconds = _seconds(talking["at"], at)
        talking["talk_s"] += seconds
        talking["transfers"] += int(transferred)
        visit = talking["visit"]
        if visit is not None:
            visit["talk_s"] += seconds
            visit["transfers"] += int(transferred)
        talking = None

    def end_wait(at: datetime, how: str) -> None:
        if current is not None and current["end"] == "":
            current["end"] = how
            current["wait_s"] = _seconds(current["waited_from"], at)

    def enter(queue: str, at: datetime, waited_from: datetime) -> dict[str, Any]:
        visit = {"queue": queue, "waited_from": waited_from, "end": "", "wait_s": 0.0,
                 "operator": None, "talk_s": 0.0, "transfers": 0}
        visits.append(visit)
        return visit

    for step in call.steps:
        if step.kind == "queued" and step.queue:
            end_talk(step.at, False)
            end_wait(step.at, "other")
            current = enter(step.queue, step.at, step.at)
        elif step.kind == "overflowed":
            waiting = current is not None and current["end"] == ""
            waited_from = current["waited_from"] if waiting and current else step.at
            end_wait(step.at, "overflowed")
            current = (enter(step.target, step.at, waited_from)
                       if waiting and step.to == "queue" and step.target else None)
        elif step.kind == "answered":
            end_talk(step.at, False)
            wait: float | None = None
            queue: str | None = None
            if current is not None and current["end"] == "":
                end_wait(step.at, "answered")
                current["operator"] = step.operator or None
                wait, queue = current["wait_s"], current["queue"]
            visit = current if current is not None and current["end"] == "answered" else None
            talking = {"operator": step.operator, "at": step.at, "talk_s": 0.0,
                       "transfers": 0, "visit": visit, "queue": queue, "wait_s": wait}
            answered.append(talking)
        elif step.kind in ("transferred", "taken over"):
            end_talk(step.at, step.kind == "transferred")
        elif step.kind == "ended":
            end_talk(step.at, False)
            end_wait(step.at, "abandoned" if call.outcome == "abandoned" else "other")
    if call.ended_at is not None:
        end_talk(call.ended_at, False)
        end_wait(call.ended_at, "abandoned" if call.outcome == "abandoned" else "other")
    found = [QueueVisit(v["queue"], v["wait_s"], v["end"] or "other", v["operator"],
                        v["talk_s"], v["transfers"]) for v in visits]
    answers = [Answer(a["operator"], a["talk_s"], a["transfers"], a["queue"], a["wait_s"])
               for a in answered if a["operator"]]
    if not found and call.queued_at is not None and call.queue:
        end = ("answered" if call.answered_at is not None else
               "abandoned" if call.outcome == "abandoned" else "other")
        found = [QueueVisit(call.queue, call.wait_s or 0.0, end, call.operator,
                            (call.talk_s or 0.0) if end == "answered" else 0.0,
                            call.transfers if end == "answered" else 0)]
    if not answers and call.operator and call.answered_at is not None:
        queued = call.queued_at is not None
        answers = [Answer(call.operator, call.talk_s or 0.0, call.transfers,
                          call.queue if queued else None,
                          (call.wait_s or 0.0) if queued else None)]
    return found, answers


class Counted(NamedTuple):
    """What one call adds under one (dimension, key), with the facts the calls behind a
    figure show for it (its queue, operator, wait and talk there)."""

    dimension: str
    key: str
    counters: Counters
    queue: str | None
    operator: str | None
    wait_s: float | None
    talk_s: float | None


def _whole(call: CallFacts) -> Counters:
    return {"calls": 1, "inbound" if call.direction == "inbound" else "outbound": 1}


def visit_counters(call: CallFacts, visit: QueueVisit, thresholds: Thresholds) -> Counters:
    """What one queue visit adds to its queue: offered; answered (with its wait, the talk
    of the conversation that followed and its transfers), abandoned, or overflowed."""
    counters = {**_whole(call), "offered": 1}
    within = int(visit.wait_s <= thresholds.service_level(visit.queue))
    if visit.end == "answered":
        counters.update(answered=1, wait_answered_s=visit.wait_s, answered_within=within,
                        talk_s=visit.talk_s, transfers=visit.transfers)
    elif visit.end == "abandoned":
        counters.update(abandoned=1, wait_abandoned_s=visit.wait_s, abandoned_within=within,
                        abandoned_short=int(visit.wait_s <= thresholds.short_abandon_s))
    elif visit.end == "overflowed":
        counters["overflowed"] = 1
    return counters


def answer_counters(call: CallFacts, answer: Answer, thresholds: Thresholds) -> Counters:
    """What one answer adds to its operator: answered, their talk and the transfers that
    ended it; and, if it ended a queue wait, offered with that wait."""
    counters = {**_whole(call), "answered": 1, "talk_s": answer.talk_s,
                "transfers": answer.transfers}
    if answer.queue is not None and answer.wait_s is not None:
        counters.update(offered=1, wait_answered_s=answer.wait_s, answered_within=int(
            answer.wait_s <= thresholds.service_level(answer.queue)))
    return counters


def counted(call: CallFacts, thresholds: Thresholds) -> list[Counted]:
    """Everything one finished call adds: per queue visit, per operator's answer, and once
    under its trunk and number."""
    visits, answers = walk(call)
    rows = [Counted("queue", visit.queue, visit_counters(call, visit, thresholds),
                    visit.queue, visit.operator, visit.wait_s,
                    visit.talk_s if visit.end == "answered" else None)
            for visit in visits]
    rows += [Counted("operator", answer.operator, answer_counters(call, answer, thresholds),
                     answer.queue or call.queue, answer.operator,
                     call.wait_s if answer.wait_s is None else answer.wait_s, answer.talk_s)
             for answer in answers]
    whole = call_counters(call, thresholds)
    rows += [Counted(dimension, key, whole, call.queue, call.operator, call.wait_s,
                     call.talk_s) for dimension, key in call_keys(call)]
    return rows


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
    """Every call's counters (:func:`counted`) in its interval, summed."""
    totals = {} if totals is None else totals
    for call in calls:
        start = interval_start(call.started_at)
        for row in counted(call, thresholds):
            add(totals, (start, row.dimension, row.key), row.counters, sign)
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


def wrap_up_by_interval(segments: Iterable[tuple[StateEntry, datetime]],
                        totals: dict[Key, Counters] | None = None,
                        window: tuple[datetime, datetime] | None = None,
                        sign: int = 1) -> dict[Key, Counters]:
    """Each finished wrap-up segment that names a queue, its seconds added to that queue's
    ``wrap_up_s`` in the interval the segment began in (only segments beginning within
    ``window``, if given). A wrap-up of no length (a queue without after-call work) adds
    nothing."""
    totals = {} if totals is None else totals
    for entry, end in segments:
        if entry.state != "wrap_up" or not entry.queue or end <= entry.at:
            continue
        if window is not None and not window[0] <= entry.at < window[1]:
            continue
        add(totals, (interval_start(entry.at), "queue", entry.queue),
            {"wrap_up_s": _seconds(entry.at, end)}, sign)
    return totals


def subtract(after: dict[Key, Counters], before: dict[Key, Counters]) -> dict[Key, Counters]:
    """``after - before``, key by key, dropping what does not change."""
    delta: dict[Key, Counters] = {}
    for key, counters in after.items():
        add(delta, key, counters)
    for key, counters in before.items():
        add(delta, key, counters, -1)
    return {key: row for key, row in delta.items() if any(row.values())}
