"""SIP over UDP and TCP: bytes in and out of :mod:`parley.sip` (RFC 3261 §18, RFC 3581).

:class:`SipTransport` listens on one host and port for both UDP and TCP. Each datagram, or
each message framed out of a TCP stream by ``Content-Length``, is parsed by
:func:`parley.sip.message.parse_message` and handed to ``on_message`` with the :class:`Peer`
it came from. Requests get ``received``/``rport`` filled into their top Via (RFC 3581), so that
responses go back exactly where the request came from (symmetric response routing), over the
same TCP connection when there is one. Malformed input is answered ``400 Bad Request`` when the
parser recovered enough of it to address a response, and dropped otherwise; a TCP stream that
cannot be framed any more is closed.

SIP over TLS is outbound only, toward carriers (RFC 3261 §26.2.1): the trunks set a
:class:`TlsClient` per carrier address in ``tls_clients`` (certificate verification on, the
carrier's name checked); requests the carrier sends back come over the same connection. A
connection that cannot be opened (refused, timed out, a certificate that does not verify) is
reported at once to whoever sent (``on_error``) and kept in ``connect_errors``.

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
import ssl
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
#: A phone's connection-oriented transports: its connection may die (with the node it was
#: opened to) while its calls go on; a new one carries them afterwards.
STREAM_TRANSPORTS = ("TCP", "TLS")
#: Transports whose calls wait for the peer's new connection once theirs died.
RECONNECTING_TRANSPORTS = (*WS_TRANSPORTS, *STREAM_TRANSPORTS)


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a message came from or goes to: transport ("UDP", "TCP", "TLS" toward a
    carrier, or "WS"/"WSS" for a browser's WebSocket), host and port."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"


MessageHandler = Callable[[SipMessage, Peer], None]
#: Told why a message could not leave (the connection was refused, TLS failed...).
SendFailed = Callable[[str], None]
#: How long opening an outbound connection (TLS handshake included) may take.
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class TlsClient:
    """How Parley opens SIP over TLS toward one carrier: the context (verification, CA,
    client certificate) and the name its certificate must carry."""

    context: ssl.SSLContext
    server_name: str


def client_tls_context(ca_file: str | None = None, cert_file: str | None = None,
                       key_file: str | None = None) -> ssl.SSLContext:
    """A TLS client context that verifies the server's certificate and name against
    ``ca_file`` (default: the system's CAs) and presents ``cert_file``/``key_file`` when
    given. Raises ``OSError`` or ``ssl.SSLError`` for a file that cannot be read."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file:
        context.load_cert_chain(cert_file, key_file or None)
    return context


def describe_connect_error(exc: BaseException) -> str:
    """A short reason for a failed outbound connection, as an operator reads it."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: certificate verify failed ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "connect timed out"
    if isinstance(exc, OSError):
        return f"connect failed ({exc.strerror or exc})"
    return f"connect failed ({exc})"


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
        #: Outbound connections being opened: what waits to be sent over each.
        self._connecting: dict[tuple[str, int], list[tuple[bytes, SendFailed | None]]] = {}
        #: TLS settings per carrier address (set by the trunks).
        self.tls_clients: dict[tuple[str, int], TlsClient] = {}
        #: Why the last outbound connection to a peer failed (cleared once one opens).
        self.connect_errors: dict[Peer, str] = {}
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

    def connected(self, host: str, port: int) -> bool:
        """Whether a TCP or TLS connection with ``host``:``port`` is open (or opening)."""
        writer = self._connections.get((host, port))
        return (writer is not None and not writer.is_closing()) \
            or (host, port) in self._connecting

    def send(self, message: SipMessage, peer: Peer, on_error: SendFailed | None = None
             ) -> None:
        """Send to ``peer``: UDP as a datagram, TCP or TLS over the open connection (or a
        new one); ``on_error`` hears at once why a new connection could not be opened."""
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
        address = (peer.host, peer.port)
        writer = self._connections.get(address)
        if writer is not None and not writer.is_closing():
            writer.write(data)
            return
        waiting = self._connecting.get(address)
        if waiting is not None:  # a connection is being opened: go out over it
            waiting.append((data, on_error))
            return
        self._connecting[address] = [(data, on_error)]
        task = asyncio.get_running_loop().create_task(self._connect_and_send(peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect_and_send(self, peer: Peer) -> None:
        address = (peer.host, peer.port)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                if peer.transport == "TLS":
                    tls = self.tls_clients.get(address)
                    if tls is None:
                        raise ssl.SSLError(f"no TLS settings for {peer.host}:{peer.port}")
                    reader, writer = await asyncio.open_connection(
                        peer.host, peer.port, ssl=tls.context, server_hostname=tls.server_name,
                        limit=1 << 17)
                else:
                    reader, writer = await asyncio.open_connection(peer.host, peer.port,
                                                                   limit=1 << 17)
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            reason = describe_connect_error(exc)
            self.connect_errors[peer] = reason
            log.info("connect_failed", peer=str(peer), error=reason)
            for _data, on_error in self._connecting.pop(address, []):
                if on_error is not None:
                    on_error(reason)
            return
        self.connect_errors.pop(peer, None)
        self._connections[address] = writer
        for data, _on_error in self._connecting.pop(address, []):
            writer.write(data)
        try:
            await self._read_stream(reader, writer, peer)
        finally:
            if self._connections.get(address) is writer:
                del self._connections[address]
            writer.close()

    def send_response(self, response: SipResponse, peer: Peer | None = None) -> None:
        """Route a response by its top Via (received/rport), over the connection (TCP,
        WebSocket) when it came that way."""
        via = response.via
        if peer is not None and peer.transport != "UDP":
            self.send(response, peer)
            return
        host, port = via.response_address()
        known = ("UDP", "TCP", "TLS", *WS_TRANSPORTS)
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
