"""Migration 0017 on a database with campaign contacts: every number of every contact stored
before it is indexed, so a customer who calls in is found among the tasks already there."""

from __future__ import annotations

import json

from sqlalchemy import text

from parley.store import open_store
from parley.store.database import migrate


async def test_contacts_stored_before_are_found_by_number(empty_database_url: str) -> None:
    store = await open_store(empty_database_url, run_migrations=False)
    try:
        await migrate(store.engine, "0016_recpause")
        numbers = [{"number": "+79161234567", "type": "mobile", "time_zones": []},
                   {"number": "+74957654321", "type": "work", "time_zones": []}]
        async with store.engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO campaigns (id, name, settings, active, status, status_by) "
                "VALUES (1, 'taxi', :settings, true, 'created', '')"),
                {"settings": json.dumps({"mode": "progressive", "queue": "support",
                                         "caller_id": "+74951110000"})})
            await connection.execute(text(
                "INSERT INTO campaign_contacts (id, campaign, contact_id, fields, numbers, "
                "status, attempts, attempts_by_number, dead_numbers, dial_now, cancelled, "
                "added_at, added_by) VALUES (1, 'taxi', 'c1', :fields, :numbers, 'pending', "
                "0, '{}', '[]', false, false, '2026-12-01 10:00:00', '')"),
                {"fields": json.dumps({"plate": "X1"}), "numbers": json.dumps(numbers)})
        await migrate(store.engine)
        [task] = await store.campaigns.open_tasks_by_number("+74957654321")
        assert (task.campaign, task.progress.contact.id) == ("taxi", "c1")
        assert task.progress.contact.attributes == {"plate": "X1"}
    finally:
        await store.close()
