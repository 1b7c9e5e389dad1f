"""Channels and bridges: the call-control seam of DESIGN.md §3 over real SIP legs.

A :class:`Channel` is one call leg between Parley and a phone (or trunk): an inbound channel is
created by an INVITE, an outbound one by :meth:`Telephony.originate`. Its methods send SIP
through the engine (``ring`` 180, ``answer`` 200 with SDP, ``hangup`` a final status, CANCEL or
BYE, ``hold``/``unhold`` a re-INVITE with sendonly/sendrecv) and its state changes are
published as :mod:`parley.events` to the engine's subscribers.

A :class:`Bridge` joins channels so that they hear each other; two parties are relayed packet
for packet by :mod:`parley.net.relay`. Roles (``listen``, ``whisper``) and mixing for three or
more parties plug in at :meth:`Bridge.add`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from parley.events import Answered, Direction, Hangup, HangupCause, Ringing
from parley.net.relay import MediaEndpoint, MediaRelay
from parley.net.transport import Peer
from parley.sip.dialog import Dialog
from parley.sip.headers import NameAddr
from parley.sip.message import SipRequest
from parley.sip.uri import SipUri
from parley.telephony.media_sdp import Codec, RemoteAudio, build_sdp

if TYPE_CHECKING:
    from parley.telephony.engine import SipEngine

_ids = itertools.count(1)


class ChannelState(StrEnum):
    """Where a leg stands; HUNGUP is final."""

    DOWN = "down"  # created, nothing said yet
    RINGING = "ringing"  # inbound: 180 sent; outbound: 180/183 received
    UP = "up"  # answered
    HUNGUP = "hungup"


class ChannelError(RuntimeError):
    """A channel operation its state does not allow (answering a hung-up channel...)."""


@dataclass(eq=False)
class Channel:
    """One call leg. ``caller`` is the ANI, ``called`` the DNIS; ``variables`` travel along."""

    engine: SipEngine
    direction: Direction
    caller: str
    called: str
    media: MediaEndpoint
    call_id: str
    local_tag: str
    local_party: NameAddr  # our side of the dialog (From on outbound, To on inbound), no tag
    remote_party: NameAddr
    remote_target: SipUri
    peer: Peer
    variables: dict[str, str] = field(default_factory=dict)
    id: str = field(default_factory=lambda: f"ch-{next(_ids)}")
    state: ChannelState = ChannelState.DOWN
    remote_tag: str | None = None
    local_cseq: int = 1
    remote_cseq: int = 0
    invite: SipRequest | None = None  # inbound: the INVITE received; outbound: the one sent
    dialog: Dialog | None = None  # RFC 3261 §12 state: tags, CSeq, remote target, route set
    remote_audio: RemoteAudio | None = None
    codec: Codec | None = None
    dtmf_payload_type: int | None = 101
    hangup_cause: HangupCause | None = None
    hangup_by: str = ""
    on_hold: bool = False
    bridge: Bridge | None = None
    sdp_version: int = 0
    session_id: int = field(default_factory=lambda: next(_ids) * 1000)
    log: Any = None
    _answered: asyncio.Event = field(default_factory=asyncio.Event)
    _ended: asyncio.Event = field(default_factory=asyncio.Event)
    _listeners: list[Callable[[Channel], None]] = field(default_factory=list)
    # outbound (UAC) bookkeeping
    invite_branch: str = ""
    provisional_seen: bool = False
    cancel_pending: bool = False
    timeout_handle: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        self.log = self.engine.call_log.bind(call_id=self.call_id, channel_id=self.id)

    # --- what the contact center sees --------------------------------------------------------

    @property
    def is_up(self) -> bool:
        return self.state is ChannelState.UP

    @property
    def ended(self) -> bool:
        return self.state is ChannelState.HUNGUP

    def ring(self) -> None:
        """Tell an inbound caller that the call is ringing (180 Ringing)."""
        if self.direction is not Direction.INBOUND or self.state is not ChannelState.DOWN:
            return
        self.engine.respond_invite(self, 180)
        self._set_state(ChannelState.RINGING)
        self.engine.emit(Ringing(self.id))

    def answer(self, codec: Codec | None = None) -> None:
        """Answer an inbound call (200 OK with Parley's SDP); ``codec`` picks from the offer."""
        if self.direction is not Direction.INBOUND:
            raise ChannelError("only an inbound channel can be answered")
        if self.state is ChannelState.HUNGUP:
            raise ChannelError(f"channel {self.id} is hung up")
        if self.state is ChannelState.UP:
            return
        if self.remote_audio is None:
            raise ChannelError("the INVITE carried no usable SDP offer")
        chosen = self.remote_audio.codec
        if codec is not None:
            for offered in self.remote_audio.codecs:
                if offered.name == codec.name:
                    chosen = offered
        self.codec = chosen
        self.dtmf_payload_type = self.remote_audio.dtmf_payload_type
        self.engine.respond_invite(self, 200, body=self.local_sdp())
        if self.dialog is not None:
            self.dialog.confirm()
        self._set_state(ChannelState.UP)
        self._answered.set()
        self.engine.emit(Answered(self.id))

    def hangup(self, cause: HangupCause = HangupCause.NORMAL_CLEARING) -> None:
        """End the leg: a final failure before answer (inbound), CANCEL (outbound), else BYE."""
        if self.state is ChannelState.HUNGUP:
            return
        if self.state is ChannelState.UP:
            self.engine.send_in_dialog(self, "BYE")
        elif self.direction is Direction.INBOUND:
            self.engine.reject_invite(self, cause)
        else:
            self.engine.cancel_invite(self)
        self.ended_by(cause, "local")

    def hold(self) -> None:
        """Put the phone on hold: a re-INVITE offering ``a=sendonly`` (RFC 3264 §8.4)."""
        self._reinvite(hold=True)

    def unhold(self) -> None:
        """Take the phone off hold: a re-INVITE offering ``a=sendrecv`` again."""
        self._reinvite(hold=False)

    def _reinvite(self, *, hold: bool) -> None:
        if self.state is not ChannelState.UP:
            raise ChannelError(f"channel {self.id} is not up")
        if self.on_hold == hold:
            return
        self.on_hold = hold
        self.media.on_hold = hold
        self.engine.send_in_dialog(self, "INVITE", body=self.local_sdp(
            "sendonly" if hold else "sendrecv"))

    async def wait_answered(self, within: float | None = None) -> bool:
        """True once answered; False if it ended first or ``within`` seconds passed."""
        answered = asyncio.ensure_future(self._answered.wait())
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({answered, ended}, timeout=within,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            answered.cancel()
            ended.cancel()
        return self.state is ChannelState.UP

    async def wait_ended(self, within: float | None = None) -> bool:
        """True once the channel is hung up (False if ``within`` seconds passed first)."""
        try:
            await asyncio.wait_for(self._ended.wait(), within)
        except TimeoutError:
            return False
        return True

    def on_change(self, listener: Callable[[Channel], None]) -> None:
        """Call ``listener(channel)`` after every state change (bridges use this)."""
        self._listeners.append(listener)

    # --- used by the engine ------------------------------------------------------------------

    def local_sdp(self, direction: str = "sendrecv") -> bytes:
        self.sdp_version += 1
        codecs: tuple[Codec, ...] = (self.codec,) if self.codec is not None else ()
        if not codecs and self.remote_audio is not None:
            codecs = self.remote_audio.codecs
        return build_sdp(self.engine.media_host, self.media.port, codecs or self.engine.codecs,
                         session_id=self.session_id, version=self.sdp_version,
                         dtmf_payload_type=self.dtmf_payload_type, direction=direction)

    def remote_answered(self) -> None:
        if self.state is ChannelState.UP or self.state is ChannelState.HUNGUP:
            return
        self._set_state(ChannelState.UP)
        self._answered.set()
        self.engine.emit(Answered(self.id))

    def remote_ringing(self) -> None:
        if self.state is ChannelState.DOWN:
            self._set_state(ChannelState.RINGING)
            self.engine.emit(Ringing(self.id))

    def ended_by(self, cause: HangupCause, by: str) -> None:
        """Mark the channel hung up (after the SIP side is done), free media, publish Hangup."""
        if self.state is ChannelState.HUNGUP:
            return
        self.hangup_cause = cause
        self.hangup_by = by
        if self.timeout_handle is not None:
            self.timeout_handle.cancel()
        self._set_state(ChannelState.HUNGUP)
        self.log.info("channel_hangup", cause=cause.name, by=by)
        if self.bridge is not None:
            self.bridge.remove(self)
        self.media.close()
        self._ended.set()
        self.engine.channel_ended(self)
        self.engine.emit(Hangup(self.id, cause, by))

    def _set_state(self, state: ChannelState) -> None:
        self.state = state
        for listener in list(self._listeners):
            listener(self)


class BridgeRole(StrEnum):
    PARTICIPANT = "participant"
    LISTEN = "listen"  # silent monitor: hears everyone, heard by nobody
    WHISPER = "whisper"  # heard by one side only


class BridgeError(RuntimeError):
    """A bridge operation that is not possible (a third party before mixing exists...)."""


@dataclass(eq=False)
class Bridge:
    """Channels that hear each other. Two participants are relayed without decoding."""

    relay: MediaRelay
    id: str = field(default_factory=lambda: f"br-{next(_ids)}")
    members: dict[Channel, BridgeRole] = field(default_factory=dict)
    destroyed: bool = False

    def add(self, channel: Channel, role: BridgeRole = BridgeRole.PARTICIPANT) -> None:
        """Add a channel. Roles other than participant need the mixer (media/)."""
        if self.destroyed:
            raise BridgeError(f"bridge {self.id} is destroyed")
        if channel.ended:
            raise BridgeError(f"channel {channel.id} is hung up")
        if role is not BridgeRole.PARTICIPANT or len(self.members) >= 2:
            raise BridgeError("this bridge relays two participants; roles and three-party "
                              "mixing need the mixer")
        if channel.bridge is not None and channel.bridge is not self:
            channel.bridge.remove(channel)
        self.members[channel] = role
        channel.bridge = self
        self._connect()

    def remove(self, channel: Channel) -> None:
        if channel not in self.members:
            return
        del self.members[channel]
        channel.bridge = None
        MediaRelay.unbridge(channel.media)

    def destroy(self) -> None:
        for channel in list(self.members):
            self.remove(channel)
        self.destroyed = True

    def _connect(self) -> None:
        if len(self.members) == 2:
            first, second = self.members
            self.relay.bridge(first.media, second.media)
