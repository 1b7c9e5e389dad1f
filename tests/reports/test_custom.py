"""Custom report definitions and schedules, the pure parts: a definition is read or refused
naming the field, its measures are the ready-made report's columns, time groups are the
site's days and weeks, a row's figures are the ready-made report's over that group, and a
schedule fires at the site's local time for the period before it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from parley.reports import custom
from parley.reports.custom import (
    CustomReportError,
    buckets,
    parse_definition,
    preset_period,
    visible_to,
)
from parley.reports.intervals import MEASURES as COUNTERS
from parley.reports.intervals import Counters
from parley.reports.schedules import file_name, next_run, parse_schedule, period_of
from parley.reports.tables import BUILDERS, flat

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


class OneKeySource:
    """Every dimension has the key ``k`` with every counter 1 (offered 2) in any period (and the
    operator ``k`` in team ``k``, one second in each state)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, datetime, datetime]] = []

    async def counters(self, dimension: str, since: datetime,
                       until: datetime) -> dict[str, Counters]:
        self.asked.append((dimension, since, until))
        one = dict.fromkeys(COUNTERS, 1.0) | {"offered": 2.0}
        return {"k": one, "other": {name: 2 * value for name, value in one.items()}}

    async def state_seconds(self, since: datetime,
                            until: datetime) -> dict[tuple[str, str, str], float]:
        return {("k", "ready", ""): 1.0, ("k", "on_call", ""): 1.0}

    async def teams(self) -> dict[str, list[str]]:
        return {"k": ["k"], "other": ["other"]}


async def test_each_dimensions_measures_are_its_ready_made_reports_columns() -> None:
    for dimension, report in custom.DIMENSIONS.items():
        columns, _rows = flat(await BUILDERS[report](OneKeySource(), datetime(2026, 1, 1,
                                                                             tzinfo=UTC),
                                                     datetime(2026, 1, 2, tzinfo=UTC)))
        shown = [c for c in columns[1:] if not c.startswith("not_ready_s_by_reason")]
        assert sorted(shown) == sorted(custom.MEASURES[dimension]), dimension


@pytest.mark.parametrize(("change", "message"), [
    ({"group_by": "queue"}, "group_by: a list of names"),
    ({"group_by": ["queue", "operator"]}, "group_by: name exactly one of"),
    ({"group_by": ["queue", "day", "week"]}, "group_by: at most one of interval, day, week"),
    ({"group_by": ["queue", "hour"]}, "group_by: unknown grouping 'hour'"),
    ({"measures": []}, "measures: choose at least one figure"),
    ({"measures": ["offered", "offered"]}, "measures: a figure is named twice"),
    ({"period": {"from": "2026-12-01T00:00:00", "to": "2026-12-02T00:00:00Z"}},
     "period.to: give both times with their offset, or both without"),
    ({"period": {"from": "2026-12-01", "to": "tomorrow"}},
     "period.to: not an ISO 8601 date and time: 'tomorrow'"),
    ({"period": {"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}},
     "period.to: must come after from"),
    ({"sort": {"by": "queue", "descending": "yes"}}, "sort.descending: true or false"),
    ({"colour": "red"}, "colour: unknown field"),
])
def test_a_bad_definition_is_refused_naming_the_field(change: dict[str, Any],
                                                      message: str) -> None:
    base = {"name": "n", "group_by": ["queue"], "measures": ["offered"]}
    with pytest.raises(CustomReportError) as raised:
        parse_definition({**base, **change})
    assert str(raised.value).startswith(message)
    assert raised.value.field == message.split(":")[0]


def test_a_definition_reads_back_the_same() -> None:
    data = {"name": "Ops", "group_by": ["week", "operator"], "filters": {"operator": ["k"]},
            "period": {"from": "2026-12-01T00:00:00+03:00", "to": "2026-12-08T00:00:00+03:00"},
            "measures": ["answered", "state_s.ready"], "sort": None, "shared_with": None}
    definition = parse_definition(data)
    assert definition.group_by == ["operator", "week"]
    assert parse_definition(definition.to_json()) == definition


def test_presets_and_time_groups_are_the_sites_days() -> None:
    now = datetime(2026, 3, 29, 21, 30, tzinfo=UTC)  # Monday 30 March 00:30 in Moscow
    assert preset_period("yesterday", now, MOSCOW) == (
        datetime(2026, 3, 29, tzinfo=MOSCOW), datetime(2026, 3, 30, tzinfo=MOSCOW))
    assert preset_period("last_week", now, MOSCOW)[0] == datetime(2026, 3, 23, tzinfo=MOSCOW)
    assert preset_period("last_month", now, MOSCOW) == (
        datetime(2026, 2, 1, tzinfo=MOSCOW), datetime(2026, 3, 1, tzinfo=MOSCOW))
    # Berlin's clocks go forward on 29 March 2026: that day has 23 hours
    days = buckets(datetime(2026, 3, 28, tzinfo=BERLIN), datetime(2026, 3, 31, tzinfo=BERLIN),
                   "day", BERLIN)
    assert [end.astimezone(UTC) - start.astimezone(UTC) for start, end in days] == [
        timedelta(hours=24), timedelta(hours=23), timedelta(hours=24)]
    weeks = buckets(datetime(2026, 3, 25, 12, tzinfo=BERLIN),
                    datetime(2026, 4, 1, tzinfo=BERLIN), "week", BERLIN)
    assert weeks[0][0] == datetime(2026, 3, 25, 12, tzinfo=BERLIN)  # cut at the period
    assert weeks[1][0] == datetime(2026, 3, 30, tzinfo=BERLIN)
    with pytest.raises(CustomReportError, match="group_by: the period holds more than"):
        buckets(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC),
                "interval", MOSCOW)


async def test_a_run_filters_groups_and_sorts_the_ready_made_figures() -> None:
    source = OneKeySource()
    definition = parse_definition({
        "name": "n", "group_by": ["queue", "day"], "filters": {"queue": ["k"]},
        "measures": ["offered", "callbacks_requested"],
        "sort": {"by": "day", "descending": True}})
    rows = await custom.run(definition, source, datetime(2026, 12, 1, tzinfo=MOSCOW),
                            datetime(2026, 12, 3, tzinfo=MOSCOW), MOSCOW)
    assert rows == [
        {"queue": "k", "day": "2026-12-02", "offered": 2, "callbacks_requested": 1},
        {"queue": "k", "day": "2026-12-01", "offered": 2, "callbacks_requested": 1}]
    assert [asked[1] for asked in source.asked] == [
        datetime(2026, 12, 1, tzinfo=MOSCOW), datetime(2026, 12, 2, tzinfo=MOSCOW)]
    teams = await custom.run(parse_definition({
        "name": "t", "group_by": ["team"], "filters": {"team": ["k"]},
        "measures": ["operators", "answered", "state_s.on_call"]}), source,
        datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC), UTC)
    assert teams == [{"team": "k", "operators": 1, "answered": 1, "state_s.on_call": 1.0}]


def test_who_sees_a_report() -> None:
    assert visible_to(None, "boss", "boss", ["supervisor"])
    assert not visible_to(None, "boss", "other", ["supervisor"])
    assert visible_to(None, "boss", "root", ["admin"])
    assert visible_to("agent", "boss", "op", ["agent"])
    assert not visible_to("supervisor", "boss", "op", ["agent"])
    assert visible_to("supervisor", "boss", "other", ["supervisor"])


def test_a_schedule_fires_at_the_sites_time_for_the_period_before() -> None:
    daily = parse_schedule({"every": "daily", "at": "06:00", "format": "xlsx",
                            "to": "folder", "folder": "/tmp",
                            "file_name": "{report}_{from}.{format}"})
    now = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 07:00 in Moscow: today's 06:00 has passed
    fire = next_run(daily, now, MOSCOW)
    assert fire == datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert period_of(daily, fire, MOSCOW) == (datetime(2026, 12, 1, tzinfo=MOSCOW),
                                              datetime(2026, 12, 2, tzinfo=MOSCOW))
    assert file_name(daily, "Support / day", *period_of(daily, fire, MOSCOW), MOSCOW) == \
        "Support_day_2026-12-01.xlsx"
    weekly = parse_schedule({"every": "weekly", "weekday": "monday", "at": "07:30",
                             "format": "csv", "to": "webhook", "url": "http://127.0.0.1:1/x"})
    fire = next_run(weekly, now, MOSCOW)
    assert fire.astimezone(MOSCOW) == datetime(2026, 12, 7, 7, 30, tzinfo=MOSCOW)
    assert period_of(weekly, fire, MOSCOW)[0] == datetime(2026, 11, 30, tzinfo=MOSCOW)
    monthly = parse_schedule({"every": "monthly", "day": 1, "at": "00:15", "format": "csv",
                              "to": "webhook", "url": "https://bi.example/in"})
    fire = next_run(monthly, now, MOSCOW)
    assert fire.astimezone(MOSCOW) == datetime(2027, 1, 1, 0, 15, tzinfo=MOSCOW)
    assert period_of(monthly, fire, MOSCOW) == (datetime(2026, 12, 1, tzinfo=MOSCOW),
                                                datetime(2027, 1, 1, tzinfo=MOSCOW))
    assert daily.at == time(6, 0)
    for data, message in (
            ({"every": "hourly"}, "every: one of daily, weekly, monthly"),
            ({"every": "daily", "at": "6am"}, "at: a local time"),
            ({"every": "monthly", "day": 31, "format": "csv"}, "day: a day of the month"),
            ({"every": "daily", "format": "pdf"}, "format: one of csv, xlsx"),
            ({"every": "daily", "format": "csv", "to": "folder", "folder": "exports"},
             "folder: an absolute path"),
            ({"every": "daily", "format": "csv", "to": "folder", "folder": "/tmp",
              "file_name": "../{report}"}, "file_name: a file name, not a path"),
            ({"every": "daily", "format": "csv", "to": "folder", "folder": "/tmp",
              "file_name": "{name}"}, "file_name: only the placeholders"),
            ({"every": "daily", "format": "csv", "to": "webhook", "url": "ftp://x"},
             "url: an http:// or https:// address")):
        with pytest.raises(CustomReportError) as raised:
            parse_schedule(data)
        assert str(raised.value).startswith(message), data
