"""One injected clock for everything that waits or measures time.

Production uses :class:`MonotonicClock` (the monotonic clock for durations plus UTC wall time);
tests and the simulator use :class:`VirtualClock`, whose time moves only when told to, so that a
32-second SIP timer or a simulated day takes milliseconds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class Cancellable(Protocol):
    """A scheduled callback: cancel it to stop it from firing."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the shells need of time: a monotonic reading, UTC wall time, sleeping, and timers.

    Every wait in telephony/ and center/ goes through it, so those paths run on a
    :class:`VirtualClock` in tests exactly as they run on the real clock.
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps backwards; only differences mean anything."""
        ...

    def utcnow(self) -> datetime:
        """The current wall time, timezone-aware in UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait this many seconds of this clock's time."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        """Run ``callback`` once ``delay`` seconds of this clock's time have passed."""
        ...


TIMER_RESOLUTION_S = 0.001
"""The real event loop's timers count whole milliseconds (uvloop, libuv): a shorter wait is
run at the next turn of the loop, often before its deadline, and a loop that waits for a
deadline (the media ticker, the ACD's and dialer's timers) would then spin through hundreds
of turns until it came. :class:`MonotonicClock` makes a shorter wait this long instead."""


def _at_least_a_tick(seconds: float) -> float:
    """The wait to ask the loop for: none for ``seconds`` <= 0, else at least a tick."""
    return 0.0 if seconds <= 0.0 else max(seconds, TIMER_RESOLUTION_S)


class MonotonicClock:
    """The real clock: ``time.monotonic`` and the system's UTC time. Waits shorter than
    :data:`TIMER_RESOLUTION_S` (but not zero) last that long."""

    # The function itself, not a method around it: the relay reads it for every packet.
    monotonic = staticmethod(time.monotonic)

    def utcnow(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(_at_least_a_tick(seconds))

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        """A timer on the running event loop (which uses the same monotonic clock)."""
        return asyncio.get_running_loop().call_later(_at_least_a_tick(delay), callback)


class _Queued(Generic[T]):
    """One timer of a :class:`TimerQueue`: cancelling it drops what it refers to at once,
    the entry itself leaves the queue when its time comes."""

    __slots__ = ("item", "live", "when")

    def __init__(self, when: float, item: T | None) -> None:
        self.when = when
        self.item = item
        self.live = True

    def cancel(self) -> None:
        self.item = None
        self.live = False


class TimerQueue(Generic[T]):
    """Timers that expire in the order they are set, each queue with one clock timer for
    its head instead of one per timer.

    For the long waits a busy node holds by the ten thousand (a finished transaction absorbing
    retransmissions for 64·T1, a finished call lingering as long): each loop timer costs a
    handle, a copied context and a closure, which the cycle collector walks again and again
    while they wait; here a timer is one small object. ``callback(name, item)`` runs for
    each. Timers of one ``name`` are appended to one queue; one whose time is earlier than
    the last in its queue gets a clock timer of its own, so the order is never wrong, only
    the saving lost. Meant for timers that are rarely cancelled: a cancelled entry stays
    (empty) until its time."""

    def __init__(self, clock: Clock, callback: Callable[[str, T], None]) -> None:
        self._clock = clock
        self._callback = callback
        self._queues: dict[str, collections.deque[_Queued[T]]] = {}
        self._heads: dict[str, Cancellable] = {}

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def call_at(self, name: str, when: float, item: T) -> Cancellable:
        """Run ``callback(name, item)`` once the clock's :meth:`~Clock.monotonic` reaches
        ``when``."""
        entry = _Queued(when, item)
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = collections.deque()
        elif queue and when < queue[-1].when:  # out of order: a timer of its own
            handle = self._clock.call_later(when - self._clock.monotonic(),
                                            functools.partial(self._run, name, entry))
            return _Both(entry, handle)
        queue.append(entry)
        if name not in self._heads:
            self._arm(name, queue)
        return entry

    def close(self) -> None:
        """Cancel every queued timer not yet run (one set out of order has a clock timer
        of its own: its handle cancels it)."""
        for head in self._heads.values():
            head.cancel()
        self._heads.clear()
        self._queues.clear()

    def _run(self, name: str, entry: _Queued[T]) -> None:
        item, live = entry.item, entry.live
        entry.cancel()
        if live:
            self._callback(name, item)  # type: ignore[arg-type]  # live: set, maybe to None

    def _arm(self, name: str, queue: collections.deque[_Queued[T]]) -> None:
        self._heads[name] = self._clock.call_later(queue[0].when - self._clock.monotonic(),
                                                   functools.partial(self._expire, name))

    def _expire(self, name: str) -> None:
        self._heads.pop(name, None)
        queue = self._queues.get(name)
        if queue is None:
            return
        now = self._clock.monotonic()
        try:
            while queue and queue[0].when <= now:
                self._run(name, queue.popleft())
        finally:  # a callback that raised is the loop's to report; the rest still run
            while queue and not queue[0].live:  # cancelled: no need to wake for it
                queue.popleft()
            if queue and name not in self._heads:
                self._arm(name, queue)


class _Both:
    """An out-of-order timer of a :class:`TimerQueue`: its entry and its clock timer."""

    __slots__ = ("entry", "handle")

    def __init__(self, entry: _Queued[Any], handle: Cancellable) -> None:
        self.entry = entry
        self.handle = handle

    def cancel(self) -> None:
        self.entry.cancel()
        self.handle.cancel()


async def every(clock: Clock, interval_s: float, work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work`` every ``interval_s`` of ``clock`` until cancelled, and once more then,
    shielded from the cancellation (a writer's last batch; its failure is not raised)."""
    try:
        while True:
            await clock.sleep(interval_s)
            await work()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(work())


async def serve_deadlines(clock: Clock, wake: asyncio.Event,
                          next_deadline: Callable[[], float | None],
                          on_time: Callable[[float], None]) -> None:
    """Drive a sans-IO core's timers until cancelled: call ``on_time(now)`` whenever its
    ``next_deadline()`` has come; an event handed to the core sets ``wake``, so that a deadline
    that moved meanwhile is read again (the ACD and dialer shells run their cores this way)."""
    while True:
        deadline = next_deadline()
        wake.clear()
        if deadline is None:
            await wake.wait()
            continue
        delay = deadline - clock.monotonic()
        if delay > 0:
            timer = clock.call_later(delay, wake.set)
            try:
                await wake.wait()
            finally:
                timer.cancel()
            if clock.monotonic() < deadline:
                continue  # woken by an event: the deadline may have moved
        on_time(clock.monotonic())


@dataclass(order=True)
class _Timer:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class TimerHandle:
    """A scheduled callback on a :class:`VirtualClock`; cancel it to stop it from firing."""

    def __init__(self, timer: _Timer) -> None:
        self._timer = timer

    @property
    def when(self) -> float:
        return self._timer.when

    def cancel(self) -> None:
        self._timer.cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._timer.cancelled


DEFAULT_EPOCH = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday, for readable schedules


class VirtualClock:
    """A clock whose time advances only through :meth:`advance` or :meth:`run_until`.

    It is also a tiny discrete-event scheduler: :meth:`call_at` registers a callback that fires,
    in time order (ties in registration order), as time passes over it. ``sleep`` works inside
    asyncio code: the sleeper wakes when the clock is advanced past its deadline, or at once
    with ``autojump=True`` (time jumps to the next deadline whenever the sleeper asks).
    """

    def __init__(
        self,
        start: float = 0.0,
        wall_epoch: datetime = DEFAULT_EPOCH,
        *,
        autojump: bool = False,
    ) -> None:
        if wall_epoch.tzinfo is None:
            raise ValueError("wall_epoch must be timezone-aware")
        self._now = start
        self._start = start
        self._epoch = wall_epoch.astimezone(UTC)
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self.autojump = autojump

    def monotonic(self) -> float:
        return self._now

    def utcnow(self) -> datetime:
        return self._epoch + timedelta(seconds=self._now - self._start)

    def wall_to_monotonic(self, moment: datetime) -> float:
        """The monotonic reading at which the wall clock shows ``moment``."""
        return self._start + (moment.astimezone(UTC) - self._epoch).total_seconds()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _Timer(max(when, self._now), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return TimerHandle(timer)

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return self.call_at(self._now + max(0.0, delay), callback)

    def next_deadline(self) -> float | None:
        """When the next live timer fires, or None when nothing is scheduled."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].when if self._timers else None

    def run_until(self, when: float) -> int:
        """Fire every timer due up to ``when`` in order, then set the time to ``when``.

        Returns how many callbacks ran. Callbacks may schedule more timers; those due before
        ``when`` fire too.
        """
        fired = 0
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > when:
                break
            timer = heapq.heappop(self._timers)
            self._now = max(self._now, timer.when)
            timer.callback()
            fired += 1
        self._now = max(self._now, when)
        return fired

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds``, firing what falls due."""
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        return self.run_until(self._now + seconds)

    def run_next(self) -> bool:
        """Jump to the next timer and fire it (and any due at the same instant)."""
        deadline = self.next_deadline()
        if deadline is None:
            return False
        self.run_until(deadline)
        return True

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        handle = self.call_later(seconds, wake)
        try:
            if self.autojump:
                # Let other tasks run first so that they can register earlier deadlines.
                await asyncio.sleep(0)
                while not woken.done():
                    if not self.run_next():
                        break
                    await asyncio.sleep(0)
            await woken
        finally:
            handle.cancel()
