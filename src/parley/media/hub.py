"""The media of every leg Parley terminates, one tick at a time, sans-IO.

The shell's whole media job becomes: hand each RTP packet from a phone to :meth:`MediaHub.
receive`, and every ``20 / slots`` ms call :meth:`MediaHub.tick` and send the packets it
returns. In between, the hub

* decodes each leg's audio through its jitter buffer and finds its DTMF (RFC 4733, in-band);
* plays prompts, tones and hold music (:class:`~parley.media.player.Player`) to legs;
* mixes bridges with roles (participant, listen, whisper, barge) and sends each member its
  mix-minus;
* echoes a leg's audio back to it (the echo test);
* builds the stereo frames of recordings, which the shell appends to their files;
* tells a person from an answering machine on answered outbound legs;
* recognises busy, congestion, special information tones and announcements in the early media
  of outbound legs before they are answered.

A leg hears, in order of precedence: its playback, else its bridge's mix, else its own voice
when echoing, else nothing (the stream stays silent and its next packet carries the marker).
Legs are spread over ``slots`` phases of the 20 ms period; the members of a bridge or of a
recording share their first member's phase, so their frames line up. With ``fill`` above 1 a
phase takes that many legs before a new leg opens another, so that at low load the legs share
a few phases and the shell wakes for those only (:meth:`MediaHub.busy`), at high load they
spread over all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from parley.media import MediaError
from parley.media.amd import AmdSettings, AmdVerdict, AnsweringMachineDetector
from parley.media.beep import GreetingEnd
from parley.media.dtmf import EventPacket, event_packets
from parley.media.early_media import EarlyMediaDetector, EarlyMediaSettings, EarlyMediaVerdict
from parley.media.g711 import ENCODE_TABLES, Codec, decode_frames
from parley.media.mixer import MixBridge, Mixer, Role
from parley.media.player import Player
from parley.media.recorder import Side, StereoRecorder
from parley.media.rtp import RtpPacket
from parley.media.stream import MediaStream, ReceivedDigit, StreamSettings
from parley.media.tones import ToneSource, dtmf_tone

FRAME = 160
Pcm = npt.NDArray[np.int16]
K = TypeVar("K", bound=Hashable)
_SILENCE = np.zeros(FRAME, dtype=np.int16)
_SILENCE.flags.writeable = False


@dataclass(slots=True)
class HubTick(Generic[K]):
    """What one phase of one tick produced."""

    packets: list[tuple[K, bytes]] = field(default_factory=list)  # send to that leg's phone
    digits: list[tuple[K, ReceivedDigit]] = field(default_factory=list)
    finished: list[tuple[K, Player]] = field(default_factory=list)  # playbacks that ended
    recorded: list[tuple[str, Pcm]] = field(default_factory=list)  # (recording id, 160x2)
    amd: list[tuple[K, AmdVerdict]] = field(default_factory=list)  # detections that decided
    early: list[tuple[K, EarlyMediaVerdict]] = field(default_factory=list)  # early media heard


@dataclass(slots=True)
class _Leg:
    stream: MediaStream
    codec: Codec
    phase: int
    player: Player | None = None
    bridge: str | None = None
    echo: bool = False
    dtmf: deque[EventPacket | None] = field(default_factory=deque)  # None: a silent tick
    dtmf_start: int = 0
    amd: AnsweringMachineDetector | GreetingEnd | None = None
    early: EarlyMediaDetector | None = None


class MediaHub(Generic[K]):
    """Legs, playbacks, mixing bridges and recordings of one process."""

    def __init__(self, slots: int = 1, *, fill: int = 1) -> None:
        if not 1 <= slots <= 20:
            raise MediaError(f"media hub slots must be between 1 and 20, got {slots}")
        if fill < 1:
            raise MediaError(f"media hub fill must be at least 1, got {fill}")
        self.slots = slots
        #: legs a phase takes before a new leg goes to another (1: each to the least loaded)
        self.fill = fill
        self._legs: dict[K, _Leg] = {}
        self._bridges: dict[str, MixBridge[K]] = {}
        self._bridge_phase: dict[str, int] = {}
        self._phases: list[dict[K, _Leg]] = [{} for _ in range(slots)]  # legs by phase
        self._recordings: dict[str, StereoRecorder[K]] = {}
        #: the same recordings by their caller's leg: a tick serves those of its phase's
        #: legs, not every recording once per phase
        self._recorded_from: dict[K, dict[str, StereoRecorder[K]]] = {}
        self._mixer: Mixer[K] = Mixer()

    # --- legs ---------------------------------------------------------------------------------
    def add_leg(self, leg: K, settings: StreamSettings, *, ssrc: int,
                first_sequence: int = 0, first_timestamp: int = 0) -> MediaStream:
        if leg in self._legs:
            raise MediaError(f"leg {leg!r} already has media")
        phase = self._phase_for_new_leg()
        stream = MediaStream(settings, ssrc=ssrc, first_sequence=first_sequence,
                             first_timestamp=first_timestamp)
        self._legs[leg] = self._phases[phase][leg] = _Leg(stream, settings.codec, phase)
        return stream

    def _phase_for_new_leg(self) -> int:
        """The fullest phase with room (below ``fill``), else the least loaded one."""
        sizes = [len(legs) for legs in self._phases]
        with_room = [phase for phase, size in enumerate(sizes) if size < self.fill]
        if with_room:
            return max(with_room, key=sizes.__getitem__)
        return min(range(self.slots), key=sizes.__getitem__)

    def busy(self, phase: int) -> bool:
        """Phase ``phase`` (modulo ``slots``) has legs: a tick of it has work to do."""
        return bool(self._phases[phase % self.slots])

    def _move(self, leg: K, state: _Leg, phase: int) -> None:
        if state.phase != phase:
            del self._phases[state.phase][leg]
            self._phases[phase][leg] = state
            state.phase = phase

    def remove_leg(self, leg: K, reason: str = "hangup") -> tuple[list[ReceivedDigit],
                                                                   Player | None]:
        """The leg ended: its last digits and its playback (stopped with ``reason``)."""
        state = self._leg(leg)
        if state.bridge is not None:
            self.leave(leg)
        for recorder in self._recordings.values():
            recorder.assign(leg, None)
        del self._legs[leg]
        del self._phases[state.phase][leg]
        if state.player is not None:
            state.player.stop(reason)
        return state.stream.finish(), state.player

    def _leg(self, leg: K) -> _Leg:
        try:
            return self._legs[leg]
        except KeyError:
            raise MediaError(f"leg {leg!r} has no media in the hub") from None

    def stream(self, leg: K) -> MediaStream:
        return self._leg(leg).stream

    def phase_of(self, leg: K) -> int:
        return self._leg(leg).phase

    def inband(self, leg: K, on: bool = True) -> None:
        """Look for DTMF tones in the leg's audio (or stop)."""
        self._leg(leg).stream.detect_inband(on)

    def has_leg(self, leg: K) -> bool:
        return leg in self._legs

    def sends_to(self, leg: K) -> bool:
        """Whether the hub may send the leg packets now (a playback, a mix, an echo or key
        presses): a relay forwarding to the same phone must pause meanwhile."""
        state = self._leg(leg)
        return (state.player is not None or state.bridge is not None or state.echo
                or bool(state.dtmf))

    def receive_bytes(self, leg: K, data: bytes) -> list[ReceivedDigit]:
        """A packet from the leg's phone as it came off the socket (see
        :meth:`MediaStream.receive_bytes`)."""
        return self._leg(leg).stream.receive_bytes(data)

    def receive(self, leg: K, packet: RtpPacket) -> list[ReceivedDigit]:
        """A packet from the leg's phone; RFC 4733 digits come back at once."""
        return self._leg(leg).stream.receive(packet)

    # --- what a leg hears ---------------------------------------------------------------------
    def play(self, leg: K, player: Player) -> Player | None:
        """Play to ``leg`` (over its bridge's audio); returns the playback replaced, stopped."""
        state = self._leg(leg)
        previous = state.player
        if previous is not None:
            previous.stop()
        state.player = player
        return previous

    def stop(self, leg: K, reason: str = "stopped") -> Player | None:
        state = self._leg(leg)
        player, state.player = state.player, None
        if player is not None:
            player.stop(reason)
        return player

    def send_dtmf(self, leg: K, digits: str, duration_ms: int = 100, gap_ms: int = 100) -> None:
        """Send key presses to the leg's phone: RFC 4733 events when it negotiated
        telephone-event (one packet per tick, audio paused meanwhile), else in-band tones
        played over whatever it hears."""
        state = self._leg(leg)
        if state.stream.settings.telephone_event_pt is None:
            tones = [ToneSource(dtmf_tone(d, duration_ms, gap_ms)) for d in digits]
            self.play(leg, Player(tones, playback_id=f"dtmf:{digits}"))
            return
        for digit in digits:
            state.dtmf.extend(event_packets(digit, 0, duration_ms))
            state.dtmf.extend([None] * max(0, gap_ms // 20))

    def detect_machine(self, leg: K, settings: AmdSettings | None = None) -> None:
        """Start answering-machine detection on the leg (call when it answers); the verdict
        comes in a later tick's ``amd``. Ticks without audio from the phone count as
        silence."""
        self._leg(leg).amd = AnsweringMachineDetector(settings)

    def detect_early_media(self, leg: K, settings: EarlyMediaSettings | None = None) -> None:
        """Listen to an outbound leg's early media (before the answer) for busy, congestion,
        special information tones and announcements; a verdict comes in a later tick's
        ``early``. Ticks without audio count as silence."""
        self._leg(leg).early = EarlyMediaDetector(settings)

    def stop_early_media(self, leg: K) -> None:
        """The leg was answered (or no longer matters): stop listening to its early media."""
        state = self._legs.get(leg)
        if state is not None:
            state.early = None

    def detect_greeting_end(self, leg: K) -> None:
        """Listen for the end of a machine's greeting (its beep, or the silence after it);
        the verdict comes in a later tick's ``amd`` as "beep" or "silence"."""
        self._leg(leg).amd = GreetingEnd()

    def echo(self, leg: K, on: bool = True) -> None:
        """Send the leg's own audio back to it (the echo test)."""
        self._leg(leg).echo = on

    # --- bridges ------------------------------------------------------------------------------
    def join(self, bridge_id: str, leg: K, role: Role | str = Role.PARTICIPANT,
             whisper_to: K | None = None) -> MixBridge[K]:
        """Add ``leg`` to a mixing bridge (created on first use) or change its role."""
        state = self._leg(leg)
        if state.bridge is not None and state.bridge != bridge_id:
            raise MediaError(f"leg {leg!r} is in bridge {state.bridge!r}; leave it first")
        bridge = self._bridges.get(bridge_id)
        if bridge is None:
            bridge = self._bridges[bridge_id] = MixBridge(bridge_id)
            self._bridge_phase[bridge_id] = state.phase
        bridge.add(leg, role, whisper_to)
        state.bridge = bridge_id
        self._move(leg, state, self._bridge_phase[bridge_id])
        return bridge

    def leave(self, leg: K) -> None:
        state = self._leg(leg)
        if state.bridge is None:
            return
        bridge = self._bridges[state.bridge]
        bridge.remove(leg)
        if not len(bridge):
            del self._bridges[state.bridge]
            del self._bridge_phase[state.bridge]
        state.bridge = None

    def bridge(self, bridge_id: str) -> MixBridge[K]:
        try:
            return self._bridges[bridge_id]
        except KeyError:
            raise MediaError(f"no mixing bridge {bridge_id!r}") from None

    # --- recordings ---------------------------------------------------------------------------
    def record(self, recording_id: str, recorder: StereoRecorder[K]) -> None:
        """Build this recording's stereo frames each tick from its legs' audio."""
        if recording_id in self._recordings:
            raise MediaError(f"recording {recording_id!r} is already running")
        caller = self._leg(recorder.caller)
        for leg, state in self._legs.items():
            if recorder.side_of(leg) is not None and state.bridge is None:
                self._move(leg, state, caller.phase)
        self._recordings[recording_id] = recorder
        self._recorded_from.setdefault(recorder.caller, {})[recording_id] = recorder

    def assign(self, recording_id: str, leg: K, side: Side | str | None) -> None:
        """Record ``leg`` on ``side`` from now on (None: no more), e.g. the new operator after
        a transfer; the leg joins the caller's phase so that their frames line up."""
        recorder = self._recordings.get(recording_id)
        if recorder is None:
            raise MediaError(f"no recording {recording_id!r}")
        recorder.assign(leg, None if side is None else Side(side))
        state = self._legs.get(leg)
        if side is not None and state is not None and state.bridge is None:
            self._move(leg, state, self._leg(recorder.caller).phase)

    def stop_recording(self, recording_id: str) -> StereoRecorder[K] | None:
        recorder = self._recordings.pop(recording_id, None)
        if recorder is not None:
            recorded = self._recorded_from[recorder.caller]
            del recorded[recording_id]
            if not recorded:
                del self._recorded_from[recorder.caller]
        return recorder

    # --- the tick -----------------------------------------------------------------------------
    def tick(self, slot: int = 0) -> HubTick[K]:
        """Serve the legs, bridges and recordings of phase ``slot``."""
        phase = slot % self.slots
        result: HubTick[K] = HubTick()
        heard_own: dict[K, Pcm] = {}
        legs = list(self._phases[phase].items())
        arrived: dict[Codec, list[tuple[K, bytes]]] = {}
        for leg, state in legs:
            payload = state.stream.next_payload()
            if payload is not None:
                arrived.setdefault(state.codec, []).append((leg, payload))
        for codec, payloads in arrived.items():
            decoded = decode_frames([payload for _, payload in payloads], codec)
            for (leg, _), pcm in zip(payloads, decoded, strict=True):
                heard_own[leg] = pcm
                stream = self._legs[leg].stream
                if stream.inband is not None:
                    result.digits += [(leg, digit) for digit in stream.detect(pcm)]
        for leg, state in legs:
            if state.amd is not None:
                verdict = state.amd.feed(heard_own.get(leg, _SILENCE))
                if verdict is not None:
                    result.amd.append((leg, verdict))
                    state.amd = None
            if state.early is not None:
                heard = state.early.feed(heard_own.get(leg, _SILENCE))
                if heard is not None:
                    result.early.append((leg, heard))
                    state.early = None
        bridges = [b for b_id, b in self._bridges.items() if self._bridge_phase[b_id] == phase]
        mixed = self._mixer.mix(bridges, heard_own) if bridges else {}
        out: dict[Codec, list[tuple[K, Pcm]]] = {}
        scratch = np.empty(FRAME, dtype=np.int16)
        for leg, state in legs:
            if state.dtmf:
                self._send_event(leg, state, result)
                continue
            frame: Pcm | None = None
            if state.player is not None:
                if state.player.fill(scratch):
                    frame = scratch.copy()
                if state.player.finished is not None:
                    result.finished.append((leg, state.player))
                    state.player = None
            if frame is None and state.bridge is not None:
                frame = mixed.get(leg)
            if frame is None and state.echo:
                frame = heard_own.get(leg)
            if frame is None:
                state.stream.idle()
            else:
                out.setdefault(state.codec, []).append((leg, frame))
        for codec, frames in out.items():
            codes = ENCODE_TABLES[codec][np.stack([f for _, f in frames]).view(np.uint16)]
            payload = codes.tobytes()
            for i, (leg, _) in enumerate(frames):
                result.packets.append((leg, self._legs[leg].stream.audio_packet(
                    payload[i * FRAME:(i + 1) * FRAME])))
        recorded_from = self._recorded_from
        for leg, _state in legs:
            for recording_id, recorder in recorded_from.get(leg, {}).items():
                result.recorded.append((recording_id, recorder.frame(heard_own).copy()))
        return result

    @staticmethod
    def _send_event(leg: K, state: _Leg, result: HubTick[K]) -> None:
        """This tick of a leg that is sending DTMF: one event packet, or a silent gap."""
        event = state.dtmf.popleft()
        stream = state.stream
        if event is not None:
            if event.marker:
                state.dtmf_start = stream.timestamp
            result.packets.append((leg, stream.event_packet(state.dtmf_start, event.payload,
                                                            event.marker)))
        stream.idle()
