"""Channels and bridges: the call-control seam of DESIGN.md §3 over real SIP legs.

A :class:`Channel` is one call leg between Parley and a phone (or trunk): an inbound channel is
created by an INVITE, an outbound one by :meth:`Telephony.originate`. Its methods drive its
internal :class:`~parley.telephony.leg.SipLeg` (``ring`` 180, ``answer`` 200 with SDP,
``hangup`` a final status, CANCEL or BYE, ``hold``/``unhold`` a re-INVITE with
sendonly/sendrecv) and its state changes are published as :mod:`parley.events` to the
engine's subscribers.

Media (play, collect, record, hold music, key presses, echo) goes through the engine's
:class:`~parley.telephony.media.MediaShell`. A :class:`Bridge` joins channels so that they hear
each other; two parties are relayed packet for packet by :mod:`parley.net.relay`; roles
(``listen``, ``whisper``, ``barge``) and three or more parties are mixed by the media hub.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from parley.clock import Clock
from parley.events import Answered, Direction, Hangup, HangupCause, Ringing
from parley.net.relay import MediaEndpoint, MediaRelay
from parley.telephony.causes import status_for_cause
from parley.telephony.media_sdp import Codec, RemoteAudio

if TYPE_CHECKING:
    from parley.media.amd import AmdSettings
    from parley.media.early_media import EarlyMediaSettings
    from parley.media.stream import ReceivedDigit
    from parley.telephony.engine import SipEngine
    from parley.telephony.leg import SipLeg
    from parley.telephony.media import CallRecording, MediaItem, MediaShell, Playback
    from parley.telephony.recording import CutRecording



class Signal:
    """A flag set once, that waiters race against each other and a timeout without a task each
    (an :class:`asyncio.Event` has to be waited on in a task of its own to be raced)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        """Set it and wake whoever waits; setting it again does nothing."""
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            _wake(waiter)

    def watch(self, waiter: asyncio.Future[None]) -> None:
        """Complete ``waiter`` when the flag is set."""
        self._waiters.append(waiter)

    def unwatch(self, waiter: asyncio.Future[None]) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)


def _wake(waiter: asyncio.Future[None], *_: object) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def until(clock: Clock | None, signals: Sequence[Signal], within: float | None,
                futures: Sequence[asyncio.Future[Any]] = ()) -> None:
    """Return once one of ``signals`` is set, one of ``futures`` is done, or ``within``
    seconds of ``clock`` time have passed (None: no limit), so that call-control waits run on
    a virtual clock in tests. One future is all it creates (and a timer with ``within``)."""
    if within is not None and clock is None:
        raise ValueError("a wait with a time limit needs a clock")
    if any(signal.is_set() for signal in signals) or any(f.done() for f in futures):
        return
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    for signal in signals:
        signal.watch(waiter)
    wake = partial(_wake, waiter)
    for future in futures:
        future.add_done_callback(wake)
    handle = None if within is None or clock is None else clock.call_later(within, wake)
    try:
        await waiter
    finally:
        if handle is not None:
            handle.cancel()
        for signal in signals:
            signal.unwatch(waiter)
        for future in futures:
            future.remove_done_callback(wake)


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
    """One call leg. ``caller`` is the ANI, ``called`` the DNIS; ``variables`` travel along.

    The SIP side (INVITE session, dialog, tags, negotiated media) is the internal
    :class:`~parley.telephony.leg.SipLeg` in ``leg``; the properties below show what call
    control may read of it.
    """

    engine: SipEngine
    direction: Direction
    caller: str
    called: str
    media: MediaEndpoint
    leg: SipLeg
    variables: dict[str, str] = field(default_factory=dict)
    #: Unique across nodes and restarts (the engine's IdSource); the default is for unit use.
    id: str = field(default_factory=lambda: f"ch-{uuid.uuid4()}")
    #: The call record this leg belongs to: an inbound leg's own id; an originated leg's is
    #: given to originate() (a queue's operator leg, a transfer target) so that one id
    #: follows the call across legs and transfers.
    interaction_id: str = ""
    state: ChannelState = ChannelState.DOWN
    hangup_cause: HangupCause | None = None
    hangup_by: str = ""
    #: The carrier's trunk this leg goes through ("" for phones and other peers).
    trunk: str = ""
    #: The final SIP status of the leg's INVITE (200 once answered), when one was given.
    sip_status: int | None = None
    on_hold: bool = False
    bridge: Bridge | None = None
    log: Any = None
    #: when the leg began and was answered (wall clock; a leg carried over from another
    #: node keeps that node's times)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    answered_at: datetime | None = None
    _answered: Signal = field(default_factory=Signal)
    _ended: Signal = field(default_factory=Signal)
    _listeners: list[Callable[[Channel], None]] = field(default_factory=list)
    _early_media: EarlyMediaSettings | None = None  # asked for, not yet heard
    _early_listening: bool = False

    def __post_init__(self) -> None:
        if not self.interaction_id:
            self.interaction_id = self.id
        self.leg.channel = self
        self.log = self.engine.call_log.bind(call_id=self.call_id, channel_id=self.id)

    @property
    def call_id(self) -> str:
        return self.leg.call_id

    @property
    def local_tag(self) -> str:
        return self.leg.local_tag

    @property
    def remote_tag(self) -> str | None:
        return self.leg.remote_tag

    @property
    def remote_audio(self) -> RemoteAudio | None:
        """The phone's audio as its SDP described it (offer or answer)."""
        return self.leg.remote_audio

    @property
    def codec(self) -> Codec | None:
        return self.leg.codec

    @property
    def dtmf_payload_type(self) -> int | None:
        return self.leg.dtmf_payload_type

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
        self.leg.ring()
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
        leg = self.leg
        if leg.remote_audio is None:
            raise ChannelError("the INVITE carried no usable SDP offer")
        chosen = leg.remote_audio.codec
        if codec is not None:
            for offered in leg.remote_audio.codecs:
                if offered.name == codec.name:
                    chosen = offered
        leg.codec = chosen
        leg.dtmf_payload_type = None if leg.dtmf_mode == "info" \
            else leg.remote_audio.dtmf_payload_type
        leg.answer(self.local_sdp())
        self.sip_status = 200
        self._set_state(ChannelState.UP)
        self._answered.set()
        self.answered_at = datetime.now(UTC)
        self.engine.emit(Answered(self.id))

    def carried_on(self) -> None:
        """This leg is an answered call carried over from another node: it is up."""
        self.sip_status = 200
        self._set_state(ChannelState.UP)
        self._answered.set()

    def hangup(self, cause: HangupCause = HangupCause.NORMAL_CLEARING) -> None:
        """End the leg: a final failure before answer (inbound), CANCEL (outbound), else BYE."""
        if self.state is ChannelState.HUNGUP:
            return
        if self.handed_over():
            self.log.info("channel_left_to_the_other_node", cause=cause.name)
            self.media.hand_over()
            return
        if self.sip_status is None:  # ended before any final answer: what was sent or meant
            self.sip_status = 487 if self.direction is Direction.OUTBOUND \
                else status_for_cause(cause)
        self.leg.hangup(cause)
        self.ended_by(cause, "local")

    def handed_over(self) -> bool:
        """Whether the cluster's other node goes on with this leg (a planned switch-over:
        this node must not end it while it stops)."""
        keeps = self.engine.handed_over
        return keeps is not None and keeps(self)

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
        self.leg.reinvite(self.local_sdp("sendonly" if hold else "sendrecv"))
        self.media_changed()

    def media_changed(self) -> None:
        """The leg's media changed (hold, the phone's address): its bridge's kept state
        follows (a hot-standby node's relayed calls, parley.telephony.carry)."""
        if self.bridge is not None:
            self.bridge.changed(self)

    # --- media (the hub, through the engine's media shell) ------------------------------------

    def _shell(self) -> MediaShell:
        shell = self.engine.media
        if shell is None:
            raise ChannelError("this node has no media shell")
        if self.state is ChannelState.HUNGUP:
            raise ChannelError(f"channel {self.id} is hung up")
        return shell

    def play(self, media: MediaItem | Sequence[MediaItem], *, loop: bool = False) -> Playback:
        """Play prompt names (``queue-thereare``, ``digits/5``), WAV files (``Path``), prompts,
        ``Speech(text)``, ``Tone("beep")`` or a playlist of them; ``PlaybackFinished`` tells
        when and why it ended (done, stopped, hangup)."""
        return self._shell().play(self, media, loop=loop)

    async def collect(self, max_digits: int = 1, timeout: float = 5.0,  # noqa: ASYNC109 (§3)
                      inter_digit_timeout: float = 3.0, terminators: str = "#") -> str:
        """Key presses (RFC 4733, in-band or SIP INFO) until ``max_digits``, a terminator (not
        returned), ``timeout`` before the first or ``inter_digit_timeout`` between two.
        Digits pressed before the call are kept (type-ahead)."""
        shell = self._shell()
        shell.attach(self)
        queue = shell.digits[self.id]
        shell.collecting(self, True)
        try:
            return await self._collect(queue, max_digits, timeout, inter_digit_timeout,
                                       terminators)
        finally:
            if not self.ended:
                shell.collecting(self, False)

    async def _collect(self, queue: asyncio.Queue[ReceivedDigit], max_digits: int,
                       first_wait: float, inter_digit_timeout: float, terminators: str) -> str:
        digits = ""
        wait = first_wait
        while len(digits) < max_digits and not self.ended:
            getting = asyncio.ensure_future(queue.get())
            try:
                await until(self.engine.clock, (self._ended,), wait, (getting,))
            finally:
                if not getting.done():
                    getting.cancel()
            if not getting.done() or getting.cancelled():
                break  # timed out, or the caller hung up
            received = getting.result()
            if received.digit in terminators:
                break
            digits += received.digit
            wait = inter_digit_timeout
        return digits

    def record(self, operator: Channel | None = None, *, name: str | None = None
               ) -> CallRecording:
        """Record this channel (left) and ``operator`` or its bridge (right) to a stereo WAV
        under ``<data_dir>/recordings``; pause, resume and stop on the returned recording."""
        return self._shell().record(self, operator, name=name)

    def start_moh(self, class_name: str = "default") -> None:
        """Hold music of a class; it continues where it stopped last time."""
        self._shell().start_moh(self, class_name)

    def stop_moh(self) -> None:
        self._shell().stop_moh(self)

    def send_dtmf(self, digits: str, duration_ms: int = 100) -> None:
        """Key presses to the phone (RFC 4733 if negotiated, SIP INFO on a leg whose DTMF
        mode is info, else in-band tones)."""
        if self.leg.dtmf_mode == "info":
            for digit in digits:
                self.leg.request("INFO", body=f"Signal={digit}\r\nDuration={duration_ms}\r\n"
                                 .encode(), content_type="application/dtmf-relay")
            return
        self._shell().send_dtmf(self, digits, duration_ms)

    def detect_machine(self, settings: AmdSettings | None = None) -> None:
        """Answering-machine detection on an answered (outbound) leg: ``AmdResult`` follows."""
        shell = self._shell()
        shell.attach(self)
        shell.hub.detect_machine(self.id, settings)

    def detect_early_media(self, settings: EarlyMediaSettings | None = None) -> None:
        """Listen to what the network plays before this outbound leg is answered (early media
        of a 180/183 with SDP): busy, congestion, special information tones, an announcement
        ("the subscriber is unavailable"). ``EarlyMediaResult`` follows when one is
        recognised, so the attempt can close with its cause instead of ringing out. Call it
        right after originate(); listening stops at the answer. A leg whose carrier sends no
        early media (or sends it as SRTP) is not analysed and no event follows."""
        from parley.media.early_media import EarlyMediaSettings

        if self.direction is not Direction.OUTBOUND:
            raise ChannelError("early media is listened to on outbound legs only")
        if self.state in (ChannelState.UP, ChannelState.HUNGUP):
            return
        self._early_media = settings or EarlyMediaSettings()
        if self.leg.remote_audio is not None:  # the early SDP came already
            self.early_media_started()

    def detect_greeting_end(self) -> None:
        """After a machine verdict: ``AmdResult`` "beep" (or "silence") follows when the
        greeting ends, the moment to leave a message."""
        shell = self._shell()
        shell.attach(self)
        shell.hub.detect_greeting_end(self.id)

    def echo(self, on: bool = True) -> None:
        """Send the phone its own audio back (the echo test)."""
        self._shell().echo(self, on)

    @property
    def answered_signal(self) -> Signal:
        """Set once the leg is answered (it stays set after the hang-up)."""
        return self._answered

    @property
    def ended_signal(self) -> Signal:
        """Set once the leg has ended."""
        return self._ended

    async def wait_answered(self, within: float | None = None) -> bool:
        """True once answered; False if it ended first or ``within`` seconds passed."""
        await until(self.engine.clock, (self._answered, self._ended), within)
        return self.state is ChannelState.UP

    async def wait_ended(self, within: float | None = None) -> bool:
        """True once the channel is hung up (False if ``within`` seconds passed first)."""
        await until(self.engine.clock, (self._ended,), within)
        return self._ended.is_set()

    def on_change(self, listener: Callable[[Channel], None]) -> None:
        """Call ``listener(channel)`` after every state change (bridges use this)."""
        self._listeners.append(listener)

    # --- used by the engine ------------------------------------------------------------------

    def local_sdp(self, direction: str = "sendrecv") -> bytes:
        return self.leg.local_sdp(self.media.port, direction)

    def early_media_started(self) -> None:
        """The carrier's early media has an address and codec: start listening, if asked."""
        settings = self._early_media
        shell = self.engine.media
        if settings is None or shell is None or \
                self.state not in (ChannelState.RINGING, ChannelState.DOWN):
            return
        self._early_media = None
        shell.attach(self)
        shell.hub.detect_early_media(self.id, settings)
        self._early_listening = True

    def _stop_early_media(self) -> None:
        """Answered: the early media is over; the leg leaves the hub so that what comes next
        (detection, playback) uses the answer's codec."""
        self._early_media = None
        if not self._early_listening:
            return
        self._early_listening = False
        shell = self.engine.media
        if shell is not None and shell.hub.has_leg(self.id):
            shell.hub.stop_early_media(self.id)
            shell.release(self)

    def remote_answered(self) -> None:
        if self.state is ChannelState.UP or self.state is ChannelState.HUNGUP:
            return
        self._stop_early_media()
        self._set_state(ChannelState.UP)
        self._answered.set()
        self.answered_at = datetime.now(UTC)
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
        self._set_state(ChannelState.HUNGUP)
        self._listeners.clear()  # the last change is told; they often close over this channel
        self.log.info("channel_hangup", cause=cause.name, by=by)
        if self.bridge is not None:
            self.bridge.remove(self)
        if self.engine.media is not None:
            self.engine.media.detach(self)
        self.media.close()
        self._ended.set()
        self.engine.channel_ended(self)
        self.engine.emit(Hangup(self.id, cause, by, self.sip_status))

    def _set_state(self, state: ChannelState) -> None:
        self.state = state
        for listener in list(self._listeners):
            listener(self)


class BridgeRole(StrEnum):
    PARTICIPANT = "participant"
    LISTEN = "listen"  # silent monitor: hears everyone, heard by nobody
    WHISPER = "whisper"  # heard by one side only (the operator)
    BARGE = "barge"  # a full party: hears and is heard by everyone


class BridgeError(RuntimeError):
    """A bridge operation that is not possible (a hung-up channel, a destroyed bridge...)."""


@dataclass(eq=False)
class Bridge:
    """Channels that hear each other.

    Two participants are relayed packet for packet without decoding. A third channel, or any
    role other than participant, moves every member into the media hub's mixer (mix-minus per
    member, roles applied); when the bridge is back to two participants it relays again.
    """

    relay: MediaRelay
    id: str = field(default_factory=lambda: f"br-{uuid.uuid4()}")
    members: dict[Channel, BridgeRole] = field(default_factory=dict)
    whisper_to: dict[Channel, Channel] = field(default_factory=dict)
    destroyed: bool = False
    mixing: bool = False

    def add(self, channel: Channel, role: BridgeRole | str = BridgeRole.PARTICIPANT,
            whisper_to: Channel | None = None) -> None:
        """Add a channel, or change the role of a member. ``whisper`` is heard by
        ``whisper_to`` only: by default the second participant (the operator; the first is
        the caller)."""
        role = BridgeRole(role)
        if self.destroyed:
            raise BridgeError(f"bridge {self.id} is destroyed")
        if channel.ended:
            raise BridgeError(f"channel {channel.id} is hung up")
        if channel.bridge is not None and channel.bridge is not self:
            channel.bridge.remove(channel)
        if role is BridgeRole.WHISPER:
            target = whisper_to or self._operator(excluding=channel)
            if target is None:
                raise BridgeError("a whisper needs an operator in the bridge to hear it")
            self.whisper_to[channel] = target
        else:
            self.whisper_to.pop(channel, None)
        self.members[channel] = role
        channel.bridge = self
        needs_mix = len(self.members) > 2 or any(
            r is not BridgeRole.PARTICIPANT for r in self.members.values())
        if needs_mix and not self.mixing:
            self._start_mixing()
        elif self.mixing:
            self._join(channel)
        else:
            self._connect()
        self._recordings_follow(channel)
        self.changed(channel)

    def changed(self, by: Channel) -> None:
        """Tell ``by``'s engine (``bridge_changed``: a hot-standby node keeps its relayed
        calls in the store) that this bridge changed through ``by``."""
        hook = by.engine.bridge_changed
        if hook is not None:
            hook(self)

    def _recordings_follow(self, channel: Channel) -> None:
        shell = channel.engine.media
        if shell is not None and shell.recordings:
            shell.follow_bridge(self)

    def _operator(self, excluding: Channel) -> Channel | None:
        participants = [c for c, r in self.members.items()
                        if r is BridgeRole.PARTICIPANT and c is not excluding]
        if not participants:
            return None
        return participants[1] if len(participants) > 1 else participants[0]

    def _shell(self, channel: Channel) -> MediaShell:
        shell = channel.engine.media
        if shell is None:
            raise BridgeError("mixing needs the media shell, and this node has none")
        return shell

    def _join(self, channel: Channel) -> None:
        self._shell(channel).join(self.id, channel, self.members[channel].value,
                                  self.whisper_to.get(channel))

    def _start_mixing(self) -> None:
        """Relay to mixer: the relay stops forwarding before the hub starts sending."""
        self.mixing = True
        for member in self.members:
            MediaRelay.unbridge(member.media)
        for member in self.members:
            self._join(member)

    def remove(self, channel: Channel) -> None:
        if channel not in self.members:
            return
        del self.members[channel]
        self.whisper_to.pop(channel, None)
        for listener, target in list(self.whisper_to.items()):
            if target is channel:  # the operator left: the whisper has nobody to reach
                del self.whisper_to[listener]
                self.members[listener] = BridgeRole.LISTEN
                if self.mixing:
                    self._join(listener)
        channel.bridge = None
        if self.mixing:
            self._shell(channel).leave(channel)
            if len(self.members) == 2 and all(
                    r is BridgeRole.PARTICIPANT for r in self.members.values()):
                for member in self.members:  # mixer to relay: the hub stops sending first
                    self._shell(member).leave(member)
                self.mixing = False
                self._connect()
        else:
            MediaRelay.unbridge(channel.media)
        self._recordings_follow(channel)
        self.changed(channel)

    def destroy(self) -> None:
        for channel in list(self.members):
            self.remove(channel)
        self.destroyed = True

    def record(self, *, name: str | None = None, caller: Channel | None = None,
               cut: CutRecording | None = None) -> CallRecording:
        """Record the bridged call: ``caller`` (default: the first participant) on the left,
        everyone else heard on the right (operator, whisper and barge; never listeners);
        ``cut``: go on with that recording (another node's, on shared storage)."""
        participants = [c for c, r in self.members.items() if r is BridgeRole.PARTICIPANT]
        if not participants:
            raise BridgeError(f"bridge {self.id} has no participant to record")
        if caller is None:
            caller = participants[0]
        elif caller not in participants:
            raise BridgeError(f"bridge {self.id}: {caller.id} is not a participant")
        others = [c for c in participants if c is not caller]
        operator = others[0] if others else None
        return self._shell(caller).record(caller, operator, name=name, cut=cut)

    def _connect(self) -> None:
        if len(self.members) == 2:
            first, second = self.members
            self.relay.bridge(first.media, second.media)
