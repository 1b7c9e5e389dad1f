"""Real-time statistics per queue and per operator, and the expected-wait estimator.

Every figure is computed by a named definition of :mod:`parley.kpi` (docs/kpi.md):

- ``asa``: :func:`~parley.kpi.average_speed_of_answer`, the mean wait of answered calls.
- ``aht``: :func:`~parley.kpi.average_handle_time`, talk + hold + wrap-up per finished call.
- ``service_level``: ``ServiceLevel.ANSWERED``, answered within T over answered.
- ``service_level_abandons``: ``ServiceLevel.ABANDONS_WITHIN_T_MET``, (answered within T +
  abandoned within T) over (answered + abandoned): callers who gave up quickly count as
  served in time.
- ``abandon_rate``: ``AbandonRate.FINISHED``, abandoned over (answered + abandoned).
- ``occupancy`` (operator): :func:`~parley.kpi.occupancy`, busy time over busy + ready time;
  a queue's is the mean over its logged-in members.

The other named definitions are there too: ``QueueStats.service_level_by`` and
``QueueStats.abandon_rate_by``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from parley import kpi
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
    short_abandon_s: float = 5.0
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    overflowed: int = 0
    answered_in_sl: int = 0
    abandoned_in_sl: int = 0
    short_abandons: int = 0
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
        self.short_abandons += waited <= self.short_abandon_s

    def on_handled(self, seconds: float) -> None:
        self.handled += 1
        self.total_handle += seconds
        self.recent_handle.add(seconds)

    @property
    def counts(self) -> kpi.QueueCounts:
        return kpi.QueueCounts(self.offered, self.answered, self.abandoned,
                               self.answered_in_sl, self.abandoned_in_sl, self.short_abandons)

    @property
    def asa(self) -> float:
        return kpi.average_speed_of_answer(self.total_wait_answered, self.answered)

    @property
    def aht(self) -> float:
        return kpi.average_handle_time(self.total_handle, self.handled)

    @property
    def service_level(self) -> float:
        """``ServiceLevel.ANSWERED``: answered within T / answered."""
        return self.service_level_by(kpi.ServiceLevel.ANSWERED)

    @property
    def service_level_abandons(self) -> float:
        """``ServiceLevel.ABANDONS_WITHIN_T_MET``: (answered + abandoned within T) /
        (answered + abandoned)."""
        return self.service_level_by(kpi.ServiceLevel.ABANDONS_WITHIN_T_MET)

    @property
    def abandon_rate(self) -> float:
        """``AbandonRate.FINISHED``: abandoned / (answered + abandoned)."""
        return self.abandon_rate_by(kpi.AbandonRate.FINISHED)

    def service_level_by(self, definition: kpi.ServiceLevel) -> float:
        """The service level by any named definition. Those over offered calls count the
        calls still waiting and those that overflowed as not answered in time."""
        return kpi.service_level(self.counts, definition)

    def abandon_rate_by(self, definition: kpi.AbandonRate) -> float:
        return kpi.abandon_rate(self.counts, definition)


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
        """:func:`parley.kpi.occupancy`: busy over busy + ready time, the state the operator
        is in now counted for ``current_for`` seconds."""
        busy = sum(t for s, t in self.time_in.items() if s in BUSY_STATES)
        ready = self.time_in.get(AgentState.READY, 0.0)
        if current in BUSY_STATES:
            busy += max(0.0, current_for)
        elif current is AgentState.READY:
            ready += max(0.0, current_for)
        return kpi.occupancy(busy, ready)

    @property
    def aht(self) -> float:
        return kpi.average_handle_time(self.total_handle, self.handled)


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
