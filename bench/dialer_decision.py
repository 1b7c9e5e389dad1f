"""How long a pacing decision takes for a 1,400-operator predictive campaign.

Two figures:
1. the predictive decision itself (``predictive_dials`` on the campaign's live counts), timed
   over many repetitions at a steady-state snapshot;
2. every call into the dialer during a simulated 1,400-operator campaign (``handle`` of each
   event and ``on_time`` of each tick), which includes picking contacts, checking their call
   windows and DNC lists and emitting the Dial commands: the whole decision as a shell sees it.

Per-call figures are CPU time of the thread (``time.thread_time``): on the shared 2-core
reference machine wall-clock samples mostly measure other processes' time slices. Calls that
issue many dials at once (the start, or a jump in the measured contact rate) are reported
apart, per dial issued.

    .venv/bin/python bench/dialer_decision.py [--minutes M] [--no-gc]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

from parley.dialer.model import DialMode
from parley.dialer.pacing import predictive_dials
from parley.sim.outbound import CAMPAIGN, OutboundParams, OutboundSimulation

AGENTS = 1400


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="simulated minutes")
    parser.add_argument("--no-gc", action="store_true",
                        help="disable the cyclic garbage collector during the run")
    args = parser.parse_args()
    if args.no_gc:
        gc.disable()
    sim = OutboundSimulation(OutboundParams(agents=AGENTS, contact_rate=0.25, talk_s=120.0,
                                            wrap_s=15.0, mode=DialMode.PREDICTIVE,
                                            hours=args.minutes / 60.0, seed=1))
    dialer = sim.dialer
    timings: list[tuple[float, float]] = []  # (virtual time, CPU seconds)
    handle, on_time = dialer.handle, dialer.on_time

    bursts: list[tuple[float, int]] = []
    collections = [0]  # full (generation 2) garbage collections during the current call
    slow_with_gc = [0, 0]  # calls over 1 ms: all, and those that ran a full collection

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            collections[0] += 1

    gc.callbacks.append(on_gc)

    def note(started: float, out: list[object]) -> None:
        spent = time.thread_time() - started
        dials = sum(1 for c in out if type(c).__name__ == "Dial")
        if spent > 1e-3 and sim.engine.now >= 300.0 and dials <= 20:
            slow_with_gc[0] += 1
            slow_with_gc[1] += collections[0] > 0
        collections[0] = 0
        if dials > 20:
            bursts.append((spent, dials))
        else:
            timings.append((sim.engine.now, spent))

    def timed_handle(event: Any, now: float) -> list[object]:
        collections[0] = 0
        started = time.thread_time()
        out = handle(event, now)
        note(started, out)
        return out

    def timed_on_time(now: float) -> list[object]:
        collections[0] = 0
        started = time.thread_time()
        out = on_time(now)
        note(started, out)
        return out

    dialer.handle = timed_handle  # type: ignore[method-assign]
    dialer.on_time = timed_on_time  # type: ignore[method-assign]
    result = sim.run()
    snapshot = dialer.pacing_input(CAMPAIGN, sim.engine.now)
    repeats = 20_000
    started = time.thread_time()
    for _ in range(repeats):
        dials = predictive_dials(snapshot)
    pure = (time.thread_time() - started) / repeats
    # Steady state: after the first five simulated minutes (the start-up ramp).
    steady = [spent for at, spent in timings if at >= 300.0]
    print(f"operators: {AGENTS}, simulated minutes: {args.minutes:g}, "
          f"occupancy {result.occupancy:.1%}, abandon rate {result.abandon_rate:.2%}")
    print(f"snapshot: {snapshot.ready} ready, {snapshot.talking} talking, "
          f"{snapshot.wrapping} wrapping, {snapshot.in_flight} in flight -> dial {dials}")
    print(f"predictive_dials alone: {pure * 1e6:.1f} us per decision")
    print(f"dialer calls (handle + on_time), steady state: {len(steady)} calls, "
          f"median {statistics.median(steady) * 1e6:.1f} us, "
          f"p99 {percentile(steady, 0.99) * 1e6:.1f} us, "
          f"p99.9 {percentile(steady, 0.999) * 1e6:.1f} us, max {max(steady) * 1e6:.1f} us")
    print(f"steady-state calls over 1 ms: {slow_with_gc[0]}, of which {slow_with_gc[1]} ran a "
          "full garbage collection of the whole process")
    if bursts:
        per_dial = sum(s for s, _ in bursts) / sum(d for _, d in bursts)
        print(f"calls issuing more than 20 dials: {len(bursts)}, largest "
              f"{max(d for _, d in bursts)} dials, {per_dial * 1e6:.1f} us per dial issued")


if __name__ == "__main__":
    main()
