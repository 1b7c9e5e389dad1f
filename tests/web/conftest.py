"""API tests run against a real server (uvicorn on a free port, real HTTP) on SQLite and on a
throw-away PostgreSQL.

Live-call routes are served through the ``CallControl`` and ``ContactCenter`` seams; until the
telephony and ACD shells are wired into these tests, the in-process implementations below
record the commands the API sends and answer with what a real node would report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx
import pytest

from parley.center.ports import LiveCall, LiveCallNotFound, OperatorEvent, QueueFigures
from parley.clock import MonotonicClock
from parley.events import AgentStateChanged
from parley.sip.guard import AuthGuard, GuardSettings
from parley.testing.api import ApiServer

# The fixtures that run each test on SQLite and on PostgreSQL (see parley.testing.postgres).
from parley.testing.postgres import (  # noqa: F401
    database_backend,
    database_url,
    postgres_server_url,
    postgres_template,
)


@dataclass
class RecordedCalls:
    """Records click-to-call, hang-up and transfer commands; keeps a list of live calls."""

    calls: dict[str, LiveCall] = field(default_factory=dict)
    commands: list[tuple[str, ...]] = field(default_factory=list)

    async def originate(self, *, device: str, number: str, caller_id: str | None,
                        requested_by: str) -> LiveCall:
        self.commands.append(("originate", device, number, caller_id or "", requested_by))
        call = LiveCall(id=f"call-{len(self.calls) + 1}", direction="outbound", caller=device,
                        called=number, state="ringing", started_at=datetime.now(UTC),
                        operator=requested_by)
        self.calls[call.id] = call
        return call

    async def hang_up(self, call_id: str, *, requested_by: str) -> None:
        if call_id not in self.calls:
            raise LiveCallNotFound(f"no live call {call_id!r}")
        self.commands.append(("hang_up", call_id, requested_by))
        del self.calls[call_id]

    async def transfer(self, call_id: str, *, target: str, requested_by: str) -> None:
        if call_id not in self.calls:
            raise LiveCallNotFound(f"no live call {call_id!r}")
        self.commands.append(("transfer", call_id, target, requested_by))
        self.calls[call_id] = replace(self.calls[call_id], state="transferring")

    async def record(self, call_id: str, *, on: bool, requested_by: str) -> str | None:
        if call_id not in self.calls:
            raise LiveCallNotFound(f"no live call {call_id!r}")
        self.commands.append(("record", call_id, "on" if on else "off", requested_by))
        return f"rec-{call_id}" if on else None

    def live_calls(self) -> list[LiveCall]:
        return list(self.calls.values())


@dataclass
class RecordedCenter:
    """Records operator requests and answers them with the state change the ACD would
    publish, so the state log and the live stream can be observed end to end."""

    events: list[OperatorEvent] = field(default_factory=list)
    server: ApiServer | None = None

    async def operator_event(self, event: OperatorEvent) -> None:
        self.events.append(event)
        new = {"AgentLogin": "ready", "AgentLogout": "logged_out", "AgentReady": "ready",
               "AgentNotReady": "not_ready"}[type(event).__name__]
        if self.server is not None:
            self.server.publish(AgentStateChanged(event.agent_id, "", new, "request", 0.0,
                                                  getattr(event, "reason", "")))

    def queue_figures(self) -> list[QueueFigures]:
        return [QueueFigures("sales", 2, 31.5, 40.0, 5, 1, 4, 10, 7, 1, 0.8)]


@dataclass
class Api:
    server: ApiServer
    calls: RecordedCalls
    center: RecordedCenter
    tokens: dict[str, str]
    guard: AuthGuard

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)


@pytest.fixture
def api(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:  # noqa: F811
    calls = RecordedCalls()
    center = RecordedCenter()
    recordings = tmp_path_factory.mktemp("recordings")
    guard = AuthGuard(GuardSettings(), MonotonicClock())
    server = ApiServer(database_url, calls=calls, center=center, recordings_dir=recordings,
                       webhook_base_delay_s=0.05, security=guard)
    guard.on_event = server.publish
    center.server = server
    with server:
        tokens = {
            "admin": server.add_user("admin1", ["admin"]),
            "supervisor": server.add_user("super1", ["supervisor"]),
            "agent": server.add_user("agent1", ["agent"], device=True),
        }
        yield Api(server, calls, center, tokens, guard)
