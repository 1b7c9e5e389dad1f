"""Property tests: random event sequences never lose a call, double-book an operator, or leave
a ready operator idle while a call they can take waits. Outbound reservations, connects and
releases (the dialer's work) are mixed in with the inbound traffic."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from parley import events as ev
from parley.acd.agent import CALL_STATES, AcdError, Agent, AgentState
from parley.acd.config import (
    Condition,
    OverflowRule,
    QueueConfig,
    RelaxStep,
    SiteConfig,
    Strategy,
    Target,
    TargetKind,
)
from parley.acd.core import CallState
from parley.testing.acd import AcdHarness

QUEUES = [
    QueueConfig("sales", skills={"sales": 1}, ring_timeout_s=10, wrap_up_s=5,
                overflow=(OverflowRule(Condition.WAIT, Target(TargetKind.QUEUE, "support"),
                                       60),)),
    QueueConfig("support", strategy=Strategy.SKILLS_BASED, skills={"support": 1},
                relax=(RelaxStep(0, 7), RelaxStep(20, 1)), ring_timeout_s=8, priority=2,
                overflow=(OverflowRule(Condition.WAIT, Target(TargetKind.CALLBACK), 90),)),
    QueueConfig("vip", strategy=Strategy.RING_ALL, skills={"vip": 1}, ring_timeout_s=6,
                max_wait_s=120.0, overflow_target=Target(TargetKind.VOICEMAIL, "vip")),
    QueueConfig("tech", strategy=Strategy.FEWEST_CALLS, skills={"tech": 1},
                overflow=(OverflowRule(Condition.NO_AGENTS, Target(TargetKind.FLOW, "x")),)),
]
AGENTS = {
    "ann": {"sales": 8, "support": 3},
    "bob": {"sales": 4, "vip": 5},
    "cat": {"support": 9, "vip": 6, "tech": 2},
    "dan": {"support": 5, "sales": 2},
    "eve": {"vip": 3, "tech": 7},
}
agent_ids = st.sampled_from(sorted(AGENTS))


class AcdMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = AcdHarness(QUEUES, [Agent(a, skills=s) for a, s in AGENTS.items()],
                            site=SiteConfig(missed_call_limit=2))
        self.routed: set[str] = set()
        self.closed: set[str] = set()
        self.seen = 0
        self.count = 0
        self.outbound_opened: set[str] = set()
        self.outbound_ended: set[str] = set()

    # --- helpers ---------------------------------------------------------------------

    def send(self, event: Any) -> None:
        self.h.send(event)
        self._collect()

    def _collect(self) -> None:
        for item in self.h.out[self.seen:]:
            if isinstance(item, ev.CallAbandoned | ev.RejectCall | ev.CallbackExpired):
                self.closed.add(getattr(item, "call_id", getattr(item, "callback_id", "")))
            elif isinstance(item, ev.Overflow) and item.target_kind not in ("queue",
                                                                             "callback"):
                self.closed.add(item.call_id)
        self.seen = len(self.h.out)

    def agents_in(self, *states: AgentState) -> list[str]:
        return sorted(a.agent_id for a in self.h.acd.agents.values() if a.state in states)

    def inbound_agents_in(self, *states: AgentState) -> list[str]:
        return [a for a in self.agents_in(*states) if a not in self.h.acd.outbound]

    def outbound_agents(self, connected: bool) -> list[str]:
        return sorted(a for a, work in self.h.acd.outbound.items()
                      if work.connected is connected)

    def held(self, agent_id: str) -> bool:
        return agent_id in self.h.acd._held

    def connected_calls(self) -> list[str]:
        return sorted(c.call_id for c in self.h.acd.calls.values()
                      if c.state is CallState.CONNECTED)

    # --- rules -----------------------------------------------------------------------

    @rule(queue=st.sampled_from([q.name for q in QUEUES]), priority=st.integers(0, 3))
    def route_call(self, queue: str, priority: int) -> None:
        self.count += 1
        call_id = f"c{self.count}"
        self.routed.add(call_id)
        self.send(ev.RouteCall(call_id, queue, caller=f"+1555{self.count:04d}",
                               priority=priority))

    @rule(agent=agent_ids, ready=st.booleans())
    def login(self, agent: str, ready: bool) -> None:
        if self.h.acd.agents[agent].state is AgentState.LOGGED_OUT:
            self.send(ev.AgentLogin(agent, f"sip:{agent}", ready))

    @rule(agent=agent_ids)
    def logout(self, agent: str) -> None:
        if self.h.acd.agents[agent].state is not AgentState.LOGGED_OUT:
            self.send(ev.AgentLogout(agent))

    @rule(agent=agent_ids)
    def ready(self, agent: str) -> None:
        state = self.h.acd.agents[agent].state
        if state is AgentState.NOT_READY or state in CALL_STATES:
            self.send(ev.AgentReady(agent))

    @rule(agent=agent_ids, reason=st.sampled_from(["lunch", "break"]))
    def not_ready(self, agent: str, reason: str) -> None:
        if self.h.acd.agents[agent].state is not AgentState.LOGGED_OUT:
            self.send(ev.AgentNotReady(agent, reason))

    @precondition(lambda self: self.inbound_agents_in(AgentState.RESERVED, AgentState.RINGING))
    @rule(data=st.data(), ring_first=st.booleans())
    def answer(self, data: st.DataObject, ring_first: bool) -> None:
        agent = data.draw(st.sampled_from(self.inbound_agents_in(AgentState.RESERVED,
                                                                 AgentState.RINGING)))
        call_id = self.h.acd.agents[agent].call_id
        if ring_first:
            self.send(ev.AgentRinging(call_id, agent))
        if self.h.acd.calls[call_id].callback:
            self.send(ev.CallbackResult(call_id, connected=True))
        else:
            self.send(ev.AgentAnswered(call_id, agent))

    @precondition(lambda self: self.agents_in(AgentState.RESERVED, AgentState.RINGING))
    @rule(data=st.data())
    def refuse(self, data: st.DataObject) -> None:
        agent = data.draw(st.sampled_from(self.agents_in(AgentState.RESERVED,
                                                         AgentState.RINGING)))
        if agent in self.h.acd.outbound:  # an outbound dial that failed
            self.outbound_ended.add(self.h.acd.outbound[agent].call_id)
        self.send(ev.AgentLegEnded(self.h.acd.agents[agent].call_id, agent))

    @precondition(lambda self: self.h.acd.calls)
    @rule(data=st.data())
    def caller_hangs_up(self, data: st.DataObject) -> None:
        call_id = data.draw(st.sampled_from(sorted(self.h.acd.calls)))
        call = self.h.acd.calls[call_id]
        if call.state is CallState.CONNECTED:
            self.closed.add(call_id)
        self.send(ev.CallerHangup(call_id))

    @precondition(lambda self: self.connected_calls())
    @rule(data=st.data(), hold=st.booleans())
    def agent_hangs_up(self, data: st.DataObject, hold: bool) -> None:
        call_id = data.draw(st.sampled_from(self.connected_calls()))
        agent = self.h.acd.calls[call_id].agent_id
        if hold:
            self.send(ev.CallHeld(call_id))
        self.closed.add(call_id)
        self.send(ev.AgentLegEnded(call_id, agent))

    @precondition(lambda self: any(c.state is CallState.WAITING and not c.callback
                                   for c in self.h.acd.calls.values()))
    @rule(data=st.data())
    def request_callback(self, data: st.DataObject) -> None:
        waiting = sorted(c.call_id for c in self.h.acd.calls.values()
                         if c.state is CallState.WAITING and not c.callback)
        call_id = data.draw(st.sampled_from(waiting))
        self.send(ev.RequestCallback(call_id, "+15550000"))

    @precondition(lambda self: self.agents_in(AgentState.WRAP_UP))
    @rule(data=st.data(), then=st.sampled_from(["", "ready", "not_ready:lunch", "logged_out"]),
          extend=st.booleans())
    def wrap_up(self, data: st.DataObject, then: str, extend: bool) -> None:
        agent = data.draw(st.sampled_from(self.agents_in(AgentState.WRAP_UP)))
        if extend:
            self.send(ev.WrapUpExtend(agent, 10))
        else:
            self.send(ev.WrapUpDone(agent, then))

    # --- outbound work (the dialer's commands, as the shell feeds them) ---------------------

    @rule(agent=agent_ids, campaign=st.sampled_from(["spring", "autumn"]),
          hold=st.sampled_from([0.0, 0.0, 15.0]))
    def reserve_for_outbound(self, agent: str, campaign: str, hold: float) -> None:
        self.count += 1
        call_id = f"o{self.count}"
        before = self.h.acd.agents[agent].state
        try:
            self.send(ev.ReserveForOutbound(agent, campaign, call_id, hold))
        except AcdError:
            assert before is not AgentState.READY  # refused only when not ready...
            assert self.h.acd.agents[agent].state is before  # ...and nothing changed
            assert call_id not in self.h.acd.outbound_calls
            return
        assert before is AgentState.READY
        self.outbound_opened.add(call_id)

    @rule(data=st.data(), wrap=st.sampled_from([None, 0.0, 5.0]))
    def outbound_connect(self, data: st.DataObject, wrap: float | None) -> None:
        reserved = self.outbound_agents(connected=False)
        ready = self.agents_in(AgentState.READY)
        if not reserved and not ready:
            return
        agent = data.draw(st.sampled_from(reserved + ready))
        if agent in reserved:
            call_id = self.h.acd.outbound[agent].call_id
        else:  # predictive: an answered call goes straight to a ready operator
            self.count += 1
            call_id = f"o{self.count}"
            self.outbound_opened.add(call_id)
        self.send(ev.OutboundConnected(agent, call_id, "spring", wrap))
        assert self.h.acd.agents[agent].state is AgentState.ON_CALL

    @precondition(lambda self: self.outbound_agents(connected=False))
    @rule(data=st.data())
    def outbound_release(self, data: st.DataObject) -> None:
        agent = data.draw(st.sampled_from(self.outbound_agents(connected=False)))
        self.outbound_ended.add(self.h.acd.outbound[agent].call_id)
        self.send(ev.OutboundReleased(agent))
        assert agent not in self.h.acd.outbound

    @precondition(lambda self: self.outbound_agents(connected=True))
    @rule(data=st.data(), hold=st.booleans())
    def outbound_hang_up(self, data: st.DataObject, hold: bool) -> None:
        agent = data.draw(st.sampled_from(self.outbound_agents(connected=True)))
        call_id = self.h.acd.outbound[agent].call_id
        if hold:
            self.send(ev.CallHeld(call_id))
            assert self.h.acd.agents[agent].state is AgentState.ON_HOLD
        self.outbound_ended.add(call_id)
        self.send(ev.AgentLegEnded(call_id, agent))
        assert self.h.acd.agents[agent].state is not AgentState.ON_CALL

    @rule(seconds=st.floats(0, 45))
    def time_passes(self, seconds: float) -> None:
        self.h.advance(seconds)
        self._collect()

    @rule(data=st.data())
    def watchdog(self, data: st.DataObject) -> None:
        known = sorted(self.routed | self.outbound_opened)
        live = data.draw(st.sets(st.sampled_from(known or ["none"])))
        before = {c for c, call in self.h.acd.calls.items()
                  if c not in live and (not call.callback or call.state is CallState.CONNECTED)}
        self.closed |= before
        grace = self.h.acd.site.watchdog_grace_s
        gone = {w.call_id for w in self.h.acd.outbound.values() if w.call_id not in live
                and (w.connected or self.h.now - w.since >= grace)}
        self.outbound_ended |= gone
        self.send(ev.LiveLegs(frozenset(live)))
        for agent in self.h.acd.agents.values():  # no phantom: a busy operator has a live leg
            work = self.h.acd.outbound.get(agent.agent_id)
            if work is not None:
                assert agent.call_id == work.call_id
                assert work.call_id in live or (not work.connected
                                                and self.h.now - work.since < grace)
            elif agent.state in CALL_STATES:
                call = self.h.acd.calls[agent.call_id]
                assert agent.call_id in live or (call.callback
                                                 and call.state is not CallState.CONNECTED)

    # --- invariants ------------------------------------------------------------------

    @invariant()
    def no_call_lost_or_duplicated(self) -> None:
        active = set(self.h.acd.calls)
        assert not active & self.closed, active & self.closed
        assert active | self.closed == self.routed, self.routed - active - self.closed
        waiting_keys = [key[3] for q in self.h.acd.queues.values() for key in q.waiting]
        assert len(waiting_keys) == len(set(waiting_keys))
        waiting = {c for c, call in self.h.acd.calls.items() if call.state is CallState.WAITING}
        assert set(waiting_keys) == waiting

    @invariant()
    def an_operator_never_has_two_calls(self) -> None:
        holders: dict[str, list[str]] = {}
        for call in self.h.acd.calls.values():
            for agent in call.offered_to:
                holders.setdefault(agent, []).append(call.call_id)
            if call.state is CallState.CONNECTED:
                holders.setdefault(call.agent_id, []).append(call.call_id)
        for work in self.h.acd.outbound.values():
            holders.setdefault(work.agent_id, []).append(work.call_id)
        for agent_id, agent in self.h.acd.agents.items():
            calls = holders.get(agent_id, [])
            assert len(calls) <= 1, (agent_id, calls)
            work = self.h.acd.outbound.get(agent_id)
            if work is not None:
                expected = {AgentState.ON_CALL, AgentState.ON_HOLD} if work.connected \
                    else {AgentState.RESERVED}
                assert agent.state in expected, (agent_id, agent.state, work)
            if agent.state in CALL_STATES:
                assert calls == [agent.call_id], (agent_id, agent.state, calls)
            else:
                assert calls == [], (agent_id, agent.state, calls)

    @invariant()
    def an_outbound_first_hold_always_ends(self) -> None:
        for agent_id, seconds in self.h.acd._held.items():
            agent = self.h.acd.agents[agent_id]
            if agent.state is AgentState.READY:
                assert self.h.now - agent.since < seconds, (agent_id, agent.since, seconds)

    @invariant()
    def no_outbound_call_lost_or_duplicated(self) -> None:
        acd = self.h.acd
        active = set(acd.outbound_calls)
        assert active == self.outbound_opened - self.outbound_ended, (
            active, self.outbound_opened - self.outbound_ended)
        assert len(active) == len(acd.outbound)
        assert not active & set(acd.calls)
        assert all(acd.outbound[a].call_id == c for c, a in acd.outbound_calls.items())

    @invariant()
    def no_ready_operator_idles_while_a_call_they_can_take_waits(self) -> None:
        acd = self.h.acd
        now = self.h.now
        for call in acd.calls.values():
            if call.state is not CallState.WAITING:
                continue
            runtime = acd.queues[call.queue]
            floor = runtime.min_level(now - call.arrived)
            idle = [a for a, level in runtime.members.items()  # outbound-first holds aside
                    if acd.agents[a].state is AgentState.READY and level >= floor
                    and not self.held(a)]
            assert not idle, (call.call_id, call.queue, idle)

    @invariant()
    def every_transition_is_recorded_in_order(self) -> None:
        last: dict[str, str] = {}
        for change in AcdHarness.of(ev.AgentStateChanged, self.h.out):
            assert last.get(change.agent_id, "logged_out") == change.old, change
            last[change.agent_id] = change.new
        for agent_id, agent in self.h.acd.agents.items():
            assert last.get(agent_id, "logged_out") == agent.state

    @invariant()
    def ready_indexes_match_the_operators(self) -> None:
        for runtime in self.h.acd.queues.values():
            ready = {a for a in runtime.members
                     if self.h.acd.agents[a].state is AgentState.READY and not self.held(a)}
            assert set(runtime.ready) == ready


AcdMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestAcdProperties = AcdMachine.TestCase
