"""The call tests' ear: ``audio_similarity`` tells heard audio from silence and from other
audio, and in pieces it forgives a jitter buffer's few splices but not choppy audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parley.testing.peers import audio_similarity, noise_signal, write_wav


def spliced(samples: np.ndarray, cuts: int, seed: int) -> np.ndarray:
    """``samples`` with ``cuts`` gaps of 5-20 ms cut out, as a jitter buffer's accelerate does."""
    rng = np.random.default_rng(seed)
    result = samples
    for at in sorted(rng.integers(4000, len(samples) - 4000, cuts), reverse=True):
        result = np.concatenate([result[:at], result[at + int(rng.integers(40, 160)):]])
    return result


def test_heard_audio_scores_high_and_silence_or_other_audio_low(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "source.wav", noise_signal(12.0, 5))
    sent = noise_signal(12.0, 5)
    heard = write_wav(tmp_path / "heard.wav", sent[20_000:52_000])  # 4 s, delayed
    other = write_wav(tmp_path / "other.wav", noise_signal(4.0, 6))
    silence = write_wav(tmp_path / "silence.wav", np.zeros(32_000, dtype=np.int16))
    for pieces, window_s in ((1, 2.0), (4, 0.5)):
        assert audio_similarity(heard, source, window_s=window_s, pieces=pieces) > 0.99
        assert audio_similarity(other, source, window_s=window_s, pieces=pieces) < 0.2
        assert audio_similarity(silence, source, window_s=window_s, pieces=pieces) == 0.0


def test_pieces_forgive_a_few_splices_but_not_choppy_audio(tmp_path: Path) -> None:
    sent = noise_signal(12.0, 5)
    source = write_wav(tmp_path / "source.wav", sent)
    clean = sent[20_000:52_000]
    few = write_wav(tmp_path / "few.wav", spliced(clean, 2, seed=3))
    choppy = write_wav(tmp_path / "choppy.wav", spliced(clean, 60, seed=3))
    assert audio_similarity(few, source, window_s=0.5, pieces=4) > 0.8
    assert audio_similarity(choppy, source, window_s=0.5, pieces=4) < 0.5
    too_short = write_wav(tmp_path / "short.wav", clean[:20_000])
    assert audio_similarity(too_short, source, window_s=0.5, pieces=4) == 0.0
