"""A node started after a stop or a crash closes the campaign attempts it finds cut short:
their rows would otherwise stay open in every list, export and report (their contacts are
taken back as waiting and dialled again, as docs/dialer.md says)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from parley.center.ports import AttemptFacts
from parley.dialer.contacts import Contact, PhoneNumber
from parley.dialer.model import NumberType
from parley.store import open_store
from parley.store.database import database_url
from parley.store.specs import CampaignSpec, QueueSpec
from parley.testing.node import demo_node

NUMBER = "+79161234567"


async def test_attempts_cut_short_by_a_stop_are_closed_by_the_next_start(
        tmp_path: Path) -> None:
    store = await open_store(database_url(None, tmp_path / "data"))
    try:  # what a node left behind when it failed: one answered attempt, one ringing
        await store.config.put("queues", QueueSpec(name="dialout"))
        await store.config.put("campaigns", CampaignSpec(
            name="renewals", mode="progressive", queue="dialout", caller_id="+74951110000",
            call_window="any", active=False))
        await store.campaigns.add_contacts("renewals", [Contact("c1", (PhoneNumber(
            NUMBER, NumberType.MOBILE, ("Europe/Moscow",)),))], by="crm-bot")
        started = store.clock.utcnow() - timedelta(minutes=5)
        talking = AttemptFacts("att-1", "renewals", "c1", NUMBER, "mobile", started,
                               trunk="carrier", answered_at=started + timedelta(seconds=8),
                               sip_status=200, outcome="human", operator="1001")
        ringing = AttemptFacts("att-2", "renewals", "c1", NUMBER, "mobile",
                               started + timedelta(minutes=1), trunk="carrier")
        done = AttemptFacts("att-0", "renewals", "c1", NUMBER, "mobile",
                            started - timedelta(hours=1), ended_at=started, outcome="busy")
        for facts in (done, talking, ringing):
            await store.campaigns.save_attempt(facts)
        assert [f.attempt_id for f in await store.campaigns.open_attempts()] == [
            "att-1", "att-2"]
    finally:
        await store.close()

    async with demo_node(tmp_path) as node:
        await node.dialer.wait_loaded()
        for _ in range(50):  # written by the dialer's store writer
            if not await node.store.campaigns.open_attempts():
                break
            await asyncio.sleep(0.1)
        by_id = {f.attempt_id: f for f in (await node.store.campaigns.attempts(
            "renewals")).items}
        assert by_id["att-0"] == done  # an attempt that had ended is left as it was
        for facts, outcome in ((talking, "human"), (ringing, "failed")):
            closed = by_id[facts.attempt_id]
            assert closed.ended_at is not None
            assert closed.ended_at > facts.started_at
            assert closed.outcome == outcome  # what it was so far, else a failed attempt
            assert (closed.trunk, closed.operator) == (facts.trunk, facts.operator)
