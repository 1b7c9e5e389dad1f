"""The simulator, driving the real ACD, reproduces queueing theory over long runs.

Waiting times are strongly correlated from one caller to the next, so a mean wait needs many
calls to settle; the loads below are chosen where the estimate settles fastest, and several
seeds are averaged. Each figure is compared with the closed-form result.
"""

from __future__ import annotations

import statistics

import pytest

from parley.acd.theory import erlang_a, erlang_c_metrics
from parley.sim.inbound import simulate
from parley.sim.scenario import simple_scenario


def test_without_abandonment_asa_matches_erlang_c() -> None:
    # 2 operators at 50 % load, 60 s calls: 4 seeds x 650 h, about 156,000 calls.
    agents, aht, rate = 2, 60.0, 60.0
    runs = [simulate(simple_scenario(agents, rate, aht, 650, seed=seed)) for seed in range(4)]
    theory = erlang_c_metrics(rate, aht, agents)
    assert all(r.total.abandoned == 0 for r in runs)
    asa = statistics.mean(r.total.asa_s for r in runs)
    assert asa == pytest.approx(theory.asa, rel=0.05)


def test_without_abandonment_service_level_and_occupancy_match_erlang_c() -> None:
    # 10 operators at 70 % load, 60 s calls, 20 s threshold: 4 seeds x 20 h, ~34,000 calls.
    agents, aht, rate = 10, 60.0, 420.0
    runs = [simulate(simple_scenario(agents, rate, aht, 20, sl_threshold_s=20, seed=seed))
            for seed in range(4)]
    theory = erlang_c_metrics(rate, aht, agents, sl_threshold_s=20)
    service_level = statistics.mean(r.total.service_level for r in runs)
    assert service_level == pytest.approx(theory.service_level, rel=0.05)
    occupancy = statistics.mean(r.total.occupancy for r in runs)
    assert occupancy == pytest.approx(theory.occupancy, rel=0.03)


def test_with_exponential_patience_the_abandon_rate_matches_erlang_a() -> None:
    # Overloaded on purpose (110 %): patience alone keeps the queue finite. ~99,000 calls.
    agents, aht, patience, rate = 10, 60.0, 120.0, 660.0
    runs = [simulate(simple_scenario(agents, rate, aht, 30, patience_s=patience, seed=seed))
            for seed in range(5)]
    theory = erlang_a(rate, aht, patience, agents)
    abandon_rate = statistics.mean(r.total.abandon_rate for r in runs)
    assert abandon_rate == pytest.approx(theory.p_abandon, rel=0.10)
