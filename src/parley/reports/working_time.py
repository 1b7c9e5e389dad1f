"""The working time report (pure): per operator, the time signed in, ready, on calls, in
after-call work and not ready by reason code over a period, with occupancy and utilisation
from :mod:`parley.kpi`; the same summed per location (where they work: ``remote`` or a named
site) and for all the operators shown (a team's total with ``team=``).

The seconds are the store's (:meth:`parley.store.reports.ReportRepository.state_seconds`):
whole intervals from the aggregates, the edges of the period exactly from the state log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from parley import kpi
from parley.reports.intervals import NOT_WORKING
from parley.reports.tables import BUSY_STATES, STATES

Row = dict[str, Any]
StateSeconds = Mapping[tuple[str, str, str], float]
"""Seconds per (operator, state, reason)."""
UNSET = "-"
"""The location of an operator whose user record names none."""


def figures(seconds: Mapping[tuple[str, str], float]) -> Row:
    """One operator's (or a group's summed) time by state and reason as figures."""
    by_state = dict.fromkeys(STATES, 0.0)
    by_reason: dict[str, float] = {}
    for (state, reason), value in seconds.items():
        by_state[state] = by_state.get(state, 0.0) + value
        if state == "not_ready":
            by_reason[reason or UNSET] = by_reason.get(reason or UNSET, 0.0) + value
    busy = sum(by_state[state] for state in BUSY_STATES)
    logged_in = sum(by_state.values())
    return {
        "logged_in_s": round(logged_in, 3),
        "ready_s": round(by_state["ready"], 3),
        "on_calls_s": round(sum(by_state[state] for state in BUSY_STATES
                                if state != "wrap_up"), 3),
        "wrap_up_s": round(by_state["wrap_up"], 3),
        "not_ready_s": round(by_state["not_ready"], 3),
        "occupancy": round(kpi.occupancy(busy, by_state["ready"]), 4),
        "utilisation": round(kpi.utilisation(busy, logged_in), 4),
        "state_s": {state: round(value, 3) for state, value in by_state.items()},
        "not_ready_s_by_reason": {reason: round(value, 3)
                                  for reason, value in sorted(by_reason.items())},
    }


def working_time(states: StateSeconds, locations: Mapping[str, str | None],
                 operators: Iterable[str] | None = None) -> Row:
    """``rows``: one per operator with working time (of ``operators`` if given), sorted;
    ``locations``: the same summed per location; ``total``: all of them summed."""
    wanted = None if operators is None else set(operators)
    own: dict[str, dict[tuple[str, str], float]] = {}
    for (operator, state, reason), value in states.items():
        if state == NOT_WORKING or (wanted is not None and operator not in wanted):
            continue
        mine = own.setdefault(operator, {})
        mine[(state, reason)] = mine.get((state, reason), 0.0) + value
    by_location: dict[str, dict[tuple[str, str], float]] = {}
    total: dict[tuple[str, str], float] = {}
    rows = []
    for operator in sorted(own):
        location = locations.get(operator) or UNSET
        rows.append({"operator": operator, "location": location, **figures(own[operator])})
        for group in (by_location.setdefault(location, {}), total):
            for key, value in own[operator].items():
                group[key] = group.get(key, 0.0) + value
    return {"rows": rows,
            "locations": [{"location": location, "operators": sum(
                1 for row in rows if row["location"] == location), **figures(seconds)}
                for location, seconds in sorted(by_location.items())],
            "total": {"operators": len(rows), **figures(total)}}
