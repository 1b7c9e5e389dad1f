"""The end of a machine's greeting: its beep, or the silence after it."""

from __future__ import annotations

import numpy as np

from parley.media.beep import BEEP, SILENCE, GreetingEnd
from parley.testing.peers import noise_signal


def tone(hz: float, seconds: float, level: float = 8000.0) -> np.ndarray:
    t = np.arange(int(8000 * seconds)) / 8000
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def feed_all(detector: GreetingEnd, pcm: np.ndarray) -> object:
    verdict = None
    for start in range(0, len(pcm), 160):  # 20 ms at a time, as the media hub does
        verdict = detector.feed(pcm[start:start + 160])
        if verdict is not None:
            break
    return verdict


def test_a_beep_after_speech_ends_the_greeting() -> None:
    speech = noise_signal(2.0, seed=3)
    verdict = feed_all(GreetingEnd(), np.concatenate([speech, tone(1000, 0.5)]))
    assert verdict is not None
    assert verdict.result == BEEP
    assert "1000HZ" in verdict.cause
    assert 2000 < verdict.after_ms < 2300  # within the beep's first 200 ms


def test_speech_alone_is_no_beep() -> None:
    assert feed_all(GreetingEnd(), noise_signal(4.0, seed=4)) is None


def test_a_machine_without_a_beep_ends_with_silence() -> None:
    pcm = np.concatenate([noise_signal(1.0, seed=5), np.zeros(8000 * 2, np.int16)])
    verdict = feed_all(GreetingEnd(), pcm)
    assert verdict is not None
    assert verdict.result == SILENCE
    assert 2100 <= verdict.after_ms <= 2300
