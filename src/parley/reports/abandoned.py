"""The abandoned calls and their callbacks report (pure): each caller who hung up waiting in a
queue, and whether and when the customer was reached again.

A customer is **reached again** by the first of these after the abandoned call ended, on the
caller's number: a callback completed (the callback's call answered), a later inbound call
from the number that an operator answered, or an outbound call or campaign attempt to the
number that a person answered. The delay is from the abandoned call's end to that answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

Row = dict[str, Any]

HOW = ("callback", "inbound", "outbound")
"""How a customer was reached again: a completed callback, a later inbound call answered, an
outbound call (or campaign attempt) answered."""


class Abandoned(NamedTuple):
    """One abandoned call: the caller hung up while waiting in ``queue``."""

    id: str
    started_at: datetime
    ended_at: datetime
    caller: str
    queue: str
    wait_s: float


class Contact(NamedTuple):
    """A moment the customer at ``number`` was reached (``how`` is one of :data:`HOW`;
    ``call_id`` the call record it was reached by)."""

    number: str
    at: datetime
    how: str
    call_id: str | None = None


class Request(NamedTuple):
    """A callback requested for ``number`` at ``at``."""

    number: str
    at: datetime


def abandoned_rows(calls: Iterable[Abandoned], contacts: Iterable[Contact],
                   requests: Iterable[Request] = ()) -> list[Row]:
    """One row per abandoned call, oldest first: the call, whether a callback was requested
    for the number after it, and the first time the customer was reached again (``reached``,
    ``reached_at``, ``reached_by``, ``reached_call``, ``delay_s``)."""
    by_number: dict[str, list[Contact]] = {}
    for contact in contacts:
        by_number.setdefault(contact.number, []).append(contact)
    asked: dict[str, list[datetime]] = {}
    for request in requests:
        asked.setdefault(request.number, []).append(request.at)
    rows = []
    for call in sorted(calls, key=lambda c: (c.started_at, c.id)):
        later = _first(c for c in by_number.get(call.caller, ())
                       if c.at >= call.ended_at and c.call_id != call.id)
        rows.append({
            "call": call.id, "started_at": call.started_at.isoformat(),
            "caller": call.caller, "queue": call.queue, "wait_s": round(call.wait_s, 3),
            "callback_requested": any(at >= call.started_at
                                      for at in asked.get(call.caller, ())),
            "reached": later is not None,
            "reached_at": later.at.isoformat() if later else None,
            "reached_by": later.how if later else None,
            "reached_call": later.call_id if later else None,
            "delay_s": round((later.at - call.ended_at).total_seconds(), 3) if later else None,
        })
    return rows


def _first(contacts: Iterable[Contact]) -> Contact | None:
    ordered: Sequence[Contact] = sorted(contacts, key=lambda c: (c.at, HOW.index(c.how)))
    return ordered[0] if ordered else None


def summary(rows: Sequence[Row]) -> Row:
    """The report's totals: abandoned calls, those reached again (each way), and the mean
    delay to reach them."""
    reached = [row for row in rows if row["reached"]]
    delays = [row["delay_s"] for row in reached]
    return {"abandoned": len(rows), "reached": len(reached),
            **{f"reached_by_{how}": sum(1 for row in reached if row["reached_by"] == how)
               for how in HOW},
            "callbacks_requested": sum(1 for row in rows if row["callback_requested"]),
            "mean_delay_s": round(sum(delays) / len(delays), 3) if delays else None}
