"""Call-control waits time out on the injected clock: a virtual one in these tests."""

from __future__ import annotations

import asyncio

from parley.clock import VirtualClock
from parley.telephony.channel import first_of


async def test_a_wait_ends_when_virtual_time_runs_out() -> None:
    clock = VirtualClock()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(first_of(clock, {never}, 30.0))
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
    waiting = asyncio.ensure_future(first_of(clock, {happened}, 30.0))
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
    waiting = asyncio.ensure_future(first_of(clock, {happened}, None))
    await asyncio.sleep(0)
    assert clock.next_deadline() is None
    clock.advance(3600.0)
    await asyncio.sleep(0)
    assert not waiting.done()
    event.set()
    await asyncio.wait_for(waiting, 1.0)
