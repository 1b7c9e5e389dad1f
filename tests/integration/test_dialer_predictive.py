"""A predictive campaign over real calls, small enough for CI (bench/dialer_live_predictive.py
runs the long version against the simulator).

sipp carriers answer as a person after a short ring (a "hello", then they wait), or ring
until cancelled; three sipp operators answer every call and the desk hangs up after a short
talk. The test:

- makes one answered call find no operator free (the operators step away while it rings): the
  customer hears the compliance message (speech arrives at the carrier's media address), the
  attempt counts as abandoned, and the contact is dialled again in progressive mode, an
  operator reserved first, no earlier than the campaign's gap after an abandoned call;
- lets the pacing dial persons and unanswered numbers ahead of operators (no reservation) and
  checks that the measured abandon rate stays under the campaign's cap;
- finds every attempt in the store, ended, with its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from parley import events as ev
from parley.center.ports import AttemptFacts
from parley.media.g711 import Codec, decode
from parley.media.rtp import RtpError, RtpPacket
from parley.store.specs import AbandonSpec, CampaignSpec
from parley.testing.media import SIPP_AWAIT_BYE, sipp_answer
from parley.testing.ports import free_port

from .conftest import DATA, needs_sipp
from .inbound_node import change, demo_node
from .test_dialer_live import (
    CARRIER,
    PERSON,
    SILENT,
    attempts,
    contact,
    hang_up_conversations,
    play,
    site,
    until,
    voices,
)

LATE = "+7495600"  # a person who answers after 3 s of ringing, heard by the test itself
OPERATORS3 = ("1001", "1002", "1003")
CAP = 0.15
ABANDON_GAP_S = 4.0


def ringing(tmp_path: Path, name: str, ring_ms: int, middle: str, *,
            media_port: int | None = None) -> Path:
    """A carrier that rings ``ring_ms`` before it answers, runs ``middle`` and waits for
    Parley's BYE; with ``media_port`` its media goes to that port on the carrier's address
    (a socket of the test) instead of sipp's own."""
    if media_port is None:
        answer = sipp_answer("[media_port]").replace("127.0.0.1", "[media_ip]")
    else:
        answer = sipp_answer(media_port).replace("127.0.0.1", CARRIER)
    path = tmp_path / f"{name}.xml"
    path.write_text(f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="{name}">
  <recv request="INVITE" />
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]media[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
  <pause milliseconds="{ring_ms}"/>
{answer}  <recv request="ACK" />
{middle}{SIPP_AWAIT_BYE}</scenario>
""")
    return path


class Ear(asyncio.DatagramProtocol):
    """The customer's ear: counts the 20 ms frames of speech (PCMU above a quiet level) that
    Parley sends to the carrier's media address."""

    def __init__(self) -> None:
        self.speech_frames = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return
        if packet.payload_type != 0 or not packet.payload:
            return
        pcm = decode(packet.payload, Codec.PCMU).astype(np.float64)
        if float(np.sqrt(np.mean(pcm * pcm))) > 300.0:
            self.speech_frames += 1


@contextlib.asynccontextmanager
async def ear_at(host: str) -> AsyncIterator[tuple[Ear, int]]:
    loop = asyncio.get_running_loop()
    port = free_port(host)
    transport, ear = await loop.create_datagram_endpoint(Ear, local_addr=(host, port))
    try:
        yield ear, port
    finally:
        transport.close()


@dataclass(frozen=True)
class StateSeen:
    agent_id: str
    new: str
    call_id: str
    at: datetime


@needs_sipp
async def test_a_predictive_campaign_over_real_calls(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node, ear_at(CARRIER) as (ear, ear_port):
        person, _ = await voices(node, tmp_path)
        carriers: dict[str, Path | str] = {
            PERSON: ringing(tmp_path, "person", 800, play(person)),
            SILENT: DATA / "uas_ring_until_cancel.xml",
            LATE: ringing(tmp_path, "late", 3000, "", media_port=ear_port)}
        peers = await site(node, tmp_path, carriers, "", operators=OPERATORS3)
        seen: list[StateSeen] = []

        def observe(out: list[Any]) -> None:
            seen.extend(StateSeen(c.agent_id, c.new, c.call_id, node.clock.utcnow())
                        for c in out if isinstance(c, ev.AgentStateChanged))

        node.dialer.acd.observers.append(observe)
        stop = asyncio.Event()
        talker = asyncio.create_task(hang_up_conversations(node, 1.5, stop,
                                                           operators=OPERATORS3))
        try:
            await change(node, "campaigns", CampaignSpec(
                name="predict", mode="predictive", queue="dialout", agents=list(OPERATORS3),
                caller_id="+74951110000", call_window="any", ring_timeout_s=5,
                detect_machine=False, abandon=AbandonSpec(cap=CAP),
                compliance_message="This call was made on behalf of Parley Sales. "
                                   "We will call you again later.",
                retry={"abandoned": f"{int(ABANDON_GAP_S)}s", "no_answer": "1h"}))
            # 1. The late answer finds nobody: the operators step away while it rings.
            ids = await node.store.campaigns.add_contacts("predict", [
                contact("late", f"{LATE}0001")])
            await node.dialer.contacts_added("predict", ids)
            await until(lambda: len(node.dialer.calls.attempts) == 1, 10, "the first dial")
            for user in OPERATORS3:
                node.dialer.acd.feed(ev.AgentNotReady(user, "break"))
            await until(lambda: ear.speech_frames >= 50, 15,
                        "a second of the compliance message at the customer's ear")
            [abandoned] = await attempts(node, "predict")
            for user in OPERATORS3:
                node.dialer.acd.feed(ev.AgentReady(user))
            # 2. Persons and unanswered numbers, dialled ahead by the pacing.
            batch = [contact(f"p{i}", f"{PERSON}{i:04d}") for i in range(1, 9)]
            batch += [contact(f"s{i}", f"{SILENT}{i:04d}") for i in range(1, 5)]
            ids = await node.store.campaigns.add_contacts("predict", batch)
            await node.dialer.contacts_added("predict", ids)

            async def settled() -> bool:
                rows = await node.store.campaigns.load_contacts("predict")
                open_ids = {p.contact.id for p in rows}
                found = await attempts(node, "predict")
                return (not node.dialer.calls.attempts and "late" not in open_ids
                        and not any(c.startswith("p") for c in open_ids)
                        and all(a.ended_at is not None and a.outcome for a in found)
                        and len(found) >= 14)

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 45
            while not await settled():
                assert loop.time() < deadline, (await attempts(node, "predict"),
                                                node.dialer.figures("predict"))
                await asyncio.sleep(0.5)
            found = await attempts(node, "predict")
            figures = node.dialer.figures("predict")
            first_call = await node.store.interactions.get(abandoned.attempt_id)
        finally:
            stop.set()
            await talker
            node.dialer.acd.observers.remove(observe)
            results = [await peer.stop() for peer in peers]
    by_contact: dict[str, list[AttemptFacts]] = {}
    for attempt in sorted(found, key=lambda a: a.started_at):
        by_contact.setdefault(attempt.contact_id, []).append(attempt)
    # the abandoned answer: compliance message, counted abandoned, no operator
    first, second = by_contact["late"]
    assert first.attempt_id == abandoned.attempt_id
    assert (first.outcome, first.operator, first.sip_status) == ("abandoned", None, 200), first
    assert first.answered_at is not None
    assert first_call is not None
    kinds = [entry.kind for entry in first_call.timeline]
    assert "compliance message" in kinds, kinds
    # ... dialled again with an operator reserved first, no earlier than the gap
    abandoned_at = first.answered_at.timestamp() + 2.0  # the compliance grace
    # (an operator passes "reserved" on the way to a predictive call too: the first one)
    reserved = next(s for s in seen if s.new == "reserved" and s.call_id == second.attempt_id)
    assert reserved.at.timestamp() >= abandoned_at + ABANDON_GAP_S - 0.5, (reserved, first)
    # reserved with the dial (the ACD takes it in the same turn of the loop)
    assert abs((reserved.at - second.started_at).total_seconds()) < 0.5, (reserved, second)
    assert (second.outcome, second.operator) == ("human", reserved.agent_id), second
    # persons dialled ahead of operators (no reservation), each reached an operator
    assert second.answered_at is not None
    assert (second.answered_at - reserved.at).total_seconds() > 2.0  # it rang 3 s
    ahead = {a.attempt_id: a for c, rows in by_contact.items() if c != "late" for a in rows}
    early = [s for s in seen if s.new == "reserved" and s.call_id in ahead
             and (ahead[s.call_id].answered_at is None or s.at < ahead[s.call_id].answered_at)]
    assert not early, early  # an operator only once the person answered
    for i in range(1, 9):
        talks = [a for a in by_contact[f"p{i}"] if a.outcome == "human"]
        [talk] = talks
        assert talk.operator in OPERATORS3, talk
    for i in range(1, 5):
        [rang] = by_contact[f"s{i}"]
        assert (rang.outcome, rang.answered_at) == ("no_answer", None)
    # the measured abandon rate stays under the cap; every attempt is stored and ended
    stats = figures.stats
    assert stats.live_answers >= 10
    assert stats.abandoned / stats.live_answers <= CAP, stats
    assert figures.stats.abandon_rate_window <= CAP
    assert len(found) == stats.dialled
    assert all(a.ended_at is not None and a.outcome for a in found), found
    operators = results[-3:]
    assert all(r.failed == 0 for r in operators), [r.log for r in operators]
