"""How many three-party mixes one core can run (decode, mix-minus, encode), per 20 ms tick.

Method: N bridges of three parties (caller, operator, and a supervisor whose role cycles
through barge, whisper and listen across the bridges). Each tick decodes all 3N µ-law
payloads in one table lookup, mixes every bridge in one batched matrix multiply
(``Mixer.mix``), and encodes the 3N outputs in one table lookup. CPU time per tick
(``time.process_time``: time lost to other processes on a shared machine is not counted) is
measured in one process (one core). Sockets are not included.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from parley.media.g711 import ULAW_ENCODE, Codec, decode_frames, encode
from parley.media.mixer import MixBridge, Mixer, Role

ROLES = [(Role.BARGE, None), (Role.WHISPER, "operator"), (Role.LISTEN, None)]


def run(bridges_count: int, ticks: int) -> tuple[float, float]:
    rng = np.random.default_rng(2)
    frames = [encode(rng.normal(0, 3000, 160).astype(np.int16), Codec.PCMU) for _ in range(50)]
    bridges: list[MixBridge[tuple[int, str]]] = []
    for n in range(bridges_count):
        bridge: MixBridge[tuple[int, str]] = MixBridge(f"b{n}")
        bridge.add((n, "caller"))
        bridge.add((n, "operator"))
        role, target = ROLES[n % 3]
        bridge.add((n, "supervisor"), role, None if target is None else (n, target))
        bridges.append(bridge)
    parties = [party for bridge in bridges for party in bridge.parties]
    mixer: Mixer[tuple[int, str]] = Mixer()
    durations = []
    for tick in range(ticks):
        payloads = [frames[(tick + i) % 50] for i in range(len(parties))]
        start = time.process_time()
        pcm = decode_frames(payloads, Codec.PCMU)
        heard = mixer.mix(bridges, dict(zip(parties, pcm, strict=True)))
        out = np.stack([heard[party] for party in parties])
        encoded = ULAW_ENCODE[out.view(np.uint16)].tobytes()
        sent = [encoded[i * 160:(i + 1) * 160] for i in range(len(parties))]
        durations.append(time.process_time() - start)
        assert len(sent) == 3 * bridges_count
    durations.sort()
    return statistics.mean(durations) * 1000, durations[int(len(durations) * 0.99)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--bridges", type=int, nargs="*", default=[100, 500, 1000])
    args = parser.parse_args()
    print("bridges  CPU ms/tick  p99 ms/tick  us/bridge  share of a core  fit in one core")
    for count in args.bridges:
        mean, p99 = run(count, args.ticks)
        print(f"{count:7d}  {mean:12.2f}  {p99:11.2f}  {mean * 1000 / count:9.2f}"
              f"  {mean / 20:15.1%}  {int(count * 20 / mean):15d}")


if __name__ == "__main__":
    main()
