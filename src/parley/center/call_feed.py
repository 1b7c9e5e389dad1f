"""The calls in progress as row changes, for the supervisor console.

A console shows every call in progress (queue, operator, caller, state, since when). Sending
the whole list on every event costs a 1,000-call floor dearly on the node and in the page, so
:class:`CallFeed` publishes only what changed, keyed by call id: a call added, changed (its
queue, operator or state…) or removed (:class:`parley.events.LiveCallChanged`, topic
``call``). The event stream (``/api/events``) scopes each change to the supervisor's teams,
and the page patches only those rows.

:func:`row_changes` is the pure part: the rows before and now in, the changes out. The feed
takes a new picture when call, queue or operator events arrive, at most every
``interval_s`` (changes that arrive together go out together), plus a slow refresh that
catches anything no event announced.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping

import structlog

from parley import events as ev
from parley.bus import Envelope, LiveBus
from parley.center.ports import LiveCall, NotRunning
from parley.clock import Clock

log = structlog.get_logger("parley.center.call_feed")

#: The id prefix of a supervisor's own leg into a call they monitor (not a call to list).
MONITOR_LEG = "mon-"
#: Topics whose events may change a call's row.
WATCHED_TOPICS = frozenset({"call", "queue", "operator"})
#: The topic of the feed's changes: no viewer subscribed to it, no picture is taken.
TOPIC = "call"
INTERVAL_S = 0.2
REFRESH_S = 10.0


def shown(call: LiveCall) -> tuple[object, ...]:
    """What a console shows of ``call``: a change elsewhere (a recording paused) is none."""
    return (call.direction, call.caller, call.called, call.state, call.started_at,
            call.queue or "", call.operator or "", call.answered_at)


def _notice(call: LiveCall, change: str, was: LiveCall | None = None) -> ev.LiveCallChanged:
    return ev.LiveCallChanged(
        call_id=call.id, change=change, direction=call.direction, caller=call.caller,
        called=call.called, state=call.state, started_at=call.started_at,
        queue=call.queue or "", operator=call.operator or "", answered_at=call.answered_at,
        was_queue=(was.queue or "") if was is not None else "",
        was_operator=(was.operator or "") if was is not None else "")


def row_changes(before: Mapping[str, LiveCall], now: Iterable[LiveCall]
                ) -> tuple[dict[str, LiveCall], list[ev.LiveCallChanged]]:
    """The rows ``now`` (monitoring legs left out) and the changes from ``before`` to them:
    added and changed in the order of ``now``, then removed."""
    rows: dict[str, LiveCall] = {}
    changes: list[ev.LiveCallChanged] = []
    for call in now:
        if call.id.startswith(MONITOR_LEG):
            continue
        rows[call.id] = call
        old = before.get(call.id)
        if old is None:
            changes.append(_notice(call, "added"))
        elif shown(old) != shown(call):
            changes.append(_notice(call, "changed", old))
    changes.extend(_notice(call, "removed") for key, call in before.items() if key not in rows)
    return rows, changes


class CallFeed:
    """Publishes the changes of the live calls (from ``source``) on ``bus``."""

    def __init__(self, bus: LiveBus, source: Callable[[], list[LiveCall]], clock: Clock, *,
                 interval_s: float = INTERVAL_S, refresh_s: float = REFRESH_S) -> None:
        self.bus = bus
        self.source = source
        self.clock = clock
        self.interval_s = interval_s
        self.refresh_s = refresh_s
        self.rows: dict[str, LiveCall] = {}
        self.published = 0  # changes published since the start

    def refresh(self) -> list[ev.LiveCallChanged]:
        """Take a new picture of the calls and publish what changed."""
        try:
            now = self.source()
        except NotRunning:
            now = []
        self.rows, changes = row_changes(self.rows, now)
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
        watches the topic nothing is pictured; the first refresh after one arrives sends
        what changed meanwhile (a console loads the whole list as it subscribes anyway)."""
        async with self.bus.subscribe(self._may_change_rows, size=1) as events:
            if self.bus.watched(TOPIC):
                self.refresh()
            while True:
                with contextlib.suppress(TimeoutError):  # none: the slow refresh
                    await asyncio.wait_for(events.get(), self.refresh_s)
                if not self.bus.watched(TOPIC):
                    continue
                await self.clock.sleep(self.interval_s)
                while events.backlog:
                    events.queue.get_nowait()
                try:
                    self.refresh()
                except Exception:  # a broken picture must not stop the console's feed
                    log.exception("call_feed_refresh_failed")
