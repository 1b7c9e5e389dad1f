"""``/metrics`` renders the node's own registry to a scraper with an API token or to an
admin's session, and to nobody else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from parley.metrics import MetricsSources, metrics_registry
from parley.testing.api import ApiServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    registry = metrics_registry(MetricsSources(calls_in_progress=lambda: 3))
    with ApiServer(f"sqlite+aiosqlite:///{tmp_path / 'parley.sqlite3'}",
                   metrics=registry) as server:
        yield server


def session(server: ApiServer, username: str) -> httpx.Client:
    """A client logged in with the session cookie; the caller closes it."""
    client = httpx.Client(base_url=server.url, timeout=30)
    login = client.post("/api/auth/login", json={"username": username,
                                                 "password": "password-123"})
    assert login.status_code == 200, login.text
    return client


def test_a_scraper_with_a_token_gets_the_metrics(server: ApiServer) -> None:
    token = server.add_user("prometheus", ["agent"])
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as scraper:
        response = scraper.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "parley_calls_in_progress 3.0" in response.text.splitlines()


def test_without_a_token_only_an_admin_session_gets_the_metrics(server: ApiServer) -> None:
    server.add_user("admin1", ["admin"])
    server.add_user("super1", ["supervisor"])
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert anonymous.get("/metrics").status_code == 401
        # the node's health needs no login (a single node: always active, no lease)
        health = anonymous.get("/api/health")
        assert health.status_code == 200
        assert {key: health.json()[key] for key in ("role", "serving", "ha", "reason",
                                                     "fencing_token", "last_takeover")} == {
            "role": "active", "serving": True, "ha": False, "reason": None,
            "fencing_token": None, "last_takeover": None}
        wrong = anonymous.get("/metrics", headers={"Authorization": "Bearer pk_nope"})
        assert wrong.status_code == 401
    supervisor = session(server, "super1")
    try:
        assert supervisor.get("/metrics").status_code == 403
    finally:
        supervisor.close()
    admin = session(server, "admin1")
    try:
        response = admin.get("/metrics")
    finally:
        admin.close()
    assert response.status_code == 200
    assert "parley_calls_in_progress 3.0" in response.text
