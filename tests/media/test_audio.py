"""WAV decoding of every supported layout, downmixing and anti-aliased resampling to 8 kHz."""

from __future__ import annotations

import contextlib
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.media import MediaError
from parley.media.audio import (
    Audio,
    decode_wav,
    downmix,
    encode_wav,
    frames,
    resample,
    rms_dbfs,
    to_telephony,
)
from parley.testing.needs import SOX, needs


def sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def make_wav(samples: np.ndarray, rate: int, bits: int, *, extensible: bool = False,
             float_format: bool = False) -> bytes:
    """Pack float samples (frames x channels) the way other tools write them."""
    channels = samples.shape[1]
    if float_format:
        body = samples.astype("<f4").tobytes()
    elif bits == 8:
        body = np.clip(np.rint(samples * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    elif bits == 16:
        body = np.clip(np.rint(samples * 32768), -32768, 32767).astype("<i2").tobytes()
    elif bits == 24:
        ints = np.clip(np.rint(samples * 8388608), -8388608, 8388607).astype("<i4")
        body = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        body = np.clip(np.rint(samples.astype(np.float64) * 2147483648), -2147483648,
                       2147483647).astype("<i4").tobytes()
    tag = 3 if float_format else 1
    block = channels * bits // 8
    if extensible:
        guid = struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22,
                          bits, 0) + guid
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    chunks = (b"fmt " + struct.pack("<I", len(fmt)) + fmt
              + b"LIST" + struct.pack("<I", 5) + b"odd!!\x00"  # odd-sized chunk, padded
              + b"data" + struct.pack("<I", len(body)) + body)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


@pytest.mark.parametrize("bits", [8, 16, 24, 32])
@pytest.mark.parametrize("extensible", [False, True])
def test_decodes_integer_pcm_of_every_width(bits: int, extensible: bool) -> None:
    left, right = sine(440, 16000, 0.1), sine(1000, 16000, 0.1, 0.25)
    stereo = np.stack([left, right], axis=1)
    audio = decode_wav(make_wav(stereo, 16000, bits, extensible=extensible))
    assert audio.rate == 16000
    assert audio.channels == 2
    tolerance = 1 / 100 if bits == 8 else 1 / 30000
    assert np.abs(audio.samples - stereo).max() < tolerance


def test_decodes_float_wav() -> None:
    mono = sine(300, 8000, 0.05)[:, None]
    audio = decode_wav(make_wav(mono, 8000, 32, float_format=True))
    assert np.allclose(audio.samples, mono)


def test_stereo_44k1_becomes_8k_mono_with_the_tone_intact() -> None:
    tone = sine(1000, 44100, 1.0)
    audio = Audio(np.stack([tone, tone], axis=1), 44100)
    pcm = to_telephony(audio)
    assert pcm.dtype == np.int16
    assert len(pcm) == 8000
    expected = np.rint(sine(1000, 8000, 1.0) * 32768)
    # Same phase (no delay added by the filter), same level.
    assert np.abs(pcm[200:-200] - expected[200:-200]).max() < 80


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 16000])
def test_tones_above_4khz_do_not_alias_into_the_band(rate: int) -> None:
    alias_source = sine(5000, rate, 1.0)  # would fold to 3 kHz without a low-pass
    out = to_telephony(Audio(alias_source[:, None], rate))
    assert rms_dbfs(out[400:-400]) < -75
    passband = to_telephony(Audio(sine(3000, rate, 1.0)[:, None], rate))
    assert abs(rms_dbfs(passband[400:-400]) - rms_dbfs(np.rint(sine(3000, 8000, 1.0) * 32768)
                                                        .astype(np.int16))) < 0.5


def test_downmix_averages_channels() -> None:
    audio = Audio(np.array([[0.5, -0.5], [0.2, 0.4]], dtype=np.float32), 8000)
    assert np.allclose(downmix(audio), [0.0, 0.3])


def test_upsampling_keeps_length_and_level() -> None:
    out = resample(sine(500, 8000, 0.5), 8000, 16000)
    assert len(out) == 8000
    assert abs(float(np.sqrt(np.mean(out[500:-500] ** 2))) - 0.5 / np.sqrt(2)) < 0.005


def test_full_scale_input_clips_instead_of_wrapping() -> None:
    loud = np.ones((800, 1), dtype=np.float32)
    pcm = to_telephony(Audio(loud, 8000))
    assert pcm.min() > 0


def test_frames_pad_the_last_frame_with_silence() -> None:
    cut = frames(np.ones(170, dtype=np.int16))
    assert cut.shape == (2, 160)
    assert cut[1, :10].tolist() == [1] * 10
    assert not cut[1, 10:].any()


def test_encode_then_decode_round_trips() -> None:
    pcm = (np.arange(-1000, 1000, dtype=np.int16) * 7).astype(np.int16)
    audio = decode_wav(encode_wav(pcm))
    assert np.array_equal(np.rint(audio.samples[:, 0] * 32768).astype(np.int16), pcm)


def test_truncated_data_reads_whole_frames_only() -> None:
    data = encode_wav(np.arange(100, dtype=np.int16))[:-3]  # the header claims 200 bytes
    assert decode_wav(data).samples.shape == (98, 1)


@pytest.mark.parametrize(("data", "message"), [
    (b"hello", "not a WAV file"),
    (b"RIFF\x04\x00\x00\x00WAVE", "no fmt chunk"),
    (b"RIFF\x10\x00\x00\x00WAVEdata\x00\x00\x00\x00", "data chunk comes before the fmt"),
    (make_wav(np.zeros((4, 1)), 8000, 16).replace(b"\x01\x00\x01\x00", b"\x11\x00\x01\x00", 1),
     "format 0x11 is not PCM"),
])
def test_bad_files_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        decode_wav(data, "greeting.wav")


@needs(SOX)
def test_reads_what_sox_writes(tmp_path: Path) -> None:
    # sox writes 24-bit stereo as WAVE_FORMAT_EXTENSIBLE, which the stdlib wave module rejects.
    path = tmp_path / "tone.wav"
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", "-b", "24", str(path),
                    "synth", "0.5", "sine", "1000", "vol", "0.5"], check=True)
    pcm = to_telephony(decode_wav(path.read_bytes(), str(path)))
    assert len(pcm) == 4000
    assert abs(rms_dbfs(pcm[200:-200]) - rms_dbfs(np.rint(sine(1000, 8000, 1) * 32768)
                                                  .astype(np.int16))) < 0.3


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_media_error(data: bytes) -> None:
    with contextlib.suppress(MediaError):
        decode_wav(b"RIFF" + data[:4] + b"WAVE" + data[4:])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"fmt ", b"data", b"LIST"]), st.binary(max_size=60))
def test_random_chunks_decode_or_raise_media_error(chunk: bytes, body: bytes) -> None:
    fmt = struct.pack("<HHIIHH", 0xFFFE, 1, 8000, 16000, 2, 16)
    with contextlib.suppress(MediaError):
        decode_wav(b"RIFF\x00\x00\x00\x00WAVEfmt " + struct.pack("<I", 40) + fmt + chunk + body)
    with contextlib.suppress(MediaError):
        decode_wav(b"RIFF\x00\x00\x00\x00WAVE" + chunk + struct.pack("<I", len(body)) + body)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 120), st.integers(0, 255), st.booleans())
def test_damaged_headers_decode_or_raise_media_error(position: int, value: int,
                                                     extensible: bool) -> None:
    good = bytearray(make_wav(np.zeros((10, 2), np.float32), 8000, 24, extensible=extensible))
    good[position % len(good)] = value
    try:
        audio = decode_wav(bytes(good))
    except MediaError:
        return
    assert audio.samples.ndim == 2


def test_short_extensible_fmt_chunk_is_reported() -> None:
    fmt = struct.pack("<HHIIHH", 0xFFFE, 1, 8000, 16000, 2, 16)
    data = b"RIFF" + struct.pack("<I", 100) + b"WAVEfmt " + struct.pack("<I", 40) + fmt
    with pytest.raises(MediaError, match="extensible fmt chunk is too short"):
        decode_wav(data, "short.wav")
