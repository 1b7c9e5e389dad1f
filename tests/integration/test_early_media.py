"""Early media from a real carrier (sipp on 127.0.0.2): a 183 Session Progress with SDP, then
"the subscriber is unavailable" spoken over RTP where ringback should be. Parley recognises
the announcement before any answer and the call is cancelled at once, long before the ring
timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from parley.clock import MonotonicClock
from parley.events import EarlyMediaResult, HangupCause
from parley.media.g711 import Codec
from parley.telephony.channel import ChannelState
from parley.telephony.server import Telephony
from parley.telephony.trunks import TrunkCall, TrunkConfig
from parley.telephony.users import demo_directory
from parley.testing.greetings import speak
from parley.testing.media import audio_packets, write_pcap
from parley.testing.needs import ESPEAK, needs
from parley.testing.peers import Sipp
from parley.testing.ports import free_port

from .conftest import needs_sipp, telephony_settings

pytestmark = [pytest.mark.integration, needs_sipp, needs(ESPEAK)]

CARRIER = "127.0.0.2"


def carrier_scenario(pcap: Path) -> str:
    """A carrier that answers an INVITE with 183 and early media (the pcap), then waits for
    the CANCEL."""
    def reply(status: str, cseq: str = "[last_CSeq:]", sdp: str = "") -> str:
        body = ("Content-Type: application/sdp\nContent-Length: [len]\n\n" + sdp) if sdp \
            else "Content-Length: 0\n"
        return f"""  <send><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]early[call_number]
[last_Call-ID:]
{cseq}
Contact: <sip:carrier@[local_ip]:[local_port]>
{body}
]]></send>
"""
    sdp = ("v=0\no=- 1 1 IN IP4 [media_ip]\ns=-\nc=IN IP4 [media_ip]\nt=0 0\n"
           "m=audio [media_port] RTP/AVP 8\na=rtpmap:8 PCMA/8000\n")
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier early media announcement">
  <recv request="INVITE"/>
{reply("100 Trying")}{reply("183 Session Progress", sdp=sdp)}\
  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>
  <recv request="CANCEL"/>
{reply("200 OK")}{reply("487 Request Terminated", cseq="CSeq: 1 INVITE")}  <recv request="ACK"/>
</scenario>
"""


@pytest.fixture
async def parley(tmp_path: Path) -> AsyncIterator[Telephony]:
    settings = telephony_settings(data_dir=tmp_path / "parley-data", no_answer_timeout=30.0)
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with telephony:
        yield telephony


async def test_an_announcement_in_early_media_closes_the_attempt_before_the_timeout(
        parley: Telephony, tmp_path: Path) -> None:
    spoken = speak("Аппарат абонента выключен или находится вне зоны действия сети.",
                   "ru", 175, 50)
    audio = np.concatenate([np.zeros(2400, np.int16), spoken, np.zeros(8000, np.int16)])
    pcap = write_pcap(tmp_path / "announcement.pcap", audio_packets(audio, Codec.PCMA))
    scenario = tmp_path / "carrier_early.xml"
    scenario.write_text(carrier_scenario(pcap), encoding="utf-8")
    sipp = Sipp(workdir=tmp_path / "carrier", scenario=scenario, host=CARRIER,
                port=free_port(CARRIER), calls=1)
    await sipp.start()
    heard: list[EarlyMediaResult] = []
    recognised = asyncio.Event()

    def on_event(event: object) -> None:
        if isinstance(event, EarlyMediaResult):
            heard.append(event)
            recognised.set()

    parley.subscribe(on_event)
    try:
        await parley.set_trunks([TrunkConfig("carrier-a", host=CARRIER, port=sipp.port,
                                             kind="peer", options_interval=0)])
        started = asyncio.get_running_loop().time()
        channel = await parley.dial_out([TrunkCall("carrier-a", "79161234567")], timeout=30)
        channel.detect_early_media()
        await asyncio.wait_for(recognised.wait(), 10)
        assert channel.state is ChannelState.RINGING  # never answered
        [result] = heard
        assert result.channel_id == channel.id
        assert (result.kind, result.cause) == ("announcement", "unavailable")
        channel.hangup(HangupCause.NORMAL_CLEARING)  # what the dialer shell does with it
        assert await channel.wait_ended(within=5)
        elapsed = asyncio.get_running_loop().time() - started
        assert elapsed < 8  # the announcement, not the 30 s ring timeout
        assert channel.sip_status == 487
        assert (await sipp.wait(within=5)).ok  # CANCEL, 487 and ACK as a carrier expects
    finally:
        await sipp.stop()
