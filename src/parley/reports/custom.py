"""Custom reports: a saved definition of grouping, filters, measures and sort, run over a
period with the ready-made reports' own builders (:mod:`parley.reports.tables`), so a custom
report's figures are the same numbers as the ready-made report of its dimension.

A definition groups by one dimension (queue, operator, team, trunk, number, campaign, result:
the report whose figures it shows) and optionally by time (interval, day or week of the
site's time zone); filters keep some keys of any dimension (:mod:`parley.reports.filters`:
the grouped dimension's from the aggregates, any other exactly from the raw records); the
measures are figures of that report (:data:`MEASURES`); the period is a preset of the site's
days or fixed. Parsing
refuses a bad definition with :class:`CustomReportError` naming the field at fault.
Pure apart from the report source it reads (docs/reports.md, "Custom reports").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from parley.errors import ParleyError
from parley.reports.filters import (
    FILTERABLE,
    RAW_LIMIT,
    FilterError,
    Filters,
    RawSource,
    RecordSource,
    allowed_operators,
    check,
    kept_teams,
    kind_of,
    needs_raw,
)
from parley.reports.intervals import Counters, split
from parley.reports.tables import (
    BUILDERS,
    ReportSource,
    Row,
    call_figures,
    flat,
    work_figures,
)
from parley.store.specs import ROLE_ORDER


class CustomReportError(ParleyError, ValueError):
    """A definition that cannot be run; the message starts with the field at fault."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


#: Each dimension a custom report groups by, and the ready-made report whose figures it shows.
DIMENSIONS: dict[str, str] = {"queue": "queues", "operator": "operators", "team": "teams",
                              "trunk": "trunks", "number": "numbers",
                              "campaign": "campaigns", "result": "results"}
TIME_GROUPS = ("interval", "day", "week")
"""Time groupings: the 15-minute interval, the site's day, the site's week (from Monday)."""
PRESETS = ("today", "yesterday", "this_week", "last_week", "this_month", "last_month",
           "last_7_days", "last_30_days")
"""Periods named relative to now, as days of the site's time zone."""
MAX_BUCKETS = 1000
"""The most time groups one run may have (a month by interval is 2,976: choose days)."""

_CALLS = tuple(call_figures({}))
_WORK = tuple(name for name in flat([work_figures({}, {})])[0]
              if not name.startswith("not_ready_s_by_reason"))

MEASURES: dict[str, tuple[str, ...]] = {
    "queue": (*_CALLS, "overflowed", "callbacks_requested", "callbacks_completed"),
    "number": ("calls", *_CALLS, "duration_s"),
    "operator": _WORK,
    "team": ("operators", *_WORK),
    "trunk": ("calls", "inbound", "outbound", "offered", "answered", "abandoned",
              "abandoned_short", "duration_s", "erlangs"),
    "campaign": ("attempts", "live_answers", "machines", "offered", "answered", "abandoned",
                 "abandoned_short", "contact_rate", "outbound_abandon_rate", "amd.human",
                 "amd.machine", "amd.unknown", "talk_s", "aht_s"),
    "result": ("calls",),
}
"""The figures each dimension's custom report may show (the columns of its ready-made
report; nested ones as ``state_s.ready``)."""

SHARES = ("agent", "supervisor", "admin")
"""Roles a report may be shared with (and every role above it)."""


@dataclass(frozen=True, slots=True)
class Period:
    """A preset (``last_7_days``…) or a fixed [start, end)."""

    preset: str | None = None
    fixed: tuple[datetime, datetime] | None = None

    def resolve(self, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The period as aware times (the preset's days, and fixed times without an offset,
        in ``zone``)."""
        if self.fixed is not None:
            start, end = self.fixed
            if start.tzinfo is None:
                return start.replace(tzinfo=zone), end.replace(tzinfo=zone)
            return start, end
        return preset_period(self.preset or "today", now, zone)

    def to_json(self) -> str | dict[str, str]:
        if self.fixed is not None:
            return {"from": self.fixed[0].isoformat(), "to": self.fixed[1].isoformat()}
        return self.preset or "today"


@dataclass(frozen=True, slots=True)
class Sort:
    by: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class CustomDefinition:
    """One saved custom report, as validated by :func:`parse_definition`."""

    name: str
    dimension: str
    time_group: str | None
    measures: tuple[str, ...]
    period: Period = field(default_factory=lambda: Period("today"))
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """The keys kept per dimension, in the order given (any dimension)."""
    sort: Sort | None = None
    shared_with: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys kept of the grouped dimension (none: every key)."""
        return dict(self.filters).get(self.dimension, ())

    @property
    def filter_map(self) -> dict[str, tuple[str, ...]]:
        return dict(self.filters)

    @property
    def group_by(self) -> list[str]:
        return [self.dimension] + ([self.time_group] if self.time_group else [])

    @property
    def columns(self) -> list[str]:
        """The row's columns in order: the groups, then the measures."""
        return [*self.group_by, *self.measures]

    def to_json(self) -> dict[str, Any]:
        """The definition as the API answers and the store keeps it."""
        return {"name": self.name, "group_by": self.group_by,
                "filters": {name: list(keys) for name, keys in self.filters},
                "period": self.period.to_json(), "measures": list(self.measures),
                "sort": None if self.sort is None else {
                    "by": self.sort.by, "descending": self.sort.descending},
                "shared_with": self.shared_with}


def _text(data: Mapping[str, Any], name: str, *, limit: int = 100) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise CustomReportError(name, "required: a non-empty text")
    if len(value.strip()) > limit:
        raise CustomReportError(name, f"at most {limit} characters")
    return value.strip()


def _moment(name: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise CustomReportError(name, "an ISO 8601 date and time, e.g. 2026-12-01T00:00")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise CustomReportError(name, f"not an ISO 8601 date and time: {value!r}") from None


def parse_period(value: Any, name: str = "period") -> Period:
    """A preset name, or ``{"from": ISO, "to": ISO}``: both with their offset, or both
    without (then they are the site's local time)."""
    if isinstance(value, str):
        if value not in PRESETS:
            raise CustomReportError(name, f"unknown preset {value!r}; one of "
                                          f"{', '.join(PRESETS)}, or {{\"from\", \"to\"}}")
        return Period(preset=value)
    if not isinstance(value, Mapping):
        raise CustomReportError(name, f"a preset ({', '.join(PRESETS)}) or "
                                      '{"from": ISO time, "to": ISO time}')
    start = _moment(f"{name}.from", value.get("from"))
    end = _moment(f"{name}.to", value.get("to"))
    if (start.tzinfo is None) != (end.tzinfo is None):
        raise CustomReportError(f"{name}.to", "give both times with their offset, or both "
                                "without (the site's local time)")
    if end <= start:
        raise CustomReportError(f"{name}.to", "must come after from")
    if end - start > timedelta(days=400):
        raise CustomReportError(f"{name}.to", "a report covers at most 400 days")
    return Period(fixed=(start, end))


def _strings(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CustomReportError(name, "a list of names")
    return value


def parse_definition(data: Any) -> CustomDefinition:
    """A definition from its JSON (:meth:`CustomDefinition.to_json`'s shape), or
    :class:`CustomReportError` naming the field at fault."""
    if not isinstance(data, Mapping):
        raise CustomReportError("body", "a JSON object with name, group_by, measures")
    known = {"name", "group_by", "filters", "period", "measures", "sort", "shared_with"}
    for key in data:
        if key not in known:
            raise CustomReportError(str(key), f"unknown field; known: {', '.join(sorted(known))}")
    name = _text(data, "name")
    groups = _strings("group_by", data.get("group_by"))
    dimensions = [group for group in groups if group in DIMENSIONS]
    times = [group for group in groups if group in TIME_GROUPS]
    for group in groups:
        if group not in DIMENSIONS and group not in TIME_GROUPS:
            raise CustomReportError("group_by", f"unknown grouping {group!r}; one of "
                                    f"{', '.join([*DIMENSIONS, *TIME_GROUPS])}")
    if len(dimensions) != 1:
        raise CustomReportError("group_by", "name exactly one of "
                                f"{', '.join(DIMENSIONS)} (the figures' report)")
    if len(times) > 1 or len(groups) != len(set(groups)):
        raise CustomReportError("group_by", "at most one of interval, day, week, once")
    dimension = dimensions[0]
    measures = _strings("measures", data.get("measures"))
    if not measures:
        raise CustomReportError("measures", "choose at least one figure")
    for measure in measures:
        if measure not in MEASURES[dimension]:
            raise CustomReportError("measures", f"{measure!r} is not a figure of the "
                                    f"{DIMENSIONS[dimension]} report; one of "
                                    f"{', '.join(MEASURES[dimension])}")
    if len(set(measures)) != len(measures):
        raise CustomReportError("measures", "a figure is named twice")
    filters = parse_filters(data.get("filters") or {}, dimension)
    try:
        check(dimension, measures, dict(filters))
    except FilterError as exc:
        raise CustomReportError(exc.field, str(exc)) from None
    period = parse_period(data.get("period", "today"))
    sort = None
    raw_sort = data.get("sort")
    if raw_sort is not None:
        if not isinstance(raw_sort, Mapping) or not isinstance(raw_sort.get("by"), str):
            raise CustomReportError("sort", '{"by": a column, "descending": true|false}')
        columns = [*groups, *measures]
        if raw_sort["by"] not in columns:
            raise CustomReportError("sort.by", f"{raw_sort['by']!r} is not a column of the "
                                    f"report; one of {', '.join(columns)}")
        descending = raw_sort.get("descending", False)
        if not isinstance(descending, bool):
            raise CustomReportError("sort.descending", "true or false")
        sort = Sort(raw_sort["by"], descending)
    shared = data.get("shared_with")
    if shared is not None and shared not in SHARES:
        raise CustomReportError("shared_with", f"one of {', '.join(SHARES)}, or null "
                                "(private to its owner)")
    return CustomDefinition(name=name, dimension=dimension,
                            time_group=times[0] if times else None,
                            measures=tuple(measures), period=period, filters=filters,
                            sort=sort, shared_with=shared)


def parse_filters(value: Any, dimension: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``{"queue": ["support"], "campaign": ["renewals"]}``: the keys kept per dimension,
    any of :data:`~parley.reports.filters.FILTERABLE`; a value that is not a name is refused
    naming it (``filters.queue[1]``)."""
    if not isinstance(value, Mapping):
        raise CustomReportError("filters", f'an object such as {{"{dimension}": ["…"], '
                                '"campaign": ["…"]}')
    found: list[tuple[str, tuple[str, ...]]] = []
    for name, values in value.items():
        where = f"filters.{name}"
        if name not in FILTERABLE:
            raise CustomReportError(where, f"unknown dimension {name!r}; one of "
                                    f"{', '.join(FILTERABLE)}")
        if not isinstance(values, list):
            raise CustomReportError(where, "a list of names")
        keys: list[str] = []
        for index, item in enumerate(values):
            if not isinstance(item, str):
                raise CustomReportError(f"{where}[{index}]", f"a name (text), not {item!r}")
            if not item.strip():
                continue
            if len(item.strip()) > 64:
                raise CustomReportError(f"{where}[{index}]", f"at most 64 characters: {item!r}")
            if item.strip() not in keys:
                keys.append(item.strip())
        if keys:
            found.append((name, tuple(keys)))
    return tuple(found)


def visible_to(shared_with: str | None, owner: str, username: str,
               roles: Iterable[str]) -> bool:
    """Whether a user sees a report: its owner, an admin, or a user holding the role it is
    shared with or a higher one."""
    ranks = [ROLE_ORDER.index(role) for role in ROLE_ORDER if str(role) in set(roles)]
    rank = max(ranks, default=-1)
    if username == owner or rank == len(ROLE_ORDER) - 1:
        return True
    return shared_with is not None and rank >= SHARES.index(shared_with)


# --- periods and time groups -------------------------------------------------------------


def _day(moment: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(moment, time(), zone)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def preset_period(preset: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A preset's [start, end) as days of ``zone``; "last_7_days" ends with today."""
    today = now.astimezone(zone).date()
    tomorrow = today + timedelta(days=1)
    monday = today - timedelta(days=today.weekday())
    first = _month_start(today)
    spans = {
        "today": (today, tomorrow),
        "yesterday": (today - timedelta(days=1), today),
        "this_week": (monday, tomorrow),
        "last_week": (monday - timedelta(days=7), monday),
        "this_month": (first, tomorrow),
        "last_month": (_month_start(first - timedelta(days=1)), first),
        "last_7_days": (today - timedelta(days=6), tomorrow),
        "last_30_days": (today - timedelta(days=29), tomorrow),
    }
    if preset not in spans:
        raise CustomReportError("period", f"unknown preset {preset!r}")
    start, end = spans[preset]
    return _day(start, zone), _day(end, zone)


def buckets(since: datetime, until: datetime, group: str | None,
            zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """[since, until) cut into the time groups (cut at the period's edges too)."""
    if group is None:
        return [(since, until)]
    found: list[tuple[datetime, datetime]] = []
    if group == "interval":
        for start, seconds in split(since, until):
            begin = max(start, since)
            found.append((begin, begin + timedelta(seconds=seconds)))
            if len(found) > MAX_BUCKETS:
                break
    else:
        day = since.astimezone(zone).date()
        if group == "week":
            day -= timedelta(days=day.weekday())
        step = timedelta(days=7 if group == "week" else 1)
        while _day(day, zone) < until and len(found) <= MAX_BUCKETS:
            start, end = _day(day, zone), _day(day + step, zone)
            found.append((max(start, since), min(end, until)))
            day += step
    if len(found) > MAX_BUCKETS:
        raise CustomReportError("group_by", f"the period holds more than {MAX_BUCKETS} "
                                f"{group}s; group by a longer time or shorten the period")
    return found


def group_label(group: str, start: datetime, zone: ZoneInfo) -> str:
    """A time group's value in a row: the local start (ISO, with its offset); days and
    weeks as their first day."""
    local = start.astimezone(zone)
    if group == "interval":
        return local.isoformat(timespec="minutes")
    return local.date().isoformat()


# --- running -----------------------------------------------------------------------------


class FilteredSource:
    """A report source that answers only the chosen keys of its dimension, and only the
    operators (and teams) the operator and team filters keep: what the aggregates can
    answer of a filter."""

    def __init__(self, source: ReportSource, dimension: str, filters: Filters) -> None:
        self._source = source
        self._dimension = dimension
        self._filters = filters
        self._people = bool(filters.get("operator") or filters.get("team"))

    async def _operators(self) -> set[str] | None:
        if not self._people:
            return None
        return allowed_operators(self._filters, await self._source.teams())

    async def counters(self, dimension: str, since: datetime,
                       until: datetime) -> dict[str, Counters]:
        found = await self._source.counters(dimension, since, until)
        keys = self._filters.get(dimension) if dimension == self._dimension else None
        if dimension == "operator":
            operators = await self._operators()
            if operators is not None:
                return {key: value for key, value in found.items() if key in operators}
        if keys:
            return {key: value for key, value in found.items() if key in keys}
        return found

    async def state_seconds(self, since: datetime,
                            until: datetime) -> dict[tuple[str, str, str], float]:
        found = await self._source.state_seconds(since, until)
        operators = await self._operators()
        if operators is None:
            return found
        return {key: value for key, value in found.items() if key[0] in operators}

    async def teams(self) -> dict[str, list[str]]:
        teams = await self._source.teams()
        wanted = set(self._filters.get("team") or teams)
        return kept_teams(teams, wanted, await self._operators())


async def source_for(definition: CustomDefinition, source: ReportSource,
                     records: RecordSource | None, since: datetime,
                     until: datetime) -> ReportSource:
    """The source a definition's run reads: the aggregates kept to its filters, or, when a
    filter is on another dimension, the raw records of [since, until) the filters keep."""
    filters = definition.filter_map
    if not needs_raw(definition.dimension, filters):
        return FilteredSource(source, definition.dimension, filters)
    if records is None:
        raise CustomReportError("filters", "filters on other dimensions than the grouped "
                                "one need the raw records, which this run cannot read")
    teams = await source.teams()
    unknown = [team for team in filters.get("team", ()) if team not in teams]
    if unknown:
        raise CustomReportError("filters.team", f"no team {unknown[0]!r}")
    operators = allowed_operators(filters, teams)
    found = await records.filtered_records(kind_of(definition.dimension), since, until,
                                           filters, None if operators is None
                                           else sorted(operators), RAW_LIMIT)
    if len(found.calls) + len(found.attempts) > RAW_LIMIT:
        raise CustomReportError("filters", f"more than {RAW_LIMIT:,} records match the "
                                "filters in this period, too many to count from the raw "
                                "records; shorten the period or filter by the grouped "
                                "dimension only")
    return RawSource(found, filters, teams)


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, "" if value is None else str(value))


async def run(definition: CustomDefinition, source: ReportSource, since: datetime,
              until: datetime, zone: ZoneInfo, records: RecordSource | None = None
              ) -> list[Row]:
    """The report's rows over [since, until): one per key (and time group), each with the
    group columns and the chosen measures, sorted as the definition says (else by the
    groups). ``records`` reads the raw records a filter on another dimension needs."""
    build = BUILDERS[DIMENSIONS[definition.dimension]]
    filtered = await source_for(definition, source, records, since, until)
    rows: list[Row] = []
    for start, end in buckets(since, until, definition.time_group, zone):
        _columns, lines = flat(await build(filtered, start, end))
        for line in lines:
            row: Row = {definition.dimension: line.get(definition.dimension)}
            if definition.time_group:
                row[definition.time_group] = group_label(definition.time_group, start, zone)
            for measure in definition.measures:
                row[measure] = line.get(measure, 0)
            rows.append(row)
    if definition.sort is not None:
        by = definition.sort.by
        rows.sort(key=lambda row: _sort_key(row.get(by)), reverse=definition.sort.descending)
    else:
        rows.sort(key=lambda row: [_sort_key(row.get(group)) for group in definition.group_by])
    return rows

