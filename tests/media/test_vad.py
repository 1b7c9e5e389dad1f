"""Voice activity on real speech, and the speech/silence segments that AMD reads."""

from __future__ import annotations

import numpy as np
import pytest

from parley.media import MediaError
from parley.media.audio import decode_wav, to_telephony
from parley.media.vad import SILENCE, SPEECH, Segment, SegmentTracker, VoiceActivity
from parley.testing.needs import STOCK_PROMPTS, needs, stock_sounds

needs_sounds = needs(STOCK_PROMPTS)


def prompt(name: str) -> np.ndarray:
    path = stock_sounds() / f"{name}.wav"
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


@needs_sounds
def test_speech_is_speech_and_silence_is_not() -> None:
    vad = VoiceActivity(aggressiveness=2)
    speech = vad.classify(prompt("queue-thereare"))
    assert sum(speech) / len(speech) > 0.5
    assert not any(vad.classify(np.zeros(16000, np.int16)))
    # webrtcvad adapts to steady line noise: after a few seconds it is no longer speech.
    hiss = np.random.default_rng(1).normal(0, 30, 8000 * 8).astype(np.int16)
    assert not any(VoiceActivity(aggressiveness=2).classify(hiss)[-200:])


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_frame_sizes(frame_ms: int) -> None:
    vad = VoiceActivity(frame_ms=frame_ms)
    assert len(vad.classify(np.zeros(2400, np.int16))) == 2400 // (8 * frame_ms)
    with pytest.raises(MediaError, match="8 kHz is"):
        vad.is_speech(np.zeros(100, np.int16))


def test_bad_settings() -> None:
    with pytest.raises(MediaError, match="aggressiveness 5"):
        VoiceActivity(5)
    with pytest.raises(MediaError, match="not 25"):
        VoiceActivity(frame_ms=25)


def test_tracker_smooths_short_blips_and_closes_segments() -> None:
    tracker = SegmentTracker(frame_ms=20, min_speech_ms=60, min_silence_ms=200)
    pattern = [False] * 25 + [True] * 2 + [False] * 10 + [True] * 50 + [False] * 5 \
        + [True] * 20 + [False] * 30
    for speech in pattern:
        tracker.update(speech)
    tracker.finish()
    # The 40 ms blip is not speech; the 100 ms dip inside speech does not split it.
    assert tracker.segments == [Segment(SILENCE, 0, 740), Segment(SPEECH, 740, 2240),
                                Segment(SILENCE, 2240, 2840)]
    assert tracker.speech_segments()[0].duration_ms == 1500


@needs_sounds
def test_segments_of_real_prompts_separated_by_pauses() -> None:
    silence = np.zeros(8000, np.int16)
    names = ["queue-thereare", "queue-callswaiting", "queue-thankyou"]
    audio = np.concatenate([silence] + [x for name in names for x in (prompt(name), silence)])
    vad = VoiceActivity()
    tracker = SegmentTracker()
    for speech in vad.classify(audio):
        tracker.update(speech)
    tracker.finish()
    speech = tracker.speech_segments()
    assert len(speech) == 3
    starts = [1000]
    for name in names[:-1]:
        starts.append(starts[-1] + len(prompt(name)) // 8 + 1000)
    for segment, start in zip(speech, starts, strict=True):
        assert abs(segment.start_ms - start) < 300

