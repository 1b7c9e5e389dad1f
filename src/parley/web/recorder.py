"""Writes what the live bus reports into the store as it happens: operator state changes go
to the operator state log (DESIGN.md §1.6)."""

from __future__ import annotations

from parley.clock import Clock
from parley.events import AgentStateChanged
from parley.store import Store
from parley.web.bus import LiveBus


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
