"""RTP/RTCP wire objects: byte-exact round trips and clear errors."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley.media.rtp import RtcpPacket, RtpError, RtpPacket, looks_like_rtcp


def test_round_trip_with_csrc_extension_padding_and_marker() -> None:
    packet = RtpPacket(96, 65535, 2**32 - 1, 0xDEADBEEF, b"\x01\x02", marker=True,
                       csrcs=(1, 2), extension=(0xBEDE, b"\x00" * 4), padding=3)
    assert RtpPacket.parse(bytes(packet)) == packet


def test_g711_packet_bytes() -> None:
    data = bytes.fromhex("80000001000000a0000004d2") + b"\xff" * 160
    packet = RtpPacket.parse(data)
    assert (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc) == (
        0, 1, 160, 1234)
    assert bytes(packet) == data


@pytest.mark.parametrize(("data", "fault"), [
    (b"\x80\x00", "shorter than the 12-byte header"),
    (bytes.fromhex("40000001000000a0000004d2"), "version is 1"),
    (bytes.fromhex("83000001000000a0000004d2"), "CSRCs"),
    (bytes.fromhex("a0000001000000a0000004d2") + b"\x00", "padding"),
])
def test_malformed_packets_name_the_fault(data: bytes, fault: str) -> None:
    with pytest.raises(RtpError, match=fault):
        RtpPacket.parse(data)


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_rtp_error(data: bytes) -> None:
    with contextlib.suppress(RtpError):
        RtpPacket.parse(data)


def test_rtcp_compound_split_and_detection() -> None:
    report = RtcpPacket(201, 0, b"\x00\x00\x04\xd2")
    bye = RtcpPacket(203, 1, b"\x00\x00\x04\xd2")
    data = bytes(report) + bytes(bye)
    assert RtcpPacket.parse_compound(data) == [report, bye]
    assert looks_like_rtcp(data)
    assert not looks_like_rtcp(bytes(RtpPacket(0, 1, 1, 1)))
