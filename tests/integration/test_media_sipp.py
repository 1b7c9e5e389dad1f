"""SIPp sends DTMF three ways to a Parley media stream: its own RFC 4733 captures, RFC 4733
events and in-band tones written by Parley's capture helpers. Exactly the digits sent come
out, in order, once each."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from parley.media.g711 import Codec
from parley.media.rtp import RtpPacket
from parley.media.stream import MediaStream, StreamSettings
from parley.media.tones import dtmf_sequence
from parley.testing.media import (
    audio_packets,
    event_stream,
    sipp_answerer,
    sipp_caller,
    sipp_play,
    write_pcap,
)
from parley.testing.needs import SIPP_CAPTURES, SIPP_CAPTURES_DIR, needs
from parley.testing.peers import Sipp
from parley.testing.ports import free_port

pytestmark = [pytest.mark.integration, needs(SIPP_CAPTURES)]

async def test_sipp_dtmf_reaches_the_media_stream_exactly_once(tmp_path: Path) -> None:
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp.setblocking(False)
    rtp_port = rtp.getsockname()[1]
    events = write_pcap(tmp_path / "events.pcap", event_stream("42"))
    tones = write_pcap(tmp_path / "tones.pcap",
                       audio_packets(dtmf_sequence("9*", 100, 100), Codec.PCMU))
    uas_xml = tmp_path / "uas_media.xml"
    uas_xml.write_text(sipp_answerer(rtp_port, dtmf=True))
    uac_xml = tmp_path / "uac_dtmf.xml"
    # sipp plays a capture in the background: each pause outlasts its capture (0.16 s,
    # 0.48 s, 0.4 s) with room to spare, so that streams never overlap.
    uac_xml.write_text(sipp_caller(sipp_play(SIPP_CAPTURES_DIR / "dtmf_2833_1.pcap", 600)
                                   + sipp_play(SIPP_CAPTURES_DIR / "dtmf_2833_pound.pcap", 600)
                                   + sipp_play(events, 1000) + sipp_play(tones, 1000),
                                   dtmf=True))
    uas_port = free_port()
    answerer = Sipp(tmp_path / "uas", uas_xml, port=uas_port)
    caller = Sipp(tmp_path / "uac", uac_xml, target=f"127.0.0.1:{uas_port}", service="500",
                  calls=1)
    received: list[bytes] = []
    loop = asyncio.get_running_loop()

    async def collect() -> None:
        while True:
            data = await loop.sock_recv(rtp, 2048)
            received.append(data)

    collector = asyncio.create_task(collect())
    try:
        await answerer.start()
        await caller.start()
        result = await caller.wait(within=30)
        assert result.ok, result.log
        await asyncio.sleep(0.2)
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        await caller.stop()
        await answerer.stop()
        rtp.close()
    stream = MediaStream(StreamSettings(Codec.PCMU, telephone_event_pt=101, inband_dtmf=True,
                                        jitter_depth=1), ssrc=1)
    digits = []
    for data in received:
        packet = RtpPacket.parse(data)
        digits += stream.receive(packet)
        if packet.payload_type == 0:
            digits += stream.tick()[1]
    digits += stream.finish()
    seen = [(RtpPacket.parse(d).payload_type, RtpPacket.parse(d).sequence) for d in received]
    assert [(d.digit, d.method) for d in digits] == [
        ("1", "rfc4733"), ("#", "rfc4733"), ("4", "rfc4733"), ("2", "rfc4733"),
        ("9", "inband"), ("*", "inband")], seen
