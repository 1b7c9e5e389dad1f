"""Call windows in the called party's local time, holidays, DST, several candidate zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from parley.dialer import Calendar, DialerError, Window


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_parse_windows_with_days() -> None:
    assert Window.parse("09:00-21:00") == Window(time(9), time(21), frozenset(range(7)))
    assert Window.parse("09:00-18:00 mon-fri").days == frozenset(range(5))
    assert Window.parse("10:00-14:00 sat,sun").days == frozenset({5, 6})
    assert Window.parse("08:00-12:00 fri-mon").days == frozenset({4, 5, 6, 0})
    for bad, message in [("21:00-09:00", "end must come after"), ("9-5", "times must"),
                         ("09:00-18:00 someday", "days must"), ("", "write it as")]:
        with pytest.raises(DialerError, match=message):
            Window.parse(bad)


def test_open_in_the_called_partys_local_time() -> None:
    work = Calendar.of(["09:00-18:00 mon-fri"])
    # Monday 2026-01-05 14:30 UTC is 09:30 in New York and 06:30 in Los Angeles.
    now = utc(2026, 1, 5, 14, 30)
    assert work.open_in(now, "America/New_York")
    assert not work.open_in(now, "America/Los_Angeles")
    assert work.next_open_in(now, "America/Los_Angeles") == utc(2026, 1, 5, 17, 0)
    # Friday 18:00 local closes; next opening is Monday 09:00 local.
    friday = utc(2026, 1, 9, 23, 0)  # 18:00 New York
    assert not work.open_in(friday, "America/New_York")
    assert work.next_open_in(friday, "America/New_York") == utc(2026, 1, 12, 14, 0)


def test_holidays_are_local_dates() -> None:
    mobile = Calendar.of(["09:00-21:00"], holidays=[date(2026, 12, 25)])
    # 2026-12-25 03:00 UTC is still the 24th, 22:00, in New York: closed by the hour only.
    assert not mobile.open_in(utc(2026, 12, 25, 15, 0), "America/New_York")
    assert mobile.next_open_in(utc(2026, 12, 25, 15, 0), "America/New_York") == \
        utc(2026, 12, 26, 14, 0)
    assert mobile.open_in(utc(2026, 12, 25, 15, 0), "Asia/Tokyo") is False  # 00:00 26th
    assert mobile.open_in(utc(2026, 12, 26, 1, 0), "Asia/Tokyo")  # 10:00 on the 26th


def test_daylight_saving_moves_the_window_in_utc() -> None:
    mobile = Calendar.of(["09:00-21:00"])
    # London: 09:00 local is 09:00 UTC in winter and 08:00 UTC in summer.
    assert mobile.next_open_in(utc(2026, 1, 10, 6), "Europe/London") == utc(2026, 1, 10, 9)
    assert mobile.next_open_in(utc(2026, 7, 10, 6), "Europe/London") == utc(2026, 7, 10, 8)
    # Across the spring change (29 March 2026), the morning after still opens at 09:00 local.
    assert mobile.next_open_in(utc(2026, 3, 28, 21), "Europe/London") == utc(2026, 3, 29, 8)


def test_several_zones_must_all_be_open() -> None:
    mobile = Calendar.of(["09:00-21:00"])
    zones = ["America/New_York", "America/Los_Angeles"]
    now = utc(2026, 1, 5, 15, 0)  # 10:00 New York, 07:00 Los Angeles
    assert not mobile.open_in_all(now, zones)
    assert mobile.next_open_in_all(now, zones) == utc(2026, 1, 5, 17, 0)
    # Kiritimati (UTC+14) and London share 19:00-21:00 UTC of a 09:00-21:00 window...
    assert mobile.next_open_in_all(now, ["Pacific/Kiritimati", "Europe/London"]) == \
        utc(2026, 1, 5, 19, 0)
    # ...but never an hour of 09:00-17:00: no opening at all.
    office = Calendar.of(["09:00-17:00"])
    assert office.next_open_in_all(now, ["Pacific/Kiritimati", "Europe/London"]) is None
