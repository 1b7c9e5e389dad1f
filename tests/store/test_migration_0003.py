"""Migration 0003 on a database that has data: queues and the site get the defaults (which
change nothing), voicemails get their call record; and the migrated schema is the models'."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from parley.store import open_store
from parley.store.database import current_revision, migrate
from parley.store.models import Base
from parley.store.records import VoicemailRecord
from parley.store.specs import QueueSpec, SiteSpec

HEAD = "0033_open_attempts"


async def test_existing_rows_get_the_defaults(empty_database_url: str) -> None:
    store = await open_store(empty_database_url, run_migrations=False)
    try:
        await migrate(store.engine, "0002")
        async with store.engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO site (id, name, time_zone, sip_realm) "
                "VALUES (1, 'HQ', 'Europe/Berlin', 'hq')"))
            await connection.execute(text(
                "INSERT INTO queues (id, name, description, strategy, priority, max_wait_s, "
                "wrap_up_s, required_skills, service_level_s) "
                "VALUES (1, 'sales', '', 'longest_idle', 0, 300, 10, '{}', 20)"))
            await connection.execute(text(
                "INSERT INTO voicemails (id, mailbox, caller, received_at, path, duration_s, "
                "heard) VALUES ('vm-1', 'sales', '+4930111', :at, '/vm/1.wav', 3.5, :heard)"),
                {"at": datetime(2026, 1, 2, tzinfo=UTC), "heard": False})
        await migrate(store.engine)
        assert await current_revision(store.engine) == HEAD
        assert await store.config.get("queues", "sales") == QueueSpec(
            name="sales", max_wait_s=300)
        assert await store.config.site() == SiteSpec(name="HQ", time_zone="Europe/Berlin",
                                                     sip_realm="hq")
        message = await store.voicemails.get("vm-1")
        assert message.interaction_id is None
        await store.voicemails.add(VoicemailRecord(
            "vm-2", "sales", "+4930111", datetime(2026, 1, 3, tzinfo=UTC), "/vm/2.wav", 1.0,
            False, interaction_id="call-9"))
        assert [m.id for m in await store.voicemails.list(interaction_id="call-9")] == ["vm-2"]
    finally:
        await store.close()


async def test_downgrade_and_upgrade_again(empty_database_url: str) -> None:
    store = await open_store(empty_database_url)
    try:
        await store.config.put("queues", QueueSpec(name="q", ring_timeout_s=40))

        def downgrade(connection: Connection) -> None:
            from alembic import command

            from parley.store.database import _alembic_config

            command.downgrade(_alembic_config(connection), "0002")

        async with store.engine.begin() as connection:
            await connection.run_sync(downgrade)
        assert await current_revision(store.engine) == "0002"
        await migrate(store.engine)
        stored = await store.config.get("queues", "q")
        assert isinstance(stored, QueueSpec)
        assert stored.ring_timeout_s == 15  # the value went with its column
    finally:
        await store.close()


async def test_migrated_schema_matches_the_models(empty_database_url: str) -> None:
    store = await open_store(empty_database_url)

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    try:
        async with store.engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await store.close()
