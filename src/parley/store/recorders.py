"""Writes what the live bus reports into the store as it happens (DESIGN.md §1.6): operator
state changes go to the operator state log; telephony events and the contact center's notices
become call records, voicemails and recordings."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

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
    RecordingStored,
    VoicemailLeft,
)
from parley.store import Conflict, NotFound, Store, StoreError
from parley.store.records import RecordingRecord, VoicemailRecord

_log = structlog.get_logger("parley.store.recorders")


class StateRecorder:
    """Subscribes to ``AgentStateChanged`` notices and appends them to the state log."""

    def __init__(self, store: Store, bus: LiveBus, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock

    async def run(self) -> None:
        async with self._bus.subscribe(lambda e: isinstance(e.event, AgentStateChanged),
                                     lossless=True) as feed:
            await drained(feed, self._write)

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


DRAIN_S = 30.0
"""At shutdown, how long the recorders may take to write what is still queued."""
LOCK_RETRIES = 3
"""How often a write the database refused as busy is tried again (after 0.5, 1, 1.5 s)."""
BATCH = 50
"""The most envelopes written together when a recorder has fallen behind (one transaction:
on SQLite it holds the write lock that long, so it stays short)."""


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
    """What the recorder remembers of a call record while it has live legs."""

    interaction_id: str
    direction: Direction  # of the leg that opened it
    opening_leg: str
    caller: str
    called: str
    created: float
    linked: bool  # opened by an interaction id (else by the fallback pairing)
    open_legs: set[str] = field(default_factory=set)
    leg_called: dict[str, str] = field(default_factory=dict)
    has_outbound: bool = False
    answered: bool = False
    answer_unconfirmed: bool = False  # a leg's answer is on the timeline, no notice yet
    queued: bool = False
    outcome: str = ""


class CallRecorder:
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

    def __init__(self, store: Store, bus: LiveBus, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._calls: dict[str, _OpenCall] = {}  # by interaction id
        self._legs: dict[str, _OpenCall] = {}  # by channel id

    async def run(self) -> None:
        async with self._bus.subscribe(lambda e: isinstance(e.event, self.EVENTS),
                                     lossless=True) as feed:
            await drained(feed, self._write_batch)

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
        except StoreError as exc:  # one bad record must not stop the recorder
            _log.warning("call record not written", event_type=envelope.type, error=str(exc))
        except Exception:  # a recorder that stops would lose every later call
            _log.exception("call record not written", event_type=envelope.type)

    def _partner(self, event: ChannelCreated) -> _OpenCall | None:
        now = self._clock.monotonic()
        for call in reversed(self._calls.values()):
            if (not call.linked and not call.has_outbound and call.caller == event.caller
                    and now - call.created <= self.LINK_WINDOW_S):
                return call
        return None

    async def handle(self, event: object, at: datetime) -> None:
        """Write one event into the store (``at``: when it was published)."""
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
                call = self._open(event.interaction_id, event, linked=True)
        else:
            call = self._partner(event) if event.direction is Direction.OUTBOUND else None
            opens = call is None
            if call is None:
                call = self._open(event.channel_id, event, linked=False)
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

    def _open(self, interaction_id: str, event: ChannelCreated, *, linked: bool) -> _OpenCall:
        call = _OpenCall(interaction_id, event.direction, event.channel_id, event.caller,
                         event.called, self._clock.monotonic(), linked)
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
