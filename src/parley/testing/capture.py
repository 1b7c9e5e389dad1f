"""What the peers' host received, as a recorder on its wire would have it: every RTP packet
that arrives at a LAN host (parley.testing.netns), by the UDP port it was sent to, with the
moment it arrived.

sipp plays a caller's audio but keeps nothing of what it hears; this capture is the peers'
recording of it, taken on their host's interface (an ``AF_PACKET`` socket in its namespace,
so root is needed as for the namespaces themselves): when each call's audio came back after a
takeover, and whether what came back is the audio expected (a caller's own voice echoed by
an operator's phone, an operator's voice, hold music) by comparing it with its source.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from parley.media.g711 import Codec, decode
from parley.media.rtp import RtpError, RtpPacket
from parley.testing.netns import Host, inside
from parley.testing.peers import audio_similarity, write_wav

ETH_P_IP = 0x0800
PACKET_HOST = 0  # a packet addressed to this host (not one it sent)
SO_TIMESTAMPNS = 35  # Linux: each packet's arrival time, as a struct timespec
_TIMESPEC = struct.Struct("@qq")
_UDP = 17


@dataclass(frozen=True)
class Heard:
    """One RTP packet as it arrived: when (``time.monotonic()``), from where, and the packet."""

    at: float
    source: tuple[str, int]
    packet: RtpPacket


@dataclass
class RtpCapture:
    """The RTP packets arriving at ``host``'s interface, kept by destination port while
    running (``async with``); other traffic (SIP, ARP, its own sending) is left out."""

    host: Host
    heard: dict[int, list[Heard]] = field(default_factory=lambda: defaultdict(list))
    _socket: socket.socket | None = None
    _offset: float = 0.0

    async def __aenter__(self) -> RtpCapture:
        with inside(self.host.namespace):
            made = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        made.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        # the kernel's arrival time, not when this loop got round to reading (the wall
        # clock's: turned into the monotonic clock's by their difference now)
        made.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._offset = time.monotonic() - time.time()
        made.bind((self.host.device, ETH_P_IP))
        made.setblocking(False)
        self._socket = made
        asyncio.get_running_loop().add_reader(made.fileno(), self._read)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None:
            asyncio.get_running_loop().remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None

    def _read(self) -> None:
        assert self._socket is not None  # noqa: S101 - only while running
        while True:
            try:
                data, ancillary, _flags, address = self._socket.recvmsg(
                    2048, socket.CMSG_SPACE(_TIMESPEC.size))
            except BlockingIOError:
                return
            if address[2] != PACKET_HOST:
                continue
            at = time.monotonic()
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS \
                        and len(value) >= _TIMESPEC.size:
                    seconds, nanoseconds = _TIMESPEC.unpack_from(value)
                    at = seconds + nanoseconds / 1e9 + self._offset
            self._take(at, data)

    def _take(self, now: float, data: bytes) -> None:
        if len(data) < 28 or data[0] >> 4 != 4 or data[9] != _UDP:
            return
        header = (data[0] & 0x0F) * 4
        if socket.inet_ntoa(data[16:20]) != self.host.ip:
            return
        source_port, port = struct.unpack_from("!HH", data, header)
        payload = data[header + 8:]
        if len(payload) < 12 or payload[0] >> 6 != 2 or 72 <= payload[1] & 0x7F <= 95:
            return  # not RTP (an RTCP packet's type is 200-204: 72-76 once its bit is off)
        try:
            packet = RtpPacket.parse(payload)
        except RtpError:
            return
        self.heard[port].append(Heard(now, (socket.inet_ntoa(data[12:16]), source_port),
                                      packet))

    def ports(self, *, lowest: int = 0, highest: int = 65535) -> list[int]:
        """The ports (between ``lowest`` and ``highest``) that received RTP, in order."""
        return sorted(port for port in self.heard if lowest <= port <= highest)

    def count_between(self, port: int, start: float, end: float) -> int:
        """Packets that arrived at ``port`` in [``start``, ``end``)."""
        return sum(1 for heard in self.heard[port] if start <= heard.at < end)

    def first_after(self, port: int, moment: float, *, run: int = 5) -> float | None:
        """When the first of ``run`` packets in a row (none more than 0.1 s after the one
        before) arrived at ``port`` after ``moment``: the audio back, not a stray packet."""
        times = [heard.at for heard in self.heard[port] if heard.at > moment]
        for index in range(len(times) - run + 1):
            if times[index + run - 1] - times[index] <= 0.1 * (run - 1):
                return times[index]
        return None

    def longest_silence(self, port: int, start: float, end: float) -> float:
        """The longest time in [``start``, ``end``] with nothing arriving at ``port``."""
        times = [start, *(heard.at for heard in self.heard[port] if start < heard.at < end),
                 end]
        return max(later - earlier for earlier, later in itertools.pairwise(times))

    def wav(self, port: int, start: float, end: float, path: Path,
            codec: Codec = Codec.PCMU) -> Path:
        """The audio that arrived at ``port`` in [``start``, ``end``) in arrival order,
        decoded into a WAV at ``path`` (for parley.testing.peers.audio_similarity)."""
        payloads = [heard.packet.payload for heard in self.heard[port]
                    if start <= heard.at < end and heard.packet.payload_type == int(codec)]
        pcm = (np.concatenate([decode(payload, codec) for payload in payloads])
               if payloads else np.zeros(0, dtype=np.int16))
        return write_wav(path, pcm)

    def hears(self, port: int, start: float, end: float, sources: Sequence[Path],
              path: Path) -> float:
        """How well what arrived at ``port`` in [``start``, ``end``) matches the best of
        ``sources`` (audio_similarity over 1 s windows: unrelated audio scores near 0, a
        G.711 path above 0.9); the audio heard is left at ``path``."""
        heard = self.wav(port, start, end, path)
        return max(audio_similarity(heard, source, window_s=1.0) for source in sources)
