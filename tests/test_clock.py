"""The virtual clock: timers fire in order as time passes, and sleepers wake on time."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import uvloop

from parley.clock import MonotonicClock, VirtualClock


def test_timers_fire_in_time_order_with_ties_in_registration_order() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    clock.call_at(5.0, lambda: fired.append("b"))
    clock.call_at(1.0, lambda: fired.append("a"))
    clock.call_at(5.0, lambda: fired.append("c"))
    assert clock.advance(4.0) == 1
    assert fired == ["a"]
    assert clock.monotonic() == 4.0
    clock.advance(1.0)
    assert fired == ["a", "b", "c"]


def test_cancelled_timer_never_fires_and_callbacks_may_schedule_more() -> None:
    clock = VirtualClock()
    fired: list[float] = []
    handle = clock.call_later(2.0, lambda: fired.append(-1))
    handle.cancel()
    clock.call_later(1.0, lambda: clock.call_later(1.0, lambda: fired.append(clock.monotonic())))
    clock.advance(10.0)
    assert fired == [2.0]
    assert clock.next_deadline() is None


def test_wall_time_follows_monotonic_time() -> None:
    epoch = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    clock = VirtualClock(wall_epoch=epoch)
    clock.advance(90.0)
    assert clock.utcnow() == epoch + timedelta(seconds=90)
    assert clock.wall_to_monotonic(epoch + timedelta(hours=1)) == 3600.0


def test_time_never_goes_backwards() -> None:
    with pytest.raises(ValueError, match="backwards"):
        VirtualClock().advance(-1)


async def test_sleep_wakes_when_clock_is_advanced() -> None:
    clock = VirtualClock()
    task = asyncio.create_task(clock.sleep(30.0))
    await asyncio.sleep(0)
    clock.advance(29.9)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(0.1)
    await asyncio.sleep(0)
    assert task.done()


async def test_autojump_sleep_takes_no_real_time() -> None:
    clock = VirtualClock(autojump=True)
    real = MonotonicClock()
    started = real.monotonic()
    await clock.sleep(3600.0)
    assert clock.monotonic() == 3600.0
    assert real.monotonic() - started < 5.0


def test_monotonic_clock_reports_utc() -> None:
    assert MonotonicClock().utcnow().tzinfo is UTC


def test_short_waits_on_the_real_loop_last_their_time_instead_of_spinning() -> None:
    """The node's loop (uvloop) counts timers in whole milliseconds: a 0.4 ms wait used to
    end at the next turn of the loop, so the media ticker, waiting for its next deadline,
    went round hundreds of times for nothing before each tick."""
    clock = MonotonicClock()

    async def deadline_waits() -> int:
        sleeps = 0
        for _ in range(50):
            deadline = clock.monotonic() + 0.0004
            while (delay := deadline - clock.monotonic()) > 0:
                sleeps += 1
                await clock.sleep(delay)
        return sleeps

    async def timer() -> float:
        fired = asyncio.Event()
        started = clock.monotonic()
        clock.call_later(0.0004, fired.set)
        await fired.wait()
        return clock.monotonic() - started

    assert uvloop.run(deadline_waits()) <= 2 * 50
    assert uvloop.run(timer()) >= 0.0004
