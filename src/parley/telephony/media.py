"""The media shell: one task drives the :class:`~parley.media.hub.MediaHub` for every leg Parley
terminates (DESIGN.md §5: the pure core decides, this shell moves packets and time).

A leg is either *relayed* (a two-party bridge: :mod:`parley.net.relay` forwards its packets
without decoding them) or *terminated* in the hub: it hears a playback, hold music, its own
echo or its mix-minus of a mixing bridge, and its audio is decoded for digits and recordings.
A relayed leg can be in the hub at the same time (recorded, or hearing a beep): its endpoint
hands the hub a copy of each packet (``tap``), and while the hub sends to that phone the relay
forwards nothing to it (``hub_sends``), so a phone never gets packets from two senders.

Every ``20 / slots`` ms the task ticks one phase of the hub (:class:`~parley.media.ticker.
TickSchedule`), sends the packets, appends recording frames, and turns what happened into
:mod:`parley.events` (``Dtmf``, ``PlaybackFinished``, ``RecordingFinished``, ``AmdResult``,
``EarlyMediaResult``)
published to the engine's subscribers. Phases without legs are slept through: the hub fills
a phase with up to ``PHASE_FILL`` legs before it opens another, so that a node with few legs
in its hub wakes for one or two phases, not all ten. With no leg in the hub the task sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from parley.clock import Clock
from parley.events import AmdResult, Dtmf, EarlyMediaResult, PlaybackFinished, RecordingFinished
from parley.media import MediaError
from parley.media.g711 import Codec as G711
from parley.media.hub import HubTick, MediaHub
from parley.media.mixer import Role
from parley.media.player import Player, Source
from parley.media.recorder import Pause, Side
from parley.media.rtp import RtpError
from parley.media.stream import ReceivedDigit, StreamSettings
from parley.media.ticker import TickSchedule
from parley.media.tones import STOCK_TONES, ToneSpec
from parley.telephony.channel import Signal, until
from parley.telephony.moh import HoldMusic, MusicOnHold
from parley.telephony.prompts import Prompt, PromptLibrary
from parley.telephony.recording import CutRecording, Recording, RecordingError

if TYPE_CHECKING:
    from parley.sip.message import SipRequest
    from parley.telephony.channel import Bridge, Channel
    from parley.telephony.engine import SipEngine

log = structlog.get_logger("parley.telephony.media")

#: legs one phase of the hub takes before new legs open another: a tick of 20 playing legs
#: is about 0.1 ms and their 20 packets' sends as much again, and a node with fewer legs in
#: its hub wakes 50 times a second, not 500
PHASE_FILL = 20
_ids = itertools.count(1)


@dataclass(frozen=True)
class Speech:
    """Text to say through espeak-ng (cached by voice and text)."""

    text: str
    voice: str | None = None


@dataclass(frozen=True)
class Tone:
    """A stock tone by name: ``ringback``, ``busy`` or ``beep``."""

    name: str


LANGUAGE_VARIABLE = "language"
"""The channel variable naming the caller's language ("en", "ru"): its prompts, number
grammar and voice."""


def channel_language(channel: Channel) -> str | None:
    """The caller's language on ``channel`` (None: the default, English)."""
    return channel.variables.get(LANGUAGE_VARIABLE) or None


MediaItem = str | Path | Prompt | Speech | Tone | ToneSpec | Source
"""What :meth:`Channel.play` accepts: a prompt name (``queue-thereare``, ``digits/5``), a WAV
file, a loaded prompt, speech, a tone, or any player source."""


@dataclass(eq=False)
class Playback:
    """One playback on a channel; ``reason`` is set when it ends ("done", "stopped", "hangup")."""

    id: str
    channel_id: str
    shell: MediaShell
    player: Player | None = None
    reason: str | None = None
    _done: Signal = field(default_factory=Signal)
    _loader: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """Stop it now; ``PlaybackFinished(reason="stopped")`` follows."""
        self.shell.stop_playback(self)

    @property
    def done_signal(self) -> Signal:
        """Set once the playback has ended, for whatever reason."""
        return self._done

    async def wait(self, within: float | None = None) -> str | None:
        """Wait for the end; returns the reason (None if ``within`` seconds passed first)."""
        await until(self.shell.clock, (self._done,), within)
        return self.reason


@dataclass(eq=False)
class CallRecording:
    """A running recording (stereo WAV, caller left, operator right, JSON sidecar)."""

    file: Recording[str]
    channel_id: str
    shell: MediaShell
    metadata: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.file.recording_id

    @property
    def path(self) -> Path:
        return self.file.path

    def pause(self) -> None:
        """Record silence until :meth:`resume` (card numbers are not recorded)."""
        self.file.pause()

    def resume(self) -> None:
        self.file.resume()

    @property
    def paused(self) -> bool:
        return self.file.recorder.paused

    @property
    def pauses(self) -> list[Pause]:
        """The gaps so far, in seconds from the start of the file (the last one open while
        paused)."""
        return self.file.recorder.pauses

    def stop(self) -> dict[str, Any]:
        """Finish the file; ``RecordingFinished`` follows. Returns the metadata."""
        return self.shell.stop_recording(self)


@dataclass
class TickTiming:
    """How late the ticker's wake-ups were served (seconds after their deadline)."""

    ticks: int = 0
    over_2ms: int = 0
    max_late: float = 0.0
    total_late: float = 0.0

    def note(self, late: float) -> None:
        self.ticks += 1
        self.total_late += late
        if late > 0.002:
            self.over_2ms += 1
        if late > self.max_late:
            self.max_late = late

    def reset(self) -> None:
        self.ticks = self.over_2ms = 0
        self.max_late = self.total_late = 0.0


class MediaShell:
    """The media of one node's terminated legs (see the module docstring)."""

    def __init__(self, engine: SipEngine, clock: Clock, prompts: PromptLibrary,
                 moh: MusicOnHold, recordings_dir: Path, *, slots: int = 10) -> None:
        self.engine = engine
        self.clock = clock
        self.prompts = prompts
        self.moh = moh
        self.recordings_dir = Path(recordings_dir)
        self.slots = slots
        self.hub: MediaHub[str] = MediaHub(slots, fill=PHASE_FILL)
        self.channels: dict[str, Channel] = {}
        self.playbacks: dict[str, Playback] = {}
        self.recordings: dict[str, CallRecording] = {}
        self.digits: dict[str, asyncio.Queue[ReceivedDigit]] = {}
        self._hold: dict[str, HoldMusic] = {}
        self._wake = asyncio.Event()
        self._handback: set[str] = set()  # relayed legs the hub sends to for now
        self.late_ticks = 0
        self.failed_ticks = 0
        self.wakeups = 0  # times the ticker woke to serve the hub
        self.timing = TickTiming()

    # --- legs ---------------------------------------------------------------------------------
    def attach(self, channel: Channel) -> None:
        """Give the channel's media to the hub (idempotent): its packets are decoded from now."""
        if self.hub.has_leg(channel.id):
            return
        if channel.ended:
            raise MediaError(f"channel {channel.id} is hung up")
        codec = channel.codec or (channel.remote_audio.codec if channel.remote_audio else None)
        if codec is None:
            raise MediaError(f"channel {channel.id} has no negotiated audio yet")
        settings = StreamSettings(G711.from_name(codec.name), payload_type=codec.payload_type,
                                  telephone_event_pt=channel.dtmf_payload_type,
                                  inband_dtmf=False)  # while collecting only
        self.hub.add_leg(channel.id, settings, ssrc=secrets.randbits(32),
                         first_sequence=secrets.randbits(16))
        self.channels[channel.id] = channel
        self.digits.setdefault(channel.id, asyncio.Queue())
        channel_id = channel.id
        channel.media.tap = lambda data: self._received(channel_id, data)
        self._wake.set()

    def detach(self, channel: Channel, reason: str = "hangup") -> None:
        """The channel ended: stop its playbacks and recordings, deliver its last digits."""
        for recording in [r for r in self.recordings.values() if r.channel_id == channel.id]:
            self.stop_recording(recording)
        if not self.hub.has_leg(channel.id):
            self.digits.pop(channel.id, None)
            return
        channel.media.tap = None
        channel.media.hub_sends = False
        digits, player = self.hub.remove_leg(channel.id, reason)
        for digit in digits:
            self._digit(channel.id, digit)
        if player is not None:
            self._finished(channel.id, player)
        self._hold.pop(channel.id, None)
        self._handback.discard(channel.id)
        del self.channels[channel.id]
        self.digits.pop(channel.id, None)

    def release(self, channel: Channel) -> bool:
        """Give a leg the hub no longer needs back to the relay alone (a two-party bridge
        without recording): its packets are no longer decoded, which is most of a relayed
        call's cost. Kept, and False, while something uses it: a playback or hold music, a
        recording of it, a mixing bridge. A later ``play``/``start_moh``/``record`` attaches
        it again."""
        channel_id = channel.id
        if not self.hub.has_leg(channel_id):
            return True
        if self.hub.sends_to(channel_id) or (channel.bridge is not None
                                             and channel.bridge.mixing):
            return False
        bridged = {member.id for member in channel.bridge.members} if channel.bridge else set()
        if any(recording.channel_id in bridged | {channel_id}
               for recording in self.recordings.values()):
            return False
        channel.media.tap = None
        channel.media.hub_sends = False
        digits, player = self.hub.remove_leg(channel_id, "released")
        for digit in digits:
            self._digit(channel_id, digit)
        if player is not None:
            self._finished(channel_id, player)
        self._hold.pop(channel_id, None)
        self._handback.discard(channel_id)
        del self.channels[channel_id]
        return True

    def _received(self, channel_id: str, data: bytes) -> None:
        try:
            digits = self.hub.receive_bytes(channel_id, data)
        except (RtpError, MediaError):
            return  # a malformed packet, or a leg just removed
        for digit in digits:
            self._digit(channel_id, digit)

    def _digit(self, channel_id: str, digit: ReceivedDigit) -> None:
        queue = self.digits.get(channel_id)
        if queue is not None:
            queue.put_nowait(digit)
        self.engine.emit(Dtmf(channel_id, digit.digit, digit.duration_ms, digit.method))

    def collecting(self, channel: Channel, on: bool) -> None:
        """Look for in-band tones while digits are collected, and only then: the tone
        detector costs more than everything else a decoded leg needs (RFC 4733 and SIP INFO
        digits are always received)."""
        if self.hub.has_leg(channel.id):
            self.hub.inband(channel.id, on)

    def info(self, channel: Channel, request: SipRequest) -> None:
        """SIP INFO key presses (application/dtmf-relay: ``Signal=5``, ``Duration=160``)."""
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/dtmf-relay":
            return
        fields: dict[str, str] = {}
        for line in request.body.decode("utf-8", "replace").splitlines():
            name, _, value = line.partition("=")
            fields[name.strip().lower()] = value.strip()
        digit = fields.get("signal", "").upper()
        if len(digit) != 1 or digit not in "0123456789*#ABCD":
            channel.log.info("bad_dtmf_info", body=request.body[:80])
            return
        try:
            duration = int(fields.get("duration", "100"))
        except ValueError:
            duration = 100
        self.info_digit(channel, digit, duration)

    def info_digit(self, channel: Channel, digit: str, duration_ms: int) -> None:
        """A key press in a SIP INFO (application/dtmf-relay) on the channel's dialog."""
        self.digits.setdefault(channel.id, asyncio.Queue())
        self._digit(channel.id, ReceivedDigit(digit, duration_ms, "info"))

    def _sync(self, channel_id: str) -> None:
        """Let the relay forward to the phone only while the hub has nothing to send it."""
        channel = self.channels.get(channel_id)
        if channel is None:
            return
        sends = self.hub.sends_to(channel_id)
        endpoint = channel.media
        if sends and not endpoint.hub_sends:
            # the hub takes over the phone's stream where the relay left it (or left it
            # itself): same SSRC, next sequence number and timestamp
            continued = endpoint.continuation()
            if continued is not None:
                self.hub.stream(channel_id).continue_from(*continued)
        elif endpoint.hub_sends and not sends and endpoint.continuation() is not None:
            stream = self.hub.stream(channel_id)
            endpoint.handed_back(stream.sequence, stream.timestamp)
        endpoint.hub_sends = sends
        if sends and endpoint.peer is not None:
            self._handback.add(channel_id)
        else:
            self._handback.discard(channel_id)

    # --- playback -----------------------------------------------------------------------------
    def play(self, channel: Channel, media: MediaItem | Sequence[MediaItem], *,
             loop: bool = False) -> Playback:
        """Play ``media`` (one item or a playlist) to the channel, replacing what it hears.

        Names and files are loaded at once (a missing prompt raises here); speech is
        synthesised first, in the background, and then plays."""
        items: list[MediaItem] = ([media] if isinstance(media, str | Path | Prompt | Speech
                                                        | Tone | ToneSpec)
                                  or not isinstance(media, Sequence) else list(media))
        self.attach(channel)
        language = channel_language(channel)
        items = [self._in_language(item, language) for item in items]
        playback = Playback(f"pb-{next(_ids)}", channel.id, self)
        self.playbacks[playback.id] = playback
        if any(isinstance(item, Speech) for item in items):
            playback._loader = asyncio.get_running_loop().create_task(
                self._speak_then_play(channel, playback, items, loop))
        else:
            self._start(channel, playback, self._sources(items), loop)
        return playback

    def _in_language(self, item: MediaItem, language: str | None) -> MediaItem:
        """A grammar word no folder holds becomes speech; speech without a voice takes the
        voice of the call's language."""
        if isinstance(item, str):
            text = self.prompts.spoken_word(item, language)
            if text is not None:
                return Speech(text, self.prompts.voice_for(language))
        elif isinstance(item, Speech) and item.voice is None and language is not None:
            return Speech(item.text, self.prompts.voice_for(language))
        return item

    def _sources(self, items: Iterable[MediaItem]) -> list[str | Prompt | ToneSpec | Source]:
        out: list[str | Prompt | ToneSpec | Source] = []
        for item in items:
            if isinstance(item, Path):
                out.append(self.prompts.load_file(item))
            elif isinstance(item, Tone):
                if item.name not in STOCK_TONES:
                    raise MediaError(f"unknown tone {item.name!r} (known: "
                                     f"{', '.join(sorted(STOCK_TONES))})")
                out.append(STOCK_TONES[item.name])
            elif isinstance(item, Speech):
                raise MediaError("speech must be synthesised first")
            else:
                out.append(item)
        return out

    async def _speak_then_play(self, channel: Channel, playback: Playback,
                               items: list[MediaItem], loop: bool) -> None:
        try:
            resolved: list[MediaItem] = []
            for item in items:
                if isinstance(item, Speech):
                    resolved.append(await self.prompts.speak(item.text, item.voice))
                else:
                    resolved.append(item)
            if playback.reason is None and not channel.ended:
                self._start(channel, playback, self._sources(resolved), loop)
        except Exception:
            log.exception("speech_failed", channel_id=channel.id)
            self._end(playback, "failed")

    def _start(self, channel: Channel, playback: Playback,
               sources: list[str | Prompt | ToneSpec | Source], loop: bool) -> None:
        player = self.prompts.player(sources, loop=loop, playback_id=playback.id,
                                     language=channel_language(channel))
        playback.player = player
        if not self.hub.has_leg(channel.id):
            self._end(playback, "hangup")
            return
        previous = self.hub.play(channel.id, player)
        if previous is not None:
            self._finished(channel.id, previous)
        self._sync(channel.id)

    def stop_playback(self, playback: Playback) -> None:
        if playback.reason is not None:
            return
        if playback.player is None:  # still synthesising
            if playback._loader is not None:
                playback._loader.cancel()
            self._end(playback, "stopped")
            return
        playback.player.stop("stopped")
        if self.hub.has_leg(playback.channel_id):
            stopped = self.hub.stop(playback.channel_id, "stopped")
            if stopped is not None and stopped is not playback.player:
                self.hub.play(playback.channel_id, stopped)  # someone else's: keep it
        self._finished(playback.channel_id, playback.player)
        self._sync(playback.channel_id)

    def _finished(self, channel_id: str, player: Player) -> None:
        playback = self.playbacks.get(player.playback_id)
        reason = player.finished or "stopped"
        if playback is not None:
            self._end(playback, reason)
        else:  # hold music and key presses have no Playback of their own
            self.engine.emit(PlaybackFinished(player.playback_id, channel_id, reason))

    def _end(self, playback: Playback, reason: str) -> None:
        if playback.reason is not None:
            return
        playback.reason = reason
        playback._done.set()
        self.playbacks.pop(playback.id, None)
        self.engine.emit(PlaybackFinished(playback.id, playback.channel_id, reason))

    # --- hold music, echo, key presses --------------------------------------------------------
    def start_moh(self, channel: Channel, class_name: str = "default") -> None:
        """Hold music of ``class_name``; it continues where it stopped last time."""
        self.attach(channel)
        hold = self._hold.get(channel.id)
        if hold is None or hold.class_name != class_name:
            hold = self._hold[channel.id] = self.moh.hold_music(class_name)
        previous = self.hub.play(channel.id, hold.start(f"moh-{next(_ids)}"))
        if previous is not None and previous is not hold.player:
            self._finished(channel.id, previous)
        self._sync(channel.id)

    def stop_moh(self, channel: Channel) -> None:
        hold = self._hold.get(channel.id)
        if hold is None or hold.player is None:
            return
        player = hold.player
        hold.stop()
        if self.hub.has_leg(channel.id):
            current = self.hub.stop(channel.id, "stopped")
            if current is not None and current is not player:
                self.hub.play(channel.id, current)
        self._finished(channel.id, player)
        self._sync(channel.id)

    def echo(self, channel: Channel, on: bool = True) -> None:
        """Send the phone its own audio back (the echo test)."""
        self.attach(channel)
        self.hub.echo(channel.id, on)
        self._sync(channel.id)

    def send_dtmf(self, channel: Channel, digits: str, duration_ms: int = 100) -> None:
        """Key presses to the phone: RFC 4733 if it negotiated telephone-event, else tones."""
        self.attach(channel)
        self.hub.send_dtmf(channel.id, digits, duration_ms)
        self._sync(channel.id)

    # --- mixing bridges -----------------------------------------------------------------------
    def join(self, bridge_id: str, channel: Channel, role: str,
             whisper_to: Channel | None = None) -> None:
        self.attach(channel)
        self.hub.join(bridge_id, channel.id, Role(role),
                      whisper_to.id if whisper_to is not None else None)
        self._follow(bridge_id)
        self._sync(channel.id)

    def leave(self, channel: Channel) -> None:
        if self.hub.has_leg(channel.id):
            bridge_id = self._bridge_of(channel.id)
            self.hub.leave(channel.id)
            if bridge_id is not None:
                self._follow(bridge_id)
            self._sync(channel.id)

    def _bridge_of(self, channel_id: str) -> str | None:
        channel = self.channels.get(channel_id)
        bridge = channel.bridge if channel is not None else None
        return bridge.id if bridge is not None else None

    def _follow(self, bridge_id: str) -> None:
        """Recordings of a mixing bridge take their sides from its roles (whisper right)."""
        try:
            bridge = self.hub.bridge(bridge_id)
        except MediaError:
            return
        for recording in self.recordings.values():
            if recording.file.recorder.caller in bridge.parties:
                recording.file.recorder.follow(bridge)

    # --- recordings ---------------------------------------------------------------------------
    def follow_bridge(self, bridge: Bridge) -> None:
        """A bridge's members changed: recordings of its caller follow (a transferred call's
        new operator goes on the right, whoever left is no longer recorded)."""
        members = {channel.id: role for channel, role in bridge.members.items()}
        for recording in self.recordings.values():
            recorder = recording.file.recorder
            if recorder.caller not in members:
                continue
            for channel, role in bridge.members.items():
                if channel.id != recorder.caller:
                    self.attach(channel)
                    self.hub.assign(recording.id, channel.id,
                                    None if role == "listen" else Side.RIGHT)
            for party in recorder.parties:
                if party != recorder.caller and party not in members:
                    self.hub.assign(recording.id, party, None)

    def record(self, channel: Channel, operator: Channel | None = None, *,
               name: str | None = None, cut: CutRecording | None = None) -> CallRecording:
        """Record ``channel`` on the left and ``operator`` (or the channel's mixing bridge,
        whisper included, listeners excluded) on the right, under ``recordings_dir``; or
        go on with the ``cut`` recording another node was writing (shared storage)."""
        started = datetime.now(UTC)
        if cut is not None:
            recording_id, path = cut.recording_id, cut.path
            if recording_id in self.recordings:
                raise RecordingError(f"recording {recording_id} is being written already")
        else:
            recording_id = f"rec-{started:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
            path = self.recordings_dir / f"{started:%Y-%m-%d}" / f"{name or recording_id}.wav"
        file: Recording[str] = Recording(path, recording_id=recording_id,
                                         call_id=channel.call_id, started=started,
                                         caller=channel.id,
                                         operator=operator.id if operator is not None else None,
                                         interaction_id=channel.interaction_id, cut=cut,
                                         now=started)
        self.attach(channel)
        if operator is not None:
            self.attach(operator)
        recording = CallRecording(file, channel.id, self)
        self.recordings[recording_id] = recording
        self.hub.record(recording_id, file.recorder)
        bridge = channel.bridge
        if bridge is not None:
            self._follow(bridge.id)
        return recording

    def stop_recording(self, recording: CallRecording) -> dict[str, Any]:
        if recording.metadata is not None:
            return recording.metadata
        self.hub.stop_recording(recording.id)
        self.recordings.pop(recording.id, None)
        recording.metadata = recording.file.close()
        self.engine.emit(RecordingFinished(recording.id, recording.channel_id,
                                           str(recording.path), recording.file.duration_s))
        return recording.metadata

    # --- the ticker ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Tick the hub every ``20 / slots`` ms while it has legs; stop recordings at the end."""
        try:
            while True:
                if not self.channels:
                    self._wake.clear()
                    await self._wake.wait()
                schedule = TickSchedule(self.clock.monotonic(), slots=self.slots)
                while self.channels:
                    schedule.pass_idle(self.hub.busy)  # phases without legs: no wake-up
                    delay = schedule.next_deadline() - self.clock.monotonic()
                    if delay > 0:
                        await self.clock.sleep(delay)
                    self.wakeups += 1
                    now = self.clock.monotonic()
                    for index in schedule.due(now):
                        self.timing.note(now - schedule.deadline(index))
                        try:
                            self._serve(self.hub.tick(index % self.slots))
                        except Exception:  # one bad tick must not end every call's media
                            self.failed_ticks += 1
                            log.exception("media_tick_failed")
                self.late_ticks += schedule.skipped
        finally:
            for recording in list(self.recordings.values()):
                with contextlib.suppress(Exception):
                    self.stop_recording(recording)

    def _serve(self, result: HubTick[str]) -> None:
        channels = self.channels
        for leg, packet in result.packets:
            channel = channels.get(leg)
            if channel is not None:
                channel.media.send_packet(packet)
        for leg, digit in result.digits:
            self._digit(leg, digit)
        for leg, player in result.finished:
            self._finished(leg, player)
            self._sync(leg)
        for recording_id, stereo in result.recorded:
            recording = self.recordings.get(recording_id)
            if recording is not None:
                recording.file.write_frame(stereo)
        for leg, verdict in result.amd:
            self.engine.emit(AmdResult(leg, verdict.result, verdict.cause))
        for leg, heard in result.early:
            channel = channels.get(leg)
            if channel is not None:
                channel.log.info("early_media_recognised", kind=heard.kind, cause=heard.cause,
                                 detail=heard.detail, after_ms=heard.after_ms)
            self.engine.emit(EarlyMediaResult(leg, heard.kind, heard.cause, heard.detail))
        # key presses sent to a relayed phone end without a "finished": hand it back then
        for leg in list(self._handback):
            self._sync(leg)
