"""Consulting and the three-way conference over the API, on real calls: a baresip customer
calls 602 and talks with operator 1001 (baresip); 1001 consults 1002 (the customer holds),
cancels, consults again and makes it a conference, in which the customer hears both
operators; 1002 leaves and the customer stays with 1001. Both desks are told each step
(``ConsultationChanged``) and the audit log keeps them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from parley.store.specs import DeviceSpec
from parley.testing.peers import Baresip, audio_similarity, noise_signal, read_wav, write_wav

from .conftest import needs_baresip
from .inbound_node import change, demo_node, operator
from .test_api_live import acd_state, eventually, logged_in


def _slice(source: Path, target: Path, start_s: float, end_s: float) -> Path:
    """The part of a WAV between two instants (seconds from its start)."""
    samples, rate = read_wav(source)
    part = samples[int(start_s * rate):int(end_s * rate)]
    return write_wav(target, part.clip(-32768, 32767).astype(np.int16), rate)


async def _states(told: Any, agent: str, *wanted: str, within: float = 10.0) -> None:
    """Wait until ``agent``'s desk has been told each of ``wanted`` (in this order)."""
    for state in wanted:
        while True:
            envelope = await asyncio.wait_for(told.get(), within)
            if envelope.event.agent_id == agent and envelope.event.state == state:
                break


@needs_baresip
async def test_consult_cancel_then_conference_where_the_customer_hears_both(
        tmp_path: Path) -> None:
    first = write_wav(tmp_path / "1001.wav", noise_signal(40.0, 21))
    second = write_wav(tmp_path / "1002.wav", noise_signal(40.0, 22))
    mine = write_wav(tmp_path / "customer.wav", noise_signal(40.0, 23))
    async with demo_node(tmp_path) as node:
        await change(node, "devices", DeviceSpec(name="2001", user="supervisor",
                                                 sip_password="pw-boss-2001"))
        one = operator(node, tmp_path, "1001", source=first)
        two = operator(node, tmp_path, "1002", source=second)
        customer = Baresip(tmp_path / "2001", user="2001", password="pw-boss-2001",
                           server_port=node.telephony.sip_port, source=mine)
        phones = (one, customer, two)
        try:
            await one.start()
            await customer.start()
            await acd_state(node, "1001", "ready")
            async with logged_in(node, "1001", "pw1001") as me, \
                    logged_in(node, "1002", "pw1002") as other, \
                    node.bus.subscribe(lambda e: e.type == "ConsultationChanged") as told:
                await customer.dial("602")
                await one.wait_event("CALL_ESTABLISHED", within=20)
                talking_since = time.monotonic()
                await two.start()  # registered after the call: the queue gave it to 1001

                async def mine_now() -> list[dict[str, Any]]:
                    return [call for call in (await me.get("/api/live/calls")).json()
                            if call["state"] == "talking"]

                [call] = await eventually(mine_now, what="1001 in a conversation")
                base = f"/api/live/calls/{call['id']}"
                refused = await other.post(f"{base}/consult", json={"target": "1001"})
                assert refused.status_code == 403  # not 1002's call
                nobody = await me.post(f"{base}/consult", json={"target": "no-such-user"})
                assert nobody.status_code == 422, nobody.text
                assert (await me.post(f"{base}/conference")).status_code == 409
                # consult, then back to the customer
                started = await me.post(f"{base}/consult", json={"target": "1002"})
                assert started.status_code == 202, started.text
                await _states(told, "1002", "ringing", "talking")
                assert (await me.delete(f"{base}/consult")).status_code == 204
                await _states(told, "1001", "ended")
                await two.wait_event("CALL_CLOSED", within=5)
                # consult again, then all three together
                closed = len(two.events)
                assert (await me.post(f"{base}/consult", json={"target": "1002"})
                        ).status_code == 202
                await _states(told, "1001", "ringing", "talking")
                joined = await me.post(f"{base}/conference")
                assert joined.status_code == 202, joined.text
                await _states(told, "1002", "conference")
                mixed_from = time.monotonic() - talking_since
                await asyncio.sleep(4.0)
                mixed_to = time.monotonic() - talking_since
                await two.hangup()  # 1002 leaves; the customer stays with 1001
                await _states(told, "1001", "ended")
                await asyncio.sleep(1.0)
                assert not any(e.type == "CALL_CLOSED" for e in customer.events)
                assert not any(e.type == "CALL_CLOSED" for e in one.events)
                assert len(two.events) > closed
                await customer.hangup()
                await one.wait_event("CALL_CLOSED", within=10)
            audit = await node.store.audit.list(target_type="calls")
            await acd_state(node, "1001", "wrap_up")
        finally:
            for phone in phones:
                await phone.stop()
    heard = _slice(customer.received_wav(), tmp_path / "conference.wav",
                   mixed_from + 0.5, mixed_to)
    assert audio_similarity(heard, first) > 0.3  # the customer heard 1001 ...
    assert audio_similarity(heard, second) > 0.3  # ... and 1002 in the same seconds
    assert [entry.action for entry in audit.items][:4] == [
        "consult_conference", "consult_started", "consult_cancel", "consult_started"]
