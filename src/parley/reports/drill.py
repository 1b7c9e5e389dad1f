"""The calls behind a report's figure (drill-down) and the intervals report (pure).

A count in a report row (a queue's ``abandoned``, an operator's ``answered``) is the number of
finished calls whose counters (:func:`parley.reports.intervals.call_counters`) hold that
figure under the row's key. The same function picks the calls behind it, so the list a
supervisor opens from a figure always has as many calls as the figure says.

The intervals report is the queue figures of each 15-minute interval of a period (all queues,
or one), with the callbacks requested in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from parley.reports.intervals import (
    CallFacts,
    Counters,
    Thresholds,
    call_counters,
    call_keys,
)
from parley.reports.tables import call_figures, callback_figures

Row = dict[str, Any]

DRILL_DIMENSIONS = {"queues": "queue", "operators": "operator", "trunks": "trunk",
                    "numbers": "number", "intervals": "interval", "teams": "team"}
"""The reports whose counts lead to their calls, and the dimension of their rows."""
DRILL_MEASURES = ("calls", "inbound", "outbound", "offered", "answered", "abandoned",
                  "abandoned_short", "answered_within", "abandoned_within", "transfers")
"""The figures that count calls (the rest are sums, averages or ratios)."""


class DrillError(ValueError):
    """A drill-down that names no report, dimension or figure the calls can be picked by;
    the message names the parameter."""


def behind(call: CallFacts, measure: str, thresholds: Thresholds,
           dimension: str | None = None, keys: Iterable[str] = ()) -> bool:
    """Whether ``call`` is one of those counted by ``measure`` in a row of ``dimension``
    whose key is one of ``keys`` (no dimension: every call the figure counts)."""
    if measure not in DRILL_MEASURES:
        raise DrillError(f"measure: {measure!r} does not count calls; one of "
                         f"{', '.join(DRILL_MEASURES)}")
    if not call_counters(call, thresholds).get(measure):
        return False
    if dimension is None:
        return True
    wanted = set(keys)
    return any(kind == dimension and key in wanted for kind, key in call_keys(call))


class IntervalSource(Protocol):
    """What the intervals report reads (the store's report rows)."""

    async def interval_counters(self, dimension: str, since: datetime, until: datetime,
                                key: str | None = None) -> dict[datetime, Counters]: ...


def interval_rows(by_interval: Mapping[datetime, Mapping[str, float]]) -> list[Row]:
    """One row per interval that counted anything, oldest first: its start (UTC, ISO 8601),
    the queue figures and the callbacks requested (and of them completed) in it."""
    return [{"interval": start.isoformat(), **call_figures(counters),
             **callback_figures(counters)}
            for start, counters in sorted(by_interval.items()) if any(counters.values())]


async def intervals(source: IntervalSource, since: datetime, until: datetime,
                    queue: str | None = None) -> list[Row]:
    """Per 15-minute interval: the queue figures of the calls that began in it (every queue,
    or ``queue``) and the callbacks requested in it."""
    return interval_rows(await source.interval_counters("queue", since, until, queue))
