"""The discrete-event engine: time order, re-entrant feeds, a pure core's own timers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.sim.engine import Engine


class Alarm:
    """A tiny pure core: each event sets an alarm ``delay`` seconds later."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, str]] = []

    def handle(self, event: Any, now: float) -> Sequence[Any]:
        name, delay = event
        self.pending.append((now + delay, name))
        self.pending.sort()
        return [("set", name, now)]

    def next_deadline(self) -> float | None:
        return self.pending[0][0] if self.pending else None

    def on_time(self, now: float) -> Sequence[Any]:
        fired = []
        while self.pending and self.pending[0][0] <= now:
            fired.append(("ring", self.pending.pop(0)[1], now))
        return fired


def test_core_timers_fire_at_their_deadlines_in_order() -> None:
    engine = Engine(seed=1)
    out: list[Any] = []
    alarm = engine.attach(Alarm(), out.extend)
    engine.at(10, lambda: alarm.feed(("late", 50)))
    engine.at(20, lambda: alarm.feed(("early", 5)))
    engine.run(until=100)
    assert out == [("set", "late", 10), ("set", "early", 20), ("ring", "early", 25),
                   ("ring", "late", 60)]
    assert engine.now == 100


def test_runs_are_reproducible_from_the_seed() -> None:
    def sample(seed: int) -> list[float]:
        engine = Engine(seed=seed)
        return [engine.rng.expovariate(1.0) for _ in range(5)]

    assert sample(3) == sample(3) != sample(4)


def test_wall_time_follows_virtual_time() -> None:
    engine = Engine()
    start = engine.wall(0)
    engine.run(until=3600)
    assert (engine.wall(engine.now) - start).total_seconds() == 3600
    assert engine.clock.utcnow() == engine.wall(engine.now)
