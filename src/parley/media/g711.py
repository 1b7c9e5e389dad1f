"""G.711 µ-law (PCMU) and A-law (PCMA) with numpy lookup tables.

Decoding is one 256-entry table per law; encoding is one 65,536-entry table indexed by the
16-bit sample viewed as unsigned, so a whole tick of frames converts with a single ``take``.
The tables are built once, at import, by a vectorised form of the ITU-T G.711 reference
algorithm (the public-domain Sun ``g711.c``) and are bit-exact with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from parley.media import MediaError

Pcm = npt.NDArray[np.int16]
Codes = npt.NDArray[np.uint8]

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz


class Codec(IntEnum):
    """The G.711 laws, valued by their static RTP payload type (RFC 3551)."""

    PCMU = 0
    PCMA = 8

    @classmethod
    def from_name(cls, name: str) -> Codec:
        """``"PCMU"``/``"pcmu"``/``"ulaw"`` or ``"PCMA"``/``"alaw"`` to a codec."""
        key = name.strip().lower()
        if key in ("pcmu", "ulaw", "mulaw", "u-law", "µ-law"):
            return cls.PCMU
        if key in ("pcma", "alaw", "a-law"):
            return cls.PCMA
        raise MediaError(f"unknown G.711 codec {name!r}: use PCMU (µ-law) or PCMA (A-law)")


_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_BIAS = 0x84
_CLIP = 8159


def _build_ulaw_encode() -> Codes:
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    value = pcm >> 2
    negative = value < 0
    mask = np.where(negative, 0x7F, 0xFF)
    value = np.minimum(np.abs(value), _CLIP) + (_BIAS >> 2)
    seg = np.searchsorted(_SEG_UEND, value, side="left")
    seg_c = np.minimum(seg, 7)
    code = (seg_c << 4) | ((value >> (seg_c + 1)) & 0xF)
    code = np.where(seg >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _build_alaw_encode() -> Codes:
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    value = pcm >> 3
    negative = value < 0
    mask = np.where(negative, 0x55, 0xD5)
    value = np.where(negative, -value - 1, value)
    seg = np.searchsorted(_SEG_AEND, value, side="left")
    seg_c = np.minimum(seg, 7)
    quant = np.where(seg_c < 2, value >> 1, value >> np.maximum(seg_c, 1)) & 0xF
    code = np.where(seg >= 8, 0x7F, (seg_c << 4) | quant)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _build_ulaw_decode() -> Pcm:
    code = (~np.arange(256, dtype=np.int32)) & 0xFF
    t = (((code & 0x0F) << 3) + _BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _BIAS - t, t - _BIAS).astype(np.int16)


def _build_alaw_decode() -> Pcm:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (code & 0x70) >> 4
    t = (code & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(code & 0x80, t, -t).astype(np.int16)


ULAW_ENCODE: Codes = _build_ulaw_encode()
ALAW_ENCODE: Codes = _build_alaw_encode()
ULAW_DECODE: Pcm = _build_ulaw_decode()
ALAW_DECODE: Pcm = _build_alaw_decode()
for _table in (ULAW_ENCODE, ALAW_ENCODE, ULAW_DECODE, ALAW_DECODE):
    _table.flags.writeable = False

ENCODE_TABLES: dict[Codec, Codes] = {Codec.PCMU: ULAW_ENCODE, Codec.PCMA: ALAW_ENCODE}
DECODE_TABLES: dict[Codec, Pcm] = {Codec.PCMU: ULAW_DECODE, Codec.PCMA: ALAW_DECODE}
SILENCE_CODE: dict[Codec, int] = {Codec.PCMU: 0xFF, Codec.PCMA: 0xD5}


def encode_array(pcm: npt.NDArray[np.int16], codec: Codec) -> Codes:
    """Encode int16 samples of any shape to G.711 codes of the same shape."""
    if pcm.dtype != np.int16:
        raise MediaError(f"G.711 encodes 16-bit samples, got {pcm.dtype}")
    return ENCODE_TABLES[codec][pcm.view(np.uint16)]


def decode_array(codes: npt.NDArray[np.uint8], codec: Codec) -> Pcm:
    """Decode G.711 codes of any shape to int16 samples of the same shape."""
    return DECODE_TABLES[codec][codes]


def encode(pcm: npt.NDArray[np.int16], codec: Codec) -> bytes:
    """Encode int16 samples to an RTP payload."""
    return encode_array(np.ascontiguousarray(pcm), codec).tobytes()


def decode(payload: bytes, codec: Codec) -> Pcm:
    """Decode an RTP payload to int16 samples."""
    return DECODE_TABLES[codec].take(np.frombuffer(payload, dtype=np.uint8))


def decode_frames(payloads: Sequence[bytes], codec: Codec,
                  samples: int = FRAME_SAMPLES) -> Pcm:
    """Decode a tick's payloads of many channels at once: shape (len(payloads), samples).

    Every payload must hold ``samples`` codes (a short or missing one is the caller's to pad,
    for example with :func:`silence`).
    """
    joined = b"".join(payloads)
    if len(joined) != len(payloads) * samples:
        raise MediaError(f"decode_frames needs {samples}-byte payloads; got "
                         f"{sorted({len(p) for p in payloads})}")
    codes = np.frombuffer(joined, dtype=np.uint8).reshape(len(payloads), samples)
    return DECODE_TABLES[codec].take(codes)


def silence(codec: Codec, samples: int = FRAME_SAMPLES) -> bytes:
    """A payload of digital silence for this law (0xFF for µ-law, 0xD5 for A-law)."""
    return bytes([SILENCE_CODE[codec]]) * samples
