"""Webhooks: events POSTed to subscribers' URLs, signed, retried with back-off, logged.

Each delivery is a JSON body ``{"id", "event", "at", "data"}`` with the headers
``X-Parley-Event``, ``X-Parley-Delivery`` (the event id, the same on every retry),
``X-Parley-Timestamp`` (Unix seconds) and ``X-Parley-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``"<timestamp>." + body`` keyed with the webhook's secret. A non-2xx answer or
a network error is retried after 1, 2, 4, 8 … seconds (capped), up to ``max_attempts``; every
attempt is written to the delivery log. Unfinished deliveries are kept in the store's outbox,
so a restart resumes their retries instead of losing them.

Some events are written to the outbox by the store itself, in the same transaction as the
record they describe (a campaign's finished attempt, a closed contact: see
:mod:`parley.store.campaigns`); the dispatcher looks for them every ``outbox_poll_s``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import structlog

from parley import events as ev
from parley.bus import Envelope, LiveBus
from parley.clock import Clock
from parley.store import Fenced, Store
from parley.store.campaigns import OUTBOX_EVENTS
from parley.store.database import unreachable
from parley.store.records import DeliveryRecord, PendingDelivery
from parley.store.specs import WebhookSpec

log = structlog.get_logger(__name__)
#: seconds between tries while the database is away
RETRY_S = 1.0

EVENT_NAMES: dict[type[Any], str] = {
    ev.ChannelCreated: "call.offered",
    ev.Answered: "call.answered",
    ev.Hangup: "call.ended",
    ev.AgentStateChanged: "operator.state_changed",
    ev.CallQueued: "queue.updated",
    ev.CallAbandoned: "queue.updated",
    ev.CallbackRequested: "callback.requested",
    ev.DialCallback: "callback.due",
    ev.CallProgress: "call.progress",
    ev.WrapupSaved: "call.wrapped_up",
    ev.VoicemailLeft: "voicemail.left",
    ev.RecordingStored: "recording.stored",
    ev.SecurityEvent: "security.alert",
    ev.CampaignStatusChanged: "campaign.status_changed",
}
"""The webhook event name of each published event type; others are not sent."""

SIGNATURE_HEADER = "X-Parley-Signature"
TIMESTAMP_HEADER = "X-Parley-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *,
           now: float | None = None, tolerance_s: float = 300.0) -> bool:
    """What a receiver does: check the signature and refuse stale timestamps (replays)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


class WebhookDispatcher:
    """Subscribes to the live bus and delivers matching events to every active webhook."""

    def __init__(self, store: Store, bus: LiveBus, clock: Clock, *,
                 client: httpx.AsyncClient | None = None, max_attempts: int = 6,
                 base_delay_s: float = 1.0, max_delay_s: float = 300.0,
                 timeout_s: float = 10.0) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._client = client
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.timeout_s = timeout_s
        self.refresh_s = 2.0  # subscriptions are re-read at most this often
        self.outbox_poll_s = 1.0  # how often deliveries the store queued are looked for
        self._cache: tuple[float, list[WebhookSpec]] | None = None
        self._running: set[int] = set()  # outbox ids being delivered by this dispatcher
        #: outbox ids whose delivery stopped while the database was away (the poll resumes)
        self._stalled: set[int] = set()

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))

    async def run(self) -> None:
        """Deliver until cancelled. Deliveries left unfinished by an earlier run (in the
        outbox) are resumed first; deliveries in flight at cancellation stay in the outbox."""
        client = self._client or httpx.AsyncClient(timeout=self.timeout_s)
        try:
            async with self._bus.subscribe(lambda e: type(e.event) in EVENT_NAMES,
                                     lossless=True) as feed, \
                    asyncio.TaskGroup() as group:
                for pending in await self._store.deliveries.pending():
                    self._running.add(pending.id)
                    group.create_task(self._resume(client, pending))
                group.create_task(self._poll_outbox(client, group))
                async for envelope in feed:
                    name = EVENT_NAMES[type(envelope.event)]
                    for webhook in await self._subscribers(name):
                        group.create_task(self.deliver(client, webhook, name, envelope))
        finally:
            if self._client is None:
                await client.aclose()

    async def _poll_outbox(self, client: httpx.AsyncClient, group: asyncio.TaskGroup) -> None:
        """Deliver what the store queued itself (campaign attempts and closed contacts), and
        deliveries left in the outbox while the database was away."""
        while True:
            await self._clock.sleep(self.outbox_poll_s)
            try:
                pending_now = await self._store.deliveries.pending()
            except Exception as exc:
                if not unreachable(exc):
                    raise
                continue  # the outbox is read again at the next poll
            for pending in pending_now:
                if pending.id in self._running:
                    continue
                if pending.event_type in OUTBOX_EVENTS or pending.id in self._stalled:
                    self._stalled.discard(pending.id)
                    self._running.add(pending.id)
                    group.create_task(self._resume(client, pending))

    async def _subscribers(self, name: str) -> list[WebhookSpec]:
        now = self._clock.monotonic()
        if self._cache is None or now - self._cache[0] > self.refresh_s:
            try:
                hooks = await self._store.config.records("webhooks")
            except Exception as exc:
                if not unreachable(exc) or self._cache is None:
                    raise
                hooks = list(self._cache[1])  # the database is away: the hooks as last read
            self._cache = (now, [hook for hook in hooks if isinstance(hook, WebhookSpec)])
        return [hook for hook in self._cache[1] if hook.active
                and (name in hook.events or "*" in hook.events)]

    async def _enqueue(self, webhook: WebhookSpec, name: str, envelope: Envelope,
                       body: str) -> int:
        """Put a delivery in the outbox, waiting while the database is away (the event is
        delivered late, never dropped)."""
        waited = False
        while True:
            try:
                return await self._store.deliveries.enqueue(webhook.name, envelope.id, name,
                                                            body, self._clock.utcnow())
            except Exception as exc:
                if not unreachable(exc):
                    raise
                if not waited:
                    log.warning("webhook_waits_for_the_database", webhook=webhook.name,
                                event_id=envelope.id, error=str(exc))
                    waited = True
                await self._clock.sleep(RETRY_S)

    async def deliver(self, client: httpx.AsyncClient, webhook: WebhookSpec, name: str,
                      envelope: Envelope) -> bool:
        """Send one event to one webhook, retrying; True once a 2xx answer came back."""
        payload = envelope.to_json()
        body = json.dumps({"id": envelope.id, "event": name, "at": payload["at"],
                           "data": payload["data"]}, separators=(",", ":"))
        try:
            outbox_id = await self._enqueue(webhook, name, envelope, body)
        except Fenced as exc:
            _fenced(exc, envelope.id)
            return False
        self._running.add(outbox_id)
        try:
            return await self._attempts(client, webhook, PendingDelivery(
                outbox_id, webhook.name, envelope.id, name, body, 0, self._clock.utcnow()))
        except Fenced as exc:
            _fenced(exc, envelope.id)
            return False
        except Exception as exc:
            if not unreachable(exc):
                raise
            self._stalled.add(outbox_id)  # in the outbox: resumed by the poll
            log.warning("webhook_delivery_waits_for_the_database", webhook=webhook.name,
                        event_id=envelope.id, error=str(exc))
            return False
        finally:
            self._running.discard(outbox_id)

    async def _resume(self, client: httpx.AsyncClient, pending: PendingDelivery) -> bool:
        try:
            hook = await self._store.config.get("webhooks", pending.webhook)
            if not isinstance(hook, WebhookSpec) or not hook.active:
                await self._store.deliveries.finish(pending.id)  # unsubscribed meanwhile
                return False
            wait = (pending.next_attempt_at - self._clock.utcnow()).total_seconds()
            if wait > 0:
                await self._clock.sleep(wait)
            return await self._attempts(client, hook, pending)
        except Fenced as exc:
            _fenced(exc, pending.event_id)
            return False
        except Exception as exc:
            if not unreachable(exc):
                raise
            self._stalled.add(pending.id)  # still in the outbox: the poll resumes it
            return False
        finally:
            self._running.discard(pending.id)

    async def _attempts(self, client: httpx.AsyncClient, webhook: WebhookSpec,
                        pending: PendingDelivery) -> bool:
        body = pending.body.encode()
        for attempt in range(pending.attempts + 1, self.max_attempts + 1):
            # Counted before sending: a crash mid-attempt resumes with the next one.
            retry_at = self._clock.utcnow() + timedelta(seconds=self.delay(attempt))
            await self._store.deliveries.retry_later(pending.id, attempt, retry_at)
            timestamp = int(self._clock.utcnow().timestamp())
            headers = {"Content-Type": "application/json", "User-Agent": "Parley-Webhook/1",
                       "X-Parley-Event": pending.event_type,
                       "X-Parley-Delivery": pending.event_id,
                       TIMESTAMP_HEADER: str(timestamp),
                       SIGNATURE_HEADER: sign(webhook.secret, timestamp, body)}
            started = self._clock.monotonic()
            status_code: int | None = None
            error = ""
            try:
                response = await client.post(webhook.url, content=body, headers=headers,
                                             timeout=self.timeout_s)
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            delivered = not error
            await self._store.deliveries.record(DeliveryRecord(
                webhook=webhook.name, event_id=pending.event_id,
                event_type=pending.event_type, attempt=attempt, at=self._clock.utcnow(),
                status_code=status_code, error=error, delivered=delivered,
                duration_ms=round((self._clock.monotonic() - started) * 1000, 3)))
            if delivered:
                await self._store.deliveries.finish(pending.id)
                return True
            if attempt < self.max_attempts:
                await self._clock.sleep(self.delay(attempt))
        await self._store.deliveries.finish(pending.id)  # given up; the log keeps the attempts
        return False


def _fenced(exc: Fenced, event_id: str) -> None:
    """A node that lost its lease sends no more webhooks: the new active node delivers
    what is in the outbox (an attempt is counted in the store before it is sent)."""
    log.error("webhook_left_to_the_active_node", event_id=event_id, error=str(exc))
