"""Identifiers unique across nodes and restarts, and ordered by time (DESIGN.md §8).

:class:`IdSource` makes UUIDv7-style ids (RFC 9562 §5.7): 48 bits of Unix milliseconds, then a
counter and random bits, so that ids sort by creation time, a restarted node never reuses an
old id, and two nodes never collide. The composition root builds one source per node and hands
it to everything that names calls, legs and interactions; tests may give a source a clock.
"""

from __future__ import annotations

import secrets
import uuid

from parley.clock import Clock


class IdSource:
    """Time-ordered unique ids; ``new(prefix)`` gives e.g. ``ch-0190f3c2-…``."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last_ms = -1
        self._counter = 0

    def uuid7(self) -> uuid.UUID:
        """A fresh UUIDv7: strictly increasing within this source, random across sources."""
        ms = int(self._clock.utcnow().timestamp() * 1000)
        if ms <= self._last_ms:  # same millisecond (or the wall clock stepped back)
            ms = self._last_ms
            self._counter += 1
            if self._counter >= 1 << 12:  # 4,096 ids in one millisecond: borrow the next one
                ms += 1
                self._counter = 0
        else:
            self._counter = 0
        self._last_ms = ms
        value = (ms & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76  # version 7
        value |= self._counter << 64
        value |= 0b10 << 62  # RFC 9562 variant
        value |= secrets.randbits(62)
        return uuid.UUID(int=value)

    def new(self, prefix: str = "") -> str:
        """A new id as text, with ``prefix`` and a dash in front when one is given."""
        text = str(self.uuid7())
        return f"{prefix}-{text}" if prefix else text
