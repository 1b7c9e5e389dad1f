"""Store tests run once on SQLite and once on a throw-away PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from parley.clock import VirtualClock
from parley.store import Store, open_store
from parley.store.credentials import Passwords

# The fixtures that run each test on SQLite and on PostgreSQL (see parley.testing.postgres).
from parley.testing.postgres import (  # noqa: F401
    create_database,
    database_backend,
    database_url,
    drop_database,
    postgres_server_url,
    postgres_template,
)


@pytest.fixture
def empty_database_url(database_backend: str, request: pytest.FixtureRequest,  # noqa: F811
                       tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all (the usual fixture copies a migrated template), for
    the migration tests."""
    if database_backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    server = request.getfixturevalue("postgres_server_url")
    url, name = create_database(server)
    yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
    drop_database(server, name)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def store(database_url: str, clock: VirtualClock) -> AsyncIterator[Store]:  # noqa: F811
    opened = await open_store(database_url, clock=clock, passwords=Passwords.cheap())
    try:
        yield opened
    finally:
        await opened.close()
