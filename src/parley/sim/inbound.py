"""The inbound contact-center simulation: synthetic callers and operators around the real ACD.

Callers arrive as a Poisson process per queue and interval, wait with an optional patience,
talk for a sampled handle time; operators log in and out with their shifts and answer what the
ACD offers after ``answer_delay_s``. Everything the ACD decides is the production code's
decision: the model only plays the telephony side of its commands.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from parley import events as ev
from parley import kpi
from parley.acd.agent import BUSY_STATES, Agent, AgentState
from parley.acd.core import Acd
from parley.sim.engine import Driver, Engine, Scheduled
from parley.sim.scenario import Scenario, Traffic


@dataclass(slots=True)
class IntervalStats:
    """One reporting interval; calls count in the interval they arrived in.

    The figures and their :mod:`parley.kpi` definitions: ``service_level`` is
    ``ServiceLevel.ANSWERED``, ``service_level_abandons`` ``ServiceLevel.ABANDONS_WITHIN_T_MET``
    (as the live ACD's), ``abandon_rate`` ``AbandonRate.OFFERED`` (not the ACD's ``FINISHED``:
    Erlang A's probability of abandoning is per offered call, and the simulator is checked
    against it), ``occupancy`` :func:`parley.kpi.occupancy` (busy over busy + ready time).
    """

    start_s: float
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    overflowed: int = 0
    answered_in_sl: int = 0
    abandoned_in_sl: int = 0
    wait_answered: float = 0.0
    busy_s: float = 0.0
    ready_s: float = 0.0

    @property
    def counts(self) -> kpi.QueueCounts:
        return kpi.QueueCounts(self.offered, self.answered, self.abandoned,
                               self.answered_in_sl, self.abandoned_in_sl)

    @property
    def asa_s(self) -> float:
        return kpi.average_speed_of_answer(self.wait_answered, self.answered)

    @property
    def service_level(self) -> float:
        return kpi.service_level(self.counts, kpi.ServiceLevel.ANSWERED)

    @property
    def service_level_abandons(self) -> float:
        return kpi.service_level(self.counts, kpi.ServiceLevel.ABANDONS_WITHIN_T_MET)

    @property
    def abandon_rate(self) -> float:
        return kpi.abandon_rate(self.counts, kpi.AbandonRate.OFFERED)

    @property
    def occupancy(self) -> float:
        return kpi.occupancy(self.busy_s, self.ready_s)

    def add(self, other: IntervalStats) -> None:
        for name in ("offered", "answered", "abandoned", "overflowed", "answered_in_sl",
                     "abandoned_in_sl", "wait_answered", "busy_s", "ready_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, float]:
        return {"offered": self.offered, "answered": self.answered,
                "abandoned": self.abandoned, "overflowed": self.overflowed,
                "asa_s": round(self.asa_s, 3), "service_level": round(self.service_level, 4),
                "service_level_abandons": round(self.service_level_abandons, 4),
                "abandon_rate": round(self.abandon_rate, 4),
                "occupancy": round(self.occupancy, 4)}


@dataclass(slots=True)
class SimResult:
    scenario: Scenario
    intervals: list[IntervalStats]
    total: IntervalStats
    handle_time_s: float = 0.0
    events: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = self.total.as_dict()
        data["aht_s"] = round(self.handle_time_s, 3)
        data["hours"] = self.scenario.hours
        data["seed"] = self.scenario.seed
        data.update(self.extra)
        return data


@dataclass(slots=True)
class _Caller:
    traffic: Traffic
    arrived: float
    interval: int
    abandon: Scheduled | None = None


class InboundSimulation:
    """Runs one :class:`Scenario` on an :class:`Engine` with a real :class:`Acd`."""

    def __init__(self, scenario: Scenario, engine: Engine | None = None) -> None:
        self.scenario = scenario
        self.engine = engine or Engine(seed=scenario.seed)
        agents = []
        self.shifts: list[tuple[str, float, float]] = []
        for group in scenario.agents:
            for i in range(group.count):
                agent_id = f"{group.prefix}{i + 1}"
                agents.append(Agent(agent_id, skills=dict(group.skills),
                                    wrap_up_s=group.wrap_up_s))
                self.shifts.extend((agent_id, start, end) for start, end in group.shifts)
        self.acd = Acd(scenario.queues, agents, wall=self.engine.wall)
        self.driver: Driver = self.engine.attach(self.acd, self._execute)
        buckets = int(scenario.duration_s // scenario.interval_s + 0.999999)
        self.intervals = [IntervalStats(i * scenario.interval_s) for i in range(max(1, buckets))]
        self.callers: dict[str, _Caller] = {}
        self._ids = itertools.count(1)
        self._offers: dict[tuple[str, str], Scheduled] = {}
        self._agent_since: dict[str, tuple[AgentState, float]] = {}
        self._handle_total = 0.0
        self._handled = 0
        self.events = 0

    # --- set-up ----------------------------------------------------------------------

    def run(self) -> SimResult:
        """Simulate the whole scenario, then let the calls still in progress finish."""
        engine = self.engine
        end = self.scenario.duration_s
        for agent_id, start, stop in self.shifts:
            if start < end:
                engine.at(start, partial(self._login, agent_id))
                if stop != float("inf"):
                    engine.at(stop, partial(self._logout, agent_id))
        for traffic in self.scenario.traffic:
            self._next_arrival(traffic, 0.0)
        engine.run(until=end)
        # Drain: nobody new arrives; operators stay until every caller is served or gone.
        while self.callers:
            deadline = engine.next_time()
            if deadline is None:
                break
            engine.run(until=deadline)
        self._close_agent_time(engine.now)
        total = IntervalStats(0.0)
        for interval in self.intervals:
            total.add(interval)
        return SimResult(self.scenario, self.intervals, total,
                         kpi.average_handle_time(self._handle_total, self._handled),
                         self.events, {"unfinished": len(self.callers)})

    def _feed(self, event: Any) -> None:
        self.events += 1
        self.driver.feed(event)

    def _login(self, agent_id: str) -> None:
        self._feed(ev.AgentLogin(agent_id, f"sim:{agent_id}"))

    def _logout(self, agent_id: str) -> None:
        if self.acd.agents[agent_id].state is not AgentState.LOGGED_OUT:
            self._feed(ev.AgentLogout(agent_id))

    def _next_arrival(self, traffic: Traffic, now: float) -> None:
        """Schedule the next Poisson arrival of ``traffic`` (piecewise-constant rate)."""
        interval_s = self.scenario.interval_s
        end = self.scenario.duration_s
        rng = self.engine.rng
        t = now
        while t < end:
            interval = int(t // interval_s)
            rate = traffic.rate(interval)
            boundary = min((interval + 1) * interval_s, end)
            if rate <= 0:
                t = boundary
                continue
            candidate = t + rng.expovariate(rate)
            if candidate < boundary:
                self.engine.at(candidate, lambda: self._arrive(traffic))
                return
            t = boundary  # memoryless: start afresh at the boundary with the next rate

    # --- callers ---------------------------------------------------------------------

    def _arrive(self, traffic: Traffic) -> None:
        now = self.engine.now
        call_id = f"call-{next(self._ids)}"
        interval = min(int(now // self.scenario.interval_s), len(self.intervals) - 1)
        caller = _Caller(traffic, now, interval)
        self.callers[call_id] = caller
        self.intervals[interval].offered += 1
        if traffic.patience is not None:
            patience = traffic.patience.sample(self.engine.rng)
            caller.abandon = self.engine.at(
                now + patience, lambda: self._feed(ev.CallerHangup(call_id)))
        self._next_arrival(traffic, now)
        self._feed(ev.RouteCall(call_id, traffic.queue, priority=traffic.priority))

    def _execute(self, commands: Sequence[Any]) -> None:
        for command in commands:
            kind = type(command)
            if kind is ev.AgentStateChanged:
                self._agent_changed(command)
            elif kind is ev.OfferCall:
                key = (command.call_id, command.agent_id)
                self._offers[key] = self.engine.after(
                    self.scenario.answer_delay_s,
                    partial(self._answer, command.call_id, command.agent_id))
            elif kind is ev.CancelOffer:
                handle = self._offers.pop((command.call_id, command.agent_id), None)
                if handle is not None:
                    handle.cancel()
            elif kind is ev.CallConnected:
                self._connected(command)
            elif kind is ev.CallAbandoned:
                self._finished(command.call_id, command.waited, answered=False)
            elif kind in (ev.Overflow, ev.RejectCall):
                caller = self.callers.pop(command.call_id, None)
                if caller is not None:
                    self.intervals[caller.interval].overflowed += 1
                    if caller.abandon is not None:
                        caller.abandon.cancel()

    def _answer(self, call_id: str, agent_id: str) -> None:
        self._offers.pop((call_id, agent_id), None)
        self._feed(ev.AgentAnswered(call_id, agent_id))

    def _connected(self, command: ev.CallConnected) -> None:
        caller = self.callers.get(command.call_id)
        if caller is None:
            return
        if caller.abandon is not None:
            caller.abandon.cancel()
        self._finished(command.call_id, command.waited, answered=True)
        talk = caller.traffic.handle_time.sample(self.engine.rng)
        self._handle_total += talk
        self._handled += 1
        self.engine.after(talk, lambda: self._feed(ev.CallerHangup(command.call_id)))

    def _finished(self, call_id: str, waited: float, *, answered: bool) -> None:
        caller = self.callers.pop(call_id, None) if not answered else self.callers[call_id]
        if caller is None:
            return
        stats = self.intervals[caller.interval]
        within = waited <= self.scenario.sl_threshold_s
        if answered:
            del self.callers[call_id]
            stats.answered += 1
            stats.answered_in_sl += within
            stats.wait_answered += waited
        else:
            stats.abandoned += 1
            stats.abandoned_in_sl += within

    # --- occupancy -------------------------------------------------------------------

    def _agent_changed(self, change: ev.AgentStateChanged) -> None:
        previous = self._agent_since.get(change.agent_id)
        if previous is not None:
            self._account(previous[0], previous[1], change.at)
        self._agent_since[change.agent_id] = (AgentState(change.new), change.at)

    def _account(self, state: AgentState, start: float, end: float) -> None:
        busy = state in BUSY_STATES
        if not busy and state is not AgentState.READY:
            return
        step = self.scenario.interval_s
        last = len(self.intervals) - 1
        end = min(end, self.scenario.duration_s)  # the drain after the day is not reported
        while start < end:
            index = min(int(start // step), last)
            stop = end if index == last else min(end, (index + 1) * step)
            if busy:
                self.intervals[index].busy_s += stop - start
            else:
                self.intervals[index].ready_s += stop - start
            start = stop

    def _close_agent_time(self, now: float) -> None:
        for state, since in self._agent_since.values():
            self._account(state, since, min(now, self.scenario.duration_s))
        self._agent_since.clear()


def simulate(scenario: Scenario) -> SimResult:
    """Run ``scenario`` and return its per-interval and total figures."""
    return InboundSimulation(scenario).run()
