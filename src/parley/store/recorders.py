"""Writes what the live bus reports into the store as it happens (DESIGN.md §1.6): operator
state changes go to the operator state log; telephony events and the contact center's notices
become call records, voicemails and recordings.

In a node the recorders read the node's event journal (:mod:`parley.journal`), not the bus:
each batch of records is written in one transaction together with the journal entry it ends
at (the recorder's mark), so a crash neither applies an entry twice nor skips one; on start a
recorder reads the journal again from its mark (first replaying, without writing, the entries
of the calls still open, to know them again); a stop writes everything the journal holds, with
no time limit. Without a journal (tests of the recording rules) they read the bus directly."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

import structlog
from sqlalchemy.exc import OperationalError

from parley.bus import Envelope, LiveBus, Subscription
from parley.clock import Clock
from parley.events import (
    AgentStateChanged,
    Answered,
    CallProgress,
    ChannelCreated,
    Direction,
    Hangup,
    HangupCause,
    RecordingStored,
    VoicemailLeft,
)
from parley.journal import Entry, Journal, JournalReader
from parley.store import Conflict, NotFound, Store, StoreError
from parley.store.records import OperatorStateRecord, RecordingRecord, VoicemailRecord

_log = structlog.get_logger("parley.store.recorders")


DRAIN_S = 30.0
"""At shutdown, how long the recorders may take to write what is still queued."""
LOCK_RETRIES = 3
"""How often a write the database refused as busy is tried again (after 0.5, 1, 1.5 s)."""
BATCH = 50
"""The most envelopes written together when a recorder has fallen behind (one transaction:
on SQLite it holds the write lock that long, so it stays short)."""


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

    def __init__(self, journal: Journal | None) -> None:
        self._journal = journal
        self._marked = 0  # the last entry noted in the stored mark
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
        # each step shielded: a stop lets the step in hand finish, then drains the rest
        restoring = asyncio.ensure_future(self._restored())
        step: asyncio.Future[JournalReader] | None = restoring
        reader: JournalReader | None = None
        try:
            current = await asyncio.shield(restoring)
            reader = current
            while True:
                step = asyncio.ensure_future(self._step(current))
                current = reader = await asyncio.shield(step)
                step = None
                await journal.synced_after(current.next_seq - 1)
        except asyncio.CancelledError:
            behind = journal.last_seq - self._marked
            if behind > 0:
                _log.info("writing journaled records before stopping", recorder=self.NAME,
                          queued=behind)
            if step is not None:
                reader = await step
            assert reader is not None  # noqa: S101 - the step gave one
            reader = await self._drain(reader)
            raise
        finally:
            if reader is not None:
                reader.close()

    async def _step(self, reader: JournalReader) -> JournalReader:
        """Apply what is synced; the reader to go on with (a new one after a failure)."""
        assert self._journal is not None  # noqa: S101 - only with a journal
        entries: list[Entry] = []
        try:
            while entries := reader.read(BATCH):
                await self._apply_batch(entries)
            applied = reader.next_seq - 1
            if applied > self._marked:  # idle: note the mark, so that the journal trims
                self._journal.release(self.NAME, await retried_value(
                    lambda: self._mark(applied)))
                self._marked = applied
            await self._caught_up(applied)
            return reader
        except Exception:
            _log.exception("records not written; trying again from the mark",
                           recorder=self.NAME, count=len(entries))
            reader.close()
            await asyncio.sleep(RETRY_S)
            return await self._restored()

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

    async def _drain(self, reader: JournalReader) -> JournalReader:
        """Write everything the journal holds; give up only after ``LOCK_RETRIES`` failures
        in a row (the rest stays in the journal for the next start)."""
        assert self._journal is not None  # noqa: S101 - only with a journal
        self._journal.sync()
        failures = 0
        while True:
            entries = reader.read(BATCH)
            try:
                if not entries:
                    applied = reader.next_seq - 1
                    if applied > self._marked:
                        await self._mark(applied)
                    return reader
                await self._apply_batch(entries)
                failures = 0
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
                 journal: Journal | None = None) -> None:
        super().__init__(journal)
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
        return await self._store.journal_marks.get(self.NAME)

    async def _mark(self, applied: int) -> int:
        await self._store.journal_marks.set(self.NAME, applied, applied + 1)
        return applied + 1

    async def _apply(self, entries: list[Entry], replay: bool) -> int | None:
        """Append the batch's state changes with the mark (one transaction)."""
        changes = [(entry.envelope, entry.envelope.event) for entry in entries
                   if isinstance(entry.envelope.event, AgentStateChanged)]
        if replay or not changes:
            return None
        last = entries[-1].seq
        await retried(lambda: self._store.operator_states.record_many(
            [OperatorStateRecord(change.agent_id, change.new, change.reason, envelope.at)
             for envelope, change in changes], consumer=self.NAME, applied_seq=last))
        return last + 1

    async def _write(self, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            change = envelope.event
            assert isinstance(change, AgentStateChanged)  # noqa: S101 - filtered above
            try:
                await retried(lambda: self._store.operator_states.record(
                    change.agent_id, change.new, envelope.at, change.reason))  # noqa: B023
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


class _Discard:
    """A stand-in for the store while a recorder replays journal entries it applied before:
    every repository is itself, every write does nothing."""

    def __getattr__(self, name: str) -> Any:
        if name in ("interactions", "voicemails", "recordings"):
            return self

        async def nothing(*_args: object, **_kwargs: object) -> None:
            return None

        return nothing


_DISCARD = _Discard()


@dataclass
class _OpenCall:
    """What the recorder remembers of a call record while it has live legs."""

    interaction_id: str
    direction: Direction  # of the leg that opened it
    opening_leg: str
    caller: str
    called: str
    created: float  # when it opened (POSIX seconds of the event's time)
    linked: bool  # opened by an interaction id (else by the fallback pairing)
    first_seq: int = 0  # the journal entry that opened it (0: not from a journal)
    open_legs: set[str] = field(default_factory=set)
    leg_called: dict[str, str] = field(default_factory=dict)
    has_outbound: bool = False
    answered: bool = False
    answer_unconfirmed: bool = False  # a leg's answer is on the timeline, no notice yet
    queued: bool = False
    outcome: str = ""


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
    """

    LINK_WINDOW_S = 10.0
    EVENTS = (ChannelCreated, Answered, Hangup, CallProgress, VoicemailLeft, RecordingStored)

    NAME = "call records"

    def __init__(self, store: Store, bus: LiveBus, clock: Clock,
                 journal: Journal | None = None) -> None:
        super().__init__(journal)
        self._store = store
        self._bus = bus
        self._clock = clock
        self._calls: dict[str, _OpenCall] = {}  # by interaction id
        self._legs: dict[str, _OpenCall] = {}  # by channel id
        self._seq = 0  # the journal entry being applied
        self._orphans_closed = False
        self._last_before_start: datetime | None = None

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
        return await self._store.journal_marks.get(self.NAME)

    async def _apply(self, entries: list[Entry], replay: bool) -> int | None:
        """Replay (memory only) or write ``entries``; written, the mark goes in the same
        transaction as the call-record steps before it."""
        if replay:
            store, self._store = self._store, cast(Store, _DISCARD)
            try:
                for entry in entries:
                    self._seq = entry.seq
                    await self.handle(entry.envelope.event, entry.envelope.at)
            finally:
                self._store = store
            return None
        assert self._journal is not None  # noqa: S101 - journal mode
        mark = 0
        segment: list[Entry] = []
        for entry in entries:
            if not isinstance(entry.envelope.event, self.EVENTS):
                continue
            if isinstance(entry.envelope.event, VoicemailLeft | RecordingStored):
                if segment:
                    await self._write_marked(segment)
                # its own transaction: applied again after a crash, its id is refused
                self._seq = entry.seq
                await self._write(entry.envelope)
                mark = entry.seq
                segment = []
            else:
                segment.append(entry)
        last = entries[-1].seq
        if segment:
            await self._write_marked(segment, last)
        elif mark:
            return await self._mark(last)
        else:
            return None
        return self._first_needed(last)

    async def _mark(self, applied: int) -> int:
        first_needed = self._first_needed(applied)
        await self._store.journal_marks.set(self.NAME, applied, first_needed)
        return first_needed

    async def _caught_up(self, applied: int) -> None:
        """Once everything from before this start is applied, close what it cut off."""
        assert self._journal is not None  # noqa: S101 - journal mode
        if self._orphans_closed or applied < self._journal.started_seq - 1:
            return
        self._orphans_closed = True
        if await self._close_orphans():
            self._journal.release(self.NAME, await self._mark(applied))

    def _first_needed(self, last: int) -> int:
        """The first journal entry a restart must replay: the oldest open call's first."""
        return min((call.first_seq for call in self._calls.values()), default=last + 1)

    async def _write_marked(self, entries: list[Entry], last: int | None = None) -> None:
        """Write ``entries`` and the mark in one transaction (raises: the caller starts
        again from the stored mark)."""
        last = entries[-1].seq if last is None else last
        for attempt in range(LOCK_RETRIES + 1):
            before = self._snapshot([entry.envelope for entry in entries])
            try:
                async with self._store.interactions.batch():
                    for entry in entries:
                        self._seq = entry.seq
                        await self._write(entry.envelope)
                    await self._store.interactions.mark_applied(
                        self.NAME, last, self._first_needed(last))
                return
            except OperationalError:  # the database was busy (SQLite's lock): again, later
                self._calls, self._legs = before
                if attempt == LOCK_RETRIES:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
            except Exception:
                self._calls, self._legs = before
                break
        _log.warning("call records written one by one after a failed batch",
                     batch=len(entries))
        for entry in entries:  # each step with its mark in a transaction of its own
            self._seq = entry.seq
            before = self._snapshot([entry.envelope])
            try:
                async with self._store.interactions.batch():
                    await self._write(entry.envelope)
                    await self._store.interactions.mark_applied(
                        self.NAME, entry.seq, self._first_needed(entry.seq))
            except OperationalError:  # busy: the caller starts again from the mark
                self._calls, self._legs = before
                raise
            except Exception:  # this step cannot be written: skip it, keep the others
                self._calls, self._legs = before
                _log.exception("call record step skipped", seq=entry.seq,
                               event_type=entry.envelope.type)
                await self._mark(entry.seq)
        if last > entries[-1].seq:
            await self._mark(last)

    async def _close_orphans(self) -> bool:
        """Close the records of calls the node was handling when it last stopped without
        their hang-ups (their legs died with it); whether there were any."""
        assert self._journal is not None  # noqa: S101 - journal mode
        started = self._journal.started_seq
        orphans = [call for call in self._calls.values() if call.first_seq < started]
        if not orphans:
            return False
        _log.warning("closing the records of calls cut off by the last stop",
                     count=len(orphans))
        at = self._last_before_start or self._clock.utcnow()
        for call in orphans:
            try:
                await self._store.interactions.append(call.interaction_id, at,
                                                      "node restarted", {})
                for leg in sorted(call.open_legs):
                    await self._hangup(Hangup(leg, HangupCause.NETWORK_OUT_OF_ORDER,
                                              by="node restart"), at)
            except StoreError as exc:
                _log.warning("cut-off call not closed", interaction_id=call.interaction_id,
                             error=str(exc))
        return True

    async def _write_batch(self, envelopes: list[Envelope]) -> None:
        """Write call-record steps in as few transactions as possible. Voicemails and
        recordings go through repositories of their own, after the steps before them are
        committed (they may name a call record opened in the same batch)."""
        segment: list[Envelope] = []
        for envelope in envelopes:
            if isinstance(envelope.event, VoicemailLeft | RecordingStored):
                await self._write_segment(segment)
                segment = []
                await self._write(envelope)
            else:
                segment.append(envelope)
        await self._write_segment(segment)

    async def _write_segment(self, envelopes: list[Envelope]) -> None:
        """One transaction. While the database refuses it as busy, start again from the state
        before it (a few times); if it fails otherwise, write each envelope on its own."""
        if not envelopes:
            return
        for attempt in range(LOCK_RETRIES + 1):
            before = self._snapshot(envelopes)
            try:
                async with self._store.interactions.batch():
                    for envelope in envelopes:
                        await self._write(envelope)
                return
            except OperationalError:  # the database was busy (SQLite's lock): again, later
                self._calls, self._legs = before
                if attempt < LOCK_RETRIES:
                    await asyncio.sleep(0.5 * (attempt + 1))
            except Exception:
                self._calls, self._legs = before
                break
        _log.warning("call records written one by one after a failed batch",
                     batch=len(envelopes))
        for envelope in envelopes:
            await self._write(envelope)

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
        copies = {key: copy.deepcopy(call) for key, call in touched.items()}
        return ({key: copies.get(id(call), call) for key, call in self._calls.items()},
                {key: copies.get(id(call), call) for key, call in self._legs.items()})

    async def _write(self, envelope: Envelope) -> None:
        try:
            await self.handle(envelope.event, envelope.at)
        except OperationalError:  # busy: the whole batch is tried again
            raise
        except StoreError as exc:  # one bad record must not stop the recorder
            _log.warning("call record not written", event_type=envelope.type, error=str(exc))
        except Exception:  # a recorder that stops would lose every later call
            _log.exception("call record not written", event_type=envelope.type)

    def _partner(self, event: ChannelCreated, at: datetime) -> _OpenCall | None:
        now = at.timestamp()
        for call in reversed(self._calls.values()):
            if (not call.linked and not call.has_outbound and call.caller == event.caller
                    and now - call.created <= self.LINK_WINDOW_S):
                return call
        return None

    async def handle(self, event: object, at: datetime) -> None:
        """Write one event into the store (``at``: when it was published)."""
        if self._journal is not None and self._seq < self._journal.started_seq:
            self._last_before_start = at  # the last sign of life of the node's last run
        if isinstance(event, ChannelCreated):
            await self._created(event, at)
        elif isinstance(event, Answered):
            await self._answered(event, at)
        elif isinstance(event, Hangup):
            await self._hangup(event, at)
        elif isinstance(event, CallProgress):
            await self._progress(event, at)
        elif isinstance(event, VoicemailLeft):
            await self._store.voicemails.add(VoicemailRecord(
                id=event.voicemail_id, mailbox=event.mailbox, caller=event.caller,
                received_at=event.received_at, path=event.path, duration_s=event.duration_s,
                heard=False, interaction_id=event.interaction_id or None))
        elif isinstance(event, RecordingStored):
            await self._recording(event)

    async def _created(self, event: ChannelCreated, at: datetime) -> None:
        interactions = self._store.interactions
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
            try:
                await interactions.open(call.interaction_id, direction=direction,
                                        caller=event.caller, called=event.called,
                                        started_at=at)
            except Conflict:  # e.g. written before a restart: the call goes on in that record
                _log.warning("call record exists already; continuing it",
                             interaction_id=call.interaction_id)
        elif not call.linked:
            call.has_outbound = True
            await interactions.append(call.interaction_id, at, "dialing", {"to": event.called})
        await interactions.add_leg(call.interaction_id, channel_id=event.channel_id,
                                   direction=direction, endpoint=event.called,
                                   caller=event.caller, called=event.called, started_at=at)

    def _open(self, interaction_id: str, event: ChannelCreated, at: datetime, *,
              linked: bool) -> _OpenCall:
        call = _OpenCall(interaction_id, event.direction, event.channel_id, event.caller,
                         event.called, at.timestamp(), linked, first_seq=self._seq)
        self._calls[interaction_id] = call
        return call

    async def _answered(self, event: Answered, at: datetime) -> None:
        call = self._legs.get(event.channel_id)
        if call is None:
            _log.info("answer on an unknown leg", channel_id=event.channel_id)
            return
        await self._store.interactions.leg_answered(event.channel_id, at)
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
        await self._store.interactions.answered(call.interaction_id, at, operator=operator)

    async def _hangup(self, event: Hangup, at: datetime) -> None:
        call = self._legs.pop(event.channel_id, None)
        if call is None:
            _log.info("hang-up of an unknown leg", channel_id=event.channel_id)
            return
        await self._store.interactions.leg_ended(event.channel_id, at, int(event.cause))
        call.open_legs.discard(event.channel_id)
        if call.open_legs:
            return
        del self._calls[call.interaction_id]
        outcome = call.outcome or ("answered" if call.answered
                                   else "abandoned" if call.queued else "unanswered")
        await self._store.interactions.close(call.interaction_id, at, outcome=outcome,
                                             hangup_cause=int(event.cause))

    async def _progress(self, event: CallProgress, at: datetime) -> None:
        interactions = self._store.interactions
        call = self._calls.get(event.interaction_id)
        if event.kind == "outcome":
            outcome = str(event.detail.get("outcome") or "")
            if not outcome:
                _log.warning("outcome notice without an outcome",
                             interaction_id=event.interaction_id)
            elif call is not None:
                call.outcome = outcome
            else:  # the notice came after the last hang-up: correct the closed record
                await self._closed(event, interactions.set_outcome(event.interaction_id,
                                                                   outcome))
            return
        if event.kind == "click to call" and event.detail.get("device") \
                and event.detail.get("number"):
            await interactions.set_parties(event.interaction_id,
                                           caller=str(event.detail["device"]),
                                           called=str(event.detail["number"]))
        if call is not None and event.kind == "queued" and event.queue:
            call.queued = True
            await interactions.queued(event.interaction_id, event.queue, at,
                                      dict(event.detail))
        elif call is not None and event.kind == "answered":
            call.answered = True
            amend, call.answer_unconfirmed = call.answer_unconfirmed, False
            await interactions.answered(event.interaction_id, at,
                                        operator=event.operator or None, amend=amend,
                                        detail=dict(event.detail))
        else:
            detail = dict(event.detail)
            if event.queue:
                detail.setdefault("queue", event.queue)
            if event.operator:
                detail.setdefault("operator", event.operator)
            await self._closed(event, interactions.append(event.interaction_id, at,
                                                          event.kind, detail))

    async def _closed(self, event: CallProgress, write: Awaitable[None]) -> None:
        """Write a notice that may concern a call no longer open (or never seen)."""
        try:
            await write
        except NotFound:
            _log.warning("notice for an unknown call", interaction_id=event.interaction_id,
                         kind=event.kind)

    async def _recording(self, event: RecordingStored) -> None:
        record = RecordingRecord(
            id=event.recording_id, interaction_id=event.interaction_id or None,
            path=event.path,
            media_type="audio/wav" if event.path.lower().endswith(".wav")
            else "application/octet-stream",
            started_at=event.started_at, duration_s=event.duration_s)
        try:
            await self._store.recordings.add(record)
        except NotFound:  # keep the recording even when its call record is missing
            _log.warning("recording of an unknown call kept unlinked",
                         interaction_id=event.interaction_id, recording_id=event.recording_id)
            await self._store.recordings.add(replace(record, interaction_id=None))
