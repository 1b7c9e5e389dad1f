"""Call-progress and DTMF tones: frequencies, levels and cadences a listener would notice."""

from __future__ import annotations

import numpy as np
import pytest

from parley.media import MediaError
from parley.media.tones import (
    BEEP,
    BUSY,
    RINGBACK,
    ToneSource,
    ToneSpec,
    dtmf_frequencies,
    dtmf_sequence,
    dtmf_tone,
    render,
)


def peak_frequencies(pcm: np.ndarray, count: int) -> list[float]:
    spectrum = np.abs(np.fft.rfft(pcm.astype(float) * np.hanning(len(pcm))))
    freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)
    peaks = [i for i in range(1, len(spectrum) - 1)
             if spectrum[i] >= spectrum[i - 1] and spectrum[i] >= spectrum[i + 1]]
    best = sorted(peaks, key=lambda i: spectrum[i], reverse=True)[:count]
    return sorted(round(float(freqs[i])) for i in best)


def on_off(pcm: np.ndarray, frame: int = 160) -> list[bool]:
    return [bool(np.abs(chunk).max() > 100) for chunk in pcm.reshape(-1, frame)]


def test_ringback_is_440_plus_480_two_on_four_off() -> None:
    pcm = render(RINGBACK, 12000)
    assert len(pcm) == 96000
    assert peak_frequencies(pcm[:16000], 2) == [440, 480]
    pattern = on_off(pcm)
    assert pattern == ([True] * 100 + [False] * 200) * 2


def test_busy_is_480_plus_620_half_second_cadence() -> None:
    pcm = render(BUSY, 2000)
    assert peak_frequencies(pcm[:4000], 2) == [480, 620]
    assert on_off(pcm) == ([True] * 25 + [False] * 25) * 2


def test_beep_is_a_single_quarter_second_1khz() -> None:
    pcm = render(BEEP)
    assert len(pcm) == 2000
    assert peak_frequencies(pcm, 1) == [1000]


def test_source_is_phase_continuous_across_reads() -> None:
    whole = render(RINGBACK, 1000)
    source = ToneSource(RINGBACK)
    pieces = np.concatenate([source.read(n) for n in (1, 159, 160, 7, 153, 7520)])
    assert np.array_equal(pieces, whole)


def test_one_shot_source_runs_out() -> None:
    source = ToneSource(dtmf_tone("5", on_ms=40, off_ms=20))
    assert source.remaining() == 480
    assert len(source.read(400)) == 400
    assert len(source.read(400)) == 80
    assert len(source.read(400)) == 0
    source.rewind()
    assert source.remaining() == 480


@pytest.mark.parametrize(("digit", "pair"), [("1", (697, 1209)), ("0", (941, 1336)),
                                             ("#", (941, 1477)), ("D", (941, 1633)),
                                             ("b", (770, 1633))])
def test_dtmf_pairs(digit: str, pair: tuple[int, int]) -> None:
    assert dtmf_frequencies(digit) == pair
    found = peak_frequencies(render(dtmf_tone(digit, 200)), 2)
    assert np.allclose(found, pair, atol=5)  # 200 ms gives 5 Hz bins


def test_sequence_length_and_errors() -> None:
    assert len(dtmf_sequence("123", 50, 50)) == 3 * 800
    with pytest.raises(MediaError, match="'x' is not a DTMF key"):
        dtmf_frequencies("x")
    with pytest.raises(MediaError, match="between 0 and 4000"):
        ToneSpec("bad", (5000.0,), 100)
    with pytest.raises(MediaError, match="give a duration"):
        render(RINGBACK)
