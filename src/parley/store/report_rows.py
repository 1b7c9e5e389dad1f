"""Report figures per 15-minute interval, callbacks per interval, and the calls behind a
figure (drill-down), read as :mod:`parley.store.reports` reads the aggregates: whole
intervals from the aggregates, the edges of a period off the boundaries from the raw
records, and the calls themselves always from the raw records; and the abandoned calls with
every later answer on their callers' numbers (raw records only)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from parley.reports.abandoned import Abandoned, Contact, Request
from parley.reports.drill import behind
from parley.reports.intervals import (
    DIMENSIONS,
    MEASURES,
    Counters,
    Key,
    callbacks_by_interval,
    calls_by_interval,
    interval_ceiling,
    interval_start,
)
from parley.store import models as m
from parley.store.reports import (
    ATTEMPTS,
    CALLBACKS,
    CHUNK,
    INTERACTIONS,
    INTERVALS,
    TIMELINE,
    BadDimension,
    finished_calls,
    finished_wrap_ups,
    requested_callbacks,
    thresholds,
)

DRILL_LIMIT = 1000
"""The most calls one drill-down lists (the total is always given)."""
_PREFILTER = {"queue": INTERACTIONS.c.queue, "operator": INTERACTIONS.c.operator,
              "number": INTERACTIONS.c.called}
_MOVING = ("queue", "operator")
"""Dimensions a call counts under more than once (every queue it entered, every operator
who answered it): the record's last queue and operator cannot narrow the search."""


@dataclass(frozen=True, slots=True)
class CallLine:
    """One call behind a figure, as the drill-down lists it."""

    id: str
    started_at: datetime
    direction: str
    caller: str
    called: str
    queue: str | None
    operator: str | None
    outcome: str | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_s: float | None
    talk_s: float | None
    duration_s: float | None
    transfers: int
    recordings: list[str]


class ReportRowRepository:
    """Per-interval figures and the calls behind a figure."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def interval_counters(self, dimension: str, since: datetime, until: datetime,
                                key: str | None = None) -> dict[datetime, Counters]:
        """The counters of each interval within [since, until) under ``dimension`` (one
        ``key``, or every key summed): whole intervals from the aggregates, the partial ones
        at the edges from the raw records (calls that began within the period)."""
        if dimension not in DIMENSIONS or dimension in ("campaign", "result"):
            raise BadDimension(f"dimension: no calls per {dimension!r}")
        first, last = interval_ceiling(since), interval_start(until)
        result: dict[datetime, Counters] = {}
        async with self._sessions() as session:
            connection = await session.connection()
            edges = [(since, until)]
            if first < last:
                edges = [(since, first), (last, until)]
                conditions = [INTERVALS.c.dimension == dimension,
                              INTERVALS.c.interval_start >= first,
                              INTERVALS.c.interval_start < last]
                if key is not None:
                    conditions.append(INTERVALS.c.key == key)
                rows = await connection.execute(
                    select(INTERVALS.c.interval_start,
                           *[func.sum(INTERVALS.c[name]).label(name) for name in MEASURES])
                    .where(*conditions).group_by(INTERVALS.c.interval_start))
                for row in rows:
                    result[row.interval_start] = {name: float(getattr(row, name) or 0)
                                                  for name in MEASURES}
            totals: dict[Key, Counters] = {}
            limits = await thresholds(connection)
            for start, end in edges:
                if start < end:
                    calls_by_interval(await finished_calls(connection, and_(
                        INTERACTIONS.c.started_at >= start, INTERACTIONS.c.started_at < end)),
                        limits, totals)
                    if dimension == "queue":
                        callbacks_by_interval(await requested_callbacks(connection, and_(
                            CALLBACKS.c.requested_at >= start,
                            CALLBACKS.c.requested_at < end)), totals)
                        await finished_wrap_ups(connection, start, end, totals)
        for (start, kind, name), counters in totals.items():
            if kind == dimension and (key is None or name == key):
                summed = result.setdefault(start, dict.fromkeys(MEASURES, 0.0))
                for measure, value in counters.items():
                    summed[measure] += value
        return result


    async def calls_behind(self, measure: str, since: datetime, until: datetime, *,
                           dimension: str | None = None, keys: Iterable[str] | None = None,
                           limit: int = DRILL_LIMIT) -> tuple[int, list[CallLine]]:
        """The finished calls that began in [since, until) and count in ``measure`` under
        ``dimension`` for one of ``keys`` (keys None: any key; no dimension: every call the
        figure counts as a whole), oldest first; (how many there are, the first ``limit`` of
        them). A call counted twice in the figure (offered in two queues summed) is listed
        twice, once with each queue's (or operator's) wait and talk."""
        wanted = None if keys is None else sorted(set(keys))
        conditions: list[ColumnElement[bool]] = [INTERACTIONS.c.started_at >= since,
                                                 INTERACTIONS.c.started_at < until]
        if dimension in _PREFILTER and wanted is not None:
            condition: ColumnElement[bool] = _PREFILTER[dimension].in_(wanted)
            if dimension in _MOVING:  # or it may have been there before it moved on
                condition = condition | INTERACTIONS.c.id.in_(
                    select(TIMELINE.c.interaction_id)
                    .where(TIMELINE.c.kind.in_(("overflowed", "transferred", "taken over")),
                           TIMELINE.c.at >= since))
            conditions.append(condition)
        async with self._sessions() as session:
            connection = await session.connection()
            limits = await thresholds(connection)
            lines = [(call, row) for call in await finished_calls(connection, and_(*conditions))
                     for row in behind(call, measure, limits, dimension, wanted)]
            lines.sort(key=lambda line: (line[0].started_at, line[0].call_id))
            shown = lines[:limit]
            ids = sorted({call.call_id for call, _row in shown})
            records = {row.id: row for row in await connection.execute(
                select(INTERACTIONS.c.id, INTERACTIONS.c.caller, INTERACTIONS.c.ended_at)
                .where(INTERACTIONS.c.id.in_(ids)))} if ids else {}
            recordings: dict[str, list[str]] = {}
            if ids:
                for recording_id, interaction_id in await connection.execute(
                        select(m.Recording.id, m.Recording.interaction_id)
                        .where(m.Recording.interaction_id.in_(ids))
                        .order_by(m.Recording.started_at)):
                    if interaction_id is not None:
                        recordings.setdefault(interaction_id, []).append(recording_id)
        return len(lines), [
            CallLine(call.call_id, call.started_at, call.direction,
                     records[call.call_id].caller, call.called, row.queue, row.operator,
                     call.outcome, call.answered_at, records[call.call_id].ended_at,
                     row.wait_s, row.talk_s, call.duration_s, call.transfers,
                     recordings.get(call.call_id, []))
            for call, row in shown]

    async def abandoned(self, since: datetime, until: datetime
                        ) -> tuple[list[Abandoned], list[Contact], list[Request]]:
        """The abandoned calls that began in [since, until), and every later answer and
        callback request on their callers' numbers (for
        :func:`parley.reports.abandoned.abandoned_rows`)."""
        calls_table = INTERACTIONS.c
        async with self._sessions() as session:
            connection = await session.connection()
            calls = [Abandoned(row.id, row.started_at, row.ended_at, row.caller,
                               row.queue or "", float(row.wait_s or 0.0))
                     for row in await connection.execute(
                         select(calls_table.id, calls_table.started_at, calls_table.ended_at,
                                calls_table.caller, calls_table.queue, calls_table.wait_s)
                         .where(calls_table.started_at >= since,
                                calls_table.started_at < until,
                                calls_table.queued_at.is_not(None),
                                calls_table.answered_at.is_(None),
                                calls_table.ended_at.is_not(None),
                                calls_table.outcome == "abandoned"))]
            if not calls:
                return [], [], []
            earliest = min(call.started_at for call in calls)
            wanted = sorted({call.caller for call in calls})
            contacts: list[Contact] = []
            requests: list[Request] = []
            for first in range(0, len(wanted), CHUNK):
                numbers = wanted[first:first + CHUNK]
                await _contacts(connection, set(numbers), earliest, contacts, requests)
        return calls, contacts, requests

    async def locations(self) -> dict[str, str | None]:
        """Each user's location (``remote`` or a named site; None: not set), as now."""
        async with self._sessions() as session:
            return {username: location for username, location in await session.execute(
                select(m.User.username, m.User.location))}


async def _contacts(connection: AsyncConnection, numbers: set[str], earliest: datetime,
                    contacts: list[Contact], requests: list[Request]) -> None:
    """Every answer on ``numbers`` from ``earliest`` on (calls either way, campaign attempts
    a person answered, callbacks done) into ``contacts``; the callbacks requested for them
    into ``requests``."""
    calls_table = INTERACTIONS.c
    listed = sorted(numbers)
    done = {row.interaction_id: row.number for row in await connection.execute(
        select(m.Callback.interaction_id, m.Callback.number)
        .where(m.Callback.number.in_(listed), m.Callback.status == "done",
               m.Callback.interaction_id.is_not(None)))}
    for row in await connection.execute(
            select(calls_table.id, calls_table.direction, calls_table.caller,
                   calls_table.called, calls_table.answered_at)
            .where(calls_table.answered_at >= earliest,
                   calls_table.caller.in_(listed) | calls_table.called.in_(listed))):
        if row.id in done:
            contacts.append(Contact(done[row.id], row.answered_at, "callback", row.id))
        elif row.direction == "inbound" and row.caller in numbers:
            contacts.append(Contact(row.caller, row.answered_at, "inbound", row.id))
        elif row.direction != "inbound" and row.called in numbers:
            contacts.append(Contact(row.called, row.answered_at, "outbound", row.id))
    for number, answered_at in await connection.execute(
            select(ATTEMPTS.c.number, ATTEMPTS.c.answered_at)
            .where(ATTEMPTS.c.number.in_(listed), ATTEMPTS.c.outcome == "human",
                   ATTEMPTS.c.answered_at >= earliest)):
        contacts.append(Contact(number, answered_at, "outbound", None))
    requests.extend(Request(number, at) for number, at in await connection.execute(
        select(m.Callback.number, m.Callback.requested_at)
        .where(m.Callback.number.in_(listed), m.Callback.requested_at >= earliest)))
