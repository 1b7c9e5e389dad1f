"""Recordings compressed to FLAC: CPU seconds per recorded call-hour and size per hour, WAV
against FLAC.

Method: ``--calls`` stereo recordings of ``--minutes`` each are written with the media
layer's recording writer (:class:`parley.telephony.recording.Recording`, the class the node's
media shell feeds every 20 ms tick), from what a call carries: µ-law frames, decoded. In the
default ``speech`` content the caller (left) and the operator (right) take turns: each turn
is one to three stock prompts (Debian's asterisk-core-sounds-en: real recorded voices)
followed by a pause, the other side quiet meanwhile; both lines carry a faint noise floor
(about -60 dBFS, as a real line does). ``--content noise`` puts white noise at -20 dBFS on
both sides all the time (the worst case for any lossless coder). Each recording is then
compressed exactly as the node does it (:func:`parley.telephony.flac.compress_wav`: sox at
``nice 19``, FLAC level 0, the FLAC decoded again and compared sample for sample), one at a
time; CPU is this process's and its children's user+system time (``resource.getrusage``)
around the compression alone. ``--from DIR`` compresses copies of the WAVs already in DIR
instead (a site's own recordings).

    .venv/bin/python bench/recording_compress.py --calls 20 --minutes 3
    .venv/bin/python bench/recording_compress.py --calls 20 --minutes 3 --content noise
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from parley.media.audio import decode_wav, to_telephony
from parley.media.g711 import Codec, decode_array, encode_array
from parley.telephony.flac import FLAC_LEVEL, compress_wav
from parley.telephony.prompts import find_stock_sounds
from parley.telephony.recording import Recording

RATE = 8000
FRAME = 160


def line(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """What reaches the recorder: the audio µ-law encoded on the wire and decoded."""
    return decode_array(encode_array(pcm, Codec.PCMU), Codec.PCMU)


def prompts() -> list[npt.NDArray[np.int16]]:
    folder = find_stock_sounds()
    if folder is None:
        raise SystemExit("the stock prompts (asterisk-core-sounds-en-wav) are not installed")
    found = []
    for path in sorted(folder.glob("*.wav"))[:400]:
        pcm = to_telephony(decode_wav(path.read_bytes(), str(path)))
        if len(pcm) > RATE // 2:
            found.append(pcm)
    return found


def conversation(seconds: float, voices: list[npt.NDArray[np.int16]],
                 rng: np.random.Generator) -> npt.NDArray[np.int16]:
    """Two sides taking turns, with pauses, over a faint noise floor."""
    total = int(seconds * RATE)
    sides = np.zeros((total, 2), dtype=np.float64)
    at, side = 0, 0
    while at < total:
        for _ in range(int(rng.integers(1, 4))):
            voice = voices[int(rng.integers(len(voices)))]
            stop = min(total, at + len(voice))
            sides[at:stop, side] += voice[:stop - at]
            at = stop
        at += int(rng.uniform(0.3, 1.5) * RATE)
        side = 1 - side
    sides += rng.standard_normal(sides.shape) * 30  # about -60 dBFS of line noise
    return np.clip(sides, -32768, 32767).astype(np.int16)


def make(folder: Path, calls: int, minutes: float, content: str) -> list[Path]:
    rng = np.random.default_rng(7)
    voices = prompts() if content == "speech" else []
    made = []
    for index in range(calls):
        if content == "speech":
            pcm = conversation(minutes * 60, voices, rng)
        else:
            noise = rng.standard_normal((int(minutes * 60 * RATE), 2)) * 3300
            pcm = np.clip(noise, -32768, 32767).astype(np.int16)
        stereo = np.stack([line(pcm[:, 0]), line(pcm[:, 1])], axis=1)
        path = folder / f"call-{index}.wav"
        file: Recording[str] = Recording(path, recording_id=path.stem, call_id=path.stem,
                                         started=datetime.now(UTC), caller="caller",
                                         operator="operator")
        for start in range(0, len(stereo) - FRAME + 1, FRAME):
            file.write_frame(stereo[start:start + FRAME])
        file.close()
        made.append(path)
    return made


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--content", choices=("speech", "noise"), default="speech")
    parser.add_argument("--level", type=int, default=FLAC_LEVEL, choices=range(9),
                        help="FLAC compression level (the node uses %(default)s)")
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="compress copies of the WAVs in this folder instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-compress-") as temp:
        folder = Path(temp)
        if args.source is not None:
            wavs = []
            for index, found in enumerate(sorted(args.source.rglob("*.wav"))):
                wavs.append(Path(shutil.copy(found, folder / f"{index}-{found.name}")))
            content = f"the WAVs of {args.source}"
        else:
            wavs = make(folder, args.calls, args.minutes, args.content)
            content = args.content
        wav_bytes = sum(path.stat().st_size for path in wavs)
        seconds = sum((path.stat().st_size - 44) / (4 * RATE) for path in wavs)
        flac_bytes, spent, started = 0, cpu(), time.perf_counter()
        for path in wavs:
            flac_bytes += compress_wav(path, level=args.level).size_bytes
        spent, wall = cpu() - spent, time.perf_counter() - started
    hours = seconds / 3600
    print(f"{len(wavs)} recordings of {content}, {seconds / 60:.1f} call-minutes in all, "
          f"FLAC level {args.level}")
    print(f"WAV : {wav_bytes / hours / 1e6:7.1f} MB per call-hour")
    print(f"FLAC: {flac_bytes / hours / 1e6:7.1f} MB per call-hour "
          f"({100 * flac_bytes / wav_bytes:.1f}% of the WAV)")
    print(f"CPU : {spent / hours:7.2f} s per call-hour (encode, decode, compare), "
          f"{1000 * spent / len(wavs):.0f} ms per recording; wall {wall:.2f} s")


if __name__ == "__main__":
    main()
