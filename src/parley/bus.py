"""The in-process live event bus: telephony, the ACD and the API publish ``parley.events``
objects; WebSocket clients, webhooks and the store recorder subscribe.

Publishing never blocks: each subscriber has a bounded queue, and a subscriber that falls
behind loses its oldest events (and is told how many) rather than slowing calls down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from parley import events as ev
from parley.clock import Clock

TOPICS: dict[type[Any], str] = {
    ev.ChannelCreated: "call", ev.Ringing: "call", ev.Answered: "call", ev.Hangup: "call",
    ev.RecordingFinished: "call", ev.CallConnected: "call", ev.WrapupSaved: "call",
    ev.LiveCallChanged: "call", ev.OperatorRowChanged: "operator",
    ev.AgentStateChanged: "operator", ev.DeskTakenOver: "operator", ev.HelpRequested: "operator",
    ev.SupervisorMonitoring: "operator", ev.ConsultationChanged: "operator",
    ev.RecordingPauseChanged: "operator",
    ev.ShowPreview: "operator",
    ev.CallQueued: "queue", ev.CallAbandoned: "queue", ev.Overflow: "queue",
    ev.CallbackExpired: "queue", ev.DialCallback: "queue", ev.CallbackRequested: "queue",
    ev.ConfigurationChanged: "config", ev.TrunkStatusChanged: "trunk",
    ev.CampaignStatusChanged: "campaign", ev.CampaignFiguresChanged: "campaign",
    ev.NodeRoleChanged: "node",
}
"""The topic of each event type a client can subscribe to; others are ``other``."""


def topic_of(event: object) -> str:
    return TOPICS.get(type(event), "other")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, frozenset | set | tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class Envelope:
    """One published event with its id, time and topic, as subscribers receive it."""

    id: str
    at: datetime
    topic: str
    event: object
    _text: str | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def type(self) -> str:
        return type(self.event).__name__

    def field(self, name: str) -> Any:
        return getattr(self.event, name, None)

    def to_json(self) -> dict[str, Any]:
        data = ({f.name: _plain(getattr(self.event, f.name))
                 for f in dataclasses.fields(self.event)}  # type: ignore[arg-type, unused-ignore]
                if dataclasses.is_dataclass(self.event) else {})
        return {"id": self.id, "at": self.at.isoformat(), "topic": self.topic,
                "type": self.type, "data": data}

    def text(self) -> str:
        """:meth:`to_json` as JSON text, made once however many clients it is sent to."""
        if self._text is None:
            object.__setattr__(self, "_text", json.dumps(self.to_json(), ensure_ascii=False,
                                                          separators=(",", ":")))
        assert self._text is not None  # noqa: S101 - set just above
        return self._text


class Subscription:
    """A subscriber's queue of envelopes: bounded (the oldest is dropped when full: a slow
    live viewer), or unbounded (``size`` 0: a recorder that must lose nothing)."""

    def __init__(self, accept: Callable[[Envelope], bool], size: int) -> None:
        self.accept = accept
        self.queue: asyncio.Queue[Envelope] = asyncio.Queue(size)
        self.dropped = 0
        self._waiting = False  # its consumer waits for the next envelope

    @property
    def idle(self) -> bool:
        """Whether its consumer is done with everything offered so far: it waits for more,
        with nothing waiting (what a test waits for after a configuration change)."""
        return self._waiting and self.queue.empty()

    async def _next(self) -> Envelope:
        self._waiting = True
        try:
            return await self.queue.get()
        finally:
            self._waiting = False

    @property
    def backlog(self) -> int:
        """Envelopes waiting to be taken."""
        return self.queue.qsize()

    def offer(self, envelope: Envelope) -> None:
        if not self.accept(envelope):
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(envelope)

    async def get(self) -> Envelope:
        return await self._next()

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Envelope]:
        while True:
            yield await self._next()

    async def batches(self) -> AsyncIterator[list[Envelope]]:
        """Everything waiting, as one list, each time something arrives: for a subscriber
        whose work covers any number of envelopes at once. A configuration reload reads the
        whole configuration, so a burst of changes (an import of 1,400 users, a change per
        row) is a few reloads, not one per change, each a read of the whole configuration."""
        while True:
            batch = [await self._next()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            yield batch


class LiveBus:
    """Publish/subscribe within one process. ``journal`` (the node's event journal's
    ``append``) is handed each envelope before any subscriber sees it, so that what the
    store's recorders need is on disk however far behind they fall (:mod:`parley.journal`)."""

    def __init__(self, clock: Clock, *, queue_size: int = 1000,
                 journal: Callable[[Envelope], object] | None = None) -> None:
        self._clock = clock
        self._queue_size = queue_size
        self._journal = journal
        self._subscribers: set[Subscription] = set()
        self._watching: dict[str, int] = {}  # topic -> live viewers that asked for it

    def publish(self, event: object) -> Envelope:
        # 128 random bits as 32 hex digits, as a UUID4's hex looked: a fifth of its cost, paid
        # for every event
        envelope = Envelope(secrets.token_hex(16), self._clock.utcnow(), topic_of(event), event)
        if self._journal is not None:
            self._journal(envelope)
        for subscriber in list(self._subscribers):
            subscriber.offer(envelope)
        return envelope

    @asynccontextmanager
    async def subscribe(self, accept: Callable[[Envelope], bool] = lambda _e: True,
                        *, size: int | None = None, lossless: bool = False,
                        watching: frozenset[str] = frozenset()
                        ) -> AsyncIterator[Subscription]:
        """Receive the envelopes ``accept`` takes. ``lossless`` subscribers (the store's
        recorders, webhooks, configuration reloads) keep every envelope however far behind
        they fall; others keep the newest ``size`` (live viewers). A live viewer names the
        topics it shows in ``watching``: :meth:`watched` tells the producers of events only
        viewers need (the console's row feeds) whether to do that work at all."""
        subscription = Subscription(accept, 0 if lossless else size or self._queue_size)
        self._subscribers.add(subscription)
        for topic in watching:
            self._watching[topic] = self._watching.get(topic, 0) + 1
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)
            for topic in watching:
                self._watching[topic] -= 1

    def watched(self, topic: str) -> bool:
        """Whether a live viewer subscribed to ``topic`` now."""
        return self._watching.get(topic, 0) > 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
