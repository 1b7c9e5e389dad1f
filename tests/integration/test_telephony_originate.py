"""originate() with extra INVITE headers and an interaction id, seen by a real sipp phone,
and the channel registry (channel(), channels())."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from parley.events import ChannelCreated
from parley.telephony.server import Telephony
from parley.testing.media import sipp_answerer
from parley.testing.peers import Sipp
from parley.testing.ports import free_port

from .conftest import needs_sipp

CHECKS = """<recv request="INVITE"><action>
    <ereg regexp="support" search_in="hdr" header="X-Parley-Queue:" check_it="true"
          assign_to="queue" />
    <ereg regexp="^ *gold customer, 2nd call$" search_in="hdr" header="X-Parley-Note:"
          check_it="true" assign_to="note" />
  </action></recv>
  <Reference variables="queue,note" />"""


@needs_sipp
async def test_extra_headers_reach_the_phone_and_the_leg_carries_the_interaction(
        parley: Telephony, tmp_path: Path) -> None:
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the phone's media port
    rtp.bind(("127.0.0.1", 0))
    scenario = tmp_path / "uas_headers.xml"
    scenario.write_text(sipp_answerer(rtp.getsockname()[1])
                        .replace('<recv request="INVITE" />', CHECKS, 1))
    phone = Sipp(tmp_path / "phone", scenario, port=free_port(), calls=1)
    try:
        async with parley.events() as events:
            await phone.start()
            channel = parley.originate(
                f"sip:2000@127.0.0.1:{phone.port}", caller_id="600", timeout=10,
                headers={"X-Parley-Queue": "support",
                         "X-Parley-Note": "gold customer, 2nd call"},
                interaction_id="int-42")
            assert parley.channel(channel.id) is channel
            assert channel in parley.channels()
            assert await channel.wait_answered(within=10)
            channel.hangup()
            result = await phone.wait(10)
            created = await asyncio.wait_for(events.get(), 1)
    finally:
        await phone.stop()
        rtp.close()
    assert result.ok, result.log  # sipp checked both headers in the INVITE
    assert created == ChannelCreated(channel.id, channel.direction, "600", "2000", "int-42")
    assert channel.interaction_id == "int-42"
    assert channel not in parley.channels()


@pytest.mark.parametrize("headers", [{"X-Bad": "a\r\nVia: evil"}, {"Bad Name": "1"},
                                     {"Call-ID": "mine"}])
async def test_bad_headers_are_refused_before_anything_is_sent(
        parley: Telephony, headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="header"):
        parley.originate("sip:2000@127.0.0.1:9", caller_id="600", timeout=1, headers=headers)
    assert parley.channels() == []
    assert parley.engine.stats.calls == 0


async def test_originated_leg_defaults_to_its_own_interaction(parley: Telephony) -> None:
    async with parley.events() as events:
        channel = parley.originate(f"sip:2000@127.0.0.1:{free_port()}", caller_id="600",
                                   timeout=1)
        created = await asyncio.wait_for(events.get(), 1)
        channel.hangup()
    assert isinstance(created, ChannelCreated)
    assert created.interaction_id == channel.id == channel.interaction_id
