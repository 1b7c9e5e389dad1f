"""Queue routing settings on a running node: a setting changed like the API changes it
reaches the contact center's ACD, and a real caller is treated accordingly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from parley.store.specs import QueueSpec

from .conftest import needs_sipp
from .inbound_node import call_record, caller_scenario, change, demo_node, dial


@needs_sipp
async def test_a_closed_queue_sends_the_caller_to_its_voicemail(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        closed = QueueSpec.model_validate({  # no open period on any day: always closed
            **support.model_dump(), "hours": {},
            "overflow": [{"when": "closed", "target": "voicemail"}]})
        await change(node, "queues", closed)
        scenario, _ = caller_scenario(tmp_path, talk_s=8.0, ani="5550188")
        caller = await dial(node, tmp_path, "602", scenario)  # the support queue
        result = await caller.wait(within=40)
        assert result.ok, result.log
        record = await call_record(node, number="5550188")
        for _ in range(50):  # the message is stored just after the caller's leg closed
            messages = await node.store.voicemails.list("support")
            if messages:
                break
            await asyncio.sleep(0.1)
    overflowed = [entry.detail for entry in record.timeline if entry.kind == "overflowed"]
    assert overflowed == [{"from": "support", "to": "voicemail", "target": "",
                           "reason": "closed"}]
    assert record.outcome == "voicemail"
    assert [m.caller for m in messages] == ["5550188"]
