"""WAV decoding and encoding, downmixing and resampling to 8 kHz telephony audio.

Files come in at any rate, mono or stereo (or more channels), 8/16/24/32-bit integer PCM or
32/64-bit float, in plain or WAVE_FORMAT_EXTENSIBLE headers (which the stdlib ``wave`` module of
Python 3.11 rejects, hence the small RIFF reader here). Everything is bytes in, arrays out: the
caller reads the file.

Resampling is rational polyphase filtering with a Kaiser-windowed sinc low-pass whose cut-off
sits below the lower Nyquist frequency, so that 44.1 kHz music does not alias into the
telephone band.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from math import gcd

import numpy as np
import numpy.typing as npt

from parley.media import MediaError

Pcm = npt.NDArray[np.int16]
Float = npt.NDArray[np.float32]

TELEPHONY_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz

_FORMAT_PCM = 1
_FORMAT_FLOAT = 3
_FORMAT_EXTENSIBLE = 0xFFFE


@dataclass(frozen=True, slots=True)
class WavInfo:
    """Where the parts of a WAV file lie, as read from its chunks."""

    format_tag: int
    channels: int
    rate: int
    bits: int
    block_align: int
    data_offset: int
    data_size: int  # as the header says; may be wrong in a crashed file


@dataclass(frozen=True, slots=True)
class Audio:
    """Decoded audio: float samples in [-1, 1], shape (frames, channels)."""

    samples: Float
    rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        return float(self.samples.shape[0]) / self.rate


def parse_wav_header(data: bytes, source: str = "<bytes>") -> WavInfo:
    """Find the ``fmt `` and ``data`` chunks; raise :class:`MediaError` naming the problem."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise MediaError(f"{source}: not a WAV file (no RIFF/WAVE header)")
    if data[:4] == b"RIFX":
        raise MediaError(f"{source}: big-endian RIFX WAV files are not supported")
    offset = 12
    fmt: tuple[int, int, int, int, int] | None = None
    while offset + 8 <= len(data):
        chunk_id = data[offset:offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise MediaError(f"{source}: the fmt chunk is too short ({size} bytes)")
            tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from(
                "<HHIIHH", data, body)
            if tag == _FORMAT_EXTENSIBLE:
                if size < 40 or body + 26 > len(data):
                    raise MediaError(f"{source}: the extensible fmt chunk is too short "
                                     f"({size} bytes, 40 needed)")
                (tag,) = struct.unpack_from("<H", data, body + 24)  # first 2 bytes of SubFormat
            fmt = (tag, channels, rate, block_align, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise MediaError(f"{source}: the data chunk comes before the fmt chunk")
            tag, channels, rate, block_align, bits = fmt
            return WavInfo(tag, channels, rate, bits, block_align, body, size)
        offset = body + size + (size & 1)
    if fmt is None:
        raise MediaError(f"{source}: no fmt chunk")
    raise MediaError(f"{source}: no data chunk")


def decode_wav(data: bytes, source: str = "<bytes>") -> Audio:
    """Decode a WAV file's bytes to float samples (frames x channels) at the file's rate.

    A data size larger than the file (a recording cut short) is read up to the last whole frame.
    """
    info = parse_wav_header(data, source)
    if info.channels < 1 or info.rate < 1:
        raise MediaError(f"{source}: {info.channels} channels at {info.rate} Hz is not audio")
    width = info.bits // 8
    if info.format_tag == _FORMAT_PCM and info.bits not in (8, 16, 24, 32):
        raise MediaError(f"{source}: {info.bits}-bit PCM is not supported (8/16/24/32 are)")
    if info.format_tag == _FORMAT_FLOAT and info.bits not in (32, 64):
        raise MediaError(f"{source}: {info.bits}-bit float is not supported (32/64 are)")
    if info.format_tag not in (_FORMAT_PCM, _FORMAT_FLOAT):
        raise MediaError(f"{source}: WAV format {info.format_tag:#x} is not PCM; convert it to "
                         "PCM or float first (for example with sox)")
    block = width * info.channels
    available = min(info.data_size, len(data) - info.data_offset)
    frames = max(0, available) // block
    raw = np.frombuffer(data, dtype=np.uint8, count=frames * block, offset=info.data_offset)
    samples: npt.NDArray[np.floating]
    if info.format_tag == _FORMAT_FLOAT:
        samples = raw.view("<f4" if width == 4 else "<f8").astype(np.float32)
    elif width == 1:
        samples = (raw.astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = raw.view("<i2").astype(np.float32) / 32768.0
    elif width == 3:
        triples = raw.reshape(-1, 3).astype(np.int32)
        value = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        value = np.where(value & 0x800000, value - 0x1000000, value)
        samples = value.astype(np.float32) / 8388608.0
    else:
        samples = raw.view("<i4").astype(np.float32) / 2147483648.0
    return Audio(np.ascontiguousarray(samples.reshape(frames, info.channels),
                                      dtype=np.float32), info.rate)


def downmix(audio: Audio) -> Float:
    """Average the channels to mono (the usual downmix; keeps the level of centred sound)."""
    if audio.channels == 1:
        return audio.samples[:, 0].copy()
    mono: Float = audio.samples.mean(axis=1, dtype=np.float32)
    return mono


def _kaiser_lowpass(up: int, down: int, zero_crossings: int = 16,
                    beta: float = 8.0) -> npt.NDArray[np.float64]:
    """Prototype filter at ``up`` times the input rate, cut below both Nyquist frequencies."""
    factor = max(up, down)
    cutoff = 0.92 / factor  # as a fraction of the upsampled Nyquist frequency
    half = zero_crossings * factor
    n = np.arange(-half, half + 1, dtype=np.float64)
    taps = cutoff * np.sinc(cutoff * n) * np.kaiser(2 * half + 1, beta)
    result: npt.NDArray[np.float64] = taps * (up / taps.sum())
    return result


def resample(samples: Float, from_rate: int, to_rate: int = TELEPHONY_RATE) -> Float:
    """Resample mono float samples by the rational factor ``to_rate / from_rate``."""
    if from_rate <= 0 or to_rate <= 0:
        raise MediaError(f"cannot resample from {from_rate} Hz to {to_rate} Hz")
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=True)
    common = gcd(from_rate, to_rate)
    up, down = to_rate // common, from_rate // common
    taps = _kaiser_lowpass(up, down)
    half = (len(taps) - 1) // 2
    # Pad the filter to a whole number of phases; tap k of phase p is taps[p + k * up].
    per_phase = -(-len(taps) // up)
    padded = np.zeros(per_phase * up, dtype=np.float64)
    padded[:len(taps)] = taps
    phases = padded.reshape(per_phase, up).T.astype(np.float32)  # (up, per_phase)
    out_len = (len(samples) * up) // down
    # Output n sits at upsampled index t = n*down + half (centred filter); input x[j] sits at j*up.
    # y[n] = sum_k taps[p + k*up] * x[(t - p)/up - k], p = t mod up.
    lead = per_phase
    x = np.concatenate([np.zeros(lead, np.float32), samples.astype(np.float32),
                        np.zeros(per_phase + 1, np.float32)])
    out = np.empty(out_len, dtype=np.float32)
    block = max(1, 262144 // per_phase)
    k = np.arange(per_phase)
    for start in range(0, out_len, block):
        n = np.arange(start, min(out_len, start + block), dtype=np.int64)
        t = n * down + half
        phase = t % up
        base = t // up + lead
        idx = base[:, None] - k[None, :]
        out[start:start + len(n)] = np.einsum("ij,ij->i", x[idx], phases[phase])
    return out


def to_pcm16(samples: Float) -> Pcm:
    """Float samples in [-1, 1] to int16, rounded and clipped (no wrap-around)."""
    scaled = np.rint(samples.astype(np.float64) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def to_telephony(audio: Audio) -> Pcm:
    """Any decoded audio to 8 kHz mono int16, the form every prompt and tone is played in."""
    return to_pcm16(resample(downmix(audio), audio.rate, TELEPHONY_RATE))


def frames(pcm: Pcm, samples_per_frame: int = FRAME_SAMPLES) -> npt.NDArray[np.int16]:
    """Cut audio into whole 20 ms frames (shape (n, 160)), padding the last with silence."""
    count = -(-len(pcm) // samples_per_frame)
    padded = np.zeros(count * samples_per_frame, dtype=np.int16)
    padded[:len(pcm)] = pcm
    return padded.reshape(count, samples_per_frame)


class FrameSplitter:
    """Cuts audio arriving in pieces of any length into whole frames of ``samples``, keeping
    the remainder for the next piece (the detectors analyse 20 ms frames of a live stream)."""

    def __init__(self, samples: int) -> None:
        self.samples = samples
        self._pending: Pcm = np.zeros(0, dtype=np.int16)

    def split(self, pcm: Pcm) -> list[Pcm]:
        """The whole frames that ``pcm`` completes, oldest first."""
        data = np.concatenate([self._pending, pcm]) if len(self._pending) else pcm
        count = len(data) // self.samples
        self._pending = data[count * self.samples:].copy()
        return [data[i * self.samples:(i + 1) * self.samples] for i in range(count)]


def wav_header(channels: int, rate: int, bits: int, data_size: int) -> bytes:
    """A canonical 44-byte PCM WAV header for ``data_size`` bytes of sample data."""
    block_align = channels * bits // 8
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_size, b"WAVE", b"fmt ", 16,
                       _FORMAT_PCM, channels, rate, rate * block_align, block_align, bits,
                       b"data", data_size)


def encode_wav(pcm: npt.NDArray[np.int16], rate: int = TELEPHONY_RATE) -> bytes:
    """16-bit PCM WAV bytes; ``pcm`` is mono (n,) or interleaved (n, channels)."""
    shaped = pcm.reshape(len(pcm), -1) if pcm.ndim == 1 else pcm
    body = np.ascontiguousarray(shaped, dtype="<i2").tobytes()
    return wav_header(int(shaped.shape[1]), rate, 16, len(body)) + body


def rms_dbfs(pcm: npt.NDArray[np.int16]) -> float:
    """The RMS level of int16 samples in dB below full scale (-inf for digital silence)."""
    if pcm.size == 0:
        return float("-inf")
    power = float(np.mean(pcm.astype(np.float64) ** 2))
    return float("-inf") if power == 0 else 10.0 * np.log10(power / 32768.0**2)
