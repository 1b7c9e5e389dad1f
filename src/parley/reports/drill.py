"""The calls behind a report's figure (drill-down) and the intervals report (pure).

A count in a report row (a queue's ``abandoned``, an operator's ``answered``) is the sum of
what finished calls add under the row's key (:func:`parley.reports.intervals.counted`: per
queue visit, per operator's answer, per trunk and number). The same function picks the calls
behind it, so the list a supervisor opens from a figure always has as many lines as the
figure says (a call counted twice in it, offered in two queues of the intervals report, is
listed twice).

The intervals report is the queue figures of each 15-minute interval of a period (all queues,
or one), with the callbacks requested in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from parley.reports.intervals import (
    CallFacts,
    Counted,
    Counters,
    Thresholds,
    call_counters,
    counted,
)
from parley.reports.tables import queue_figures

Row = dict[str, Any]

DRILL_DIMENSIONS = {"queues": "queue", "operators": "operator", "trunks": "trunk",
                    "numbers": "number", "intervals": "interval", "teams": "team"}
"""The reports whose counts lead to their calls, and the dimension of their rows."""
DRILL_MEASURES = ("calls", "inbound", "outbound", "offered", "answered", "abandoned",
                  "abandoned_short", "answered_within", "abandoned_within", "overflowed",
                  "transfers")
"""The figures that count calls (the rest are sums, averages or ratios)."""


class DrillError(ValueError):
    """A drill-down that names no report, dimension or figure the calls can be picked by;
    the message names the parameter."""


def behind(call: CallFacts, measure: str, thresholds: Thresholds,
           dimension: str | None = None, keys: Iterable[str] | None = None) -> list[Counted]:
    """What of ``call`` is counted by ``measure`` in rows of ``dimension`` whose key is one of
    ``keys`` (None: any key; no dimension: the call as a whole, once): one entry per time
    the figure counts it (a call offered in two queues is two of the summed offered)."""
    if measure not in DRILL_MEASURES:
        raise DrillError(f"measure: {measure!r} does not count calls; one of "
                         f"{', '.join(DRILL_MEASURES)}")
    if dimension is None:
        whole = call_counters(call, thresholds)
        return [Counted("", "", whole, call.queue, call.operator, call.wait_s,
                        call.talk_s)] * round(whole.get(measure, 0))
    wanted = None if keys is None else set(keys)
    return [row for row in counted(call, thresholds)
            if row.dimension == dimension and (wanted is None or row.key in wanted)
            for _ in range(round(row.counters.get(measure, 0)))]


class IntervalSource(Protocol):
    """What the intervals report reads (the store's report rows)."""

    async def interval_counters(self, dimension: str, since: datetime, until: datetime,
                                key: str | None = None) -> dict[datetime, Counters]: ...


def interval_rows(by_interval: Mapping[datetime, Mapping[str, float]]) -> list[Row]:
    """One row per interval that counted anything, oldest first: its start (UTC, ISO 8601),
    the queue figures and the callbacks requested (and of them completed) in it."""
    return [{"interval": start.isoformat(), **queue_figures(counters)}
            for start, counters in sorted(by_interval.items()) if any(counters.values())]


async def intervals(source: IntervalSource, since: datetime, until: datetime,
                    queue: str | None = None) -> list[Row]:
    """Per 15-minute interval: the queue figures of the calls that began in it (every queue,
    or ``queue``) and the callbacks requested in it."""
    return interval_rows(await source.interval_counters("queue", since, until, queue))
