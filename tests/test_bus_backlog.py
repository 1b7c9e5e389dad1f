"""The live bus: live viewers keep the newest events, recorders keep every one."""

from __future__ import annotations

from parley.bus import LiveBus
from parley.clock import MonotonicClock


async def test_a_lossless_subscriber_keeps_every_event_a_viewer_keeps_the_newest() -> None:
    bus = LiveBus(MonotonicClock(), queue_size=3)
    async with bus.subscribe(lossless=True) as recorder, bus.subscribe() as viewer:
        for number in range(10):
            bus.publish(f"event {number}")
        assert recorder.backlog == 10
        assert [(await recorder.get()).event for _ in range(10)] == [
            f"event {number}" for number in range(10)]
        assert viewer.dropped == 7
        assert [(await viewer.get()).event for _ in range(3)] == [
            "event 7", "event 8", "event 9"]
