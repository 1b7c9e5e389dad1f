"""A supervisor joins an operator's conversation over the API: their phone rings once, they
listen, then whisper without being called again, then leave; the operator's desk is told
(``SupervisorMonitoring`` on the ``operator`` topic) and the audit log keeps each step. Real
SIP/RTP on loopback: a SIPp caller, baresip phones for the operator and the supervisor."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from parley.store.specs import DeviceSpec
from parley.testing.peers import Baresip, Sipp, audio_similarity

from .conftest import needs_baresip, needs_sipp
from .inbound_node import caller_scenario, change, demo_node, operator
from .test_api_live import acd_state, eventually, logged_in


@needs_sipp
@needs_baresip
async def test_a_supervisor_listens_then_whispers_then_leaves_on_one_call(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        await change(node, "devices", DeviceSpec(name="2001", user="supervisor",
                                                 sip_password="pw-boss-2001"))
        agent = operator(node, tmp_path, "1001")
        boss_phone = Baresip(tmp_path / "2001", user="2001", password="pw-boss-2001",
                             server_port=node.telephony.sip_port, auto_answer=True)
        scenario, sent = caller_scenario(tmp_path, talk_s=9.0)
        caller = Sipp(tmp_path / "caller", scenario, service="602", calls=1,
                      target=f"127.0.0.1:{node.telephony.sip_port}")
        await agent.start()
        await boss_phone.start()
        notices: list[Any] = []
        try:
            await acd_state(node, "1001", "ready")
            async with logged_in(node, "supervisor", "pw-supervisor") as boss, \
                    logged_in(node, "1001", "pw1001") as me, \
                    node.bus.subscribe(lambda e: e.type == "SupervisorMonitoring") as told:
                await caller.start()
                await agent.wait_event("CALL_ESTABLISHED", within=15)

                async def talking() -> list[dict[str, Any]]:
                    return [call for call in (await boss.get("/api/live/calls")).json()
                            if call["state"] == "talking" and call["operator"] == "1001"]

                [call] = await eventually(talking, what="1001 in a conversation")
                path = f"/api/live/calls/{call['id']}/monitor"
                # an operator may not listen in
                assert (await me.post(path, json={"mode": "listen"})).status_code == 403
                nonsense = await boss.post(path, json={"mode": "spy", "device": "2001"})
                assert nonsense.status_code == 422
                joined = await boss.post(path, json={"mode": "listen", "device": "2001"})
                assert joined.status_code == 202, joined.text
                assert joined.json() == {"status": "ringing"}
                notices.append((await asyncio.wait_for(told.get(), 10)).event)
                await asyncio.sleep(2.5)
                whisper = await boss.post(path, json={"mode": "whisper", "device": "2001"})
                assert whisper.json() == {"status": "changed"}
                notices.append((await asyncio.wait_for(told.get(), 5)).event)
                await asyncio.sleep(2.0)
                left = await boss.delete(path)
                assert left.status_code == 204, left.text
                await boss_phone.wait_event("CALL_CLOSED", within=5)
                notices.append((await asyncio.wait_for(told.get(), 5)).event)
                again = await boss.delete(path)
                assert again.status_code == 404
                result = await caller.wait(within=30)
                assert result.ok, result.log
            audit = await node.store.audit.list(action="monitor")
        finally:
            await caller.stop()
            await agent.stop()
            await boss_phone.stop()
    assert [(n.agent_id, n.supervisor, n.mode) for n in notices] == [
        ("1001", "supervisor", "listen"), ("1001", "supervisor", "whisper"),
        ("1001", "supervisor", "left")]
    # one call to the supervisor's phone: the change of mode did not dial again
    assert [e.type for e in boss_phone.events].count("CALL_ESTABLISHED") == 1
    # listening, the supervisor heard the conversation
    assert audio_similarity(boss_phone.received_wav(), sent) > 0.4
    assert [(entry.actor, entry.detail["mode"]) for entry in audit.items] == [
        ("supervisor", "whisper"), ("supervisor", "listen")]  # newest first
