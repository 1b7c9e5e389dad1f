"""Interval aggregates in the store: kept up to date in the transactions that write the raw
records (call records, campaign attempts, the operator state log), rebuilt from the raw
records, and read back for reports with the edges of a period answered from the raw records.

What each record adds is :mod:`parley.reports.intervals`' (pure); this module only reads the
rows it needs and adds the counters with ``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and
PostgreSQL alike). A change to a finished call record (an outcome that came after the last
hang-up) takes away what the record added before and adds what it adds now, in the same
transaction, so the aggregates stay the sum of the raw records.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from parley.clock import Clock
from parley.reports.filters import AttemptRecord, CallRecord, Filters, RawRecords
from parley.reports.intervals import (
    DIMENSIONS,
    MEASURES,
    NOT_WORKING,
    STEP_KINDS,
    AttemptFacts,
    CallbackFacts,
    CallFacts,
    Counters,
    Key,
    StateEntry,
    StateKey,
    Step,
    Thresholds,
    add_state_time,
    attempts_by_interval,
    callbacks_by_interval,
    calls_by_interval,
    interval_ceiling,
    interval_start,
    results_by_interval,
    state_segments,
    subtract,
    wrap_up_by_interval,
)
from parley.store import models as m

INTERVALS: Table = m.ReportInterval.__table__  # type: ignore[assignment]
STATE_TIME: Table = m.ReportStateTime.__table__  # type: ignore[assignment]
INTERACTIONS: Table = m.Interaction.__table__  # type: ignore[assignment]
LEGS: Table = m.Leg.__table__  # type: ignore[assignment]
TIMELINE: Table = m.TimelineEvent.__table__  # type: ignore[assignment]
ATTEMPTS: Table = m.CampaignAttempt.__table__  # type: ignore[assignment]
STATE_LOG: Table = m.OperatorStateEntry.__table__  # type: ignore[assignment]
WRAPUPS: Table = m.Wrapup.__table__  # type: ignore[assignment]
CALLBACKS: Table = m.Callback.__table__  # type: ignore[assignment]

STATE_COLUMNS = (STATE_LOG.c.username, STATE_LOG.c.state, STATE_LOG.c.reason, STATE_LOG.c.at,
                 STATE_LOG.c.queue, STATE_LOG.c.interaction_id)
"""The state log's columns in :class:`StateEntry`'s order."""

CHUNK = 5000
"""Raw records read at a time by a rebuild and by the edges of a report."""


def _finished_wrap_ups() -> Select[Any]:
    following = STATE_LOG.alias("following")
    next_at = (select(func.min(following.c.at))
               .where(following.c.username == STATE_LOG.c.username,
                      (following.c.at > STATE_LOG.c.at)
                      | and_(following.c.at == STATE_LOG.c.at,
                             following.c.id > STATE_LOG.c.id))
               .scalar_subquery())
    return (select(*STATE_COLUMNS, next_at.label("ended_at"))
            .where(STATE_LOG.c.state == "wrap_up", STATE_LOG.c.queue.is_not(None),
                   STATE_LOG.c.at >= bindparam("start"), STATE_LOG.c.at < bindparam("end")))


def _latest_states(before: bool) -> Select[Any]:
    conditions: list[ColumnElement[bool]] = [
        STATE_LOG.c.username.in_(bindparam("names", expanding=True))]
    if before:
        conditions.append(STATE_LOG.c.at < bindparam("before"))
    latest = (select(STATE_LOG.c.username, func.max(STATE_LOG.c.at).label("at"))
              .where(*conditions).group_by(STATE_LOG.c.username).subquery())
    return (select(*STATE_COLUMNS)
            .join(latest, and_(STATE_LOG.c.username == latest.c.username,
                               STATE_LOG.c.at == latest.c.at))
            .order_by(STATE_LOG.c.id))


# Built once: each state-log batch reads the operators' latest entries, and building the
# statement's alias and subquery anew each time cost CPU and left cyclic garbage behind.
_FINISHED_WRAP_UPS = _finished_wrap_ups()
_LATEST = _latest_states(before=False)
_LATEST_BEFORE = _latest_states(before=True)
_FLOATS = frozenset(name for name in MEASURES if isinstance(INTERVALS.c[name].type, Float))


class BadDimension(ValueError):
    """A report asked for a dimension that has no aggregates."""


# --- reading raw records -----------------------------------------------------------------


async def thresholds(connection: AsyncConnection) -> Thresholds:
    """The site's short-abandon threshold and each queue's service-level threshold."""
    short = await connection.scalar(select(m.Site.short_abandon_s).limit(1))
    levels = {row.name: float(row.service_level_s) for row in await connection.execute(
        select(m.Queue.name, m.Queue.service_level_s))}
    return Thresholds(short_abandon_s=float(5 if short is None else short),
                      service_level_s=levels)


async def finished_calls(connection: AsyncConnection, where: ColumnElement[bool], *,
                         finished: bool = True) -> list[CallFacts]:
    """The finished call records matching ``where`` (every one with ``finished`` False),
    with their trunk (the first carrier trunk among their legs), how many transfers their
    timeline shows, and the timeline entries that move them between queues and operators
    (:data:`STEP_KINDS`)."""
    ended = INTERACTIONS.c.ended_at.is_not(None) if finished else true()
    rows = (await connection.execute(
        select(INTERACTIONS.c.id, INTERACTIONS.c.started_at, INTERACTIONS.c.direction,
               INTERACTIONS.c.queue, INTERACTIONS.c.operator, INTERACTIONS.c.called,
               INTERACTIONS.c.queued_at, INTERACTIONS.c.answered_at, INTERACTIONS.c.wait_s,
               INTERACTIONS.c.talk_s, INTERACTIONS.c.duration_s, INTERACTIONS.c.outcome,
               INTERACTIONS.c.ended_at)
        .where(where, ended))).all()
    if not rows:
        return []
    ids = [row.id for row in rows]
    trunks: dict[str, str] = {}
    steps: dict[str, list[Step]] = {}
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        for row in await connection.execute(
                select(LEGS.c.interaction_id, func.min(LEGS.c.trunk))
                .where(LEGS.c.interaction_id.in_(part), LEGS.c.trunk.is_not(None))
                .group_by(LEGS.c.interaction_id)):
            trunks[row[0]] = row[1]
        for entry in await connection.execute(
                select(TIMELINE.c.interaction_id, TIMELINE.c.at, TIMELINE.c.kind,
                       TIMELINE.c.detail)
                .where(TIMELINE.c.interaction_id.in_(part),
                       TIMELINE.c.kind.in_(STEP_KINDS))
                .order_by(TIMELINE.c.interaction_id, TIMELINE.c.at, TIMELINE.c.id)):
            steps.setdefault(entry.interaction_id, []).append(
                step_of(entry.at, entry.kind, entry.detail))
    return [CallFacts(row.started_at, row.direction, row.queue, row.operator, row.called,
                      row.queued_at, row.answered_at, row.wait_s, row.talk_s, row.duration_s,
                      row.outcome, trunks.get(row.id),
                      sum(step.kind == "transferred" for step in steps.get(row.id, ())),
                      row.id, row.ended_at, tuple(steps.get(row.id, ())))
            for row in rows]


def step_of(at: datetime, kind: str, detail: Any) -> Step:
    """A timeline entry as a :class:`Step` (its detail's queue, operator and overflow
    target)."""
    detail = detail if isinstance(detail, dict) else {}

    def text(name: str) -> str:
        value = detail.get(name)
        return value if isinstance(value, str) else ""

    return Step(at, kind, text("queue"), text("operator"), text("to"), text("target"))


async def finished_attempts(connection: AsyncConnection,
                            where: ColumnElement[bool]) -> list[AttemptFacts]:
    rows = await connection.execute(
        select(ATTEMPTS.c.campaign, ATTEMPTS.c.started_at, ATTEMPTS.c.outcome,
               ATTEMPTS.c.amd, ATTEMPTS.c.talk_s)
        .where(where, ATTEMPTS.c.ended_at.is_not(None)))
    return [AttemptFacts(*row) for row in rows]


async def wrapup_results(connection: AsyncConnection,
                         where: ColumnElement[bool]) -> list[tuple[str, datetime]]:
    """(result code, the call's start) of the wrap-ups of the calls matching ``where``."""
    rows = await connection.execute(
        select(WRAPUPS.c.result, INTERACTIONS.c.started_at)
        .join(INTERACTIONS, INTERACTIONS.c.id == WRAPUPS.c.interaction_id).where(where))
    return [(row.result, row.started_at) for row in rows]


async def requested_callbacks(connection: AsyncConnection,
                              where: ColumnElement[bool]) -> list[CallbackFacts]:
    """The callbacks matching ``where`` (their queue, request time and status)."""
    rows = await connection.execute(
        select(CALLBACKS.c.queue, CALLBACKS.c.requested_at, CALLBACKS.c.status).where(where))
    return [CallbackFacts(*row) for row in rows]


async def finished_wrap_ups(connection: AsyncConnection, start: datetime, end: datetime,
                            totals: dict[Key, Counters]) -> None:
    """The wrap-ups of queues' calls that began in [start, end) and have ended (the
    operator's next state log entry is written), added to ``totals`` as the aggregates add
    them (:func:`wrap_up_by_interval`)."""
    rows = await connection.execute(_FINISHED_WRAP_UPS, {"start": start, "end": end})
    wrap_up_by_interval(((StateEntry(*row[:6]), row.ended_at) for row in rows
                         if row.ended_at is not None), totals)


def attempt_facts(values: dict[str, Any] | None) -> list[AttemptFacts]:
    """An attempt row's facts if it has ended (none otherwise)."""
    if values is None or values.get("ended_at") is None:
        return []
    return [AttemptFacts(values["campaign"], values["started_at"], values.get("outcome"),
                         values.get("amd"), values.get("talk_s"))]


# --- adding to the aggregates ------------------------------------------------------------


@functools.cache
def _upsert(dialect: str, table: str) -> Any:
    """The statement that adds to the interval (``intervals``) or state time rows,
    creating those missing; built once per dialect (each state-log and call-record batch
    runs it, and its ``excluded`` alias is costly to build and left cyclic garbage)."""
    statement = pg_insert if dialect == "postgresql" else sqlite_insert
    if table == "intervals":
        into = statement(INTERVALS)
        return into.on_conflict_do_update(
            index_elements=["dimension", "interval_start", "key"],
            set_={name: INTERVALS.c[name] + into.excluded[name] for name in MEASURES})
    into = statement(STATE_TIME)
    return into.on_conflict_do_update(
        index_elements=["interval_start", "operator", "state", "reason"],
        set_={"seconds": STATE_TIME.c.seconds + into.excluded.seconds})


async def add_intervals(connection: AsyncConnection, totals: dict[Key, Counters]) -> None:
    """Add ``totals`` to the interval rows (creating those missing)."""
    rows = [{"interval_start": start, "dimension": dimension, "key": key,
             **{name: (float(counters.get(name, 0.0)) if name in _FLOATS
                       else round(counters.get(name, 0.0))) for name in MEASURES}}
            for (start, dimension, key), counters in totals.items()]
    if not rows:
        return
    statement = _upsert(connection.dialect.name, "intervals")
    for start in range(0, len(rows), CHUNK):
        await connection.execute(statement, rows[start:start + CHUNK])


async def add_state_seconds(connection: AsyncConnection,
                            totals: dict[StateKey, float]) -> None:
    rows = [{"interval_start": start, "operator": operator, "state": state, "reason": reason,
             "seconds": seconds}
            for (start, operator, state, reason), seconds in totals.items() if seconds]
    if not rows:
        return
    statement = _upsert(connection.dialect.name, "state_time")
    for start in range(0, len(rows), CHUNK):
        await connection.execute(statement, rows[start:start + CHUNK])


async def calls_before(connection: AsyncConnection, ids: Iterable[str]) -> list[CallFacts]:
    """The finished records among ``ids`` as they are now (before a change)."""
    wanted = sorted(set(ids))
    return await finished_calls(connection, INTERACTIONS.c.id.in_(wanted)) if wanted else []


async def apply_calls(connection: AsyncConnection, before: Sequence[CallFacts],
                      ids: Iterable[str]) -> None:
    """Records ``ids`` have changed (``before``: the finished ones as they were): add the
    difference they make to the aggregates."""
    after = await calls_before(connection, ids)
    if not after and not before:
        return
    limits = await thresholds(connection)
    await add_intervals(connection, subtract(calls_by_interval(after, limits),
                                             calls_by_interval(before, limits)))


async def apply_attempt(connection: AsyncConnection, before: dict[str, Any] | None,
                        after: dict[str, Any]) -> None:
    """An attempt row changed from ``before`` (None: new) to ``after``."""
    old, new = attempt_facts(before), attempt_facts(after)
    if old or new:
        await add_intervals(connection, subtract(attempts_by_interval(new),
                                                 attempts_by_interval(old)))


async def apply_result(connection: AsyncConnection, started_at: datetime,
                       before: str | None, after: str) -> None:
    """A call's wrap-up was saved with result ``after`` (``before``: the result saved
    earlier, if any)."""
    if before != after:
        totals = results_by_interval([(after, started_at)])
        if before is not None:
            results_by_interval([(before, started_at)], totals, -1)
        await add_intervals(connection, totals)


async def apply_callback(connection: AsyncConnection, before: CallbackFacts | None,
                         after: CallbackFacts) -> None:
    """A callback was requested (``before`` None) or changed from ``before``: add the
    difference to its queue's interval."""
    totals = callbacks_by_interval([after])
    if before is not None:
        callbacks_by_interval([before], totals, -1)
    await add_intervals(connection, {key: row for key, row in totals.items()
                                     if any(row.values())})


async def latest_states(connection: AsyncConnection, usernames: Iterable[str],
                        before: datetime | None = None) -> dict[str, StateEntry]:
    """Each operator's latest state log entry (before ``before`` if given)."""
    wanted = sorted(set(usernames))
    if not wanted:
        return {}
    found: dict[str, StateEntry] = {}
    for start in range(0, len(wanted), CHUNK):
        names = wanted[start:start + CHUNK]
        rows = await (connection.execute(_LATEST, {"names": names}) if before is None else
                      connection.execute(_LATEST_BEFORE, {"names": names, "before": before}))
        for row in rows:
            found[row.username] = StateEntry(*row)  # the last written wins a tie
    return found


async def apply_states(connection: AsyncConnection, entries: Sequence[StateEntry]) -> None:
    """State log ``entries`` are about to be written: add the segments they end (each
    operator's previous state up to the entry, and the entries' own up to the next), and
    each wrap-up of a queue's call they end to that queue's ``wrap_up_s``."""
    if not entries:
        return
    previous = await latest_states(connection, (entry.username for entry in entries))
    by_user: dict[str, list[StateEntry]] = {}
    for entry in entries:
        by_user.setdefault(entry.username, []).append(entry)
    totals: dict[StateKey, float] = {}
    wrap_ups: dict[Key, Counters] = {}
    for username, own in by_user.items():
        ordered = sorted(own, key=lambda entry: entry.at)
        last = previous.get(username)
        segments = list(state_segments(([last] if last is not None else []) + ordered))
        for entry, end in segments:
            add_state_time(totals, entry, end)
        wrap_up_by_interval(segments, wrap_ups)
    await add_state_seconds(connection, totals)
    await add_intervals(connection, wrap_ups)


# --- the repository ------------------------------------------------------------------------


class ReportRepository:
    """Report figures over any period, and the rebuild of the aggregates."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def counters(self, dimension: str, since: datetime,
                       until: datetime) -> dict[str, Counters]:
        """Each key's counters over [since, until): whole intervals from the aggregates,
        the rest (the edges of a period off the interval boundaries) from the raw records.
        Calls and attempts count in the interval they began in, once finished."""
        if dimension not in DIMENSIONS:
            raise BadDimension(f"dimension: no aggregates per {dimension!r}; one of "
                               f"{', '.join(DIMENSIONS)}")
        first, last = interval_ceiling(since), interval_start(until)
        result: dict[str, Counters] = {}
        async with self._sessions() as session:
            connection = await session.connection()
            edges = [(since, until)]
            if first < last:
                edges = [(since, first), (last, until)]
                rows = await connection.execute(
                    select(INTERVALS.c.key,
                           *[func.sum(INTERVALS.c[name]).label(name) for name in MEASURES])
                    .where(INTERVALS.c.dimension == dimension,
                           INTERVALS.c.interval_start >= first,
                           INTERVALS.c.interval_start < last)
                    .group_by(INTERVALS.c.key))
                for row in rows:
                    result[row.key] = {name: float(getattr(row, name) or 0)
                                       for name in MEASURES}
            totals: dict[Key, Counters] = {}
            limits = await thresholds(connection)
            for start, end in edges:
                if start >= end:
                    continue
                if dimension == "result":
                    results_by_interval(await wrapup_results(connection, and_(
                        INTERACTIONS.c.started_at >= start, INTERACTIONS.c.started_at < end)),
                        totals)
                elif dimension == "campaign":
                    attempts_by_interval(await finished_attempts(connection, and_(
                        ATTEMPTS.c.started_at >= start, ATTEMPTS.c.started_at < end)), totals)
                else:
                    calls_by_interval(await finished_calls(connection, and_(
                        INTERACTIONS.c.started_at >= start, INTERACTIONS.c.started_at < end)),
                        limits, totals)
                if dimension == "queue":
                    callbacks_by_interval(await requested_callbacks(connection, and_(
                        CALLBACKS.c.requested_at >= start, CALLBACKS.c.requested_at < end)),
                        totals)
                    await finished_wrap_ups(connection, start, end, totals)
        for (_start, kind, key), counters in totals.items():
            if kind == dimension:
                summed = result.setdefault(key, dict.fromkeys(MEASURES, 0.0))
                for name, value in counters.items():
                    summed[name] += value
        return result

    async def state_seconds(self, since: datetime,
                            until: datetime) -> dict[tuple[str, str, str], float]:
        """Seconds per (operator, state, reason) within [since, until), a state still
        current counted up to now: finished segments in whole intervals from the
        aggregates, everything else from the state log."""
        now = self._clock.utcnow()
        first, last = interval_ceiling(since), interval_start(until)
        result: dict[tuple[str, str, str], float] = {}

        def take(totals: dict[StateKey, float]) -> None:
            for (_start, operator, state, reason), seconds in totals.items():
                key = (operator, state, reason)
                result[key] = result.get(key, 0.0) + seconds

        async with self._sessions() as session:
            connection = await session.connection()
            users = [row[0] for row in await connection.execute(select(m.User.username))]
            edges = [(since, until)]
            if first < last:
                edges = [(since, first), (last, until)]
                rows = await connection.execute(
                    select(STATE_TIME.c.operator, STATE_TIME.c.state, STATE_TIME.c.reason,
                           func.sum(STATE_TIME.c.seconds))
                    .where(STATE_TIME.c.interval_start >= first,
                           STATE_TIME.c.interval_start < last)
                    .group_by(STATE_TIME.c.operator, STATE_TIME.c.state, STATE_TIME.c.reason))
                for operator, state, reason, seconds in rows:
                    result[(operator, state, reason)] = float(seconds or 0.0)
                # the current states' time within the whole intervals: not aggregated yet
                open_totals: dict[StateKey, float] = {}
                for entry in (await latest_states(connection, users)).values():
                    if entry.state != NOT_WORKING:
                        add_state_time(open_totals, entry, now, (first, last))
                take(open_totals)
            for start, end in edges:
                if start < end:
                    take(await self._window(connection, users, start, min(end, now)))
        return result

    async def _window(self, connection: AsyncConnection, users: list[str], start: datetime,
                      end: datetime) -> dict[StateKey, float]:
        """Every segment's seconds within [start, end) from the state log."""
        totals: dict[StateKey, float] = {}
        if start >= end:
            return totals
        entries = [StateEntry(*row) for row in await connection.execute(
            select(*STATE_COLUMNS)
            .where(STATE_LOG.c.at >= start, STATE_LOG.c.at < end)
            .order_by(STATE_LOG.c.username, STATE_LOG.c.at, STATE_LOG.c.id))]
        by_user: dict[str, list[StateEntry]] = {}
        for entry in entries:
            by_user.setdefault(entry.username, []).append(entry)
        earlier = await latest_states(connection, {*users, *by_user}, before=start)
        for username in {*by_user, *earlier}:
            chain = ([earlier[username]] if username in earlier else []) \
                + by_user.get(username, [])
            chain.append(StateEntry(username, NOT_WORKING, "", end))  # the window's end
            for entry, stop in state_segments(chain):
                add_state_time(totals, entry, stop, (start, end))
        return totals

    async def filtered_records(self, kind: str, since: datetime, until: datetime,
                               filters: Filters, operators: Sequence[str] | None,
                               limit: int) -> RawRecords:
        """The raw records of [since, until) a filtered custom report counts (``kind``:
        ``calls``, ``attempts`` or ``wrapups``), picked in SQL by what the filters name (a
        superset: :mod:`parley.reports.filters` keeps exactly), oldest first; at most
        ``limit`` + 1 of them (more is for the caller to refuse)."""
        async with self._sessions() as session:
            connection = await session.connection()
            limits = await thresholds(connection)
            if kind == "attempts":
                return RawRecords(attempts=await _attempt_records(
                    connection, since, until, filters, operators, limit), thresholds=limits)
            calls = INTERACTIONS.c
            conditions: list[ColumnElement[bool]] = [calls.started_at >= since,
                                                     calls.started_at < until]
            if kind == "wrapups":  # a wrap-up goes by its call's last queue and operator
                if filters.get("queue"):
                    conditions.append(calls.queue.in_(list(filters["queue"])))
                if operators is not None:
                    conditions.append(calls.operator.in_(list(operators)))
            if filters.get("number"):
                conditions.append(and_(calls.direction == "inbound",
                                       calls.called.in_(list(filters["number"]))))
            if filters.get("trunk"):  # by the legs' index on their call
                conditions.append(exists().where(
                    LEGS.c.interaction_id == calls.id,
                    LEGS.c.trunk.in_(list(filters["trunk"]))))
            campaigns: dict[str, str] = {}
            if filters.get("campaign"):
                # the campaigns' calls, by the attempts' (campaign, started_at) index: an
                # attempt is dialled as its call record opens, well within a day of it
                campaigns = {row[0]: row[1] for row in await connection.execute(
                    select(ATTEMPTS.c.call_id, ATTEMPTS.c.campaign).where(
                        ATTEMPTS.c.campaign.in_(list(filters["campaign"])),
                        ATTEMPTS.c.started_at >= since - timedelta(days=1),
                        ATTEMPTS.c.started_at < until + timedelta(days=1),
                        ATTEMPTS.c.call_id.is_not(None)))}
                conditions.append(calls.id.in_(sorted(campaigns)) if len(campaigns) <= CHUNK
                                  else true())
            if filters.get("result") or kind == "wrapups":
                chosen = select(WRAPUPS.c.interaction_id)
                if filters.get("result"):
                    chosen = chosen.where(WRAPUPS.c.result.in_(list(filters["result"])))
                conditions.append(calls.id.in_(chosen))
            if kind != "wrapups":
                conditions.append(calls.ended_at.is_not(None))
            ids = [row[0] for row in await connection.execute(
                select(calls.id).where(*conditions).order_by(calls.started_at, calls.id)
                .limit(limit + 1))]
            found: list[CallRecord] = []
            for first in range(0, len(ids), CHUNK):
                part = ids[first:first + CHUNK]
                results: dict[str, str] = {}
                if filters.get("result") or kind == "wrapups":
                    results = {row[0]: row[1] for row in await connection.execute(
                        select(WRAPUPS.c.interaction_id, WRAPUPS.c.result)
                        .where(WRAPUPS.c.interaction_id.in_(part)))}
                ended = set(part) if kind != "wrapups" else {
                    row[0] for row in await connection.execute(
                        select(calls.id).where(calls.id.in_(part),
                                               calls.ended_at.is_not(None)))}
                for call in await finished_calls(connection, calls.id.in_(part),
                                                 finished=False):
                    found.append(CallRecord(call, campaigns.get(call.call_id),
                                            results.get(call.call_id), call.call_id in ended))
            found.sort(key=lambda record: (record.facts.started_at, record.facts.call_id))
            return RawRecords(calls=found, thresholds=limits)

    async def campaign_starts(self) -> dict[str, datetime]:
        """When each campaign dialled its first (finished) attempt: where its abandon
        windows begin."""
        async with self._sessions() as session:
            return {campaign: first for campaign, first in await session.execute(
                select(ATTEMPTS.c.campaign, func.min(ATTEMPTS.c.started_at))
                .where(ATTEMPTS.c.ended_at.is_not(None)).group_by(ATTEMPTS.c.campaign))}

    async def teams(self) -> dict[str, list[str]]:
        """Each team's members (usernames), as they are now."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(m.Team.name, m.User.username)
                .join(m.TeamMember, m.TeamMember.team_id == m.Team.id)
                .join(m.User, m.User.id == m.TeamMember.user_id))
            teams: dict[str, list[str]] = {}
            for team, username in rows:
                teams.setdefault(team, []).append(username)
            return teams


    async def rebuild(self) -> tuple[int, int, int]:
        """Throw the aggregates away and build them again from the raw records, in one
        transaction (writers of raw records wait for it on PostgreSQL; SQLite's lock does
        the same). Returns the calls, attempts and state log entries read."""
        calls = attempts = states = 0
        async with self._sessions() as session, session.begin():
            connection = await session.connection()
            if connection.dialect.name == "postgresql":
                await connection.execute(text(
                    "LOCK TABLE report_intervals, report_state_time IN EXCLUSIVE MODE"))
            await connection.execute(delete(INTERVALS))
            await connection.execute(delete(STATE_TIME))
            limits = await thresholds(connection)
            after: tuple[datetime, str] | None = None
            while True:
                condition = (INTERACTIONS.c.id.is_not(None) if after is None else
                             (INTERACTIONS.c.started_at > after[0])
                             | and_(INTERACTIONS.c.started_at == after[0],
                                    INTERACTIONS.c.id > after[1]))
                page = (await connection.execute(
                    select(INTERACTIONS.c.id, INTERACTIONS.c.started_at).where(condition)
                    .order_by(INTERACTIONS.c.started_at, INTERACTIONS.c.id)
                    .limit(CHUNK))).all()
                if not page:
                    break
                after = (page[-1].started_at, page[-1].id)
                found = await finished_calls(
                    connection, INTERACTIONS.c.id.in_([row.id for row in page]))
                calls += len(found)
                await add_intervals(connection, calls_by_interval(found, limits))
            last_attempt = ""
            while True:
                attempt_rows = (await connection.execute(
                    select(ATTEMPTS.c.attempt_id, ATTEMPTS.c.campaign, ATTEMPTS.c.started_at,
                           ATTEMPTS.c.outcome, ATTEMPTS.c.amd, ATTEMPTS.c.talk_s)
                    .where(ATTEMPTS.c.ended_at.is_not(None),
                           ATTEMPTS.c.attempt_id > last_attempt)
                    .order_by(ATTEMPTS.c.attempt_id).limit(CHUNK))).all()
                if not attempt_rows:
                    break
                last_attempt = attempt_rows[-1].attempt_id
                attempts += len(attempt_rows)
                await add_intervals(connection, attempts_by_interval(
                    AttemptFacts(*row[1:]) for row in attempt_rows))
            last_wrapup = ""
            while True:
                wrapups = (await connection.execute(
                    select(WRAPUPS.c.interaction_id, WRAPUPS.c.result,
                           INTERACTIONS.c.started_at)
                    .join(INTERACTIONS, INTERACTIONS.c.id == WRAPUPS.c.interaction_id)
                    .where(WRAPUPS.c.interaction_id > last_wrapup)
                    .order_by(WRAPUPS.c.interaction_id).limit(CHUNK))).all()
                if not wrapups:
                    break
                last_wrapup = wrapups[-1].interaction_id
                await add_intervals(connection, results_by_interval(
                    (row.result, row.started_at) for row in wrapups))
            await add_intervals(connection, callbacks_by_interval(
                await requested_callbacks(connection, CALLBACKS.c.id.is_not(None))))
            previous: StateEntry | None = None
            position: tuple[str, datetime, int] | None = None
            order = (STATE_LOG.c.username, STATE_LOG.c.at, STATE_LOG.c.id)
            while True:
                query = select(STATE_LOG.c.id, *STATE_COLUMNS).order_by(*order)
                if position is not None:
                    user, at, entry_id = position
                    query = query.where(
                        (STATE_LOG.c.username > user)
                        | and_(STATE_LOG.c.username == user, STATE_LOG.c.at > at)
                        | and_(STATE_LOG.c.username == user, STATE_LOG.c.at == at,
                               STATE_LOG.c.id > entry_id))
                rows = (await connection.execute(query.limit(CHUNK))).all()
                if not rows:
                    break
                position = (rows[-1].username, rows[-1].at, rows[-1].id)
                states += len(rows)
                state_totals: dict[StateKey, float] = {}
                wrap_ups: dict[Key, Counters] = {}
                for row in rows:
                    entry = StateEntry(row.username, row.state, row.reason, row.at,
                                       row.queue, row.interaction_id)
                    if previous is not None and previous.username == entry.username:
                        segments = list(state_segments([previous, entry]))
                        for segment, end in segments:
                            add_state_time(state_totals, segment, end)
                        wrap_up_by_interval(segments, wrap_ups)
                    previous = entry
                await add_state_seconds(connection, state_totals)
                await add_intervals(connection, wrap_ups)
        return calls, attempts, states


async def _attempt_records(connection: AsyncConnection, since: datetime, until: datetime,
                           filters: Filters, operators: Sequence[str] | None,
                           limit: int) -> list[AttemptRecord]:
    """The finished attempts dialled in [since, until) of the filters' campaigns, trunks
    and operators, oldest first."""
    conditions: list[ColumnElement[bool]] = [
        ATTEMPTS.c.started_at >= since, ATTEMPTS.c.started_at < until,
        ATTEMPTS.c.ended_at.is_not(None)]
    if filters.get("campaign"):
        conditions.append(ATTEMPTS.c.campaign.in_(list(filters["campaign"])))
    if filters.get("trunk"):
        conditions.append(ATTEMPTS.c.trunk.in_(list(filters["trunk"])))
    if operators is not None:
        conditions.append(ATTEMPTS.c.operator.in_(list(operators)))
    rows = await connection.execute(
        select(ATTEMPTS.c.campaign, ATTEMPTS.c.started_at, ATTEMPTS.c.outcome,
               ATTEMPTS.c.amd, ATTEMPTS.c.talk_s, ATTEMPTS.c.operator, ATTEMPTS.c.trunk)
        .where(*conditions).order_by(ATTEMPTS.c.started_at, ATTEMPTS.c.attempt_id)
        .limit(limit + 1))
    return [AttemptRecord(AttemptFacts(*row[:5]), row.operator, row.trunk) for row in rows]


def sum_counters(rows: Iterable[Counters]) -> Counters:
    """The counters of ``rows`` added up."""
    total: Counters = {}
    for row in rows:
        for name, value in row.items():
            total[name] = total.get(name, 0.0) + value
    return total
