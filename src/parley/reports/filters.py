"""Filters of a custom report on any dimension, whatever it groups by (pure).

The interval aggregates are kept per dimension, not per pair of dimensions, so a filter on
the grouped dimension itself (or on operators and teams for an operators' or teams' report)
is answered from them; any other filter is answered exactly from the raw records the
aggregates are made of (:class:`RawSource`), with the same counting
(:mod:`parley.reports.intervals`). What the raw records cannot answer either (an operator's
state time per queue, callbacks per operator, campaign attempts per queue) is refused by
:func:`check` with :class:`~parley.reports.custom.CustomReportError` naming the filter, never
answered with a wrong number (docs/reports.md, "Custom reports").
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from parley.reports.intervals import (
    AttemptFacts,
    CallFacts,
    Counters,
    Thresholds,
    attempt_counters,
    counted,
)

Filters = Mapping[str, Sequence[str]]
"""The keys kept per dimension (``{"queue": ["support"], "team": ["A"]}``)."""

FILTERABLE = ("queue", "operator", "team", "trunk", "number", "campaign", "result")
"""Every dimension a custom report may be filtered by."""
PEOPLE = frozenset({"operator", "team"})
STATE_MEASURES = ("aht_s", "occupancy", "utilisation", "logged_in_s")
"""Operators' and teams' figures made of state time (with every ``state_s.*``)."""
CALLBACK_MEASURES = ("callbacks_requested", "callbacks_completed")
QUEUE_ONLY = (*CALLBACK_MEASURES, "aht_s")
"""A queue's figures kept by queue only: the callbacks, and the AHT (its after-call work
comes from the operators' state log, which names the queue, not the trunk or campaign)."""
ATTEMPT_FILTERS = frozenset({"campaign", "operator", "team", "trunk"})
"""What a campaign attempt can be filtered by (its campaign, the operator who took it and
the operator's team, the trunk it was dialled on)."""
RAW_LIMIT = 200_000
"""The most raw records one filtered run reads; more is refused (a shorter period)."""


class FilterError(ValueError):
    """A filter the reports cannot answer; ``field`` names it (``filters.queue``)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _own(dimension: str, name: str) -> bool:
    """Whether a filter on ``name`` only picks keys (rows) of a ``dimension`` report."""
    return name == dimension or (dimension in PEOPLE and name in PEOPLE)


def needs_raw(dimension: str, filters: Filters) -> bool:
    """Whether the filters need the raw records (a filter on another dimension)."""
    return any(keys and not _own(dimension, name) for name, keys in filters.items())


def check(dimension: str, measures: Sequence[str], filters: Filters) -> None:
    """Refuse a filter whose combination with the grouping or a measure is not counted
    anywhere, naming it (``filters.queue: …``)."""
    for name, keys in filters.items():
        if not keys or _own(dimension, name):
            continue
        where = f"filters.{name}"
        if dimension == "campaign" and name not in ATTEMPT_FILTERS:
            raise FilterError(where, f"campaign attempts are not kept by {name}; a campaign "
                              "report can be filtered by campaign, operator, team or trunk")
        if dimension in PEOPLE:
            states = [m for m in measures if m in STATE_MEASURES or m.startswith("state_s.")]
            if states:
                raise FilterError(where, f"operators' state time is not kept by {name}, so "
                                  f"{', '.join(states)} cannot be filtered by {name}; choose "
                                  "answered, talk_s, transfers, or filter by operator or "
                                  "team only")
        if dimension == "queue":
            kept = [m for m in measures if m in QUEUE_ONLY]
            if kept:
                raise FilterError(where, f"callbacks and after-call work are kept by queue "
                                  f"only, so {', '.join(kept)} cannot be filtered by {name}")


class CallRecord(NamedTuple):
    """One call as a filtered report reads it: its facts, the campaign whose attempt it was
    and the result code of its wrap-up."""

    facts: CallFacts
    campaign: str | None = None
    result: str | None = None
    finished: bool = True


class AttemptRecord(NamedTuple):
    """One finished campaign attempt with the operator who took it and its trunk."""

    facts: AttemptFacts
    operator: str | None = None
    trunk: str | None = None


@dataclass(slots=True)
class RawRecords:
    """The raw records of a period that a filtered report counts, oldest first."""

    calls: list[CallRecord] = field(default_factory=list)
    attempts: list[AttemptRecord] = field(default_factory=list)
    thresholds: Thresholds = field(default_factory=Thresholds)


class RecordSource(Protocol):
    """Where the raw records come from (the store's report repository)."""

    async def filtered_records(self, kind: str, since: datetime, until: datetime,
                               filters: Filters, operators: Sequence[str] | None,
                               limit: int) -> RawRecords: ...


def kind_of(dimension: str) -> str:
    """The raw records a grouping counts: ``attempts``, ``wrapups`` or ``calls``."""
    return {"campaign": "attempts", "result": "wrapups"}.get(dimension, "calls")


def allowed_operators(filters: Filters, teams: Mapping[str, Sequence[str]]) -> set[str] | None:
    """The operators the operator and team filters keep (None: no such filter)."""
    allowed: set[str] | None = None
    if filters.get("operator"):
        allowed = set(filters["operator"])
    if filters.get("team"):
        members = {member for team in filters["team"] for member in teams.get(team, [])}
        allowed = members if allowed is None else allowed & members
    return allowed


def kept_teams(teams: Mapping[str, Sequence[str]], wanted: set[str],
               operators: set[str] | None) -> dict[str, list[str]]:
    """The teams named in ``wanted`` with the members the filters keep (a team left
    without any is dropped)."""
    kept: dict[str, list[str]] = {}
    for team, members in teams.items():
        if team not in wanted:
            continue
        staying = [member for member in members if operators is None or member in operators]
        if staying or operators is None:
            kept[team] = staying
    return kept


def call_matches(record: CallRecord, filters: Filters) -> bool:
    """Whether a call is kept by the filters on the call as a whole: its trunk, the number
    dialled (inbound), the campaign whose call it was, its wrap-up's result code. (Queue,
    operator and team filters are on each figure's own queue and operator:
    :meth:`RawSource.counters`.)"""
    call = record.facts
    values = {"trunk": call.trunk, "campaign": record.campaign, "result": record.result,
              "number": call.called if call.direction == "inbound" else None}
    for name, keys in filters.items():
        if keys and name in values and values[name] not in keys:
            return False
    return True


def _kept(queue: str | None, operator: str | None, filters: Filters,
          operators: set[str] | None) -> bool:
    """Whether a figure's queue and operator are kept by the queue, operator and team
    filters."""
    if filters.get("queue") and queue not in filters["queue"]:
        return False
    return operators is None or operator in operators


def attempt_matches(record: AttemptRecord, filters: Filters,
                    operators: set[str] | None) -> bool:
    """Whether an attempt is kept: its campaign, trunk, operator (and team)."""
    if filters.get("campaign") and record.facts.campaign not in filters["campaign"]:
        return False
    if filters.get("trunk") and record.trunk not in filters["trunk"]:
        return False
    return operators is None or record.operator in operators


def _add(totals: dict[str, Counters], key: str, counters: Mapping[str, float]) -> None:
    row = totals.setdefault(key, {})
    for name, value in counters.items():
        row[name] = row.get(name, 0.0) + value


class RawSource:
    """A report source (:class:`parley.reports.tables.ReportSource`) that counts the raw
    records kept by the filters, in any part of their period; the teams are the base
    source's, kept to the team filter and to the operators the filters keep. Operators'
    state time is not counted (:func:`check` refuses the measures made of it)."""

    def __init__(self, records: RawRecords, filters: Filters, teams: Mapping[str, list[str]],
                 ) -> None:
        operators = allowed_operators(filters, teams)
        self._filters = filters
        self._operators = operators
        self._calls = [r for r in records.calls if call_matches(r, filters)]
        self._call_starts = [r.facts.started_at for r in self._calls]
        self._attempts = [r for r in records.attempts
                          if attempt_matches(r, filters, operators)]
        self._attempt_starts = [r.facts.started_at for r in self._attempts]
        self._thresholds = records.thresholds
        wanted = set(filters.get("team") or teams)
        self._teams = kept_teams(teams, wanted, operators)

    @staticmethod
    def _span(starts: list[datetime], since: datetime, until: datetime) -> slice:
        return slice(bisect.bisect_left(starts, since), bisect.bisect_left(starts, until))

    async def counters(self, dimension: str, since: datetime,
                       until: datetime) -> dict[str, Counters]:
        totals: dict[str, Counters] = {}
        if dimension == "campaign":
            for attempt in self._attempts[self._span(self._attempt_starts, since, until)]:
                _add(totals, attempt.facts.campaign, attempt_counters(attempt.facts))
            return totals
        for record in self._calls[self._span(self._call_starts, since, until)]:
            if dimension == "result":  # a wrap-up: its call's last queue and operator
                if record.result and _kept(record.facts.queue, record.facts.operator,
                                           self._filters, self._operators):
                    _add(totals, record.result, {"calls": 1.0})
                continue
            if not record.finished:
                continue
            # each figure as the aggregates count it: per queue visit (its queue, who
            # answered it there), per answer (its operator, the queue whose wait it
            # ended), once as a whole (the last queue and operator)
            for row in counted(record.facts, self._thresholds):
                if row.dimension == dimension and _kept(row.queue, row.operator,
                                                        self._filters, self._operators):
                    _add(totals, row.key, row.counters)
        return totals

    async def state_seconds(self, since: datetime,
                            until: datetime) -> dict[tuple[str, str, str], float]:
        return {}

    async def teams(self) -> dict[str, list[str]]:
        return {team: list(members) for team, members in self._teams.items()}
