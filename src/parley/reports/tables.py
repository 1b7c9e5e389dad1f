"""The ready-made reports: one row per queue, operator, team, trunk, number or campaign over
a period, each figure computed by :mod:`parley.kpi` from the counters the store sums
(:meth:`parley.store.reports.ReportRepository.counters`). Rows are plain JSON-ready
dictionaries, sorted by their key; the same rows serve the API, the page and CSV."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from parley import kpi
from parley.kpi import AbandonRate, OutboundAbandonRate, QueueCounts, ServiceLevel
from parley.reports.intervals import NOT_WORKING, Counters

Row = dict[str, Any]
REPORTS = ("queues", "operators", "teams", "trunks", "numbers", "campaigns", "results")
"""The report names of ``/api/reports/{name}``."""
BUSY_STATES = ("reserved", "ringing", "on_call", "on_hold", "wrap_up")
STATES = ("ready", "not_ready", *BUSY_STATES)


class ReportSource(Protocol):
    """What the reports read (the store's :class:`~parley.store.reports.ReportRepository`)."""

    async def counters(self, dimension: str, since: datetime,
                       until: datetime) -> dict[str, Counters]: ...

    async def state_seconds(self, since: datetime,
                            until: datetime) -> dict[tuple[str, str, str], float]: ...

    async def teams(self) -> dict[str, list[str]]: ...


def _int(counters: Mapping[str, float], name: str) -> int:
    return round(counters.get(name, 0.0))


def _seconds(value: float) -> float:
    return round(value, 3)


def call_figures(c: Mapping[str, float]) -> Row:
    """The call figures of one key's counters (docs/reports.md). AHT is talk (hold
    included) plus the after-call work counted under the key (a queue's: its operators'
    wrap-ups of its calls) over the calls answered."""
    counts = QueueCounts(offered=_int(c, "offered"), answered=_int(c, "answered"),
                         abandoned=_int(c, "abandoned"),
                         answered_within=_int(c, "answered_within"),
                         abandoned_within=_int(c, "abandoned_within"),
                         short_abandons=_int(c, "abandoned_short"))
    answered = counts.answered
    return {
        "offered": counts.offered, "answered": answered, "abandoned": counts.abandoned,
        "abandoned_short": counts.short_abandons, "answered_within": counts.answered_within,
        "abandoned_within": counts.abandoned_within,
        "service_level": round(kpi.service_level(counts, ServiceLevel.ANSWERED), 4),
        "service_level_offered": round(kpi.service_level(counts, ServiceLevel.OFFERED), 4),
        "abandon_rate": round(kpi.abandon_rate(counts, AbandonRate.OFFERED), 4),
        "asa_s": _seconds(kpi.average_speed_of_answer(c.get("wait_answered_s", 0.0),
                                                      answered)),
        "aht_s": _seconds(kpi.average_handle_time(
            kpi.handle_time(c.get("talk_s", 0.0), wrap_up_s=c.get("wrap_up_s", 0.0)),
            answered)),
        "talk_s": _seconds(c.get("talk_s", 0.0)),
        "transfers": _int(c, "transfers"),
    }


def _rows(key_name: str, by_key: Mapping[str, Mapping[str, float]],
          figures: Callable[[str, Mapping[str, float]], Row]) -> list[Row]:
    return [{key_name: key, **figures(key, counters)} for key, counters in sorted(by_key.items())]


async def queues(source: ReportSource, since: datetime, until: datetime) -> list[Row]:
    """Per queue: the call figures (each call in every queue it entered), the overflows
    out, and the callbacks requested and completed."""
    return _rows("queue", await source.counters("queue", since, until),
                 lambda _key, c: queue_figures(c))


def queue_figures(c: Mapping[str, float]) -> Row:
    """A queue's figures (or every queue's summed, per interval): the call figures, the
    waits that ended in an overflow, and the callbacks."""
    return {**call_figures(c), "overflowed": _int(c, "overflowed"), **callback_figures(c)}


def callback_figures(c: Mapping[str, float]) -> Row:
    """The callbacks requested in the period and, of them, completed."""
    return {"callbacks_requested": _int(c, "callbacks_requested"),
            "callbacks_completed": _int(c, "callbacks_completed")}


async def numbers(source: ReportSource, since: datetime, until: datetime) -> list[Row]:
    """Per number dialled (inbound): the calls and their call figures."""
    return _rows("number", await source.counters("number", since, until),
                 lambda _key, c: {"calls": _int(c, "calls"), **call_figures(c),
                                  "duration_s": _seconds(c.get("duration_s", 0.0))})


async def trunks(source: ReportSource, since: datetime, until: datetime) -> list[Row]:
    """Per carrier trunk: calls each way, answered, and its usage."""
    period_s = max(0.0, (until - since).total_seconds())
    return _rows("trunk", await source.counters("trunk", since, until), lambda _key, c: {
        "calls": _int(c, "calls"), "inbound": _int(c, "inbound"),
        "outbound": _int(c, "outbound"), "offered": _int(c, "offered"),
        "answered": _int(c, "answered"), "abandoned": _int(c, "abandoned"),
        "abandoned_short": _int(c, "abandoned_short"),
        "duration_s": _seconds(c.get("duration_s", 0.0)),
        "erlangs": round(kpi.average_concurrency(c.get("duration_s", 0.0), period_s), 4)})


async def campaigns(source: ReportSource, since: datetime, until: datetime) -> list[Row]:
    """Per campaign: attempts, live answers, the outbound abandon rate, AMD verdicts."""
    def figures(_key: str, c: Mapping[str, float]) -> Row:
        attempts, live = _int(c, "attempts"), _int(c, "live_answers")
        answered = _int(c, "answered")
        return {
            "attempts": attempts, "live_answers": live, "machines": _int(c, "machines"),
            "offered": _int(c, "offered"), "answered": answered,
            "abandoned": _int(c, "abandoned"), "abandoned_short": 0,
            "contact_rate": round(kpi.contact_rate(live, attempts), 4),
            "outbound_abandon_rate": round(kpi.outbound_abandon_rate(
                OutboundAbandonRate.LIVE_ANSWERS, abandoned=_int(c, "abandoned"),
                live_answers=live), 4),
            "amd": {"human": _int(c, "amd_human"), "machine": _int(c, "amd_machine"),
                    "unknown": _int(c, "amd_unknown")},
            "talk_s": _seconds(c.get("talk_s", 0.0)),
            "aht_s": _seconds(kpi.average_handle_time(
            kpi.handle_time(c.get("talk_s", 0.0), wrap_up_s=c.get("wrap_up_s", 0.0)),
            answered)),
        }

    return _rows("campaign", await source.counters("campaign", since, until), figures)


async def results(source: ReportSource, since: datetime, until: datetime) -> list[Row]:
    """Per result code: the calls whose wrap-up was saved with it (the last save counts)."""
    return _rows("result", await source.counters("result", since, until),
                 lambda _key, c: {"calls": _int(c, "calls")})


def work_figures(calls: Mapping[str, float], states: Mapping[tuple[str, str], float]) -> Row:
    """An operator's (or a team's summed) call counters and state seconds as figures:
    AHT is (talk + hold + after-call work) from the state time over the calls answered."""
    seconds = dict.fromkeys(STATES, 0.0)
    by_reason: dict[str, float] = {}
    for (state, reason), value in states.items():
        seconds[state] = seconds.get(state, 0.0) + value
        if state == "not_ready":
            by_reason[reason or "-"] = by_reason.get(reason or "-", 0.0) + value
    busy = sum(seconds[state] for state in BUSY_STATES)
    logged_in = sum(seconds.values())
    answered = _int(calls, "answered")
    handle = seconds["on_call"] + seconds["on_hold"] + seconds["wrap_up"]
    return {
        "answered": answered, "talk_s": _seconds(calls.get("talk_s", 0.0)),
        "transfers": _int(calls, "transfers"),
        "aht_s": _seconds(kpi.average_handle_time(handle, answered)),
        "occupancy": round(kpi.occupancy(busy, seconds["ready"]), 4),
        "utilisation": round(kpi.utilisation(busy, logged_in), 4),
        "logged_in_s": _seconds(logged_in),
        "state_s": {state: _seconds(value) for state, value in seconds.items()},
        "not_ready_s_by_reason": {reason: _seconds(value)
                                  for reason, value in sorted(by_reason.items())},
    }


async def _work(source: ReportSource, since: datetime, until: datetime
                ) -> tuple[dict[str, Counters], dict[str, dict[tuple[str, str], float]]]:
    calls = await source.counters("operator", since, until)
    states: dict[str, dict[tuple[str, str], float]] = {}
    for (operator, state, reason), value in (await source.state_seconds(since, until)).items():
        if state != NOT_WORKING:
            own = states.setdefault(operator, {})
            own[(state, reason)] = own.get((state, reason), 0.0) + value
    return calls, states


async def operators(source: ReportSource, since: datetime, until: datetime) -> list[Row]:
    """Per operator: calls answered, talk, AHT, occupancy, time by state and reason."""
    calls, states = await _work(source, since, until)
    return [{"operator": operator, **work_figures(calls.get(operator, {}),
                                                  states.get(operator, {}))}
            for operator in sorted({*calls, *states})]


async def teams(source: ReportSource, since: datetime, until: datetime) -> list[Row]:
    """Per team (its members as they are now): the operators' figures summed."""
    calls, states = await _work(source, since, until)
    rows = []
    for team, members in sorted((await source.teams()).items()):
        summed: Counters = {}
        summed_states: dict[tuple[str, str], float] = {}
        for member in members:
            for name, value in calls.get(member, {}).items():
                summed[name] = summed.get(name, 0.0) + value
            for key, value in states.get(member, {}).items():
                summed_states[key] = summed_states.get(key, 0.0) + value
        rows.append({"team": team, "operators": len(members),
                     **work_figures(summed, summed_states)})
    return rows


BUILDERS = {"queues": queues, "operators": operators, "teams": teams, "trunks": trunks,
            "numbers": numbers, "campaigns": campaigns, "results": results}
"""Each report by name."""


def flat(rows: list[Row]) -> tuple[list[str], list[dict[str, Any]]]:
    """The rows with each nested figure (``state_s``, ``amd``, …) spread into one column per
    entry (``state_s.ready``), and the columns in the order they first appear: one table for
    the page and for CSV."""
    columns: dict[str, None] = {}
    out: list[dict[str, Any]] = []
    for row in rows:
        line: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, Mapping):
                for part, inner in sorted(value.items()):
                    line[f"{key}.{part}"] = inner
            else:
                line[key] = value
        columns.update(dict.fromkeys(line))
        out.append(line)
    return list(columns), out
