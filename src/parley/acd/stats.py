"""Real-time statistics per queue and per operator, and the expected-wait estimator.

Definitions (docs/acd.md repeats them):

- ``asa``: average speed of answer, the mean wait of answered calls.
- ``aht``: average handle time, talk + hold + wrap-up, per finished call.
- ``service_level``: answered within T over answered.
- ``service_level_abandons``: (answered within T + abandoned within T) over
  (answered + abandoned): callers who gave up quickly count as served in time.
- ``occupancy`` (operator): busy time over busy + ready time; a queue's is the mean over its
  logged-in members.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from parley.acd.agent import BUSY_STATES, AgentState


@dataclass(slots=True)
class Ewma:
    """An exponentially weighted moving average; ``None`` until the first sample."""

    alpha: float = 0.25
    value: float | None = None

    def add(self, sample: float) -> None:
        self.value = sample if self.value is None else (
            self.value + self.alpha * (sample - self.value))


@dataclass(slots=True)
class QueueStats:
    """Counters a queue accumulates; waiting and longest wait come from the live queue."""

    sl_threshold_s: float = 20.0
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    overflowed: int = 0
    answered_in_sl: int = 0
    abandoned_in_sl: int = 0
    total_wait_answered: float = 0.0
    handled: int = 0
    total_handle: float = 0.0
    recent_wait: Ewma = field(default_factory=Ewma)
    recent_handle: Ewma = field(default_factory=Ewma)

    def on_answer(self, waited: float) -> None:
        self.answered += 1
        self.total_wait_answered += waited
        self.answered_in_sl += waited <= self.sl_threshold_s
        self.recent_wait.add(waited)

    def on_abandon(self, waited: float) -> None:
        self.abandoned += 1
        self.abandoned_in_sl += waited <= self.sl_threshold_s

    def on_handled(self, seconds: float) -> None:
        self.handled += 1
        self.total_handle += seconds
        self.recent_handle.add(seconds)

    @property
    def asa(self) -> float:
        return self.total_wait_answered / self.answered if self.answered else 0.0

    @property
    def aht(self) -> float:
        return self.total_handle / self.handled if self.handled else 0.0

    @property
    def service_level(self) -> float:
        return self.answered_in_sl / self.answered if self.answered else 1.0

    @property
    def service_level_abandons(self) -> float:
        total = self.answered + self.abandoned
        return (self.answered_in_sl + self.abandoned_in_sl) / total if total else 1.0

    @property
    def abandon_rate(self) -> float:
        finished = self.answered + self.abandoned
        return self.abandoned / finished if finished else 0.0


@dataclass(slots=True)
class AgentStats:
    """Per-operator counters and time per state (closed at each transition)."""

    offered: int = 0
    answered: int = 0  # inbound and outbound conversations
    outbound: int = 0  # of which outbound (the dialer's calls)
    missed: int = 0
    handled: int = 0
    total_handle: float = 0.0
    time_in: dict[AgentState, float] = field(default_factory=dict)

    def add_time(self, state: AgentState, seconds: float) -> None:
        self.time_in[state] = self.time_in.get(state, 0.0) + seconds

    def occupancy(self, current: AgentState | None = None, current_for: float = 0.0) -> float:
        busy = sum(t for s, t in self.time_in.items() if s in BUSY_STATES)
        ready = self.time_in.get(AgentState.READY, 0.0)
        if current in BUSY_STATES:
            busy += current_for
        elif current is AgentState.READY:
            ready += current_for
        return busy / (busy + ready) if busy + ready > 0 else 0.0

    @property
    def aht(self) -> float:
        return self.total_handle / self.handled if self.handled else 0.0


def expected_wait(position: int, serving: int, recent_handle: float | None,
                  recent_wait: float | None, waited: float, blend: float) -> float:
    """Expected remaining wait of the caller at ``position`` (1 = next).

    The queue-state estimate assumes the ``serving`` operators free up one every
    ``handle / serving`` seconds, so the caller at position p waits about
    ``p * handle / serving``. It is blended (weight ``blend``) with the smoothed wait of recent
    answered callers less what this caller has already waited, as app_queue does.
    """
    if recent_handle is None or serving <= 0:
        state_estimate = None
    else:
        state_estimate = position * recent_handle / serving
    history = None if recent_wait is None else max(0.0, recent_wait - waited)
    if state_estimate is None:
        return history or 0.0
    if history is None:
        return state_estimate
    return blend * state_estimate + (1.0 - blend) * history
