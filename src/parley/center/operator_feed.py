"""The operators' rows as changes of their fields, for the supervisor console.

A console shows every operator of its scope: state and reason, since when, the call they are
on and since when. Asking the node for the rows again after each state change costs a floor of
1,400 operators dearly, so :class:`OperatorFeed` publishes only what changed, keyed by
operator, with the changed fields only (:class:`parley.events.OperatorRowChanged`, topic
``operator``; the event stream scopes it to a supervisor's teams like any operator event).
Its picture comes from the ACD's state in memory and the live calls, never from the store.

:func:`field_changes` is the pure part. The feed takes a new picture when call, queue or
operator events arrive, at most every ``interval_s``, plus a slow refresh, as the call feed
(:mod:`parley.center.call_feed`) does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

import structlog

from parley import events as ev
from parley.bus import Envelope, LiveBus
from parley.center.call_feed import INTERVAL_S, MONITOR_LEG, REFRESH_S, WATCHED_TOPICS
from parley.center.ports import LiveCall, NotRunning, OperatorNow
from parley.clock import Clock

log = structlog.get_logger("parley.center.operator_feed")

Fields = dict[str, str | None]
#: Answered calls and talk time (seconds) today per operator.
Today = dict[str, tuple[int, float]]
#: The topic of the feed's changes: no viewer subscribed to it, no picture is taken.
TOPIC = "operator"
#: How often answered calls and talk time today are read from the store.
TODAY_S = 5.0
#: What an operator the ACD no longer knows shows.
SIGNED_OUT: Fields = {"state": "logged_out", "reason": "", "since": None, "call": "",
                      "call_since": None}


def iso(moment: datetime) -> str:
    """The moment as the console's rows carry it (UTC, ISO 8601)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def call_text(call: LiveCall) -> str:
    """An operator's call as the console shows it: queue · caller."""
    return f"{call.queue or '–'} · {call.caller}"


def operator_fields(now: OperatorNow | None, call: LiveCall | None,
                    started: datetime | None) -> Fields:
    """What the console shows of one operator: the ACD's ``now`` (None: unknown to it, so
    signed out), the ``call`` they are on, and when their state began (``started``; none
    shown while signed out)."""
    state = now.state if now is not None else "logged_out"
    return {
        "state": state, "reason": now.reason if now is not None else "",
        "since": iso(started) if started is not None and state != "logged_out" else None,
        "call": call_text(call) if call is not None else "",
        "call_since": iso(call.answered_at or call.started_at) if call is not None else None,
    }


def field_changes(before: Mapping[str, Fields], now: Mapping[str, Fields]
                  ) -> list[ev.OperatorRowChanged]:
    """The changes from ``before`` to ``now``: every field of an operator new to the picture,
    the changed fields of the others, and an operator gone from it as signed out."""
    changes: list[ev.OperatorRowChanged] = []
    for operator, fields in now.items():
        old = before.get(operator)
        changed = dict(fields) if old is None else {
            name: value for name, value in fields.items() if old.get(name) != value}
        if changed:
            changes.append(ev.OperatorRowChanged(operator, changed))
    for operator, old in before.items():
        if operator not in now:
            gone = {name: value for name, value in SIGNED_OUT.items() if old.get(name) != value}
            if gone:
                changes.append(ev.OperatorRowChanged(operator, gone))
    return changes


class OperatorFeed:
    """Publishes the changes of the operators' rows (from the ACD's ``operators`` and the
    live ``calls``; with ``today``, their answered calls and talk time today, read at most
    every ``today_s``) on ``bus``."""

    def __init__(self, bus: LiveBus, operators: Callable[[], list[OperatorNow]],
                 calls: Callable[[], list[LiveCall]], clock: Clock, *,
                 today: Callable[[], Awaitable[Today]] | None = None,
                 interval_s: float = INTERVAL_S, refresh_s: float = REFRESH_S,
                 today_s: float = TODAY_S) -> None:
        self.bus = bus
        self.operators = operators
        self.calls = calls
        self.clock = clock
        self.interval_s = interval_s
        self.refresh_s = refresh_s
        self.today = today
        self.today_s = today_s
        self.figures: Today = {}
        self._figures_at: float | None = None
        self.rows: dict[str, Fields] = {}
        self._raw: dict[str, tuple[object, ...]] = {}
        self.published = 0  # changes published since the start
        # wall time = monotonic reading + this (fixed once, so that "since" stays put)
        self._wall = clock.utcnow() - timedelta(seconds=clock.monotonic())

    def picture(self) -> dict[str, Fields]:
        """Every operator the ACD knows, as the console shows them now."""
        try:
            operators = self.operators()
        except NotRunning:
            return {}
        try:
            calls = self.calls()
        except NotRunning:
            calls = []
        on_call = {call.operator: call for call in calls
                   if call.operator and not call.id.startswith(MONITOR_LEG)}
        rows: dict[str, Fields] = {}
        raw: dict[str, tuple[object, ...]] = {}
        for now in operators:
            call = on_call.get(now.operator)
            figures = self.figures.get(now.operator, (0, 0.0)) if self.today else None
            # what the row is made of: unchanged, the row last made is reused (a floor of
            # 1,400 operators is pictured several times a second, most of them unchanged)
            key = (now.state, now.reason, now.since, call and call.id, call and call.caller,
                   call and call.queue, call and (call.answered_at or call.started_at),
                   figures)
            raw[now.operator] = key
            if self._raw.get(now.operator) == key and now.operator in self.rows:
                rows[now.operator] = self.rows[now.operator]
                continue
            fields = operator_fields(
                now, call, (self._wall + timedelta(seconds=now.since)).replace(microsecond=0))
            if figures is not None:
                fields["calls_today"] = str(figures[0])
                fields["talk_today_s"] = str(int(figures[1]))
            rows[now.operator] = fields
        self._raw = raw
        return rows

    async def read_today(self) -> None:
        """Read today's figures again if ``today_s`` has passed since the last read."""
        now = self.clock.monotonic()
        if self.today is None or (self._figures_at is not None
                                  and now - self._figures_at < self.today_s):
            return
        self._figures_at = now
        try:
            self.figures = await self.today()
        except Exception:  # the store away for a moment: the figures shown stay
            log.exception("operator_feed_today_failed")

    def refresh(self) -> list[ev.OperatorRowChanged]:
        """Take a new picture of the operators and publish what changed."""
        now = self.picture()
        changes = field_changes(self.rows, now)
        self.rows = now
        for change in changes:
            self.bus.publish(change)
        self.published += len(changes)
        return changes

    def _may_change_rows(self, envelope: Envelope) -> bool:
        return envelope.topic in WATCHED_TOPICS and self.bus.watched(TOPIC) and not \
            isinstance(envelope.event, ev.LiveCallChanged | ev.OperatorRowChanged)

    async def run(self) -> None:
        """Follow the events until cancelled: after one, wait ``interval_s`` (what else
        arrives meanwhile goes out in the same refresh), then refresh. While no viewer
        watches the topic nothing is pictured and nothing read from the store."""
        async with self.bus.subscribe(self._may_change_rows, size=1) as events:
            if self.bus.watched(TOPIC):
                await self.read_today()
                self.refresh()
            while True:
                with contextlib.suppress(TimeoutError):  # none: the slow refresh
                    await asyncio.wait_for(events.get(), self.refresh_s)
                if not self.bus.watched(TOPIC):
                    continue
                await self.clock.sleep(self.interval_s)
                while events.backlog:
                    events.queue.get_nowait()
                await self.read_today()
                try:
                    self.refresh()
                except Exception:  # a broken picture must not stop the console's feed
                    log.exception("operator_feed_refresh_failed")
