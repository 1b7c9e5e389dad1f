"""How many channels can one core feed with prompt playback, per 20 ms tick.

Method: N channels each play a stock prompt in a loop (µ-law) through one shared
``Playout``; each tick produces every channel's frame (read, pad, encode in one table lookup)
and prefixes the 12-byte RTP header (one ``struct.pack``, as a sender on the hot path does;
building ``RtpPacket`` objects instead adds about 4 us per packet). The CPU time of
each tick is measured with ``time.process_time`` in one process (one core). Sockets are not
included: the RTP relay benchmark measures sending.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import time

import numpy as np

from parley.media.audio import decode_wav, to_telephony
from parley.media.g711 import Codec
from parley.media.player import PcmSource, Player, Playout
from parley.telephony.prompts import find_stock_sounds

RTP_HEADER = struct.Struct("!BBHII")


def prompt_pcm() -> np.ndarray:
    sounds = find_stock_sounds()  # asterisk-core-sounds-en-wav, else noise of the same length
    if sounds is not None:
        prompt = sounds / "queue-thereare.wav"
        return to_telephony(decode_wav(prompt.read_bytes(), str(prompt)))
    rng = np.random.default_rng(0)
    return rng.normal(0, 3000, 18000).astype(np.int16)


def run(channels: int, ticks: int, pcm: np.ndarray) -> tuple[float, float]:
    playout: Playout[int] = Playout()
    for channel in range(channels):
        playout.add(channel, Player([PcmSource(pcm, "prompt")], loop=True), Codec.PCMU)
    sequence = dict.fromkeys(range(channels), 0)
    durations = []
    for tick in range(ticks):
        start = time.process_time()
        result = playout.tick()
        packets = [RTP_HEADER.pack(0x80, 0, (sequence[key] + tick) & 0xFFFF, tick * 160, key)
                   + payload for key, payload in result.frames]
        durations.append(time.process_time() - start)
        assert len(packets) == channels
    durations.sort()
    return statistics.mean(durations) * 1000, durations[int(len(durations) * 0.99)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=500)
    parser.add_argument("--channels", type=int, nargs="*", default=[100, 500, 1000, 2000])
    args = parser.parse_args()
    pcm = prompt_pcm()
    print("channels  CPU ms/tick  p99 ms/tick  us/channel  share of a core  fit in one core")
    for channels in args.channels:
        mean, p99 = run(channels, args.ticks, pcm)
        print(f"{channels:8d}  {mean:12.2f}  {p99:11.2f}  {mean * 1000 / channels:10.2f}"
              f"  {mean / 20:15.1%}  {int(channels * 20 / mean):15d}")


if __name__ == "__main__":
    main()
