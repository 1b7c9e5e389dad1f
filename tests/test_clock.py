"""The virtual clock: timers fire in order as time passes, and sleepers wake on time; the
timer queue fires its timers as one clock timer per queue would not tell apart."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import uvloop

from parley.clock import MonotonicClock, TimerHandle, TimerQueue, VirtualClock


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


class CountingClock(VirtualClock):
    """A virtual clock that counts the timers asked of it."""

    timers_set = 0

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        self.timers_set += 1
        return super().call_later(delay, callback)


def test_timer_queue_fires_each_timer_at_its_time_with_one_clock_timer_per_queue() -> None:
    clock = CountingClock()
    fired: list[tuple[str, str, float]] = []

    def note(name: str, what: str) -> None:
        fired.append((name, what, clock.monotonic()))

    queue = TimerQueue(clock, note)
    queue.call_at("J", 32.0, "a")
    clock.advance(1.0)
    queue.call_at("J", 33.0, "b")
    queue.call_at("linger", 40.0, "c")
    cancelled = queue.call_at("J", 35.0, "never")
    assert clock.timers_set == 2  # one for each queue's head, not one per timer
    cancelled.cancel()
    clock.advance(31.5)
    assert fired == [("J", "a", 32.0)]
    clock.advance(10.0)
    assert fired == [("J", "a", 32.0), ("J", "b", 33.0), ("linger", "c", 40.0)]
    assert len(queue) == 0
    assert clock.next_deadline() is None
    assert clock.timers_set == 3  # re-armed for "b" only: none for the cancelled one


def test_timer_queue_keeps_time_order_for_a_timer_set_out_of_order_and_after_a_failure(
        ) -> None:
    clock = VirtualClock()
    fired: list[tuple[str, float]] = []

    def note(_: str, what: str) -> None:
        if what == "fails":
            raise RuntimeError("a callback that fails")
        fired.append((what, clock.monotonic()))

    queue = TimerQueue(clock, note)
    queue.call_at("K", 10.0, "fails")
    queue.call_at("K", 10.0, "late")
    queue.call_at("K", 5.0, "early")  # earlier than the queue's last: its own timer
    queue.call_at("K", 12.0, "last")
    with pytest.raises(RuntimeError):
        clock.advance(11.0)
    assert fired == [("early", 5.0)]
    clock.advance(0.0)  # the queue re-armed itself: what came after the failure still runs
    clock.advance(2.0)
    assert fired == [("early", 5.0), ("late", 10.0), ("last", 12.0)]


def test_timer_queue_closed_runs_nothing_and_takes_new_timers() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    queue = TimerQueue(clock, lambda _, what: fired.append(what))
    queue.call_at("M", 3.0, "dropped")
    queue.close()
    clock.advance(5.0)
    assert fired == []
    queue.call_at("M", 6.0, "after")
    clock.advance(5.0)
    assert fired == ["after"]
