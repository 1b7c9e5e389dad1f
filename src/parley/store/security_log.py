"""Security events into the audit log: bans, locks, lifted bans, throttled logins and refused
toll-fraud calls, each as one audit row (actor "security"), so a site reads them next to the
admins' changes (``GET /api/audit?target_type=security``)."""

from __future__ import annotations

import structlog

from parley.bus import Envelope, LiveBus
from parley.clock import Clock
from parley.events import SecurityEvent
from parley.store import Store
from parley.store.recorders import drained

log = structlog.get_logger("parley.store.security_log")

ACTOR = "security"


class SecurityRecorder:
    """Subscribes to the live bus and writes every :class:`SecurityEvent` to the audit log."""

    def __init__(self, store: Store, bus: LiveBus, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self.written = 0

    async def run(self) -> None:
        async with self._bus.subscribe(lambda e: isinstance(e.event, SecurityEvent),
                                       lossless=True) as feed:
            await drained(feed, self._write)

    async def _write(self, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            event = envelope.event
            if not isinstance(event, SecurityEvent):
                continue
            detail: dict[str, object] = {"reason": event.reason, "source": event.source,
                                         "user": event.user, **(event.detail or {})}
            if event.until is not None:
                detail["until"] = event.until.isoformat()
            target = event.source or event.user or "*"
            await self._store.audit.record(event.at, ACTOR, event.kind, "security", target,
                                           detail)
            self.written += 1
