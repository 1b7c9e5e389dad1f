"""The RFC 4733 captures SIPp plays, received exactly once each, in any order."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from parley.media.dtmf import EventReceiver
from parley.media.rtp import RtpPacket
from parley.media.stream import MediaStream, StreamSettings

DATA = Path(__file__).parent / "data"
NAMES = {"*": "star", "#": "pound"}


def read_pcap(path: Path) -> list[RtpPacket]:
    """RTP packets of a libpcap file of Ethernet/IPv4/UDP frames."""
    data = path.read_bytes()
    magic, _, _, _, _, _, link = struct.unpack_from("<IHHiIII", data)
    assert magic == 0xA1B2C3D4
    assert link == 1  # Ethernet
    packets = []
    offset = 24
    while offset < len(data):
        _, _, captured, _ = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16:offset + 16 + captured]
        offset += 16 + captured
        ip = frame[14:]
        udp = ip[(ip[0] & 0x0F) * 4:]
        packets.append(RtpPacket.parse(udp[8:]))
    return packets


def capture(digit: str) -> list[RtpPacket]:
    return read_pcap(DATA / f"dtmf_2833_{NAMES.get(digit, digit)}.pcap")


def receive(digits: str) -> list[str]:
    receiver = EventReceiver()
    got = []
    for digit in digits:
        for packet in capture(digit):
            assert packet.payload_type == 101
            got += [d.digit for d in receiver.feed(packet.timestamp, packet.payload,
                                                   packet.marker)]
    return got + [d.digit for d in receiver.finish()]


def test_each_capture_is_one_press_with_three_end_packets() -> None:
    packets = capture("5")
    assert len(packets) == 10
    assert sum(p.payload[1] >> 7 for p in packets) == 3
    assert receive("5") == ["5"]


@pytest.mark.parametrize("digits", ["1234567890*#", "#*0987654321", "90210", "5555", "1#1#"])
def test_sequences_as_sipp_plays_them(digits: str) -> None:
    assert receive(digits) == list(digits)


def test_through_a_media_stream() -> None:
    stream = MediaStream(StreamSettings(telephone_event_pt=101), ssrc=1)
    digits = [d for key in "*73#" for packet in capture(key) for d in stream.receive(packet)]
    assert [(d.digit, d.method) for d in digits] == [("*", "rfc4733"), ("7", "rfc4733"),
                                                     ("3", "rfc4733"), ("#", "rfc4733")]
    final = [struct.unpack_from("!H", capture(key)[-1].payload, 2)[0] for key in "*73#"]
    assert [d.duration_ms for d in digits] == [samples // 8 for samples in final]
