"""The media hub end to end: phones (media streams) send to it and hear what it sends back."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from parley.media import MediaError
from parley.media.audio import decode_wav, to_telephony
from parley.media.g711 import Codec, encode
from parley.media.hub import HubTick, MediaHub
from parley.media.mixer import Role
from parley.media.player import PcmSource, Player
from parley.media.recorder import StereoRecorder
from parley.media.rtp import RtpPacket
from parley.media.stream import MediaStream, StreamSettings
from parley.media.tones import dtmf_sequence
from parley.testing.needs import STOCK_PROMPTS, needs, stock_sounds

FREQS = {"a": 400.0, "b": 900.0, "c": 1700.0}


class Phone:
    """A phone's two ends of its RTP: what it sends and what it hears."""

    def __init__(self, name: str, codec: Codec = Codec.PCMU) -> None:
        self.name = name
        self.codec = codec
        settings = StreamSettings(codec, jitter_depth=1)
        self.tx = MediaStream(settings, ssrc=hash(name) & 0xFFFF)
        self.rx = MediaStream(settings, ssrc=0)
        self.heard: list[np.ndarray] = []
        self.sample = 0

    def next_frame(self) -> np.ndarray:
        n = np.arange(self.sample, self.sample + 160)
        self.sample += 160
        return (6000 * np.sin(2 * np.pi * FREQS[self.name] * n / 8000)).astype(np.int16)

    def send(self, frame: np.ndarray | None = None) -> RtpPacket:
        pcm = self.next_frame() if frame is None else frame
        return RtpPacket.parse(self.tx.audio_packet(encode(pcm, self.codec)))

    def hear(self, data: bytes) -> None:
        self.rx.receive(RtpPacket.parse(data))
        pcm, _ = self.rx.tick()
        if pcm is not None:
            self.heard.append(pcm)


def run(hub: MediaHub[str], phones: dict[str, Phone], ticks: int,
        silent: tuple[str, ...] = ()) -> list[HubTick[str]]:
    results = []
    for _ in range(ticks):
        for name, phone in phones.items():
            if name not in silent:
                hub.receive(name, phone.send())
        result = hub.tick()
        for leg, data in result.packets:
            phones[leg].hear(data)
        results.append(result)
    return results


def tones_in(frames: list[np.ndarray], skip: int = 2) -> set[str]:
    """Which phones' tones are in what was heard (skipping the first frames' start-up)."""
    audio = np.concatenate(frames[skip:]).astype(float)
    spectrum = np.abs(np.fft.rfft(audio)) / len(audio)
    freqs = np.fft.rfftfreq(len(audio), 1 / 8000)
    return {name for name, f in FREQS.items() if spectrum[np.argmin(abs(freqs - f))] > 300}


def make_hub(names: str, slots: int = 1) -> tuple[MediaHub[str], dict[str, Phone]]:
    hub: MediaHub[str] = MediaHub(slots)
    phones = {}
    for name in names:
        phones[name] = Phone(name)
        hub.add_leg(name, StreamSettings(Codec.PCMU, jitter_depth=1), ssrc=ord(name))
    return hub, phones


def test_echo_sends_the_phone_its_own_audio() -> None:
    hub, phones = make_hub("a")
    hub.echo("a")
    run(hub, phones, 50)
    assert tones_in(phones["a"].heard) == {"a"}
    assert len(phones["a"].heard) >= 48


def test_playback_is_heard_then_finishes_and_the_leg_goes_quiet() -> None:
    hub, phones = make_hub("a")
    prompt = (np.arange(1000) * 20 % 8000 - 4000).astype(np.int16)
    hub.play("a", Player([PcmSource(prompt)], playback_id="p1"))
    results = run(hub, phones, 12)
    finished = [(leg, player.finished) for r in results for leg, player in r.finished]
    assert finished == [("a", "done")]
    assert sum(len(r.packets) for r in results) == 7  # 1000 samples = 7 frames
    heard = np.concatenate(phones["a"].heard)
    assert np.abs(heard[:1000].astype(int) - prompt).max() < 150  # µ-law steps


@pytest.mark.parametrize(("role", "hearing"), [
    (Role.LISTEN, {"a": {"b"}, "b": {"a"}, "c": {"a", "b"}}),
    (Role.WHISPER, {"a": {"b"}, "b": {"a", "c"}, "c": {"a", "b"}}),
    (Role.BARGE, {"a": {"b", "c"}, "b": {"a", "c"}, "c": {"a", "b"}}),
])
def test_three_phones_with_roles(role: Role, hearing: dict[str, set[str]]) -> None:
    hub, phones = make_hub("abc")
    hub.join("call-1", "a")
    hub.join("call-1", "b")
    hub.join("call-1", "c", role, whisper_to="b" if role is Role.WHISPER else None)
    run(hub, phones, 40)
    assert {name: tones_in(phone.heard) for name, phone in phones.items()} == hearing


def test_playback_takes_precedence_over_the_bridge() -> None:
    hub, phones = make_hub("ab")
    hub.join("call-1", "a")
    hub.join("call-1", "b")
    hub.play("a", Player([PcmSource(np.zeros(1600, np.int16))]))
    run(hub, phones, 8)
    assert np.abs(np.concatenate(phones["a"].heard)).max() == 0  # only the (silent) prompt
    assert tones_in(phones["b"].heard) == {"a"}


def test_recording_puts_caller_left_and_operator_right() -> None:
    hub, phones = make_hub("ab")
    hub.join("call-1", "a")
    hub.join("call-1", "b")
    hub.record("rec-1", StereoRecorder("a", "b"))
    results = run(hub, phones, 30)
    stereo = np.concatenate([frame for r in results for _, frame in r.recorded])
    assert len(stereo) == 30 * 160
    assert tones_in([stereo[:, 0]], skip=0) == {"a"}
    assert tones_in([stereo[:, 1]], skip=0) == {"b"}
    assert hub.stop_recording("rec-1") is not None
    assert all(not r.recorded for r in run(hub, phones, 2))


def test_digits_by_rfc4733_and_in_band() -> None:
    hub: MediaHub[str] = MediaHub()
    hub.add_leg("x", StreamSettings(telephone_event_pt=101, jitter_depth=1), ssrc=1)
    hub.add_leg("y", StreamSettings(telephone_event_pt=None, inband_dtmf=True, jitter_depth=1),
                ssrc=2)
    phone = MediaStream(StreamSettings(telephone_event_pt=101), ssrc=9)
    digits = [d.digit for p in phone.dtmf_packets("7", 80)
              for d in hub.receive("x", RtpPacket.parse(p.data))]
    assert digits == ["7"]
    tones = dtmf_sequence("36", 80, 80)
    sender = Phone("a")
    found = []
    for start in range(0, len(tones), 160):
        hub.receive("y", sender.send(tones[start:start + 160]))
        found += [(leg, d.digit, d.method) for leg, d in hub.tick().digits]
    assert found == [("y", "3", "inband"), ("y", "6", "inband")]


def test_slots_put_bridge_members_in_one_phase() -> None:
    hub, phones = make_hub("abc", slots=4)
    assert sorted(hub.phase_of(n) for n in "abc") == [0, 1, 2]
    hub.join("call-1", "a")
    hub.join("call-1", "c")
    assert hub.phase_of("c") == hub.phase_of("a")
    hub.echo("b")
    for name in "abc":
        hub.receive(name, phones[name].send())
    served = {leg for phase in range(4) for leg, _ in hub.tick(phase).packets}
    assert served == {"a", "b", "c"}


def test_with_fill_legs_share_a_phase_until_it_is_full() -> None:
    """A node with few legs in its hub wakes for one phase; past ``fill`` legs a phase the
    next opens, and the legs spread over all of them as before."""
    hub: MediaHub[int] = MediaHub(slots=4, fill=3)
    for leg in range(5):
        hub.add_leg(leg, StreamSettings(Codec.PCMU, jitter_depth=1), ssrc=leg)
    assert [hub.phase_of(leg) for leg in range(5)] == [0, 0, 0, 1, 1]
    assert [hub.busy(phase) for phase in range(4)] == [True, True, False, False]
    hub.remove_leg(1)
    hub.add_leg(5, StreamSettings(Codec.PCMU, jitter_depth=1), ssrc=5)
    assert hub.phase_of(5) == 0  # the fuller phase with room
    for leg in range(6, 14):
        hub.add_leg(leg, StreamSettings(Codec.PCMU, jitter_depth=1), ssrc=leg)
    assert [hub.phase_of(leg) for leg in range(6, 14)] == [1, 2, 2, 2, 3, 3, 3, 0]
    with pytest.raises(MediaError, match="fill"):
        MediaHub(slots=4, fill=0)


def test_removing_a_leg_stops_its_playback_and_leaves_its_bridge() -> None:
    hub, _ = make_hub("ab")
    hub.join("call-1", "a")
    hub.join("call-1", "b")
    hub.play("a", Player([PcmSource(np.zeros(8000, np.int16))]))
    digits, player = hub.remove_leg("a")
    assert digits == []
    assert player is not None
    assert player.finished == "hangup"
    assert hub.bridge("call-1").parties == ["b"]
    hub.remove_leg("b")
    with pytest.raises(MediaError, match="no mixing bridge"):
        hub.bridge("call-1")
    with pytest.raises(MediaError, match="has no media"):
        hub.play("a", Player([]))


def test_sending_rfc4733_digits_pauses_audio_and_keeps_the_timeline() -> None:
    hub: MediaHub[str] = MediaHub()
    settings = StreamSettings(Codec.PCMU, telephone_event_pt=101, jitter_depth=1)
    hub.add_leg("x", settings, ssrc=5)
    hub.echo("x")
    phone = MediaStream(settings, ssrc=6)
    received = []
    digits = []
    hub.send_dtmf("x", "1#9", duration_ms=60, gap_ms=40)
    for _ in range(30):
        hub.receive("x", RtpPacket.parse(phone.audio_packet(bytes(160))))
        for _, data in hub.tick().packets:
            packet = RtpPacket.parse(data)
            received.append(packet)
            digits += [d.digit for d in phone.receive(packet)]
    assert digits == ["1", "#", "9"]
    events = [p for p in received if p.payload_type == 101]
    assert len(events) == 3 * (2 + 3)  # per press: two updates, three end packets
    starts = sorted({p.timestamp for p in events})
    assert [b - a for a, b in itertools.pairwise(starts)] == [7 * 160, 7 * 160]
    audio = [p for p in received if p.payload_type == 0]
    assert audio[0].marker  # audio resumes as a new talkspurt
    assert audio[0].timestamp == starts[-1] + 7 * 160
    assert [p.sequence for p in received] == list(range(len(received)))


def test_sending_digits_in_band_when_the_phone_has_no_telephone_event() -> None:
    hub: MediaHub[str] = MediaHub()
    settings = StreamSettings(Codec.PCMA, telephone_event_pt=None, inband_dtmf=True,
                              jitter_depth=1)
    hub.add_leg("x", settings, ssrc=5)
    phone = MediaStream(settings, ssrc=6)
    hub.send_dtmf("x", "58", duration_ms=80, gap_ms=80)
    digits = []
    for _ in range(20):
        for _, data in hub.tick().packets:
            phone.receive(RtpPacket.parse(data))
            digits += [d.digit for d in phone.tick()[1]]
    digits += [d.digit for d in phone.finish()]
    assert digits == ["5", "8"]


def test_answering_machine_detection_on_a_leg() -> None:
    hub: MediaHub[str] = MediaHub()
    settings = StreamSettings(Codec.PCMU, jitter_depth=1)
    hub.add_leg("dead", settings, ssrc=1)
    hub.detect_machine("dead")  # the phone sends nothing at all
    verdicts = []
    for _ in range(200):
        verdicts += hub.tick().amd
    assert [(leg, v.result, v.cause) for leg, v in verdicts] == [
        ("dead", "machine", "INITIALSILENCE-2500-2500")]


@needs(STOCK_PROMPTS)
def test_a_person_saying_hello_is_detected_as_human() -> None:
    hub: MediaHub[str] = MediaHub()
    settings = StreamSettings(Codec.PCMU, jitter_depth=1)
    hub.add_leg("out", settings, ssrc=1)
    hub.detect_machine("out")
    hello = stock_sounds() / "hello.wav"
    audio = np.concatenate([np.zeros(3200, np.int16),
                            to_telephony(decode_wav(hello.read_bytes(), str(hello))),
                            np.zeros(16000, np.int16)])
    phone = Phone("a")
    verdicts = []
    for start in range(0, len(audio) - 160, 160):
        hub.receive("out", phone.send(audio[start:start + 160]))
        verdicts += [(leg, v.result) for leg, v in hub.tick().amd]
    assert verdicts == [("out", "human")]


def test_a_new_operator_is_recorded_in_the_callers_phase() -> None:
    hub: MediaHub[str] = MediaHub(slots=4)
    phones = {}
    for name in "abc":
        phones[name] = Phone(name)
        hub.add_leg(name, StreamSettings(Codec.PCMU, jitter_depth=1), ssrc=ord(name))
    hub.record("rec-1", StereoRecorder("a", "b"))
    hub.assign("rec-1", "b", None)  # the transfer: b leaves, c takes the call
    hub.assign("rec-1", "c", "right")
    assert hub.phase_of("c") == hub.phase_of("a")
    recorded = []
    for _ in range(30):
        for name, phone in phones.items():
            hub.receive(name, phone.send())
        for slot in range(4):
            recorded += [frame for _, frame in hub.tick(slot).recorded]
    stereo = np.concatenate(recorded)
    assert tones_in([stereo[:, 0]], skip=0) == {"a"}
    assert tones_in([stereo[:, 1]], skip=0) == {"c"}
    with pytest.raises(MediaError, match="no recording"):
        hub.assign("rec-2", "c", "right")


def test_sends_to_says_when_a_relay_must_hold_back() -> None:
    hub, _ = make_hub("ab")
    assert not hub.sends_to("a")
    hub.play("a", Player([PcmSource(np.zeros(320, np.int16))]))
    assert hub.sends_to("a")
    hub.stop("a")
    hub.echo("a")
    assert hub.sends_to("a")
    hub.echo("a", False)
    hub.join("call-1", "b")
    assert hub.sends_to("b")
    assert not hub.sends_to("a")
    assert hub.has_leg("a")
    assert not hub.has_leg("z")


def test_each_recording_gets_one_frame_per_period_and_none_once_stopped() -> None:
    hub: MediaHub[str] = MediaHub(slots=4)
    for name in "abcdef":
        hub.add_leg(name, StreamSettings(Codec.PCMU, jitter_depth=1), ssrc=ord(name))
    hub.record("ab", StereoRecorder("a", "b"))
    hub.record("cd", StereoRecorder("c", "d"))
    hub.record("ef", StereoRecorder("e", "f"))
    assert len({hub.phase_of("a"), hub.phase_of("c"), hub.phase_of("e")}) > 1

    def one_period() -> list[str]:
        return sorted(recording for slot in range(4)
                      for recording, _ in hub.tick(slot).recorded)

    assert one_period() == ["ab", "cd", "ef"]
    assert hub.stop_recording("cd") is not None
    assert hub.stop_recording("cd") is None
    assert one_period() == ["ab", "ef"]
    hub.record("cd", StereoRecorder("c", "d"))
    hub.remove_leg("e")  # its caller gone: the recording waits for nothing
    assert one_period() == ["ab", "cd"]
