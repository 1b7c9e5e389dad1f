"""Callbacks kept in the store, so that a restart loses none (DESIGN.md §1.6).

Callbacks come from three places: a waiting caller who presses 1 (the contact center
publishes ``CallbackRequested`` with ``requested_by`` "caller"), a flow's ``callback`` node,
and the API (which stores the request and publishes ``CallbackRequested``). The keeper stores
what is not stored yet, hands every new request to the ACD (``ScheduleCallback``), follows
each one (dialling, done, expired) in the callback's row, drops cancelled ones
(``CallbackCancelled`` -> ``CancelCallback``), and at start reschedules every callback still
pending or being dialled when the node stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from parley import events as ev
from parley.store import NotFound, StoreError
from parley.store.records import CallbackRecord

if TYPE_CHECKING:
    from parley.bus import Envelope, LiveBus
    from parley.center.acd_shell import AcdShell
    from parley.store import Store

log = structlog.get_logger("parley.center.callbacks")

SELF_SCHEDULED = frozenset({"caller", "flow"})
"""Requests the contact center hands to the ACD itself (the keeper only stores them)."""
FOLLOWED = (ev.CallbackRequested, ev.CallbackCancelled, ev.DialCallback, ev.CallConnected,
            ev.CallbackExpired)
OPEN_STATUSES = ("pending", "dialling")


class CallbackKeeper:
    """Keeps the ACD's callbacks and the store's callback rows in step (see the module)."""

    def __init__(self, center: AcdShell, store: Store, bus: LiveBus) -> None:
        self.center = center
        self.store = store
        self.bus = bus
        self.known: set[str] = set()  # callback ids the ACD has been given

    async def restore(self) -> int:
        """Schedule the callbacks the store still has open; how many."""
        restored = 0
        for status in OPEN_STATUSES:
            for record in await self.store.callbacks.list(status=status):
                if record.queue not in self.center.acd.queues:
                    log.warning("callback_for_unknown_queue", callback_id=record.id,
                                queue=record.queue)
                    continue
                self._schedule(record.id, record.queue, record.number, record)
                restored += 1
        return restored

    async def run(self) -> None:
        """Restore, then follow callbacks until cancelled."""
        async with self.bus.subscribe(lambda e: isinstance(e.event, FOLLOWED),
                                      lossless=True) as feed:
            await self.restore()
            async for envelope in feed:
                try:
                    await self.handle(envelope)
                except StoreError as exc:
                    log.warning("callback_not_recorded", error=str(exc))

    def _schedule(self, callback_id: str, queue: str, number: str,
                  record: CallbackRecord | None = None) -> None:
        if callback_id in self.known or callback_id in self.center.acd.calls:
            return
        self.known.add(callback_id)
        due = record.due_at if record is not None else self.center.wall()
        self.center.feed(ev.ScheduleCallback(callback_id, queue, number, due))

    async def handle(self, envelope: Envelope) -> None:
        event = envelope.event
        callbacks = self.store.callbacks
        if isinstance(event, ev.CallbackRequested):
            try:
                await callbacks.get(event.callback_id)
            except NotFound:  # a caller's or a flow's request: the API stores its own
                await callbacks.request(CallbackRecord(
                    id=event.callback_id, number=event.number, queue=event.queue,
                    requested_at=envelope.at, due_at=event.due_at, status="pending",
                    attempts=0, requested_by=event.requested_by, note="", interaction_id=None))
            if event.requested_by not in SELF_SCHEDULED:
                self._schedule(event.callback_id, event.queue, event.number)
            self.known.add(event.callback_id)
        elif isinstance(event, ev.CallbackCancelled):
            self.center.feed(ev.CancelCallback(event.callback_id))
        elif isinstance(event, ev.DialCallback):
            await self._status(event.callback_id, "dialling", attempt=True)
        elif isinstance(event, ev.CallConnected) and event.call_id in self.known:
            await self._status(event.call_id, "done")
        elif isinstance(event, ev.CallbackExpired):
            status = "cancelled" if event.reason == "cancelled" else "expired"
            await self._status(event.callback_id, status)
            self.known.discard(event.callback_id)

    async def _status(self, callback_id: str, status: str, *, attempt: bool = False) -> None:
        try:
            await self.store.callbacks.set_status(callback_id, status, count_attempt=attempt)
        except NotFound:
            log.info("callback_without_row", callback_id=callback_id, status=status)
