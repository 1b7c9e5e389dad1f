"""The B2BUA engine: SIP messages in, channels and SIP messages out.

:class:`SipEngine` receives every parsed message from :class:`parley.net.transport.SipTransport`
and turns it into call control: REGISTER goes to the registrar (digest-authenticated), an
INVITE creates an inbound :class:`Channel` handed to the dial plan, in-dialog requests (ACK,
BYE, re-INVITE, CANCEL) reach their channel, and anything for an unknown dialog gets 481.
:meth:`SipEngine.originate` creates outbound channels to registered users or static contacts.
Each channel's call is a pure :class:`parley.sip.session.InviteSession` that its
:class:`parley.telephony.leg.SipLeg` runs through this engine (requests, responses, ACKs).

Transactions (RFC 3261 §17: retransmissions over UDP, duplicates absorbed, timers A-M, the
ACK of a failed INVITE, CANCEL matching) are :class:`parley.sip.transaction.TransactionLayer`'s;
this shell feeds it messages and timer expiries and carries out its commands (send, start or
cancel a timer, deliver to the B2BUA). Every timer and reading of time goes through the
injected :class:`parley.clock.Clock`, so the engine runs on a virtual clock in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import structlog

from parley.clock import Cancellable, Clock, TimerQueue
from parley.events import (
    CallCarried,
    ChannelCreated,
    Direction,
    HangupCause,
    TelephonyEvent,
)
from parley.ids import IdSource
from parley.media.srtp import Crypto
from parley.net.relay import MediaEndpoint, MediaRelay
from parley.net.rtp_ports import PortPoolExhausted
from parley.net.transport import (
    RECONNECTING_TRANSPORTS,
    STREAM_TRANSPORTS,
    WS_TRANSPORTS,
    Peer,
    SipMessage,
    SipTransport,
)
from parley.net.websocket import WsConnection
from parley.numbering import Numbering
from parley.sip.auth import DigestAuthenticator
from parley.sip.errors import DialogError, SessionError, SipParseError, TransactionError
from parley.sip.guard import AuthGate, AuthGuard
from parley.sip.headers import NameAddr, Via
from parley.sip.message import (
    SipRequest,
    SipResponse,
    build_request,
    build_response,
    extra_headers,
    new_branch,
    new_call_id,
    new_tag,
)
from parley.sip.registrar import Binding, Registrar
from parley.sip.session import InviteSession
from parley.sip.transaction import (
    CancelRequested,
    CancelTimer,
    Command,
    Deliver,
    Send,
    StartTimer,
    Terminated,
    TerminationReason,
    TimerConfig,
    TransactionKey,
    TransactionLayer,
    client_key,
)
from parley.sip.uri import SipUri
from parley.telephony.channel import Channel
from parley.telephony.leg import SipLeg, peer_of
from parley.telephony.media_sdp import (
    SUPPORTED,
    Codec,
    LocalWebRtc,
    MediaNegotiationError,
    build_sdp,
    read_audio,
)
from parley.telephony.policy import (
    CallerClass,
    Destination,
    InboundTrunk,
    TrunkPeer,
    may_call,
)
from parley.telephony.refer import ReferHandler
from parley.telephony.registrations import RegistrationWatch
from parley.telephony.sdes import answer_crypto, offer_crypto
from parley.telephony.trunk_rules import dialled_number
from parley.telephony.users import UserDirectory
from parley.telephony.webrtc import (
    answer_webrtc,
    is_browser_binding,
    is_browser_uri,
    offer_webrtc,
    watch_webrtc,
)

if TYPE_CHECKING:
    from parley.telephony.channel import Bridge
    from parley.telephony.media import MediaShell

log = structlog.get_logger("parley.telephony.engine")

NEW_WORK_WAIT_S = 5.0  # the longest a new call waits for the node to be ready (_held)
TIMER_B = 32.0  # how long a finished call stays findable for late messages (64·T1, T1 = 0.5 s)
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, REFER, NOTIFY"
SDP = "application/sdp"


@dataclass
class EngineConfig:
    """What the engine needs to know about this node and its policy."""

    host: str
    port: int
    realm: str
    media_host: str
    no_answer_timeout: float = 30.0
    trunks: tuple[TrunkPeer, ...] = ()
    public_numbers: frozenset[str] = frozenset()
    #: numbers from outside are normalised to E.164 with the site's region (parley.numbering)
    numbering: Numbering = field(default_factory=Numbering)
    min_expires: int = 60
    max_expires: int = 3600
    codecs: tuple[Codec, ...] = SUPPORTED
    #: Challenges sent. MD5 only by default: phones such as baresip 1.0 refuse to register
    #: when any challenge names an algorithm they do not know. Add "SHA-256" where all can.
    digest_algorithms: tuple[str, ...] = ("MD5",)
    nonce_secret: bytes | None = None  # share between nodes; random per process otherwise
    #: RFC 3261 T1, the round-trip estimate every transaction timer scales with (0.5 s); a
    #: finished call stays findable for late retransmissions for 64·T1
    t1: float = 0.5


class OriginateError(RuntimeError):
    """An endpoint that cannot be called now (unknown, not registered); ``cause`` says why."""

    def __init__(self, message: str, cause: HangupCause) -> None:
        super().__init__(message)
        self.cause = cause


InboundHandler = Callable[[Channel], Awaitable[None]]
Subscriber = Callable[[TelephonyEvent], None]


@dataclass
class _Stats:
    calls: int = 0
    registrations: int = 0
    rejected_auth: int = 0
    responses: dict[str, int] = field(default_factory=dict)  # sent, by class: "2xx" -> count
    extra: dict[str, int] = field(default_factory=dict)


class SipEngine:
    """One node's SIP call control (see the module docstring)."""

    def __init__(self, config: EngineConfig, relay: MediaRelay, users: UserDirectory,
                 clock: Clock, ids: IdSource, *, on_inbound: InboundHandler | None = None,
                 refer_handler: Callable[[], ReferHandler | None] | None = None,
                 guard: AuthGuard | None = None) -> None:
        self.config = config
        self.relay = relay
        self.users = users
        self.clock = clock
        self.ids = ids
        self.on_inbound = on_inbound
        #: The carrier's trunk a source address belongs to (set by the trunks; None: none).
        self.trunk_of: Callable[[Peer], InboundTrunk | None] | None = None
        #: Carriers' numbers to the form the dial plan knows (E.164); None: kept as sent.
        self._refer_handler = refer_handler
        secret = config.nonce_secret or secrets.token_bytes(32)
        self.auth = DigestAuthenticator(config.realm, secret,
                                        algorithms=config.digest_algorithms)
        self.guard = guard  # failure counting and bans (parley.sip.guard); None: no limits
        self.gate = AuthGate(self.auth, guard)
        self.transport: SipTransport | None = None
        self.channels: dict[str, Channel] = {}  # by Call-ID of the leg
        self.by_id: dict[str, Channel] = {}  # the same channels by channel id
        self.registrar = Registrar(min_expires=config.min_expires,
                                   max_expires=config.max_expires,
                                   default_expires=config.max_expires)
        self.registrations = RegistrationWatch(self.registrar)
        #: told every change of the registered bindings (kept, gone), to keep them in the
        #: store (parley.store.bindings); None: memory only
        self.bindings_changed: Callable[[Sequence[Binding], Sequence[Binding]], None] | None = None
        #: told of every change of a bridge (members, hold, the phones' media): a hot-standby
        #: node keeps its relayed calls in the store (parley.telephony.carry)
        self.bridge_changed: Callable[[Bridge], None] | None = None
        #: a planned switch-over: the calls the other node carries on, which this one must
        #: not end while it stops (parley.telephony.carry)
        self.handed_over: Callable[[Channel], bool] | None = None
        self.stats = _Stats()
        # RFC 3261 §17 lives in the pure TransactionLayer; this shell runs its commands.
        self.transactions = TransactionLayer(TimerConfig(t1=config.t1))
        self._timers: dict[TransactionKey, dict[str, Cancellable]] = {}
        #: the long waits of finished transactions and calls: one loop timer per kind
        self._waits = TimerQueue[TransactionKey](
            clock, lambda timer, key: self._timer_fired(key, timer))
        self._lingering = TimerQueue[Channel](clock, lambda _, channel: self._forget(channel))
        self._pending: dict[TransactionKey, Callable[[SipResponse | None], None]] = {}
        self._subscribers: list[Subscriber] = []
        self.media: MediaShell | None = None  # set by Telephony: terminated media
        self._tasks: asyncio.TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accepting = True
        #: why the node takes no new calls or registrations now (a hot-standby node that is
        #: not active, parley.ha); None: it takes them
        self.refusing: Callable[[], str | None] | None = None
        #: an event to wait for before new calls and registrations are taken (a node that
        #: has just taken over, carrying the other node's calls on: a moment), else None
        self.new_work_waits: Callable[[], asyncio.Event | None] | None = None
        self._orphans: set[asyncio.Task[None]] = set()
        #: Closed browser connections that still had calls, with the users on those calls.
        self._lost_peers: dict[Peer, set[str]] = {}
        #: Where each web-session credential registered from (removed when it is revoked).
        self._registered_by: dict[str, set[Peer]] = {}
        # Resolved once (binding a lazy proxy per call costs ~0.1 ms); channels bind call_id.
        self.call_log: Any = structlog.get_logger("parley.telephony").bind()

    # --- plumbing ----------------------------------------------------------------------------

    @property
    def on_refer(self) -> ReferHandler | None:
        """The transfer handler REFERs run now (see parley.telephony.refer); None: 603."""
        return self._refer_handler() if self._refer_handler is not None else None

    @property
    def media_host(self) -> str:
        return self.config.media_host

    @property
    def codecs(self) -> tuple[Codec, ...]:
        return self.config.codecs

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Deliver every telephony event to ``subscriber``; returns the unsubscribe function."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(subscriber)

        return unsubscribe

    def emit(self, event: TelephonyEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("subscriber_failed", event_type=type(event).__name__)

    def _send(self, message: SipMessage, peer: Peer) -> None:
        if self.transport is not None:
            on_error = None
            if isinstance(message, SipRequest) and peer.transport in ("TCP", "TLS"):
                on_error = self._send_failed(message)
            self.transport.send(message, peer, on_error)
            if isinstance(message, SipResponse):
                responses = self.stats.responses
                status_class = f"{message.status // 100}xx"
                responses[status_class] = responses.get(status_class, 0) + 1

    def _send_failed(self, request: SipRequest) -> Callable[[str], None]:
        """A connection for ``request`` could not be opened: its client transaction ends
        at once (RFC 3261 §17.1.4) instead of waiting for timer B or F."""
        def failed(_reason: str) -> None:
            self._execute(self.transactions.transport_error(client_key(request), self._now()))
        return failed

    def _via(self, transport: str) -> Via:
        return Via(transport, self.config.host, self.config.port,
                   (("branch", new_branch()), ("rport", None)))

    def local_via(self, transport: str) -> Via:
        """The Via this node stamps on requests over ``transport`` (a fresh branch)."""
        return self._via(transport)

    def _contact(self, transport: str = "UDP") -> NameAddr:
        params: tuple[tuple[str, str | None], ...] = ()
        if transport != "UDP":  # tcp, ws or wss (RFC 7118 §5.2)
            params = (("transport", transport.lower()),)
        return NameAddr(SipUri(user="parley", host=self.config.host, port=self.config.port,
                               params=params))

    async def run(self) -> None:
        """Serve until cancelled: call tasks live in this task group; then shut down calls."""
        self._loop = asyncio.get_running_loop()
        try:
            async with asyncio.TaskGroup() as group:
                self._tasks = group
                while True:
                    await self.clock.sleep(5.0)
                    self.sweep_bindings()
        finally:
            self._tasks = None
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting calls and end every channel (BYE, CANCEL or a final response) but
        those handed over to the other node (``handed_over``)."""
        self._accepting = False
        for channel in list(self.channels.values()):
            with contextlib.suppress(Exception):
                channel.hangup(HangupCause.NORMAL_CLEARING)
        await asyncio.sleep(0.05)  # let the last BYEs leave the socket
        for handles in self._timers.values():
            for handle in handles.values():
                handle.cancel()
        self._timers.clear()
        self._waits.close()
        self._lingering.close()

    def spawn(self, coroutine: Awaitable[None], name: str) -> None:
        """Run ``coroutine`` in the engine's task group; a failure is logged, not raised."""
        async def guarded() -> None:
            try:
                await coroutine
            except Exception:
                log.exception("call_task_failed", task=name)

        if self._tasks is not None:
            self._tasks.create_task(guarded(), name=name)
        else:  # engine driven without run() (unit use): keep a reference until done
            task = self.loop.create_task(guarded(), name=name)
            self._orphans.add(task)
            task.add_done_callback(self._orphans.discard)

    # --- the transaction layer's commands, run with the injected clock --------------------

    def _now(self) -> float:
        return self.clock.monotonic()

    def _execute(self, commands: list[Command]) -> None:
        """Carry out what the transaction layer asks: send, time, deliver, report.

        Sends and timers of a batch go first, then deliveries to the B2BUA, whose answers
        must follow (a 100 Trying the layer emitted must not overtake the TU's 401).
        """
        later: list[Command] = []
        for command in commands:
            if isinstance(command, Deliver | CancelRequested | Terminated):
                later.append(command)
            elif isinstance(command, Send):
                host, port = command.destination
                self._send(command.message, Peer(command.transport, host, port))
            elif isinstance(command, StartTimer):
                handles = self._timers.setdefault(command.key, {})
                old = handles.pop(command.timer, None)
                if old is not None:
                    old.cancel()
                if command.timer in _WAITS:
                    handles[command.timer] = self._waits.call_at(
                        command.timer, command.at, command.key)
                else:
                    handles[command.timer] = self.clock.call_later(
                        command.at - self._now(), _firing(self, command.key, command.timer))
            elif isinstance(command, CancelTimer):
                handle = self._timers.get(command.key, {}).pop(command.timer, None)
                if handle is not None:
                    handle.cancel()
            else:
                log.debug("sip_dropped", reason=command.reason)
        for command in later:
            if isinstance(command, Deliver):
                self._deliver(command)
            elif isinstance(command, CancelRequested):
                self._cancel_requested(command)
            elif isinstance(command, Terminated):
                self._terminated(command)

    def _timer_fired(self, key: TransactionKey, timer: str) -> None:
        handles = self._timers.get(key)
        if handles is not None:
            handles.pop(timer, None)
            if not handles:
                del self._timers[key]
        self._execute(self.transactions.timer_expired(key, timer, self._now()))

    def _deliver(self, command: Deliver) -> None:
        message = command.message
        if isinstance(message, SipResponse):
            callback = self._pending.get(command.key) if command.key is not None else None
            if callback is not None:
                callback(message)
            elif message.is_success and message.cseq.method == "INVITE":
                channel = self.channels.get(message.call_id)  # a 2xx after timer M: ACK it
                if channel is not None and channel.direction is Direction.OUTBOUND:
                    leg = channel.leg
                    leg.feed(lambda: leg.session.receive_response(message))
            return
        if message.method == "ACK":  # the layer already stopped the 2xx retransmissions
            channel = self.channels.get(message.call_id)
            if channel is not None and message.to.tag == channel.local_tag:
                leg = channel.leg
                leg.feed(lambda: leg.session.receive_request(message))
            return
        source = command.source or ("0.0.0.0", 0)  # noqa: S104 - never used to send
        peer = Peer(command.transport or "UDP", source[0], source[1])
        try:
            self._dispatch(message, peer)
        except SipParseError as exc:
            self.respond(message, peer, 400, f"Bad Request ({exc.reason})"[:120])

    def _cancel_requested(self, command: CancelRequested) -> None:
        """The caller sent CANCEL (answered 200 by the layer): 487 for its INVITE."""
        channel = self.channels.get(command.cancel.call_id)
        if channel is not None and channel.direction is Direction.INBOUND:
            leg = channel.leg
            leg.feed(leg.session.cancelled)

    def _terminated(self, command: Terminated) -> None:
        for handle in self._timers.pop(command.key, {}).values():
            handle.cancel()
        callback = self._pending.pop(command.key, None)
        reason = command.reason
        if reason in (TerminationReason.TIMEOUT, TerminationReason.TRANSPORT_ERROR):
            if callback is not None:
                callback(None)
        elif reason is TerminationReason.NO_ACK:
            channel = self.channels.get(command.request.call_id)
            if channel is not None:
                leg = channel.leg
                leg.feed(leg.session.no_ack)

    # --- responses and requests --------------------------------------------------------------

    def respond(self, request: SipRequest, peer: Peer, status: int, reason: str | None = None,
                *, to_tag: str | None = None, headers: tuple[tuple[str, str], ...] = (),
                body: bytes = b"", contact: bool = False) -> SipResponse:
        """Answer ``request`` through its server transaction (which absorbs retransmissions)."""
        response = build_response(
            request, status, reason, to_tag=to_tag,
            contact=self._contact(peer.transport) if contact else None, headers=headers,
            body=body, content_type=SDP if body else None)
        try:
            self._execute(self.transactions.send_response(response, self._now()))
        except TransactionError as exc:
            log.debug("late_response", status=status, error=str(exc), call_id=request.call_id)
        return response

    def send_response(self, response: SipResponse) -> None:
        """Send a response built elsewhere (a leg's session) through its server transaction."""
        try:
            self._execute(self.transactions.send_response(response, self._now()))
        except TransactionError as exc:
            log.debug("late_response", status=response.status, error=str(exc),
                      call_id=response.call_id)

    def send_direct(self, message: SipMessage, peer: Peer) -> None:
        """Send outside any transaction (the ACK for a 2xx)."""
        self._send(message, peer)

    def send_request(self, request: SipRequest, peer: Peer,
                     on_response: Callable[[SipResponse | None], None]) -> None:
        """Send a request as a client transaction; ``on_response(None)`` on timeout."""
        key, commands = self.transactions.send_request(request, (peer.host, peer.port),
                                                       peer.transport, self._now())
        self._pending[key] = on_response
        self._execute(commands)

    # --- dispatch ----------------------------------------------------------------------------

    def set_realm(self, realm: str) -> None:
        """Challenge in ``realm`` from now on (the site's SIP realm changed). Credentials are
        digests for one realm: users whose digests are for the old one no longer match."""
        self.config.realm = realm
        self.auth.realm = realm

    def handle(self, message: SipMessage, peer: Peer) -> None:
        """Entry point for the transport: one parsed message from ``peer``."""
        self._execute(self.transactions.receive(message, (peer.host, peer.port),
                                                peer.transport, self._now()))

    def _dispatch(self, request: SipRequest, peer: Peer) -> None:
        method = request.method
        max_forwards = request.max_forwards
        if max_forwards is not None and max_forwards <= 0 and method != "CANCEL":
            self.respond(request, peer, 483)
            return
        if method == "CANCEL":
            self.respond(request, peer, 481)
        elif request.to.tag is not None:
            self._in_dialog(request, peer)
        elif method == "INVITE":
            self._on_invite(request, peer)
        elif method == "REGISTER":
            self._on_register(request, peer)
        elif method == "OPTIONS":
            self.respond(request, peer, 200, headers=(("Allow", ALLOW),
                                                      ("Accept", SDP)))
        elif method in ("BYE", "INFO", "UPDATE", "PRACK", "NOTIFY"):
            self.respond(request, peer, 481)
        elif method == "REFER":  # RFC 3515 allows it; Parley transfers calls only
            self.respond(request, peer, 403, "Forbidden (REFER outside a call)",
                         to_tag=new_tag())
        else:
            self.respond(request, peer, 405, headers=(("Allow", ALLOW),))

    # --- registrar ---------------------------------------------------------------------------

    def _authenticate(self, request: SipRequest, peer: Peer) -> str | None:
        """The authenticated user name, or None after answering 401/403 for the caller."""
        found = self._authenticate_as(request, peer)
        return None if found is None else found[0]

    def _authenticate_as(self, request: SipRequest, peer: Peer) -> tuple[str, str] | None:
        """The authenticated user and the name it authenticated with, or None after
        answering 401/403 for the caller (every refusal is the same bare 403: the reason goes
        to the log only). A web session's short-lived credential authenticates with its own
        name (``web-…``) but stands for the user it was issued for."""
        answer = self.gate.check(request, peer.host, self.clock.monotonic(), self._ha1)
        if answer.user is not None:
            user = self.users.lookup(answer.user)
            return (user.name if user is not None else answer.user), answer.user
        if answer.status == 403:
            self.stats.rejected_auth += 1
            if not answer.unchecked:  # a ban's refusals are counted, its start logged once
                log.info("auth_refused", user=answer.claimed, reason=answer.why,
                         call_id=request.call_id, peer=str(peer))
        self.respond(request, peer, answer.status, answer.reason, to_tag=new_tag(),
                     headers=answer.headers)
        return None

    def _ha1(self, username: str, algorithm: str) -> str | None:
        user = self.users.lookup(username)
        return None if user is None else user.ha1.get(algorithm)

    def _held(self, request: SipRequest, peer: Peer) -> bool:
        """Take ``request`` once the node is ready when it is about to be (it carries the
        other node's calls on): a caller whose INVITE came in the moment of the takeover is
        answered (its retransmissions are absorbed meanwhile), not refused."""
        ready = self.new_work_waits() if self.new_work_waits is not None else None
        if ready is None:
            return False

        async def when_ready() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), NEW_WORK_WAIT_S)
            try:
                if not self._refused_here(request, peer):  # 503 if still not ready
                    self._dispatch(request, peer)
            except SipParseError as exc:
                self.respond(request, peer, 400, f"Bad Request ({exc.reason})"[:120])

        self.spawn(when_ready(), f"held-{request.call_id}")
        return True

    def _refused_here(self, request: SipRequest, peer: Peer) -> bool:
        """Answer 503 (with Retry-After) when the node takes no new work: a hot-standby
        node that is not active. Phones and carriers try the active node (or again)."""
        reason = self.refusing() if self.refusing is not None else None
        if reason is None:
            return False
        self.respond(request, peer, 503, "Service Unavailable (not the active node)",
                     to_tag=new_tag(), headers=(("Retry-After", "5"),))
        log.info("refused_not_active", method=request.method, peer=str(peer), reason=reason)
        return True

    def _on_register(self, request: SipRequest, peer: Peer) -> None:
        if self._held(request, peer) or self._refused_here(request, peer):
            return
        found = self._authenticate_as(request, peer)
        if found is None:
            return
        username, auth_name = found
        now = self.clock.monotonic()
        self._emit_all(self.registrations.before_register(
            self.registrar.aor_of(request.to.uri), now))
        result = self.registrar.register(request, now, authenticated_user=username,
                                         source=(peer.host, peer.port), transport=peer.transport)
        if result.ok:
            self.stats.registrations += 1
            log.info("registered", user=username, contacts=len(result.bindings),
                     peer=str(peer))
            if peer.transport in RECONNECTING_TRANSPORTS:
                self._reattach_calls(username, peer)
            if auth_name != username:  # a session credential: revoked with its session
                self._registered_by.setdefault(auth_name, set()).add(peer)
        self.respond(request, peer, result.status, result.reason or None, to_tag=new_tag(),
                     headers=result.headers)
        if result.ok:
            self._bindings_changed(result.added, result.removed)
        self._emit_all(self.registrations.after_register(result, now))

    def ws_closed(self, connection: WsConnection) -> None:
        """A browser's WebSocket closed: its registrations go with it (nothing can reach
        them), its calls stay up while media flows, until it registers again or hangs up."""
        now = self.clock.monotonic()
        live = {channel.leg.peer for channel in self.active_channels}
        self._lost_peers = {lost: users for lost, users in self._lost_peers.items()
                            if lost in live}
        gone = self.registrar.remove_source(connection.key, connection.transport)
        for binding in gone:
            log.info("unregistered", user=binding.aor, reason="connection_closed",
                     peer=str(connection))
        self._bindings_changed((), gone)
        self._emit_all(self.registrations.after_sweep(gone, now, reason="connection_closed"))
        lost = Peer(connection.transport, connection.host, connection.port)
        for channel in self.active_channels:
            if channel.leg.peer == lost:
                self.await_reconnect(channel)

    def credential_revoked(self, user: str, auth_name: str) -> None:
        """A web session's SIP credential was revoked (sign-out): what it registered goes."""
        now = self.clock.monotonic()
        gone: list[Binding] = []
        for peer in self._registered_by.pop(auth_name, set()):
            gone += self.registrar.remove_source((peer.host, peer.port), peer.transport,
                                                 aor=user)
        if gone:
            log.info("unregistered", user=user, reason="signed_out", contacts=len(gone))
        self._bindings_changed((), gone)
        self._emit_all(self.registrations.after_sweep(gone, now, reason="signed_out"))

    def await_reconnect(self, channel: Channel) -> None:
        """``channel``, a browser's call, was reached over a WebSocket that closed (or died
        with the node the call was carried over from), or a phone's over a TCP connection
        that died so: its requests go over the new connection once it registers again
        here (a phone that listens where its Contact says is reached there meanwhile)."""
        lost = channel.leg.peer
        self._lost_peers.setdefault(lost, set()).update({channel.caller, channel.called})

    def _reattach_calls(self, user: str, peer: Peer) -> None:
        """A browser registered again after its WebSocket dropped, or a phone over a new
        TCP connection after its call was carried from another node: its calls' requests
        (BYE, re-INVITE) go over the new connection from now on."""
        for lost, users in list(self._lost_peers.items()):
            if user not in users:
                continue
            for channel in self.active_channels:
                if channel.leg.peer == lost:
                    channel.leg.peer = peer
                    channel.log.info("call_reattached", old=str(lost), new=str(peer))
            del self._lost_peers[lost]

    def sweep_bindings(self) -> int:
        """Drop expired registrations (``run`` does every 5 s; UserUnregistered "expired"
        for users left without any); returns how many were dropped."""
        now = self.clock.monotonic()
        gone = self.registrar.sweep(now)
        self._bindings_changed((), gone)
        self._emit_all(self.registrations.after_sweep(gone, now))
        return len(gone)

    def restore_bindings(self, bindings: Sequence[Binding]) -> int:
        """Take registered bindings kept in the store (a restart, a takeover): the phones
        are reachable at once, and their users come online as if they had registered.
        Returns how many were live."""
        now = self.clock.monotonic()
        count = self.registrar.restore(bindings, now)
        aors = sorted({binding.aor for binding in bindings})
        self._emit_all(self.registrations.restored(aors, now))
        if count:
            log.info("registrations_restored", bindings=count, users=len(aors))
        return count

    def _bindings_changed(self, kept: Sequence[Binding], gone: Sequence[Binding]) -> None:
        if self.bindings_changed is not None and (kept or gone):
            self.bindings_changed(kept, gone)

    def _emit_all(self, events: list[Any]) -> None:
        for event in events:
            self.emit(event)

    def contacts_of(self, user: str) -> list[Binding]:
        """The live registered contacts of ``user``, best first."""
        return self.registrar.lookup(user, self.clock.monotonic())

    # --- inbound calls -----------------------------------------------------------------------

    def _known_number(self, number: str) -> bool:
        """A number of this site as written (a routed number, an extension)."""
        return number in self.config.public_numbers or self.users.lookup(number) is not None

    def destination(self, number: str) -> Destination:
        if number in self.config.public_numbers:
            return Destination.PUBLIC
        if self.users.lookup(number) is not None:
            return Destination.EXTENSION
        return Destination.UNKNOWN

    def _on_invite(self, request: SipRequest, peer: Peer) -> None:
        if not self._accepting:
            self.respond(request, peer, 503, to_tag=new_tag())
            return
        if self._held(request, peer) or self._refused_here(request, peer):
            return
        trunk = self.trunk_of(peer) if self.trunk_of is not None else None
        written = (dialled_number(request, trunk.number_from) if trunk is not None
                   else request.uri.user or "")
        number = self.config.numbering.normalise(written, self._known_number)
        destination = self.destination(number)
        caller_class = CallerClass.GUEST
        username: str | None = None
        if trunk is not None or any(known.matches(peer) for known in self.config.trunks):
            caller_class = CallerClass.TRUNK
        elif request.header("Authorization") or destination is not Destination.PUBLIC:
            username = self._authenticate(request, peer)
            if username is None:
                return
            caller_class = CallerClass.USER
        if not may_call(caller_class, destination):
            if self.guard is not None:
                self.guard.refused_call(peer.host, username, number)
            self.respond(request, peer, 403, "Forbidden (not allowed to call this number)",
                         to_tag=new_tag())
            return
        if trunk is not None and not trunk.admit():
            self.respond(request, peer, 503, f"Service Unavailable (trunk {trunk.name} has "
                         "no channel free)", to_tag=new_tag())
            return
        if not request.body:
            self.respond(request, peer, 488, "Not Acceptable Here (an SDP offer is required)",
                         to_tag=new_tag())
            return
        allowed = trunk.allowed if trunk is not None else None
        srtp = trunk.srtp if trunk is not None else "off"
        try:
            remote = read_audio(request.body, allowed=allowed or self.codecs, srtp=srtp)
        except MediaNegotiationError as exc:
            self.respond(request, peer, 488, to_tag=new_tag(),
                         headers=(("Warning", f'304 parley "{exc}"'),
                                  ("Reason", f'SIP;cause=488;text="{exc}"')))
            return
        local_tag = new_tag()
        try:
            session = InviteSession.incoming(request, local_tag=local_tag,
                                             local_contact=self._contact(peer.transport),
                                             local_via=self._via(peer.transport))
        except DialogError as exc:
            self.respond(request, peer, 400, f"Bad Request ({exc})"[:120], to_tag=local_tag)
            return
        local_webrtc: LocalWebRtc | None = None
        try:
            if remote.webrtc is not None:
                webrtc = self.relay.open_webrtc(label=f"in:{request.call_id}")
                local_webrtc = answer_webrtc(webrtc, remote.webrtc)
                media: MediaEndpoint = webrtc
            else:
                media = self.relay.open(label=f"in:{request.call_id}")
        except PortPoolExhausted:
            self.respond(request, peer, 503, "Service Unavailable (no RTP ports left)",
                         to_tag=new_tag())
            return
        crypto: tuple[Crypto, ...] = ()
        if remote.crypto:
            crypto = (answer_crypto(media, remote.crypto),)
        media.set_remote(remote.host, remote.port)
        caller = username or self.config.numbering.normalise(
            request.from_.uri.user or "anonymous")
        leg = SipLeg(self, session, peer, session_id=new_session_id(), remote_audio=remote,
                     webrtc=local_webrtc, allowed=allowed,
                     dtmf_mode=trunk.dtmf_mode if trunk else "rfc4733", srtp=srtp,
                     crypto=crypto, remote_crypto=remote.crypto[0] if crypto else None)
        variables = {"caller_class": caller_class.value}
        if trunk is not None:
            variables["trunk"] = trunk.name
        channel = Channel(
            engine=self, direction=Direction.INBOUND, caller=caller, called=number,
            media=media, leg=leg, variables=variables, id=self.ids.new("ch"),
            trunk=trunk.name if trunk is not None else "")
        media.on_timeout = lambda _endpoint: channel.hangup(HangupCause.MEDIA_TIMEOUT)
        watch_webrtc(channel)
        self._add(channel)
        channel.log.info("inbound_call", caller=caller, called=number, peer=str(peer),
                         caller_class=caller_class.value, trunk=channel.trunk or None,
                         srtp=crypto[0].suite if crypto else None)
        if self.on_inbound is not None:
            self.spawn(self.on_inbound(channel), f"call-{channel.id}")
        else:
            channel.hangup(HangupCause.NO_ROUTE_DESTINATION)

    def _add(self, channel: Channel) -> None:
        """A new leg: findable by Call-ID and id, counted, announced."""
        self.channels[channel.call_id] = channel
        self.by_id[channel.id] = channel
        self.stats.calls += 1
        self.emit(ChannelCreated(channel.id, channel.direction, channel.caller, channel.called,
                                 channel.interaction_id, channel.trunk))

    def adopt(self, channel: Channel, node: str) -> None:
        """A leg carried over from ``node`` (parley.telephony.carry): findable like the
        legs this node made, its call record told that it goes on here."""
        self.channels[channel.call_id] = channel
        self.by_id[channel.id] = channel
        self.emit(CallCarried(channel.id, channel.interaction_id, node,
                              direction=channel.direction, caller=channel.caller,
                              called=channel.called, trunk=channel.trunk,
                              started_at=channel.created_at,
                              answered_at=channel.answered_at))

    def _in_dialog(self, request: SipRequest, peer: Peer) -> None:
        """A request in a call's dialog goes to its leg's session (481 for no such call)."""
        channel = self.channels.get(request.call_id)
        if channel is None or request.to.tag != channel.local_tag:
            self.respond(request, peer, 481)
            return
        leg = channel.leg
        if peer.transport in WS_TRANSPORTS and leg.peer != peer \
                and leg.peer.transport in WS_TRANSPORTS:
            leg.peer = peer  # the browser reconnected: its new connection reaches it
        elif peer.transport in STREAM_TRANSPORTS and leg.peer != peer \
                and leg.peer.transport == peer.transport and self.transport is not None \
                and not self.transport.connected(leg.peer.host, leg.peer.port):
            leg.peer = peer  # the phone's connection died: the new one it sent this on
        try:
            commands = leg.session.receive_request(request)
        except SessionError as exc:
            channel.log.info("sip_session_refused", method=request.method, error=str(exc))
            self.respond(request, peer, 481)
            return
        leg.run(commands)

    # --- outbound calls ----------------------------------------------------------------------

    def resolve(self, endpoint: str) -> tuple[SipUri, Peer, str]:
        """Where ``endpoint`` (a user name or a ``sip:`` URI) can be called now."""
        if endpoint.startswith(("sip:", "sips:")):
            uri = SipUri.parse(endpoint)
            return uri, peer_of(uri), uri.user or ""
        user = self.users.lookup(endpoint)
        if user is None:
            raise OriginateError(f"no user {endpoint!r}", HangupCause.UNALLOCATED_NUMBER)
        if user.static_contact:
            uri = SipUri.parse(user.static_contact)
            return uri, peer_of(uri), user.name
        bindings = self.contacts_of(user.name)
        if not bindings:
            raise OriginateError(f"user {endpoint!r} is not registered",
                                 HangupCause.NORMAL_UNSPECIFIED)
        binding = bindings[0]
        if binding.source is None:
            return binding.uri, peer_of(binding.uri), user.name
        peer = Peer((binding.transport or "UDP").upper(), *binding.source)
        if peer.transport in ("TCP", "TLS") and self.transport is not None \
                and not self.transport.connected(peer.host, peer.port):
            # the phone's connection is gone (closed, or opened to the other node of a
            # cluster before a takeover): a new one to where its Contact says it listens
            contact = peer_of(binding.uri)
            return binding.uri, Peer(peer.transport, contact.host, contact.port), user.name
        return binding.uri, peer, user.name

    def is_browser(self, endpoint: str) -> bool:
        """Whether calling ``endpoint`` reaches a browser, to be offered WebRTC media
        (:func:`parley.telephony.webrtc.is_browser_binding` on its best live contact)."""
        if endpoint.startswith(("sip:", "sips:")):
            return is_browser_uri(SipUri.parse(endpoint))
        user = self.users.lookup(endpoint)
        if user is None or user.static_contact:
            return False
        bindings = self.contacts_of(user.name)
        return bool(bindings) and is_browser_binding(bindings[0])

    def originate(self, endpoint: str, caller_id: str, timeout: float,
                  variables: dict[str, str] | None = None, *,
                  codecs: tuple[Codec, ...] | None = None,
                  headers: Mapping[str, str] | None = None,
                  interaction_id: str = "") -> Channel:
        """Call ``endpoint``; the returned channel rings, answers or hangs up (events tell).

        ``headers`` are added to the INVITE as given (``X-Parley-Queue: support``);
        ``interaction_id`` is the call record the leg belongs to (default: its own id).
        Raises :class:`OriginateError` when the endpoint cannot be called at all and
        :class:`ValueError` for a header that is not a token name with a one-line value.
        """
        added = extra_headers(headers)
        uri, peer, user = self.resolve(endpoint)
        local = NameAddr(SipUri(user=caller_id or "anonymous", host=self.config.host,
                                port=self.config.port), caller_id or None)
        remote = NameAddr(SipUri(user=user or uri.user, host=self.config.host,
                                 port=self.config.port))
        return self.originate_to(uri, peer, from_=local, to=remote, caller=caller_id,
                                 called=user, timeout=timeout, variables=variables,
                                 codecs=codecs, headers=added, interaction_id=interaction_id,
                                 label=endpoint, browser=self.is_browser(endpoint))

    def originate_to(self, uri: SipUri, peer: Peer, *, from_: NameAddr, to: NameAddr,
                     caller: str, called: str, timeout: float,
                     variables: dict[str, str] | None = None,
                     codecs: tuple[Codec, ...] | None = None,
                     headers: tuple[tuple[str, str], ...] = (), interaction_id: str = "",
                     credentials: tuple[str, str] | None = None, trunk: str = "",
                     allowed: tuple[Codec, ...] | None = None, dtmf_mode: str = "rfc4733",
                     label: str = "", browser: bool = False,
                     contact: NameAddr | None = None, srtp: str = "off") -> Channel:
        """An INVITE to ``uri`` sent to ``peer`` with the From and To given (a trunk's call:
        the carrier's number format, caller ID, P-Asserted-Identity and Privacy in
        ``headers``, ``credentials`` answering its digest challenge, the codecs it
        ``allowed`` and its DTMF mode, a ``contact`` of its own: sips, its ``srtp``: offer or
        require offers RTP/SAVP keyed by a=crypto); ``browser`` offers WebRTC media. The
        channel's
        ``caller`` and ``called`` are what records and events show. A node that takes no
        new work (``refusing``) or has no RTP port pair left raises
        :class:`OriginateError`."""
        reason = self.refusing() if self.refusing is not None else None
        if reason is not None:
            raise OriginateError(f"no new calls: {reason}", HangupCause.TEMPORARY_FAILURE)
        local_webrtc: LocalWebRtc | None = None
        try:
            if browser:
                webrtc = self.relay.open_webrtc(label=f"out:{label or called}")
                local_webrtc = offer_webrtc(webrtc)
                media: MediaEndpoint = webrtc
            else:
                media = self.relay.open(label=f"out:{label or called}")
        except PortPoolExhausted as exc:  # the caller gets a final answer, not silence
            raise OriginateError(str(exc), HangupCause.SWITCH_CONGESTION) from exc
        call_id = new_call_id(self.config.host)
        session_id = new_session_id()
        offer = codecs or allowed or self.codecs
        if allowed is not None:
            offer = tuple(codec for codec in offer
                          if any(codec.name == ok.name for ok in allowed)) or allowed
        crypto = offer_crypto() if srtp != "off" and not browser else ()
        body = build_sdp(self.media_host, media.port, offer, session_id=session_id,
                         version=1, dtmf_payload_type=None if dtmf_mode == "info" else 101,
                         webrtc=local_webrtc, crypto=crypto)
        via = self._via(peer.transport)
        invite = build_request("INVITE", uri, from_=from_.with_tag(new_tag()),
                               to=to, call_id=call_id, cseq=1, via=via,
                               contact=contact or self._contact(peer.transport), body=body,
                               content_type=SDP, headers=(("Allow", ALLOW), *headers))
        session = InviteSession.outgoing(invite, local_via=self._via(peer.transport),
                                         no_answer_after=timeout, credentials=credentials)
        leg = SipLeg(self, session, peer, session_id=session_id, codec=None, sdp_version=1,
                     webrtc=local_webrtc, allowed=allowed, dtmf_mode=dtmf_mode, srtp=srtp,
                     crypto=crypto)
        channel = Channel(
            engine=self, direction=Direction.OUTBOUND, caller=caller, called=called,
            media=media, leg=leg, variables=dict(variables or {}),
            interaction_id=interaction_id, id=self.ids.new("ch"), trunk=trunk)
        media.on_timeout = lambda _endpoint: channel.hangup(HangupCause.MEDIA_TIMEOUT)
        watch_webrtc(channel)
        self._add(channel)
        channel.log.info("outbound_call", endpoint=label or str(uri), caller=caller,
                         peer=str(peer), interaction_id=channel.interaction_id,
                         trunk=trunk or None)
        leg.run(session.start())
        return channel

    def send_in_dialog(self, channel: Channel, method: str, *, body: bytes = b"",
                       content_type: str | None = None,
                       headers: tuple[tuple[str, str], ...] = ()) -> None:
        """A non-INVITE request inside the channel's dialog (NOTIFY, INFO...), built by its
        Dialog (route set, next CSeq); its responses end in the leg's session."""
        channel.leg.request(method, body=body, content_type=content_type, headers=headers)

    def channel_ended(self, channel: Channel) -> None:
        """Forget a finished channel a little later (late retransmissions still match it)."""
        self._lingering.call_at("linger", self._now() + 64 * self.config.t1, channel)

    def _forget(self, channel: Channel) -> None:
        if self.channels.get(channel.call_id) is channel:
            del self.channels[channel.call_id]
        self.by_id.pop(channel.id, None)
        if channel.leg.channel is channel:  # a cycle: reference counting frees the two now
            channel.leg.channel = None

    @property
    def active_channels(self) -> list[Channel]:
        return [channel for channel in self.channels.values() if not channel.ended]


_WAITS = frozenset("DIJKLM")
"""The transaction timers that wait out retransmissions once a transaction is done (RFC 3261
§17, RFC 6026): each of one length, rarely cancelled, and held by every finished transaction
for up to 64·T1, so they go in the engine's :class:`~parley.clock.TimerQueue`."""


def _firing(engine: SipEngine, key: TransactionKey, timer: str) -> Callable[[], None]:
    def fire() -> None:
        engine._timer_fired(key, timer)
    return fire


def new_session_id() -> int:
    """An SDP session id (RFC 4566 §5.2 ``o=``): random, so that it is unique per node."""
    return secrets.randbits(40)


__all__ = ["Binding", "CallerClass", "Destination", "EngineConfig", "OriginateError",
           "SipEngine", "TrunkPeer", "may_call", "replace"]
