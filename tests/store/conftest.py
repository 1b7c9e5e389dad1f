"""Store tests run once on SQLite and once on a throw-away PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from parley.clock import VirtualClock
from parley.store import Store, open_store
from parley.store.credentials import Passwords

# The fixtures that run each test on SQLite and on PostgreSQL (see parley.testing.postgres).
from parley.testing.postgres import (  # noqa: F401
    database_backend,
    database_url,
    postgres_server_url,
    postgres_template,
)


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
