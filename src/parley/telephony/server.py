"""A running SIP server: transport, RTP relay, media shell, engine and dial plan wired together.

:class:`Telephony` is what the composition root (and an integration-test fixture) builds::

    telephony = Telephony(TelephonySettings(host="127.0.0.1", sip_port=0,
                                            rtp_ports=(20000, 20999)), users, clock)
    async with telephony:                 # binds UDP+TCP SIP and the relay, serves
        channel = telephony.originate("1002", caller_id="1001", timeout=20)
        ...
    # leaving the block ends every call and closes every socket

``run()`` serves until cancelled (the form ``parley demo`` uses inside its task group).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog

from parley.clock import Clock
from parley.config import MediaSettings, recordings_dir
from parley.events import RecordingStored, SecurityEvent, TelephonyEvent
from parley.ids import IdSource
from parley.media import MediaError
from parley.net.relay import MediaRelay
from parley.net.rtp_ports import RtpPortPool
from parley.net.transport import SipTransport, TcpLimits
from parley.net.websocket import WsConnections, WsLimits
from parley.numbering import Numbering
from parley.sip.guard import AuthGuard, GuardSettings
from parley.sip.message import extra_headers
from parley.telephony.channel import Bridge, BridgeRole, Channel
from parley.telephony.dialplan import ExtensionDialPlan, NumberHandler
from parley.telephony.engine import EngineConfig, SipEngine, TrunkPeer
from parley.telephony.media import MediaShell
from parley.telephony.media_sdp import Codec
from parley.telephony.moh import MusicOnHold
from parley.telephony.outside import OutsideCalls
from parley.telephony.prompts import PromptLibrary
from parley.telephony.refer import ReferHandler
from parley.telephony.trunks import TrunkCall, TrunkConfig, Trunks, TrunkStatus
from parley.telephony.users import UserDirectory

log = structlog.get_logger("parley.telephony.server")


@dataclass
class TelephonySettings:
    """Where the SIP server listens and how it treats calls."""

    host: str = "127.0.0.1"
    sip_port: int = 5060  # 0 picks a free port (tests)
    rtp_ports: tuple[int, int] = (20000, 29999)
    realm: str = "parley"
    media_host: str | None = None  # address put in SDP; default: host
    no_answer_timeout: float = 30.0
    media_timeout: float = 60.0
    #: a browser (WebRTC leg) that has not refreshed ICE consent for this long is gone
    #: (RFC 7675 says 30 s); its call ends with cause CONSENT_EXPIRED
    webrtc_consent_timeout: float = 30.0
    trunks: tuple[TrunkPeer, ...] = ()
    public_numbers: frozenset[str] = field(default_factory=frozenset)
    busy_when_in_call: bool = True
    #: digest challenges offered: MD5 only by default (baresip 1.0 and older phones fail on
    #: any other); ("SHA-256", "MD5") where every phone supports RFC 8760
    digest_algorithms: tuple[str, ...] = ("MD5",)
    sip_t1: float = 0.5  # RFC 3261 T1 (seconds)
    min_expires: int = 60  # the shortest registration accepted (seconds)
    data_dir: Path = Path("parley-data")  # cache/ (prompts, speech) and recordings/
    media: MediaSettings = field(default_factory=MediaSettings)
    media_slots: int = 10  # phases of the 20 ms media ticker
    #: limits against password guessing (parley.sip.guard) and TCP hoarding (docs/sip.md)
    guard: GuardSettings = field(default_factory=GuardSettings)
    tcp: TcpLimits = field(default_factory=TcpLimits)
    #: limits on browsers' SIP-over-WebSocket connections (served by the web server)
    ws: WsLimits = field(default_factory=WsLimits)


class Telephony:
    """The telephony service of one node (see the module docstring)."""

    def __init__(self, settings: TelephonySettings, users: UserDirectory, clock: Clock,
                 ids: IdSource | None = None, *,
                 on_security_event: Callable[[SecurityEvent], object] | None = None) -> None:
        self.settings = settings
        self.users = users
        self.clock = clock
        self.ids = ids or IdSource(clock)
        media_host = settings.media_host or settings.host
        self.pool = RtpPortPool(media_host, *settings.rtp_ports)
        self.relay = MediaRelay(self.pool, clock, timeout=settings.media_timeout,
                                consent_timeout=settings.webrtc_consent_timeout,
                                kernel_forwarding=settings.media.kernel_forwarding,
                                kernel_new_streams=settings.media.kernel_new_streams,
                                relay_workers=settings.media.relay_worker_count())
        self.dialplan = ExtensionDialPlan(self, no_answer_timeout=settings.no_answer_timeout,
                                          busy_when_in_call=settings.busy_when_in_call)
        self._refer_handler: ReferHandler | None = None
        #: outside numbers: routes, rights and the trunk line (the contact center sets them)
        self.outside = OutsideCalls()
        self.guard = AuthGuard(settings.guard, clock, on_event=on_security_event)
        self.engine = SipEngine(
            EngineConfig(host=settings.host, port=settings.sip_port, realm=settings.realm,
                         media_host=media_host, no_answer_timeout=settings.no_answer_timeout,
                         trunks=settings.trunks, public_numbers=settings.public_numbers,
                         digest_algorithms=settings.digest_algorithms, t1=settings.sip_t1,
                         min_expires=settings.min_expires),
            self.relay, users, clock, self.ids, on_inbound=self.dialplan,
            refer_handler=lambda: self._refer_handler, guard=self.guard)
        self.prompts = PromptLibrary.from_settings(settings.media, settings.data_dir)
        self.moh = MusicOnHold.from_settings(self.prompts, settings.media)
        self._repaired: list[RecordingStored] = []  # recordings repaired at start
        #: the recordings folder is on storage the cluster's nodes share
        self.shared_recordings = settings.media.recordings_shared
        self.media = MediaShell(self.engine, clock, self.prompts, self.moh,
                                recordings_dir(settings.data_dir, settings.media),
                                slots=settings.media_slots)
        self.engine.media = self.media
        self.transport = SipTransport(settings.host, settings.sip_port, self.engine.handle,
                                      limits=settings.tcp, ws=WsConnections(settings.ws))
        self.transport.ws.on_closed = self.engine.ws_closed
        self.engine.transport = self.transport
        self.trunks = Trunks(self.engine, clock)
        self._runner: asyncio.Task[None] | None = None

    @property
    def realm(self) -> str:
        """The digest realm phones authenticate in."""
        return self.engine.config.realm

    def set_realm(self, realm: str) -> None:
        """Authenticate in ``realm`` from now on; load users with digests for it."""
        self.engine.set_realm(realm)

    @property
    def sip_port(self) -> int:
        return self.transport.port

    async def start(self) -> None:
        """Repair recordings a crash left open, then bind the SIP listeners (UDP and TCP);
        the engine learns the chosen port."""
        if not self.shared_recordings:  # on shared storage, the active node's (below)
            self._repair_recordings()
        await self.transport.start()
        self.engine.config.port = self.transport.port
        if self.relay.kernel_forwarding:
            self.relay.start_kernel()  # its table is there before the first call
        self.relay.start_workers()  # and the relay workers (media.relay_workers)

    async def run(self) -> None:
        """Serve until cancelled, then end calls and close sockets in order."""
        if self.transport.port == 0 or self.transport._udp is None:
            await self.start()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.relay.run())
                group.create_task(self.media.run())
                group.create_task(self._warm_hold_music())
                group.create_task(self.engine.run())
                group.create_task(self.trunks.run())
        finally:
            await self.transport.close()

    async def _warm_hold_music(self) -> None:
        """Load and convert the hold music in a worker thread at start (a standby's too):
        done on the event loop at the first caller put on hold, it stood every call's
        audio still for a fraction of a second, and a node just taking over can afford that
        least. A class that cannot be played is logged; its callers hear silence."""
        for name in self.moh.class_names():
            try:
                await asyncio.to_thread(self.moh.tracks, name)
            except MediaError as exc:
                log.warning("hold_music_unavailable", moh_class=name, error=str(exc))

    def _repair_recordings(self, live: Callable[[Mapping[str, Any]], bool] | None = None
                           ) -> None:
        from parley.telephony.recording import recording_stored, repair_directory

        if not self.media.recordings_dir.is_dir():
            return
        for repaired in repair_directory(self.media.recordings_dir, live=live):
            log.warning("recording_repaired", path=str(repaired.path),
                        duration_s=repaired.duration_s)
            stored = recording_stored(repaired)
            if stored is not None:  # for the call record (take_repaired)
                self._repaired.append(stored)

    async def repair_shared_recordings(self) -> None:
        """Recordings on shared storage (``media.recordings_shared``), once this node is
        active and has gone on with the recordings of the calls it carried over: repair
        those that another node (or this one, before a restart) left unfinished, not
        those this node writes (:meth:`take_repaired` hands them to their call records).
        Only the active node may: the other one's files are written while it is active."""
        begun = datetime.now(UTC)
        writing = self.media.recordings  # read from the worker thread: membership only

        def live(meta: Mapping[str, Any]) -> bool:
            if meta.get("recording_id") in writing:
                return True
            try:  # one started after this began is a new one of this node's
                return datetime.fromisoformat(str(meta.get("started"))) >= begun
            except (TypeError, ValueError):  # no start to read: left alone
                return True

        await asyncio.to_thread(self._repair_recordings, live)

    def take_repaired(self) -> list[RecordingStored]:
        """The recordings a crash cut off, repaired at start, as notices for their call
        records (each given once)."""
        repaired, self._repaired = self._repaired, []
        return repaired

    async def __aenter__(self) -> Telephony:
        await self.start()
        self._runner = asyncio.get_running_loop().create_task(self.run())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None

    # --- the call-control API ----------------------------------------------------------------

    def originate(self, endpoint: str, caller_id: str, timeout: float,
                  variables: dict[str, str] | None = None, *,
                  codecs: tuple[Codec, ...] | None = None,
                  headers: Mapping[str, str] | None = None,
                  interaction_id: str = "") -> Channel:
        """Call a registered user, a static contact or a ``sip:`` URI (see SipEngine).

        ``headers`` go into the INVITE as given (names must be SIP tokens, values one line:
        ValueError otherwise); ``interaction_id`` ties the new leg to a call record (default:
        the leg's own id) and is reported in ``ChannelCreated``.
        """
        return self.engine.originate(endpoint, caller_id, timeout, variables, codecs=codecs,
                                     headers=headers, interaction_id=interaction_id)

    async def dial_out(self, calls: Sequence[TrunkCall], *, timeout: float,  # noqa: ASYNC109
                       variables: Mapping[str, str] | None = None, interaction_id: str = "",
                       headers: Mapping[str, str] | None = None,
                       codecs: tuple[Codec, ...] | None = None) -> Channel:
        """Call out through carriers' trunks: ``calls`` in order, each a trunk with the
        number as it should receive it and the caller ID and presentation to send
        (:class:`parley.telephony.trunks.TrunkCall`). The next trunk is tried on 5xx, 408,
        silence or a trunk down or full, not on 404/486/603. Returns the channel once it
        rings or answers (or has ended: ``hangup_cause``, ``sip_status``); raises
        :class:`parley.telephony.engine.OriginateError` when no trunk could be tried and
        ValueError for a malformed header. ``codecs`` orders the offer (a bridged caller's),
        within each trunk's own. Cancelling the wait hangs the attempt up."""
        return await self.trunks.dial(calls, timeout=timeout, variables=variables,
                                      interaction_id=interaction_id,
                                      headers=extra_headers(headers), codecs=codecs)

    def trunk_available(self, name: str) -> bool:
        """Whether calls may go out through trunk ``name`` now (up, registered if it
        registers, a channel free)."""
        return self.trunks.is_available(name)

    async def set_trunks(self, configs: Sequence[TrunkConfig]) -> None:
        """Take the configured trunks (started, stopped or restarted as they changed)."""
        await self.trunks.configure(configs)

    def trunk_statuses(self) -> list[TrunkStatus]:
        """Every trunk's state (registered or not and why, channels, calls per second)."""
        return self.trunks.statuses()

    # --- routing: the seams the contact center uses -----------------------------------------

    def route(self, number: str, handler: NumberHandler, *, public: bool = True) -> None:
        """Send calls to ``number`` to ``handler`` (a flow, a queue). ``public``: callers who
        are not users of this site may dial it too (an inbound number)."""
        self.dialplan.add_number(number, handler)
        if public:
            self.engine.config.public_numbers = self.engine.config.public_numbers | {number}

    def unroute(self, number: str) -> None:
        """Stop routing ``number`` (a number removed from the configuration)."""
        self.dialplan.numbers.pop(number, None)
        self.engine.config.public_numbers = self.engine.config.public_numbers - {number}

    def routed(self) -> frozenset[str]:
        """The numbers that have a handler."""
        return frozenset(self.dialplan.numbers)

    def set_numbering(self, numbering: Numbering) -> None:
        """Normalise numbers from outside with ``numbering`` (the site's region) from now on."""
        self.engine.config.numbering = numbering

    def handle_refers(self, handler: ReferHandler | None) -> None:
        """Run ``async (channel, ReferRequest) -> bool`` when a phone transfers by REFER
        (True: done, the phone hears 200; False or an error: 503). None: REFER gets 603."""
        self._refer_handler = handler

    def is_busy(self, user: str) -> bool:
        """Whether ``user``'s phone is in a call."""
        return self.dialplan.is_busy(user)

    def channel(self, channel_id: str) -> Channel | None:
        """The channel with this id: live, or ended within the last 32 s (see ``ended``)."""
        return self.engine.by_id.get(channel_id)

    def channels(self) -> list[Channel]:
        """Every live (not hung-up) channel."""
        return self.engine.active_channels

    def find_dialog(self, call_id: str, local_tag: str | None,
                    remote_tag: str | None) -> Channel | None:
        """The live channel whose SIP dialog has this Call-ID and tags (None: any tag).

        Tags are Parley's side of the dialog. From a Replaces header (RFC 3891 §3: the
        to-tag is compared with the local tag, the from-tag with the remote tag) call
        ``find_dialog(replaces.call_id, replaces.to_tag, replaces.from_tag)``. Phones that
        wrote the tags from their own point of view are matched too, after the exact order.
        """
        channel = self.engine.channels.get(call_id)
        if channel is None or channel.ended:
            return None

        def fits(local: str | None, remote: str | None) -> bool:
            return (local is None or local == channel.local_tag) and \
                (remote is None or remote == channel.remote_tag)

        return channel if fits(local_tag, remote_tag) or fits(remote_tag, local_tag) else None

    def bridge(self, *channels: Channel) -> Bridge:
        """A new bridge holding ``channels`` as participants."""
        bridge = Bridge(self.relay)
        for channel in channels:
            bridge.add(channel, BridgeRole.PARTICIPANT)
        return bridge

    def subscribe(self, subscriber: Callable[[TelephonyEvent], None]) -> Callable[[], None]:
        """Deliver every telephony event to ``subscriber``; returns the unsubscribe function."""
        return self.engine.subscribe(subscriber)

    @contextlib.asynccontextmanager
    async def events(self) -> AsyncIterator[asyncio.Queue[TelephonyEvent]]:
        """A queue that receives every telephony event while the block runs."""
        queue: asyncio.Queue[TelephonyEvent] = asyncio.Queue()
        unsubscribe = self.subscribe(queue.put_nowait)
        try:
            yield queue
        finally:
            unsubscribe()
