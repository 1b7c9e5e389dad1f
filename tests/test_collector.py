"""The node's full passes of the cycle collector: when no call is up, or every ten minutes
at the latest, and never on CPython's own count while the node runs (a full pass stops the
node for up to a second and more at 100 calls/s)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

from parley import collector
from parley.clock import VirtualClock
from parley.collector import FullCollections
from parley.testing import node as nodes


class _Cycle:
    """An object that refers to itself: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


async def _tick(clock: VirtualClock, seconds: float) -> None:
    """Advance ``clock`` in the service's steps, letting it run after each."""
    for _ in range(round(seconds / collector.CHECK_S)):
        clock.advance(collector.CHECK_S)
        for _ in range(3):
            await asyncio.sleep(0)


def test_a_pass_is_due_once_no_call_is_up_and_every_ten_minutes_whatever_the_calls() -> None:
    clock = VirtualClock()
    calls = [3]
    made: list[int] = []
    service = FullCollections(clock, lambda: calls[0], collect=lambda gen: made.append(gen) or 0)
    clock.advance(599)
    assert service.due(clock.monotonic()) is None  # calls up: not before ten minutes
    clock.advance(1)
    assert service.due(clock.monotonic()) == "interval"
    service.collect("interval")
    assert made == [2]
    assert service.passes == 1
    assert service.due(clock.monotonic()) is None  # counted again from the pass
    calls[0] = 0
    clock.advance(59)
    assert service.due(clock.monotonic()) is None  # no call, but a pass a minute ago
    clock.advance(1)
    assert service.due(clock.monotonic()) == "idle"


async def test_while_the_service_runs_only_its_passes_free_garbage_in_the_oldest_generation(
        ) -> None:
    clock = VirtualClock()
    calls = [1]
    before = gc.get_threshold()
    service = FullCollections(clock, lambda: calls[0])
    task = asyncio.create_task(service.run())
    await asyncio.sleep(0)
    try:
        assert gc.get_threshold()[:2] == before[:2]  # the young generations as they were
        garbage = _Cycle()
        gone = weakref.ref(garbage)
        gc.collect(1)  # it survives the young generations, so it now lies in the oldest
        del garbage
        for _ in range(30):
            gc.collect(1)
        assert gone() is not None  # young passes do not reach it
        assert gc.get_threshold()[2] > 10**6  # and CPython's own count starts no full pass
        await _tick(clock, 120)  # a call is up: no pass before ten minutes
        assert gone() is not None
        assert service.passes == 0
        calls[0] = 0
        await _tick(clock, collector.CHECK_S)
        assert gone() is None  # the pass made once no call is up
        assert service.passes == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert gc.get_threshold() == before  # CPython's own full passes once the service stops


async def test_a_running_node_decides_its_full_passes_and_hands_them_back_as_it_stops(
        tmp_path: Path) -> None:
    async with nodes.demo_node(tmp_path) as node:
        assert node.collections is not None
        assert gc.get_threshold()[2] > 10**6  # CPython's own count starts no full pass
        assert node.collections.calls() == 0
    assert gc.get_threshold()[2] == 100  # the node's settings, CPython's own count again
