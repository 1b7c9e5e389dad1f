"""Media test helpers: RTP captures for SIPp's ``play_pcap_audio``, and reading them back.

SIPp plays RTP from libpcap files (Ethernet, IPv4, UDP), as its own ``dtmf_2833_*.pcap``.
These helpers write such files from Parley's media code, so an integration test can make a
real peer send a known prompt, in-band DTMF tones or RFC 4733 events:

    write_pcap(path, audio_packets(prompt_pcm, Codec.PCMU))
    write_pcap(path, audio_packets(dtmf_sequence("123#"), Codec.PCMU))
    write_pcap(path, event_stream("42#"))
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from parley.media.dtmf import event_packets
from parley.media.g711 import Codec, encode
from parley.media.player import PcmSource, Player
from parley.media.rtp import RtpPacket
from parley.media.stream import MediaStream, StreamSettings

_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # Ethernet
_MAC_SRC = bytes.fromhex("020000000001")
_MAC_DST = bytes.fromhex("020000000002")

TimedPacket = tuple[float, bytes]  # (seconds from the start, RTP packet)


def _checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(rtp: bytes, src_port: int, dst_port: int) -> bytes:
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(rtp), 0) + rtp
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                               bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])))
    struct.pack_into("!H", ip, 10, _checksum(bytes(ip)))
    return _MAC_DST + _MAC_SRC + b"\x08\x00" + bytes(ip) + udp


def pcap_bytes(packets: Iterable[TimedPacket], *, src_port: int = 6000,
               dst_port: int = 6000, start: float = 1_700_000_000.0) -> bytes:
    """A libpcap capture of RTP packets sent at the given times."""
    out = [_PCAP_HEADER]
    for when, rtp in packets:
        frame = _frame(rtp, src_port, dst_port)
        seconds, micros = divmod(round((start + when) * 1_000_000), 1_000_000)
        out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def write_pcap(path: Path, packets: Iterable[TimedPacket], **options: int) -> Path:
    Path(path).write_bytes(pcap_bytes(packets, **options))
    return Path(path)


def read_pcap(data: bytes) -> list[TimedPacket]:
    """The UDP payloads of an Ethernet/IPv4 libpcap capture, with their times."""
    magic, _, _, _, _, _, link = struct.unpack_from("<IHHiIII", data)
    if magic != 0xA1B2C3D4 or link != 1:
        raise ValueError("not a little-endian Ethernet libpcap file")
    packets: list[TimedPacket] = []
    offset = 24
    first: float | None = None
    while offset + 16 <= len(data):
        seconds, micros, captured, _ = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16:offset + 16 + captured]
        offset += 16 + captured
        ip = frame[14:]
        udp = ip[(ip[0] & 0x0F) * 4:]
        when = seconds + micros / 1e6
        first = when if first is None else first
        packets.append((when - first, bytes(udp[8:])))
    return packets


def audio_packets(pcm: npt.NDArray[np.int16], codec: Codec = Codec.PCMU, *,
                  ssrc: int = 0x5EED, first_sequence: int = 1000,
                  first_timestamp: int = 8000) -> list[TimedPacket]:
    """8 kHz audio as 20 ms RTP packets (a prompt, or in-band DTMF tones)."""
    stream = MediaStream(StreamSettings(codec), ssrc=ssrc, first_sequence=first_sequence,
                         first_timestamp=first_timestamp)
    player = Player([PcmSource(pcm)])
    packets: list[TimedPacket] = []
    while (frame := player.next_pcm()) is not None:
        packets.append((len(packets) * 0.020, stream.audio_packet(encode(frame, codec))))
    return packets


def event_stream(digits: str, *, duration_ms: int = 100, gap_ms: int = 100,
                 payload_type: int = 101, ssrc: int = 0x5EED) -> list[TimedPacket]:
    """RFC 4733 key presses, one after the other, as one RTP stream."""
    stream = MediaStream(StreamSettings(telephone_event_pt=payload_type), ssrc=ssrc,
                         first_sequence=2000, first_timestamp=16000)
    packets: list[TimedPacket] = []
    clock = 0.0
    for digit in digits:
        start = stream.timestamp
        events = event_packets(digit, start, duration_ms)
        for event in events:
            packets.append((clock + event.offset_ms / 1000,
                            stream.event_packet(start, event.payload, event.marker)))
        ticks = len(events) + gap_ms // 20
        for _ in range(ticks):
            stream.idle()
        clock += ticks * 0.020
    return packets


# --- SIPp scenarios that carry these captures -------------------------------------------------

_SIPP_MEDIA = "m=audio {port} RTP/AVP 0{dtmf_pt}\na=rtpmap:0 PCMU/8000\n{dtmf}a=ptime:20"
_SIPP_DTMF = "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n"
_SIPP_TAG = "[pid]caller[call_number]"  # the caller's From tag, for in-dialog requests


SIPP_AWAIT_BYE = """  <recv request="BYE" />
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"""
"""SIPp scenario lines that wait for the other side's BYE and answer it 200 OK."""


def _sipp_media(port: str, dtmf: bool) -> str:
    return _SIPP_MEDIA.format(port=port, dtmf_pt=" 101" if dtmf else "",
                              dtmf=_SIPP_DTMF if dtmf else "")


def sipp_answer(rtp_port: int | str, *, dtmf: bool = False, user: str = "",
                media_ip: str = "127.0.0.1") -> str:
    """SIPp scenario lines that answer the INVITE just received: 200 OK with PCMU (and
    telephone-event with ``dtmf``) at ``rtp_port`` (a number, or ``[media_port]``) on
    ``media_ip`` (or ``[media_ip]``)."""
    contact = f"{user}@" if user else ""
    return f"""  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]media[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:{contact}[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 {media_ip}
s=-
c=IN IP4 {media_ip}
t=0 0
{_sipp_media(str(rtp_port), dtmf)}
]]></send>
"""


def sipp_answerer(rtp_port: int | str, *, dtmf: bool = False,
                  media_ip: str = "127.0.0.1") -> str:
    """A SIPp scenario that answers a call with PCMU (and telephone-event with ``dtmf``),
    its media at ``rtp_port`` on ``media_ip`` (``[media_port]`` and ``[media_ip]``: sipp's
    own, where ``-rtp_echo`` sends back what it gets), then waits for the ACK and the BYE."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="media answerer">
  <recv request="INVITE" />
{sipp_answer(rtp_port, dtmf=dtmf, media_ip=media_ip)}  <recv request="ACK" />
{SIPP_AWAIT_BYE}</scenario>
"""


def sipp_request(method: str, cseq: int, body: str = "", content_type: str = "", *,
                 headers: str = "", expect: int = 200) -> str:
    """A SIPp ``<send>`` of an in-dialog request from :func:`sipp_caller`'s caller, with
    extra ``headers`` lines, and the ``<recv>`` of its ``expect``-ed answer."""
    typed = f"Content-Type: {content_type}\n" if content_type else ""
    extra = f"{headers}\n" if headers else ""
    return f"""  <send retrans="500"><![CDATA[
{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag={_SIPP_TAG}
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
{extra}{typed}Content-Length: {"[len]" if body else "0"}

{body}]]></send>
  <recv response="{expect}" />
"""


def sipp_play(pcap: Path, pause_ms: int) -> str:
    """SIPp scenario lines that send a capture and wait ``pause_ms`` (it plays meanwhile)."""
    return (f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'
            f'  <pause milliseconds="{pause_ms}"/>\n')


def sipp_caller(middle: str = "", *, dtmf: bool = False, requests_before_bye: int = 0,
                caller: str = "sipp") -> str:
    """A SIPp scenario that calls ``[service]`` with PCMU (and telephone-event with ``dtmf``),
    then runs ``middle`` (:func:`sipp_play`, pauses, :func:`sipp_request`), then hangs up.
    ``requests_before_bye`` counts the in-dialog requests in ``middle``, for the BYE's CSeq;
    ``caller`` is the From user (the caller's number; sipp keywords such as
    ``[call_number]`` give each call its own)."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="media caller">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:{caller}@[local_ip]:[local_port]>;tag={_SIPP_TAG}
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
{_sipp_media("[auto_media_port]", dtmf)}
]]></send>
  <recv response="100" optional="true" />
  <recv response="180" optional="true" />
  <recv response="200" />
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:{caller}@[local_ip]:[local_port]>;tag={_SIPP_TAG}
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
{middle}{sipp_request("BYE", 2 + requests_before_bye)}</scenario>
"""


# --- phones made of one UDP socket (relay tests) ---------------------------------------------


def udp_phone() -> socket.socket:
    """A phone's RTP socket on loopback, non-blocking."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def numbered_packet(seq: int, ssrc: int) -> bytes:
    """A PCMU packet whose timestamp and payload follow its sequence number."""
    return bytes(RtpPacket(0, seq, seq * 160, ssrc, payload=bytes([seq & 0xFF]) * 160))


async def received_rtp(sock: socket.socket,
                       count: int) -> list[tuple[RtpPacket, tuple[str, int]]]:
    """What ``sock`` got, with where from; waits a little past ``count`` for duplicates."""
    got: list[tuple[RtpPacket, tuple[str, int]]] = []
    settled = False
    for _ in range(200):
        await asyncio.sleep(0.01 if not settled else 0.04)
        while True:
            try:
                data, address = sock.recvfrom(2048)
            except BlockingIOError:
                break
            got.append((RtpPacket.parse(data), address))
        if settled:
            break
        settled = len(got) >= count
    return got
