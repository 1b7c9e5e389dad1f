"""Call windows in the called party's local time, holidays, and the campaign's own schedule.

A window is a set of weekdays and a local start and end time (``mobile 09:00-21:00 every day``,
``work 09:00-18:00 Mon-Fri``). A number whose time zone is uncertain carries several zones;
a call is allowed only when the window is open in every one of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from parley.dialer.model import DialerError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SEARCH_DAYS = 15  # how far ahead next_open looks before calling a window never open


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo (zone look-ups sit on the dialling path)."""
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class Window:
    """Open from ``start`` (inclusive) to ``end`` (exclusive) local time on ``days`` (0=Mon)."""

    start: time
    end: time
    days: frozenset[int] = frozenset(range(7))

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise DialerError(f"call window {self.start:%H:%M}-{self.end:%H:%M}: the end must "
                              "come after the start (windows do not span midnight)")
        if not self.days or not self.days <= frozenset(range(7)):
            raise DialerError("call window: days must be a non-empty set of 0 (Mon) to 6 (Sun)")

    @classmethod
    def parse(cls, text: str) -> Window:
        """Parse ``"09:00-21:00"`` or ``"09:00-18:00 mon-fri"`` or ``"10:00-14:00 sat,sun"``."""
        parts = text.split()
        if not parts or len(parts) > 2:
            raise DialerError(f"call window {text!r}: write it as 09:00-18:00 [mon-fri]")
        try:
            start_text, end_text = parts[0].split("-")
            start = time.fromisoformat(start_text)
            end = time.fromisoformat(end_text)
        except ValueError as exc:
            raise DialerError(f"call window {text!r}: times must look like 09:00-18:00") from exc
        days = frozenset(range(7)) if len(parts) == 1 else _parse_days(parts[1], text)
        return cls(start, end, days)

    def open_at_local(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end


def _parse_days(spec: str, text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in spec.lower().split(","):
        try:
            if "-" in item:
                first, last = (WEEKDAYS.index(x[:3]) for x in item.split("-"))
                days.update(range(first, last + 1) if first <= last
                            else [*range(first, 7), *range(0, last + 1)])
            else:
                days.add(WEEKDAYS.index(item[:3]))
        except ValueError as exc:
            raise DialerError(f"call window {text!r}: days must be like mon-fri or sat,sun") \
                from exc
    return frozenset(days)


@dataclass(frozen=True, slots=True)
class Calendar:
    """Windows (any one open is enough) plus holidays (local dates with no calls at all)."""

    windows: tuple[Window, ...]
    holidays: frozenset[date] = frozenset()

    @classmethod
    def of(cls, windows: Iterable[str | Window], holidays: Iterable[date] = ()) -> Calendar:
        return cls(tuple(w if isinstance(w, Window) else Window.parse(w) for w in windows),
                   frozenset(holidays))

    def open_in(self, utc: datetime, zone_name: str) -> bool:
        """Is this calendar open at ``utc`` for someone in ``zone_name``?"""
        local = utc.astimezone(zone(zone_name))
        if local.date() in self.holidays:
            return False
        return any(w.open_at_local(local) for w in self.windows)

    def open_in_all(self, utc: datetime, zones: Sequence[str]) -> bool:
        return all(self.open_in(utc, z) for z in zones)

    def next_open_in(self, utc: datetime, zone_name: str) -> datetime | None:
        """The first UTC moment at or after ``utc`` when the calendar is open in ``zone_name``."""
        if self.open_in(utc, zone_name):
            return utc
        tz = zone(zone_name)
        local = utc.astimezone(tz)
        best: datetime | None = None
        for offset in range(_SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for window in self.windows:
                if day.weekday() not in window.days:
                    continue
                start = datetime.combine(day, window.start, tzinfo=tz).astimezone(UTC)
                end = datetime.combine(day, window.end, tzinfo=tz).astimezone(UTC)
                if end <= utc:
                    continue
                candidate = max(start, utc)
                if self.open_in(candidate, zone_name) and (best is None or candidate < best):
                    best = candidate
            if best is not None:
                return best
        return None

    def next_open_in_all(self, utc: datetime, zones: Sequence[str]) -> datetime | None:
        """The first moment open in every zone (None if none within about two weeks)."""
        candidate = utc
        for _ in range(4 * _SEARCH_DAYS):
            latest = candidate
            for zone_name in zones:
                opens = self.next_open_in(candidate, zone_name)
                if opens is None:
                    return None
                latest = max(latest, opens)
            if latest == candidate:
                return candidate
            if (latest - utc).days > _SEARCH_DAYS:
                return None
            candidate = latest
        return None
