"""The media hub per core: everything between received packets and packets to send.

Method: N calls go through one ``MediaHub`` for a few hundred 20 ms ticks, in one process
(one core); the CPU time (``time.process_time``) of handing the tick's packets to
``hub.receive`` and of ``hub.tick()`` is measured. Packets are built and parsed before the
clock starts (parsing is the receive shell's cost, measured with the RTP relay).

* ``recorded``: two-party calls relayed packet for packet (the relay is not part of this
  figure) and recorded: both legs are decoded through their jitter buffers and each call's
  stereo frame is built (the file write is in ``media_record.py``).
* ``mixed``: three-party bridges (caller, operator, supervisor listening): all legs decoded,
  mixed with mix-minus and roles, encoded and packetised.
* ``playing``: one leg per call hearing a looping prompt, its own audio decoded (for DTMF and
  barge-in), frames encoded and packetised.

``--slots N`` spreads the calls over N phases as the node does (``MediaShell``: 10), each
20 ms tick then being N wake-ups of one phase each; the figure is still per 20 ms.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from parley.media.g711 import Codec, encode
from parley.media.hub import MediaHub
from parley.media.mixer import Role
from parley.media.player import PcmSource, Player
from parley.media.recorder import StereoRecorder
from parley.media.rtp import RtpPacket
from parley.media.stream import MediaStream, StreamSettings

SETTINGS = StreamSettings(Codec.PCMU)


def build(kind: str, calls: int,
          slots: int = 1) -> tuple[MediaHub[tuple[int, int]], list[tuple[int, int]]]:
    hub: MediaHub[tuple[int, int]] = MediaHub(slots)
    legs_per_call = {"recorded": 2, "mixed": 3, "playing": 1}[kind]
    prompt = (np.sin(np.arange(18000) / 7) * 5000).astype(np.int16)
    legs = []
    for call in range(calls):
        for part in range(legs_per_call):
            leg = (call, part)
            hub.add_leg(leg, SETTINGS, ssrc=call * 4 + part)
            legs.append(leg)
        if kind == "recorded":
            hub.record(f"r{call}", StereoRecorder((call, 0), (call, 1)))
        elif kind == "mixed":
            hub.join(f"b{call}", (call, 0))
            hub.join(f"b{call}", (call, 1))
            hub.join(f"b{call}", (call, 2), Role.LISTEN)
        else:
            hub.play((call, 0), Player([PcmSource(prompt)], loop=True))
    return hub, legs


def run(kind: str, calls: int, ticks: int, slots: int = 1) -> float:
    hub, legs = build(kind, calls, slots)
    rng = np.random.default_rng(3)
    payloads = [encode(rng.normal(0, 3000, 160).astype(np.int16), Codec.PCMU)
                for _ in range(20)]
    phones = {leg: MediaStream(SETTINGS, ssrc=n) for n, leg in enumerate(legs)}
    total = 0.0
    for tick in range(ticks):
        packets = [(leg, RtpPacket.parse(phone.audio_packet(payloads[(tick + n) % 20])))
                   for n, (leg, phone) in enumerate(phones.items())]
        start = time.process_time()
        for leg, packet in packets:
            hub.receive(leg, packet)
        for phase in range(slots):
            hub.tick(phase)
        total += time.process_time() - start
    return total / ticks * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--calls", type=int, nargs="*", default=[500])
    parser.add_argument("--slots", type=int, default=1,
                        help="phases of the 20 ms period (the node's media shell uses 10)")
    args = parser.parse_args()
    print("scenario  calls  CPU ms/tick  us/call  share of a core  fit in one core")
    for kind in ("playing", "recorded", "mixed"):
        for calls in args.calls:
            cpu = run(kind, calls, args.ticks, args.slots)
            print(f"{kind:8s}  {calls:5d}  {cpu:11.2f}  {cpu * 1000 / calls:7.2f}"
                  f"  {cpu / 20:15.1%}  {int(calls * 20 / cpu):15d}")


if __name__ == "__main__":
    main()
