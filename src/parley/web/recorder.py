"""Writes what the live bus reports into the store as it happens (DESIGN.md §1.6): operator
state changes go to the operator state log, telephony events become call records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog

from parley.clock import Clock
from parley.events import AgentStateChanged, Answered, ChannelCreated, Direction, Hangup
from parley.store import Store, StoreError
from parley.web.bus import LiveBus

_log = structlog.get_logger("parley.web.recorder")


class StateRecorder:
    """Subscribes to ``AgentStateChanged`` notices and appends them to the state log."""

    def __init__(self, store: Store, bus: LiveBus, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock

    async def run(self) -> None:
        async with self._bus.subscribe(lambda e: isinstance(e.event, AgentStateChanged)) as feed:
            async for envelope in feed:
                change = envelope.event
                assert isinstance(change, AgentStateChanged)  # noqa: S101 - filtered above
                await self._store.operator_states.record(change.agent_id, change.new,
                                                         envelope.at, change.reason)


@dataclass
class _OpenCall:
    interaction_id: str
    caller: str
    called: str
    created: float
    open_legs: set[str] = field(default_factory=set)
    has_outbound: bool = False
    answered: bool = False


class CallRecorder:
    """Turns telephony events into call records (interaction, legs, timeline, durations).

    An inbound channel opens an interaction named after it. An outbound channel placed for
    the same caller and number within a few seconds (the B2BUA's second leg) joins that
    interaction, and the number it rings is recorded as the operator; any other outbound
    channel (click-to-call, dialer) opens its own. The interaction closes when its last leg
    hangs up.
    """

    LINK_WINDOW_S = 10.0

    def __init__(self, store: Store, bus: LiveBus, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._calls: dict[str, _OpenCall] = {}  # by interaction id
        self._legs: dict[str, _OpenCall] = {}  # by channel id

    async def run(self) -> None:
        kinds = (ChannelCreated, Answered, Hangup)
        async with self._bus.subscribe(lambda e: isinstance(e.event, kinds)) as feed:
            async for envelope in feed:
                try:
                    await self.handle(envelope.event, envelope.at)
                except StoreError as exc:  # one bad record must not stop the recorder
                    _log.warning("call record not written", error=str(exc))

    def _partner(self, event: ChannelCreated) -> _OpenCall | None:
        now = self._clock.monotonic()
        for call in reversed(self._calls.values()):
            if (not call.has_outbound and call.caller == event.caller
                    and now - call.created <= self.LINK_WINDOW_S):
                return call
        return None

    async def handle(self, event: object, at: datetime) -> None:
        interactions = self._store.interactions
        if isinstance(event, ChannelCreated):
            direction = str(event.direction)
            call = self._partner(event) if event.direction is Direction.OUTBOUND else None
            if call is None:
                call = _OpenCall(event.channel_id, event.caller, event.called,
                                 self._clock.monotonic())
                self._calls[call.interaction_id] = call
                await interactions.open(call.interaction_id, direction=direction,
                                        caller=event.caller, called=event.called,
                                        started_at=at)
            else:
                call.has_outbound = True
                await interactions.append(call.interaction_id, at, "dialing",
                                          {"to": event.called})
            call.open_legs.add(event.channel_id)
            self._legs[event.channel_id] = call
            await interactions.add_leg(call.interaction_id, channel_id=event.channel_id,
                                       direction=direction, endpoint=event.called,
                                       caller=event.caller, called=event.called,
                                       started_at=at)
        elif isinstance(event, Answered):
            call = self._legs.get(event.channel_id)
            if call is None:
                return
            await interactions.leg_answered(event.channel_id, at)
            if not call.answered:
                call.answered = True
                leg_is_second = event.channel_id != call.interaction_id
                await interactions.answered(call.interaction_id, at,
                                            operator=call.called if leg_is_second else None)
        elif isinstance(event, Hangup):
            call = self._legs.pop(event.channel_id, None)
            if call is None:
                return
            await interactions.leg_ended(event.channel_id, at, int(event.cause))
            call.open_legs.discard(event.channel_id)
            if not call.open_legs:
                del self._calls[call.interaction_id]
                await interactions.close(call.interaction_id, at,
                                         outcome="answered" if call.answered else "unanswered",
                                         hangup_cause=int(event.cause))
