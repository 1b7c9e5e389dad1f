"""Telephony's timers run on the injected clock: a real sipp phone rings for two minutes of
virtual time, which take no real time, and is cancelled exactly when the no-answer timeout
of originate() runs out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from parley.clock import VirtualClock
from parley.events import HangupCause
from parley.telephony.channel import ChannelState
from parley.telephony.server import Telephony
from parley.telephony.users import demo_directory
from parley.testing.peers import Sipp
from parley.testing.ports import free_port

from .conftest import DATA, needs_sipp, telephony_settings

pytestmark = needs_sipp


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Real-time polling for what a real peer does (a guard, not a measurement)."""
    for _ in range(int(within / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)


async def test_the_no_answer_timeout_runs_on_the_injected_clock(tmp_path: Path) -> None:
    clock = VirtualClock()
    settings = telephony_settings(data_dir=tmp_path / "data", media_timeout=3600.0)
    phone = Sipp(tmp_path / "phone", DATA / "uas_ring_until_cancel.xml", port=free_port(),
                 calls=1)
    async with Telephony(settings, demo_directory(settings.realm), clock) as parley:
        try:
            await phone.start()
            channel = parley.originate(f"sip:2000@127.0.0.1:{phone.port}", caller_id="600",
                                       timeout=120)
            await until(lambda: channel.state is ChannelState.RINGING)
            assert channel.state is ChannelState.RINGING
            clock.advance(119.0)
            await asyncio.sleep(0.3)
            assert channel.state is ChannelState.RINGING  # 119 virtual seconds: still ringing
            # (to 120 s exactly: a longer jump would also pass the CANCEL's own retransmission
            # timer, 0.5 s later, before the phone's answer to it could arrive)
            clock.advance(1.0)
            assert channel.ended
            assert channel.hangup_cause is HangupCause.NO_ANSWER
            assert channel.hangup_by == "local"
            result = await phone.wait(10)
        finally:
            await phone.stop()
    assert result.ok, result.log  # the phone saw the CANCEL, answered 487 and got its ACK
