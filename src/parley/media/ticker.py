"""When the shared media ticker should run, given the time: the arithmetic, without sleeping.

Wake-up ``k`` is due at ``start + k * period / slots`` and serves phase ``k % slots``. The
shell sleeps until :meth:`TickSchedule.next_deadline`, then serves every wake-up
:meth:`TickSchedule.due` returns, in order. Deadlines are fixed multiples of the period, so a
late wake-up never shifts the ones after it. When the process was held up for longer than
``max_catch_up`` periods, the oldest missed wake-ups are skipped (and counted): sending a
second of stale audio in one burst would only overflow the phones' jitter buffers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from parley.media import MediaError


class TickSchedule:
    """Deadlines of the media ticker on any clock (seconds, monotonic)."""

    def __init__(self, start: float, *, period: float = 0.020, slots: int = 1,
                 max_catch_up: int = 3) -> None:
        if period <= 0 or slots < 1 or max_catch_up < 1:
            raise MediaError("the ticker needs a positive period, slots and catch-up")
        self.start = start
        self.interval = period / slots
        self.slots = slots
        self.max_catch_up = max_catch_up
        self.next = 0  # the next wake-up index to serve
        self.skipped = 0  # wake-ups dropped because the process fell too far behind

    def deadline(self, index: int) -> float:
        return self.start + index * self.interval

    def next_deadline(self) -> float:
        return self.deadline(self.next)

    def pass_idle(self, busy: Callable[[int], bool]) -> None:
        """Move past the coming wake-ups whose phase has nothing to serve (``busy(phase)``
        false), at most one period's less one, so that the shell sleeps through them."""
        for _ in range(self.slots - 1):
            if busy(self.next % self.slots):
                return
            self.next += 1

    def due(self, now: float) -> list[int]:
        """The wake-up indexes to serve now (phase = index % slots), oldest first."""
        if now < self.next_deadline():
            return []
        latest = math.floor((now - self.start) / self.interval + 1e-9)
        oldest_allowed = latest - self.max_catch_up * self.slots + 1
        if self.next < oldest_allowed:
            self.skipped += oldest_allowed - self.next
            self.next = oldest_allowed
        indexes = list(range(self.next, latest + 1))
        self.next = latest + 1
        return indexes
