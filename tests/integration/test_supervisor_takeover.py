"""A supervisor takes a call over over the API: a baresip customer calls 602 and talks with
operator 1001 (baresip); the supervisor listens on their phone, then takes the call over on
that same leg (no second call). The operator's leg ends and their desk is told; the customer
then hears the supervisor; the call record names the supervisor and the audit log keeps it.
Real SIP/RTP on loopback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from parley.store.specs import DeviceSpec
from parley.testing.peers import Baresip, audio_similarity, noise_signal, read_wav, write_wav

from .conftest import needs_baresip
from .inbound_node import call_record, change, demo_node, operator
from .test_api_live import eventually, logged_in


def _slice(source: Path, target: Path, start_s: float, end_s: float) -> Path:
    """The part of a WAV between two instants (seconds from its start)."""
    samples, rate = read_wav(source)
    part = samples[int(start_s * rate):int(end_s * rate)]
    return write_wav(target, part.clip(-32768, 32767).astype(np.int16), rate)


@needs_baresip
async def test_a_supervisor_listens_then_takes_the_call_over(tmp_path: Path) -> None:
    voice_1001 = write_wav(tmp_path / "1001.wav", noise_signal(30.0, 31))
    voice_boss = write_wav(tmp_path / "boss.wav", noise_signal(30.0, 32))
    async with demo_node(tmp_path) as node:
        await change(node, "devices", DeviceSpec(name="2001", user="supervisor",
                                                 sip_password="pw-boss-2001"))
        await change(node, "devices", DeviceSpec(name="3001", user="admin",
                                                 sip_password="pw-customer-3001"))
        agent = operator(node, tmp_path, "1001", source=voice_1001)
        boss_phone = Baresip(tmp_path / "2001", user="2001", password="pw-boss-2001",
                             server_port=node.telephony.sip_port, auto_answer=True,
                             source=voice_boss)
        customer = Baresip(tmp_path / "3001", user="3001", password="pw-customer-3001",
                           server_port=node.telephony.sip_port)
        phones = (agent, boss_phone, customer)
        notices: list[Any] = []
        try:
            for phone in phones:
                await phone.start()
            async with logged_in(node, "supervisor", "pw-supervisor") as boss, \
                    logged_in(node, "1001", "pw1001") as me, \
                    node.bus.subscribe(lambda e: e.type == "SupervisorMonitoring") as told:

                async def talking() -> list[dict[str, Any]]:
                    return [call for call in (await boss.get("/api/live/calls")).json()
                            if call["state"] == "talking" and call["operator"] == "1001"]

                await customer.dial("602")
                await customer.wait_event("CALL_ESTABLISHED", within=15)
                heard_from = time.monotonic()  # the customer's recording starts here
                await agent.wait_event("CALL_ESTABLISHED", within=15)
                [call] = await eventually(talking, what="1001 in a conversation")
                base = f"/api/live/calls/{call['id']}"
                joined = await boss.post(f"{base}/monitor",
                                         json={"mode": "listen", "device": "2001"})
                assert joined.status_code == 202, joined.text
                notices.append((await asyncio.wait_for(told.get(), 10)).event)
                # an operator may not take a call over
                assert (await me.post(f"{base}/takeover", json={})).status_code == 403
                taken = await boss.post(f"{base}/takeover", json={"device": "2001"})
                assert taken.status_code == 202, taken.text
                assert taken.json() == {"status": "taken"}  # the listening leg is kept
                taken_at = time.monotonic() - heard_from
                notices.append((await asyncio.wait_for(told.get(), 5)).event)
                await agent.wait_event("CALL_CLOSED", within=5)  # the operator's leg ended

                async def handled_by_boss() -> list[dict[str, Any]]:
                    return [c for c in (await boss.get("/api/live/calls")).json()
                            if c["id"] == call["id"] and c["operator"] == "supervisor"
                            and c["state"] == "talking"]

                await eventually(handled_by_boss, what="the supervisor handling the call")
                await asyncio.sleep(4.5)
                await customer.hangup()
                await boss_phone.wait_event("CALL_CLOSED", within=5)
            record = await call_record(node, number="602")
            audit = await node.store.audit.list(action="takeover")
        finally:
            for phone in phones:
                await phone.stop()
    assert [(n.agent_id, n.supervisor, n.mode) for n in notices] == [
        ("1001", "supervisor", "listen"), ("1001", "supervisor", "takeover")]
    # one call to the supervisor's phone: taking over did not dial again
    assert [e.type for e in boss_phone.events].count("CALL_ESTABLISHED") == 1
    after = _slice(customer.received_wav(), tmp_path / "after.wav",
                   taken_at + 0.8, taken_at + 4.3)
    assert audio_similarity(after, voice_boss) > 0.3  # the customer hears the supervisor
    assert audio_similarity(after, voice_1001) < 0.2  # and no longer the operator
    kinds = [(entry.kind, entry.detail.get("by")) for entry in record.timeline]
    assert ("taken over", "supervisor") in kinds, kinds
    assert record.operator == "supervisor"
    assert [(entry.actor, entry.detail["operator"]) for entry in audit.items] == [
        ("supervisor", "1001")]
