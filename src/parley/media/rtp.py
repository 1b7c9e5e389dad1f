"""RTP and RTCP wire objects (RFC 3550): ``RtpPacket.parse(data)`` and ``bytes(packet)``.

Pure and I/O-free. The relay in :mod:`parley.net.relay` forwards packets without building these
objects (it touches only the header fields it rewrites); these are for code that looks inside:
recorders, players, DTMF detection and tests.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from parley.errors import ParleyError

RTP_VERSION = 2
RTP_HEADER = struct.Struct("!BBHII")
RTCP_HEADER = struct.Struct("!BBH")


class RtpError(ParleyError):
    """Bytes that are not a valid RTP or RTCP packet; the message says which field is wrong."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. ``extension`` is ``(profile, data)`` when the X bit is set."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = field(default=())
    extension: tuple[int, bytes] | None = None
    padding: int = 0  # bytes of padding to add (RFC 3550 §5.1 P bit); 0 for none

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet, or raise :class:`RtpError` naming the fault."""
        if len(data) < RTP_HEADER.size:
            raise RtpError(f"RTP packet of {len(data)} bytes is shorter than the 12-byte header")
        first, second, sequence, timestamp, ssrc = RTP_HEADER.unpack_from(data)
        version = first >> 6
        if version != RTP_VERSION:
            raise RtpError(f"RTP version is {version}, expected 2")
        csrc_count = first & 0x0F
        offset = RTP_HEADER.size + 4 * csrc_count
        if len(data) < offset:
            raise RtpError(f"RTP header announces {csrc_count} CSRCs but the packet is too short")
        csrcs = struct.unpack_from(f"!{csrc_count}I", data, RTP_HEADER.size)
        extension: tuple[int, bytes] | None = None
        if first & 0x10:
            if len(data) < offset + 4:
                raise RtpError("RTP X bit set but no extension header follows")
            profile, words = struct.unpack_from("!HH", data, offset)
            end = offset + 4 + 4 * words
            if len(data) < end:
                raise RtpError(f"RTP extension of {words} words runs past the packet's end")
            extension = (profile, bytes(data[offset + 4:end]))
            offset = end
        padding = 0
        end = len(data)
        if first & 0x20:
            padding = data[-1]
            if padding == 0 or offset + padding > len(data):
                raise RtpError(f"RTP padding count {padding} does not fit the packet")
            end -= padding
        return cls(
            payload_type=second & 0x7F,
            sequence=sequence,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=bytes(data[offset:end]),
            marker=bool(second & 0x80),
            csrcs=tuple(csrcs),
            extension=extension,
            padding=padding,
        )

    def __bytes__(self) -> bytes:
        first = (RTP_VERSION << 6) | len(self.csrcs)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        parts = [RTP_HEADER.pack(first, second, self.sequence & 0xFFFF,
                                 self.timestamp & 0xFFFFFFFF, self.ssrc & 0xFFFFFFFF)]
        parts.extend(struct.pack("!I", csrc) for csrc in self.csrcs)
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4:
                raise RtpError("RTP extension data must be a multiple of 4 bytes")
            parts.append(struct.pack("!HH", profile, len(data) // 4) + data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class RtcpPacket:
    """One RTCP packet of a compound packet: its type (200 SR, 201 RR, 203 BYE…) and body."""

    packet_type: int
    count: int
    body: bytes

    @classmethod
    def parse_compound(cls, data: bytes) -> list[RtcpPacket]:
        """Split a compound RTCP packet into its packets, or raise :class:`RtpError`."""
        packets: list[RtcpPacket] = []
        offset = 0
        while offset < len(data):
            if len(data) - offset < RTCP_HEADER.size + 1:
                raise RtpError(f"RTCP packet at byte {offset} is shorter than its header")
            first, packet_type, words = RTCP_HEADER.unpack_from(data, offset)
            if first >> 6 != RTP_VERSION:
                raise RtpError(f"RTCP version at byte {offset} is {first >> 6}, expected 2")
            end = offset + 4 * (words + 1)
            if end > len(data):
                raise RtpError(f"RTCP packet at byte {offset} runs past the end of the datagram")
            packets.append(cls(packet_type, first & 0x1F, bytes(data[offset + 4:end])))
            offset = end
        if not packets:
            raise RtpError("empty RTCP packet")
        return packets

    def __bytes__(self) -> bytes:
        if len(self.body) % 4:
            raise RtpError("RTCP body must be a multiple of 4 bytes")
        header = RTCP_HEADER.pack((RTP_VERSION << 6) | (self.count & 0x1F), self.packet_type,
                                  len(self.body) // 4)
        return header + self.body


def looks_like_rtcp(data: bytes) -> bool:
    """RTCP and RTP share a port under rtcp-mux; RTCP packet types are 192-223 (RFC 5761)."""
    return len(data) >= 2 and 192 <= data[1] <= 223
