"""Writes what the live bus reports into the store as it happens (DESIGN.md §1.6): operator
state changes go to the operator state log; telephony events and the contact center's notices
become call records, voicemails and recordings.

In a node the recorders read the node's event journal (:mod:`parley.journal`), not the bus:
each batch of records is written with SQLAlchemy Core statements in one transaction together
with the journal entry it ends at (the recorder's mark), so a crash neither applies an entry
twice nor skips one; on start a recorder reads the journal again from its mark (first
replaying, without writing, the entries of the calls still open, to know them again). The
journal on disk is the only buffer: a recorder that falls behind reads a batch at a time from
the files, so memory does not grow with the backlog. A stop writes what the journal holds for
at most ``drain_s`` seconds (logged); what is left stays in the journal and is written at the
next start. Without a journal (tests of the recording rules) they read the bus directly."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import OperationalError

from parley.bus import Envelope, LiveBus, Subscription
from parley.clock import Clock
from parley.events import (
    DATA_ATTACHED,
    AgentStateChanged,
    Answered,
    CallCarried,
    CallProgress,
    ChannelCreated,
    Direction,
    Hangup,
    HangupCause,
    RecordingStored,
    VoicemailLeft,
)
from parley.journal import Entry, Journal, JournalReader
from parley.store import Fenced, NotFound, Store, StoreError
from parley.store.activity import StoredTimes, seconds_between
from parley.store.call_rows import CallRows
from parley.store.database import unreachable
from parley.store.records import OperatorStateRecord

_log = structlog.get_logger("parley.store.recorders")


DRAIN_S = 30.0
"""At shutdown, how long the recorders may take to write what is still queued (the rest
stays in the journal for the next start)."""
LOCK_RETRIES = 3
"""How often a write the database refused as busy is tried again (after 0.5, 1, 1.5 s)."""
BATCH = 400
"""The most journal entries (or bus envelopes) written in one transaction when a recorder has
fallen behind: about 30 calls' worth, a few tens of milliseconds of SQLite's write lock."""


INTERVAL_S = 1.0
"""A recorder starts a transaction at most this often while it keeps up: what the journal
gathers meanwhile (on disk already) is written in one, so the cost of a transaction is shared
by more calls."""
MARK_EVERY = 500
"""A recorder notes its journal mark at least this often (in entries) even when it sees none
of its events, so that the journal can be trimmed."""
RETRY_S = 1.0
"""How long a journal recorder waits before trying a failed batch again (from its mark)."""


class JournalConsumer:
    """How a recorder reads the node's event journal (:mod:`parley.journal`).

    :meth:`consume` applies the entries in batches until cancelled, then the rest. A recorder
    supplies ``_stored_mark`` (forget what it keeps in memory; return its stored mark: the
    last entry applied and the first entry to read again), ``_apply(entries, replay)``
    (``replay``: entries applied before, to rebuild memory, writing nothing; otherwise write
    them and the mark in one transaction and return the first entry still needed, or
    ``None`` when it wrote nothing) and ``_mark(applied)`` (write the mark alone). A batch
    that fails starts again from the stored mark, so nothing is skipped and nothing applied
    twice. Cancelled, it syncs the journal and writes everything in it before it stops; a
    database that keeps failing leaves the rest in the journal for the next start."""

    NAME = ""

    def __init__(self, journal: Journal | None, *, drain_s: float | None = None,
                 interval_s: float | None = None, node: str = "") -> None:
        self._journal = journal
        #: the stored mark's name: in a hot-standby cluster each node has a journal of its
        #: own, so each has its own mark (``node``)
        self.mark_name = f"{self.NAME}@{node}" if node else self.NAME
        self._drain_s = DRAIN_S if drain_s is None else drain_s
        self._interval_s = INTERVAL_S if interval_s is None else interval_s
        self._marked = 0  # the last entry noted in the stored mark
        self._stopping = False  # a stop came: the step in hand ends after its batch
        self._feed: Subscription | None = None  # without a journal: the bus feed
        if journal is not None:
            journal.hold(self.NAME)

    @property
    def backlog(self) -> int:
        """Events waiting to be written: journal entries past the stored mark (or, without a
        journal, envelopes queued on the bus)."""
        if self._journal is not None:
            return max(0, self._journal.last_seq - self._marked)
        return self._feed.backlog if self._feed is not None else 0

    async def _stored_mark(self) -> tuple[int, int]:
        raise NotImplementedError

    async def _apply(self, entries: list[Entry], replay: bool) -> int | None:
        raise NotImplementedError

    async def _mark(self, applied: int) -> int:
        raise NotImplementedError

    async def _caught_up(self, applied: int) -> None:
        """Called whenever everything synced is applied."""

    async def consume(self) -> None:
        assert self._journal is not None  # noqa: S101 - only with a journal
        journal = self._journal
        # what was published before this recorder began is read in its first step: the
        # calls cut off by the last stop are closed only after it (a call the node carried
        # on meanwhile is not one of them)
        journal.sync()
        # each step shielded: a stop lets the step in hand finish, then drains the rest
        restoring = asyncio.ensure_future(self._restored())
        step: asyncio.Future[JournalReader] | None = restoring
        reader: JournalReader | None = None
        try:
            current = await asyncio.shield(restoring)
            reader = current
            loop = asyncio.get_running_loop()
            while True:
                began = loop.time()
                step = asyncio.ensure_future(self._step(current))
                current = reader = await asyncio.shield(step)
                step = None
                await journal.synced_after(current.next_seq - 1)
                rest = self._interval_s - (loop.time() - began)
                if rest > 0:  # what arrives meanwhile goes into the same transaction
                    await asyncio.sleep(rest)
        except asyncio.CancelledError:
            self._stopping = True
            journal.sync()
            behind = journal.last_seq - self._marked
            if behind > 0:
                _log.info("writing journaled records before stopping", recorder=self.NAME,
                          queued=behind, limit_s=self._drain_s)
            deadline = asyncio.get_running_loop().time() + self._drain_s
            if step is not None:
                reader = await step
            assert reader is not None  # noqa: S101 - the step gave one
            reader = await self._drain(reader, deadline)
            raise
        finally:
            if reader is not None:
                reader.close()

    async def write_last_run(self) -> bool:
        """Write what the journal holds from the node's last run (up to this start) and keep
        the memory it leaves (the calls it had open); whether there was anything to write.
        A hot-standby node started after a crash does it at once, as the standby, with a
        store whose writes are not fenced (parley.app): its last records do not wait until
        it serves again. Its own run (:meth:`consume`) later goes on from the mark."""
        assert self._journal is not None  # noqa: S101 - only with a journal
        last = self._journal.started_seq - 1
        reader = await self._restored()
        try:
            if reader.next_seq > last:
                return False
            while reader.next_seq <= last:
                entries = reader.read(min(BATCH, last - reader.next_seq + 1))
                if not entries:
                    break
                await self._apply_batch(entries)
            return True
        finally:
            reader.close()

    async def _step(self, reader: JournalReader) -> JournalReader:
        """Apply what is synced; the reader to go on with (a new one after a failure)."""
        assert self._journal is not None  # noqa: S101 - only with a journal
        entries: list[Entry] = []
        try:
            while not self._stopping and (entries := reader.read(BATCH)):
                await self._apply_batch(entries)
            if self._stopping:
                return reader
            applied = reader.next_seq - 1
            if applied > self._marked:  # idle: note the mark, so that the journal trims
                self._journal.release(self.NAME, await retried_value(
                    lambda: self._mark(applied)))
                self._marked = applied
            await self._caught_up(applied)
            return reader
        except Exception as exc:
            if unreachable(exc):
                _log.warning("records not written (the database is away); they wait in the "
                             "journal", recorder=self.NAME, count=len(entries), error=str(exc))
            else:
                _log.exception("records not written; trying again from the mark",
                               recorder=self.NAME, count=len(entries))
            reader.close()
            return await self._restored_when_reachable()

    async def _restored_when_reachable(self) -> JournalReader:
        """:meth:`_restored` once the database answers again (it reads the mark there)."""
        while True:
            await asyncio.sleep(RETRY_S)
            try:
                return await self._restored()
            except Exception as exc:
                if not unreachable(exc):
                    raise

    async def _restored(self) -> JournalReader:
        """A reader past the stored mark, memory rebuilt from the entries before it."""
        assert self._journal is not None  # noqa: S101 - only with a journal
        journal = self._journal
        applied, replay_from = await self._stored_mark()
        if applied > journal.last_seq:  # a journal not opened after the marks
            _log.error("the journal is behind the recorder's mark (files lost?): only new"
                       " entries are written", recorder=self.NAME, mark=applied,
                       journal_last=journal.last_seq)
            replay_from = applied + 1
        self._marked = applied
        reader = journal.reader(self.NAME, min(replay_from, applied + 1))
        while reader.next_seq <= applied:
            entries = reader.read(min(BATCH, applied - reader.next_seq + 1))
            if not entries:
                break
            await self._apply(entries, True)
        return reader

    async def _apply_batch(self, entries: list[Entry]) -> None:
        assert self._journal is not None  # noqa: S101 - only with a journal
        last = entries[-1].seq
        first_needed = await self._apply(entries, False)
        if first_needed is None and last - self._marked >= MARK_EVERY:
            first_needed = await retried_value(lambda: self._mark(last))
        if first_needed is not None:
            self._marked = last
            self._journal.release(self.NAME, first_needed)

    async def _drain(self, reader: JournalReader, deadline: float) -> JournalReader:
        """Write everything the journal holds until ``deadline`` (loop time); give up
        sooner only after ``LOCK_RETRIES`` failures in a row. What is left stays in the
        journal for the next start (the stored mark says where it begins)."""
        assert self._journal is not None  # noqa: S101 - only with a journal
        journal = self._journal
        journal.sync()
        loop = asyncio.get_running_loop()
        started, first = loop.time(), reader.next_seq
        failures = 0
        while True:
            if loop.time() >= deadline:
                _log.warning("records left in the journal for the next start",
                             recorder=self.NAME, written=reader.next_seq - first,
                             left=journal.last_seq - self._marked, limit_s=self._drain_s)
                return reader
            entries = reader.read(BATCH)
            try:
                if not entries:
                    applied = reader.next_seq - 1
                    if applied > self._marked:
                        await self._mark(applied)
                    if applied >= first:
                        _log.info("journaled records written before stopping",
                                  recorder=self.NAME, written=applied - first + 1,
                                  seconds=round(loop.time() - started, 2))
                    return reader
                await self._apply_batch(entries)
                failures = 0
            except Fenced as exc:  # the node lost its lease: the new active one writes
                _log.error("records left in the journal: this node lost its lease",
                           recorder=self.NAME, error=str(exc))
                return reader
            except Exception:
                failures += 1
                _log.exception("records not written while stopping", recorder=self.NAME)
                if failures > LOCK_RETRIES:
                    _log.error("records left in the journal for the next start",
                               recorder=self.NAME)
                    return reader
                reader.close()
                await asyncio.sleep(RETRY_S)
                reader = await self._restored()


async def retried_value(write: Callable[[], Awaitable[int]]) -> int:
    """``write()``'s result, tried again while the database refuses it as busy."""
    for attempt in range(LOCK_RETRIES):
        try:
            return await write()
        except OperationalError:
            await asyncio.sleep(0.5 * (attempt + 1))
    return await write()


class StateRecorder(JournalConsumer):
    """Appends ``AgentStateChanged`` notices to the state log (from the journal if given,
    else from the bus)."""

    NAME = "operator states"

    def __init__(self, store: Store, bus: LiveBus, clock: Clock,
                 journal: Journal | None = None, *, drain_s: float | None = None,
                 interval_s: float | None = None, node: str = "") -> None:
        super().__init__(journal, drain_s=drain_s, interval_s=interval_s, node=node)
        self._store = store
        self._bus = bus
        self._clock = clock

    async def run(self) -> None:
        if self._journal is not None:
            await self.consume()
            return
        async with self._bus.subscribe(lambda e: isinstance(e.event, AgentStateChanged),
                                     lossless=True) as feed:
            self._feed = feed
            await drained(feed, self._write)

    async def _stored_mark(self) -> tuple[int, int]:
        return await self._store.journal_marks.get(self.mark_name)

    async def _mark(self, applied: int) -> int:
        await self._store.journal_marks.set(self.mark_name, applied, applied + 1)
        return applied + 1

    async def _apply(self, entries: list[Entry], replay: bool) -> int | None:
        """Append the batch's state changes with the mark (one transaction)."""
        changes = [(entry.envelope, entry.envelope.event) for entry in entries
                   if isinstance(entry.envelope.event, AgentStateChanged)]
        if replay or not changes:
            return None
        last = entries[-1].seq
        await retried(lambda: self._store.operator_states.record_many(
            [OperatorStateRecord(change.agent_id, change.new, change.reason, envelope.at,
                                 change.queue or None, change.interaction_id or None)
             for envelope, change in changes], consumer=self.mark_name, applied_seq=last))
        return last + 1

    async def _write(self, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            change = envelope.event
            assert isinstance(change, AgentStateChanged)  # noqa: S101 - filtered above
            try:
                await retried(lambda: self._store.operator_states.record(
                    change.agent_id, change.new, envelope.at, change.reason,  # noqa: B023
                    queue=change.queue or None,  # noqa: B023
                    interaction_id=change.interaction_id or None))  # noqa: B023
            except StoreError as exc:  # one bad row must not stop the state log
                _log.warning("operator state not written", agent=change.agent_id,
                             error=str(exc))
            except Exception:  # nor may the database: a recorder that stops loses the rest
                _log.exception("operator state not written", agent=change.agent_id)


async def retried(write: Callable[[], Awaitable[None]]) -> None:
    """``write()``, tried again while the database refuses it as busy (``LOCK_RETRIES``)."""
    for attempt in range(LOCK_RETRIES + 1):
        try:
            await write()
            return
        except OperationalError:
            if attempt == LOCK_RETRIES:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))


async def drained(feed: Subscription,
                  write: Callable[[list[Envelope]], Awaitable[None]]) -> None:
    """Write the envelopes of ``feed`` until cancelled, as many as are waiting at a time (up
    to ``BATCH``); when cancelled, finish the batch in hand and write what is still queued
    (for at most ``DRAIN_S``), so that stopping the node after a burst loses no record."""
    writing: asyncio.Future[None] | None = None
    try:
        while True:
            batch = [await feed.get()]
            while feed.backlog and len(batch) < BATCH:
                batch.append(feed.queue.get_nowait())
            writing = asyncio.ensure_future(write(batch))
            try:
                await asyncio.shield(writing)
            except asyncio.CancelledError:
                raise
            except Exception:  # the node goes on; the failure is in the log
                _log.exception("records not written", count=len(batch))
            writing = None
    except asyncio.CancelledError:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_S):
                if writing is not None:
                    with contextlib.suppress(Exception):
                        await writing
                if feed.backlog:
                    _log.info("writing queued records before stopping", queued=feed.backlog)
                while feed.backlog:
                    batch = [feed.queue.get_nowait()
                             for _ in range(min(BATCH, feed.backlog))]
                    try:
                        await write(batch)
                    except Exception:
                        _log.exception("records not written", count=len(batch))
        raise


@dataclass
class _OpenCall:
    """What the recorder remembers of a call record while it has live legs (enough to write
    every later step without reading the store)."""

    interaction_id: str
    direction: Direction  # of the leg that opened it
    opening_leg: str
    caller: str
    called: str
    started_at: datetime  # when it opened (the event's time)
    linked: bool  # opened by an interaction id (else by the fallback pairing)
    first_seq: int = 0  # the journal entry that opened it (0: not from a journal)
    open_legs: set[str] = field(default_factory=set)
    leg_called: dict[str, str] = field(default_factory=dict)
    has_outbound: bool = False
    answered: bool = False
    answer_unconfirmed: bool = False  # a leg's answer is on the timeline, no notice yet
    queued: bool = False
    outcome: str = ""
    queued_at: datetime | None = None  # as stored: the first time it was queued
    answered_at: datetime | None = None  # as stored: the first answer
    answered_detail: dict[str, Any] | None = None  # the latest "answered" entry's detail
    variables: dict[str, Any] = field(default_factory=dict)  # the attached data so far
    opened_when_carried: bool = False  # the other node died before writing the record
    carried_on: bool = False  # a leg of it was carried on in this run: not cut off

    def copy(self) -> _OpenCall:
        """A copy the batch's changes cannot reach: what ``copy.deepcopy`` gives, for less
        than half its cost (the recorder copies every call a batch touches, on the event
        loop): immutable fields are shared, every other one (a field added later too) is
        deep-copied."""
        new = copy.copy(self)
        for name in _OPEN_CALL_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, _IMMUTABLE):
                setattr(new, name, copy.deepcopy(value))
        return new


_OPEN_CALL_FIELDS = tuple(each.name for each in fields(_OpenCall))
_IMMUTABLE = (str, int, float, datetime, type(None))  # bool and the StrEnums are among them


class CallRecorder(JournalConsumer):
    """Turns telephony events and contact-center notices into call records (interaction,
    legs, timeline, durations, outcome), voicemails and recordings.

    Legs are linked by ``ChannelCreated.interaction_id``: a leg naming an open interaction
    joins it, any other id opens a new interaction under that id. A leg without an id falls
    back to pairing: an outbound leg placed for the same caller within a few seconds of an
    inbound one (the B2BUA's second leg) joins it, any other leg opens its own interaction.

    A call opened by an inbound leg is answered when another leg (the operator's) answers or
    a ``CallProgress`` "answered" notice comes; the caller's leg being answered (by the IVR)
    does not count. The first answer ends the wait; a later one (after a transfer) makes its
    operator the call's operator. The interaction closes when its last leg hangs up, with
    the outcome a ``CallProgress`` "outcome" notice gave, else "answered", "abandoned" (queued,
    never answered) or "unanswered". Events naming an unknown call are logged and skipped.

    The steps of a batch change the recorder's memory of the open calls and gather rows
    (:class:`~parley.store.call_rows.CallRows`); the rows are then written with a few Core
    statements in one transaction, with the journal mark. The only read is one query per
    batch for the calls it names that are not open in memory (closed earlier, or unknown).
    """

    LINK_WINDOW_S = 10.0
    EVENTS = (ChannelCreated, Answered, Hangup, CallProgress, VoicemailLeft, RecordingStored,
              CallCarried)

    NAME = "call records"

    def __init__(self, store: Store, bus: LiveBus, clock: Clock,
                 journal: Journal | None = None, *, drain_s: float | None = None,
                 interval_s: float | None = None, node: str = "") -> None:
        super().__init__(journal, drain_s=drain_s, interval_s=interval_s, node=node)
        self._store = store
        self._bus = bus
        self._clock = clock
        self._calls: dict[str, _OpenCall] = {}  # by interaction id
        self._legs: dict[str, _OpenCall] = {}  # by channel id
        self._seq = 0  # the journal entry being applied
        self._orphans_closed = False
        self._last_before_start: datetime | None = None
        self._rows = CallRows()  # what the batch in hand writes
        self._stored: dict[str, StoredTimes] = {}  # closed calls the batch names
        self._known: set[str] = set()  # call records the batch may write to
        self._replaying = False

    async def run(self) -> None:
        if self._journal is not None:
            await self.consume()
            return
        async with self._bus.subscribe(lambda e: isinstance(e.event, self.EVENTS),
                                     lossless=True) as feed:
            self._feed = feed
            await drained(feed, self._write_batch)

    async def _stored_mark(self) -> tuple[int, int]:
        """Forget every open call (the journal's replay rebuilds them); the stored mark."""
        self._calls.clear()
        self._legs.clear()
        self._orphans_closed = False
        return await self._store.journal_marks.get(self.mark_name)

    async def _apply(self, entries: list[Entry], replay: bool) -> int | None:
        """Replay (memory only) or write ``entries``; written, the mark goes in the same
        transaction as the rows."""
        if replay:
            self._replaying = True
            try:
                for entry in entries:
                    self._seq = entry.seq
                    self._apply_step(entry.envelope)
            finally:
                self._replaying = False
                self._rows = CallRows()
            return None
        steps = [(entry.seq, entry.envelope) for entry in entries
                 if isinstance(entry.envelope.event, self.EVENTS)]
        if not steps:
            return None
        last = entries[-1].seq
        await self._write_steps(steps, last)
        return self._first_needed(last)

    async def _mark(self, applied: int) -> int:
        first_needed = self._first_needed(applied)
        await self._store.journal_marks.set(self.mark_name, applied, first_needed)
        return first_needed

    async def _caught_up(self, applied: int) -> None:
        """Once everything from before this start is applied, close what it cut off."""
        assert self._journal is not None  # noqa: S101 - journal mode
        if self._orphans_closed or applied < self._journal.started_seq - 1:
            return
        self._orphans_closed = True
        first_needed = await self._close_orphans(applied)
        if first_needed is not None:
            self._journal.release(self.NAME, first_needed)

    def _first_needed(self, last: int) -> int:
        """The first journal entry a restart must replay: the oldest open call's first."""
        return min((call.first_seq for call in self._calls.values()), default=last + 1)

    async def _write_batch(self, envelopes: list[Envelope]) -> None:
        """Without a journal: write ``envelopes`` (no mark)."""
        await self._write_steps([(0, envelope) for envelope in envelopes], None)

    async def _write_steps(self, steps: list[tuple[int, Envelope]], last: int | None) -> None:
        """Write ``steps`` (journal entry, envelope) and, in a journal, the mark ``last`` in
        one transaction. While the database refuses it as busy, start again from the memory
        before it (a few times, then raise: the caller starts again from the stored mark);
        if it fails otherwise, write each step on its own with its mark, skipping a step
        that cannot be written."""
        for attempt in range(LOCK_RETRIES + 1):
            before = self._snapshot([envelope for _seq, envelope in steps])
            try:
                await self._write_rows(steps, last)
                return
            except Exception as exc:
                self._calls, self._legs = before
                if not unreachable(exc):
                    break
                # busy (SQLite's lock) or away (a PostgreSQL restart or failover): again,
                # later; in a journal from the mark, so nothing is dropped
                if attempt == LOCK_RETRIES:
                    if last is not None:
                        raise
                    break
                await asyncio.sleep(0.5 * (attempt + 1))
        _log.warning("call records written one by one after a failed batch",
                     batch=len(steps))
        for seq, envelope in steps:
            before = self._snapshot([envelope])
            try:
                await self._write_rows([(seq, envelope)], seq if last is not None else None)
            except Exception as exc:
                self._calls, self._legs = before
                if unreachable(exc):  # busy or away: the caller starts again from the mark
                    if last is not None:
                        raise
                    _log.exception("call record step not written", event_type=envelope.type)
                    continue
                # this step cannot be written: skip it, keep the others
                _log.exception("call record step skipped", seq=seq, event_type=envelope.type)
                if last is not None:
                    await self._mark(seq)
        if last is not None and last > steps[-1][0]:
            await self._mark(last)

    async def _write_rows(self, steps: list[tuple[int, Envelope]], last: int | None) -> None:
        """Apply ``steps`` to memory and write their rows (with the mark ``last``)."""
        self._rows = CallRows()
        try:
            await self._look_up([envelope.event for _seq, envelope in steps])
            for seq, envelope in steps:
                self._seq = seq
                self._apply_step(envelope)
            if self._rows or last is not None:
                mark = None if last is None else (self.mark_name, last, self._first_needed(last))
                await self._store.interactions.write_rows(self._rows, mark)
        finally:
            self._rows = CallRows()
            self._stored, self._known = {}, set()

    async def _look_up(self, events: list[object]) -> None:
        """Read which call records the batch names that are not open in memory (one
        query): a notice may concern a call closed earlier, or one never seen."""
        named: set[str] = set()
        for event in events:
            if isinstance(event, ChannelCreated):
                named.add(event.interaction_id or event.channel_id)
            elif isinstance(event, CallProgress | RecordingStored | CallCarried) \
                    and event.interaction_id:
                named.add(event.interaction_id)
        self._stored = await self._store.interactions.stored(
            name for name in named if name not in self._calls)
        self._known = set(self._stored)

    def _exists(self, interaction_id: str) -> bool:
        """Whether the batch may write to this call record (open, opened in the batch,
        or stored)."""
        return (self._replaying or interaction_id in self._calls
                or interaction_id in self._known)

    async def close_last_run(self, live: Collection[str]) -> None:
        """After :meth:`write_last_run`, on a standby once the other node has carried over
        what it could: close the records of the calls the last run cut off that did not go
        on there, as a restart does. Those that did (``live``: the calls relayed now, by any
        node; or a record saying "carried over") are the other node's: forgotten, so that
        this node's own run does not close them."""
        assert self._journal is not None  # noqa: S101 - only with a journal
        applied = self._journal.started_seq - 1
        carried = set(live) | await self._store.interactions.carried_over(
            call.interaction_id for call in self._calls.values())
        for call in list(self._calls.values()):
            if call.interaction_id in carried:
                self._forget(call)
        first_needed = await self._close_orphans(applied)
        if first_needed is None:
            first_needed = await retried_value(lambda: self._mark(applied))
        self._journal.release(self.NAME, first_needed)

    async def _close_orphans(self, applied: int) -> int | None:
        """Close the records of calls the node was handling when it last stopped without
        their hang-ups (their legs died with it), with the mark ``applied``; the first
        entry still needed, or None when there were none."""
        assert self._journal is not None  # noqa: S101 - journal mode
        started = self._journal.started_seq
        orphans = [call for call in self._calls.values()
                   if call.first_seq < started and not call.carried_on]
        if not orphans:
            return None
        # in a hot-standby cluster the other node may have carried a call on and closed it
        stored = await self._store.interactions.stored(call.interaction_id for call in orphans)
        for call in orphans:
            times = stored.get(call.interaction_id)
            if times is not None and times.ended_at is not None:
                self._forget(call)
        orphans = [call for call in orphans if call.interaction_id in self._calls]
        if not orphans:
            return await retried_value(lambda: self._mark(applied))
        _log.warning("closing the records of calls cut off by the last stop",
                     count=len(orphans))
        at = self._last_before_start or self._clock.utcnow()
        self._rows = CallRows()
        try:
            for call in orphans:
                self._rows.add_entry(call.interaction_id, at, "node restarted", {})
                for leg in sorted(call.open_legs):
                    self._hangup(Hangup(leg, HangupCause.NETWORK_OUT_OF_ORDER,
                                        by="node restart"), at)
            first_needed = self._first_needed(applied)
            await retried(lambda: self._store.interactions.write_rows(
                self._rows, (self.mark_name, applied, first_needed)))
        finally:
            self._rows = CallRows()
        return first_needed

    def _forget(self, call: _OpenCall) -> None:
        """Drop an open call from memory without writing anything (closed elsewhere)."""
        self._calls.pop(call.interaction_id, None)
        for leg in call.open_legs:
            self._legs.pop(leg, None)

    def _snapshot(self, envelopes: list[Envelope]
                  ) -> tuple[dict[str, _OpenCall], dict[str, _OpenCall]]:
        """The recorder's memory as it is before ``envelopes``: copies of the calls they
        touch, the others shared (a rolled-back batch puts this back)."""
        touched: dict[int, _OpenCall] = {}
        for envelope in envelopes:
            event = envelope.event
            for call in (self._calls.get(getattr(event, "interaction_id", "") or ""),
                         self._legs.get(getattr(event, "channel_id", "") or "")):
                if call is not None:
                    touched[id(call)] = call
        copies = {key: call.copy() for key, call in touched.items()}
        return ({key: copies.get(id(call), call) for key, call in self._calls.items()},
                {key: copies.get(id(call), call) for key, call in self._legs.items()})

    def _apply_step(self, envelope: Envelope) -> None:
        try:
            self.handle(envelope.event, envelope.at)
        except StoreError as exc:  # one bad record must not stop the recorder
            _log.warning("call record not written", event_type=envelope.type, error=str(exc))

    def _partner(self, event: ChannelCreated, at: datetime) -> _OpenCall | None:
        for call in reversed(self._calls.values()):
            if (not call.linked and not call.has_outbound and call.caller == event.caller
                    and (at - call.started_at).total_seconds() <= self.LINK_WINDOW_S):
                return call
        return None

    def handle(self, event: object, at: datetime) -> None:
        """Apply one event to memory and to the batch's rows (``at``: when it was
        published)."""
        if self._journal is not None and self._seq < self._journal.started_seq:
            self._last_before_start = at  # the last sign of life of the node's last run
        if isinstance(event, ChannelCreated):
            self._created(event, at)
        elif isinstance(event, Answered):
            self._answered(event, at)
        elif isinstance(event, Hangup):
            self._hangup(event, at)
        elif isinstance(event, CallProgress):
            self._progress(event, at)
        elif isinstance(event, VoicemailLeft):
            self._rows.add_voicemail(
                id=event.voicemail_id, mailbox=event.mailbox, caller=event.caller,
                received_at=event.received_at, path=event.path, duration_s=event.duration_s,
                heard=False, interaction_id=event.interaction_id or None)
        elif isinstance(event, RecordingStored):
            self._recording(event)
        elif isinstance(event, CallCarried):
            self._carried(event, at)

    def _carried(self, event: CallCarried, at: datetime) -> None:
        """A leg another node was handling goes on here: its call record (open in the store,
        written by that node) is open again in memory, so that the leg's hang-up closes it.
        A record already closed stays closed (the call ended before the takeover). A record
        the other node died before writing is opened here from the leg as it began."""
        call = self._calls.get(event.interaction_id)
        if event.started_at is not None and (
                call.opened_when_carried if call is not None
                else event.interaction_id not in self._stored):
            self._carried_unwritten(event, event.started_at, at)
            return
        if call is None:
            stored = self._stored.get(event.interaction_id)
            if stored is None or stored.ended_at is not None:
                _log.info("carried leg of no open call record", channel_id=event.channel_id,
                          interaction_id=event.interaction_id)
                return
            call = _OpenCall(event.interaction_id, Direction.INBOUND, event.channel_id, "",
                             "", stored.started_at, linked=True, first_seq=self._seq,
                             answered=stored.answered_at is not None,
                             queued=stored.queued_at is not None, queued_at=stored.queued_at,
                             answered_at=stored.answered_at)
            self._calls[event.interaction_id] = call
            self._rows.add_entry(event.interaction_id, at, "carried over",
                                 {"from_node": event.node})
        if self._journal is not None and self._seq >= self._journal.started_seq:
            call.carried_on = True  # in this run (a node back alone carries its own on)
        call.open_legs.add(event.channel_id)
        self._legs[event.channel_id] = call

    def _carried_unwritten(self, event: CallCarried, started_at: datetime,
                           at: datetime) -> None:
        """The first carried leg of a call whose record the other node never wrote: open
        it as the leg began (its start, the caller's answer), noting the takeover; a later
        leg of the call answered is the operator's answer (:meth:`_answered`)."""
        first = event.interaction_id not in self._calls
        created = ChannelCreated(event.channel_id, event.direction or Direction.INBOUND,
                                 event.caller, event.called, event.interaction_id,
                                 event.trunk)
        self._created(created, started_at)
        call = self._calls.get(event.interaction_id)
        if first and call is not None:  # (a leg announced twice opens nothing)
            call.opened_when_carried = True
            self._rows.add_entry(event.interaction_id, at, "carried over",
                                 {"from_node": event.node, "record_opened_here": True})
        if event.answered_at is not None:  # its timeline entry is the other node's to add
            self._answered(Answered(event.channel_id), event.answered_at, entry=False)

    def _created(self, event: ChannelCreated, at: datetime) -> None:
        direction = str(event.direction)
        if event.channel_id in self._legs:
            _log.warning("leg announced twice", channel_id=event.channel_id)
            return
        if event.interaction_id:
            call = self._calls.get(event.interaction_id)
            opens = call is None
            if call is None:
                call = self._open(event.interaction_id, event, at, linked=True)
        else:
            call = (self._partner(event, at) if event.direction is Direction.OUTBOUND
                    else None)
            opens = call is None
            if call is None:
                call = self._open(event.channel_id, event, at, linked=False)
        call.open_legs.add(event.channel_id)
        call.leg_called[event.channel_id] = event.called
        self._legs[event.channel_id] = call
        if opens:
            self._write_open(call, event, at)
        elif not call.linked:
            call.has_outbound = True
            self._rows.add_entry(call.interaction_id, at, "dialing", {"to": event.called})
        self._rows.add_leg(call.interaction_id, event.channel_id, direction=direction,
                           endpoint=event.called, caller=event.caller, called=event.called,
                           started_at=at, trunk=event.trunk or None)

    def _write_open(self, call: _OpenCall, event: ChannelCreated, at: datetime) -> None:
        stored = self._stored.get(call.interaction_id)
        if stored is not None:  # e.g. written before a restart: the call goes on in it
            _log.warning("call record exists already; continuing it",
                         interaction_id=call.interaction_id)
            call.started_at, call.queued_at, call.answered_at = stored[:3]
            return
        self._known.add(call.interaction_id)
        self._rows.open(call.interaction_id, direction=str(event.direction),
                        caller=event.caller, called=event.called, started_at=at,
                        variables={})
        self._rows.add_entry(call.interaction_id, at, "started",
                             {"caller": event.caller, "called": event.called})

    def _open(self, interaction_id: str, event: ChannelCreated, at: datetime, *,
              linked: bool) -> _OpenCall:
        call = _OpenCall(interaction_id, event.direction, event.channel_id, event.caller,
                         event.called, at, linked, first_seq=self._seq)
        self._calls[interaction_id] = call
        return call

    def _answered(self, event: Answered, at: datetime, *, entry: bool = True) -> None:
        call = self._legs.get(event.channel_id)
        if call is None:
            _log.info("answer on an unknown leg", channel_id=event.channel_id)
            return
        self._rows.change_leg(call.interaction_id, event.channel_id, answered_at=at)
        other_leg = event.channel_id != call.opening_leg
        if call.direction is Direction.INBOUND:
            if not other_leg:
                return  # the IVR answered the caller: nobody has taken the call yet
            operator: str | None = call.leg_called.get(event.channel_id)
        else:
            if call.answered:
                return
            operator = call.called if other_leg else None
        call.answered = True
        call.answer_unconfirmed = True
        self._write_answered(call, at, operator, entry=entry)

    def _write_answered(self, call: _OpenCall, at: datetime, operator: str | None, *,
                        amend: bool = False, detail: dict[str, Any] | None = None,
                        entry: bool = True) -> None:
        """Someone answered: the first answer sets ``answered_at`` (the end of the wait),
        each one makes ``operator`` the current operator and adds an "answered" entry to the
        timeline (with ``detail``; none without ``entry``). ``amend``: an answer already on
        the timeline (seen first on the operator's leg): its entry is given ``operator`` and
        ``detail`` instead."""
        changes: dict[str, Any] = {}
        if call.answered_at is None:
            call.answered_at = changes["answered_at"] = at
        if operator is not None:
            changes["operator"] = operator
        if changes:
            self._rows.change(call.interaction_id, **changes)
        if not entry:
            return
        if amend and call.answered_detail is not None:
            earlier = call.answered_detail
            call.answered_detail = {**earlier, **(detail or {}),
                                    "operator": operator or earlier.get("operator")}
            self._rows.amend_answered(call.interaction_id, call.answered_detail)
            return
        call.answered_detail = {**(detail or {}), "operator": operator}
        self._rows.add_entry(call.interaction_id, at, "answered", call.answered_detail)

    def _hangup(self, event: Hangup, at: datetime) -> None:
        call = self._legs.pop(event.channel_id, None)
        if call is None:
            _log.info("hang-up of an unknown leg", channel_id=event.channel_id)
            return
        self._rows.change_leg(call.interaction_id, event.channel_id, ended_at=at,
                              hangup_cause=int(event.cause), sip_status=event.sip_status)
        call.open_legs.discard(event.channel_id)
        if call.open_legs:
            return
        del self._calls[call.interaction_id]
        self._known.add(call.interaction_id)  # later notices of the batch may name it
        outcome = call.outcome or ("answered" if call.answered
                                   else "abandoned" if call.queued else "unanswered")
        wait_from = call.queued_at or call.started_at
        self._rows.change(
            call.interaction_id, ended_at=at, outcome=outcome, hangup_cause=int(event.cause),
            duration_s=seconds_between(call.started_at, at),
            wait_s=seconds_between(wait_from, call.answered_at or at),
            talk_s=seconds_between(call.answered_at, at) if call.answered_at else 0.0)
        self._rows.add_entry(call.interaction_id, at, "ended",
                             {"outcome": outcome, "cause": int(event.cause)})

    def _progress(self, event: CallProgress, at: datetime) -> None:
        call = self._calls.get(event.interaction_id)
        if event.kind == "outcome":
            outcome = str(event.detail.get("outcome") or "")
            if not outcome:
                _log.warning("outcome notice without an outcome",
                             interaction_id=event.interaction_id)
            elif call is not None:
                call.outcome = outcome
            elif self._closed(event):  # the notice came after the last hang-up
                self._rows.change(event.interaction_id, outcome=outcome)
            return
        if event.kind == DATA_ATTACHED:  # the call's attached data joins its variables
            if not self._closed(event):
                return
            if call is not None:  # (a closed record keeps its variables: only the entry)
                call.variables.update(event.detail)
                self._rows.change(event.interaction_id, variables=dict(call.variables))
            self._rows.add_entry(event.interaction_id, at, event.kind, dict(event.detail))
            return
        if event.kind == "click to call" and event.detail.get("device") \
                and event.detail.get("number"):
            if not self._exists(event.interaction_id):
                raise NotFound(f"no interaction {event.interaction_id!r}")
            self._rows.change(event.interaction_id, caller=str(event.detail["device"]),
                              called=str(event.detail["number"]))
        if call is not None and event.kind == "overflowed" \
                and event.detail.get("to") == "queue" and event.detail.get("target"):
            # the call waits on in the queue it overflowed to: the record's queue follows
            self._rows.change(event.interaction_id, queue=str(event.detail["target"]))
        if call is not None and event.kind == "queued" and event.queue:
            call.queued = True
            changes: dict[str, Any] = {"queue": event.queue}
            if call.queued_at is None:
                call.queued_at = changes["queued_at"] = at
            self._rows.change(event.interaction_id, **changes)
            self._rows.add_entry(event.interaction_id, at, "queued",
                                 {**event.detail, "queue": event.queue})
        elif call is not None and event.kind == "answered":
            call.answered = True
            amend, call.answer_unconfirmed = call.answer_unconfirmed, False
            self._write_answered(call, at, event.operator or None, amend=amend,
                                 detail=dict(event.detail))
        else:
            detail = dict(event.detail)
            if event.queue:
                detail.setdefault("queue", event.queue)
            if event.operator:
                detail.setdefault("operator", event.operator)
            if self._closed(event):
                self._rows.add_entry(event.interaction_id, at, event.kind, detail)

    def _closed(self, event: CallProgress) -> bool:
        """Whether a notice that may concern a call no longer open (or never seen) can be
        written: the call record exists."""
        if self._exists(event.interaction_id):
            return True
        _log.warning("notice for an unknown call", interaction_id=event.interaction_id,
                     kind=event.kind)
        return False

    def _recording(self, event: RecordingStored) -> None:
        interaction_id: str | None = event.interaction_id or None
        if interaction_id is not None and not self._exists(interaction_id):
            # keep the recording even when its call record is missing
            _log.warning("recording of an unknown call kept unlinked",
                         interaction_id=interaction_id, recording_id=event.recording_id)
            interaction_id = None
        self._rows.add_recording(
            id=event.recording_id, interaction_id=interaction_id, path=event.path,
            media_type="audio/wav" if event.path.lower().endswith(".wav")
            else "application/octet-stream",
            started_at=event.started_at, duration_s=event.duration_s,
            pauses=[dict(gap) for gap in event.pauses])
