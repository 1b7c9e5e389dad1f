"""SIPp sends DTMF three ways to a Parley media stream: its own RFC 4733 captures, RFC 4733
events and in-band tones written by Parley's capture helpers. Exactly the digits sent come
out, in order, once each."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from parley.media.g711 import Codec
from parley.media.rtp import RtpPacket
from parley.media.stream import MediaStream, StreamSettings
from parley.media.tones import dtmf_sequence
from parley.testing.media import audio_packets, event_stream, write_pcap
from parley.testing.peers import Sipp
from parley.testing.ports import free_port

SIPP_PCAPS = Path("/usr/share/sip-tester")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed"),
    pytest.mark.skipif(not (SIPP_PCAPS / "dtmf_2833_1.pcap").is_file(),
                       reason="sipp's dtmf_2833 captures are not installed"),
]

UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="media answerer">
  <recv request="INVITE" />
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]media[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio {rtp_port} RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
]]></send>
  <recv request="ACK" />
  <recv request="BYE" />
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""

UAC_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="dtmf sender">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]dtmf[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
]]></send>
  <recv response="100" optional="true" />
  <recv response="200" />
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]dtmf[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
"""

UAC_TAIL = """  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]dtmf[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" />
</scenario>
"""


def play(pcap: Path, pause_ms: int) -> str:
    return (f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'
            f'  <pause milliseconds="{pause_ms}"/>\n')


async def test_sipp_dtmf_reaches_the_media_stream_exactly_once(tmp_path: Path) -> None:
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp.setblocking(False)
    rtp_port = rtp.getsockname()[1]
    events = write_pcap(tmp_path / "events.pcap", event_stream("42"))
    tones = write_pcap(tmp_path / "tones.pcap",
                       audio_packets(dtmf_sequence("9*", 100, 100), Codec.PCMU))
    uas_xml = tmp_path / "uas_media.xml"
    uas_xml.write_text(UAS.replace("{rtp_port}", str(rtp_port)))
    uac_xml = tmp_path / "uac_dtmf.xml"
    # sipp plays a capture in the background: each pause outlasts its capture (0.16 s,
    # 0.48 s, 0.4 s) with room to spare, so that streams never overlap.
    uac_xml.write_text(UAC_HEAD + play(SIPP_PCAPS / "dtmf_2833_1.pcap", 600)
                       + play(SIPP_PCAPS / "dtmf_2833_pound.pcap", 600)
                       + play(events, 1000) + play(tones, 1000) + UAC_TAIL)
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
