"""Call-control waits time out on the injected clock (a virtual one in these tests), and a
channel's signals wake every wait that races them."""

from __future__ import annotations

import asyncio

import pytest

from parley.clock import VirtualClock
from parley.telephony.channel import Signal, until


async def test_a_wait_ends_when_virtual_time_runs_out() -> None:
    clock = VirtualClock()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(until(clock, (), 30.0, (never,)))
    await asyncio.sleep(0)
    clock.advance(29.9)
    await asyncio.sleep(0)
    assert not waiting.done()
    clock.advance(0.2)
    await asyncio.wait_for(waiting, 1.0)  # real time: a guard, not the timeout under test
    assert not never.done()
    assert clock.next_deadline() is None  # nothing left scheduled


async def test_a_wait_ends_at_once_when_the_event_comes_first() -> None:
    clock = VirtualClock()
    event = asyncio.Event()
    happened = asyncio.ensure_future(event.wait())
    waiting = asyncio.ensure_future(until(clock, (), 30.0, (happened,)))
    await asyncio.sleep(0)
    event.set()
    await asyncio.wait_for(waiting, 1.0)
    assert happened.done()
    assert clock.next_deadline() is None  # the timeout was cancelled
    assert clock.monotonic() == 0.0


async def test_no_limit_waits_for_the_event_only() -> None:
    clock = VirtualClock()
    event = asyncio.Event()
    happened = asyncio.ensure_future(event.wait())
    waiting = asyncio.ensure_future(until(clock, (), None, (happened,)))
    await asyncio.sleep(0)
    assert clock.next_deadline() is None
    clock.advance(3600.0)
    await asyncio.sleep(0)
    assert not waiting.done()
    event.set()
    await asyncio.wait_for(waiting, 1.0)


async def test_a_signal_wakes_every_wait_racing_it_and_the_timers_go() -> None:
    clock = VirtualClock()
    answered, ended, other = Signal(), Signal(), Signal()
    ringing = asyncio.ensure_future(until(clock, (answered, ended), 30.0))
    watching = asyncio.ensure_future(until(clock, (ended, other), None))
    unrelated = asyncio.ensure_future(until(clock, (other,), None))
    await asyncio.sleep(0)
    ended.set()
    await asyncio.wait_for(asyncio.gather(ringing, watching), 1.0)
    assert not unrelated.done()
    assert clock.next_deadline() is None  # the 30 s limit was cancelled
    other.set()
    await asyncio.wait_for(unrelated, 1.0)


async def test_a_wait_on_a_set_signal_returns_at_once_and_schedules_nothing() -> None:
    clock = VirtualClock()
    ended = Signal()
    ended.set()
    ended.set()  # a second hang-up report changes nothing
    await asyncio.wait_for(until(clock, (ended,), 30.0), 1.0)
    await asyncio.wait_for(until(None, (ended,), None), 1.0)
    assert clock.next_deadline() is None


async def test_a_wait_races_a_signal_with_futures_and_a_time_limit() -> None:
    clock = VirtualClock()
    ended = Signal()
    digit: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(until(clock, (ended,), 5.0, (digit,)))
    await asyncio.sleep(0)
    digit.set_result("5")
    await asyncio.wait_for(waiting, 1.0)
    assert not ended.is_set()
    timing_out = asyncio.ensure_future(until(clock, (ended,), 5.0))
    await asyncio.sleep(0)
    clock.advance(5.1)
    await asyncio.wait_for(timing_out, 1.0)
    assert not ended.is_set()


async def test_a_cancelled_wait_leaves_the_signal_working_for_the_others() -> None:
    ended = Signal()
    gone = asyncio.ensure_future(until(None, (ended,), None))
    staying = asyncio.ensure_future(until(None, (ended,), None))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    assert gone.cancelled()
    ended.set()
    await asyncio.wait_for(staying, 1.0)


async def test_a_time_limit_needs_a_clock() -> None:
    with pytest.raises(ValueError, match="needs a clock"):
        await until(None, (Signal(),), 1.0)
