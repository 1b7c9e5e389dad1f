"""Webhook events of the contact center's notices: call.progress, voicemail.left and
recording.stored, delivered to a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from parley.events import CallProgress, RecordingStored, VoicemailLeft
from parley.store.specs import WEBHOOK_EVENTS
from parley.webhooks import EVENT_NAMES

from .conftest import Api

SECRET = "a-long-shared-secret-for-hmac"


class Receiver:
    """Answers every POST with 204 and keeps the JSON bodies."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.bodies)} of {count} deliveries arrived")
            time.sleep(0.02)
        return self.bodies


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_every_event_name_can_be_subscribed() -> None:
    assert set(EVENT_NAMES.values()) <= set(WEBHOOK_EVENTS)


def test_notices_are_delivered_under_their_names(api: Api, receiver: Receiver) -> None:
    with api.client("admin") as admin:
        created = admin.post("/api/webhooks", json={
            "name": "crm", "url": receiver.url, "secret": SECRET,
            "events": ["call.progress", "voicemail.left", "recording.stored"]})
        assert created.status_code == 201
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    api.server.publish(CallProgress("call-1", "queued", {}, queue="sales"))
    receiver.wait_for(1)
    api.server.publish(VoicemailLeft("vm-1", "sales", "+4930111", "/vm/vm-1.wav", 4.0, at,
                                     interaction_id="call-1"))
    api.server.publish(RecordingStored("rec-1", "call-1", "/rec/rec-1.wav", at, 60.0))
    by_name = {body["event"]: body["data"] for body in receiver.wait_for(3)}  # in parallel
    assert sorted(by_name) == ["call.progress", "recording.stored", "voicemail.left"]
    assert by_name["call.progress"] == {"interaction_id": "call-1", "kind": "queued",
                                        "detail": {}, "queue": "sales", "operator": ""}
    assert by_name["voicemail.left"]["interaction_id"] == "call-1"
    assert by_name["recording.stored"]["recording_id"] == "rec-1"
