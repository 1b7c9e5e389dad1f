"""The B2BUA engine: SIP messages in, channels and SIP messages out.

:class:`SipEngine` receives every parsed message from :class:`parley.net.transport.SipTransport`
and turns it into call control: REGISTER goes to the registrar (digest-authenticated), an
INVITE creates an inbound :class:`Channel` handed to the dial plan, in-dialog requests (ACK,
BYE, re-INVITE, CANCEL) reach their channel, and anything for an unknown dialog gets 481.
:meth:`SipEngine.originate` creates outbound channels to registered users or static contacts.

Transactions (RFC 3261 §17: retransmissions over UDP, duplicates absorbed, timers A-M, the
ACK of a failed INVITE, CANCEL matching) are :class:`parley.sip.transaction.TransactionLayer`'s;
this shell feeds it messages and timer expiries and carries out its commands (send, start or
cancel a timer with the event loop's monotonic clock, deliver to the B2BUA). The registrar and
nonces read the injected :class:`parley.clock.Clock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import structlog

from parley.clock import Clock
from parley.events import ChannelCreated, Direction, HangupCause, TelephonyEvent
from parley.ids import IdSource
from parley.net.relay import MediaRelay
from parley.net.rtp_ports import PortPoolExhausted
from parley.net.transport import Peer, SipMessage, SipTransport
from parley.sip.auth import DigestAuthenticator
from parley.sip.dialog import Dialog
from parley.sip.errors import DialogError, SipParseError, TransactionError
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
from parley.sip.transaction import (
    CancelRequested,
    CancelTimer,
    Command,
    Deliver,
    Send,
    StartTimer,
    Terminated,
    TerminationReason,
    TransactionKey,
    TransactionLayer,
)
from parley.sip.uri import SipUri
from parley.telephony.causes import cause_for_status, status_for_cause
from parley.telephony.channel import Channel
from parley.telephony.media_sdp import SUPPORTED, Codec, MediaNegotiationError, read_audio
from parley.telephony.policy import CallerClass, Destination, TrunkPeer, may_call
from parley.telephony.refer import ReferHandler, handle_refer
from parley.telephony.registrations import RegistrationWatch
from parley.telephony.users import UserDirectory

if TYPE_CHECKING:
    from parley.telephony.media import MediaShell

log = structlog.get_logger("parley.telephony.engine")

TIMER_B = 32.0  # how long a finished call stays findable for late messages (64·T1)
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
    min_expires: int = 60
    max_expires: int = 3600
    codecs: tuple[Codec, ...] = SUPPORTED
    #: Challenges sent. MD5 only by default: phones such as baresip 1.0 refuse to register
    #: when any challenge names an algorithm they do not know. Add "SHA-256" where all can.
    digest_algorithms: tuple[str, ...] = ("MD5",)
    nonce_secret: bytes | None = None  # share between nodes; random per process otherwise


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
        self.stats = _Stats()
        # RFC 3261 §17 lives in the pure TransactionLayer; this shell runs its commands.
        self.transactions = TransactionLayer()
        self._timers: dict[TransactionKey, dict[str, asyncio.TimerHandle]] = {}
        self._pending: dict[TransactionKey, Callable[[SipResponse | None], None]] = {}
        self._subscribers: list[Subscriber] = []
        self.media: MediaShell | None = None  # set by Telephony: terminated media
        self._tasks: asyncio.TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accepting = True
        self._orphans: set[asyncio.Task[None]] = set()
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
            self.transport.send(message, peer)

    def _via(self, transport: str) -> Via:
        return Via(transport, self.config.host, self.config.port,
                   (("branch", new_branch()), ("rport", None)))

    def _contact(self, transport: str = "UDP") -> NameAddr:
        params: tuple[tuple[str, str | None], ...] = ()
        if transport == "TCP":
            params = (("transport", "tcp"),)
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
        """Stop accepting calls and end every channel (BYE, CANCEL or a final response)."""
        self._accepting = False
        for channel in list(self.channels.values()):
            with contextlib.suppress(Exception):
                channel.hangup(HangupCause.NORMAL_CLEARING)
        await asyncio.sleep(0.05)  # let the last BYEs leave the socket
        for handles in self._timers.values():
            for handle in handles.values():
                handle.cancel()
        self._timers.clear()

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

    # --- the transaction layer's commands, run with the real clock ------------------------

    def _now(self) -> float:
        return self.loop.time()

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
                handles[command.timer] = self.loop.call_later(
                    max(0.0, command.at - self._now()), self._timer_fired, command.key,
                    command.timer)
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
                    self._invite_answer(channel, message)
            return
        if message.method == "ACK":
            return  # the layer already stopped the 2xx retransmissions
        source = command.source or ("0.0.0.0", 0)  # noqa: S104 - never used to send
        peer = Peer(command.transport or "UDP", source[0], source[1])
        try:
            self._dispatch(message, peer)
        except SipParseError as exc:
            self.respond(message, peer, 400, f"Bad Request ({exc.reason})"[:120])

    def _cancel_requested(self, command: CancelRequested) -> None:
        """The caller sent CANCEL (answered 200 by the layer): 487 for its INVITE."""
        channel = self.channels.get(command.cancel.call_id)
        if channel is not None and not channel.is_up and not channel.ended:
            self.respond_invite(channel, 487)
            channel.ended_by(HangupCause.ORIGINATOR_CANCEL, "remote")

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
                channel.log.info("no_ack_for_200")
                channel.hangup(HangupCause.RECOVERY_ON_TIMER_EXPIRE)

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
        """The authenticated user name, or None after answering 401/403 for the caller
        (every refusal is the same bare 403: the reason goes to the log only)."""
        answer = self.gate.check(request, peer.host, self.clock.monotonic(), self._ha1)
        if answer.user is not None:
            return answer.user
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

    def _on_register(self, request: SipRequest, peer: Peer) -> None:
        username = self._authenticate(request, peer)
        if username is None:
            return
        now = self.clock.monotonic()
        self._emit_all(self.registrations.before_register(
            self.registrar.aor_of(request.to.uri), now))
        result = self.registrar.register(request, now, authenticated_user=username,
                                         source=(peer.host, peer.port), transport=peer.transport)
        if result.ok:
            self.stats.registrations += 1
            log.info("registered", user=username, contacts=len(result.bindings),
                     peer=str(peer))
        self.respond(request, peer, result.status, result.reason or None, to_tag=new_tag(),
                     headers=result.headers)
        self._emit_all(self.registrations.after_register(result, now))

    def sweep_bindings(self) -> int:
        """Drop expired registrations (``run`` does every 5 s; UserUnregistered "expired"
        for users left without any); returns how many were dropped."""
        now = self.clock.monotonic()
        gone = self.registrar.sweep(now)
        self._emit_all(self.registrations.after_sweep(gone, now))
        return len(gone)

    def _emit_all(self, events: list[Any]) -> None:
        for event in events:
            self.emit(event)

    def contacts_of(self, user: str) -> list[Binding]:
        """The live registered contacts of ``user``, best first."""
        return self.registrar.lookup(user, self.clock.monotonic())

    # --- inbound calls -----------------------------------------------------------------------

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
        number = request.uri.user or ""
        destination = self.destination(number)
        caller_class = CallerClass.GUEST
        username: str | None = None
        if any(trunk.matches(peer) for trunk in self.config.trunks):
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
        if not request.body:
            self.respond(request, peer, 488, "Not Acceptable Here (an SDP offer is required)",
                         to_tag=new_tag())
            return
        try:
            remote = read_audio(request.body, allowed=self.codecs)
        except MediaNegotiationError as exc:
            self.respond(request, peer, 488, to_tag=new_tag(),
                         headers=(("Warning", f'304 parley "{exc}"'),
                                  ("Reason", f'SIP;cause=488;text="{exc}"')))
            return
        local_tag = new_tag()
        try:
            dialog = Dialog.from_request(request, local_tag=local_tag,
                                         local_contact=self._contact(peer.transport),
                                         local_via=self._via(peer.transport))
        except DialogError as exc:
            self.respond(request, peer, 400, f"Bad Request ({exc})"[:120], to_tag=local_tag)
            return
        try:
            media = self.relay.open(label=f"in:{request.call_id}")
        except PortPoolExhausted:
            self.respond(request, peer, 503, "Service Unavailable (no RTP ports left)",
                         to_tag=new_tag())
            return
        media.set_remote(remote.host, remote.port)
        contact = request.contact
        caller = username or request.from_.uri.user or "anonymous"
        channel = Channel(
            engine=self, direction=Direction.INBOUND, caller=caller, called=number,
            media=media, call_id=request.call_id, local_tag=local_tag,
            local_party=NameAddr(request.to.uri, request.to.display_name),
            remote_party=request.from_, remote_target=(contact.uri if contact is not None
                                                       else request.from_.uri),
            peer=peer, remote_tag=request.from_.tag, remote_cseq=request.cseq.seq,
            invite=request, remote_audio=remote,
            variables={"caller_class": caller_class.value}, dialog=dialog,
            id=self.ids.new("ch"))
        media.on_timeout = lambda _endpoint: channel.hangup(HangupCause.MEDIA_TIMEOUT)
        self._add(channel)
        channel.log.info("inbound_call", caller=caller, called=number, peer=str(peer),
                         caller_class=caller_class.value)
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
                                 channel.interaction_id))

    def respond_invite(self, channel: Channel, status: int, *, body: bytes = b"",
                       reason: str | None = None,
                       headers: tuple[tuple[str, str], ...] = ()) -> None:
        if channel.invite is None:
            return
        self.respond(channel.invite, channel.peer, status, reason, to_tag=channel.local_tag,
                     body=body, contact=status < 300, headers=headers)

    def reject_invite(self, channel: Channel, cause: HangupCause) -> None:
        status = status_for_cause(cause)
        reason_header = (("Reason", f"Q.850;cause={int(cause)}"),) if int(cause) < 128 else ()
        self.respond_invite(channel, status, headers=reason_header)

    def _in_dialog(self, request: SipRequest, peer: Peer) -> None:
        channel = self.channels.get(request.call_id)
        if channel is None or request.to.tag != channel.local_tag:
            self.respond(request, peer, 481)
            return
        method = request.method
        if channel.dialog is not None:
            refusal = channel.dialog.receive_request(request)
            if refusal is not None:  # CSeq out of order (500) or crossing re-INVITEs (491)
                self.respond(request, peer, refusal.status, refusal.reason,
                             headers=tuple((n, v) for n, v in refusal.headers
                                           if n.lower() == "retry-after"))
                return
        channel.remote_cseq = request.cseq.seq
        if method == "BYE":
            self.respond(request, peer, 200)
            channel.ended_by(HangupCause.NORMAL_CLEARING, "remote")
        elif method == "INVITE":
            self._on_reinvite(channel, request, peer)
        elif method == "INFO":
            self.respond(request, peer, 200)
            if self.media is not None:
                self.media.info(channel, request)
        elif method == "REFER":
            handle_refer(self, channel, request, peer)
        else:
            self.respond(request, peer, 200)

    def _on_reinvite(self, channel: Channel, request: SipRequest, peer: Peer) -> None:
        direction = "sendrecv"
        if request.body:
            try:
                remote = read_audio(request.body, allowed=self.codecs)
            except MediaNegotiationError as exc:
                self.respond(request, peer, 488, headers=(("Warning", f'304 parley "{exc}"'),))
                return
            if channel.remote_audio is None or (remote.host, remote.port) != (
                    channel.remote_audio.host, channel.remote_audio.port):
                channel.media.set_remote(remote.host, remote.port)
            channel.remote_audio = remote
            direction = remote.direction
        channel.media.on_hold = direction in ("inactive", "recvonly")
        from parley.telephony.media_sdp import answer_direction

        channel.invite = request
        self.respond(request, peer, 200, to_tag=channel.local_tag, contact=True,
                     body=channel.local_sdp(answer_direction(direction)))

    # --- outbound calls ----------------------------------------------------------------------

    def resolve(self, endpoint: str) -> tuple[SipUri, Peer, str]:
        """Where ``endpoint`` (a user name or a ``sip:`` URI) can be called now."""
        if endpoint.startswith(("sip:", "sips:")):
            uri = SipUri.parse(endpoint)
            return uri, _peer_of(uri), uri.user or ""
        user = self.users.lookup(endpoint)
        if user is None:
            raise OriginateError(f"no user {endpoint!r}", HangupCause.UNALLOCATED_NUMBER)
        if user.static_contact:
            uri = SipUri.parse(user.static_contact)
            return uri, _peer_of(uri), user.name
        bindings = self.contacts_of(user.name)
        if not bindings:
            raise OriginateError(f"user {endpoint!r} is not registered",
                                 HangupCause.NORMAL_UNSPECIFIED)
        binding = bindings[0]
        if binding.source is None:
            return binding.uri, _peer_of(binding.uri), user.name
        peer = Peer((binding.transport or "UDP").upper(), *binding.source)
        return binding.uri, peer, user.name

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
        media = self.relay.open(label=f"out:{endpoint}")
        call_id = new_call_id(self.config.host)
        local = NameAddr(SipUri(user=caller_id or "anonymous", host=self.config.host,
                                port=self.config.port), caller_id or None)
        remote = NameAddr(SipUri(user=user or uri.user, host=self.config.host,
                                 port=self.config.port))
        channel = Channel(
            engine=self, direction=Direction.OUTBOUND, caller=caller_id, called=user,
            media=media, call_id=call_id, local_tag=new_tag(), local_party=local,
            remote_party=remote, remote_target=uri, peer=peer,
            variables=dict(variables or {}), interaction_id=interaction_id,
            id=self.ids.new("ch"))
        media.on_timeout = lambda _endpoint: channel.hangup(HangupCause.MEDIA_TIMEOUT)
        offer = codecs or self.codecs
        channel.remote_audio = None
        channel.codec = None
        body = _offer(channel, offer)
        via = self._via(peer.transport)
        invite = build_request("INVITE", uri, from_=local.with_tag(channel.local_tag),
                               to=remote, call_id=call_id, cseq=channel.local_cseq, via=via,
                               contact=self._contact(peer.transport), body=body,
                               content_type=SDP, headers=(("Allow", ALLOW), *added))
        channel.invite = invite
        channel.invite_branch = via.branch or ""
        self._add(channel)
        channel.log.info("outbound_call", endpoint=endpoint, caller=caller_id, peer=str(peer),
                         interaction_id=channel.interaction_id)
        self.send_request(invite, peer, lambda response: self._invite_answer(channel, response))
        channel.timeout_handle = self.loop.call_later(
            timeout, lambda: channel.hangup(HangupCause.NO_ANSWER) if not channel.is_up else None)
        return channel

    def _invite_answer(self, channel: Channel, response: SipResponse | None) -> None:
        if response is None:
            channel.ended_by(HangupCause.RECOVERY_ON_TIMER_EXPIRE, "remote")
            return
        status = response.status
        if status < 200:
            if response.to.tag:
                channel.remote_tag = response.to.tag
            if status > 100:
                channel.provisional_seen = True
                if channel.cancel_pending:
                    self._send_cancel(channel)
                if status in (180, 183):
                    channel.remote_ringing()
            return
        if status >= 300:
            channel.ended_by(cause_for_status(status), "remote")
            return
        channel.remote_tag = response.to.tag
        if channel.dialog is None and channel.invite is not None:
            try:
                channel.dialog = Dialog.from_response(channel.invite, response,
                                                      local_via=self._via(channel.peer.transport))
            except DialogError as exc:
                channel.log.info("unusable_2xx", error=str(exc))
                channel.ended_by(HangupCause.INTERWORKING, "remote")
                return
        if channel.dialog is None:
            return
        channel.remote_target = channel.dialog.remote_target
        self._send(channel.dialog.ack(response), self._dialog_peer(channel))
        if channel.ended:  # answered while we were cancelling: end it properly
            self.send_in_dialog(channel, "BYE")
            return
        if channel.is_up:
            return
        try:
            remote = read_audio(response.body, allowed=self.codecs)
        except MediaNegotiationError as exc:
            channel.log.info("bad_answer_sdp", error=str(exc))
            self.send_in_dialog(channel, "BYE")
            channel.ended_by(HangupCause.INCOMPATIBLE_DESTINATION, "local")
            return
        channel.remote_audio = remote
        channel.codec = remote.codec
        channel.dtmf_payload_type = remote.dtmf_payload_type
        channel.media.set_remote(remote.host, remote.port)
        if channel.timeout_handle is not None:
            channel.timeout_handle.cancel()
        channel.remote_answered()

    def cancel_invite(self, channel: Channel) -> None:
        if channel.provisional_seen:
            self._send_cancel(channel)
        else:
            channel.cancel_pending = True

    def _send_cancel(self, channel: Channel) -> None:
        invite = channel.invite
        if invite is None or channel.is_up:
            return
        channel.cancel_pending = False
        cancel = build_request("CANCEL", invite.uri, from_=invite.from_, to=invite.to,
                               call_id=invite.call_id, cseq=invite.cseq.seq, via=invite.via,
                               routes=invite.routes)
        self.send_request(cancel, channel.peer, lambda _response: None)

    def send_in_dialog(self, channel: Channel, method: str, *, body: bytes = b"",
                       content_type: str | None = None,
                       headers: tuple[tuple[str, str], ...] = ()) -> None:
        """A request inside the channel's dialog (BYE, re-INVITE, NOTIFY...), built by its
        Dialog (route set, next CSeq); its responses end in the transaction layer."""
        dialog = channel.dialog
        if dialog is None:
            return
        try:
            if method == "BYE":
                reason = channel.hangup_cause
                request = dialog.bye(f"Q.850;cause={int(reason)}" if reason is not None
                                     and int(reason) < 128 else None)
            elif method == "INVITE":
                request = dialog.reinvite(body)
            else:
                request = dialog.create_request(method, body=body, headers=headers,
                                                content_type=content_type or
                                                (SDP if body else None))
        except DialogError as exc:
            channel.log.info("in_dialog_request_refused", method=method, error=str(exc))
            return
        peer = self._dialog_peer(channel)

        def answered(response: SipResponse | None) -> None:
            if response is None or response.is_provisional:
                return
            dialog.receive_response(response)
            if method == "INVITE" and response.is_success:
                self._send(dialog.ack(response), peer)

        self.send_request(request, peer, answered)

    def _dialog_peer(self, channel: Channel) -> Peer:
        """Where in-dialog requests go: the first Record-Route hop, else where the phone is."""
        dialog = channel.dialog
        if dialog is not None and dialog.route_set:
            return _peer_of(dialog.next_hop)
        return channel.peer

    def channel_ended(self, channel: Channel) -> None:
        """Forget a finished channel a little later (late retransmissions still match it)."""
        self.loop.call_later(TIMER_B, self._forget, channel)

    def _forget(self, channel: Channel) -> None:
        if self.channels.get(channel.call_id) is channel:
            del self.channels[channel.call_id]
        self.by_id.pop(channel.id, None)

    @property
    def active_channels(self) -> list[Channel]:
        return [channel for channel in self.channels.values() if not channel.ended]


def _peer_of(uri: SipUri) -> Peer:
    transport = "UDP"
    for name, value in uri.params:
        if name.lower() == "transport" and value:
            transport = value.upper()
    return Peer(transport if transport in ("UDP", "TCP") else "UDP", uri.host, uri.port or 5060)


def _offer(channel: Channel, codecs: tuple[Codec, ...]) -> bytes:
    from parley.telephony.media_sdp import build_sdp

    channel.sdp_version += 1
    return build_sdp(channel.engine.media_host, channel.media.port, codecs,
                     session_id=channel.session_id, version=channel.sdp_version)


__all__ = ["Binding", "CallerClass", "Destination", "EngineConfig", "OriginateError",
           "SipEngine", "TrunkPeer", "may_call", "replace"]
