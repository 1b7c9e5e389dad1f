"""How many bridged calls one core can record (decode both legs, build stereo, write WAV).

Method: N calls, each with a caller and an operator leg sending µ-law frames. Every 20 ms
tick decodes all legs' payloads in one G.711 table lookup (``decode_frames``), builds the
stereo frame (caller left, operator right) and appends it to the call's WAV file through
``Recording``, which hands a second of audio to the OS at a time and rewrites the header
sizes. Files go to a temporary directory on the local disk and are deleted afterwards. CPU
time per tick (``time.process_time``, so time lost to other processes on a shared machine is
not counted) is measured in one process (one core). Calls start at different moments (as
real calls do), so each tick flushes about one call in fifty.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from parley.media.g711 import Codec, decode_frames, encode
from parley.telephony.recording import Recording


def run(calls: int, ticks: int, directory: Path) -> tuple[float, float]:
    rng = np.random.default_rng(1)
    frames = [encode(rng.normal(0, 3000, 160).astype(np.int16), Codec.PCMU) for _ in range(50)]
    started = datetime(2026, 1, 1, tzinfo=UTC)
    recordings = [Recording(directory / f"call-{n}.wav", recording_id=f"r{n}",
                            call_id=f"c{n}", started=started, caller="caller",
                            operator="operator") for n in range(calls)]
    # Calls start at different moments, so their once-a-second flushes fall on different
    # ticks: give call n a head start of n % 50 frames before measuring.
    for n, recording in enumerate(recordings):
        for _ in range(n % 50):
            recording.write_tick({"caller": decode_frames([frames[0]], Codec.PCMU)[0]})
    durations = []
    for tick in range(ticks):
        caller_payload, operator_payload = frames[tick % 50], frames[(tick + 7) % 50]
        payloads = [caller_payload, operator_payload] * calls
        start = time.process_time()
        pcm = decode_frames(payloads, Codec.PCMU)
        for n, recording in enumerate(recordings):
            recording.write_tick({"caller": pcm[2 * n], "operator": pcm[2 * n + 1]})
        durations.append(time.process_time() - start)
    for recording in recordings:
        recording.close()
    durations.sort()
    return statistics.mean(durations) * 1000, durations[int(len(durations) * 0.99)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=250, help="20 ms ticks (250 = 5 s)")
    parser.add_argument("--calls", type=int, nargs="*", default=[100, 500, 900])
    args = parser.parse_args()
    print("calls  CPU ms/tick  p99 ms/tick  us/call  share of a core  fit in one core")
    for calls in args.calls:
        with tempfile.TemporaryDirectory(prefix="parley-bench-rec-") as tmp:
            mean, p99 = run(calls, args.ticks, Path(tmp))
        print(f"{calls:5d}  {mean:12.2f}  {p99:11.2f}  {mean * 1000 / calls:7.2f}"
              f"  {mean / 20:15.1%}  {int(calls * 20 / mean):15d}")


if __name__ == "__main__":
    main()
