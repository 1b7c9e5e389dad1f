"""The ACD: events in, commands out, timers through ``next_deadline()`` / ``on_time(now)``.

Feed it with ``acd.handle(event, now)`` (events from ``parley.events``' acd section); execute
the commands it returns (``OfferCall``, ``CancelOffer``, ``DialCallback``, ``Overflow``,
``RejectCall``) and record the notices (``AgentStateChanged``, ``CallQueued``,
``CallConnected``, ``CallAbandoned``, ``CallbackExpired``). Between events, wake it at
``acd.next_deadline()`` and call ``acd.on_time(now)``: ring timeouts, wrap-up ends, overflow
by wait, skill relaxation, scheduled callbacks and their expiry all live there.

Time is ``now`` (monotonic seconds) on every call; wall time, needed for opening hours and
scheduled callbacks, comes from the injected ``wall(now) -> datetime`` (UTC, aware).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from parley import events as ev
from parley.acd import callbacks, outbound
from parley.acd.agent import (
    CALL_STATES,
    AcdError,
    Agent,
    AgentState,
    DeviceRegistry,
    InvalidTransition,
    Trigger,
)
from parley.acd.calls import AcdCall, AgentSnapshot, CallState, QueueSnapshot
from parley.acd.config import Condition, QueueConfig, SiteConfig, Strategy, Target, TargetKind
from parley.acd.lists import NumberLists
from parley.acd.outbound import OutboundWork
from parley.acd.routing import CallKey, QueueRuntime
from parley.acd.stats import AgentStats, expected_wait

S = AgentState
T = Trigger
MAX_OVERFLOW_HOPS = 5


def _epoch_wall(now: float) -> datetime:
    return datetime(2026, 1, 5, tzinfo=UTC) + timedelta(seconds=now)


class Acd:
    """The automatic call distributor for one site."""

    def __init__(self, queues: Iterable[QueueConfig], agents: Iterable[Agent] = (),
                 *, site: SiteConfig | None = None, lists: NumberLists | None = None,
                 wall: Callable[[float], datetime] = _epoch_wall) -> None:
        self.site = site or SiteConfig()
        self.lists = lists or NumberLists()
        self.wall = wall
        self.queues: dict[str, QueueRuntime] = {}
        self.agents: dict[str, Agent] = {}
        self.agent_queues: dict[str, list[QueueRuntime]] = {}
        self.agent_stats: dict[str, AgentStats] = {}
        self.calls: dict[str, AcdCall] = {}
        self.devices = DeviceRegistry()
        self._work: dict[str, tuple[str, float]] = {}  # agent -> (queue, connected at)
        self._wrap_token: dict[str, int] = {}
        self.outbound: dict[str, OutboundWork] = {}  # agent -> its outbound work (acd/outbound)
        self.outbound_calls: dict[str, str] = {}  # outbound call id -> agent
        self._held: dict[str, float] = {}  # agent -> outbound-first hold (seconds) pending
        self._timers: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._out: list[Any] = []
        self._now = 0.0
        for queue in queues:
            self.add_queue(queue)
        for agent in agents:
            self.add_agent(agent)

    # --- provisioning --------------------------------------------------------------------

    def add_queue(self, config: QueueConfig) -> None:
        if config.name in self.queues:
            raise AcdError(f"queue {config.name!r} is defined twice")
        runtime = QueueRuntime(config)
        runtime.bind_agents(self.agents.__getitem__)
        self.queues[config.name] = runtime
        for agent in self.agents.values():
            self._join(agent, runtime)

    def update_queue(self, config: QueueConfig) -> None:
        """A changed queue: strategy, member order, ring timeout, wrap-up, limits, hours,
        overflow, priority apply from the next decision; operators who now qualify join
        (members dropped stay until a restart)."""
        runtime = self.queues[config.name]
        runtime.reconfigure(config)
        for agent in self.agents.values():
            if agent.agent_id not in runtime.members:
                self._join(agent, runtime)

    def update_agent(self, agent_id: str, *, skills: dict[str, int], team: str,
                     teams: frozenset[str], name: str) -> None:
        """A changed operator: new skills and teams make it join the queues it now qualifies
        for (queues it no longer qualifies for keep it until a restart)."""
        agent = self.agent(agent_id)
        agent.skills, agent.team, agent.teams, agent.name = dict(skills), team, teams, name
        agent.__post_init__()  # the levels are checked like a new operator's
        for runtime in self.queues.values():
            if agent_id not in runtime.members:
                self._join(agent, runtime)

    def add_agent(self, agent: Agent) -> None:
        if agent.agent_id in self.agents:
            raise AcdError(f"agent {agent.agent_id!r} is defined twice")
        self.agents[agent.agent_id] = agent
        self.agent_queues[agent.agent_id] = []
        self.agent_stats[agent.agent_id] = AgentStats()
        for runtime in self.queues.values():
            self._join(agent, runtime)

    def _join(self, agent: Agent, runtime: QueueRuntime) -> None:
        level = runtime.level_of(agent)
        if level is not None:
            runtime.add_member(agent, level)
            self.agent_queues[agent.agent_id].append(runtime)

    # --- the event interface -------------------------------------------------------------

    def handle(self, event: ev.AcdEvent, now: float) -> list[Any]:
        """Apply one event; return the commands and notices it causes, in order."""
        self._now = now
        self._out = []
        handler = self._handlers.get(type(event))
        if handler is None:
            raise AcdError(f"the ACD does not handle {type(event).__name__}")
        handler(self, event, now)
        return self._out

    def next_deadline(self) -> float | None:
        """When :meth:`on_time` next has work, or None."""
        return self._timers[0][0] if self._timers else None

    def on_time(self, now: float) -> list[Any]:
        """Run every timer due at ``now``."""
        self._now = now
        self._out = []
        while self._timers and self._timers[0][0] <= now:
            _, _, kind, args = heapq.heappop(self._timers)
            getattr(self, "_timer_" + kind)(now, *args)
        return self._out

    # The operations below, public for the extensions (acd/callbacks.py, acd/outbound.py),
    # are what parley.acd.port.AcdCore declares; shells feed events instead.

    def schedule(self, when: float, kind: str, *args: Any) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), kind, args))

    def next_seq(self) -> int:
        return next(self._seq)

    def emit(self, item: Any) -> None:
        self._out.append(item)

    def begin_handle(self, agent_id: str, queue: str, now: float) -> None:
        self._work[agent_id] = (queue, now)

    def cancel_handle(self, agent_id: str) -> None:
        self._work.pop(agent_id, None)

    # --- queries -------------------------------------------------------------------------

    def position(self, call_id: str) -> int | None:
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.WAITING:
            return None
        return self.queues[call.queue].position(call.key)

    def expected_wait(self, call_id: str, now: float) -> float | None:
        """Expected remaining wait in seconds of a waiting caller (see docs/acd.md)."""
        position = self.position(call_id)
        if position is None:
            return None
        call = self.calls[call_id]
        return self._ewt(self.queues[call.queue], position, now - call.arrived)

    def expected_wait_on_arrival(self, queue: str, now: float) -> float:
        """The expected wait of a caller who would join ``queue`` now (flows, wallboards)."""
        runtime = self.queues[queue]
        return self._ewt(runtime, len(runtime.waiting) + 1, 0.0)

    def _ewt(self, runtime: QueueRuntime, position: int, waited: float) -> float:
        stats = runtime.stats
        return expected_wait(position, runtime.logged_in - runtime.not_ready,
                             stats.recent_handle.value, stats.recent_wait.value, waited,
                             self.site.ewt_blend)

    def queue_snapshot(self, name: str, now: float) -> QueueSnapshot:
        runtime = self.queues[name]
        stats = runtime.stats
        oldest = min((self.calls[key[3]].arrived for key in runtime.waiting), default=now)
        logged = [a for a in runtime.members if self.agents[a].state is not S.LOGGED_OUT]
        occupancy = (sum(self.agent_snapshot(a, now).occupancy for a in logged) / len(logged)
                     if logged else 0.0)
        return QueueSnapshot(
            name, len(runtime.waiting), now - oldest, stats.offered, stats.answered,
            stats.abandoned, stats.overflowed, stats.asa, stats.aht, occupancy,
            stats.service_level, stats.service_level_abandons, runtime.logged_in,
            len(runtime.ready))

    def agent_snapshot(self, agent_id: str, now: float) -> AgentSnapshot:
        agent = self.agents[agent_id]
        stats = self.agent_stats[agent_id]
        return AgentSnapshot(agent_id, agent.state, now - agent.since, stats.offered,
                             stats.answered, stats.missed, stats.aht,
                             stats.occupancy(agent.state, now - agent.since))

    # --- moving operators ----------------------------------------------------------------

    def agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise AcdError(f"unknown agent {agent_id!r}")
        return agent

    def move(self, agent: Agent, trigger: Trigger, *, target: AgentState | None = None,
              cause: str = "", reason: str = "", call_id: str = "") -> None:
        old, since, device = agent.state, agent.since, agent.device
        record = agent.apply(trigger, self._now, target=target, cause=cause, reason=reason,
                             call_id=call_id)
        new = agent.state
        self.agent_stats[agent.agent_id].add_time(old, self._now - since)
        if old is not new:
            queues = self.agent_queues[agent.agent_id]
            if old is S.READY:
                for runtime in queues:
                    runtime.mark_unready(agent.agent_id)
            if old is S.LOGGED_OUT or new is S.LOGGED_OUT:
                delta = 1 if old is S.LOGGED_OUT else -1
                for runtime in queues:
                    runtime.logged_in += delta
            if old is S.NOT_READY or new is S.NOT_READY:
                delta = 1 if new is S.NOT_READY else -1
                for runtime in queues:
                    runtime.not_ready += delta
            if new is S.LOGGED_OUT:
                self.devices.unbind(device)
        hold = self._held.get(agent.agent_id)
        if hold is not None and old is not new:
            if new is S.READY:
                self.schedule(self._now + hold, "unhold", agent.agent_id, agent.ready_epoch)
            elif old is S.READY or new in (S.NOT_READY, S.LOGGED_OUT):
                del self._held[agent.agent_id]
                hold = None
        if new is S.READY and hold is None:
            for runtime in self.agent_queues[agent.agent_id]:
                runtime.mark_ready(agent)
        self._out.append(ev.AgentStateChanged(agent.agent_id, old, new,
                                              record.cause, self._now, record.reason,
                                              record.call_id))

    def hold_inbound(self, agent_id: str, seconds: float) -> None:
        """Outbound first: once ``agent_id`` is next ready, keep inbound away ``seconds``."""
        self._held[agent_id] = seconds

    def _timer_unhold(self, now: float, agent_id: str, epoch: int) -> None:
        agent = self.agents[agent_id]
        if agent.state is S.READY and agent.ready_epoch == epoch \
                and self._held.pop(agent_id, None) is not None:
            for runtime in self.agent_queues[agent_id]:
                runtime.mark_ready(agent)
            self._route_agent(agent)

    def _after_work_target(self, agent: Agent, then: str = "") -> tuple[AgentState, str]:
        choice = then or agent.after_work
        if choice == "logged_out":
            return S.LOGGED_OUT, ""
        if choice.startswith("not_ready:"):
            return S.NOT_READY, choice.partition(":")[2]
        if choice in ("", "ready"):
            return S.READY, ""
        raise AcdError(f"agent {agent.agent_id}: unknown after-work state {choice!r} "
                       "(ready, not_ready:<reason> or logged_out)")

    def _check_reason(self, reason: str) -> None:
        if reason not in self.site.reason_codes \
                and reason not in (self.site.missed_call_reason, self.site.personal_call_reason):
            raise AcdError(f"unknown not-ready reason {reason!r} (site reasons: "
                           f"{', '.join(self.site.reason_codes)})")

    # --- operator events -----------------------------------------------------------------

    def _on_login(self, event: ev.AgentLogin, now: float) -> None:
        agent = self.agent(event.agent_id)
        if agent.state is not S.LOGGED_OUT:
            raise InvalidTransition(f"agent {agent.agent_id} is already logged in")
        self.devices.bind(agent, event.device)
        target = S.READY if event.ready else S.NOT_READY
        self.move(agent, T.LOGIN, target=target, reason="" if event.ready else "login")
        if event.ready:
            self._route_agent(agent)

    def _on_logout(self, event: ev.AgentLogout, now: float) -> None:
        agent = self.agent(event.agent_id)
        if agent.state in (S.READY, S.NOT_READY, S.WRAP_UP):
            self._wrap_token.pop(agent.agent_id, None)
            self._finish_work(agent)
            self.move(agent, T.LOGOUT)
            self._check_no_agents(agent)
        elif agent.state is S.LOGGED_OUT:
            raise InvalidTransition(f"agent {agent.agent_id} is not logged in")
        else:
            agent.after_work = "logged_out"

    def _on_ready(self, event: ev.AgentReady, now: float) -> None:
        agent = self.agent(event.agent_id)
        if agent.state in CALL_STATES or agent.state is S.WRAP_UP:
            agent.after_work = ""
            return
        self.move(agent, T.SET_READY)
        agent.missed_in_row = 0
        self._route_agent(agent)

    def _on_not_ready(self, event: ev.AgentNotReady, now: float) -> None:
        agent = self.agent(event.agent_id)
        self._check_reason(event.reason)
        if agent.state in CALL_STATES or agent.state is S.WRAP_UP:
            agent.after_work = "not_ready:" + event.reason
            return
        self.move(agent, T.SET_NOT_READY, reason=event.reason)

    def _on_wrap_extend(self, event: ev.WrapUpExtend, now: float) -> None:
        agent = self.agent(event.agent_id)
        self.move(agent, T.EXTEND_WRAP_UP, cause="wrap-up extended")
        token = self._wrap_token.get(agent.agent_id, 0) + 1
        self._wrap_token[agent.agent_id] = token
        self.schedule(now + event.seconds, "wrap", agent.agent_id, token)

    def _on_wrap_done(self, event: ev.WrapUpDone, now: float) -> None:
        agent = self.agent(event.agent_id)
        if agent.state is not S.WRAP_UP:
            raise InvalidTransition(f"agent {agent.agent_id} is not in wrap-up")
        self.end_wrap_up(agent, event.then)

    def end_wrap_up(self, agent: Agent, then: str = "") -> None:
        target, reason = self._after_work_target(agent, then)
        self._wrap_token.pop(agent.agent_id, None)
        self._finish_work(agent)
        self.move(agent, T.END_WRAP_UP, target=target, reason=reason, cause="wrap-up ended")
        agent.after_work = ""
        if target is S.READY:
            self._route_agent(agent)
        elif target is S.LOGGED_OUT:
            self._check_no_agents(agent)

    def _finish_work(self, agent: Agent) -> None:
        work = self._work.pop(agent.agent_id, None)
        if work is not None:
            queue, started = work
            seconds = self._now - started
            if queue:  # "" is outbound work
                self.queues[queue].stats.on_handled(seconds)
            stats = self.agent_stats[agent.agent_id]
            stats.handled += 1
            stats.total_handle += seconds

    def _timer_wrap(self, now: float, agent_id: str, token: int) -> None:
        agent = self.agents[agent_id]
        if agent.state is S.WRAP_UP and self._wrap_token.get(agent_id) == token:
            self.end_wrap_up(agent)

    # --- call events ---------------------------------------------------------------------

    def _on_route(self, event: ev.RouteCall, now: float) -> None:
        runtime = self.queues.get(event.queue)
        if runtime is None:
            raise AcdError(f"call {event.call_id}: unknown queue {event.queue!r}")
        if event.call_id in self.calls or event.call_id in self.outbound_calls:
            raise AcdError(f"call {event.call_id} is already in the ACD")
        match = self.lists.match(event.caller)
        if match.blocked:
            self._out.append(ev.RejectCall(event.call_id, match.treatment, "blacklist"))
            return
        waited = event.waited
        arrived = now if waited is None else now - max(0.0, waited)
        call = AcdCall(event.call_id, event.queue, event.caller,
                       event.priority + match.vip_priority + runtime.config.priority, arrived,
                       next(self._seq))
        self.calls[call.call_id] = call
        self.arrive(call, runtime, carried=waited is not None)

    def _on_conversation_carried(self, event: ev.ConversationCarried, now: float) -> None:
        """The operator goes on with a conversation another node connected: on that call
        here (logged in on its device first when not yet), with no offer and no stats
        counted twice (the other node counted the answer)."""
        if event.queue not in self.queues:
            raise AcdError(f"call {event.call_id}: unknown queue {event.queue!r}")
        if event.call_id in self.calls or event.call_id in self.outbound_calls:
            raise AcdError(f"call {event.call_id} is already in the ACD")
        agent = self._carried_operator(event.agent_id, event.device, event.call_id)
        answered = now - max(0.0, event.talked)
        call = AcdCall(event.call_id, event.queue, event.caller, event.priority,
                       answered - max(0.0, event.waited), next(self._seq),
                       state=CallState.CONNECTED, agent_id=agent.agent_id)
        self.calls[call.call_id] = call
        self.move(agent, T.RESERVE, call_id=call.call_id, cause="carried over")
        self.move(agent, T.ANSWER, cause="carried over")
        agent.calls_taken += 1
        self.begin_handle(agent.agent_id, call.queue, answered)

    def _on_outbound_carried(self, event: ev.OutboundCarried, now: float) -> None:
        """The operator goes on with a campaign's conversation another node connected: on
        that outbound call here (logged in on its device first when not yet)."""
        if event.call_id in self.calls or event.call_id in self.outbound_calls:
            raise AcdError(f"call {event.call_id} is already in the ACD")
        if event.wrap_up_s is not None and event.wrap_up_s < 0:
            raise AcdError(f"call {event.call_id}: wrap_up_s must be >= 0")
        agent = self._carried_operator(event.agent_id, event.device, event.call_id)
        outbound.on_carried(self, agent, event, now)

    def _carried_operator(self, agent_id: str, device: str, call_id: str) -> Agent:
        """The operator of a conversation carried over from the other node, logged in on
        ``device`` first when not yet; AcdError unless free to go on with ``call_id``."""
        agent = self.agent(agent_id)
        if agent.state is S.LOGGED_OUT:
            self.devices.bind(agent, device)
            self.move(agent, T.LOGIN, target=S.READY, cause="carried over")
        if agent.state is not S.READY:
            raise AcdError(f"operator {agent.agent_id} is {agent.state}: not free to go on "
                           f"with call {call_id}")
        return agent

    def arrive(self, call: AcdCall, runtime: QueueRuntime, *, carried: bool = False) -> None:
        """A call enters ``runtime``: arrival rules, then an operator or the waiting line;
        a call ``carried`` over from another node was admitted there: its place only."""
        now = self._now
        config = runtime.config
        if call.callback or carried:
            if call.attempts == 0 and call.hops == 0:
                runtime.stats.offered += 1
            self._wait(call, runtime)
            self._route_call(call)
            return None
        runtime.stats.offered += 1
        for rule in config.overflow:
            if rule.condition is Condition.CLOSED and config.hours is not None \
                    and not config.hours.is_open(self.wall(now)):
                return self._overflow(call, rule.target, "closed")
            if rule.condition is Condition.NO_AGENTS and runtime.logged_in == 0:
                return self._overflow(call, rule.target, "no agents")
            if rule.condition is Condition.LENGTH and len(runtime.waiting) >= rule.threshold:
                return self._overflow(call, rule.target, "length")
        if config.max_length is not None and len(runtime.waiting) >= config.max_length:
            return self._overflow(call, config.overflow_target, "max length")
        if self._route_call(call):
            return None
        ewt = self._ewt(runtime, runtime.position(call.key), now - call.arrived)
        for rule in config.overflow:
            if rule.condition is Condition.EXPECTED_WAIT and ewt > rule.threshold:
                return self._overflow(call, rule.target, "expected wait")
        self._wait(call, runtime)
        return None

    def _wait(self, call: AcdCall, runtime: QueueRuntime) -> None:
        """Put the call in line (keeping its original place) and arm its wait timers."""
        call.state = CallState.WAITING
        call.offered_to.clear()
        runtime.enqueue(call.key)
        waited = self._now - call.arrived
        config = runtime.config
        if not call.callback:
            position = runtime.position(call.key)
            self._out.append(ev.CallQueued(call.call_id, call.queue, position,
                                           self._ewt(runtime, position, waited)))
            limits = [(rule.threshold, i) for i, rule in enumerate(config.overflow)
                      if rule.condition is Condition.WAIT]
            if config.max_wait_s is not None:
                limits.append((config.max_wait_s, -1))
            for threshold, index in limits:
                self.schedule(call.arrived + threshold, "wait", call.call_id, index, call.hops)
        relax = runtime.next_relax(waited)
        if relax is not None:
            self.schedule(call.arrived + relax, "relax", call.call_id, call.hops)

    def _timer_wait(self, now: float, call_id: str, index: int, hops: int) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.WAITING or call.hops != hops \
                or call.callback:
            return  # a callback keeps its place whatever the wait: nobody is on the line
        config = self.queues[call.queue].config
        if index < 0:
            self._overflow(call, config.overflow_target, "max wait")
        else:
            self._overflow(call, config.overflow[index].target, "wait")

    def _timer_relax(self, now: float, call_id: str, hops: int) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.WAITING or call.hops != hops:
            return
        runtime = self.queues[call.queue]
        if not self._route_call(call):
            relax = runtime.next_relax(now - call.arrived)
            if relax is not None:
                self.schedule(call.arrived + relax, "relax", call.call_id, call.hops)

    def leave_line(self, call: AcdCall) -> None:
        if call.state is CallState.WAITING:
            self.queues[call.queue].remove(call.key)

    def _overflow(self, call: AcdCall, target: Target, reason: str) -> None:
        runtime = self.queues[call.queue]
        self.leave_line(call)
        runtime.stats.overflowed += 1
        self._out.append(ev.Overflow(call.call_id, call.queue, target.kind.value, target.name,
                                     reason))
        if target.kind is TargetKind.QUEUE and target.name in self.queues \
                and call.hops < MAX_OVERFLOW_HOPS:
            new = self.queues[target.name]
            call.hops += 1
            call.queue = target.name
            call.priority += new.config.priority - runtime.config.priority
            call.state = CallState.WAITING
            self.arrive(call, new)
            return
        if target.kind is TargetKind.CALLBACK and not call.callback:
            call.callback = True
            call.number = call.caller
            call.hops += 1
            self._wait(call, runtime)
            self._route_call(call)
            return
        call.state = CallState.ENDED
        del self.calls[call.call_id]

    def _check_no_agents(self, agent: Agent) -> None:
        """After a logout: queues left with nobody overflow their waiting callers."""
        for runtime in self.agent_queues[agent.agent_id]:
            if runtime.logged_in:
                continue
            for rule in runtime.config.overflow:
                if rule.condition is Condition.NO_AGENTS:
                    for key in list(runtime.waiting):
                        if not self.calls[key[3]].callback:
                            self._overflow(self.calls[key[3]], rule.target, "no agents")
                    break

    # --- routing -------------------------------------------------------------------------

    def _route_call(self, call: AcdCall) -> bool:
        """Offer ``call`` to the operator(s) its queue's strategy picks; False if none."""
        runtime = self.queues[call.queue]
        min_level = runtime.min_level(self._now - call.arrived)
        if runtime.config.strategy is Strategy.RING_ALL and not call.callback:
            chosen = runtime.candidates(call.missed, min_level)
            if not chosen and call.missed:
                chosen = runtime.candidates(set(), min_level)
                call.missed.clear()
            if not chosen:
                return False
            self.leave_line(call)
            for chosen_id in chosen:
                self._offer(call, self.agents[chosen_id])
            return True
        agent_id = runtime.pick(call.missed, min_level)
        if agent_id is None and call.missed:
            agent_id = runtime.pick((), min_level)
            if agent_id is not None:
                call.missed.clear()
        if agent_id is None:
            return False
        self.leave_line(call)
        self._offer(call, self.agents[agent_id])
        return True

    def _route_agent(self, agent: Agent) -> None:
        """A ready operator takes the best caller across all their queues, if any waits."""
        if agent.agent_id in self._held:
            return  # outbound first: the campaign has the first claim for a while
        best: CallKey | None = None
        skipped: list[str] = []
        for runtime in self.agent_queues[agent.agent_id]:
            level = runtime.members[agent.agent_id]
            for key in runtime.waiting:
                if best is not None and key >= best:
                    break
                call = self.calls[key[3]]
                if agent.agent_id in call.missed:
                    skipped.append(call.call_id)
                    continue
                if level < runtime.min_level(self._now - call.arrived):
                    continue
                best = key
                break
        if best is not None:
            call = self.calls[best[3]]
            if self.queues[call.queue].config.strategy is Strategy.RING_ALL \
                    and not call.callback:
                self._route_call(call)
            else:
                self.leave_line(call)
                self._offer(call, agent)
            return
        for call_id in skipped:
            if agent.state is not S.READY:
                break
            call = self.calls[call_id]
            if call.state is CallState.WAITING:
                self._route_call(call)

    def _offer(self, call: AcdCall, agent: Agent) -> None:
        runtime = self.queues[call.queue]
        call.state = CallState.OFFERING
        call.offered_to.add(agent.agent_id)
        call.offers += 1
        call.tokens[agent.agent_id] = call.offers
        self.move(agent, T.RESERVE, call_id=call.call_id, cause="offer")
        self.agent_stats[agent.agent_id].offered += 1
        timeout = runtime.config.ring_timeout_s
        if call.callback:
            self._out.append(ev.DialCallback(call.call_id, agent.agent_id, agent.device,
                                             call.number, call.queue))
            timeout = 2 * timeout + self.site.watchdog_grace_s
        else:
            self._out.append(ev.OfferCall(call.call_id, agent.agent_id, agent.device, timeout))
        self.schedule(self._now + timeout, "ring", call.call_id, agent.agent_id, call.offers)

    def _timer_ring(self, now: float, call_id: str, agent_id: str, offers: int) -> None:
        call = self.calls.get(call_id)
        agent = self.agents[agent_id]
        if call is None or agent_id not in call.offered_to or agent.call_id != call_id \
                or agent.state not in (S.RESERVED, S.RINGING) \
                or call.tokens.get(agent_id) != offers:
            return
        if call.callback:
            callbacks.failed(self, call, agent, "no answer", now)
            return
        self._missed(call, agent, "ring timeout")

    def _missed(self, call: AcdCall, agent: Agent, cause: str) -> None:
        """Redirect on no answer: free the operator, count the miss, try the next one."""
        self._out.append(ev.CancelOffer(call.call_id, agent.agent_id))
        call.offered_to.discard(agent.agent_id)
        call.missed.add(agent.agent_id)
        self._count_miss(agent, T.RELEASE, cause)
        if not call.offered_to:
            self._wait(call, self.queues[call.queue])
            self._route_call(call)
        if agent.state is S.READY:
            self._route_agent(agent)

    def free_after_miss(self, agent: Agent, trigger: Trigger, cause: str, *,
                        counted: bool = True) -> None:
        """Free an operator who did not take a call given to them: the miss is counted (not
        when the caller left first), and after ``site.missed_call_limit`` in a row they are
        not ready."""
        self._count_miss(agent, trigger, cause, counted=counted)
        if agent.state is S.READY:
            self._route_agent(agent)

    def _count_miss(self, agent: Agent, trigger: Trigger, cause: str, *,
                    counted: bool = True) -> None:
        if counted:
            agent.missed_in_row += 1
            self.agent_stats[agent.agent_id].missed += 1
        limit = self.site.missed_call_limit
        if counted and limit is not None and agent.missed_in_row >= limit:
            self.move(agent, trigger, target=S.NOT_READY, cause=cause,
                       reason=self.site.missed_call_reason)
        else:
            target, reason = self._after_work_target(agent)
            self.move(agent, trigger, target=target, cause=cause, reason=reason)
            agent.after_work = ""
            if target is S.LOGGED_OUT:
                self._check_no_agents(agent)

    def release(self, agent: Agent, cause: str) -> None:
        """Free an operator whose offer ended through no fault of theirs."""
        target, reason = self._after_work_target(agent)
        self.move(agent, T.RELEASE, target=target, cause=cause, reason=reason)
        agent.after_work = ""
        if target is S.READY:
            self._route_agent(agent)
        elif target is S.LOGGED_OUT:
            self._check_no_agents(agent)

    def _on_ringing(self, event: ev.AgentRinging, now: float) -> None:
        agent = self.agent(event.agent_id)
        if agent.state is S.RESERVED and agent.call_id == event.call_id:
            self.move(agent, T.RING, cause="ringing")

    def _on_answered(self, event: ev.AgentAnswered, now: float) -> None:
        call = self.calls.get(event.call_id)
        agent = self.agent(event.agent_id)
        if call is not None and call.callback:
            return  # a callback connects when the customer answers (CallbackResult)
        if call is None or call.state is not CallState.OFFERING \
                or event.agent_id not in call.offered_to:
            self._out.append(ev.CancelOffer(event.call_id, event.agent_id))
            return
        self.connect(call, agent)

    def connect(self, call: AcdCall, agent: Agent) -> None:
        runtime = self.queues[call.queue]
        for other in sorted(call.offered_to - {agent.agent_id}):
            self._out.append(ev.CancelOffer(call.call_id, other))
            call.offered_to.discard(other)
            self.release(self.agents[other], "answered elsewhere")
        call.state = CallState.CONNECTED
        call.agent_id = agent.agent_id
        call.offered_to.clear()
        self.move(agent, T.ANSWER, cause="answered")
        agent.missed_in_row = 0
        agent.calls_taken += 1
        self.agent_stats[agent.agent_id].answered += 1
        waited = self._now - call.arrived
        runtime.stats.on_answer(waited)
        self.begin_handle(agent.agent_id, call.queue, self._now)
        self._out.append(ev.CallConnected(call.call_id, agent.agent_id, call.queue, waited))

    def _end_call(self, call: AcdCall, cause: str) -> None:
        agent = self.agents[call.agent_id]
        del self.calls[call.call_id]
        call.state = CallState.ENDED
        wrap = agent.wrap_up_s if agent.wrap_up_s is not None \
            else self.queues[call.queue].config.wrap_up_s
        self.move(agent, T.HANG_UP, target=S.WRAP_UP, cause=cause)
        if wrap <= 0:
            self.end_wrap_up(agent)
        else:
            self.arm_wrap(agent, wrap)

    def arm_wrap(self, agent: Agent, seconds: float) -> None:
        token = self._wrap_token.get(agent.agent_id, 0) + 1
        self._wrap_token[agent.agent_id] = token
        self.schedule(self._now + seconds, "wrap", agent.agent_id, token)

    def _on_leg_ended(self, event: ev.AgentLegEnded, now: float) -> None:
        call = self.calls.get(event.call_id)
        agent = self.agent(event.agent_id)
        if call is None and outbound.leg_ended(self, agent, event.call_id):
            return
        if call is None or agent.call_id != event.call_id:
            return
        if call.state is CallState.CONNECTED and call.agent_id == agent.agent_id:
            self._end_call(call, "agent hung up")
        elif event.agent_id in call.offered_to:
            if call.callback:
                callbacks.failed(self, call, agent, "agent unreachable", now)
            else:
                self._missed(call, agent, "agent leg ended")

    def _on_caller_hangup(self, event: ev.CallerHangup, now: float) -> None:
        call = self.calls.get(event.call_id)
        if call is None:
            return
        if call.state is CallState.CONNECTED:
            self._end_call(call, "caller hung up")
            return
        if call.callback:
            return  # the caller left the line on purpose; the callback keeps the place
        runtime = self.queues[call.queue]
        self.leave_line(call)
        del self.calls[call.call_id]
        waited = now - call.arrived
        runtime.stats.on_abandon(waited)
        self._out.append(ev.CallAbandoned(call.call_id, call.queue, waited))
        for agent_id in sorted(call.offered_to):
            self._out.append(ev.CancelOffer(call.call_id, agent_id))
            agent = self.agents[agent_id]
            if agent_id == event.unrung:  # their phone never rang: not an offer to them
                self.agent_stats[agent_id].offered -= 1
            if agent.state in (S.RESERVED, S.RINGING) and agent.call_id == call.call_id:
                self.release(agent, "caller hung up")
        call.state = CallState.ENDED

    def _on_hold(self, event: ev.CallHeld, now: float) -> None:
        call = self.calls.get(event.call_id)
        if call is not None and call.state is CallState.CONNECTED:
            self.move(self.agents[call.agent_id], T.HOLD, cause="hold")
        elif (agent := outbound.agent_for_call(self, event.call_id)) is not None:
            self.move(agent, T.HOLD, cause="hold")

    def _on_resume(self, event: ev.CallResumed, now: float) -> None:
        call = self.calls.get(event.call_id)
        if call is not None and call.state is CallState.CONNECTED:
            self.move(self.agents[call.agent_id], T.UNHOLD, cause="resume")
        elif (agent := outbound.agent_for_call(self, event.call_id)) is not None:
            self.move(agent, T.UNHOLD, cause="resume")

    def _on_live_legs(self, event: ev.LiveLegs, now: float) -> None:
        """The watchdog: anything tied to a leg that no longer exists is freed."""
        outbound.audit(self, event.call_ids, now)
        for call in list(self.calls.values()):
            if call.call_id in event.call_ids or call.call_id not in self.calls:
                continue
            if call.callback and call.state is not CallState.CONNECTED:
                if call.state is CallState.OFFERING:
                    for agent_id in sorted(call.offered_to):
                        callbacks.failed(self, call, self.agents[agent_id], "leg gone",
                                         now)
                continue
            self._on_caller_hangup(ev.CallerHangup(call.call_id), now)
        for agent in self.agents.values():
            if agent.state in CALL_STATES and agent.call_id not in self.calls \
                    and agent.agent_id not in self.outbound:
                self._release_phantom(agent)

    def _release_phantom(self, agent: Agent) -> None:
        if agent.state in (S.ON_CALL, S.ON_HOLD):
            self.move(agent, T.HANG_UP, target=S.WRAP_UP, cause="watchdog")
            self.end_wrap_up(agent)
        else:
            self.release(agent, "watchdog")

    # --- callbacks (acd/callbacks.py) ---------------------------------------------------

    def _timer_cb_due(self, now: float, call_id: str, attempts: int) -> None:
        callbacks.due(self, now, call_id, attempts)

    def _timer_cb_expire(self, now: float, call_id: str) -> None:
        callbacks.expire_if_waiting(self, call_id)

    _handlers: ClassVar[dict[type, Callable[[Acd, Any, float], None]]] = {
        ev.RouteCall: _on_route,
        ev.ConversationCarried: _on_conversation_carried,
        ev.AgentLogin: _on_login,
        ev.AgentLogout: _on_logout,
        ev.AgentReady: _on_ready,
        ev.AgentNotReady: _on_not_ready,
        ev.AgentRinging: _on_ringing,
        ev.AgentAnswered: _on_answered,
        ev.AgentLegEnded: _on_leg_ended,
        ev.CallerHangup: _on_caller_hangup,
        ev.CallHeld: _on_hold,
        ev.CallResumed: _on_resume,
        ev.WrapUpExtend: _on_wrap_extend,
        ev.WrapUpDone: _on_wrap_done,
        ev.RequestCallback: callbacks.on_request,
        ev.ScheduleCallback: callbacks.on_schedule,
        ev.CallbackResult: callbacks.on_result,
        ev.CancelCallback: callbacks.on_cancel,
        ev.LiveLegs: _on_live_legs,
        ev.ReserveForOutbound: outbound.on_reserve,
        ev.OutboundConnected: outbound.on_connected,
        ev.OutboundCarried: _on_outbound_carried,
        ev.OutboundReleased: outbound.on_released,
        ev.OutboundMissed: outbound.on_missed,
    }
