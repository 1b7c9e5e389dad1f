"""Placing a call when the node has no RTP port pair left: the call is refused with a cause
(the caller of a dial plan gets a final answer), never a crashed call task."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.clock import MonotonicClock
from parley.events import HangupCause
from parley.telephony.engine import OriginateError
from parley.telephony.server import Telephony
from parley.telephony.users import demo_directory
from parley.testing.ports import free_port_block, telephony_settings


async def test_no_rtp_port_left_refuses_the_call_with_congestion(tmp_path: Path) -> None:
    first = free_port_block(2)
    settings = telephony_settings(rtp_ports=(first, first + 1), data_dir=tmp_path / "data")
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with telephony:
        taken = telephony.relay.open()  # the only pair
        try:
            with pytest.raises(OriginateError, match="no free RTP port") as refused:
                telephony.originate("sip:2002@127.0.0.1:5999", caller_id="2001", timeout=5)
            assert refused.value.cause is HangupCause.SWITCH_CONGESTION
            assert not telephony.engine.channels
        finally:
            taken.close()
