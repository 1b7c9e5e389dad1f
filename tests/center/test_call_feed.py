"""The live calls as row changes (the supervisor console's feed): what is added, changed and
removed between two pictures of the calls in progress."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import UTC, datetime

from parley.center.call_feed import row_changes
from parley.center.ports import LiveCall

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def call(call_id: str, state: str = "queued", **more: object) -> LiveCall:
    return LiveCall(id=call_id, direction="inbound", caller="+4930111", called="602",
                    state=state, started_at=START, queue="support", **more)  # type: ignore[arg-type]


def test_only_the_rows_that_changed_are_sent_keyed_by_call_id() -> None:
    before, first = row_changes({}, [call("a"), call("b"), call("mon-1", "talking")])
    assert [(c.call_id, c.change) for c in first] == [("a", "added"), ("b", "added")]
    assert "mon-1" not in before  # a supervisor's own monitoring leg is no call to list

    answered = call("b", "talking", operator="1001", answered_at=START)
    rows, second = row_changes(before, [call("a"), answered, call("c")])
    assert [(c.call_id, c.change) for c in second] == [("b", "changed"), ("c", "added")]
    (moved, _added) = second
    assert (moved.state, moved.operator, moved.was_operator, moved.was_queue) == (
        "talking", "1001", "", "support")

    # a recording paused changes nothing a console shows; a call gone is removed
    paused = replace(answered, recording_id="r1", recording_paused=True)
    _rows, third = row_changes(rows, [paused, call("c")])
    assert [(c.call_id, c.change, c.operator) for c in third] == [("a", "removed", "")]


async def test_the_feed_pictures_the_calls_only_while_a_viewer_watches() -> None:
    """Nobody on the console, no picture of the calls (a busy floor pays for none); the
    first change after a viewer subscribes is sent, the catch-up included."""
    from parley.bus import LiveBus
    from parley.center.call_feed import CallFeed
    from parley.clock import MonotonicClock
    from parley.events import CallQueued, LiveCallChanged

    bus = LiveBus(MonotonicClock())
    calls = [call("a")]
    pictures = 0

    def source() -> list[LiveCall]:
        nonlocal pictures
        pictures += 1
        return list(calls)

    feed = CallFeed(bus, source, MonotonicClock(), interval_s=0.01, refresh_s=60)
    task = asyncio.create_task(feed.run())
    try:
        async with bus.subscribe(lambda e: isinstance(e.event, LiveCallChanged)) as seen:
            await asyncio.sleep(0.05)
            bus.publish(CallQueued("a", "support", 1, 0.0))
            await asyncio.sleep(0.05)
            assert (pictures, seen.backlog) == (0, 0)  # nobody watches the calls
            async with bus.subscribe(watching=frozenset({"call"})):
                calls.append(call("b"))
                bus.publish(CallQueued("b", "support", 2, 0.0))
                change = await asyncio.wait_for(seen.get(), 5)
                await asyncio.sleep(0.05)
                assert pictures == 1
                assert {change.event.call_id} | {  # type: ignore[attr-defined]
                    seen.queue.get_nowait().event.call_id  # type: ignore[attr-defined]
                    for _ in range(seen.backlog)} == {"a", "b"}
            assert not bus.watched("call")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
