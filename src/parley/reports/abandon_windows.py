"""The outbound abandon rate per regulatory window (pure).

Regulators cap a campaign's abandon rate over a window, not over whatever period a report
shows: the UK's Ofcom per campaign per 24 hours, the US FTC per campaign per 30 days (or the
campaign's life while it is younger). Each campaign names its rule (``abandon.cap``,
``abandon.window``, ``abandon.definition``: the dialer's
:class:`~parley.dialer.campaign.CampaignConfig`), and this module cuts time into that rule's
windows: consecutive windows of the configured length from local midnight (the campaign's
time zone) of the day of its first attempt, whole days as calendar days of that zone (a
day with a clock change is 23 or 25 hours), and the current rolling window (the length up to
now). A window's figures are the campaign report's counters over it (an attempt counts in
the window it was dialled in), its rate by the campaign's definition
(:func:`parley.kpi.outbound_abandon_rate`), and whether it is over the cap
(docs/reports.md, "Abandon rate per regulatory window").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from parley import kpi
from parley.dialer.pacing import COMPLIANCE_GRACE_S, US_WINDOW_S
from parley.kpi import OutboundAbandonRate
from parley.reports.intervals import Counters

DAY_S = 86400
MAX_WINDOWS = 1000
"""The most windows of one campaign one answer lists."""

DENOMINATORS = {OutboundAbandonRate.LIVE_ANSWERS: "live answers (a person answered)",
                OutboundAbandonRate.ALL_ANSWERS: "live answers and answering machines",
                OutboundAbandonRate.DIALS: "calls dialled"}


class WindowError(ValueError):
    """A period holding more windows than one answer lists; names the campaign."""


@dataclass(frozen=True, slots=True)
class WindowRule:
    """One campaign's abandon rule: the cap, the window's length, the definition, the time
    zone its days are in, and the grace an answered person is given to reach an operator."""

    campaign: str
    cap: float = 0.03
    window_s: float = US_WINDOW_S
    definition: OutboundAbandonRate = OutboundAbandonRate.LIVE_ANSWERS
    time_zone: str = "UTC"
    grace_s: float = COMPLIANCE_GRACE_S
    configured: bool = True
    """False: a campaign no longer configured, measured with the defaults."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def whole_days(self) -> int:
        """The window in calendar days (0: not a whole number of days)."""
        days, rest = divmod(round(self.window_s), DAY_S)
        return days if rest == 0 and days > 0 else 0

    def length(self) -> str:
        """The window's length as written in a campaign (``30d``, ``24h``, ``90m``)."""
        seconds = round(self.window_s)
        if self.whole_days:
            return f"{self.whole_days}d" if self.whole_days != 1 else "24h"
        if seconds % 3600 == 0:
            return f"{seconds // 3600}h"
        if seconds % 60 == 0:
            return f"{seconds // 60}m"
        return f"{seconds}s"

    def describe(self) -> str:
        """Which calls count as abandoned and what the rate divides by."""
        return (f"Abandoned: a person answered and no operator took the call within "
                f"{self.grace_s:g} s (the compliance message played), or the person hung up "
                f"before that. Rate: abandoned / {DENOMINATORS[self.definition]} "
                f"(definition '{self.definition.value}'), per {self.length()} window, "
                f"capped at {self.cap:.1%}.")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone)


def windows(rule: WindowRule, first_attempt: datetime, since: datetime,
            until: datetime) -> list[tuple[datetime, datetime]]:
    """The rule's windows that overlap [since, until), each whole, from local midnight of
    the day of the campaign's first attempt; none before it."""
    zone = rule.zone
    anchor_day = first_attempt.astimezone(zone).date()
    found: list[tuple[datetime, datetime]] = []
    if rule.whole_days:
        step = rule.whole_days
        offset = max(0, (since.astimezone(zone).date() - anchor_day).days // step - 1)
        index = offset
        while True:
            start = _midnight(anchor_day + timedelta(days=index * step), zone)
            end = _midnight(anchor_day + timedelta(days=(index + 1) * step), zone)
            if start >= until:
                break
            if end > since:
                found.append((start, end))
            index += 1
            if len(found) > MAX_WINDOWS:
                break
    else:
        anchor = _midnight(anchor_day, zone).astimezone(UTC)  # elapsed time, not wall time
        length = timedelta(seconds=rule.window_s)
        index = max(0, int((since - anchor) / length) - 1)
        while anchor + index * length < until and len(found) <= MAX_WINDOWS:
            start, end = anchor + index * length, anchor + (index + 1) * length
            if end > since:
                found.append((start, end))
            index += 1
    if len(found) > MAX_WINDOWS:
        raise WindowError(f"to: the period holds more than {MAX_WINDOWS} abandon windows of "
                          f"campaign {rule.campaign!r}; shorten the period")
    return found


def rolling(rule: WindowRule, first_attempt: datetime | None,
            now: datetime) -> tuple[datetime, datetime]:
    """The current rolling window: the rule's length up to now (from the first attempt while
    the campaign is younger)."""
    start = now - timedelta(seconds=rule.window_s)
    if first_attempt is not None and first_attempt > start:
        start = first_attempt
    return start, now


def _count(counters: Mapping[str, float], name: str) -> int:
    return round(counters.get(name, 0.0))


def window_row(rule: WindowRule, start: datetime, end: datetime,
               counters: Mapping[str, float], now: datetime) -> dict[str, Any]:
    """One window's figures: attempts, live answers, machines, abandoned, what the rate
    divides by, the rate, the cap and whether the rate is over it; ``complete`` once the
    window has ended. Times are local to the campaign's zone."""
    attempts, live = _count(counters, "attempts"), _count(counters, "live_answers")
    machines, abandoned = _count(counters, "machines"), _count(counters, "abandoned")
    rate = kpi.outbound_abandon_rate(rule.definition, abandoned=abandoned, dials=attempts,
                                     live_answers=live, machines=machines)
    zone = rule.zone
    return {"campaign": rule.campaign,
            "window_start": start.astimezone(zone).isoformat(),
            "window_end": end.astimezone(zone).isoformat(),
            "complete": end <= now, "attempts": attempts, "live_answers": live,
            "machines": machines, "abandoned": abandoned,
            "denominator": kpi.outbound_abandon_denominator(
                rule.definition, dials=attempts, live_answers=live, machines=machines),
            "abandon_rate": round(rate, 4), "cap": rule.cap, "over_cap": rate > rule.cap}


def rule_json(rule: WindowRule) -> dict[str, Any]:
    """A campaign's rule as the API answers it."""
    return {"campaign": rule.campaign, "cap": rule.cap, "window": rule.length(),
            "window_s": rule.window_s, "definition": rule.definition.value,
            "grace_s": rule.grace_s, "time_zone": rule.time_zone,
            "configured": rule.configured, "definition_text": rule.describe()}


class CounterSource(Protocol):
    """What the windows are counted from (the store's report repository)."""

    async def counters(self, dimension: str, since: datetime,
                       until: datetime) -> dict[str, Counters]: ...


async def abandon_windows(source: CounterSource, rules: Mapping[str, WindowRule],
                          first_attempts: Mapping[str, datetime], since: datetime,
                          until: datetime, now: datetime) -> dict[str, Any]:
    """Per campaign (by name): its rule with the current rolling window (``campaigns``), and
    each of its windows overlapping [since, until) in which it dialled (``rows``), oldest
    first. Each distinct window is counted once, for every campaign at a time."""
    counted: dict[tuple[datetime, datetime], dict[str, Counters]] = {}

    async def figures(campaign: str, start: datetime, end: datetime) -> Counters:
        if (start, end) not in counted:
            counted[(start, end)] = await source.counters("campaign", start, end)
        return counted[(start, end)].get(campaign, {})

    campaigns: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for name in sorted(rules):
        rule, first = rules[name], first_attempts.get(name)
        if first is not None:
            for start, end in windows(rule, first, since, until):
                found = await figures(name, start, end)
                if _count(found, "attempts"):
                    rows.append(window_row(rule, start, end, found, now))
        start, end = rolling(rule, first, now)
        current = window_row(rule, start, end, await figures(name, start, end)
                             if start < end else {}, now)
        del current["complete"], current["campaign"]
        campaigns.append({**rule_json(rule), "current": current})
    return {"campaigns": campaigns, "rows": rows}
