"""SIP over UDP and TCP: bytes in and out of :mod:`parley.sip` (RFC 3261 §18, RFC 3581).

:class:`SipTransport` listens on one host and port for both UDP and TCP. Each datagram, or
each message framed out of a TCP stream by ``Content-Length``, is parsed by
:func:`parley.sip.message.parse_message` and handed to ``on_message`` with the :class:`Peer`
it came from. Requests get ``received``/``rport`` filled into their top Via (RFC 3581), so that
responses go back exactly where the request came from (symmetric response routing), over the
same TCP connection when there is one. Malformed input is answered ``400 Bad Request`` when the
parser recovered enough of it to address a response, and dropped otherwise; a TCP stream that
cannot be framed any more is closed.

Inbound TCP connections are bounded by :class:`TcpLimits`: a new connection must deliver a
whole message within ``first_message_s``, a message once begun must be complete within
``message_s`` (no trickling a byte a second), a connection silent for ``idle_s`` is closed
(CRLF keep-alives count as traffic), and connections beyond ``max_per_source`` from one
address or ``max_connections`` in all are closed as soon as they are accepted. Addresses in
``trusted_networks`` are not held to the per-source cap (a floor behind one NAT address).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace

import structlog

from parley.net.websocket import WsConnection, WsConnections
from parley.sip.errors import SipFramingError, SipParseError
from parley.sip.message import (
    KeepAlive,
    SipRequest,
    SipResponse,
    StreamFramer,
    build_response,
    parse_message,
)
from parley.trust import TrustedNetworks

log = structlog.get_logger("parley.net.transport")

SipMessage = SipRequest | SipResponse
#: Transports over a browser's WebSocket: reachable only over the connection it opened.
WS_TRANSPORTS = ("WS", "WSS")


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a message came from or goes to: transport ("UDP", "TCP", or "WS"/"WSS" for a
    browser's WebSocket), host and port."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"


MessageHandler = Callable[[SipMessage, Peer], None]


@dataclass(frozen=True)
class TcpLimits:
    """Bounds on inbound SIP-over-TCP connections (see the module docstring)."""

    first_message_s: float = 10.0
    message_s: float = 10.0
    idle_s: float = 3900.0  # longer than the longest registration (3600 s) a phone refreshes
    max_connections: int = 2000
    max_per_source: int = 64
    trusted_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("first_message_s", "message_s", "idle_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"tcp {name} must be positive")
        for name in ("max_connections", "max_per_source"):
            if getattr(self, name) < 1:
                raise ValueError(f"tcp {name} must be at least 1")


class SipTransport:
    """UDP and TCP listeners on ``host:port``, one parse point, symmetric routing back."""

    def __init__(self, host: str, port: int, on_message: MessageHandler, *,
                 limits: TcpLimits | None = None, ws: WsConnections | None = None) -> None:
        self.host = host
        self.port = port
        self.on_message = on_message
        self.limits = limits or TcpLimits()
        self._trusted = TrustedNetworks(self.limits.trusted_networks)
        self._inbound_by_source: dict[str, int] = {}
        self._inbound = 0
        #: Figures for metrics: inbound TCP connections refused at the caps, closed for
        #: silence, and closed for a message (or a first message) that came too slowly.
        self.tcp_refused = 0
        self.tcp_closed_idle = 0
        self.tcp_closed_slow = 0
        self._udp: socket.socket | None = None
        self._tcp_server: asyncio.Server | None = None
        self._connections: dict[tuple[str, int], asyncio.StreamWriter] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.malformed = 0
        #: Browsers' SIP-over-WebSocket connections (RFC 7118), opened by the web server.
        self.ws = ws or WsConnections()
        self.ws.deliver = self._ws_received

    async def start(self) -> None:
        """Bind UDP first (port 0 picks one), then TCP on the same port number."""
        loop = asyncio.get_running_loop()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind((self.host, self.port))
        except OSError:
            udp.close()
            raise
        udp.setblocking(False)
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self._udp = udp
        self.port = int(udp.getsockname()[1])
        # Read until the socket is empty on each wake-up (the pattern DESIGN.md §5 measured);
        # a plain sock.sendto is several times cheaper than a DatagramTransport's.
        loop.add_reader(udp.fileno(), self._udp_readable)
        self._tcp_server = await asyncio.start_server(self._serve_connection, self.host,
                                                      self.port, limit=1 << 17)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._tcp_server is not None:
            self._tcp_server.close()
        for writer in list(self._connections.values()):
            writer.close()
        self._connections.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._tcp_server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp_server.wait_closed(), 1.0)
        if self._udp is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._udp.fileno())
            self._udp.close()
            self._udp = None

    # --- receiving ---------------------------------------------------------------------------

    def _udp_readable(self) -> None:
        sock = self._udp
        if sock is None:
            return
        while True:
            try:
                data, address = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP errors surface here on Linux; keep reading
                log.debug("udp_error", error=str(exc))
                continue
            self._received(data, Peer("UDP", address[0], address[1]))

    def _received(self, data: bytes, peer: Peer) -> None:
        if not data.strip(b"\r\n"):
            return  # keep-alive
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self._malformed(exc, peer)
            return
        self._deliver(message, peer)

    def _ws_received(self, message: SipMessage, connection: WsConnection) -> None:
        self._deliver(message, Peer(connection.transport, connection.host, connection.port))

    def _deliver(self, message: SipMessage, peer: Peer) -> None:
        if isinstance(message, SipRequest):
            message = stamp_received(message, peer)
        try:
            self.on_message(message, peer)
        except Exception:  # one bad message must not stop the listener
            log.exception("handler_failed", peer=str(peer))

    def _malformed(self, exc: SipParseError, peer: Peer) -> None:
        self.malformed += 1
        log.info("sip_malformed", peer=str(peer), reason=exc.reason, header=exc.header)
        partial = exc.partial
        if partial is None or partial.method == "ACK":
            return
        with contextlib.suppress(Exception):
            request = stamp_received(partial, peer)
            reason = f"Bad Request ({exc.reason})"[:200]
            response = build_response(request, 400, reason.replace("\r", " ").replace("\n", " "))
            self.send_response(response, peer)

    @property
    def tcp_connections(self) -> int:
        """Inbound TCP connections open now (metrics)."""
        return self._inbound

    def _admit_connection(self, host: str) -> str | None:
        """None when a new inbound connection from ``host`` may stay; else why not."""
        limits = self.limits
        if self._inbound >= limits.max_connections:
            return "too many TCP connections"
        if self._inbound_by_source.get(host, 0) >= limits.max_per_source \
                and host not in self._trusted:
            return "too many TCP connections from this address"
        return None

    async def _serve_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        peer = Peer("TCP", str(address[0]), int(address[1]))
        refusal = self._admit_connection(peer.host)
        if refusal is not None:
            self.tcp_refused += 1
            if self.tcp_refused % 100 == 1:  # one line per hundred, not one per connection
                log.warning("tcp_refused", peer=str(peer), reason=refusal,
                            refused=self.tcp_refused, open=self._inbound)
            with contextlib.suppress(Exception):
                writer.transport.abort()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._inbound += 1
        self._inbound_by_source[peer.host] = self._inbound_by_source.get(peer.host, 0) + 1
        self._connections[(peer.host, peer.port)] = writer
        try:
            await self._read_stream(reader, writer, peer, inbound=True)
        finally:
            self._inbound -= 1
            left = self._inbound_by_source.get(peer.host, 1) - 1
            if left > 0:
                self._inbound_by_source[peer.host] = left
            else:
                self._inbound_by_source.pop(peer.host, None)
            self._connections.pop((peer.host, peer.port), None)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    def _deadline(self, opened: float, last: float, started: float | None,
                  delivered: bool) -> tuple[float, str]:
        """When an inbound connection is closed if nothing changes, and what it is then."""
        limits = self.limits
        if started is not None:
            return started + limits.message_s, "slow"
        if not delivered:
            return opened + limits.first_message_s, "slow"
        return last + limits.idle_s, "idle"

    async def _read_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           peer: Peer, *, inbound: bool = False) -> None:
        framer = StreamFramer()
        loop = asyncio.get_running_loop()
        opened = last = loop.time()
        started: float | None = None  # when the message being received began
        delivered = False
        while True:
            try:
                if inbound:
                    deadline, why = self._deadline(opened, last, started, delivered)
                    async with asyncio.timeout_at(deadline):
                        data = await reader.read(65536)
                else:
                    data = await reader.read(65536)
            except TimeoutError:
                if why == "idle":
                    self.tcp_closed_idle += 1
                else:
                    self.tcp_closed_slow += 1
                log.info("tcp_closed", peer=str(peer), reason=why,
                         buffered=framer.buffered, delivered=delivered)
                with contextlib.suppress(Exception):
                    writer.transport.abort()
                return
            except (ConnectionError, OSError):
                return
            if not data:
                return
            last = loop.time()
            try:
                items = framer.feed(data)
            except SipFramingError as exc:
                self._malformed(exc, peer)
                return
            if framer.buffered == 0:
                started = None
            elif (started is None or any(not isinstance(i, KeepAlive) for i in items)) \
                    and data.strip(b"\r\n"):
                started = last  # a new message began in this chunk
            for item in items:
                if isinstance(item, KeepAlive):
                    with contextlib.suppress(Exception):
                        writer.write(b"\r\n")
                    continue
                delivered = True
                self._received(item, peer)

    # --- sending -----------------------------------------------------------------------------

    def send(self, message: SipMessage, peer: Peer) -> None:
        """Send to ``peer``: UDP as a datagram, TCP over the open connection (or a new one)."""
        data = bytes(message)
        if peer.transport == "UDP":
            if self._udp is not None:
                try:
                    self._udp.sendto(data, (peer.host, peer.port))
                except (BlockingIOError, InterruptedError):
                    log.warning("udp_send_buffer_full", peer=str(peer))  # retransmission heals
                except OSError as exc:
                    log.info("udp_send_failed", peer=str(peer), error=str(exc))
            return
        if peer.transport in WS_TRANSPORTS:  # a browser: only over its own connection
            if not self.ws.send(peer.host, peer.port, data):
                log.info("ws_send_no_connection", peer=str(peer))
            return
        writer = self._connections.get((peer.host, peer.port))
        if writer is not None and not writer.is_closing():
            writer.write(data)
            return
        task = asyncio.get_running_loop().create_task(self._connect_and_send(peer, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect_and_send(self, peer: Peer, data: bytes) -> None:
        try:
            reader, writer = await asyncio.open_connection(peer.host, peer.port)
        except OSError as exc:
            log.info("tcp_connect_failed", peer=str(peer), error=str(exc))
            return
        self._connections[(peer.host, peer.port)] = writer
        writer.write(data)
        try:
            await self._read_stream(reader, writer, peer)
        finally:
            self._connections.pop((peer.host, peer.port), None)
            writer.close()

    def send_response(self, response: SipResponse, peer: Peer | None = None) -> None:
        """Route a response by its top Via (received/rport), over the connection (TCP,
        WebSocket) when it came that way."""
        via = response.via
        if peer is not None and peer.transport != "UDP":
            self.send(response, peer)
            return
        host, port = via.response_address()
        known = ("UDP", "TCP", *WS_TRANSPORTS)
        self.send(response, Peer(via.transport if via.transport in known else "UDP",
                                 host, port))


def stamp_received(request: SipRequest, peer: Peer) -> SipRequest:
    """Fill ``received`` and ``rport`` into the top Via (RFC 3261 §18.2.1, RFC 3581 §4)."""
    vias = request.vias
    top = vias[0]
    changed = top
    if top.host != peer.host or top.wants_rport:
        changed = changed.with_param("received", peer.host)
    if top.wants_rport:
        changed = changed.with_param("rport", str(peer.port))
    if changed is top:
        return request
    headers = request.headers.replace_values("Via", [str(changed), *map(str, vias[1:])])
    return replace(request, headers=headers)
