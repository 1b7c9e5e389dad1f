"""Migration 0005 on a database that has data: queues get routing settings that change
nothing, the site the default reason codes, and lists of kinds that only ever tagged their
numbers become 'tag' lists."""

from __future__ import annotations

from sqlalchemy import text

from parley.store import open_store
from parley.store.database import current_revision, migrate
from parley.store.specs import NumberListSpec, QueueSpec, SiteSpec


async def test_existing_rows_keep_their_meaning(empty_database_url: str) -> None:
    store = await open_store(empty_database_url, run_migrations=False)
    try:
        await migrate(store.engine, "0004")
        async with store.engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO site (id, name, time_zone, sip_realm) "
                "VALUES (1, 'HQ', 'Europe/Berlin', 'hq')"))
            await connection.execute(text(
                "INSERT INTO queues (id, name, description, strategy, priority, max_wait_s, "
                "wrap_up_s, required_skills, service_level_s) "
                "VALUES (1, 'sales', '', 'longest_idle', 0, 300, 10, '{}', 20)"))
            for list_id, kind in enumerate(("block", "allow", "do_not_call", "contacts"), 1):
                await connection.execute(text(
                    "INSERT INTO number_lists (id, name, kind, description) "
                    "VALUES (:id, :name, :kind, '')"), {"id": list_id, "name": f"l-{kind}",
                                                        "kind": kind})
        await migrate(store.engine)
        assert await current_revision(store.engine) == "0033_open_attempts"
        assert await store.config.get("queues", "sales") == QueueSpec(
            name="sales", max_wait_s=300)
        assert await store.config.site() == SiteSpec(name="HQ", time_zone="Europe/Berlin",
                                                     sip_realm="hq")
        kinds = {spec.name: spec.kind for spec in await store.config.records("number_lists")
                 if isinstance(spec, NumberListSpec)}
        assert kinds == {"l-block": "block", "l-allow": "tag", "l-do_not_call": "tag",
                         "l-contacts": "tag"}
    finally:
        await store.close()
