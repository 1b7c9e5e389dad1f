"""Routing decision latency of the ACD: from event in to decision out.

1,400 operators, 50 queues (each operator skilled for three of them), 1,000 callers waiting.
Three figures, each the time of one ``Acd.handle(event, now)`` call:

- freed:   an operator hangs up (no wrap-up) and takes the best caller across their queues;
- queued:  a call arrives while every operator is busy and joins its queue (position, EWT);
- offered: a call arrives at a queue with ready operators and is offered to one of them.

Run: .venv/bin/python bench/acd_routing.py [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

from parley import events as ev
from parley.acd.agent import Agent
from parley.acd.config import QueueConfig, Strategy
from parley.acd.core import Acd, CallState

QUEUES = 50
AGENTS = 1400
WAITING = 1000
STRATEGIES = [Strategy.LONGEST_IDLE, Strategy.SKILLS_BASED, Strategy.FEWEST_CALLS,
              Strategy.ROUND_ROBIN, Strategy.RANDOM]


Samples = list[tuple[int, int]]  # (wall ns, cpu ns) per decision


class Timer:
    """Wall time and this thread's CPU time around one decision; the CPU figure leaves out
    the time the kernel gave to other processes (the reference machine is shared)."""

    def __init__(self) -> None:
        self.samples: Samples = []

    def __enter__(self) -> Timer:
        self._cpu = time.thread_time_ns()
        self._wall = time.perf_counter_ns()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter_ns() - self._wall
        self.samples.append((wall, time.thread_time_ns() - self._cpu))


def percentiles(samples: list[int]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0  # noqa: E731
    return pick(0.50), pick(0.99), statistics.mean(ordered) / 1000.0


def build(rng: random.Random, split: bool) -> Acd:
    """Queues q0..q49; with ``split`` operators of q0-24 never serve q25-49 and back."""
    queues = [QueueConfig(f"q{i}", strategy=STRATEGIES[i % len(STRATEGIES)],
                          skills={f"s{i}": 1}, ring_timeout_s=15) for i in range(QUEUES)]
    agents = []
    for n in range(AGENTS):
        if split:
            half = 0 if n < AGENTS // 2 else QUEUES // 2
            picks = rng.sample(range(half, half + QUEUES // 2), 3)
        else:
            picks = rng.sample(range(QUEUES), 3)
        agents.append(Agent(f"a{n}", skills={f"s{q}": rng.randint(1, 10) for q in picks}))
    return Acd(queues, agents)


def fill(acd: Acd, rng: random.Random, now: float, queues: range, agents: list[str],
         ids: list[int]) -> float:
    """Log ``agents`` in, give each a call, then let WAITING more callers queue."""
    for agent_id in agents:
        acd.handle(ev.AgentLogin(agent_id, f"sip:{agent_id}", ready=False), now)
    for agent_id in agents:
        acd.handle(ev.AgentReady(agent_id), now)
        for queue in acd.agent_queues[agent_id]:
            ids[0] += 1
            call_id = f"c{ids[0]}"
            out = acd.handle(ev.RouteCall(call_id, queue.config.name), now)
            offers = [c for c in out if isinstance(c, ev.OfferCall)]
            if offers:
                acd.handle(ev.AgentAnswered(call_id, agent_id), now)
                break
        now += 0.01
    while sum(len(acd.queues[f"q{i}"].waiting) for i in queues) < WAITING:
        ids[0] += 1
        acd.handle(ev.RouteCall(f"c{ids[0]}", f"q{rng.choice(queues)}",
                                priority=rng.choice((0, 0, 0, 5))), now)
        now += 0.01
    return now


def all_busy(rounds: int, rng: random.Random) -> tuple[Samples, Samples]:
    acd = build(rng, split=False)
    ids = [0]
    now = fill(acd, rng, 0.0, range(QUEUES), list(acd.agents), ids)
    gc.freeze()  # as the shell does after provisioning: long-lived objects leave the GC's scans
    freed, queued = Timer(), Timer()
    for _ in range(rounds):
        now += 0.5
        connected = [c for c in acd.calls.values() if c.state is CallState.CONNECTED]
        call = rng.choice(connected)
        with freed:
            out = acd.handle(ev.CallerHangup(call.call_id), now)
        offer = next(c for c in out if isinstance(c, ev.OfferCall))
        acd.handle(ev.AgentAnswered(offer.call_id, offer.agent_id), now)
        ids[0] += 1
        event = ev.RouteCall(f"c{ids[0]}", f"q{rng.randrange(QUEUES)}")
        with queued:
            out = acd.handle(event, now)
        assert any(isinstance(c, ev.CallQueued) for c in out)
    assert sum(len(q.waiting) for q in acd.queues.values()) == WAITING
    return freed.samples, queued.samples


def with_ready_operators(rounds: int, rng: random.Random) -> Samples:
    acd = build(rng, split=True)
    ids = [0]
    busy_half = [f"a{n}" for n in range(AGENTS // 2)]
    now = fill(acd, rng, 0.0, range(QUEUES // 2), busy_half, ids)
    for n in range(AGENTS // 2, AGENTS):
        acd.handle(ev.AgentLogin(f"a{n}", f"sip:a{n}"), now)
    gc.freeze()
    offered = Timer()
    for _ in range(rounds):
        now += 0.5
        ids[0] += 1
        call_id = f"c{ids[0]}"
        event = ev.RouteCall(call_id, f"q{rng.randrange(QUEUES // 2, QUEUES)}")
        with offered:
            out = acd.handle(event, now)
        offer = next(c for c in out if isinstance(c, ev.OfferCall))
        acd.handle(ev.AgentAnswered(call_id, offer.agent_id), now)
        acd.handle(ev.CallerHangup(call_id), now + 0.1)
    assert sum(len(q.waiting) for q in acd.queues.values()) == WAITING
    return offered.samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    freed, queued = all_busy(args.rounds, rng)
    offered = with_ready_operators(args.rounds, rng)
    print(f"ACD routing latency: {AGENTS} operators, {QUEUES} queues, {WAITING} waiting, "
          f"{args.rounds} decisions each")
    for name, samples in (("freed -> offer", freed), ("arrival -> queued", queued),
                          ("arrival -> offer", offered)):
        p50, p99, mean = percentiles([wall for wall, _ in samples])
        c50, c99, _ = percentiles([cpu for _, cpu in samples])
        print(f"  {name:<18} wall p50 {p50:6.1f} us  p99 {p99:7.1f} us  mean {mean:6.1f} us"
              f"   |  cpu p50 {c50:6.1f} us  p99 {c99:6.1f} us")


if __name__ == "__main__":
    main()
