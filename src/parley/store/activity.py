"""Repositories of what happens: call records (interactions, legs, timeline), the operator
state log, recordings, voicemails and callbacks. Rows are written as things happen, so a
restart loses nothing (DESIGN.md §1.6)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from parley.reports.intervals import STEP_KINDS, CallbackFacts, StateEntry
from parley.store import models as m
from parley.store.call_rows import CallRows, Row
from parley.store.database import Conflict, NotFound
from parley.store.lease import Fence
from parley.store.records import (
    CallbackRecord,
    InteractionRecord,
    LegRecord,
    OperatorStateRecord,
    Page,
    RecordingRecord,
    TimelineRecord,
    VoicemailRecord,
)
from parley.store.reports import apply_callback, apply_calls, apply_states, calls_before


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


seconds_between = _seconds
"""Seconds from ``start`` to ``end`` as a call record stores them (None if either is)."""

INTERACTIONS: Table = m.Interaction.__table__  # type: ignore[assignment]
LEGS: Table = m.Leg.__table__  # type: ignore[assignment]
TIMELINE: Table = m.TimelineEvent.__table__  # type: ignore[assignment]
RECORDINGS: Table = m.Recording.__table__  # type: ignore[assignment]
VOICEMAILS: Table = m.Voicemail.__table__  # type: ignore[assignment]
STATE_LOG: Table = m.OperatorStateEntry.__table__  # type: ignore[assignment]
MARKS: Table = m.JournalMark.__table__  # type: ignore[assignment]


class StoredTimes(NamedTuple):
    """What closing a call record written before needs of it."""

    started_at: datetime
    queued_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None = None


def _by_columns(rows: Iterable[tuple[Any, Row]]) -> dict[frozenset[str], list[tuple[Any, Row]]]:
    """Rows grouped by the columns they set (one executemany statement per group)."""
    groups: dict[frozenset[str], list[tuple[Any, Row]]] = {}
    for key, row in rows:
        groups.setdefault(frozenset(row), []).append((key, row))
    return groups


async def _insert(connection: AsyncConnection, table: Table, rows: Iterable[Row]) -> None:
    """Insert ``rows`` in their order (legs and timeline entries are read back by id). A
    nullable column without a default that some rows leave out is given None in them, so
    that most batches are one statement; rows that still differ start a new statement."""
    rows = list(rows)
    if not rows:
        return
    given = set().union(*rows)
    nullable = [name for name in given if table.c[name].nullable
                and table.c[name].default is None and table.c[name].server_default is None]
    run: list[Row] = []
    for row in rows:
        row = {**dict.fromkeys(nullable), **row}
        if run and run[0].keys() != row.keys():
            await connection.execute(insert(table), run)
            run = []
        run.append(row)
    await connection.execute(insert(table), run)


async def _update(connection: AsyncConnection, table: Table, keys: Sequence[str],
                  changes: Iterable[tuple[tuple[str, ...], Row]]) -> None:
    """``UPDATE table SET ... WHERE keys = ...`` for each (key values, changed columns)."""
    for columns, group in _by_columns(changes).items():
        where: list[ColumnElement[bool]] = [table.c[name] == bindparam(f"key_{name}")
                                            for name in keys]
        statement = update(table).where(*where).values(
            {name: bindparam(f"new_{name}") for name in columns})
        await connection.execute(statement, [
            {**{f"key_{name}": value for name, value in zip(keys, key, strict=True)},
             **{f"new_{name}": value for name, value in row.items()}}
            for key, row in group])


async def write_mark(connection: AsyncConnection, consumer: str, applied_seq: int,
                     replay_from: int) -> None:
    """Write ``consumer``'s journal mark in ``connection``'s transaction."""
    result = await connection.execute(
        update(MARKS).where(MARKS.c.consumer == consumer)
        .values(applied_seq=applied_seq, replay_from=replay_from))
    if not result.rowcount:
        await connection.execute(insert(MARKS).values(
            consumer=consumer, applied_seq=applied_seq, replay_from=replay_from))


class InteractionRepository:
    """Call records. The telephony and ACD shells call these methods as a call progresses:
    ``open`` when the first leg appears, ``add_leg``/``leg_answered``/``leg_ended`` per leg,
    ``queued`` and ``answered`` as the contact center handles it, ``append`` for anything
    worth showing on the call's timeline, and ``close`` at the final hang-up (which computes
    the wait, talk and total durations)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 fence: Fence | None = None) -> None:
        self._sessions = sessions
        self._fence = fence or Fence()
        self._batch: ContextVar[AsyncSession | None] = ContextVar("interaction_batch",
                                                                   default=None)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Everything this task writes inside the block is one transaction (a recorder
        catching up after a burst writes many steps at the cost of one commit). Other tasks
        are not affected. An error rolls the whole block back."""
        async with self._fence.transaction(self._sessions) as session:
            token = self._batch.set(session)
            try:
                yield
            finally:
                self._batch.reset(token)

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """The batch's session, or a session with its own transaction."""
        shared = self._batch.get()
        if shared is not None:
            yield shared
            return
        async with self._fence.transaction(self._sessions) as session:
            yield session

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        shared = self._batch.get()
        if shared is not None:
            yield shared
            return
        async with self._sessions() as session:
            yield session

    async def mark_applied(self, consumer: str, applied_seq: int, replay_from: int) -> None:
        """Note how far ``consumer`` has applied the event journal (inside a :meth:`batch`:
        in the same transaction as the records it wrote)."""
        async with self._writing() as session:
            await set_mark(session, consumer, applied_seq, replay_from)

    async def stored(self, interaction_ids: Iterable[str]) -> dict[str, StoredTimes]:
        """Which of these call records are written, with their times (one query)."""
        wanted = sorted(set(interaction_ids))
        if not wanted:
            return {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(INTERACTIONS.c.id, INTERACTIONS.c.started_at, INTERACTIONS.c.queued_at,
                       INTERACTIONS.c.answered_at, INTERACTIONS.c.ended_at
                       ).where(INTERACTIONS.c.id.in_(wanted)))
            return {row.id: StoredTimes(row.started_at, row.queued_at, row.answered_at,
                                        row.ended_at)
                    for row in rows}

    async def carried_over(self, interaction_ids: Iterable[str]) -> set[str]:
        """Which of these call records a node took over from another (their timeline says
        "carried over"; one query)."""
        wanted = sorted(set(interaction_ids))
        if not wanted:
            return set()
        async with self._sessions() as session:
            return set((await session.scalars(
                select(TIMELINE.c.interaction_id).distinct().where(
                    TIMELINE.c.interaction_id.in_(wanted),
                    TIMELINE.c.kind == "carried over"))).all())

    async def write_rows(self, rows: CallRows,
                         mark: tuple[str, int, int] | None = None) -> None:
        """Write a recorder's batch with Core statements (one per table and set of columns)
        in one transaction, with ``mark`` (consumer, applied entry, first entry to replay)
        if given: the batch and the mark it ends at are written together or not at all."""
        async with self._fence.transaction(self._sessions) as session:
            connection = await session.connection()
            changed = list(rows.interaction_changes)
            # a closed call's entries that move it between queues change what it counts
            changed += [key for key in rows.answered_amends if key not in changed]
            changed += sorted({row["interaction_id"] for row in rows.timeline
                               if row.get("kind") in STEP_KINDS} - set(changed))
            before = await calls_before(connection, changed)  # finished ones, for reports
            await _insert(connection, INTERACTIONS, rows.interactions.values())
            await _insert(connection, LEGS, rows.legs.values())
            await _update(connection, INTERACTIONS, ("id",),
                          (((key,), row) for key, row in rows.interaction_changes.items()))
            await _update(connection, LEGS, ("interaction_id", "channel_id"),
                          rows.leg_changes.items())
            if rows.answered_amends:  # before the batch's own entries, which come later
                latest = (select(func.max(TIMELINE.c.id))
                          .where(TIMELINE.c.interaction_id == bindparam("key_id"),
                                 TIMELINE.c.kind == "answered").scalar_subquery())
                await connection.execute(
                    update(TIMELINE).where(TIMELINE.c.id == latest)
                    .values(detail=bindparam("new_detail")),
                    [{"key_id": key, "new_detail": detail}
                     for key, detail in rows.answered_amends.items()])
            await _insert(connection, TIMELINE, rows.timeline)
            await _insert(connection, RECORDINGS, rows.recordings)
            await _insert(connection, VOICEMAILS, rows.voicemails)
            await apply_calls(connection, before, changed + [
                key for key, row in rows.interactions.items()
                if row.get("ended_at") is not None])
            if mark is not None:
                await write_mark(connection, *mark)

    async def open(self, interaction_id: str, *, direction: str, caller: str, called: str,
                   started_at: datetime, variables: dict[str, Any] | None = None) -> None:
        """Start a call record; :class:`Conflict` if one with this id exists already."""
        try:
            async with self._writing() as session:
                if await session.get(m.Interaction, interaction_id) is not None:
                    raise Conflict(f"interaction {interaction_id!r} exists already")
                session.add(m.Interaction(id=interaction_id, direction=direction,
                                          caller=caller, called=called, started_at=started_at,
                                          variables=variables or {}))
                await session.flush()
                session.add(m.TimelineEvent(interaction_id=interaction_id, at=started_at,
                                            kind="started",
                                            detail={"caller": caller, "called": called}))
        except IntegrityError as exc:  # opened concurrently by another writer
            raise Conflict(f"interaction {interaction_id!r} exists already") from exc

    async def _interaction(self, session: AsyncSession, interaction_id: str) -> m.Interaction:
        row = await session.get(m.Interaction, interaction_id)
        if row is None:
            raise NotFound(f"no interaction {interaction_id!r}")
        return row

    async def add_leg(self, interaction_id: str, *, channel_id: str, direction: str,
                      endpoint: str, caller: str, called: str, started_at: datetime,
                      trunk: str | None = None) -> None:
        async with self._writing() as session:
            await self._interaction(session, interaction_id)
            session.add(m.Leg(interaction_id=interaction_id, channel_id=channel_id,
                              direction=direction, endpoint=endpoint, caller=caller,
                              called=called, started_at=started_at, trunk=trunk))

    async def _leg(self, session: AsyncSession, channel_id: str) -> m.Leg:
        row = await session.scalar(select(m.Leg).where(m.Leg.channel_id == channel_id)
                                   .order_by(m.Leg.id.desc()).limit(1))
        if row is None:
            raise NotFound(f"no leg for channel {channel_id!r}")
        return row

    async def leg_answered(self, channel_id: str, at: datetime) -> None:
        async with self._writing() as session:
            (await self._leg(session, channel_id)).answered_at = at

    async def leg_ended(self, channel_id: str, at: datetime, cause: int,
                        sip_status: int | None = None) -> None:
        async with self._writing() as session:
            leg = await self._leg(session, channel_id)
            leg.ended_at = at
            leg.hangup_cause = cause
            leg.sip_status = sip_status

    async def queued(self, interaction_id: str, queue: str, at: datetime,
                     detail: dict[str, Any] | None = None) -> None:
        """The call waits in ``queue``. A call queued again (moved to another queue,
        transferred to one) shows the latest queue; the wait counts from the first.
        ``detail`` adds to the timeline entry (e.g. the priority)."""
        async with self._writing() as session:
            row = await self._interaction(session, interaction_id)
            row.queue = queue
            if row.queued_at is None:
                row.queued_at = at
            session.add(m.TimelineEvent(interaction_id=interaction_id, at=at, kind="queued",
                                        detail={**(detail or {}), "queue": queue}))

    async def answered(self, interaction_id: str, at: datetime,
                       operator: str | None = None, *, amend: bool = False,
                       detail: dict[str, Any] | None = None) -> None:
        """Someone answered: the first answer sets ``answered_at`` (the end of the wait),
        each one makes ``operator`` the current operator and adds an "answered" entry to the
        timeline (with ``detail``). ``amend=True`` reports an answer already on the timeline
        (seen first on the operator's leg): the latest "answered" entry is given ``operator``
        and ``detail`` instead."""
        async with self._writing() as session:
            row = await self._interaction(session, interaction_id)
            if row.answered_at is None:
                row.answered_at = at
            if operator is not None:
                row.operator = operator
            if amend:
                entry = await session.scalar(
                    select(m.TimelineEvent).where(
                        m.TimelineEvent.interaction_id == interaction_id,
                        m.TimelineEvent.kind == "answered")
                    .order_by(m.TimelineEvent.at.desc(), m.TimelineEvent.id.desc()).limit(1))
                if entry is not None:
                    entry.detail = {**entry.detail, **(detail or {}),
                                    "operator": operator or entry.detail.get("operator")}
                    return
            session.add(m.TimelineEvent(interaction_id=interaction_id, at=at, kind="answered",
                                        detail={**(detail or {}), "operator": operator}))

    async def append(self, interaction_id: str, at: datetime, kind: str,
                     detail: dict[str, Any] | None = None) -> None:
        async with self._writing() as session:
            await self._interaction(session, interaction_id)
            session.add(m.TimelineEvent(interaction_id=interaction_id, at=at, kind=kind,
                                        detail=detail or {}))

    async def close(self, interaction_id: str, at: datetime, *, outcome: str,
                    hangup_cause: int | None = None) -> InteractionRecord:
        """End the call record and compute its durations in seconds: ``wait_s`` from start
        (or from queueing) to answer, ``talk_s`` from answer to end, ``duration_s`` total."""
        async with self._writing() as session:
            row = await self._interaction(session, interaction_id)
            before = await calls_before(await session.connection(), [interaction_id])
            row.ended_at = at
            row.outcome = outcome
            row.hangup_cause = hangup_cause
            row.duration_s = _seconds(row.started_at, at)
            wait_from = row.queued_at or row.started_at
            row.wait_s = _seconds(wait_from, row.answered_at or at)
            row.talk_s = _seconds(row.answered_at, at) if row.answered_at else 0.0
            session.add(m.TimelineEvent(interaction_id=interaction_id, at=at, kind="ended",
                                        detail={"outcome": outcome, "cause": hangup_cause}))
            await session.flush()
            await apply_calls(await session.connection(), before, [interaction_id])
        return await self.get(interaction_id)

    async def set_parties(self, interaction_id: str, *, caller: str, called: str) -> None:
        """Who called whom, when the first leg does not say it (click-to-call rings the
        operator first, showing them the number they are about to call)."""
        async with self._writing() as session:
            row = await self._interaction(session, interaction_id)
            row.caller, row.called = caller, called

    async def set_outcome(self, interaction_id: str, outcome: str) -> None:
        """Correct the outcome of a closed call record (a notice that came after the last
        hang-up)."""
        async with self._writing() as session:
            row = await self._interaction(session, interaction_id)
            before = await calls_before(await session.connection(), [interaction_id])
            row.outcome = outcome
            await session.flush()
            await apply_calls(await session.connection(), before, [interaction_id])

    async def get(self, interaction_id: str) -> InteractionRecord:
        async with self._reading() as session:
            row = await self._interaction(session, interaction_id)
            legs = (await session.scalars(select(m.Leg).where(
                m.Leg.interaction_id == interaction_id).order_by(m.Leg.id))).all()
            timeline = (await session.scalars(select(m.TimelineEvent).where(
                m.TimelineEvent.interaction_id == interaction_id)
                .order_by(m.TimelineEvent.at, m.TimelineEvent.id))).all()
            return _interaction_record(row, legs, timeline)

    async def search(self, *, since: datetime | None = None, until: datetime | None = None,
                     number: str | None = None, queue: str | None = None,
                     operator: str | None = None, offset: int = 0,
                     limit: int = 50) -> Page[InteractionRecord]:
        """Call records started in [since, until), newest first; ``number`` matches the
        caller or the called number."""
        query = select(m.Interaction)
        if since is not None:
            query = query.where(m.Interaction.started_at >= since)
        if until is not None:
            query = query.where(m.Interaction.started_at < until)
        if number:
            query = query.where((m.Interaction.caller == number)
                                | (m.Interaction.called == number))
        if queue:
            query = query.where(m.Interaction.queue == queue)
        if operator:
            query = query.where(m.Interaction.operator == operator)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = (await session.scalars(query.order_by(
                m.Interaction.started_at.desc(), m.Interaction.id).offset(offset).limit(limit)
            )).all()
            return Page(tuple(_interaction_record(row, (), ()) for row in rows),
                        int(total or 0), offset, limit)


def _interaction_record(row: m.Interaction, legs: Sequence[m.Leg],
                        timeline: Sequence[m.TimelineEvent]) -> InteractionRecord:
    return InteractionRecord(
        id=row.id, direction=row.direction, caller=row.caller, called=row.called,
        queue=row.queue, operator=row.operator, started_at=row.started_at,
        queued_at=row.queued_at, answered_at=row.answered_at, ended_at=row.ended_at,
        wait_s=row.wait_s, talk_s=row.talk_s, duration_s=row.duration_s, outcome=row.outcome,
        hangup_cause=row.hangup_cause, variables=dict(row.variables),
        legs=tuple(LegRecord(channel_id=leg.channel_id, direction=leg.direction,
                             endpoint=leg.endpoint, caller=leg.caller, called=leg.called,
                             started_at=leg.started_at, answered_at=leg.answered_at,
                             ended_at=leg.ended_at, hangup_cause=leg.hangup_cause,
                             trunk=leg.trunk, sip_status=leg.sip_status)
                   for leg in legs),
        timeline=tuple(TimelineRecord(at=event.at, kind=event.kind, detail=dict(event.detail))
                       for event in timeline))


async def set_mark(session: AsyncSession, consumer: str, applied_seq: int,
                   replay_from: int) -> None:
    """Write ``consumer``'s journal mark in ``session``'s transaction."""
    await write_mark(await session.connection(), consumer, applied_seq, replay_from)


class JournalMarkRepository:
    """How far each recorder has applied the node's event journal."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 fence: Fence | None = None) -> None:
        self._sessions = sessions
        self._fence = fence or Fence()

    async def get(self, consumer: str) -> tuple[int, int]:
        """``(applied_seq, replay_from)``; ``(0, 1)`` for a consumer that applied nothing."""
        async with self._sessions() as session:
            row = await session.get(m.JournalMark, consumer)
            return (0, 1) if row is None else (row.applied_seq, row.replay_from)

    async def highest(self, node: str = "") -> int:
        """The highest entry any consumer has applied (0 if none); of ``node``'s consumers
        only when given (in a hot-standby cluster each node numbers its own journal)."""
        query = select(func.max(m.JournalMark.applied_seq))
        if node:
            query = query.where(m.JournalMark.consumer.endswith(f"@{node}", autoescape=True))
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)

    async def set(self, consumer: str, applied_seq: int, replay_from: int) -> None:
        async with self._fence.transaction(self._sessions) as session:
            await set_mark(session, consumer, applied_seq, replay_from)


class OperatorStateRepository:
    """The append-only log of operator state changes (logged in, ready, paused, …)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 fence: Fence | None = None) -> None:
        self._sessions = sessions
        self._fence = fence or Fence()

    async def record(self, username: str, state: str, at: datetime, reason: str = "", *,
                     queue: str | None = None, interaction_id: str | None = None) -> None:
        async with self._fence.transaction(self._sessions) as session:
            await apply_states(await session.connection(),
                               [StateEntry(username, state, reason, at, queue,
                                           interaction_id)])
            session.add(m.OperatorStateEntry(username=username, state=state, reason=reason,
                                             at=at, queue=queue,
                                             interaction_id=interaction_id))

    async def record_many(self, entries: Sequence[OperatorStateRecord], *,
                          consumer: str, applied_seq: int) -> None:
        """Append ``entries`` and note that ``consumer`` applied the event journal up to
        ``applied_seq``, in one transaction."""
        async with self._fence.transaction(self._sessions) as session:
            connection = await session.connection()
            if entries:
                await apply_states(connection, [
                    StateEntry(e.username, e.state, e.reason, e.at, e.queue, e.interaction_id)
                    for e in entries])
                await connection.execute(insert(STATE_LOG), [
                    {"username": e.username, "state": e.state, "reason": e.reason, "at": e.at,
                     "queue": e.queue, "interaction_id": e.interaction_id}
                    for e in entries])
            await write_mark(connection, consumer, applied_seq, applied_seq + 1)

    async def history(self, username: str, limit: int = 100) -> list[OperatorStateRecord]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(m.OperatorStateEntry).where(
                m.OperatorStateEntry.username == username).order_by(
                m.OperatorStateEntry.at.desc(), m.OperatorStateEntry.id.desc()).limit(limit)
            )).all()
            return [OperatorStateRecord(r.username, r.state, r.reason, r.at) for r in rows]

    async def current(self) -> dict[str, OperatorStateRecord]:
        """Each operator's latest state."""
        latest = (select(func.max(m.OperatorStateEntry.id))
                  .group_by(m.OperatorStateEntry.username).scalar_subquery())
        async with self._sessions() as session:
            rows = (await session.scalars(select(m.OperatorStateEntry).where(
                m.OperatorStateEntry.id.in_(latest)))).all()
            return {r.username: OperatorStateRecord(r.username, r.state, r.reason, r.at)
                    for r in rows}


class RecordingRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, record: RecordingRecord) -> None:
        """Keep a recording; :class:`NotFound` names ``interaction_id`` when that call record
        does not exist, :class:`Conflict` when the recording id is taken."""
        try:
            async with self._sessions() as session, session.begin():
                if (record.interaction_id is not None
                        and await session.get(m.Interaction, record.interaction_id) is None):
                    raise NotFound(f"interaction_id: no interaction {record.interaction_id!r}")
                session.add(m.Recording(id=record.id, interaction_id=record.interaction_id,
                                        path=record.path, media_type=record.media_type,
                                        started_at=record.started_at,
                                        duration_s=record.duration_s,
                                        pauses=[dict(gap) for gap in record.pauses]))
        except IntegrityError as exc:
            raise Conflict(f"id: recording {record.id!r} exists already") from exc

    async def get(self, recording_id: str) -> RecordingRecord:
        async with self._sessions() as session:
            row = await session.get(m.Recording, recording_id)
            if row is None:
                raise NotFound(f"no recording {recording_id!r}")
            return _recording(row)

    async def list(self, *, interaction_id: str | None = None, since: datetime | None = None,
                   until: datetime | None = None, offset: int = 0,
                   limit: int = 50) -> Page[RecordingRecord]:
        query = select(m.Recording)
        if interaction_id:
            query = query.where(m.Recording.interaction_id == interaction_id)
        if since is not None:
            query = query.where(m.Recording.started_at >= since)
        if until is not None:
            query = query.where(m.Recording.started_at < until)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = (await session.scalars(query.order_by(m.Recording.started_at.desc(),
                                                         m.Recording.id)
                                          .offset(offset).limit(limit))).all()
            return Page(tuple(_recording(r) for r in rows), int(total or 0), offset, limit)

    async def of_interactions(self, interaction_ids: Sequence[str]
                              ) -> dict[str, tuple[RecordingRecord, ...]]:
        """The recordings of each of ``interaction_ids`` (oldest first), for the desk's
        contact history; calls with none are left out."""
        if not interaction_ids:
            return {}
        async with self._sessions() as session:
            rows = (await session.scalars(select(m.Recording).where(
                m.Recording.interaction_id.in_(list(interaction_ids))).order_by(
                m.Recording.started_at, m.Recording.id))).all()
        out: dict[str, tuple[RecordingRecord, ...]] = {}
        for row in rows:
            key = row.interaction_id or ""
            out[key] = (*out.get(key, ()), _recording(row))
        return out


def _recording(row: m.Recording) -> RecordingRecord:
    return RecordingRecord(id=row.id, interaction_id=row.interaction_id, path=row.path,
                           media_type=row.media_type, started_at=row.started_at,
                           duration_s=row.duration_s,
                           pauses=tuple(gap for gap in row.pauses or () if isinstance(gap, dict)),
                           deleted_at=row.deleted_at,
                           size_bytes=row.size_bytes)


class VoicemailRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, record: VoicemailRecord) -> None:
        """Keep a message; :class:`Conflict` when its id is taken."""
        try:
            async with self._sessions() as session, session.begin():
                session.add(m.Voicemail(id=record.id, mailbox=record.mailbox,
                                        caller=record.caller, received_at=record.received_at,
                                        path=record.path, duration_s=record.duration_s,
                                        heard=record.heard,
                                        interaction_id=record.interaction_id))
        except IntegrityError as exc:
            raise Conflict(f"id: voicemail {record.id!r} exists already") from exc

    async def list(self, mailbox: str | None = None, *,
                   interaction_id: str | None = None,
                   mailboxes: Sequence[str] | None = None) -> list[VoicemailRecord]:
        """Messages newest first, of ``mailbox`` (or any of ``mailboxes``) when given."""
        query = select(m.Voicemail).order_by(m.Voicemail.received_at.desc())
        if mailbox:
            query = query.where(m.Voicemail.mailbox == mailbox)
        if mailboxes is not None:
            query = query.where(m.Voicemail.mailbox.in_(list(mailboxes)))
        if interaction_id:
            query = query.where(m.Voicemail.interaction_id == interaction_id)
        async with self._sessions() as session:
            return [_voicemail(r) for r in (await session.scalars(query)).all()]

    async def get(self, voicemail_id: str) -> VoicemailRecord:
        async with self._sessions() as session:
            r = await session.get(m.Voicemail, voicemail_id)
            if r is None:
                raise NotFound(f"no voicemail {voicemail_id!r}")
            return _voicemail(r)

    async def mark_heard(self, voicemail_id: str) -> None:
        async with self._sessions() as session, session.begin():
            row = await session.get(m.Voicemail, voicemail_id)
            if row is None:
                raise NotFound(f"no voicemail {voicemail_id!r}")
            row.heard = True

    async def delete(self, voicemail_id: str) -> VoicemailRecord:
        """Forget a message (its file is the caller's to remove); :class:`NotFound` when
        there is none."""
        async with self._sessions() as session, session.begin():
            row = await session.get(m.Voicemail, voicemail_id)
            if row is None:
                raise NotFound(f"no voicemail {voicemail_id!r}")
            record = _voicemail(row)
            await session.delete(row)
            return record


def _voicemail(row: m.Voicemail) -> VoicemailRecord:
    return VoicemailRecord(row.id, row.mailbox, row.caller, row.received_at, row.path,
                           row.duration_s, row.heard, row.interaction_id, row.size_bytes)


class CallbackRepository:
    """Callbacks requested by callers or staff; the ACD picks up the due ones."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 fence: Fence | None = None) -> None:
        self._sessions = sessions
        self._fence = fence or Fence()

    async def request(self, record: CallbackRecord) -> CallbackRecord:
        async with self._fence.transaction(self._sessions) as session:
            await _require_queue(session, record.queue)
            session.add(m.Callback(id=record.id, number=record.number, queue=record.queue,
                                   requested_at=record.requested_at, due_at=record.due_at,
                                   status=record.status, attempts=record.attempts,
                                   requested_by=record.requested_by, note=record.note,
                                   interaction_id=record.interaction_id))
            await apply_callback(await session.connection(), None, CallbackFacts(
                record.queue, record.requested_at, record.status))
        return record

    async def list(self, *, status: str | None = None, queue: str | None = None,
                   due_before: datetime | None = None) -> list[CallbackRecord]:
        query = select(m.Callback).order_by(m.Callback.due_at, m.Callback.id)
        if status:
            query = query.where(m.Callback.status == status)
        if queue:
            query = query.where(m.Callback.queue == queue)
        if due_before is not None:
            query = query.where(m.Callback.due_at <= due_before)
        async with self._sessions() as session:
            return [_callback(r) for r in (await session.scalars(query)).all()]

    async def get(self, callback_id: str) -> CallbackRecord:
        async with self._sessions() as session:
            row = await session.get(m.Callback, callback_id)
            if row is None:
                raise NotFound(f"no callback {callback_id!r}")
            return _callback(row)

    async def set_status(self, callback_id: str, status: str, *,
                         count_attempt: bool = False) -> CallbackRecord:
        async with self._fence.transaction(self._sessions) as session:
            row = await session.get(m.Callback, callback_id)
            if row is None:
                raise NotFound(f"no callback {callback_id!r}")
            if row.status != status:
                await apply_callback(
                    await session.connection(),
                    CallbackFacts(row.queue, row.requested_at, row.status),
                    CallbackFacts(row.queue, row.requested_at, status))
            row.status = status
            if count_attempt:
                row.attempts += 1
            return _callback(row)


async def _require_queue(session: AsyncSession, queue: str) -> None:
    if await session.scalar(select(m.Queue.id).where(m.Queue.name == queue)) is None:
        raise NotFound(f"queue: no queue named {queue!r}")


def _callback(row: m.Callback) -> CallbackRecord:
    return CallbackRecord(id=row.id, number=row.number, queue=row.queue,
                          requested_at=row.requested_at, due_at=row.due_at, status=row.status,
                          attempts=row.attempts, requested_by=row.requested_by, note=row.note,
                          interaction_id=row.interaction_id)
