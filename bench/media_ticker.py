"""Do frames leave on time? N playing channels on one shared ticker, real UDP sockets.

Method: one asyncio task (uvloop when installed) wakes every 20/S ms (S playout slots) at
``start + k * 20/S ms``, produces the frames of the channels in phase ``k % S`` with one
``Playout.tick(slot)``, wraps each in its RTP header (``MediaStream.audio_packet``) and sends
it from the channel's own UDP socket to a sink socket on loopback, as the shell does for
calls that listen to a prompt. For every wake-up the script records (with
``time.perf_counter``) how late the last packet of that phase left, relative to the phase's
schedule: every frame of the phase left at most that late. The issue's aim is every frame
within 2 ms. The sink is not read (the kernel drops what overflows), so the figure is the
sending side alone. Runs in one process (one core).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time

import numpy as np

from parley.media.audio import decode_wav, to_telephony
from parley.media.g711 import Codec
from parley.media.player import PcmSource, Player, Playout
from parley.media.stream import MediaStream, StreamSettings
from parley.telephony.prompts import find_stock_sounds

TICK = 0.020


def prompt_pcm() -> np.ndarray:
    sounds = find_stock_sounds()  # asterisk-core-sounds-en-wav, else noise of the same length
    if sounds is not None:
        prompt = sounds / "queue-thereare.wav"
        return to_telephony(decode_wav(prompt.read_bytes(), str(prompt)))
    return np.random.default_rng(0).normal(0, 3000, 18000).astype(np.int16)


async def run(channels: int, seconds: float, slots: int) -> list[float]:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    target = sink.getsockname()
    pcm = prompt_pcm()
    playout: Playout[int] = Playout(slots)
    senders: list[socket.socket] = []
    streams: list[MediaStream] = []
    settings = StreamSettings(Codec.PCMU)
    for channel in range(channels):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        senders.append(sock)
        streams.append(MediaStream(settings, ssrc=channel + 1))
        playout.add(channel, Player([PcmSource(pcm)], loop=True), Codec.PCMU)
    lateness: list[float] = []
    period = TICK / slots
    start = time.perf_counter() + 0.1
    try:
        for wake in range(int(seconds / period)):
            deadline = start + wake * period
            delay = deadline - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            for channel, payload in playout.tick(wake % slots).frames:
                try:  # noqa: SIM105 - cheaper than contextlib.suppress per packet
                    senders[channel].sendto(streams[channel].audio_packet(payload), target)
                except BlockingIOError:
                    pass  # a full socket buffer drops the packet, as UDP does
            lateness.append(time.perf_counter() - deadline)
    finally:
        for sock in senders:
            sock.close()
        sink.close()
    return lateness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--channels", type=int, nargs="*", default=[100, 500, 1000])
    parser.add_argument("--slots", type=int, nargs="*", default=[1, 10])
    args = parser.parse_args()
    try:
        import uvloop
        runner = uvloop.run
        loop_name = "uvloop"
    except ImportError:
        runner = asyncio.run
        loop_name = "asyncio"
    print(f"event loop: {loop_name}")
    print("slots  channels  wake-ups  last frame late: median     p99     max"
          "  within 2 ms  CPU per 20 ms")
    for slots in args.slots:
        for channels in args.channels:
            cpu = time.process_time()
            lateness = runner(run(channels, args.seconds, slots))
            periods = len(lateness) / slots
            cpu_per_period = (time.process_time() - cpu) / periods * 1000
            ordered = sorted(lateness)
            within = sum(1 for late in lateness if late <= 0.002) / len(lateness)
            print(f"{slots:5d}  {channels:8d}  {len(lateness):8d}"
                  f"  {statistics.median(ordered) * 1000:20.2f} ms"
                  f"  {ordered[int(len(ordered) * 0.99)] * 1000:6.2f}"
                  f"  {ordered[-1] * 1000:6.2f}  {within:11.1%}  {cpu_per_period:10.2f} ms")


if __name__ == "__main__":
    main()
