"""Property-based tests of the whole REST API from its OpenAPI document: schemathesis sends
generated requests (valid and invalid) to a running server, as an admin, on SQLite and on
PostgreSQL, and no answer may be a server error or break the documented schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from parley.testing.api import ApiServer
from parley.testing.postgres import (  # noqa: F401
    _backends,
    create_database,
    drop_database,
    postgres_server_url,
    postgres_template,
)


@pytest.fixture(scope="module", params=_backends())
def live_api(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, str]]:
    """One server per backend for the whole module, with an admin token."""
    created: tuple[str, str] | None = None
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("schemathesis")
        url = f"sqlite+aiosqlite:///{folder / 'parley.sqlite3'}"
    else:
        server_url = request.getfixturevalue("postgres_server_url")
        created = create_database(server_url, request.getfixturevalue("postgres_template"))
        url = created[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    recordings = tmp_path_factory.mktemp("recordings")
    with ApiServer(url, recordings_dir=recordings) as server:
        token = server.add_user("fuzz-admin", ["admin"])
        yield server, token
    if created is not None:
        drop_database(request.getfixturevalue("postgres_server_url"), created[1])


EXCLUDED = {
    # Revoking tokens or logging out would end the fuzzing session itself.
    ("DELETE", "/api/tokens/{token_id}"),
    ("POST", "/api/auth/logout"),
}


def test_no_server_errors(live_api: tuple[ApiServer, str]) -> None:
    """Every operation of the OpenAPI document, a bounded number of generated cases each."""
    server, token = live_api
    schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in EXCLUDED:
            continue
        operations += 1

        @settings(max_examples=6, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def exercise(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            # 503 is the documented answer of live-call routes on a node without telephony.
            not_running = response.status_code == 503 and "not running" in response.text
            assert response.status_code < 500 or not_running, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}")

        try:
            exercise()
        except (AssertionError, BaseExceptionGroup) as exc:  # report every failing operation
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations > 50
    assert failures == []
