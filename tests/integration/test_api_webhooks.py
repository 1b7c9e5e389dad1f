"""A webhook delivered to a real HTTP receiver on loopback: signed, retried after a failure,
and logged; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from parley.events import Hangup, HangupCause, Ringing
from parley.testing.api import ApiServer
from parley.testing.postgres import (  # noqa: F401
    database_backend,
    database_url,
    postgres_server_url,
    postgres_template,
)
from parley.webhooks import verify

SECRET = "a-long-shared-secret-for-hmac"


class Receiver:
    """An HTTP server that fails the first ``failures`` requests with 500, then answers 204."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(receiver.requests) < receiver.failures else 204
                receiver.requests.append((dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/parley"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} of {count} deliveries arrived")
            time.sleep(0.02)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(failures=1)
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_webhook_is_signed_retried_after_a_failure_and_logged(
        database_url: str, receiver: Receiver) -> None:  # noqa: F811
    with ApiServer(database_url, webhook_base_delay_s=0.2) as server:
        token = server.add_user("admin1", ["admin"])
        with httpx.Client(base_url=server.url,
                          headers={"Authorization": f"Bearer {token}"}) as admin:
            created = admin.post("/api/webhooks", json={
                "name": "crm", "url": receiver.url, "events": ["call.ended"],
                "secret": SECRET})
            assert created.status_code == 201
            server.publish(Ringing("ch-7"))  # not subscribed: never sent
            server.publish(Hangup("ch-7", HangupCause.NORMAL_CLEARING, "remote"))
            receiver.wait_for(2)
            time.sleep(0.3)
            assert len(receiver.requests) == 2  # delivered once the retry succeeded

            (first_headers, first_body, first_status), (headers, body, status) = \
                receiver.requests
            assert (first_status, status) == (500, 204)
            assert first_body == body
            assert first_headers["X-Parley-Delivery"] == headers["X-Parley-Delivery"]
            # The receiver's check, written out: HMAC-SHA256 of "<timestamp>." + body.
            timestamp = headers["X-Parley-Timestamp"]
            expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()
            assert headers["X-Parley-Signature"] == f"sha256={expected}"
            assert verify(SECRET, timestamp, body, headers["X-Parley-Signature"])
            assert not verify("another-secret-entirely", timestamp, body,
                              headers["X-Parley-Signature"])
            assert not verify(SECRET, timestamp, body + b" ", headers["X-Parley-Signature"])
            payload = json.loads(body)
            assert payload["event"] == "call.ended"
            assert payload["data"] == {"channel_id": "ch-7", "cause": 16, "by": "remote",
                                       "sip_status": None}

            log = admin.get("/api/webhooks/crm/deliveries").json()
            assert [(d["attempt"], d["status_code"], d["delivered"]) for d in log] == [
                (2, 204, True), (1, 500, False)]
            assert log[1]["error"] == "HTTP 500"


async def test_retries_back_off_exponentially_then_give_up(
        database_url: str) -> None:  # noqa: F811
    from parley.bus import LiveBus
    from parley.clock import VirtualClock
    from parley.store import open_store
    from parley.store.specs import WebhookSpec
    from parley.webhooks import WebhookDispatcher

    always_failing = Receiver(failures=99)
    always_failing.thread.start()
    clock = VirtualClock(autojump=True)
    store = await open_store(database_url, clock=clock)
    try:
        bus = LiveBus(clock)
        dispatcher = WebhookDispatcher(store, bus, clock, max_attempts=5, base_delay_s=1.0)
        hook = WebhookSpec(name="down", url=always_failing.url, events=["*"], secret=SECRET)
        envelope = bus.publish(Hangup("ch-1", HangupCause.USER_BUSY))
        async with httpx.AsyncClient() as client:
            assert not await dispatcher.deliver(client, hook, "call.ended", envelope)
        log = sorted(await store.deliveries.log("down"), key=lambda d: d.attempt)
        assert [d.attempt for d in log] == [1, 2, 3, 4, 5]
        assert not any(d.delivered for d in log)
        gaps = [round((b.at - a.at).total_seconds()) for a, b in itertools.pairwise(log)]
        assert gaps == [1, 2, 4, 8]
        assert len(always_failing.requests) == 5
        assert await store.deliveries.pending() == []  # given up: the outbox is empty
    finally:
        await store.close()
        always_failing.server.shutdown()
        always_failing.server.server_close()


def test_a_restart_resumes_unfinished_deliveries(database_url: str) -> None:  # noqa: F811
    receiver = Receiver(failures=1)
    receiver.thread.start()
    try:
        first = ApiServer(database_url, webhook_base_delay_s=1.0).start()
        try:
            token = first.add_user("admin1", ["admin"])
            with httpx.Client(base_url=first.url,
                              headers={"Authorization": f"Bearer {token}"}) as admin:
                admin.post("/api/webhooks", json={"name": "crm", "url": receiver.url,
                                                  "events": ["*"], "secret": SECRET})
            first.publish(Hangup("ch-9", HangupCause.NORMAL_CLEARING))
            receiver.wait_for(1)
            first_store = first.store
            assert first_store is not None
            deadline = time.monotonic() + 10
            while not first.call(lambda: first_store.deliveries.log("crm")):
                assert time.monotonic() < deadline  # the failed attempt is logged
                time.sleep(0.02)
        finally:
            first.stop()  # stopped while the retry waits
        with ApiServer(database_url, webhook_base_delay_s=1.0) as second:
            receiver.wait_for(2)
            (first_headers, _, _), (headers, body, status) = receiver.requests
            assert status == 204
            assert headers["X-Parley-Delivery"] == first_headers["X-Parley-Delivery"]
            assert verify(SECRET, headers["X-Parley-Timestamp"], body,
                          headers["X-Parley-Signature"])
            second_store = second.store
            assert second_store is not None

            def finished() -> bool:
                return second.call(second_store.deliveries.pending) == []

            deadline = time.monotonic() + 10
            while not finished():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            log = second.call(lambda: second_store.deliveries.log("crm"))
            assert [(d.attempt, d.delivered) for d in log] == [(2, True), (1, False)]
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
