"""API tests run against a real server (uvicorn on a free port, real HTTP) on SQLite and on a
throw-away PostgreSQL.

This server runs no telephony and no contact center: its live routes answer 503, as a node
without them does. What those routes do on a running node is tested against the demo node
with real phones in ``tests/integration/test_api_live.py`` (and fuzzed there by
``test_api_schemathesis.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from parley.clock import MonotonicClock
from parley.metrics import MetricsSources, metrics_registry
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
class Api:
    server: ApiServer
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
    data = tmp_path_factory.mktemp("data")
    guard = AuthGuard(GuardSettings(), MonotonicClock())
    server = ApiServer(database_url, data_dir=data, webhook_base_delay_s=0.05,
                       security=guard,
                       metrics=metrics_registry(MetricsSources(channels=lambda: 0)))
    guard.on_event = server.publish
    with server:
        tokens = {
            "admin": server.add_user("admin1", ["admin"]),
            "supervisor": server.add_user("super1", ["supervisor"]),
            "agent": server.add_user("agent1", ["agent"], device=True),
        }
        yield Api(server, tokens, guard)
