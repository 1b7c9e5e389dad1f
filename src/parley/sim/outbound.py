"""Outbound simulation: the real dialer and the ACD's operator state machine on a virtual clock.

The model plays the network and the people: who answers (contact rate), after how long (ring
time), answering machines and how well detection tells them apart, how long an answered person
waits for an operator before hanging up, talk and wrap-up times, preview time, agentless
"press 1". Operators live in a real ACD (:class:`parley.acd.core.Acd`): the dialer's
``ReserveAgent``, ``ConnectAgent`` and ``ReleaseAgent`` go in through ``Acd.handle`` as
``ReserveForOutbound``, ``OutboundConnected`` and ``OutboundReleased``, the end of a call as
``AgentLegEnded`` and ``WrapUpDone``, exactly as the production shell feeds them; every
``AgentStateChanged`` the ACD emits is fed back to the dialer.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from parley import kpi
from parley.acd.agent import Agent, AgentState
from parley.acd.config import QueueConfig
from parley.acd.core import Acd
from parley.acd.outbound import net_changes
from parley.clock import TimerHandle, VirtualClock
from parley.dialer.campaign import CampaignConfig
from parley.dialer.contacts import Contact, PhoneNumber
from parley.dialer.engine import CampaignStats, Dialer
from parley.dialer.model import DialerError, DialMode, NumberType, Outcome
from parley.dialer.pacing import US_WINDOW_S
from parley.dialer.strategy import Strategy
from parley.dialer.windows import Calendar
from parley.events import (
    AgentAnswered,
    AgentLegEnded,
    AgentlessDigit,
    AgentLogin,
    AgentStateChanged,
    AttemptAnswered,
    AttemptFailed,
    AttemptHungUp,
    CallConnected,
    CallerHangup,
    CampaignStart,
    ConnectAgent,
    Dial,
    DialerAgentJoined,
    DispositionSet,
    HangupAttempt,
    OfferCall,
    OutboundConnected,
    OutboundReleased,
    PlayAgentlessMessage,
    PlayComplianceMessage,
    PreviewDecision,
    ReleaseAgent,
    ReserveAgent,
    ReserveForOutbound,
    RouteCall,
    ShowPreview,
    TransferToQueue,
    WrapUpDone,
)
from parley.sim.engine import Engine

CAMPAIGN = "sim"
AGENTLESS_QUEUE = "press-one"
SIM_EPOCH = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday, 08:00 UTC
_ALWAYS = Calendar.of(["00:00-23:59:59.999999"])
_BUSY_TIME = {AgentState.ON_CALL, AgentState.ON_HOLD, AgentState.WRAP_UP}


def _abandon_rate(stats: CampaignStats) -> float:
    """The run's abandon rate: ``OutboundAbandonRate.LIVE_ANSWERS`` whatever the campaign's
    own definition, as the regulators' figure."""
    return kpi.outbound_abandon_rate(kpi.OutboundAbandonRate.LIVE_ANSWERS,
                                     abandoned=stats.abandoned, live_answers=stats.live_answers)


@dataclass(frozen=True)
class OutboundParams:
    """One simulated campaign; times in seconds. ``contact_rate`` is live (human) answers per
    dial; of the other dials ``machine_share`` reach a machine, the rest ring out, are busy or
    fail."""

    agents: int = 20
    mode: DialMode = DialMode.PREDICTIVE
    contact_rate: float = 0.25
    talk_s: float = 120.0
    wrap_s: float = 15.0
    hours: float = 1.0
    seed: int = 1
    abandon_cap: float = 0.03
    abandon_margin: float = 0.2
    abandon_window_s: float = US_WINDOW_S
    amd_accuracy: float = 0.95
    detect_machine: bool = True
    amd_delay_s: float = 2.5
    machine_share: float = 0.3
    answer_delay_s: float = 10.0  # mean ring time before an answer
    ring_timeout_s: float = 25.0
    patience_s: float = 6.0  # mean time an answered person waits for an operator
    preview_s: float = 10.0
    preview_skip: float = 0.1
    agentless_message_s: float = 20.0
    agentless_press_one: float = 0.2
    agentless_lines: int = 0  # 0: as many lines as operators
    queue_patience_s: float = 90.0  # mean wait of "press 1" callers in the ACD queue
    #: What the dialer assumes before it has measured (None: the true talk and wrap-up
    #: times; a live campaign starts from CampaignConfig's 120 s and 15 s).
    initial_talk_s: float | None = None
    initial_wrap_s: float | None = None

    def __post_init__(self) -> None:
        if self.agents < 1:
            raise DialerError("simulation: --agents must be at least 1")
        if not 0.0 < self.contact_rate <= 1.0:
            raise DialerError("simulation: --contact-rate must be in (0, 1]")
        if not 0.0 <= self.amd_accuracy <= 1.0:
            raise DialerError("simulation: --amd-accuracy must be in [0, 1]")
        if self.hours <= 0 or self.talk_s <= 0 or self.wrap_s < 0:
            raise DialerError("simulation: --hours and --talk must be positive, --wrap >= 0")
        if not 0.0 <= self.machine_share <= 1.0:
            raise DialerError("simulation: --machine-share must be in [0, 1]")
        if self.answer_delay_s <= 0 or self.ring_timeout_s <= 1.0 or self.patience_s <= 0:
            raise DialerError("simulation: --answer-delay and --patience must be positive, "
                              "--ring-timeout over 1 s")
        if (self.initial_talk_s is not None and self.initial_talk_s <= 0) or (
                self.initial_wrap_s is not None and self.initial_wrap_s < 0):
            raise DialerError("simulation: --initial-talk must be positive, "
                              "--initial-wrap >= 0")


@dataclass
class OutboundResult:
    """What a run measured. ``occupancy`` is talk and wrap-up over logged-in time (what
    :func:`parley.kpi.utilisation` computes; the key keeps its name for the tools that read
    it); ``abandon_rate`` is ``OutboundAbandonRate.LIVE_ANSWERS``, abandoned over live answers
    for the whole run (the campaign's life); ``abandon_rate_by_hour`` the same rate to date at
    the end of each hour."""

    mode: str
    agents: int
    hours: float
    contact_rate: float
    occupancy: float
    abandon_rate: float
    talk_minutes_per_agent_hour: float
    calls_dialed: int
    live_answers: int
    abandoned: int
    machines_detected: int
    humans_hung_up_as_machine: int
    machines_reaching_operators: int
    connected: int
    press_one: int = 0
    abandon_rate_by_hour: list[float] = field(default_factory=list)
    max_abandon_rate_to_date: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Call:
    attempt_id: str
    human: bool
    patience: TimerHandle | None = None
    agent: str | None = None
    machine_heard: bool = False


class OutboundSimulation:
    """Builds the dialer, the operators and the model for :class:`OutboundParams` and runs it."""

    def __init__(self, params: OutboundParams) -> None:
        self.params = params
        self.engine = Engine(VirtualClock(wall_epoch=SIM_EPOCH), seed=params.seed)
        self.rng = self.engine.rng
        windows = {t: _ALWAYS for t in NumberType}
        strategy = Strategy(windows=windows)
        agent_ids = [f"op{i:04d}" for i in range(params.agents)]
        agentless = params.mode is DialMode.AGENTLESS
        self.config = CampaignConfig(
            campaign_id=CAMPAIGN, mode=params.mode, caller_id="+15550000000",
            agents=frozenset() if agentless else frozenset(agent_ids), strategy=strategy,
            abandon_cap=params.abandon_cap, abandon_margin=params.abandon_margin,
            abandon_window_s=params.abandon_window_s, ring_timeout_s=params.ring_timeout_s,
            detect_machine=params.detect_machine,
            initial_talk_s=(params.talk_s if params.initial_talk_s is None
                            else params.initial_talk_s),
            initial_wrap_s=(params.wrap_s if params.initial_wrap_s is None
                            else params.initial_wrap_s),
            agentless_queue=AGENTLESS_QUEUE if agentless else "",
            max_lines=(params.agentless_lines or params.agents) if agentless else 10_000,
        )
        self.dialer = Dialer([self.config], wall_at=self.engine.wall)
        self.driver = self.engine.attach(self.dialer, execute=self._execute)
        self.agents = {a: Agent(a) for a in agent_ids}
        # Dialling modes: the operators serve the campaign only. Agentless: "press 1" goes to
        # a real ACD queue served by the operators.
        queues = [QueueConfig(AGENTLESS_QUEUE, members=tuple(agent_ids),
                              wrap_up_s=params.wrap_s)] if agentless else []
        self.acd = Acd(queues, self.agents.values(), wall=self.engine.wall)
        self.acd_driver = self.engine.attach(self.acd, execute=self._acd_execute)
        self._queue_patience: dict[str, TimerHandle] = {}
        self._feed_dialer = not agentless
        self._busy_since: dict[str, float] = {}
        self._busy_total = 0.0
        self._talk_total = 0.0
        self._talk_since: dict[str, float] = {}
        self._calls: dict[str, _Call] = {}
        self._pending: deque[object] = deque()
        self._draining = False
        self._next_contact = 0
        self._dialled_contacts: set[str] = set()
        self._hour_marks: list[float] = []
        self.humans_hung_up_as_machine = 0
        self.machines_to_operators = 0
        self.press_one = 0

    # --- running ---------------------------------------------------------------------------

    def run(self) -> OutboundResult:
        params = self.params
        end = params.hours * 3600.0
        self._top_up()
        if params.mode is not DialMode.AGENTLESS:
            for agent_id in self.agents:
                self._feed(DialerAgentJoined(agent_id))
        for agent_id in self.agents:
            self.acd_driver.feed(AgentLogin(agent_id, f"sim:{agent_id}"))
        self._feed(CampaignStart(CAMPAIGN))
        self._every(60.0, self._top_up)
        for hour in range(1, math.ceil(params.hours) + 1):
            self.engine.at(min(hour * 3600.0, end) - 1e-6, self._mark_hour)
        self.engine.run(end)
        return self._result(end)

    def _every(self, period: float, action: Any) -> None:
        def tick() -> None:
            action()
            self.engine.after(period, tick)
        self.engine.after(period, tick)

    def _mark_hour(self) -> None:
        self._hour_marks.append(_abandon_rate(self.dialer.stats(CAMPAIGN, self.engine.now)))

    def _top_up(self) -> None:
        """Keep enough fresh contacts loaded (a long list, loaded in slices for speed)."""
        per_minute = self.params.agents * 60.0 / (self.params.talk_s + self.params.wrap_s)
        wanted = int(per_minute / self.params.contact_rate * 3) + 200
        fresh = self._next_contact - len(self._dialled_contacts)
        if fresh >= wanted:
            return
        batch = []
        for _ in range(wanted * 2 - fresh):
            n = self._next_contact
            self._next_contact += 1
            number = PhoneNumber(f"+1555{n:07d}", NumberType.MOBILE, ("UTC",))
            batch.append(Contact(f"c{n}", (number,)))
        self.dialer.add_contacts(CAMPAIGN, batch, self.engine.now)

    def _result(self, end: float) -> OutboundResult:
        for agent_id, since in self._busy_since.items():
            self._busy_total += end - since
            del agent_id
        for since in self._talk_since.values():
            self._talk_total += end - since
        stats = self.dialer.stats(CAMPAIGN, end)
        logged_in = self.params.agents * end
        return OutboundResult(
            mode=self.params.mode.value, agents=self.params.agents, hours=self.params.hours,
            contact_rate=self.params.contact_rate,
            occupancy=round(kpi.utilisation(self._busy_total, logged_in), 4),
            abandon_rate=round(_abandon_rate(stats), 4),
            talk_minutes_per_agent_hour=round(self._talk_total / 60.0 / (logged_in / 3600.0), 2),
            calls_dialed=stats.dialled, live_answers=stats.live_answers,
            abandoned=stats.abandoned, machines_detected=stats.machines,
            humans_hung_up_as_machine=self.humans_hung_up_as_machine,
            machines_reaching_operators=self.machines_to_operators,
            connected=stats.connected, press_one=self.press_one,
            abandon_rate_by_hour=[round(r, 4) for r in self._hour_marks],
            max_abandon_rate_to_date=round(max(self._hour_marks, default=0.0), 4),
        )

    # --- feeding the dialer ------------------------------------------------------------------

    def _feed(self, event: object) -> None:
        self._pending.append(event)
        if self._draining:
            return
        self._draining = True
        try:
            while self._pending:
                self.driver.feed(self._pending.popleft())
        finally:
            self._draining = False

    def _account(self, agent_id: str, old: AgentState, new: AgentState) -> None:
        """Occupancy: talk (on call, on hold) and wrap-up time per operator."""
        now = self.engine.now
        if new in _BUSY_TIME and old not in _BUSY_TIME:
            self._busy_since[agent_id] = now
        elif old in _BUSY_TIME and new not in _BUSY_TIME:
            self._busy_total += now - self._busy_since.pop(agent_id)
        if new in (AgentState.ON_CALL, AgentState.ON_HOLD):
            self._talk_since.setdefault(agent_id, now)
        elif agent_id in self._talk_since:
            self._talk_total += now - self._talk_since.pop(agent_id)

    # --- commands ------------------------------------------------------------------------------

    def _execute(self, commands: Sequence[object]) -> None:
        for command in commands:
            if isinstance(command, Dial):
                self._dial(command)
            elif isinstance(command, ReserveAgent):
                self.acd_driver.feed(ReserveForOutbound(command.agent_id, command.campaign_id,
                                                        command.call_id,
                                                        command.outbound_first_s))
            elif isinstance(command, ReleaseAgent):
                self.acd_driver.feed(OutboundReleased(command.agent_id))
            elif isinstance(command, ConnectAgent):
                self._connect(command)
            elif isinstance(command, PlayComplianceMessage | HangupAttempt):
                self._end_call(command.attempt_id)
            elif isinstance(command, ShowPreview):
                self._preview(command)
            elif isinstance(command, PlayAgentlessMessage):
                self._agentless_message(command)
            elif isinstance(command, TransferToQueue):
                self._enqueue(command.attempt_id)

    def _dial(self, command: Dial) -> None:
        self._dialled_contacts.add(command.contact_id)
        p = self.params
        rng = self.rng
        u = rng.random()
        attempt_id = command.attempt_id
        other = 1.0 - p.contact_rate
        machine_cut = p.contact_rate + other * p.machine_share
        if u < machine_cut:
            human = u < p.contact_rate
            delay = min(rng.lognormvariate(math.log(p.answer_delay_s) - 0.125, 0.5),
                        p.ring_timeout_s - 0.5)
            verdict = human
            if command.detect_machine:
                delay += p.amd_delay_s
                if rng.random() >= p.amd_accuracy:
                    verdict = not human
            self.engine.after(delay, lambda: self._answer(attempt_id, human, verdict))
            return
        rest = (u - machine_cut) / max(1.0 - machine_cut, 1e-9)
        if rest < 0.7:
            outcome, delay = "no_answer", p.ring_timeout_s
        elif rest < 0.9:
            outcome, delay = "busy", rng.uniform(2.0, 6.0)
        elif rest < 0.98:
            outcome, delay = "failed", rng.uniform(1.0, 4.0)
        else:
            outcome, delay = "invalid", rng.uniform(1.0, 3.0)
        self.engine.after(delay, lambda: self._feed(AttemptFailed(attempt_id, outcome)))

    def _answer(self, attempt_id: str, human: bool, verdict: bool) -> None:
        call = _Call(attempt_id, human)
        if verdict:
            self._calls[attempt_id] = call
            if human:
                patience = self.rng.expovariate(1.0 / self.params.patience_s)
                call.patience = self.engine.after(patience, lambda: self._gives_up(attempt_id))
        elif human:
            self.humans_hung_up_as_machine += 1
        self._feed(AttemptAnswered(attempt_id, verdict))

    def _gives_up(self, attempt_id: str) -> None:
        call = self._calls.pop(attempt_id, None)
        if call is not None and call.agent is None:
            self._feed(AttemptHungUp(attempt_id))

    def _end_call(self, attempt_id: str) -> None:
        call = self._calls.pop(attempt_id, None)
        if call is not None and call.patience is not None:
            call.patience.cancel()

    def _connect(self, command: ConnectAgent) -> None:
        call = self._calls.get(command.attempt_id)
        # No wrap-up timer: after-call work ends with the disposition (WrapUpDone).
        self.acd_driver.feed(OutboundConnected(command.agent_id, command.attempt_id,
                                               command.campaign_id,
                                               outbound_first_s=command.outbound_first_s))
        if call is None:
            raise DialerError(f"simulation: connect for unknown call {command.attempt_id}")
        call.agent = command.agent_id
        if call.patience is not None:
            call.patience.cancel()
        if call.human:
            talk = max(5.0, self.rng.expovariate(1.0 / self.params.talk_s))
        else:
            self.machines_to_operators += 1
            talk = self.rng.uniform(4.0, 10.0)
        self.engine.after(talk, lambda: self._hang_up(command.attempt_id))

    def _hang_up(self, attempt_id: str) -> None:
        call = self._calls.pop(attempt_id)
        agent_id = call.agent
        if agent_id is None:
            raise DialerError(f"simulation: hang-up of unconnected call {attempt_id}")
        self._feed(AttemptHungUp(attempt_id))
        self.acd_driver.feed(AgentLegEnded(attempt_id, agent_id))
        wrap = self.rng.uniform(0.5, 1.5) * self.params.wrap_s
        self.engine.after(wrap, lambda: self._wrapped(agent_id, attempt_id, call.human))

    def _wrapped(self, agent_id: str, attempt_id: str, human: bool) -> None:
        if human:
            u = self.rng.random()
            if u < 0.3:
                disposition, at = "success", None
            elif u < 0.8:
                disposition, at = "not_interested", None
            elif u < 0.9:
                disposition = "callback"
                at = self.engine.wall(self.engine.now) + timedelta(hours=2)
            elif u < 0.95:
                disposition, at = "wrong_number", None
            else:
                disposition, at = "do_not_call", None
        else:
            disposition, at = Outcome.MACHINE.value, None
        self._feed(DispositionSet(attempt_id, agent_id, disposition, at))
        self.acd_driver.feed(WrapUpDone(agent_id, "ready"))

    def _preview(self, command: ShowPreview) -> None:
        self._dialled_contacts.add(command.contact_id)  # used up even when skipped
        skip = self.rng.random() < self.params.preview_skip
        look = self.rng.uniform(0.5, 1.5) * self.params.preview_s
        self.engine.after(look, lambda: self._feed(
            PreviewDecision(command.agent_id, command.contact_id, dial=not skip)))

    # --- agentless -----------------------------------------------------------------------------

    def _agentless_message(self, command: PlayAgentlessMessage) -> None:
        call = self._calls.get(command.attempt_id)
        attempt_id = command.attempt_id
        if call is not None and call.patience is not None:
            call.patience.cancel()  # the message starts at once: nobody waits
        listen = self.params.agentless_message_s
        if call is not None and call.human and self.rng.random() < self.params.agentless_press_one:
            self.engine.after(listen, lambda: self._feed(AgentlessDigit(attempt_id, "1")))
        else:
            self.engine.after(listen, lambda: self._message_done(attempt_id))

    def _message_done(self, attempt_id: str) -> None:
        self._calls.pop(attempt_id, None)
        self._feed(AttemptHungUp(attempt_id))

    def _enqueue(self, attempt_id: str) -> None:
        """"Press 1": the caller joins the ACD queue and waits, patiently up to a point."""
        self._calls.pop(attempt_id, None)
        self.press_one += 1
        patience = self.rng.expovariate(1.0 / self.params.queue_patience_s)
        self._queue_patience[attempt_id] = self.engine.after(
            patience, lambda: self.acd_driver.feed(CallerHangup(attempt_id)))
        self.acd_driver.feed(RouteCall(attempt_id, AGENTLESS_QUEUE))

    def _acd_execute(self, commands: Sequence[object]) -> None:
        for command in commands:
            if isinstance(command, AgentStateChanged):
                self._account(command.agent_id, AgentState(command.old),
                              AgentState(command.new))
            elif isinstance(command, OfferCall):
                self.engine.after(1.0, partial(self.acd_driver.feed,
                                               AgentAnswered(command.call_id, command.agent_id)))
            elif isinstance(command, CallConnected):
                handle = self._queue_patience.pop(command.call_id, None)
                if handle is not None:
                    handle.cancel()
                talk = max(5.0, self.rng.expovariate(1.0 / self.params.talk_s))
                self.engine.after(talk, partial(self.acd_driver.feed,
                                                CallerHangup(command.call_id)))
        if self._feed_dialer:  # as the shell does: each operator's net change of the batch
            for change in net_changes(commands):
                self._feed(change)


def simulate_outbound(params: OutboundParams) -> OutboundResult:
    """Run one outbound simulation and return its measurements."""
    return OutboundSimulation(params).run()
