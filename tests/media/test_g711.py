"""G.711 tables against a plain transcription of the ITU-T reference algorithm (Sun g711.c)."""

from __future__ import annotations

import numpy as np
import pytest

from parley.media import MediaError
from parley.media.g711 import (
    ALAW_DECODE,
    ALAW_ENCODE,
    ULAW_DECODE,
    ULAW_ENCODE,
    Codec,
    decode,
    decode_frames,
    encode,
    silence,
)

SEG_UEND = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]
SEG_AEND = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]


def search(value: int, table: list[int]) -> int:
    for i, end in enumerate(table):
        if value <= end:
            return i
    return len(table)


def ref_linear2ulaw(pcm: int) -> int:
    pcm >>= 2
    if pcm < 0:
        pcm = -pcm
        mask = 0x7F
    else:
        mask = 0xFF
    pcm = min(pcm, 8159) + (0x84 >> 2)
    seg = search(pcm, SEG_UEND)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (seg + 1)) & 0xF)) ^ mask


def ref_ulaw2linear(code: int) -> int:
    code = ~code & 0xFF
    t = ((code & 0x0F) << 3) + 0x84
    t <<= (code & 0x70) >> 4
    return (0x84 - t) if code & 0x80 else (t - 0x84)


def ref_linear2alaw(pcm: int) -> int:
    pcm >>= 3
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    seg = search(pcm, SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= ((pcm >> 1) if seg < 2 else (pcm >> seg)) & 0x0F
    return aval ^ mask


def ref_alaw2linear(code: int) -> int:
    code ^= 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if code & 0x80 else -t


ALL_PCM = range(-32768, 32768)


def test_ulaw_encode_matches_reference_for_every_sample() -> None:
    expected = np.array([ref_linear2ulaw(v) for v in ALL_PCM], dtype=np.uint8)
    got = ULAW_ENCODE[np.arange(-32768, 32768, dtype=np.int16).view(np.uint16)]
    assert np.array_equal(got, expected)


def test_alaw_encode_matches_reference_for_every_sample() -> None:
    expected = np.array([ref_linear2alaw(v) for v in ALL_PCM], dtype=np.uint8)
    got = ALAW_ENCODE[np.arange(-32768, 32768, dtype=np.int16).view(np.uint16)]
    assert np.array_equal(got, expected)


def test_decode_tables_match_reference_for_every_code() -> None:
    assert ULAW_DECODE.tolist() == [ref_ulaw2linear(c) for c in range(256)]
    assert ALAW_DECODE.tolist() == [ref_alaw2linear(c) for c in range(256)]


def test_known_table_values() -> None:
    # Published anchors: µ-law 0xFF/0x7F are ±0, 0x80 is +32124; A-law 0xD5 is +8, 0xAA +32256.
    assert ULAW_DECODE[0xFF] == 0
    assert ULAW_DECODE[0x7F] == 0
    assert ULAW_DECODE[0x80] == 32124
    assert ULAW_DECODE[0x00] == -32124
    assert ALAW_DECODE[0xD5] == 8
    assert ALAW_DECODE[0xAA] == 32256
    assert ALAW_DECODE[0x2A] == -32256


@pytest.mark.parametrize("codec", [Codec.PCMU, Codec.PCMA])
def test_decode_encode_is_identity_on_codes(codec: Codec) -> None:
    codes = bytes(range(256))
    again = encode(decode(codes, codec), codec)
    if codec is Codec.PCMU:
        # µ-law has two zeros (0x7F and 0xFF); both decode to 0 and 0 encodes to 0xFF.
        assert again == codes.replace(b"\x7f", b"\xff")
    else:
        assert again == codes


def test_silence_payloads_decode_to_near_zero() -> None:
    assert np.abs(decode(silence(Codec.PCMU), Codec.PCMU)).max() == 0
    assert np.abs(decode(silence(Codec.PCMA), Codec.PCMA)).max() <= 8
    assert len(silence(Codec.PCMA, 80)) == 80


def test_codec_names_and_bad_input() -> None:
    assert Codec.from_name("ulaw") is Codec.PCMU
    assert Codec.from_name("PCMA") is Codec.PCMA
    with pytest.raises(MediaError, match="G722"):
        Codec.from_name("G722")
    with pytest.raises(MediaError, match="16-bit"):
        encode(np.zeros(4, dtype=np.int32), Codec.PCMU)  # type: ignore[arg-type]


def test_decode_frames_decodes_a_whole_tick_at_once() -> None:
    payloads = [bytes([code]) * 160 for code in (0x00, 0x80, 0xFF)]
    pcm = decode_frames(payloads, Codec.PCMU)
    assert pcm.shape == (3, 160)
    assert pcm[:, 0].tolist() == [-32124, 32124, 0]
    with pytest.raises(MediaError, match="160-byte payloads"):
        decode_frames([b"\xff" * 160, b"\xff" * 80], Codec.PCMU)
