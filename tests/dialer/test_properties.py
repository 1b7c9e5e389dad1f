"""Property tests over random campaigns, contact lists and clocks.

A small randomised model of the network and the operators drives the real dialer for days of
virtual time; an independent oracle checks every Dial command against the rules: inside the
call window in the called party's local time, never a do-not-call number, attempt limits and
retry delays kept, no re-dial within 72 hours of an abandon without a reserved operator, and no
contact dialled twice at once or lost.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st
from phonenumbers import timezone as phone_timezone

from parley.acd.agent import Agent, AgentState, Trigger
from parley.dialer import (
    Calendar,
    CampaignConfig,
    ContactLoader,
    Dialer,
    DialMode,
    DncList,
    NumberType,
    Outcome,
    Strategy,
    Window,
)
from parley.events import (
    AgentlessDigit,
    AgentStateChanged,
    AttemptAnswered,
    AttemptFailed,
    AttemptHungUp,
    AttemptRecorded,
    CampaignStart,
    ConnectAgent,
    Dial,
    DialerAgentJoined,
    DispositionSet,
    HangupAttempt,
    PlayAgentlessMessage,
    PlayComplianceMessage,
    PreviewDecision,
    ReleaseAgent,
    ReserveAgent,
    ShowPreview,
)

POOL = [  # valid numbers in known zones; the suffix makes each unique
    "+1212555{:04d}", "+1415555{:04d}", "+44207946{:04d}", "+3361234{:04d}", "+8131234{:04d}",
    "+6129123{:04d}", "+1312555{:04d}",
]
ZONES = ["America/New_York", "Europe/London", "Asia/Tokyo", "Australia/Sydney",
         "America/Los_Angeles", "Europe/Paris"]
DELAYED = {Outcome.BUSY, Outcome.NO_ANSWER, Outcome.MACHINE, Outcome.FAILED, Outcome.ABANDONED}
HOUR = 3600.0


def oracle_zones(e164: str, contact_zone: str | None) -> list[str]:
    if contact_zone:
        return [contact_zone]
    zones = [z for z in phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
             if z != "Etc/Unknown"]
    return zones or ["UTC"]


def oracle_open(utc: datetime, zones: list[str], windows: list[tuple[int, int, frozenset[int]]],
                holidays: frozenset[date]) -> bool:
    for name in zones:
        local = utc.astimezone(ZoneInfo(name))
        if local.date() in holidays:
            return False
        minutes = local.hour * 60 + local.minute + local.second / 60
        if not any(local.weekday() in days and start * 60 <= minutes < end * 60
                   for start, end, days in windows):
            return False
    return True


@dataclass
class Scenario:
    seed: int
    mode: DialMode
    agents: int
    contacts: int
    epoch: datetime
    windows: dict[NumberType, list[tuple[int, int, frozenset[int]]]]
    holidays: frozenset[date]
    max_contact: int
    max_type: dict[NumberType, int]
    delays: dict[Outcome, float]
    dnc_share: float
    zone_share: float
    aggressive: bool = False  # a loose cap and a low contact-rate prior: abandons happen


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    def window() -> tuple[int, int, frozenset[int]]:
        start = draw(st.integers(0, 20))
        end = draw(st.integers(start + 1, 24))
        days = draw(st.frozensets(st.integers(0, 6), min_size=1))
        return start, end, days

    epoch = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
        minutes=draw(st.integers(0, 365 * 24 * 60)))
    windows = {t: [window() for _ in range(draw(st.integers(1, 2)))] for t in NumberType}
    holidays = frozenset(epoch.date() + timedelta(days=d)
                         for d in draw(st.sets(st.integers(-1, 6), max_size=3)))
    return Scenario(
        seed=draw(st.integers(0, 2**31)),
        mode=draw(st.sampled_from([DialMode.PREDICTIVE, DialMode.PROGRESSIVE,
                                   DialMode.PREVIEW, DialMode.AGENTLESS])),
        agents=draw(st.integers(1, 4)),
        contacts=draw(st.integers(1, 25)),
        epoch=epoch,
        windows=windows,
        holidays=holidays,
        max_contact=draw(st.integers(1, 6)),
        max_type={t: draw(st.integers(1, 4)) for t in NumberType},
        delays={o: draw(st.sampled_from([0.0, 60.0, 900.0, 4 * HOUR, 30 * HOUR]))
                for o in DELAYED},
        dnc_share=draw(st.sampled_from([0.0, 0.2])),
        zone_share=draw(st.sampled_from([0.0, 0.5])),
        aggressive=draw(st.booleans()),
    )


@dataclass
class Oracle:
    """Independent bookkeeping of what the rules allow; fails on the first breach."""

    scenario: Scenario
    zones_of: dict[tuple[str, str], list[str]]
    dnc_lists: list[DncList]
    active: dict[str, str] = field(default_factory=dict)  # contact -> attempt id
    attempt_contact: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    last_outcome: dict[str, tuple[Outcome, float]] = field(default_factory=dict)
    abandoned_at: dict[str, float] = field(default_factory=dict)
    counted: dict[str, int] = field(default_factory=dict)
    counted_type: dict[tuple[str, NumberType], int] = field(default_factory=dict)
    callback_pending: set[str] = field(default_factory=set)
    dials: int = 0
    redials_after_abandon: int = 0

    def on_dial(self, cmd: Dial, now: float, utc: datetime) -> None:
        self.dials += 1
        contact, number = cmd.contact_id, cmd.number
        assert contact not in self.active, f"{contact} dialled twice at once"
        assert not any(number in dnc for dnc in self.dnc_lists), f"DNC number {number} dialled"
        ntype = NumberType(cmd.number_type)
        zones = self.zones_of[(contact, number)]
        assert oracle_open(utc, zones, self.scenario.windows[ntype], self.scenario.holidays), \
            f"{number} ({ntype}) dialled at {utc} outside its window in {zones}"
        if number in self.abandoned_at and now - self.abandoned_at[number] < 72 * HOUR:
            self.redials_after_abandon += 1
            assert cmd.reserved_agent is not None, \
                f"{number} re-dialled {now - self.abandoned_at[number]:.0f}s after an abandon " \
                "without a reserved operator"
        if contact in self.last_outcome:
            outcome, at = self.last_outcome[contact]
            if outcome in DELAYED:
                assert now - at >= self.scenario.delays[outcome] - 1e-6, \
                    f"{contact} re-dialled {now - at:.0f}s after {outcome}"
        if contact in self.callback_pending:
            self.callback_pending.discard(contact)
        else:
            self.counted[contact] = self.counted.get(contact, 0) + 1
            key = (contact, ntype)
            self.counted_type[key] = self.counted_type.get(key, 0) + 1
            assert self.counted[contact] <= self.scenario.max_contact, \
                f"{contact}: more than {self.scenario.max_contact} attempts"
            assert self.counted_type[key] <= self.scenario.max_type[ntype], \
                f"{contact}: more than {self.scenario.max_type[ntype]} {ntype} attempts"
        self.active[contact] = cmd.attempt_id
        self.attempt_contact[cmd.attempt_id] = (contact, number, cmd.reserved_agent)

    def on_recorded(self, note: AttemptRecorded) -> None:
        outcome = Outcome(note.outcome)
        self.last_outcome[note.contact_id] = (outcome, note.at)
        if outcome is Outcome.ABANDONED:
            self.abandoned_at[note.number] = note.at
        if outcome is not Outcome.HUMAN:
            self.release(note.attempt_id)

    def release(self, attempt_id: str) -> None:
        contact = self.attempt_contact.get(attempt_id, ("", "", None))[0]
        if self.active.get(contact) == attempt_id:
            del self.active[contact]


class Harness:
    """The model world: network outcomes, patience, operators (the ACD's Agent), people."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.rng = random.Random(sc.seed)
        self.now = 0.0
        self.queue: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = itertools.count()
        strategy = Strategy(
            max_attempts_per_contact=sc.max_contact, max_attempts_per_type=sc.max_type,
            retry_delays=sc.delays, holidays=sc.holidays,
            windows={t: Calendar(tuple(Window(time(s), time(23, 59, 59, 999999) if e == 24
                                               else time(e), d) for s, e, d in w))
                     for t, w in sc.windows.items()},
        )
        self.global_dnc = DncList("global")
        self.campaign_dnc = DncList("campaign")
        loader = ContactLoader(default_region="US", dnc_lists=[self.global_dnc])
        records = []
        self.zones_of: dict[tuple[str, str], list[str]] = {}
        serial = itertools.count()
        for i in range(sc.contacts):
            record: dict[str, object] = {"contact_id": f"k{i}"}
            if self.rng.random() < sc.zone_share:
                record["timezone"] = self.rng.choice(ZONES)
            for ntype in self.rng.sample(list(NumberType), self.rng.randint(1, 3)):
                record[ntype.value] = self.rng.choice(POOL).format(next(serial))
            records.append(record)
        report = loader.load_records(records)
        assert not report.rejected, report.summary()
        for contact in report.accepted:
            for number in contact.numbers:
                self.zones_of[(contact.id, number.e164)] = oracle_zones(number.e164,
                                                                        contact.time_zone)
                if self.rng.random() < sc.dnc_share:  # listed after loading: caught at dial time
                    self.at(self.rng.uniform(0, 48 * HOUR),
                            lambda n=number.e164: self.global_dnc.add(n))
        agentless = sc.mode is DialMode.AGENTLESS
        self.agent_ids = [f"a{i}" for i in range(sc.agents)]
        config = CampaignConfig(
            campaign_id="c", mode=sc.mode, caller_id="+12125550000", strategy=strategy,
            agents=frozenset() if agentless else frozenset(self.agent_ids),
            dnc=self.campaign_dnc, agentless_queue="q" if agentless else "",
            max_lines=20 if sc.aggressive else 3,
            preview_timeout_s=self.rng.choice([None, 30.0]),
            **({"abandon_cap": 0.6, "abandon_margin": 0.0, "abandon_confidence": 0.0,
                "initial_contact_rate": 0.02}
               if sc.aggressive else {}),
        )
        self.dialer = Dialer([config], wall_at=self.wall, global_dnc=self.global_dnc)
        self.dialer.add_contacts("c", report.accepted, 0.0)
        self.oracle = Oracle(sc, self.zones_of, [self.global_dnc, self.campaign_dnc])
        self.agents = {a: Agent(a) for a in self.agent_ids}
        self.patience: dict[str, list[bool]] = {}

    def wall(self, t: float) -> datetime:
        return self.sc.epoch + timedelta(seconds=t)

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.queue, (when, next(self.seq), action))

    def after(self, delay: float, action: Callable[[], None]) -> None:
        self.at(self.now + delay, action)

    def feed(self, event: object) -> None:
        self.execute(self.dialer.handle(event, self.now))

    def move(self, agent_id: str, trigger: Trigger, call_id: str = "",
             target: AgentState | None = None) -> None:
        record = self.agents[agent_id].apply(trigger, self.now, call_id=call_id, target=target)
        self.feed(AgentStateChanged(agent_id, record.old.value, record.new.value, record.cause,
                                    self.now, call_id=record.call_id))

    def execute(self, commands: list[object]) -> None:
        for cmd in commands:
            if isinstance(cmd, Dial):
                self.oracle.on_dial(cmd, self.now, self.wall(self.now))
                self.network(cmd)
            elif isinstance(cmd, AttemptRecorded):
                self.oracle.on_recorded(cmd)
            elif isinstance(cmd, ReserveAgent):
                self.move(cmd.agent_id, Trigger.RESERVE, cmd.call_id)
            elif isinstance(cmd, ReleaseAgent):
                if self.agents[cmd.agent_id].state is AgentState.RESERVED:
                    self.move(cmd.agent_id, Trigger.RELEASE)
            elif isinstance(cmd, ConnectAgent):
                self.connect(cmd)
            elif isinstance(cmd, PlayComplianceMessage | HangupAttempt):
                self.patience.pop(cmd.attempt_id, [False])[0] = False
            elif isinstance(cmd, ShowPreview):
                dial = self.rng.random() < 0.8
                self.after(self.rng.uniform(1, 40), lambda c=cmd, d=dial: self.preview(c, d))
            elif isinstance(cmd, PlayAgentlessMessage):
                digit = self.rng.random() < 0.5
                self.after(10, lambda a=cmd.attempt_id, d=digit: self.feed(
                    AgentlessDigit(a, "1") if d else AttemptHungUp(a)))

    def preview(self, cmd: ShowPreview, dial: bool) -> None:
        if self.dialer.previewing(cmd.agent_id) != cmd.contact_id:
            return  # timed out and dialled already
        self.feed(PreviewDecision(cmd.agent_id, cmd.contact_id, dial))

    def network(self, cmd: Dial) -> None:
        aid = cmd.attempt_id
        kind = self.rng.choice(["human", "human", "machine", "busy", "no_answer", "failed",
                                "invalid"])
        delay = self.rng.uniform(1, 25)
        if kind in ("human", "machine"):
            def answer() -> None:
                if kind == "human":
                    alive = [True]
                    self.patience[aid] = alive
                    self.after(self.rng.uniform(0.2, 6),
                               lambda: alive[0] and self.feed(AttemptHungUp(aid)))
                self.feed(AttemptAnswered(aid, kind == "human"))
            self.after(delay, answer)
        else:
            self.after(delay, lambda: self.feed(AttemptFailed(aid, kind)))

    def connect(self, cmd: ConnectAgent) -> None:
        self.patience.pop(cmd.attempt_id, [False])[0] = False
        if self.agents[cmd.agent_id].state is AgentState.READY:
            self.move(cmd.agent_id, Trigger.RESERVE, cmd.attempt_id)
        self.move(cmd.agent_id, Trigger.ANSWER, cmd.attempt_id)
        self.after(self.rng.uniform(5, 400), lambda: self.hang_up(cmd))

    def hang_up(self, cmd: ConnectAgent) -> None:
        self.feed(AttemptHungUp(cmd.attempt_id))
        self.move(cmd.agent_id, Trigger.HANG_UP, target=AgentState.WRAP_UP)
        self.after(self.rng.uniform(0, 60), lambda: self.wrapped(cmd))

    def wrapped(self, cmd: ConnectAgent) -> None:
        choice = self.rng.choice(["success", "callback", "callback", "not_interested",
                                  "wrong_number", "do_not_call", "machine"])
        callback_at = None
        contact = self.oracle.attempt_contact[cmd.attempt_id][0]
        if choice == "callback":
            zone = ZoneInfo(self.rng.choice(ZONES))
            callback_at = self.wall(self.now + self.rng.uniform(0, 50 * HOUR)).astimezone(zone)
            self.oracle.callback_pending.add(contact)
        self.oracle.release(cmd.attempt_id)
        self.feed(DispositionSet(cmd.attempt_id, cmd.agent_id, choice, callback_at))
        self.move(cmd.agent_id, Trigger.END_WRAP_UP, target=AgentState.READY)

    def run(self, horizon: float) -> None:
        for agent_id in self.agent_ids:
            self.feed(DialerAgentJoined(agent_id))
            self.move(agent_id, Trigger.LOGIN, target=AgentState.READY)
        self.feed(CampaignStart("c"))
        steps = 0
        while steps < 20_000:
            steps += 1
            deadline = self.dialer.next_deadline()
            next_model = self.queue[0][0] if self.queue else None
            candidates = [t for t in (deadline, next_model) if t is not None]
            if not candidates or min(candidates) > horizon:
                break
            self.now = max(self.now, min(candidates))
            if next_model is not None and next_model <= self.now:
                _, _, action = heapq.heappop(self.queue)
                action()
            elif deadline is not None and deadline <= self.now:
                self.execute(self.dialer.on_time(self.now))
            problems = self.dialer.audit()
            assert not problems, problems


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_dialer_keeps_every_rule_over_random_campaigns_and_clocks(sc: Scenario) -> None:
    harness = Harness(sc)
    harness.run(horizon=6 * 24 * HOUR)
    book = harness.dialer.book("c")
    assert not book.audit()
    # A contact is never lost: it is waiting, in progress, or closed with a reason.
    for state in book.states.values():
        assert state.status.value in ("pending", "in_progress", "done")
        if state.status.value == "done":
            assert state.close_reason is not None


def test_the_property_harness_really_dials() -> None:
    """Guard against a vacuous property: a plain scenario makes many dials and closes contacts."""
    always = [(0, 24, frozenset(range(7)))]
    sc = Scenario(seed=3, mode=DialMode.PREDICTIVE, agents=3, contacts=25,
                  epoch=datetime(2026, 3, 2, 12, tzinfo=UTC),
                  windows={t: always for t in NumberType}, holidays=frozenset(),
                  max_contact=4, max_type={t: 2 for t in NumberType},
                  delays={o: 600.0 for o in DELAYED}, dnc_share=0.2, zone_share=0.5,
                  aggressive=True)
    harness = Harness(sc)
    harness.run(horizon=4 * 24 * HOUR)
    assert harness.oracle.dials >= 40
    assert harness.dialer.book("c").closed_count >= 10
    assert harness.oracle.abandoned_at, "no abandon: the 72-hour rule went untested"
    assert harness.oracle.redials_after_abandon > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), agents=st.integers(1, 4),
       abandon_delay=st.sampled_from([0.0, 60.0, HOUR, 80 * HOUR]),
       contacts=st.integers(10, 40))
def test_abandoned_numbers_only_come_back_with_a_reserved_operator(
        seed: int, agents: int, abandon_delay: float, contacts: int) -> None:
    """Windows always open and an over-eager predictive campaign: abandons happen often, and
    every re-dial of an abandoned number within 72 hours must have an operator reserved (the
    oracle asserts it on each dial)."""
    always = [(0, 24, frozenset(range(7)))]
    delays = {o: 600.0 for o in DELAYED} | {Outcome.ABANDONED: abandon_delay}
    sc = Scenario(seed=seed, mode=DialMode.PREDICTIVE, agents=agents, contacts=contacts,
                  epoch=datetime(2026, 3, 2, 12, tzinfo=UTC),
                  windows={t: always for t in NumberType}, holidays=frozenset(),
                  max_contact=6, max_type={t: 4 for t in NumberType}, delays=delays,
                  dnc_share=0.0, zone_share=0.0, aggressive=True)
    harness = Harness(sc)
    harness.run(horizon=5 * 24 * HOUR)  # the oracle checks every dial as it happens
    # Steer the search towards scenarios with many re-dials after abandons (most have some;
    # test_the_property_harness_really_dials makes sure such re-dials do happen).
    target(float(harness.oracle.redials_after_abandon))
