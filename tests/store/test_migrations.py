"""The schema comes from the shipped migrations, on both databases."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from parley.store import open_store
from parley.store.database import current_revision, migrate
from parley.store.models import Base


async def test_migrations_create_every_table_and_are_idempotent(
        empty_database_url: str) -> None:
    store = await open_store(empty_database_url, run_migrations=False)
    assert await current_revision(store.engine) is None
    await store.close()
    store = await open_store(empty_database_url)
    try:
        assert await current_revision(store.engine) == "0033_open_attempts"
        await migrate(store.engine)  # running again changes nothing and does not fail
        async with store.engine.connect() as connection:
            for table in Base.metadata.tables:
                query = text(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - our table names
                count = await connection.scalar(query)
                assert count == 0, table
    finally:
        await store.close()


async def test_sqlite_file_uses_write_ahead_logging(tmp_path: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'wal.sqlite3'}")
    try:
        async with store.engine.connect() as connection:
            assert await connection.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await connection.scalar(text("PRAGMA foreign_keys")) == 1
    finally:
        await store.close()
