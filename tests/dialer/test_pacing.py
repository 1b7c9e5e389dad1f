"""Abandon accounting over the regulatory window, and the predictive decision's behaviour."""

from __future__ import annotations

from dataclasses import replace

import pytest

from parley.dialer import AbandonDefinition, AbandonMeter, DialerError
from parley.dialer.pacing import (
    UK_WINDOW_S,
    FreeFactor,
    PacingInput,
    allowed_abandon_ratio,
    predictive_dials,
)


def test_uk_window_forgets_after_24_hours_and_definitions_differ() -> None:
    meter = AbandonMeter(UK_WINDOW_S)
    for i in range(100):
        meter.dialled(i)
        meter.live_answer(i)
    for i in range(3):
        meter.abandoned(50 + i)
    meter.machine_answer(60)
    assert meter.counts(100) == (3, 100)
    assert meter.rate(100) == pytest.approx(0.03)
    assert meter.rate(UK_WINDOW_S - 200) == pytest.approx(0.03)
    assert meter.counts(UK_WINDOW_S + 400) == (0, 0)  # a day later, all of it is gone
    both = AbandonMeter(UK_WINDOW_S, AbandonDefinition.ALL_ANSWERS)
    dials = AbandonMeter(UK_WINDOW_S, AbandonDefinition.DIALS)
    for m in (both, dials):
        for _ in range(10):
            m.dialled(0)
        m.live_answer(0)
        m.live_answer(0)
        m.machine_answer(0)
        m.abandoned(0)
    assert both.counts(1) == (1, 3)
    assert dials.counts(1) == (1, 10)
    with pytest.raises(DialerError):
        AbandonMeter(0)


def test_us_window_covers_the_campaign_life_until_30_days() -> None:
    meter = AbandonMeter()  # 30 days
    meter.live_answer(0)
    meter.abandoned(0)
    meter.live_answer(20 * 86400)
    assert meter.counts(29 * 86400) == (1, 2)
    assert meter.counts(31 * 86400) == (0, 1)


BASE = PacingInput(ready=10, talking=80, wrapping=10, in_flight=0, waiting=0,
                   contact_rate=0.25, answer_delay_s=12, talk_s=120, wrap_s=15,
                   allowed_abandon_ratio=0.024, max_dials=10_000)


def test_predictive_dials_more_for_free_operators_and_low_contact_rates() -> None:
    base = predictive_dials(BASE)
    assert base > 40  # 10 free plus those about to be free, at one answer in four
    assert predictive_dials(replace(BASE, ready=30)) > base
    assert predictive_dials(replace(BASE, contact_rate=0.5)) < base
    assert predictive_dials(replace(BASE, in_flight=base)) < base // 4
    assert predictive_dials(replace(BASE, allowed_abandon_ratio=0.0)) < base
    assert predictive_dials(replace(BASE, free_factor=0.0)) < base
    assert predictive_dials(replace(BASE, max_dials=7)) == 7


def test_no_operators_means_no_predictive_dial() -> None:
    empty = replace(BASE, ready=0, talking=0, wrapping=0)
    assert predictive_dials(empty) == 0
    waiting = replace(BASE, ready=0, waiting=5, talking=3, wrapping=0)
    assert predictive_dials(waiting) == 0


def test_allowed_ratio_spends_slack_and_stops_when_over_target() -> None:
    assert allowed_abandon_ratio(0.024, 0, 0, 10) == pytest.approx(0.024)
    assert allowed_abandon_ratio(0.024, 0, 1000, 10) == pytest.approx(0.072)  # capped at 3x
    assert allowed_abandon_ratio(0.024, 60, 1000, 10) == 0.0  # 6% so far: no risk at all


def test_free_factor_settles_where_abandons_meet_the_target() -> None:
    factor = FreeFactor(0.02, start=0.4, step=0.05)
    for _ in range(10):
        factor.answered(abandoned=False, over_target=False)
    assert factor.value > 0.4
    high = factor.value
    factor.answered(abandoned=True, over_target=True)
    assert factor.value < high - 0.05  # an abandon while over target cuts twice as deep


def test_targets_are_restated_per_live_answer_for_every_definition() -> None:
    dials = AbandonMeter(UK_WINDOW_S, AbandonDefinition.DIALS)
    for _ in range(100):
        dials.dialled(0)
    for _ in range(20):
        dials.live_answer(0)
    dials.abandoned(0)
    per_live, abandons, live = dials.live_target(0.01, 1)
    assert (abandons, live) == (1, 20)
    assert per_live == pytest.approx(0.05)  # 1% of 100 dials is 5% of 20 live answers
