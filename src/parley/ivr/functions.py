"""The built-in functions of flow expressions and what they may read (the context).

Each function declares its arity and static argument types (for the validator) and may check
its literal arguments ("09:00" is a time, "mon" a day) before the flow goes live.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Protocol

Value = None | bool | int | float | str | list["Value"] | dict[str, "Value"]
"""What an expression yields: JSON-like values only."""


# --- what evaluation may read -------------------------------------------------------------


class ListLookup(Protocol):
    """Number lists (blacklist, VIP, customers) with tags, read-only."""

    def in_list(self, list_name: str, value: str) -> bool: ...

    def tags(self, list_name: str, value: str) -> Sequence[str]: ...


class QueueFigures(Protocol):
    """Live queue figures, read-only, as the ACD sees them at evaluation time."""

    def expected_wait(self, queue: str) -> float | None: ...

    def agents_ready(self, queue: str) -> int: ...

    def calls_waiting(self, queue: str) -> int: ...


class ExpressionContext(Protocol):
    """Everything an expression may read: variables, local time, lists, holidays, queues."""

    def variable(self, name: str) -> Value: ...

    def local_now(self) -> datetime: ...

    def is_holiday(self, day: date, calendar: str | None) -> bool: ...

    @property
    def lists(self) -> ListLookup: ...

    @property
    def queues(self) -> QueueFigures: ...


# --- functions ----------------------------------------------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")

Checker = Callable[[Sequence[Value]], str | None]
"""Static check of the literal arguments (None for non-literals); returns a message or None."""


@dataclass(frozen=True, slots=True)
class Function:
    """A built-in: arity, static argument types, result type, and the implementation."""

    name: str
    params: tuple[str, ...]  # static types: "str", "num", "any"
    optional: int
    result: str
    impl: Callable[[ExpressionContext, list[Value]], Value]
    check: Checker | None = None


def _parse_hhmm(text: Value) -> time:
    if not isinstance(text, str) or not (match := _HHMM.fullmatch(text)):
        raise ValueError(f"{text!r} is not a time of day like '09:30'")
    return time(int(match.group(1)), int(match.group(2)))


def _check_times(args: Sequence[Value]) -> str | None:
    for arg in args:
        if arg is not None:
            try:
                _parse_hhmm(arg)
            except ValueError as exc:
                return str(exc)
    return None


def _check_weekdays(args: Sequence[Value]) -> str | None:
    for arg in args:
        if arg is not None and (not isinstance(arg, str) or arg.lower()[:3] not in WEEKDAYS
                                or len(arg) < 3):
            return f"{arg!r} is not a day of the week (mon, tue, wed, thu, fri, sat, sun)"
    return None


def _check_regex(args: Sequence[Value]) -> str | None:
    pattern = args[1] if len(args) > 1 else None
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as exc:
            return f"bad regular expression {pattern!r}: {exc}"
    return None


def _time_between(ctx: ExpressionContext, args: list[Value]) -> Value:
    start, end = _parse_hhmm(args[0]), _parse_hhmm(args[1])
    now = ctx.local_now().time().replace(second=0, microsecond=0, tzinfo=None)
    if start <= end:
        return start <= now < end
    return now >= start or now < end  # a range over midnight, e.g. 22:00-06:00


def _weekday_in(ctx: ExpressionContext, args: list[Value]) -> Value:
    days = [WEEKDAYS.index(_str(arg, "weekday_in").lower()[:3]) for arg in args]
    today = ctx.local_now().weekday()
    if len(days) == 1:
        return today == days[0]
    first, last = days
    if first <= last:
        return first <= today <= last
    return today >= first or today <= last  # wraps over the weekend, e.g. fri..mon


def _str(value: Value, function: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{function}() needs a string, got {type_name(value)}")
    if isinstance(value, int | float):
        return format_number(value)
    raise ValueError(f"{function}() needs a string, got {type_name(value)}")


def _len(_ctx: ExpressionContext, args: list[Value]) -> Value:
    value = args[0]
    if value is None:
        return 0
    if isinstance(value, str | list | dict):
        return len(value)
    raise ValueError(f"len() needs a string or a list, got {type_name(value)}")


def _matches(_ctx: ExpressionContext, args: list[Value]) -> Value:
    if args[0] is None:
        return False
    text = _str(args[0], "matches")
    pattern = _str(args[1], "matches")
    try:
        return re.search(pattern, text[:1000]) is not None
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc


def _number(_ctx: ExpressionContext, args: list[Value]) -> Value:
    value = args[0]
    if isinstance(value, bool) or value is None:
        raise ValueError(f"num() cannot convert {type_name(value)}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if re.fullmatch(r"-?\d+\.\d+", text):
            return float(text)
        raise ValueError(f"num() cannot convert {value!r}")
    raise ValueError(f"num() cannot convert {type_name(value)}")


def _list_tag(ctx: ExpressionContext, args: list[Value]) -> Value:
    tags = ctx.lists.tags(_str(args[0], "list_tag"), _str(args[1] or "", "list_tag"))
    return tags[0] if tags else ""


def _has_tag(ctx: ExpressionContext, args: list[Value]) -> Value:
    tags = ctx.lists.tags(_str(args[0], "has_tag"), _str(args[1] or "", "has_tag"))
    return _str(args[2], "has_tag") in tags


def _is_holiday(ctx: ExpressionContext, args: list[Value]) -> Value:
    calendar = _str(args[0], "is_holiday") if args else None
    return ctx.is_holiday(ctx.local_now().date(), calendar)


def _expected_wait(ctx: ExpressionContext, args: list[Value]) -> Value:
    wait = ctx.queues.expected_wait(_str(args[0], "queue_expected_wait"))
    return None if wait is None else float(wait)


def _default(_ctx: ExpressionContext, args: list[Value]) -> Value:
    return args[1] if args[0] is None or args[0] == "" else args[0]


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    Function("in_list", ("str", "any"), 0, "bool",
             lambda c, a: c.lists.in_list(_str(a[0], "in_list"), _str(a[1] or "", "in_list"))),
    Function("list_tag", ("str", "any"), 0, "str", _list_tag),
    Function("has_tag", ("str", "any", "str"), 0, "bool", _has_tag),
    Function("time_between", ("str", "str"), 0, "bool", _time_between, _check_times),
    Function("weekday_in", ("str", "str"), 1, "bool", _weekday_in, _check_weekdays),
    Function("weekday", (), 0, "str", lambda c, a: WEEKDAYS[c.local_now().weekday()]),
    Function("hour", (), 0, "num", lambda c, a: c.local_now().hour),
    Function("time", (), 0, "str", lambda c, a: c.local_now().strftime("%H:%M")),
    Function("date", (), 0, "str", lambda c, a: c.local_now().date().isoformat()),
    Function("is_holiday", ("str",), 1, "bool", _is_holiday),
    Function("queue_expected_wait", ("str",), 0, "num", _expected_wait),
    Function("queue_agents_ready", ("str",), 0, "num",
             lambda c, a: int(c.queues.agents_ready(_str(a[0], "queue_agents_ready")))),
    Function("queue_calls_waiting", ("str",), 0, "num",
             lambda c, a: int(c.queues.calls_waiting(_str(a[0], "queue_calls_waiting")))),
    Function("matches", ("any", "str"), 0, "bool", _matches, _check_regex),
    Function("len", ("any",), 0, "num", _len),
    Function("str", ("any",), 0, "str", lambda c, a: to_text(a[0])),
    Function("num", ("any",), 0, "num", _number),
    Function("lower", ("str",), 0, "str", lambda c, a: _str(a[0], "lower").lower()),
    Function("upper", ("str",), 0, "str", lambda c, a: _str(a[0], "upper").upper()),
    Function("starts_with", ("str", "str"), 0, "bool",
             lambda c, a: _str(a[0] or "", "starts_with").startswith(_str(a[1], "starts_with"))),
    Function("default", ("any", "any"), 0, "any", _default),
)}


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "record"
    return type(value).__name__


def format_number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)



def to_text(value: Value) -> str:
    """How a value reads when put into text: null is empty, 5.0 is "5", true is "true"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
