"""The pure rules of trunks: call-rate caps, when to try the next trunk, where the number is.

Nothing here does I/O or reads a clock: times come in as floats (the injected clock's
monotonic seconds), so the rules are tested on their own and the trunk shell
(:mod:`parley.telephony.trunks`) only carries them out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from parley.sip.errors import SipParseError
from parley.sip.headers import NameAddr
from parley.sip.message import SipRequest

#: Statuses that speak of the number or the callee, not of the trunk: the next trunk would
#: hear the same (RFC 3261 §21.4-21.6), so the call ends with them.
FINAL_FOR_THE_NUMBER = frozenset({404, 410, 484, 485, 486, 600, 603, 604})

#: Room left for jitter on the way to the carrier: starts are spaced so that no window of
#: one second *as the carrier sees it* holds more than ``max_cps`` of them.
JITTER_GUARD_S = 0.02


def fails_over(status: int | None) -> bool:
    """Whether a call that ended with ``status`` (None: no answer at all, or the trunk is
    down) goes on to the next trunk: on 5xx, 408 and no answer; not on 404, 486, 603 and
    the other answers about the number, nor on a success or a cancel."""
    if status is None:
        return True
    if status in FINAL_FOR_THE_NUMBER or status < 300:
        return False
    return status == 408 or 500 <= status < 600


@dataclass
class CallRateLimiter:
    """At most ``max_cps`` call starts in any one second, never a burst past it.

    Starts are spaced evenly, ``(1 + JITTER_GUARD_S) / max_cps`` seconds apart: an idle
    trunk starts a call at once, calls requested together leave one after the other.
    :meth:`reserve` books the next free start; a call that would wait longer than
    ``max_wait`` is not booked (None) and goes to the next trunk or is refused.
    """

    max_cps: float
    max_wait: float = 2.0
    last_start: float | None = None
    recent: deque[float] = field(default_factory=deque)  # booked starts, for rate()

    @property
    def interval(self) -> float:
        return (1.0 + JITTER_GUARD_S) / self.max_cps

    def reserve(self, now: float) -> float | None:
        """The delay before this call may start (0: now), booked; None: over ``max_wait``."""
        at = now if self.last_start is None else max(now, self.last_start + self.interval)
        delay = at - now
        if delay > self.max_wait:
            return None
        self.last_start = at
        self.recent.append(at)
        while self.recent and self.recent[0] <= now - 1.0:
            self.recent.popleft()
        return delay

    def rate(self, now: float) -> int:
        """Starts in the last second (for the trunk's status and metrics)."""
        return sum(1 for start in self.recent if now - 1.0 < start <= now)


def dialled_number(request: SipRequest, number_from: str) -> str:
    """The number a carrier's INVITE was dialled to: the Request-URI's user part, the
    ``To`` header's, or a header of the carrier's own (``header:X-Called``: its URI's user
    part, or the header's text when it is no URI). Empty when the place holds none."""
    if number_from == "request_uri":
        return request.uri.user or ""
    if number_from == "to":
        return request.to.uri.user or ""
    name = number_from.removeprefix("header:")
    value = request.header(name)
    if value is None:
        return ""
    value = value.strip()
    if "sip:" in value or "tel:" in value or value.startswith("<"):
        try:
            return NameAddr.parse(value).uri.user or ""
        except SipParseError:
            return ""
    return value
