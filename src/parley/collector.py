"""When the cycle collector goes through every object: when the node has no call, or every
ten minutes at the latest, never on CPython's own count.

CPython 3.11 starts a full pass of its cycle collector by itself once the objects promoted
since the last one reach a quarter of the oldest generation. A busy node gets there every
two minutes or so, and the pass goes through every object in one go: at 100 calls/s about
600,000 to a million objects, which stops the node for 0.7-1.4 s. SIP, offers to operators
and the audio the node relays all stand still meanwhile. Yet very little garbage lives long
enough to need that pass (at 100 calls/s, 4,260 objects after four minutes without one;
docs/benchmarks.md, "The collector's full pass"): the young generations, which CPython
keeps collecting as before, find the rest. So while a node runs, :class:`FullCollections`
takes the decision: a full pass once no call is in progress (the pass is short then, and
no one hears it), and at the latest every ten minutes (the garbage stays bounded).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import structlog

from parley.clock import Clock

log = structlog.get_logger("parley.collector")

EVERY_S = 600.0
"""The longest time between two full passes, calls or not."""
IDLE_AFTER_S = 60.0
"""With no call in progress, a full pass once this long after the last one."""
CHECK_S = 5.0
"""How often the service looks."""
_NEVER = 1 << 30
"""A third threshold CPython's own count never reaches."""

_holders = 0
_saved_threshold = 0


def _take_over() -> None:
    """Stop CPython from starting full passes (the first running service saves its
    threshold; tests run several nodes in one process)."""
    global _holders, _saved_threshold
    first, second, third = gc.get_threshold()
    if _holders == 0:
        _saved_threshold = third
    _holders += 1
    gc.set_threshold(first, second, _NEVER)


def _hand_back() -> None:
    """The last service to stop gives CPython back its own full passes."""
    global _holders
    _holders -= 1
    if _holders == 0:
        first, second, _ = gc.get_threshold()
        gc.set_threshold(first, second, _saved_threshold)


class FullCollections:
    """The node's full passes of the cycle collector (module docstring). ``calls`` counts
    the calls in progress."""

    def __init__(self, clock: Clock, calls: Callable[[], int], *, every_s: float = EVERY_S,
                 idle_after_s: float = IDLE_AFTER_S, check_s: float = CHECK_S,
                 collect: Callable[[int], int] = gc.collect) -> None:
        self.clock = clock
        self.calls = calls
        self.every_s = every_s
        self.idle_after_s = idle_after_s
        self.check_s = check_s
        self._collect = collect
        self.last = clock.monotonic()
        self.passes = 0

    def due(self, now: float) -> str | None:
        """Why a full pass is due at ``now`` ("idle" or "interval"), or None."""
        since = now - self.last
        if since >= self.every_s:
            return "interval"
        if since >= self.idle_after_s and self.calls() == 0:
            return "idle"
        return None

    def collect(self, why: str) -> int:
        """Make a full pass now; the number of unreachable objects it found."""
        started = time.perf_counter()
        found = self._collect(2)
        took_ms = round((time.perf_counter() - started) * 1000)
        self.last = self.clock.monotonic()
        self.passes += 1
        (log.info if why == "interval" else log.debug)(
            "full_collection", why=why, took_ms=took_ms, unreachable=found)
        return found

    async def run(self) -> None:
        """Decide the full passes until cancelled; CPython's own count decides again after."""
        _take_over()
        try:
            while True:
                await self.clock.sleep(self.check_s)
                why = self.due(self.clock.monotonic())
                if why is not None:
                    self.collect(why)
        finally:
            _hand_back()
