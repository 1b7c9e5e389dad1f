"""What a flow run may read besides its own variables, injected and read-only.

Number lists (blacklist, VIP, customers with tags), live queue figures from the ACD, holiday
calendars, and other flows (for a transfer to a flow). The in-memory implementations here are
plain data holders that the composition root fills from the store and the ACD (and that unit
tests fill by hand); the interpreter only calls their query methods, so it stays pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from parley.ivr.expr import ListLookup, QueueFigures
from parley.ivr.model import Flow


class HolidayCalendar(Protocol):
    """Named holiday calendars (site-wide); a flow's own ``holidays`` are checked first."""

    def is_holiday(self, day: date, calendar: str | None) -> bool: ...


class NumberLists:
    """Lists of numbers, each number with optional tags: ``{"vip": {"+3361...": ["gold"]}}``."""

    def __init__(self, lists: Mapping[str, Mapping[str, Sequence[str]] | Iterable[str]]
                 | None = None) -> None:
        self._lists: dict[str, dict[str, tuple[str, ...]]] = {}
        for name, entries in (lists or {}).items():
            if isinstance(entries, Mapping):
                self._lists[name] = {number: tuple(tags) for number, tags in entries.items()}
            else:
                self._lists[name] = {number: () for number in entries}

    def set(self, list_name: str, number: str, tags: Sequence[str] = ()) -> None:
        self._lists.setdefault(list_name, {})[number] = tuple(tags)

    def remove(self, list_name: str, number: str) -> None:
        self._lists.get(list_name, {}).pop(number, None)

    def in_list(self, list_name: str, value: str) -> bool:
        return value in self._lists.get(list_name, {})

    def tags(self, list_name: str, value: str) -> Sequence[str]:
        return self._lists.get(list_name, {}).get(value, ())


class _ListMatch(Protocol):
    @property
    def blocked(self) -> bool: ...

    @property
    def treatment(self) -> str: ...

    @property
    def vip_priority(self) -> int: ...

    @property
    def tags(self) -> frozenset[str]: ...


class MatchingLists(Protocol):
    """The ACD's number lists (``parley.acd.lists.NumberLists``): one ``match`` per number."""

    def match(self, number: str) -> _ListMatch: ...


class SiteListsView:
    """Flows' view of the site's number lists kept by the ACD.

    ``in_list("blacklist", n)`` is the blacklist, ``in_list("vip", n)`` the VIP list, any other
    name a custom tag. ``tags(list, n)`` gives, for a number on that list, its custom tags (for
    the blacklist, its treatment first), so ``list_tag("blacklist", ani)`` reads the treatment.
    """

    def __init__(self, lists: MatchingLists) -> None:
        self._lists = lists

    def in_list(self, list_name: str, value: str) -> bool:
        match = self._lists.match(value)
        if list_name == "blacklist":
            return match.blocked
        if list_name == "vip":
            return match.vip_priority > 0
        return list_name in match.tags

    def tags(self, list_name: str, value: str) -> Sequence[str]:
        if not self.in_list(list_name, value):
            return ()
        match = self._lists.match(value)
        first = (match.treatment,) if list_name == "blacklist" and match.treatment else ()
        return first + tuple(sorted(match.tags))


@dataclass(frozen=True, slots=True)
class QueueFigure:
    expected_wait: float | None = None
    agents_ready: int = 0
    calls_waiting: int = 0


class QueueSnapshot:
    """Queue figures as last published by the ACD; unknown queues read as empty."""

    def __init__(self, figures: Mapping[str, QueueFigure] | None = None) -> None:
        self._figures = dict(figures or {})

    def update(self, queue: str, figure: QueueFigure) -> None:
        self._figures[queue] = figure

    def expected_wait(self, queue: str) -> float | None:
        return self._figures.get(queue, QueueFigure()).expected_wait

    def agents_ready(self, queue: str) -> int:
        return self._figures.get(queue, QueueFigure()).agents_ready

    def calls_waiting(self, queue: str) -> int:
        return self._figures.get(queue, QueueFigure()).calls_waiting


class HolidayCalendars:
    """Named calendars of dates; ``None`` asks the default calendar (named ``default``)."""

    def __init__(self, calendars: Mapping[str, Iterable[date]] | None = None) -> None:
        self._calendars = {name: frozenset(days) for name, days in (calendars or {}).items()}

    def is_holiday(self, day: date, calendar: str | None) -> bool:
        return day in self._calendars.get(calendar or "default", frozenset())


FlowResolver = Callable[[str], Flow | None]
"""The active flow of a name (for ``transfer: to: flow``), or None."""


def _no_flows(_name: str) -> Flow | None:
    return None


@dataclass(frozen=True, slots=True)
class IvrEnvironment:
    """Everything a flow run reads from outside; defaults are empty."""

    lists: ListLookup = field(default_factory=NumberLists)
    queues: QueueFigures = field(default_factory=QueueSnapshot)
    holidays: HolidayCalendar = field(default_factory=HolidayCalendars)
    flows: FlowResolver = _no_flows
