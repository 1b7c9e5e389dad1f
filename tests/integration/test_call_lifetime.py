"""A finished call leaves nothing behind: once its SIP transactions and the short linger for
late retransmissions are over, no channel, leg, SIP session, media endpoint, bridge, media
shell, recording or inbound call of it is left, and reference counting alone has freed them:
the cycle collector is off for the test. A node that kept them would grow by every call it
ever carried; one whose finished calls wait in reference cycles holds them until a full
collection, which a busy node makes rarely (the memory soak in bench/ measures both over
100,000 calls; this is its CI-sized regression test)."""

from __future__ import annotations

import asyncio
import collections
import gc
from pathlib import Path

from parley.app import Node
from parley.center.calls import InboundCall
from parley.net.relay import MediaEndpoint
from parley.sip.dialog import Dialog
from parley.sip.session import InviteSession
from parley.store.specs import QueueSpec
from parley.telephony.channel import Bridge, Channel
from parley.telephony.leg import SipLeg
from parley.telephony.media import CallRecording, MediaShell, Playback
from parley.testing.needs import HOLD_MUSIC, STOCK_PROMPTS, needs
from parley.testing.peers import Sipp

from .conftest import needs_baresip, needs_sipp
from .inbound_node import call_record, caller_scenario, change, demo_node, operator

pytestmark = needs(STOCK_PROMPTS, HOLD_MUSIC)

PER_CALL: tuple[type, ...] = (Channel, SipLeg, InviteSession, Dialog, MediaEndpoint, Bridge,
                              MediaShell, Playback, CallRecording, InboundCall)
CALLS = 6
#: T1 for this node: a loopback round trip is well under a millisecond (RFC 3261 lets a
#: private network choose a smaller T1), and every linger scales with it: 64·T1 = 6.4 s
T1 = 0.1
LINGER = 64 * T1


def live_per_call_objects() -> collections.Counter[str]:
    """Instances of the per-call classes still alive (the collector is off: in a reference
    cycle counts as alive)."""
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects()
                               if isinstance(o, PER_CALL))


def holders(kind: type) -> list[str]:
    """What refers to the remaining instances of ``kind`` (for the failure message)."""
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, kind):
            found += [type(r).__qualname__ for r in gc.get_referrers(obj)
                      if not isinstance(r, list) or len(r) < 1000]
    return sorted(set(found))


async def wait_ready(node: Node, *users: str) -> None:
    for _ in range(100):
        if all(node.center.shell.acd.agents[u].state == "ready" for u in users):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"operators {users} did not become ready")


@needs_sipp
@needs_baresip
async def test_finished_calls_leave_no_channel_leg_bridge_or_call_behind(
        tmp_path: Path) -> None:
    gc.collect()
    gc.disable()
    try:
        await _calls_then_nothing_left(tmp_path)
    finally:
        gc.enable()


async def _calls_then_nothing_left(tmp_path: Path) -> None:
    async with demo_node(tmp_path, sip_t1=T1) as node:
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(
            update={"wrap_up_s": 0, "recording": "all"}))
        phones = [operator(node, tmp_path, user) for user in ("1001", "1002")]
        for phone in phones:
            await phone.start()
        try:
            await wait_ready(node, "1001", "1002")
            scenario, _sent = caller_scenario(tmp_path, talk_s=1.5)
            caller = Sipp(tmp_path / "caller", scenario, service="602", calls=CALLS, rate=1,
                          target=f"127.0.0.1:{node.telephony.sip_port}",
                          extra=("-timeout", "90s", "-timeout_error"))
            await caller.start()
            result = await caller.wait(within=60)
            assert result.ok, result.log
            assert result.successful == CALLS
            await call_record(node, number="602")
            during = live_per_call_objects()
            assert during["Channel"] > 0  # the linger keeps the last calls findable
            left: collections.Counter[str] = collections.Counter()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + LINGER + 15
            while loop.time() < deadline:
                left = live_per_call_objects()
                if not left:
                    break
                await asyncio.sleep(1.0)
            assert not left, (f"still reachable {LINGER + 15:.0f} s after the last call: "
                              f"{dict(left)}; Channel held by {holders(Channel)}")
            page = await node.store.interactions.search(number="602", limit=20)
            assert len([r for r in page.items if r.ended_at is not None]) == CALLS
            assert all(r.operator in {"1001", "1002"} for r in page.items)
        finally:
            for phone in phones:
                await phone.stop()
