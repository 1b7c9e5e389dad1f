"""The discrete-event core of the simulator: a virtual clock, a seeded RNG and pure cores.

The same pure cores that run in production (the ACD, the dialer) run here unchanged. A core is
anything with the :class:`TimedCore` shape: ``handle(event, now) -> commands``,
``next_deadline() -> float | None`` and ``on_time(now) -> commands``. The engine feeds events
in, hands commands to a model (the simulated telephony) and fires the core's own timers when
virtual time reaches them.

API, for the inbound simulator and the outbound (dialer) simulator alike::

    engine = Engine(seed=7)                       # VirtualClock at 0.0, random.Random(7)
    acd = engine.attach(Acd(config, wall=engine.wall), execute=model.on_commands)
    engine.at(12.5, lambda: acd.feed(RouteCall("c1", "sales")))   # an action at a time
    engine.after(3.0, some_action)               # or after a delay from now
    engine.run(until=8 * 3600)                    # fire everything due, in time order
    engine.now                                    # current virtual time (monotonic seconds)
    engine.wall(engine.now)                       # the matching UTC wall time

``Driver.feed(event)`` runs the core at ``engine.now``, passes its commands to ``execute`` and
re-arms the core's next deadline; the model's callbacks may feed further events (re-entrancy is
fine: each feed completes before the next). Ties fire in scheduling order, so a run is a pure
function of the scenario and the seed.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from parley.clock import TimerHandle, VirtualClock


class TimedCore(Protocol):
    """A pure, sans-IO core: events and time in, commands out."""

    def handle(self, event: Any, now: float) -> Sequence[Any]: ...

    def next_deadline(self) -> float | None: ...

    def on_time(self, now: float) -> Sequence[Any]: ...


class Scheduled(TimerHandle):
    """A scheduled action; :meth:`cancel` stops it from running.

    A :class:`~parley.clock.TimerHandle`, so code written against the clock's timers takes it.
    """

    def __init__(self, when: float, action: Callable[[], None] | None) -> None:
        self._when = when
        self.action = action

    @property
    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self.action = None

    @property
    def cancelled(self) -> bool:
        return self.action is None


class Driver:
    """One pure core attached to an engine; feed it events, it fires its own timers."""

    def __init__(self, engine: Engine, core: TimedCore,
                 execute: Callable[[Sequence[Any]], None]) -> None:
        self.engine = engine
        self.core = core
        self.execute = execute
        self._armed: float | None = None
        self._handle: Scheduled | None = None

    def feed(self, event: Any) -> None:
        """Deliver ``event`` to the core now and execute what it commands."""
        commands = self.core.handle(event, self.engine.now)
        if commands:
            self.execute(commands)
        self.rearm()

    def rearm(self) -> None:
        """Make sure a wake-up is scheduled for the core's earliest deadline."""
        deadline = self.core.next_deadline()
        if deadline is None or deadline == self._armed:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._armed = deadline
        self._handle = self.engine.at(deadline, self._fire)

    def _fire(self) -> None:
        self._armed = None
        self._handle = None
        commands = self.core.on_time(self.engine.now)
        if commands:
            self.execute(commands)
        self.rearm()


class Engine:
    """A discrete-event loop over :class:`~parley.clock.VirtualClock` with a seeded RNG.

    The engine keeps its own agenda (a heap of plain tuples, several times cheaper than the
    clock's general-purpose timers over millions of events) and moves the virtual clock to
    each action's time before running it, so ``clock.monotonic()`` and ``clock.utcnow()`` are
    right inside every action, and timers set directly on the clock fire too.
    """

    def __init__(self, clock: VirtualClock | None = None, *, seed: int = 0) -> None:
        self.clock = clock if clock is not None else VirtualClock()
        self.rng = random.Random(seed)
        self._epoch = self.clock.utcnow() - timedelta(seconds=self.clock.monotonic())
        self._agenda: list[tuple[float, int, Scheduled]] = []
        self._seq = itertools.count()

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    def wall(self, monotonic: float) -> datetime:
        """The UTC wall time at a monotonic reading of this engine's clock."""
        return self._epoch + timedelta(seconds=monotonic)

    def at(self, when: float, action: Callable[[], None]) -> Scheduled:
        """Run ``action`` at virtual time ``when`` (now, if ``when`` is past)."""
        now = self.clock.monotonic()
        when = when if when > now else now
        entry = Scheduled(when, action)
        heapq.heappush(self._agenda, (when, next(self._seq), entry))
        return entry

    def after(self, delay: float, action: Callable[[], None]) -> Scheduled:
        return self.at(self.clock.monotonic() + max(0.0, delay), action)

    def next_time(self) -> float | None:
        """When the next live action runs, or None when nothing is scheduled."""
        agenda = self._agenda
        while agenda and agenda[0][2].action is None:
            heapq.heappop(agenda)
        return agenda[0][0] if agenda else None

    def attach(self, core: TimedCore, execute: Callable[[Sequence[Any]], None]) -> Driver:
        """Attach a pure core; ``execute`` receives every list of commands it returns."""
        return Driver(self, core, execute)

    def run(self, until: float) -> int:
        """Fire every action due up to ``until`` in time order; returns how many ran."""
        agenda = self._agenda
        clock = self.clock
        fired = 0
        while agenda and agenda[0][0] <= until:
            when, _, entry = heapq.heappop(agenda)
            action = entry.action
            if action is None:
                continue
            entry.action = None
            if when > clock.monotonic() or clock.next_deadline() is not None:
                clock.run_until(when)
            action()
            fired += 1
        clock.run_until(until)
        return fired
