"""Queueing theory for staffing and for checking the simulator: Erlang B, C and A.

- Erlang C (M/M/c): callers wait as long as it takes.
- Erlang A (M/M/c+M, Palm's model): callers also abandon after an exponential patience.

All rates are per second and times in seconds; the arithmetic stays in floating point without
factorials (Erlang B by its recurrence; Erlang A by the birth-death chain in log space), so a
1,400-operator center computes as easily as a ten-seat one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_b(load: float, servers: int) -> float:
    """Blocking probability with ``servers`` lines and ``load`` erlangs offered."""
    if servers < 0 or load < 0:
        raise ValueError("servers and load must not be negative")
    blocking = 1.0
    for n in range(1, servers + 1):
        blocking = load * blocking / (n + load * blocking)
    return blocking


def erlang_c(load: float, servers: int) -> float:
    """Probability that a caller waits at all (Erlang C); 1.0 when the queue is unstable."""
    if load >= servers:
        return 1.0
    blocking = erlang_b(load, servers)
    return servers * blocking / (servers - load * (1.0 - blocking))


@dataclass(frozen=True, slots=True)
class ErlangCResult:
    load: float
    p_wait: float
    asa: float  # mean wait over all callers, seconds
    service_level: float  # share answered within the threshold
    occupancy: float


def erlang_c_metrics(calls_per_hour: float, aht_s: float, agents: int,
                     sl_threshold_s: float = 20.0) -> ErlangCResult:
    """ASA, service level and occupancy of an M/M/c queue."""
    load = calls_per_hour / 3600.0 * aht_s
    if load >= agents:
        return ErlangCResult(load, 1.0, math.inf, 0.0, 1.0)
    p_wait = erlang_c(load, agents)
    asa = p_wait * aht_s / (agents - load)
    service_level = 1.0 - p_wait * math.exp(-(agents - load) * sl_threshold_s / aht_s)
    return ErlangCResult(load, p_wait, asa, service_level, load / agents)


@dataclass(frozen=True, slots=True)
class ErlangAResult:
    load: float
    p_wait: float  # probability an arriving caller finds every operator busy
    p_abandon: float  # share of callers who hang up before an operator answers
    mean_wait: float  # mean time in queue over all callers (answered or not), seconds
    mean_queue: float
    occupancy: float  # mean busy operators over the number of operators


def erlang_a(calls_per_hour: float, aht_s: float, patience_s: float,
             agents: int) -> ErlangAResult:
    """Steady state of M/M/c+M: Poisson arrivals, exponential handle time and patience."""
    if agents <= 0 or aht_s <= 0 or patience_s <= 0:
        raise ValueError("agents, aht_s and patience_s must be positive")
    arrival = calls_per_hour / 3600.0
    service = 1.0 / aht_s
    abandon = 1.0 / patience_s
    log_p = [0.0]
    n = 0
    # Walk the chain until the states' mass is negligible far past the mode.
    while True:
        n += 1
        death = min(n, agents) * service + max(0, n - agents) * abandon
        log_p.append(log_p[-1] + math.log(arrival) - math.log(death))
        if n > agents and log_p[-1] < max(log_p) - 50.0:
            break
    top = max(log_p)
    weights = [math.exp(v - top) for v in log_p]
    total = sum(weights)
    probs = [w / total for w in weights]
    mean_queue = sum(p * (k - agents) for k, p in enumerate(probs) if k > agents)
    p_wait = sum(p for k, p in enumerate(probs) if k >= agents)  # PASTA
    busy = sum(p * min(k, agents) for k, p in enumerate(probs))
    return ErlangAResult(arrival * aht_s, p_wait, abandon * mean_queue / arrival,
                         mean_queue / arrival, mean_queue, busy / agents)
