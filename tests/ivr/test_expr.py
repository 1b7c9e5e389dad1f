"""The expression language: parsing with positions, static checks, evaluation, functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from parley.clock import VirtualClock
from parley.ivr.environment import HolidayCalendars, NumberLists, QueueFigure, QueueSnapshot
from parley.ivr.errors import ExpressionError
from parley.ivr.expr import Expression, Template, check, parse


class Ctx:
    """An expression context over plain data and a virtual clock."""

    def __init__(self, clock: VirtualClock | None = None, tz: str = "Europe/Paris",
                 holidays: Sequence[date] = (), **variables: Any) -> None:
        self.clock = clock or VirtualClock()
        self.tz = ZoneInfo(tz)
        self.vars = variables
        self._lists = NumberLists({"vip": {"+331": ["gold", "fr"]}, "blacklist": ["666"]})
        self._queues = QueueSnapshot({"support": QueueFigure(expected_wait=420.0,
                                                             agents_ready=0, calls_waiting=7)})
        self.calendars = HolidayCalendars({"default": holidays})

    def variable(self, name: str) -> Any:
        return self.vars.get(name)

    def local_now(self) -> datetime:
        return self.clock.utcnow().astimezone(self.tz)

    def is_holiday(self, day: date, calendar: str | None) -> bool:
        return self.calendars.is_holiday(day, calendar)

    @property
    def lists(self) -> NumberLists:
        return self._lists

    @property
    def queues(self) -> QueueSnapshot:
        return self._queues


def ev(source: str, ctx: Ctx | None = None, **variables: Any) -> Any:
    return Expression.compile(source).evaluate(ctx or Ctx(**variables))


@pytest.mark.parametrize(("source", "expected"), [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("7 / 2", 3.5),
    ("8 / 2", 4),
    ("7 % 3", 1),
    ("-3 + 5", 2),
    ('"ab" + "cd"', "abcd"),
    ("1 < 2 and 2 <= 2", True),
    ("not 1 == 1", False),
    ("!(1 > 2) && true", True),
    ("false || 0 || 'x'", "x"),
    ("'b' in ['a', 'b']", True),
    ("'ell' in 'hello'", True),
    ("null == null", True),
    ("true == 1", False),
    ("[1, 2][1]", 2),
    ("len('12345')", 5),
    ("num('42') + 1", 43),
    ("str(5) + 'x'", "5x"),
    ("default(null, 'none')", "none"),
    ("upper('ab')", "AB"),
])
def test_operators_and_literals(source: str, expected: Any) -> None:
    assert ev(source) == expected
    assert type(ev(source)) is type(expected)


def test_variables_and_records() -> None:
    customer = {"name": "Ada", "tier": "gold", "orders": [{"id": 7}]}
    assert ev("customer.name", customer=customer) == "Ada"
    assert ev('customer["tier"] == "gold"', customer=customer) is True
    assert ev("customer.orders[0].id", customer=customer) == 7
    # A missing record (failed lookup) reads as null all the way down instead of failing.
    assert ev("customer.name", customer=None) is None
    assert ev("missing.deeper.still == null") is True


def test_parse_errors_name_the_column() -> None:
    with pytest.raises(ExpressionError) as info:
        parse('ani == "1" and (')
    assert info.value.position == 17
    assert "column 17" in str(info.value)
    with pytest.raises(ExpressionError) as info:
        parse("a = 1")
    assert info.value.position == 3
    assert "'=='" in str(info.value)
    with pytest.raises(ExpressionError) as info:
        parse('"never closed')
    assert info.value.position == 1
    with pytest.raises(ExpressionError) as info:
        parse("1 < 2 < 3")
    assert "chain" in str(info.value)
    with pytest.raises(ExpressionError) as info:
        parse("x @ y")
    assert info.value.position == 3
    with pytest.raises(ExpressionError):
        parse("")


def test_no_python_escape_hatches() -> None:
    # There is no attribute access on Python objects, no dunder, no eval: these are plain
    # field reads on JSON data or unknown functions.
    with pytest.raises(ExpressionError, match="no field"):
        ev("ani.__class__", ani="123")  # a field read, which a string does not have
    problems = check(parse("__import__('os')"))[1]
    assert problems
    assert "unknown function" in problems[0].message
    with pytest.raises(ExpressionError, match="unknown function"):
        ev("eval('1')")
    with pytest.raises(ExpressionError):
        parse("(" * 200 + "1" + ")" * 200)  # nesting is bounded


def test_runtime_errors_carry_position() -> None:
    with pytest.raises(ExpressionError) as info:
        ev("1 + x", x="a")
    assert info.value.position == 3
    with pytest.raises(ExpressionError, match="division by zero"):
        ev("1 / 0")
    with pytest.raises(ExpressionError, match="compare"):
        ev("x < 3", x="2")


def test_static_checks() -> None:
    def problems(source: str) -> list[str]:
        return [p.message for p in check(parse(source))[1]]

    assert problems('in_list("vip", ani)') == []
    assert "takes 2 argument(s), got 1" in problems('in_list("vip")')[0]
    assert "not a time of day" in problems('time_between("9h", "18:00")')[0]
    assert "day of the week" in problems('weekday_in("funday")')[0]
    assert "bad regular expression" in problems('matches(ani, "(")')[0]
    assert "cannot add" in problems('"a" + 1')[0]
    assert "cannot compare" in problems('"a" < 1')[0]
    assert "must be a str" in problems("queue_expected_wait(5)")[0]
    assert check(parse("1 + 2"))[0] == "num"
    assert check(parse("ani"))[0] == "str"
    assert check(parse("x + 1"))[0] == "any"


def test_lists_tags_and_matches() -> None:
    assert ev('in_list("vip", ani)', ani="+331") is True
    assert ev('in_list("vip", ani)', ani="+332") is False
    assert ev('list_tag("vip", ani)', ani="+331") == "gold"
    assert ev('list_tag("vip", ani)', ani="+332") == ""
    assert ev('has_tag("vip", ani, "fr")', ani="+331") is True
    assert ev(r'matches(ani, "^\\+33")', ani="+331") is True
    assert ev('matches(ani, "^0")', ani="+331") is False


def test_live_queue_figures() -> None:
    assert ev('queue_expected_wait("support") > 300') is True
    assert ev('queue_agents_ready("support") == 0') is True
    assert ev('queue_calls_waiting("support")') == 7
    # An unknown expected wait never satisfies a threshold, either way.
    assert ev('queue_expected_wait("nobody") > 300') is False
    assert ev('queue_expected_wait("nobody") <= 300') is False


def test_time_of_day_in_the_flow_time_zone() -> None:
    # 2026-01-05 (a Monday) 07:30 UTC is 08:30 in Paris (UTC+1 in winter).
    clock = VirtualClock()
    clock.advance(7.5 * 3600)
    paris = Ctx(clock)
    assert ev('time_between("08:00", "18:00")', paris) is True
    assert ev('time_between("09:00", "18:00")', paris) is False
    assert ev("hour()", paris) == 8
    assert ev('time()', paris) == "08:30"
    utc = Ctx(clock, tz="UTC")
    assert ev('time_between("08:00", "18:00")', utc) is False
    # Summer time: 2026-07-06 07:30 UTC is 09:30 in Paris (UTC+2).
    summer = VirtualClock(wall_epoch=datetime(2026, 7, 6, 7, 30, tzinfo=UTC))
    assert ev('time_between("09:00", "18:00")', Ctx(summer)) is True
    # A range over midnight.
    night = VirtualClock(wall_epoch=datetime(2026, 1, 5, 23, 0, tzinfo=UTC))  # 00:00 Paris
    assert ev('time_between("22:00", "06:00")', Ctx(night)) is True
    assert ev('time_between("06:00", "22:00")', Ctx(night)) is False


def test_days_of_week_and_holidays_move_with_the_clock() -> None:
    clock = VirtualClock()  # Monday 2026-01-05 00:00 UTC = 01:00 Paris
    ctx = Ctx(clock, holidays=[date(2026, 1, 6)])
    assert ev("weekday()", ctx) == "mon"
    assert ev('weekday_in("mon", "fri")', ctx) is True
    assert ev('weekday_in("sat", "sun")', ctx) is False
    assert ev('weekday_in("fri", "mon")', ctx) is True  # wraps over the weekend
    assert ev("is_holiday()", ctx) is False
    clock.advance(timedelta(days=1).total_seconds())
    assert ev("is_holiday()", ctx) is True
    assert ev('weekday_in("tue")', ctx) is True
    clock.advance(timedelta(days=4).total_seconds())  # Saturday
    assert ev('weekday_in("mon", "fri")', ctx) is False
    # Late Sunday in UTC is already Monday in Tokyo.
    sunday_night = VirtualClock(wall_epoch=datetime(2026, 1, 11, 20, 0, tzinfo=UTC))
    assert ev("weekday()", Ctx(sunday_night, tz="UTC")) == "sun"
    assert ev("weekday()", Ctx(sunday_night, tz="Asia/Tokyo")) == "mon"


def test_templates_substitute_and_locate_errors() -> None:
    template = Template.compile("https://crm/api?phone=${ani}&n=${count + 1}")
    ctx = Ctx(ani="+33 1", count=4)
    assert template.render(ctx) == "https://crm/api?phone=+33 1&n=5"
    assert template.render(ctx, lambda text: text.replace(" ", "%20")) == \
        "https://crm/api?phone=+33%201&n=5"
    with pytest.raises(ExpressionError) as info:
        Template.compile("abc ${1 +}")
    assert info.value.position == 10
    with pytest.raises(ExpressionError, match="not closed"):
        Template.compile("abc ${ani")
