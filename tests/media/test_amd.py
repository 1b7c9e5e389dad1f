"""Answering-machine detection on real recorded speech: a short hello, a long greeting,
many words, dead air."""

from __future__ import annotations

import numpy as np
import pytest

from parley.media import MediaError
from parley.media.amd import HUMAN, MACHINE, UNKNOWN, AmdSettings, AnsweringMachineDetector
from parley.media.audio import decode_wav, to_telephony
from parley.testing.needs import STOCK_PROMPTS, needs, stock_sounds

pytestmark = needs(STOCK_PROMPTS)


def prompt(name: str) -> np.ndarray:
    path = stock_sounds() / f"{name}.wav"
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


def silence(ms: int) -> np.ndarray:
    return np.zeros(ms * 8, dtype=np.int16)


def detect(audio: np.ndarray, settings: AmdSettings | None = None,
           chunk: int = 160) -> tuple[str, str, int]:
    detector = AnsweringMachineDetector(settings)
    for start in range(0, len(audio), chunk):
        verdict = detector.feed(audio[start:start + chunk])
        if verdict is not None:
            return verdict.result, verdict.cause, verdict.after_ms
    raise AssertionError("no verdict")


def test_a_short_hello_then_waiting_is_a_person() -> None:
    result, cause, after = detect(np.concatenate([silence(400), prompt("hello"), silence(2000)]))
    assert result == HUMAN
    assert cause.startswith("HUMAN-")
    assert after < 2500  # decided soon after the 800 ms of waiting


def test_a_long_greeting_is_a_machine() -> None:
    greeting = np.concatenate([silence(300), prompt("vm-intro"), silence(2000)])
    result, cause, after = detect(greeting)
    assert (result, cause) == (MACHINE, "LONGGREETING-1500-1500")
    assert after < 2500


def test_many_short_words_are_a_machine() -> None:
    words = [x for d in "12345" for x in (prompt(f"digits/{d}"), silence(150))]
    result, cause, _ = detect(np.concatenate([silence(300), *words]),
                              AmdSettings(greeting=5000))
    assert (result, cause) == (MACHINE, "MAXWORDS-4-4")


def test_dead_air_and_line_noise_are_machines_by_initial_silence() -> None:
    assert detect(silence(4000))[:2] == (MACHINE, "INITIALSILENCE-2500-2500")
    hiss = np.random.default_rng(0).normal(0, 20, 32000).astype(np.int16)
    assert detect(hiss)[0] == MACHINE


def test_undecided_after_the_analysis_time() -> None:
    # Speech with long pauses, with greeting and word limits out of reach.
    settings = AmdSettings(greeting=10000, maximum_number_of_words=99,
                           after_greeting_silence=3000, total_analysis_time=3000)
    audio = np.concatenate([silence(200), prompt("hello"), silence(1500), prompt("hello"),
                            silence(3000)])
    assert detect(audio, settings)[:2] == (UNKNOWN, "TOOLONG-3000")


def test_verdict_is_kept_and_large_chunks_work() -> None:
    audio = np.concatenate([silence(400), prompt("hello"), silence(2000)])
    detector = AnsweringMachineDetector()
    verdict = detector.feed(audio)
    assert verdict is not None
    assert detector.feed(silence(100)) is verdict
    with pytest.raises(MediaError, match="must be positive"):
        AnsweringMachineDetector(AmdSettings(total_analysis_time=0))
