"""Finding a known prompt inside received audio."""

from __future__ import annotations

import numpy as np
import pytest

from parley.media import MediaError
from parley.media.analysis import find
from parley.media.audio import decode_wav, to_telephony
from parley.media.g711 import Codec, decode, encode
from parley.testing.needs import STOCK_PROMPTS, needs, stock_sounds

pytestmark = needs(STOCK_PROMPTS)


def prompt(name: str) -> np.ndarray:
    path = stock_sounds() / f"{name}.wav"
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


def test_prompt_is_found_at_its_offset_through_mulaw_and_noise() -> None:
    reference = prompt("queue-thereare")
    rng = np.random.default_rng(5)
    received = rng.normal(0, 200, 40000)
    received[12345:12345 + len(reference)] += reference * 0.5
    coded = decode(encode(np.clip(received, -32768, 32767).astype(np.int16), Codec.PCMU),
                   Codec.PCMU)
    match = find(reference, coded)
    assert match.offset == 12345
    assert match.correlation > 0.9
    assert abs(match.offset_s - 1.543) < 0.001


def test_a_different_prompt_does_not_match() -> None:
    received = np.concatenate([np.zeros(4000, np.int16), prompt("queue-callswaiting"),
                               np.zeros(4000, np.int16)])
    assert find(prompt("queue-thereare")[:12000], received).correlation < 0.5


def test_bad_inputs() -> None:
    with pytest.raises(MediaError, match="at least as long"):
        find(np.ones(10, np.int16), np.ones(5, np.int16))
    with pytest.raises(MediaError, match="silent"):
        find(np.zeros(10, np.int16), np.ones(50, np.int16))
