"""Scheduled exports of a custom report, the pure part: what a schedule says (every day, week
or month at a local time of the site's zone; CSV or XLSX; to a folder or a webhook), when it
fires next, which period a firing exports (the previous day, week or month) and the file's
name. :mod:`parley.reports.exports` runs them; docs/reports.md, "Scheduled exports".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from parley.reports.custom import CustomReportError

EVERY = ("daily", "weekly", "monthly")
FORMATS = ("csv", "xlsx")
TARGETS = ("folder", "webhook")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_FILE_NAME = "{report}-{from}.{format}"
"""``{report}`` (the name, letters, digits and ``-_`` kept), ``{from}`` and ``{to}`` (the
period's local days, ``to`` excluded), ``{format}`` (csv or xlsx)."""
_PLACEHOLDERS = ("report", "from", "to", "format")
_UNSAFE = re.compile(r"[^\w.-]+")


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """One schedule of a custom report, as validated by :func:`parse_schedule`."""

    every: str
    at: time
    format: str
    to: str
    weekday: int = 0
    day: int = 1
    folder: str = ""
    file_name: str = DEFAULT_FILE_NAME
    url: str = ""
    secret: str = ""

    def to_json(self) -> dict[str, Any]:
        """The schedule as the store keeps it (the secret included)."""
        found: dict[str, Any] = {"every": self.every, "at": self.at.strftime("%H:%M"),
                                 "format": self.format, "to": self.to}
        if self.every == "weekly":
            found["weekday"] = WEEKDAYS[self.weekday]
        if self.every == "monthly":
            found["day"] = self.day
        if self.to == "folder":
            found |= {"folder": self.folder, "file_name": self.file_name}
        else:
            found |= {"url": self.url, "secret": self.secret}
        return found

    def public(self) -> dict[str, Any]:
        """The schedule as the API shows it: the webhook's secret hidden."""
        found = self.to_json()
        if found.get("secret"):
            found["secret"] = "********"  # noqa: S105 - a mask, not a secret
        return found


def _choice(data: Mapping[str, Any], name: str, choices: tuple[str, ...],
            default: str | None = None) -> str:
    value = data.get(name, default)
    if value not in choices:
        raise CustomReportError(name, f"one of {', '.join(choices)}")
    return str(value)


def parse_schedule(data: Any) -> ScheduleSpec:
    """A schedule from its JSON, or :class:`CustomReportError` naming the field at fault.
    Whether the folder exists and is writable is checked by the caller (it is I/O)."""
    if not isinstance(data, Mapping):
        raise CustomReportError("body", 'a JSON object such as {"every": "daily", "at": '
                                '"06:00", "format": "xlsx", "to": "folder", "folder": "…"}')
    known = {"every", "at", "format", "to", "weekday", "day", "folder", "file_name", "url",
             "secret"}
    for key in data:
        if key not in known:
            raise CustomReportError(str(key), f"unknown field; known: {', '.join(sorted(known))}")
    every = _choice(data, "every", EVERY)
    raw_at = data.get("at", "00:00")
    try:
        at = time.fromisoformat(raw_at) if isinstance(raw_at, str) else None
    except ValueError:
        at = None
    if at is None or at.second or at.microsecond or at.tzinfo is not None:
        raise CustomReportError("at", "a local time of the site's zone as HH:MM, e.g. 06:00")
    weekday, day = 0, 1
    if every == "weekly":
        weekday = WEEKDAYS.index(_choice(data, "weekday", WEEKDAYS, "monday"))
    if every == "monthly":
        day = data.get("day", 1)
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 28:
            raise CustomReportError("day", "a day of the month from 1 to 28")
    spec_format = _choice(data, "format", FORMATS)
    target = _choice(data, "to", TARGETS)
    if target == "folder":
        folder = data.get("folder")
        if not isinstance(folder, str) or not folder.startswith("/"):
            raise CustomReportError("folder", "an absolute path on the node, e.g. "
                                    "/var/lib/parley/exports")
        file_name = data.get("file_name") or DEFAULT_FILE_NAME
        if not isinstance(file_name, str) or len(file_name) > 200:
            raise CustomReportError("file_name", "a pattern of at most 200 characters")
        try:
            sample = file_name.format(report="r", **{"from": "f", "to": "t", "format": "x"})
        except (KeyError, IndexError, ValueError):
            raise CustomReportError("file_name", "only the placeholders " + ", ".join(
                f"{{{name}}}" for name in _PLACEHOLDERS)) from None
        if "/" in sample or "\\" in sample or sample in (".", "..") or not sample.strip():
            raise CustomReportError("file_name", "a file name, not a path")
        return ScheduleSpec(every, at, spec_format, target, weekday, day, folder=folder,
                            file_name=file_name)
    url = data.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise CustomReportError("url", "an http:// or https:// address")
    secret = data.get("secret") or ""
    if not isinstance(secret, str):
        raise CustomReportError("secret", "a text (the key of the HMAC signature)")
    return ScheduleSpec(every, at, spec_format, target, weekday, day, url=str(url),
                        secret=secret)


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, zone)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return day.replace(year=index // 12, month=index % 12 + 1)


def next_run(spec: ScheduleSpec, after: datetime, zone: ZoneInfo) -> datetime:
    """The first firing strictly after ``after`` (UTC), at ``spec.at`` local time."""
    day = after.astimezone(zone).date()
    if spec.every == "monthly":
        day = day.replace(day=spec.day)
        while _local(day, spec.at, zone) <= after:
            day = _add_months(day, 1)
    else:
        while (_local(day, spec.at, zone) <= after
               or (spec.every == "weekly" and day.weekday() != spec.weekday)):
            day += timedelta(days=1)
    return _local(day, spec.at, zone).astimezone(after.tzinfo)


def period_of(spec: ScheduleSpec, fired: datetime,
              zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The period a firing at ``fired`` exports: the day, week (Monday to Sunday) or month
    before the one it fires in, as days of ``zone``."""
    today = fired.astimezone(zone).date()
    if spec.every == "daily":
        start, end = today - timedelta(days=1), today
    elif spec.every == "weekly":
        end = today - timedelta(days=today.weekday())
        start = end - timedelta(days=7)
    else:
        end = today.replace(day=1)
        start = _add_months(end, -1)
    return _local(start, time(), zone), _local(end, time(), zone)


def file_name(spec: ScheduleSpec, report: str, since: datetime, until: datetime,
              zone: ZoneInfo) -> str:
    """The exported file's name from the schedule's pattern."""
    safe = _UNSAFE.sub("_", report).strip("_.") or "report"
    name = spec.file_name.format(report=safe, format=spec.format, **{
        "from": since.astimezone(zone).date().isoformat(),
        "to": until.astimezone(zone).date().isoformat()})
    return _UNSAFE.sub("_", name)
