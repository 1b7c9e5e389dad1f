"""The regulatory windows of a campaign's abandon rule (pure): whole-day windows are the
campaign zone's calendar days from the day of its first attempt (a clock change makes one
23 hours), other lengths count hours from that midnight, a window overlapping the period is
whole, the rolling window starts no earlier than the first attempt, and a period of too many
windows is refused naming the campaign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from parley.kpi import OutboundAbandonRate
from parley.reports.abandon_windows import (
    WindowError,
    WindowRule,
    rolling,
    window_row,
    windows,
)

LONDON = WindowRule("uk", window_s=86400, time_zone="Europe/London")


def test_day_windows_are_the_zones_days_across_a_clock_change() -> None:
    first = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    found = windows(LONDON, first, datetime(2026, 3, 28, 23, 30, tzinfo=UTC),
                    datetime(2026, 3, 30, 0, 30, tzinfo=UTC))
    assert [(start.isoformat(), (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()
             / 3600) for start, end in found] \
        == [("2026-03-28T00:00:00+00:00", 24.0), ("2026-03-29T00:00:00+00:00", 23.0),
            ("2026-03-30T00:00:00+01:00", 24.0)]


def test_thirty_day_windows_run_from_the_first_day_and_are_whole() -> None:
    rule = WindowRule("us", time_zone="America/New_York")  # 30 days by default
    first = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)  # 9 January in New York
    found = windows(rule, first, datetime(2026, 2, 8, 3, 0, tzinfo=UTC),  # 7 February, 22:00
                    datetime(2026, 2, 10, tzinfo=UTC))
    assert [(s.isoformat(), e.isoformat()) for s, e in found] == [
        ("2026-01-09T00:00:00-05:00", "2026-02-08T00:00:00-05:00"),
        ("2026-02-08T00:00:00-05:00", "2026-03-10T00:00:00-04:00")]
    # nothing before the first attempt's day
    assert windows(rule, first, datetime(2025, 1, 1, tzinfo=UTC),
                   datetime(2026, 1, 9, tzinfo=UTC)) == []


def test_other_lengths_count_hours_from_midnight_and_too_many_are_refused() -> None:
    rule = WindowRule("x", window_s=5400, time_zone="UTC")  # 90 minutes
    first = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
    found = windows(rule, first, datetime(2026, 5, 1, 7, 0, tzinfo=UTC),
                    datetime(2026, 5, 1, 8, 0, tzinfo=UTC))
    assert [s.strftime("%H:%M") for s, _e in found] == ["06:00", "07:30"]
    # across a clock change: 90 minutes of elapsed time each
    summer = WindowRule("y", window_s=5400, time_zone="Europe/London")
    found = windows(summer, datetime(2026, 3, 28, 12, tzinfo=UTC),
                    datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 4, tzinfo=UTC))
    assert [s.astimezone(UTC).strftime("%H:%M") for s, _e in found] == [
        "00:00", "01:30", "03:00"]
    assert rule.length() == "90m"
    with pytest.raises(WindowError, match="more than 1000 abandon windows of campaign 'x'"):
        windows(rule, first, first, first + timedelta(days=90))


def test_a_windows_figures_follow_its_definition_and_cap() -> None:
    now = datetime(2026, 5, 2, tzinfo=UTC)
    rule = WindowRule("x", cap=0.05, definition=OutboundAbandonRate.ALL_ANSWERS)
    start, end = rolling(rule, now - timedelta(days=3), now)
    assert start == now - timedelta(days=3)  # younger than the window
    row = window_row(rule, start, end, {"attempts": 30, "live_answers": 15, "machines": 5,
                                        "abandoned": 1}, now)
    assert (row["denominator"], row["abandon_rate"], row["over_cap"], row["complete"]) == \
        (20, 0.05, False, True)
    assert "live answers and answering machines" in rule.describe()
