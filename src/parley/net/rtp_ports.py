"""The RTP port pool: even ports from the configured range, each with its RTCP port + 1."""

from __future__ import annotations

import socket

from parley.errors import ParleyError


class PortPoolExhausted(ParleyError):
    """Every RTP port in the configured range is in use (or taken by another program)."""


class RtpPortPool:
    """Hands out bound, non-blocking UDP socket pairs (RTP on an even port, RTCP on the next).

    Allocation walks the range round-robin from where it last stopped, so a port just released
    is not reused at once (late packets of the old call then cannot leak into a new one).
    """

    def __init__(self, host: str, first: int, last: int) -> None:
        if first % 2:
            first += 1
        if last - first < 1:
            raise ValueError(f"RTP port range {first}-{last} holds no even/odd port pair")
        self.host = host
        self.first = first
        self.last = last
        self._cursor = first
        self._in_use: set[int] = set()

    @property
    def capacity(self) -> int:
        return (self.last - self.first + 1) // 2

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def allocate(self) -> tuple[socket.socket, socket.socket]:
        """Bind the next free pair; raises :class:`PortPoolExhausted` when none is left."""
        for _ in range(self.capacity):
            port = self._cursor
            self._cursor += 2
            if self._cursor + 1 > self.last:
                self._cursor = self.first
            if port in self._in_use:
                continue
            try:
                return self._bind(port)
            except OSError:
                continue
        raise PortPoolExhausted(
            f"no free RTP port pair left in {self.first}-{self.last} ({self.in_use} in use); "
            "widen --rtp-ports")

    def take(self, port: int) -> tuple[socket.socket, socket.socket]:
        """Bind the pair at ``port`` (a call carried over from another node keeps its
        ports); raises :class:`PortPoolExhausted` for a port outside the range or in use
        here, OSError when another program holds it."""
        if not self.first <= port < self.last or port % 2 or port in self._in_use:
            raise PortPoolExhausted(
                f"RTP port {port} is outside {self.first}-{self.last} or in use")
        return self._bind(port)

    def _bind(self, port: int) -> tuple[socket.socket, socket.socket]:
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtp.bind((self.host, port))
            rtcp.bind((self.host, port + 1))
        except OSError:
            rtp.close()
            rtcp.close()
            raise
        for sock in (rtp, rtcp):
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._in_use.add(port)
        return rtp, rtcp

    def release(self, port: int) -> None:
        self._in_use.discard(port)
