"""SIP over WebSocket (RFC 7118): browsers' connections as a transport of :mod:`parley.net`.

The WebSocket itself belongs to the web server (the ``/sip`` route of
:mod:`parley.web.sip_ws` accepts it with the ``sip`` subprotocol); this module is what the
route hands each frame to and what :class:`parley.net.transport.SipTransport` sends through.
One frame carries one whole SIP message (RFC 7118 §5), so there is no stream framing: each
frame is parsed by :func:`parley.sip.message.parse_message` and delivered with a
:class:`~parley.net.transport.Peer` of transport ``WS`` (or ``WSS`` over HTTPS).

A browser cannot be connected to: requests toward it (an INVITE to a registered browser, a
BYE) go back over the connection it registered on, which :class:`WsConnections` finds by the
peer's host and port. When that connection closes, ``on_closed`` tells the SIP engine, which
drops the bindings registered over it.

:class:`WsLimits` bound each connection: a frame larger than ``max_message_bytes``, more than
``messages_per_second`` sustained (``burst`` at once), silence longer than ``idle_s`` or a
frame that is not a SIP message closes that connection with a logged reason; no other
connection notices. ``max_connections`` caps them all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from parley.sip.errors import SipParseError
from parley.sip.message import SipRequest, SipResponse, parse_message

log = structlog.get_logger("parley.net.websocket")

#: WebSocket close codes (RFC 6455 §7.4.1) used when Parley closes a connection.
CLOSE_POLICY = 1008  # a malformed message or too many of them
CLOSE_TOO_BIG = 1009
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_LATER = 1013


@dataclass(frozen=True)
class WsLimits:
    """Bounds on SIP-over-WebSocket connections (see the module docstring)."""

    max_message_bytes: int = 65_536
    messages_per_second: float = 20.0
    burst: int = 60
    idle_s: float = 3900.0  # longer than the longest registration a browser refreshes
    max_connections: int = 2000

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "burst", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"websocket {name} must be at least 1")
        for name in ("messages_per_second", "idle_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"websocket {name} must be positive")


class WsClosed(Exception):
    """The connection must close: ``code`` (RFC 6455) and ``reason`` say why."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


SipMessage = SipRequest | SipResponse
Deliver = Callable[[SipMessage, "WsConnection"], None]


class WsConnection:
    """One browser's connection: what arrives is checked and delivered, what the engine sends
    is handed to ``send_text`` (the web route's queue toward the socket)."""

    def __init__(self, key: tuple[str, int], transport: str, send_text: Callable[[str], None],
                 limits: WsLimits, now: float) -> None:
        self.key = key
        self.transport = transport  # "WS" or "WSS"
        self._send_text = send_text
        self.limits = limits
        self._tokens = float(limits.burst)
        self._refilled = now
        self.last_seen = now
        self.messages = 0
        self.closed = False
        #: Set by the web route: closes the socket from Parley's side (code, reason).
        self.closer: Callable[[int, str], None] | None = None

    @property
    def host(self) -> str:
        return self.key[0]

    @property
    def port(self) -> int:
        return self.key[1]

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"

    def check(self, data: str | bytes, now: float) -> SipMessage | None:
        """The SIP message in one frame, None for a keep-alive (CRLF); raises
        :class:`WsClosed` when the frame breaks a limit or is not a SIP message."""
        size = len(data.encode() if isinstance(data, str) else data)
        if size > self.limits.max_message_bytes:
            raise WsClosed(CLOSE_TOO_BIG, f"a message of {size} bytes, more than "
                                          f"{self.limits.max_message_bytes}")
        elapsed = max(0.0, now - self._refilled)
        self._refilled = now
        self._tokens = min(float(self.limits.burst),
                           self._tokens + elapsed * self.limits.messages_per_second)
        if self._tokens < 1.0:
            raise WsClosed(CLOSE_POLICY, f"more than {self.limits.messages_per_second:g} "
                                         "messages per second")
        self._tokens -= 1.0
        self.last_seen = now
        raw = data.encode() if isinstance(data, str) else data
        if not raw.strip(b"\r\n"):
            return None
        try:
            message = parse_message(raw)
        except SipParseError as exc:
            where = f" ({exc.header})" if exc.header else ""
            raise WsClosed(CLOSE_POLICY, f"not a SIP message: {exc.reason}{where}"[:120]) \
                from exc
        self.messages += 1
        return message

    def send(self, data: bytes) -> None:
        """Queue one SIP message for the socket (a text frame)."""
        if not self.closed:
            self._send_text(data.decode("utf-8", errors="replace"))

    def close_soon(self, code: int, reason: str) -> None:
        """Close the socket from Parley's side after what is queued (the browser
        reconnects and registers again, as after a network blip)."""
        if not self.closed and self.closer is not None:
            self.closer(code, reason)


class WsConnections:
    """The open SIP-over-WebSocket connections of one node, by peer host and port."""

    def __init__(self, limits: WsLimits | None = None) -> None:
        self.limits = limits or WsLimits()
        self._open: dict[tuple[str, int], WsConnection] = {}
        self._next_port = 1
        self._emptied: asyncio.Event | None = None  # set once all are closed (close_all)
        self.deliver: Deliver | None = None  # set by SipTransport
        self.on_closed: Callable[[WsConnection], None] | None = None  # set by the engine
        #: Figures for metrics: connections refused at the cap, closed for a broken limit.
        self.refused = 0
        self.closed_by_limit = 0

    def __len__(self) -> int:
        return len(self._open)

    def get(self, host: str, port: int) -> WsConnection | None:
        return self._open.get((host, port))

    def connections(self) -> list[WsConnection]:
        """The open connections, oldest first."""
        return list(self._open.values())

    def open(self, host: str, port: int | None, transport: str,
             send_text: Callable[[str], None], now: float) -> WsConnection:
        """A new connection from ``host:port`` (a port behind a proxy may be unknown or
        shared: another number is then made up, unique among the open connections)."""
        if len(self._open) >= self.limits.max_connections:
            self.refused += 1
            raise WsClosed(CLOSE_TRY_LATER, "too many WebSocket connections")
        key = (host, port or 0)
        while key[1] == 0 or key in self._open:
            key = (host, self._next_port)  # unused by any open connection of this host
            self._next_port = self._next_port % 65535 + 1
        connection = WsConnection(key, transport, send_text, self.limits, now)
        self._open[key] = connection
        log.info("ws_opened", peer=str(connection), open=len(self._open))
        return connection

    def received(self, connection: WsConnection, data: str | bytes, now: float) -> None:
        """One frame from ``connection``; raises :class:`WsClosed` to close it."""
        try:
            message = connection.check(data, now)
        except WsClosed as closing:
            self.closed_by_limit += 1
            log.info("ws_closed_by_limit", peer=str(connection), reason=closing.reason,
                     code=closing.code)
            raise
        if message is not None and self.deliver is not None:
            self.deliver(message, connection)

    def close(self, connection: WsConnection, reason: str) -> None:
        """The socket is gone (either side closed it): forget it and tell the engine."""
        if connection.closed:
            return
        connection.closed = True
        if self._open.get(connection.key) is connection:
            del self._open[connection.key]
        if not self._open and self._emptied is not None:
            self._emptied.set()
        log.info("ws_closed", peer=str(connection), reason=reason,
                 messages=connection.messages, open=len(self._open))
        if self.on_closed is not None:
            with contextlib.suppress(Exception):
                self.on_closed(connection)

    async def close_all(self, code: int, reason: str, *, within_s: float) -> int:
        """Close every connection from Parley's side and wait, up to ``within_s``, until
        their sockets are gone; how many were open. Before a node lets its floating address
        go (a planned switch-over, an orderly stop): once it is gone the connections can no
        longer tell the browsers, which would keep dead ones and never connect again."""
        connections = self.connections()
        if not connections:
            return 0
        self._emptied = emptied = asyncio.Event()
        for connection in connections:
            connection.close_soon(code, reason)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await emptied.wait()
        return len(connections)

    def send(self, host: str, port: int, data: bytes) -> bool:
        """Send over the open connection to ``host:port``; False when there is none."""
        connection = self._open.get((host, port))
        if connection is None:
            return False
        connection.send(data)
        return True
