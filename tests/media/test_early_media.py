"""Early media recognised before the answer: busy and congestion cadences (425 Hz and North
American), special information tones with their codes, and a spoken announcement, while
ringback, ringback music, line noise and silence give no verdict."""

from __future__ import annotations

import numpy as np
import pytest

from parley.media import MediaError
from parley.media.early_media import (
    ANNOUNCEMENT,
    BUSY,
    CONGESTION,
    INVALID,
    SIT,
    UNAVAILABLE,
    EarlyMediaDetector,
    EarlyMediaSettings,
    EarlyMediaVerdict,
)
from parley.media.g711 import Codec, decode_array, encode_array
from parley.media.tones import ToneSpec, render
from parley.testing.greetings import speak
from parley.testing.needs import ESPEAK, needs


def cadence(frequencies: tuple[float, ...], on: int, off: int, ms: int,
            level: float = -16.0) -> np.ndarray:
    return render(ToneSpec("t", frequencies, on, off, True, level), ms)


def pause(ms: int) -> np.ndarray:
    return np.zeros(ms * 8, dtype=np.int16)


def through_alaw(pcm: np.ndarray) -> np.ndarray:
    return decode_array(encode_array(pcm, Codec.PCMA), Codec.PCMA)


def listen(pcm: np.ndarray, settings: EarlyMediaSettings | None = None,
           chunk: int = 160) -> tuple[EarlyMediaVerdict | None, EarlyMediaDetector]:
    detector = EarlyMediaDetector(settings)
    for start in range(0, len(pcm), chunk):
        verdict = detector.feed(pcm[start:start + chunk])
        if verdict is not None:
            return verdict, detector
    return None, detector


@pytest.mark.parametrize(("name", "tone", "kind", "detail"), [
    ("Russia busy 0.4/0.4", cadence((425.0,), 400, 400, 5000), BUSY, "BUSY-425-400/400"),
    ("Europe busy 0.5/0.5", cadence((425.0,), 500, 500, 5000), BUSY, "BUSY-425-500/500"),
    ("US busy 480+620", cadence((480.0, 620.0), 500, 500, 5000, -24.0), BUSY, "BUSY-480+620-"),
    ("Russia congestion 0.175", cadence((425.0,), 175, 175, 5000), CONGESTION,
     "CONGESTION-425-"),
    ("Europe congestion 0.25", cadence((425.0,), 250, 250, 5000), CONGESTION,
     "CONGESTION-425-"),
    ("US reorder", cadence((480.0, 620.0), 250, 250, 5000), CONGESTION,
     "CONGESTION-480+620-"),
])
def test_busy_and_congestion_cadences_close_the_attempt(
        name: str, tone: np.ndarray, kind: str, detail: str) -> None:
    verdict, _ = listen(through_alaw(tone))
    assert verdict is not None, name
    assert (verdict.kind, verdict.cause) == (kind, kind)
    assert verdict.detail.startswith(detail)
    assert verdict.after_ms < 2000  # two busy periods or three congestion ones
    assert verdict.outcome == {BUSY: "busy", CONGESTION: "failed"}[kind]


@pytest.mark.parametrize(("tone", "name"), [
    (cadence((425.0,), 800, 3200, 10000), "Russia"),
    (cadence((425.0,), 1000, 4000, 10000), "Europe"),
    (cadence((440.0, 480.0), 2000, 4000, 12000, -19.0), "North America"),
])
def test_ringback_is_ringing_and_no_verdict(tone: np.ndarray, name: str) -> None:
    verdict, detector = listen(tone)
    assert verdict is None, name
    assert detector.ringing


def sit(first: float, first_ms: int, second: float, second_ms: int, third: float = 1776.7,
        third_ms: int = 380, gap_ms: int = 4) -> np.ndarray:
    return np.concatenate([cadence((first,), first_ms, 0, first_ms), pause(gap_ms),
                           cadence((second,), second_ms, 0, second_ms), pause(gap_ms),
                           cadence((third,), third_ms, 0, third_ms), pause(1000)])


@pytest.mark.parametrize(("tones", "cause", "code"), [
    (sit(950.0, 330, 1400.0, 330, 1800.0, 330, 30), UNAVAILABLE, "SIT-ITU"),
    (sit(913.8, 274, 1370.6, 274), INVALID, "SIT-IC"),  # intercept: number not in service
    (sit(985.2, 380, 1370.6, 274), INVALID, "SIT-VC"),  # vacant code
    (sit(985.2, 380, 1428.5, 380), CONGESTION, "SIT-NC"),  # no circuit
    (sit(913.8, 274, 1428.5, 380), CONGESTION, "SIT-RO"),  # reorder
])
def test_special_information_tones_give_their_cause(tones: np.ndarray, cause: str,
                                                    code: str) -> None:
    verdict, _ = listen(through_alaw(tones))
    assert verdict is not None
    assert (verdict.kind, verdict.cause) == (SIT, cause)
    assert verdict.detail.startswith(code + "-")
    assert verdict.after_ms < 1300  # at the end of the third tone


def test_the_itu_sit_cause_is_a_setting() -> None:
    tones = sit(950.0, 330, 1400.0, 330, 1800.0, 330, 30)
    verdict, _ = listen(tones, EarlyMediaSettings(itu_sit_cause=INVALID))
    assert verdict is not None
    assert verdict.cause == INVALID
    with pytest.raises(MediaError, match="itu_sit_cause 'gone'"):
        EarlyMediaDetector(EarlyMediaSettings(itu_sit_cause="gone"))


@needs(ESPEAK)
@pytest.mark.parametrize(("text", "voice"), [
    ("Аппарат абонента выключен или находится вне зоны действия сети.", "ru"),
    ("The subscriber you are calling is switched off or out of coverage.", "en-us"),
])
def test_an_announcement_where_ringback_should_be_is_unavailable(text: str, voice: str) -> None:
    spoken = speak(text, voice, 175, 50)
    verdict, _ = listen(through_alaw(np.concatenate([pause(300), spoken, pause(1000)])))
    assert verdict is not None
    assert (verdict.kind, verdict.cause, verdict.outcome) == (ANNOUNCEMENT, UNAVAILABLE,
                                                             "no_answer")
    assert verdict.after_ms < 300 + len(spoken) // 8  # while it still speaks
    # after some ringback too
    verdict, detector = listen(np.concatenate([cadence((425.0,), 800, 3200, 4000), spoken]))
    assert verdict is not None
    assert verdict.kind == ANNOUNCEMENT
    assert detector.ringing
    # and a trunk whose carrier plays ringback music can switch the speech rule off
    verdict, _ = listen(spoken, EarlyMediaSettings(announcements=False))
    assert verdict is None


def test_ringback_music_noise_and_silence_give_no_verdict() -> None:
    t = np.arange(8000 * 8) / 8000
    music = np.zeros_like(t)
    for k, note in enumerate([261.6, 329.6, 392.0, 440.0, 349.2, 293.7] * 3):
        part = slice(k * 4000, (k + 1) * 4000)
        music[part] = (np.sin(2 * np.pi * note * t[part]) + 0.5 * np.sin(3 * np.pi * note * t[part])
                       + 0.3 * np.sin(4 * np.pi * note * t[part]))
    assert listen((music * 3000).astype(np.int16))[0] is None
    plucked = music * np.tile(np.exp(-np.arange(4000) / 1500.0), 16)  # two notes a second
    assert listen((plucked * 3000).astype(np.int16))[0] is None
    hiss = np.random.default_rng(1).normal(0, 300, 48000).astype(np.int16)
    assert listen(hiss)[0] is None
    assert listen(pause(6000))[0] is None
    # a busy cadence interrupted by speech starts counting again
    mixed = np.concatenate([cadence((425.0,), 400, 400, 400), pause(400),
                            (hiss * 4)[:8000], cadence((425.0,), 400, 400, 400)])
    assert listen(mixed)[0] is None
