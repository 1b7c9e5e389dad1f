"""The ticker's schedule: on time, late, very late; with and without slots."""

from __future__ import annotations

import pytest

from parley.media import MediaError
from parley.media.ticker import TickSchedule


def test_on_time_wake_ups_serve_one_tick_each() -> None:
    schedule = TickSchedule(100.0)
    assert schedule.due(99.99) == []
    assert schedule.due(100.0) == [0]
    assert schedule.due(100.001) == []
    assert schedule.next_deadline() == pytest.approx(100.02)
    assert schedule.due(100.0205) == [1]


def test_a_late_wake_up_catches_up_without_shifting_later_deadlines() -> None:
    schedule = TickSchedule(0.0)
    schedule.due(0.0)
    assert schedule.due(0.045) == [1, 2]
    assert schedule.next_deadline() == pytest.approx(0.060)


def test_a_long_stall_skips_all_but_the_last_periods() -> None:
    schedule = TickSchedule(0.0, max_catch_up=3)
    schedule.due(0.0)
    assert schedule.due(1.0) == [48, 49, 50]
    assert schedule.skipped == 47
    assert schedule.next_deadline() == pytest.approx(1.02)


def test_slots_serve_each_phase_in_turn() -> None:
    schedule = TickSchedule(0.0, slots=10)
    served = []
    now = 0.0
    while now < 0.0395:
        served += [index % 10 for index in schedule.due(now)]
        now += 0.0005
    assert served == list(range(10)) * 2
    late = TickSchedule(0.0, slots=10, max_catch_up=1)
    late.due(0.0)
    assert [i % 10 for i in late.due(0.1)] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    assert late.skipped == 40


def test_wake_ups_of_idle_phases_are_slept_through() -> None:
    """Only phases 3 and 7 have legs: the shell wakes for those, twice a period, on their
    own deadlines; nothing counts as skipped."""
    schedule = TickSchedule(0.0, slots=10)
    wake_ups = []
    for _ in range(6):
        schedule.pass_idle(lambda phase: phase in (3, 7))
        deadline = schedule.next_deadline()
        wake_ups.append((round(deadline, 4), [i % 10 for i in schedule.due(deadline)]))
    assert wake_ups == [(0.006, [3]), (0.014, [7]), (0.026, [3]), (0.034, [7]),
                        (0.046, [3]), (0.054, [7])]
    assert schedule.skipped == 0
    idle = TickSchedule(0.0, slots=10)
    idle.pass_idle(lambda phase: False)  # never more than a period without a wake-up
    assert idle.next_deadline() == pytest.approx(0.018)


def test_bad_settings() -> None:
    with pytest.raises(MediaError, match="positive period"):
        TickSchedule(0.0, period=0)
