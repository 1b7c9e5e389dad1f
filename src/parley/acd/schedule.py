"""Opening hours: a weekly schedule with holidays, in the site's time zone (``zoneinfo``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parley.errors import ParleyError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleError(ParleyError):
    """A schedule that cannot be understood; the message names the field."""


def _parse_hhmm(text: str, where: str) -> time:
    try:
        hours, minutes = str(text).split(":")
        if hours == "24" and minutes == "00":
            return time.max
        return time(int(hours), int(minutes))
    except ValueError:
        raise ScheduleError(f"{where}: expected HH:MM, got {text!r}") from None


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Open periods per weekday (0 = Monday) in ``timezone``, closed on ``holidays``."""

    timezone: str
    week: tuple[tuple[tuple[time, time], ...], ...]  # 7 days of (open, close) periods
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"unknown time zone {self.timezone!r}") from None
        if len(self.week) != 7:
            raise ScheduleError("a week has seven days")

    def is_open(self, moment: datetime) -> bool:
        """Whether the site is open at ``moment`` (timezone-aware)."""
        if moment.tzinfo is None:
            raise ScheduleError("is_open needs a timezone-aware time")
        local = moment.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        now = local.time().replace(tzinfo=None)
        return any(start <= now < end for start, end in self.week[local.weekday()])

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "hours") -> WeeklySchedule:
        """``{timezone: Europe/Paris, mon: ["08:00-12:00", "13:00-18:00"], ...,
        holidays: [2026-12-25]}``; days not listed are closed."""
        if not isinstance(data, Mapping):
            raise ScheduleError(f"{where}: expected a mapping")
        unknown = set(data) - {*DAYS, "timezone", "holidays"}
        if unknown:
            raise ScheduleError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        week = []
        for day in DAYS:
            periods = []
            for i, span in enumerate(data.get(day) or []):
                start, sep, end = str(span).partition("-")
                if not sep:
                    raise ScheduleError(f"{where}.{day}[{i}]: expected HH:MM-HH:MM, got {span!r}")
                opening = _parse_hhmm(start, f"{where}.{day}[{i}]")
                closing = _parse_hhmm(end, f"{where}.{day}[{i}]")
                if closing <= opening:
                    raise ScheduleError(f"{where}.{day}[{i}]: closes before it opens")
                periods.append((opening, closing))
            week.append(tuple(periods))
        holidays = set()
        for i, day_text in enumerate(data.get("holidays") or []):
            try:
                holidays.add(day_text if isinstance(day_text, date)
                             else date.fromisoformat(str(day_text)))
            except ValueError:
                raise ScheduleError(
                    f"{where}.holidays[{i}]: expected YYYY-MM-DD, got {day_text!r}") from None
        timezone = data.get("timezone", "UTC")
        try:
            return cls(str(timezone), tuple(week), frozenset(holidays))
        except ScheduleError as exc:
            raise ScheduleError(f"{where}.timezone: {exc}") from None
