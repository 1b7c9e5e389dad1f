"""Carriers' trunks, live: registration, keep-alive, inbound recognition, outbound failover.

:class:`Trunks` holds the node's trunks (:class:`TrunkConfig`, built from the ``trunks`` and
``inbound`` configuration) and is their thin shell over the engine:

- a trunk of kind ``register`` keeps its account registered at the carrier through the pure
  :class:`parley.sip.registration.RegistrationClient` (digest, refresh before expiry,
  back-off); its state and the registrar's last answer are the trunk's status;
- every trunk with an ``options_interval`` is asked OPTIONS that often; one that stops
  answering is marked down (calls skip it) until it answers again;
- an INVITE from one of a trunk's addresses (``allowed_ips``, default the addresses its
  ``host`` resolves to) is the trunk's: the engine reads the dialled number where the
  trunk's ``number_from`` says and counts the call against ``max_channels``;
- :meth:`Trunks.dial` places an outbound call through an ordered list of
  :class:`TrunkCall` (a trunk, the number as that trunk should receive it, the caller ID
  and presentation to send). The next trunk is tried on 5xx, 408, no answer at all within
  the trunk's ``setup_timeout``, a trunk down or full, or a calls-per-second cap that
  would make the call wait longer than ``max_wait``; not on answers about the number
  (404, 486, 603...). Every leg records its trunk and final SIP status.

A trunk over TLS (``transport: tls``) gets a :class:`parley.net.transport.TlsClient` for its
carrier's address: the carrier's certificate is verified against ``tls_ca_file`` (default
the system's CAs) and must name ``host``; ``tls_cert_file``/``tls_key_file`` are presented
when given; ``sips`` makes its URIs ``sips:``. A connection that cannot be opened (a
certificate that does not verify, a refusal) fails the request at once and is the trunk's
reason (``TLS: certificate verify failed (...)``).

Status changes are published as :class:`parley.events.TrunkStatusChanged` through the
engine's subscribers (so ``/api/events`` and webhooks see them); :meth:`Trunks.statuses`
is what the API and ``/metrics`` read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from parley.clock import Cancellable, Clock
from parley.events import (
    ChannelCreated,
    Hangup,
    HangupCause,
    TelephonyEvent,
    TrunkStatusChanged,
)
from parley.net.transport import Peer, TlsClient, client_tls_context
from parley.sip.headers import NameAddr, Via
from parley.sip.message import (
    SipRequest,
    SipResponse,
    build_request,
    new_branch,
    new_call_id,
    new_tag,
)
from parley.sip.registration import (
    RegistrationClient,
    RegistrationCommand,
    RegistrationConfig,
    RegistrationState,
    SendRegister,
    StatusChanged,
    WakeAfter,
    describe,
)
from parley.sip.uri import SipUri
from parley.telephony.causes import cause_for_status
from parley.telephony.channel import Channel, ChannelState, until
from parley.telephony.engine import OriginateError
from parley.telephony.media_sdp import SUPPORTED, Codec
from parley.telephony.trunk_rules import CallRateLimiter, fails_over

if TYPE_CHECKING:
    from parley.telephony.engine import SipEngine

log = structlog.get_logger("parley.telephony.trunks")

UP, DOWN = "up", "down"


@dataclass(frozen=True)
class TrunkConfig:
    """One trunk as configured (``parley.store.specs.TrunkSpec`` plus its ``inbound``)."""

    name: str
    host: str
    port: int = 5060
    transport: str = "udp"  # udp | tcp | tls
    kind: str = "register"  # register | peer
    username: str | None = None
    password: str | None = None
    allowed_ips: tuple[str, ...] = ()  # () : the addresses host resolves to
    caller_id: str | None = None  # presented when a call names none
    max_channels: int = 30
    max_cps: float | None = None
    codecs: tuple[str, ...] = ()  # () : every codec Parley speaks
    dtmf_mode: str = "rfc4733"  # rfc4733 | info
    expires: int = 600
    options_interval: float = 30.0  # 0: no keep-alive
    options_timeout: float = 5.0  # a keep-alive unanswered this long: the trunk is down
    number_from: str = "request_uri"  # request_uri | to | header:<name>
    setup_timeout: float = 8.0  # no response at all within this: the next trunk
    max_wait: float = 2.0  # longest wait for the calls-per-second cap
    sips: bool = False  # tls: sips: URIs (the carrier asks for them)
    tls_ca_file: str | None = None  # tls: the CAs that sign the carrier's certificate
    tls_cert_file: str | None = None  # tls: a client certificate the carrier asks for
    tls_key_file: str | None = None  # tls: its key (None: in tls_cert_file)
    srtp: str = "off"  # off | offer | require: SRTP keyed by SDES (a=crypto, RFC 4568)


@dataclass(frozen=True)
class TrunkCall:
    """One attempt of an outbound call: ``trunk`` by name, ``number`` as that trunk should
    receive it (its format: ``+7495…``, ``8495…``), the ``caller_id`` (and display
    ``caller_name``) to send, ``restricted`` for presentation restricted (From anonymous,
    the number only in P-Asserted-Identity with ``Privacy: id``)."""

    trunk: str
    number: str
    caller_id: str | None = None
    caller_name: str | None = None
    restricted: bool = False


@dataclass(frozen=True)
class TrunkStatus:
    """What the API, ``/metrics`` and the status events show of a trunk."""

    name: str
    kind: str
    state: str  # registering, registered, failed, unregistered (register); up, down (peer)
    reason: str  # the registrar's last answer, or why the trunk is down
    registered: bool
    available: bool  # calls may go out through it now
    channels: int
    max_channels: int
    calls_per_second: int
    max_cps: float | None
    calls: int  # outbound attempts through it since start
    failures: int  # attempts that failed on it (any final failure or no answer)
    last_failure: str
    last_failure_at: datetime | None


@dataclass(eq=False)
class Trunk:
    """One live trunk: configuration, addresses, registration, channels and limits."""

    config: TrunkConfig
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    address: str = ""  # the host resolved: where requests go
    registration: RegistrationClient | None = None
    reachable: bool | None = None  # None: not asked yet (no OPTIONS or none answered)
    down_reason: str = ""
    broken: str = ""  # a configuration that cannot work (TLS, a host that does not resolve)
    channels: set[str] = field(default_factory=set)
    pending: int = 0  # outbound calls booked and not yet created (cps wait)
    limiter: CallRateLimiter | None = None
    calls: int = 0
    starts: deque[float] = field(default_factory=deque)  # outbound starts, last second
    failures: int = 0
    last_failure: str = ""
    last_failure_at: datetime | None = None
    timer: Cancellable | None = None
    keepalive: asyncio.Task[None] | None = None
    allowed: tuple[Codec, ...] | None = None
    tls: TlsClient | None = None

    # --- what the engine reads (parley.telephony.policy.InboundTrunk) ---------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def number_from(self) -> str:
        return self.config.number_from

    @property
    def dtmf_mode(self) -> str:
        return self.config.dtmf_mode

    @property
    def srtp(self) -> str:
        return self.config.srtp

    def admit(self) -> bool:
        """Whether a channel is free under ``max_channels`` (both directions count)."""
        return len(self.channels) + self.pending < self.config.max_channels

    # --- state --------------------------------------------------------------------------------

    @property
    def peer(self) -> Peer:
        return Peer(self.config.transport.upper(), self.address or self.config.host,
                    self.config.port)

    @property
    def state(self) -> str:
        if self.broken:
            return RegistrationState.FAILED.value
        if self.reachable is False:
            return DOWN
        if self.registration is not None:
            return self.registration.state.value
        return UP

    @property
    def reason(self) -> str:
        if self.broken:
            return self.broken
        if self.reachable is False:
            return self.down_reason
        if self.registration is not None:
            return self.registration.reason
        return "answers OPTIONS" if self.reachable else "not asked yet"

    @property
    def available(self) -> bool:
        """Calls may be tried through it: not broken, not down, and (registering) bound by
        its registrar: a carrier refuses calls from a line it has not registered yet."""
        if self.broken or self.reachable is False:
            return False
        return self.registration is None \
            or self.registration.state is RegistrationState.REGISTERED

    def matches(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class Trunks:
    """The node's live trunks over its SIP engine (see the module docstring)."""

    def __init__(self, engine: SipEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.trunks: dict[str, Trunk] = {}
        self._running = False
        engine.trunk_of = self.trunk_of
        engine.subscribe(self._count)

    # --- configuration ------------------------------------------------------------------------

    async def configure(self, configs: Sequence[TrunkConfig]) -> None:
        """Take this set of trunks: new ones start (register, keep-alive), removed ones stop
        (unregister), changed ones restart; unchanged ones keep their state."""
        wanted = {config.name: config for config in configs}
        for name in list(self.trunks):
            trunk = self.trunks[name]
            if wanted.get(name) != trunk.config:
                self._stop(trunk)
                del self.trunks[name]
                if name not in wanted:
                    self._publish(trunk, "removed", "no longer configured")
        for name, config in wanted.items():
            if name not in self.trunks:
                trunk = await self._build(config)
                self.trunks[name] = trunk
                if self._running:
                    self._start(trunk)

    async def _build(self, config: TrunkConfig) -> Trunk:
        trunk = Trunk(config)
        if config.max_cps is not None:
            trunk.limiter = CallRateLimiter(config.max_cps, config.max_wait)
        if config.codecs:
            trunk.allowed = tuple(codec for codec in SUPPORTED if codec.name in config.codecs)
        if config.transport == "tls":
            try:
                trunk.tls = TlsClient(client_tls_context(
                    config.tls_ca_file, config.tls_cert_file, config.tls_key_file),
                    config.host)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                trunk.broken = f"TLS: cannot load the CA file or client certificate ({exc})"
                return trunk
        elif config.sips:
            trunk.broken = "sips needs transport tls"
            return trunk
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                config.host, config.port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            trunk.broken = f"host {config.host!r} does not resolve ({exc})"
            return trunk
        addresses = sorted({str(info[4][0]) for info in infos})
        trunk.address = next((a for a in addresses if ":" not in a), addresses[0])
        networks = config.allowed_ips or tuple(addresses)
        trunk.networks = tuple(ipaddress.ip_network(item, strict=False) for item in networks)
        if config.kind == "register":
            trunk.registration = RegistrationClient(self._registration_config(trunk))
        return trunk

    def _registration_config(self, trunk: Trunk) -> RegistrationConfig:
        config, engine = trunk.config, self.engine.config
        params = _uri_params(config)
        scheme = "sips" if config.sips else "sip"
        username = config.username or ""
        return RegistrationConfig(
            registrar=SipUri(scheme=scheme, host=config.host, port=config.port,
                             params=params),
            aor=SipUri(scheme=scheme, user=username, host=config.host, port=config.port),
            contact=SipUri(scheme=scheme, user=username, host=engine.host, port=engine.port,
                           params=params),
            username=username, password=config.password or "", local_host=engine.host,
            local_port=engine.port, transport=config.transport.upper(),
            expires=config.expires)

    # --- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Register and keep alive every trunk until cancelled; then unregister them."""
        self._running = True
        for trunk in self.trunks.values():
            self._start(trunk)
        try:
            await asyncio.Event().wait()
        finally:
            self._running = False
            for trunk in self.trunks.values():
                self._stop(trunk)

    def _start(self, trunk: Trunk) -> None:
        if trunk.broken:
            log.warning("trunk_unusable", trunk=trunk.name, reason=trunk.broken)
            self._publish(trunk)
            return
        transport = self.engine.transport
        if trunk.tls is not None and transport is not None:
            transport.tls_clients[(trunk.peer.host, trunk.peer.port)] = trunk.tls
        if trunk.registration is not None:
            # the engine knows its port only once it listens
            trunk.registration.config = self._registration_config(trunk)
            self._registration(trunk, trunk.registration.start())
        else:
            self._publish(trunk)
        if trunk.config.options_interval > 0:
            trunk.keepalive = asyncio.get_running_loop().create_task(
                self._keep_alive(trunk), name=f"trunk-{trunk.name}-options")

    def _stop(self, trunk: Trunk) -> None:
        if trunk.keepalive is not None:
            trunk.keepalive.cancel()
            trunk.keepalive = None
        if trunk.timer is not None:
            trunk.timer.cancel()
            trunk.timer = None
        if trunk.registration is not None and self.engine.transport is not None:
            for command in trunk.registration.stop():
                if isinstance(command, SendRegister):  # unbind; the answer no longer matters
                    self.engine.send_request(command.request, trunk.peer, lambda _r: None)

    # --- registration shell -------------------------------------------------------------------

    def _registration(self, trunk: Trunk, commands: list[RegistrationCommand]) -> None:
        client = trunk.registration
        if client is None:
            return
        for command in commands:
            if isinstance(command, SendRegister):
                self.engine.send_request(command.request, trunk.peer,
                                         self._registrar_answered(trunk, client))
            elif isinstance(command, WakeAfter):
                if trunk.timer is not None:
                    trunk.timer.cancel()
                trunk.timer = self.clock.call_later(command.delay, self._wake(trunk, client))
            elif isinstance(command, StatusChanged):
                log.info("trunk_registration", trunk=trunk.name, state=command.state.value,
                         reason=command.reason, expires=command.expires)
                if command.state is RegistrationState.FAILED:
                    self._failed(trunk, f"registration: {command.reason}")
                self._publish(trunk)

    def _registrar_answered(self, trunk: Trunk, client: RegistrationClient
                            ) -> Callable[[SipResponse | None], None]:
        def answered(response: SipResponse | None) -> None:
            if trunk.registration is not client:
                return  # the trunk was reconfigured meanwhile
            if response is None:
                self._registration(trunk, client.request_failed(
                    self._no_answer(trunk, "no response from the registrar")))
            else:
                self._registration(trunk, client.receive_response(response))
        return answered

    def _wake(self, trunk: Trunk, client: RegistrationClient) -> Callable[[], None]:
        def wake() -> None:
            trunk.timer = None
            if trunk.registration is client:
                self._registration(trunk, client.timer_fired())
        return wake

    # --- keep-alive ---------------------------------------------------------------------------

    async def _keep_alive(self, trunk: Trunk) -> None:
        """OPTIONS every ``options_interval``; no final answer within ``options_timeout``
        marks the trunk down. Any answer, even 404 or 405 and even a late one to an earlier
        keep-alive, shows that it is alive."""
        while True:
            answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def answered(response: SipResponse | None,
                         answer: asyncio.Future[None] = answer) -> None:
                if response is None or response.status < 200:
                    return
                self._reachable(trunk, True, describe(response))
                if not answer.done():
                    answer.set_result(None)

            self.engine.send_request(self._options(trunk), trunk.peer, answered)
            await until(self.clock, (), trunk.config.options_timeout, (answer,))
            if not answer.done():
                answer.cancel()
                self._reachable(trunk, False, self._no_answer(trunk, "no answer to OPTIONS"))
            await self.clock.sleep(trunk.config.options_interval)

    def _reachable(self, trunk: Trunk, reachable: bool, why: str) -> None:
        was = trunk.reachable
        trunk.reachable = reachable
        if not reachable:
            trunk.down_reason = why
        if was == reachable:
            return
        if reachable:
            log.info("trunk_up", trunk=trunk.name, status=why)
        else:
            log.warning("trunk_down", trunk=trunk.name, reason=why)
            self._failed(trunk, why)
        self._publish(trunk)

    def _no_answer(self, trunk: Trunk, otherwise: str) -> str:
        """Why a request to the trunk got no answer: the connection's failure (``TLS:
        certificate verify failed (...)``, ``connect failed (...)``) or ``otherwise``."""
        transport = self.engine.transport
        if transport is not None:
            return transport.connect_errors.get(trunk.peer, otherwise)
        return otherwise

    def _options(self, trunk: Trunk) -> SipRequest:
        config, engine = trunk.config, self.engine.config
        scheme = "sips" if config.sips else "sip"
        target = SipUri(scheme=scheme, host=config.host, port=config.port,
                        params=_uri_params(config))
        via = Via(config.transport.upper(), engine.host, engine.port,
                  (("branch", new_branch()), ("rport", None)))
        local = NameAddr(SipUri(scheme=scheme, user="parley", host=engine.host,
                                port=engine.port))
        return build_request("OPTIONS", target, from_=local.with_tag(new_tag()),
                             to=NameAddr(target), call_id=new_call_id(engine.host), cseq=1,
                             via=via, headers=(("Accept", "application/sdp"),))

    # --- inbound ------------------------------------------------------------------------------

    def trunk_of(self, peer: Peer) -> Trunk | None:
        """The trunk whose addresses include ``peer``'s (the first configured)."""
        for trunk in self.trunks.values():
            if not trunk.broken and trunk.matches(peer.host):
                return trunk
        return None

    def _count(self, event: TelephonyEvent) -> None:
        """Channels in use per trunk, from the engine's own events."""
        if isinstance(event, ChannelCreated) and event.trunk:
            trunk = self.trunks.get(event.trunk)
            if trunk is not None:
                trunk.channels.add(event.channel_id)
        elif isinstance(event, Hangup):
            for trunk in self.trunks.values():
                trunk.channels.discard(event.channel_id)

    # --- outbound -----------------------------------------------------------------------------

    def is_available(self, name: str) -> bool:
        """Whether calls may go out through trunk ``name`` now (routes skip the others)."""
        trunk = self.trunks.get(name)
        return trunk is not None and trunk.available and trunk.admit()

    async def dial(self, calls: Sequence[TrunkCall], *, timeout: float,  # noqa: ASYNC109
                   variables: Mapping[str, str] | None = None, interaction_id: str = "",
                   headers: tuple[tuple[str, str], ...] = (),
                   codecs: tuple[Codec, ...] | None = None) -> Channel:
        """Place a call through the first trunk of ``calls`` that takes it (module
        docstring). Returns the channel once it rings or answers, or once it ended with an
        answer that ends the call (486, 404...: its ``hangup_cause`` and ``sip_status``
        say); when every trunk failed, the last leg (ended). Raises
        :class:`OriginateError` when no trunk could even be tried. Cancelling the wait
        hangs the ringing leg up."""
        reasons: list[str] = []
        last: Channel | None = None
        cause = HangupCause.TEMPORARY_FAILURE
        for call in calls:
            trunk = self.trunks.get(call.trunk)
            if trunk is None:
                reasons.append(f"no trunk named {call.trunk!r}")
                continue
            refusal = await self._book(trunk)
            if refusal is not None:
                reasons.append(f"trunk {trunk.name}: {refusal}")
                if refusal.startswith("no channel"):
                    cause = HangupCause.NORMAL_CIRCUIT_CONGESTION
                continue
            try:
                channel = self._invite(trunk, call, timeout=timeout, variables=variables,
                                       interaction_id=interaction_id, headers=headers,
                                       codecs=codecs)
            finally:
                trunk.pending -= 1
            trunk.calls += 1
            now = self.clock.monotonic()
            trunk.starts.append(now)
            while trunk.starts and trunk.starts[0] <= now - 1.0:
                trunk.starts.popleft()
            last = channel
            committed = await self._settle(trunk, channel)
            if committed:
                return channel
            status = channel.sip_status
            self._failed(trunk, f"{self._no_answer(trunk, str(status or 'no answer'))} "
                                f"calling {call.number}")
            if not fails_over(status):
                return channel
            log.info("trunk_failover", trunk=trunk.name, status=status,
                     interaction_id=interaction_id)
            reasons.append(f"trunk {trunk.name}: {status or 'no answer'}")
        if last is not None:
            return last
        raise OriginateError("; ".join(reasons) or "no trunk to try", cause)

    async def _book(self, trunk: Trunk) -> str | None:
        """Hold a channel of ``trunk`` and wait for its calls-per-second cap; None when
        the call may go, else why not (the next trunk is tried)."""
        if not trunk.available:
            return f"{trunk.state} ({trunk.reason})"
        if not trunk.admit():
            return f"no channel free (max_channels {trunk.config.max_channels})"
        delay = 0.0
        if trunk.limiter is not None:
            booked = trunk.limiter.reserve(self.clock.monotonic())
            if booked is None:
                return f"calls-per-second cap {trunk.config.max_cps} would hold the call " \
                       f"over {trunk.config.max_wait} s"
            delay = booked
        trunk.pending += 1
        if delay > 0:
            try:
                await self.clock.sleep(delay)
            except BaseException:
                trunk.pending -= 1
                raise
        return None

    def _invite(self, trunk: Trunk, call: TrunkCall, *, timeout: float,
                variables: Mapping[str, str] | None, interaction_id: str,
                headers: tuple[tuple[str, str], ...],
                codecs: tuple[Codec, ...] | None) -> Channel:
        config, engine = trunk.config, self.engine
        scheme = "sips" if config.sips else "sip"
        uri = SipUri(scheme=scheme, user=call.number, host=config.host, port=config.port,
                     params=_uri_params(config))
        caller_id = call.caller_id or config.caller_id or ""
        own = engine.config
        identity = NameAddr(SipUri(scheme=scheme, user=caller_id or "anonymous",
                                   host=own.host, port=own.port), call.caller_name)
        added: list[tuple[str, str]] = []
        if call.restricted or not caller_id:
            from_ = NameAddr(SipUri(user="anonymous", host="anonymous.invalid"), "Anonymous")
            if caller_id:
                added += [("P-Asserted-Identity", str(identity)), ("Privacy", "id")]
        else:
            from_ = identity
            added.append(("P-Asserted-Identity", str(identity)))
        credentials = None
        if config.username:  # a peer trunk may challenge INVITEs too
            credentials = (config.username, config.password or "")
        contact = None
        if config.sips:  # RFC 5630 §4: a sips request carries a sips Contact
            contact = NameAddr(SipUri(scheme="sips", user="parley", host=own.host,
                                      port=own.port, params=_uri_params(config)))
        return engine.originate_to(
            uri, trunk.peer, from_=from_, to=NameAddr(SipUri(scheme=scheme, user=call.number,
                                                             host=config.host)),
            contact=contact,
            caller=caller_id or "anonymous", called=call.number, timeout=timeout,
            variables={**(variables or {}), "trunk": trunk.name},
            headers=(*added, *headers), interaction_id=interaction_id,
            codecs=codecs, credentials=credentials, trunk=trunk.name, allowed=trunk.allowed,
            dtmf_mode=config.dtmf_mode, label=f"{trunk.name}:{call.number}",
            srtp=config.srtp)

    async def _settle(self, trunk: Trunk, channel: Channel) -> bool:
        """Wait until the leg rings or answers (True: this trunk has the call) or ends
        (False); a carrier that says nothing at all within ``setup_timeout`` is hung up
        (False, status 408)."""
        loop = asyncio.get_running_loop()
        progressed: asyncio.Future[None] = loop.create_future()

        def changed(leg: Channel) -> None:
            if leg.state in (ChannelState.RINGING, ChannelState.UP) \
                    and not progressed.done():
                progressed.set_result(None)

        channel.on_change(changed)
        changed(channel)
        ended = (channel.ended_signal,)
        try:
            await until(self.clock, ended, trunk.config.setup_timeout, (progressed,))
            while not progressed.done() and not channel.ended and channel.leg.heard:
                await until(self.clock, ended, None, (progressed,))
        except BaseException:
            channel.hangup(HangupCause.ORIGINATOR_CANCEL)
            raise
        finally:
            progressed.cancel()
        if channel.ended:
            return False
        if channel.state in (ChannelState.RINGING, ChannelState.UP):
            return True
        channel.sip_status = 408  # nothing came back: as if it timed out
        channel.hangup(cause_for_status(408))
        return False

    # --- status -------------------------------------------------------------------------------

    def _failed(self, trunk: Trunk, what: str) -> None:
        trunk.failures += 1
        trunk.last_failure = what
        trunk.last_failure_at = self.clock.utcnow()

    def _publish(self, trunk: Trunk, state: str | None = None, reason: str | None = None
                 ) -> None:
        self.engine.emit(TrunkStatusChanged(trunk.name, state or trunk.state,
                                            reason if reason is not None else trunk.reason))

    def status(self, trunk: Trunk) -> TrunkStatus:
        now = self.clock.monotonic()
        registration = trunk.registration
        return TrunkStatus(
            name=trunk.name, kind=trunk.config.kind, state=trunk.state, reason=trunk.reason,
            registered=registration is not None
            and registration.state is RegistrationState.REGISTERED,
            available=trunk.available, channels=len(trunk.channels),
            max_channels=trunk.config.max_channels,
            calls_per_second=sum(1 for start in trunk.starts if start > now - 1.0),
            max_cps=trunk.config.max_cps, calls=trunk.calls, failures=trunk.failures,
            last_failure=trunk.last_failure, last_failure_at=trunk.last_failure_at)

    def statuses(self) -> list[TrunkStatus]:
        """Every trunk's status, by name."""
        return [self.status(self.trunks[name]) for name in sorted(self.trunks)]



def _uri_params(config: TrunkConfig) -> tuple[tuple[str, str | None], ...]:
    """``transport=tcp`` or ``transport=tls`` for the trunk's URIs (none for UDP, and none
    for sips: URIs, which mean TLS by themselves: RFC 5630 §3.1.3)."""
    if config.transport in ("tcp", "tls") and not config.sips:
        return (("transport", config.transport),)
    return ()
