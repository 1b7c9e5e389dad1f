"""Erlang B, C and A against published values and exact identities."""

from __future__ import annotations

import math

import pytest

from parley.acd.theory import erlang_a, erlang_b, erlang_c, erlang_c_metrics


def test_erlang_b_table_values() -> None:
    assert erlang_b(1.0, 1) == 0.5
    assert erlang_b(10.0, 10) == pytest.approx(0.2146, abs=1e-4)  # the classic table entry
    assert erlang_b(5.0, 0) == 1.0


def test_erlang_c_published_examples() -> None:
    # 120 calls an hour, 3 minutes each, 10 assistants: "the probability of waiting is about
    # 0.10" (textbook Erlang C curve reading).
    assert erlang_c(6.0, 10) == pytest.approx(0.1013, abs=1e-4)
    # The widely reproduced worked example: 360 calls per half hour, 4 minute calls, 55
    # agents, 15 s target -> 48 erlangs, probability of waiting 23.87 %, ASA 8.2 s,
    # service level 84.6 %, occupancy 87.3 %.
    result = erlang_c_metrics(720, 240, 55, sl_threshold_s=15)
    assert result.load == 48.0
    assert result.p_wait == pytest.approx(0.2387, abs=1e-4)
    assert result.asa == pytest.approx(8.18, abs=0.01)
    assert result.service_level == pytest.approx(0.8459, abs=1e-4)
    assert result.occupancy == pytest.approx(0.8727, abs=1e-4)


def test_erlang_c_single_server_is_mm1() -> None:
    result = erlang_c_metrics(30, 60, 1)  # rho = 0.5
    assert result.p_wait == pytest.approx(0.5)
    assert result.asa == pytest.approx(0.5 * 60 / 0.5)


def test_erlang_c_overload_is_reported_not_divided_by_zero() -> None:
    result = erlang_c_metrics(3600, 60, 50)
    assert result.p_wait == 1.0
    assert math.isinf(result.asa)


def test_erlang_a_without_patience_limit_is_erlang_c() -> None:
    a = erlang_a(720, 240, 1e9, 55)
    c = erlang_c_metrics(720, 240, 55)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-6)
    assert a.mean_wait == pytest.approx(c.asa, rel=1e-6)
    assert a.p_abandon < 1e-6


def test_erlang_a_with_patience_equal_to_handle_time_is_poisson() -> None:
    # When patience and handle time share one rate, everyone in the system leaves at that rate:
    # the number present is Poisson(load), and P(abandon) = E[(N - c)+] / load.
    load, agents = 100.0, 100
    result = erlang_a(3600, 100, 100, agents)
    pmf = [math.exp(-load)]
    for n in range(1, 400):
        pmf.append(pmf[-1] * load / n)
    excess = sum(p * (n - agents) for n, p in enumerate(pmf) if n > agents)
    assert result.p_abandon == pytest.approx(excess / load, rel=1e-9)
    assert result.p_wait == pytest.approx(sum(pmf[agents:]), rel=1e-9)


def test_erlang_a_stays_finite_in_overload_and_at_scale() -> None:
    overloaded = erlang_a(12000, 60, 60, 100)  # twice the capacity: half the callers give up
    assert overloaded.p_abandon == pytest.approx(0.5, abs=0.01)
    big = erlang_a(150000 / 10, 240, 120, 1100)  # a 1,400-seat center's peak hour
    assert 0 < big.p_abandon < 0.1
    assert 0.8 < big.occupancy <= 1.0
