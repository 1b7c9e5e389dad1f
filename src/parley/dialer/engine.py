"""The dialer core: events in, commands out, time passed in (DESIGN.md §1).

``Dialer.handle(event, now)`` takes operator state changes (the ACD's ``AgentStateChanged``),
attempt results, dispositions, preview decisions and campaign controls; ``on_time(now)`` fires
its own deadlines (the 2-second compliance grace, preview time-outs, the pacing tick) and
``next_deadline()`` says when to call it next. Both return commands (``Dial``,
``ReserveAgent``, ``ConnectAgent``, ``PlayComplianceMessage`` ...) and notices
(``AttemptRecorded``, ``ContactClosed``) as defined in :mod:`parley.events`.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from parley.dialer.campaign import CampaignConfig, CampaignStatus, by_priority
from parley.dialer.contacts import Contact, ContactLoader, DncList, PhoneNumber
from parley.dialer.model import (
    CarriedConversation,
    CloseReason,
    ContactStatus,
    DialerError,
    Disposition,
    MachinePolicy,
    Outcome,
)
from parley.dialer.pacing import (
    COMPLIANCE_GRACE_S,
    AbandonMeter,
    FreeFactor,
    PacingInput,
    RunningMean,
    allowed_abandon_ratio,
)
from parley.dialer.policy import PacingPolicy, pacing_policy
from parley.dialer.ranges import NumberRanges
from parley.dialer.strategy import ContactBook, ContactState, Pick
from parley.events import (
    AgentlessDigit,
    AgentStateChanged,
    AttemptAnswered,
    AttemptFailed,
    AttemptHungUp,
    AttemptRecorded,
    CampaignPause,
    CampaignStart,
    CampaignStop,
    ConnectAgent,
    ConnectFailed,
    ContactClosed,
    Dial,
    DialerAgentJoined,
    DispositionDefaulted,
    DispositionSet,
    DoNotCallAdded,
    HangupAttempt,
    InboundWaiting,
    PlayAgentlessMessage,
    PlayComplianceMessage,
    PreviewDecision,
    ReleaseAgent,
    ReserveAgent,
    ShowPreview,
    TransferToQueue,
)

Command = object
TICK_S = 1.0  # pacing cadence while contacts are due
SCHEDULE_POLL_S = 60.0  # how often a campaign outside its schedule looks again
_FAILED = {"busy": Outcome.BUSY, "no_answer": Outcome.NO_ANSWER, "failed": Outcome.FAILED,
           "invalid": Outcome.INVALID}


@dataclass(slots=True)
class _Attempt:
    attempt_id: str
    run: _Run
    state: ContactState
    number: PhoneNumber
    reserved_agent: str | None
    dialled_at: float
    phase: str = "ringing"  # ringing, waiting, connected, message, done
    answered_at: float = 0.0
    agent: str | None = None
    ahead: bool = False  # dialled ahead of operators (predictive), no operator reserved
    live: bool | None = None  # resolved: a person answered (True) or not (False)
    cancelled: bool = False  # the task was withdrawn meanwhile: close it, never retry it
    missed: tuple[str, ...] = ()  # operators given this call who did not take it


@dataclass(slots=True)
class _AgentView:
    agent_id: str
    team: str
    state: str = "logged_out"
    home: _Run | None = None  # campaign whose ready pool holds the operator
    work: _Run | None = None  # campaign whose call or wrap-up the operator is on
    phase: str = ""  # "", reserved, talking, wrapping
    since: float = 0.0
    call_id: str = ""  # the attempt of our reservation or conversation


@dataclass
class CampaignStats:
    """Counters of one campaign since it was added, and the abandon rate in its window."""

    dialled: int = 0
    live_answers: int = 0
    machines: int = 0
    abandoned: int = 0
    failed: int = 0
    connected: int = 0
    abandon_rate_window: float = 0.0
    contact_rate_estimate: float = 0.0


@dataclass
class _Run:
    config: CampaignConfig
    policy: PacingPolicy  # from the mode, chosen once
    book: ContactBook
    dnc: DncList
    meter: AbandonMeter
    contact_rate: RunningMean
    answer_delay: RunningMean
    talk: RunningMean
    wrap: RunningMean
    free_factor: FreeFactor
    status: CampaignStatus = CampaignStatus.CREATED
    # Ready operators in idle order. An OrderedDict: a plain dict's first key gets slow to
    # find after many deletions at the front (measured: milliseconds at 1,400 operators).
    ready: OrderedDict[str, None] = field(default_factory=OrderedDict)
    talking: int = 0
    wrapping: int = 0
    in_flight: int = 0
    messages: int = 0  # agentless calls playing their message
    waiting: deque[_Attempt] = field(default_factory=deque)
    cohort: deque[_Attempt] = field(default_factory=deque)  # dial order, for the contact rate
    previews: dict[str, tuple[Pick, float, str]] = field(default_factory=dict)
    stats: CampaignStats = field(default_factory=CampaignStats)


class Dialer:
    """Every campaign of a site, sharing operators by campaign priority.

    ``wall_at(now)`` gives the UTC wall time at a monotonic reading: call windows, schedules and
    callbacks are wall-clock matters, pacing and delays monotonic ones.
    """

    def __init__(self, campaigns: Iterable[CampaignConfig], *,
                 wall_at: Callable[[float], datetime],
                 global_dnc: DncList | None = None,
                 new_id: Callable[[str], str] | None = None) -> None:
        self.wall_at = wall_at
        self.global_dnc = global_dnc if global_dnc is not None else DncList("global")
        self._runs: dict[str, _Run] = {}
        for config in by_priority(campaigns):
            if config.campaign_id in self._runs:
                raise DialerError(f"campaign {config.campaign_id!r} is defined twice")
            self._runs[config.campaign_id] = self._new_run(config)
        self._agents: dict[str, _AgentView] = {}
        self._attempts: dict[str, _Attempt] = {}
        self._inbound: dict[str, int] = {}
        #: each operator's last conversation still awaiting their disposition, by operator
        self._undisposed: dict[str, _Attempt] = {}
        self._ids = itertools.count(1)
        #: Attempt ids: a live shell gives ids unique across restarts (the store keys
        #: attempts by them); the default counter suits one simulation run.
        self._new_id = new_id
        self._next_tick: float | None = None

    def _new_run(self, config: CampaignConfig) -> _Run:
        dnc = config.dnc if config.dnc is not None else DncList(config.campaign_id)
        return _Run(
            config=config,
            policy=pacing_policy(config.mode),
            book=ContactBook(config.strategy, [self.global_dnc, dnc]),
            dnc=dnc,
            meter=AbandonMeter(config.abandon_window_s, config.abandon_definition),
            contact_rate=RunningMean(config.initial_contact_rate, weight=30.0),
            answer_delay=RunningMean(config.initial_answer_delay_s),
            talk=RunningMean(config.initial_talk_s, weight=100.0, horizon=2000.0),
            wrap=RunningMean(config.initial_wrap_s, weight=100.0, horizon=2000.0),
            free_factor=FreeFactor(config.abandon_target),
        )

    def set_campaign(self, config: CampaignConfig, now: float) -> list[Command]:
        """Add a campaign, or take changed settings of one (a live site edits campaigns
        while others run). A changed campaign keeps its contacts, measurements and calls in
        progress; its mode may change only while it is not running."""
        run = self._runs.get(config.campaign_id)
        if run is None:
            self._runs[config.campaign_id] = self._new_run(config)
        else:
            if config.mode is not run.config.mode and run.status is CampaignStatus.RUNNING:
                raise DialerError(f"campaign {config.campaign_id!r}: pause it before changing "
                                  f"its mode from {run.config.mode} to {config.mode}")
            run.config = config
            run.policy = pacing_policy(config.mode)
            run.book.set_strategy(config.strategy)
            if config.dnc is not None:
                run.dnc = config.dnc
                run.book.dnc_lists = [self.global_dnc, config.dnc]
        self._runs = {c.campaign_id: self._runs[c.campaign_id]
                      for c in by_priority(r.config for r in self._runs.values())}
        out: list[Command] = []
        self._home_idle(now, out)
        self._pace_all(now, out)
        return out

    def _home_idle(self, now: float, out: list[Command]) -> None:
        """Ready operators with no campaign to serve look again (contacts or a campaign
        arrived since they became ready)."""
        for view in self._agents.values():
            if view.state == "ready" and view.phase == "" and view.home is None:
                self._make_ready(view, now, out)

    def restore_contacts(self, campaign_id: str, states: Iterable[ContactState],
                         now: float, *, talking: Iterable[CarriedConversation] = ()
                         ) -> list[Command]:
        """Take contacts back as the store kept them (after a restart): counts, dead
        numbers, callbacks and due times included. A contact in one of the conversations
        ``talking`` (carried over from the other node of a cluster) is not dialled: its
        attempt goes on connected to its operator, who is talking, and the disposition
        closes it as usual; one that cannot (its contact closed or not among ``states``,
        its number not the contact's, its operator on another attempt) is left out, which
        :meth:`engagement` shows."""
        run = self._run(campaign_id)
        carried = {conversation.contact_id: conversation for conversation in talking}
        restored = []
        for state in states:
            in_call = state.contact.id in carried and state.status is not ContactStatus.DONE
            run.book.restore(state, in_call=in_call)
            if in_call:
                restored.append(state)
        for state in restored:
            if not self._resume(run, state, carried[state.contact.id], now):
                run.book.release(state, now)  # an attempt cut short, as by a restart
        out: list[Command] = []
        self._home_idle(now, out)
        self._pace_all(now, out)
        return out

    def _resume(self, run: _Run, state: ContactState, carried: CarriedConversation,
                now: float) -> bool:
        """The carried conversation's attempt, connected, and its operator talking (counted
        on the node that connected them: not again here); False when it cannot be."""
        number = next((n for n in state.contact.numbers if n.e164 == carried.number), None)
        view = self._agents.get(carried.agent_id)
        if number is None or carried.attempt_id in self._attempts or (
                view is not None and view.phase != ""):
            return False
        since = now - max(0.0, carried.talked)
        attempt = _Attempt(carried.attempt_id, run, state, number, None, since,
                           phase="connected", answered_at=since, agent=carried.agent_id,
                           live=True)
        self._attempts[attempt.attempt_id] = attempt
        if view is None:
            view = self._agents[carried.agent_id] = _AgentView(carried.agent_id, carried.team)
        self._unhome(view)
        view.state = "on_call"
        view.phase, view.work, view.since = "talking", run, since
        view.call_id = attempt.attempt_id
        run.talking += 1
        self._undisposed[view.agent_id] = attempt
        return True

    def cancel_contact(self, campaign_id: str, contact_id: str,
                       now: float | None = None,
                       reason: CloseReason = CloseReason.CANCELLED) -> list[Command]:
        """Withdraw a contact (an outside system cancelled its task), wherever it is:

        - waiting: closed at once (``ContactClosed`` with ``reason``);
        - shown to an operator (preview): the preview is withdrawn, the operator released,
          and the contact closed;
        - ringing: the call is hung up (``HangupAttempt`` "cancelled"); the attempt is
          recorded as it ends, then the contact closes "cancelled" instead of being retried;
        - answered (talking to an operator or in its wrap-up, waiting for one, hearing the
          agentless message): nobody is cut off; the contact closes "cancelled" when the
          call ends, whatever its disposition (see :meth:`engagement`).

        With another ``reason`` ("answered_inbound": the customer called in) only a waiting
        contact is closed; one being previewed or dialled is left alone. Nothing when the
        contact is closed or unknown."""
        run = self._run(campaign_id)
        at = 0.0 if now is None else now
        out: list[Command] = []
        if run.book.cancel(contact_id, reason):
            self._closures(run, out)
            return out
        if reason is not CloseReason.CANCELLED:
            return out
        for agent_id, (pick, _, _) in list(run.previews.items()):
            if pick.state.contact.id == contact_id:
                del run.previews[agent_id]
                run.book.release(pick.state, at)
                view = self._agents.get(agent_id)
                if view is not None:
                    view.phase, view.work = "", None
                out.append(ReleaseAgent(campaign_id, agent_id))
                run.book.cancel(contact_id)
                self._closures(run, out)
                return out
        attempt = self._attempt_of(run, contact_id)
        if attempt is not None and not attempt.cancelled:
            attempt.cancelled = True
            if attempt.phase == "ringing":
                out.append(HangupAttempt(attempt.attempt_id, "cancelled"))
        return out

    def engagement(self, campaign_id: str, contact_id: str) -> tuple[str, str | None]:
        """Where the contact is now, and the operator involved: ``waiting``, ``preview``
        (operator), ``ringing`` (the operator reserved, if any), ``waiting_for_operator``,
        ``talking`` (operator; in the call or its wrap-up until the disposition),
        ``message`` (the agentless message), ``closed`` or ``unknown``."""
        run = self._run(campaign_id)
        state = run.book.states.get(contact_id)
        if state is None:
            return "unknown", None
        if state.status is ContactStatus.DONE:
            return "closed", None
        if state.status is ContactStatus.PENDING:
            return "waiting", None
        for agent_id, (pick, _, _) in run.previews.items():
            if pick.state.contact.id == contact_id:
                return "preview", agent_id
        attempt = self._attempt_of(run, contact_id)
        if attempt is None:
            return "unknown", None
        if attempt.phase == "ringing":
            return "ringing", attempt.reserved_agent
        if attempt.phase == "connected":
            return "talking", attempt.agent
        return {"waiting": "waiting_for_operator"}.get(attempt.phase, attempt.phase), None

    def _attempt_of(self, run: _Run, contact_id: str) -> _Attempt | None:
        return next((a for a in self._attempts.values()
                     if a.run is run and a.state.contact.id == contact_id), None)

    def dial_now(self, campaign_id: str, contact_id: str, now: float) -> list[Command]:
        """A task to dial at once (an outside system's "car is waiting"): pacing is skipped,
        call windows and do-not-call lists are not. Without operators (agentless) or when
        dialling ahead (predictive) it is dialled now; a mode that reserves an operator
        first dials it with the next free operator, before every other contact."""
        run = self._run(campaign_id)
        out: list[Command] = []
        if not self._dialling(run, now):
            self._pace_all(now, out)
            return out
        if run.policy.reserves_operators and not run.policy.reserved_contacts_only:
            state = run.book.states.get(contact_id)
            if state is not None and state.status is ContactStatus.PENDING:
                run.book.release(state, now, -now - 1.0)  # due before every other contact
        else:
            pick = run.book.pick_contact(contact_id, now, self.wall_at)
            if pick is not None:
                self._dial(run, pick, None, now, out)
        self._pace_all(now, out)
        return out

    # --- public inspection -----------------------------------------------------------------

    def campaign(self, campaign_id: str) -> CampaignConfig:
        return self._run(campaign_id).config

    def book(self, campaign_id: str) -> ContactBook:
        """The campaign's contacts (read it; change it only through events)."""
        return self._run(campaign_id).book

    def status(self, campaign_id: str) -> CampaignStatus:
        return self._run(campaign_id).status

    def stats(self, campaign_id: str, now: float) -> CampaignStats:
        run = self._run(campaign_id)
        run.stats.abandon_rate_window = run.meter.rate(now)
        run.stats.contact_rate_estimate = run.contact_rate.value
        return run.stats

    def pacing_input(self, campaign_id: str, now: float) -> PacingInput:
        """What the predictive decision sees right now (for benchmarks and diagnostics)."""
        return self._pacing_input(self._run(campaign_id), now)

    def audit(self) -> list[str]:
        """Consistency check (cheap enough for tests and an admin endpoint): every contact is
        waiting once, or in progress with exactly one attempt or preview, or done."""
        problems: list[str] = []
        for run in self._runs.values():
            problems += run.book.audit()
            holders: dict[str, int] = {}
            for attempt in self._attempts.values():
                if attempt.run is run:
                    holders[attempt.state.contact.id] = holders.get(attempt.state.contact.id,
                                                                    0) + 1
            for pick, _, _ in run.previews.values():
                holders[pick.state.contact.id] = holders.get(pick.state.contact.id, 0) + 1
            for state in run.book.in_progress():
                count = holders.pop(state.contact.id, 0)
                if count != 1:
                    problems.append(f"contact {state.contact.id}: in progress with {count} "
                                    "attempts or previews")
            problems += [f"contact {c}: attempt held while not in progress" for c in holders]
        return problems

    def previewing(self, agent_id: str) -> str | None:
        """The contact id the operator is previewing now, if any."""
        for run in self._runs.values():
            entry = run.previews.get(agent_id)
            if entry is not None:
                return entry[0].state.contact.id
        return None

    def preview(self, agent_id: str) -> tuple[str, Pick] | None:
        """The campaign and the contact (with the number it would dial) the operator is
        previewing now, if any."""
        for run in self._runs.values():
            entry = run.previews.get(agent_id)
            if entry is not None:
                return run.config.campaign_id, entry[0]
        return None

    def loader(self, campaign_id: str, ranges: NumberRanges | None = None) -> ContactLoader:
        """A contact loader for the campaign: its default region and zone, the global and
        campaign DNC lists, and its current contacts (duplicates across loads are caught);
        ``ranges``: the site's table of number ranges to zones."""
        run = self._run(campaign_id)
        config = run.config
        return ContactLoader(default_region=config.default_region,
                             default_time_zone=config.default_time_zone,
                             dnc_lists=[self.global_dnc, run.dnc],
                             existing=(s.contact for s in run.book.states.values()),
                             ranges=ranges)

    def add_contacts(self, campaign_id: str, contacts: Iterable[Contact], now: float) -> int:
        return self._run(campaign_id).book.add(contacts, now)

    # --- the sans-IO surface -----------------------------------------------------------------

    def next_deadline(self) -> float | None:
        deadlines = [self._next_tick] if self._next_tick is not None else []
        for run in self._runs.values():
            if run.waiting:
                deadlines.append(run.waiting[0].answered_at + COMPLIANCE_GRACE_S)
            timeout = run.config.preview_timeout_s
            if timeout is not None:
                deadlines.extend(shown + timeout for _, shown, _ in run.previews.values())
        return min(deadlines) if deadlines else None

    def on_time(self, now: float) -> list[Command]:
        out: list[Command] = []
        for run in self._runs.values():
            while run.waiting and run.waiting[0].answered_at + COMPLIANCE_GRACE_S <= now:
                self._abandon(run.waiting.popleft(), now, out, compliance=True)
            timeout = run.config.preview_timeout_s
            if timeout is not None:
                for agent_id, (pick, shown, call_id) in list(run.previews.items()):
                    if shown + timeout <= now:
                        del run.previews[agent_id]
                        self._dial(run, pick, agent_id, now, out, call_id)
        self._pace_all(now, out)
        return out

    def handle(self, event: object, now: float) -> list[Command]:
        out: list[Command] = []
        if isinstance(event, AgentStateChanged):
            self._agent_state(event, now, out)
        elif isinstance(event, AttemptAnswered):
            self._answered(event, now, out)
        elif isinstance(event, AttemptFailed):
            self._failed(event, now, out)
        elif isinstance(event, AttemptHungUp):
            self._hung_up(event, now, out)
        elif isinstance(event, ConnectFailed):
            self._connect_failed(event, now, out)
        elif isinstance(event, DispositionSet):
            self._disposition(event, now, out)
        elif isinstance(event, PreviewDecision):
            self._preview_decision(event, now, out)
        elif isinstance(event, AgentlessDigit):
            self._digit(event, now, out)
        elif isinstance(event, DialerAgentJoined):
            self._agents.setdefault(event.agent_id, _AgentView(event.agent_id, event.team))
        elif isinstance(event, InboundWaiting):
            self._inbound[event.queue] = max(0, event.waiting)
        elif isinstance(event, CampaignStart | CampaignPause | CampaignStop):
            self._control(event, now, out)
        else:
            raise DialerError(f"the dialer does not take {type(event).__name__} events")
        self._pace_all(now, out)
        return out

    # --- campaign control --------------------------------------------------------------------

    def _run(self, campaign_id: str) -> _Run:
        try:
            return self._runs[campaign_id]
        except KeyError:
            raise DialerError(f"no campaign {campaign_id!r}") from None

    def _control(self, event: CampaignStart | CampaignPause | CampaignStop, now: float,
                 out: list[Command]) -> None:
        run = self._run(event.campaign_id)
        if run.status is CampaignStatus.STOPPED:
            raise DialerError(f"campaign {event.campaign_id!r} is stopped; create a new one")
        if isinstance(event, CampaignStart):
            run.status = CampaignStatus.RUNNING
        else:
            run.status = (CampaignStatus.PAUSED if isinstance(event, CampaignPause)
                          else CampaignStatus.STOPPED)
            for agent_id, (pick, _, _) in list(run.previews.items()):
                del run.previews[agent_id]
                run.book.release(pick.state, now)
                out.append(ReleaseAgent(run.config.campaign_id, agent_id))
            if run.status is CampaignStatus.STOPPED:
                run.book.stop()
                self._closures(run, out)
        for view in self._agents.values():
            if view.state == "ready" and view.phase == "":
                self._make_ready(view, now, out)

    def _dialling(self, run: _Run, now: float) -> bool:
        if run.status is not CampaignStatus.RUNNING:
            return False
        schedule = run.config.schedule
        return schedule.calendar.open_in(self.wall_at(now), schedule.time_zone)

    # --- operators -----------------------------------------------------------------------------

    def _agent_state(self, event: AgentStateChanged, now: float, out: list[Command]) -> None:
        view = self._agents.get(event.agent_id)
        if view is None:
            return  # not an operator of any campaign
        old_phase, work = view.phase, view.work
        view.state = event.new
        if event.new == "wrap_up" and old_phase == "talking" and work is not None:
            work.talking -= 1
            work.wrapping += 1
            work.talk.add(now - view.since)
            view.phase, view.since = "wrapping", now
            return
        if (event.new in ("reserved", "ringing", "on_call", "on_hold")
                and old_phase in ("talking", "reserved")):
            if not event.call_id or event.call_id == view.call_id:
                return  # steps of our own reservation or connect, already counted
            if old_phase == "reserved":
                self._reservation_lost(view, now)
        # Anything else ends the dialer's hold on the operator.
        if old_phase == "talking" and work is not None:
            work.talking -= 1
            work.talk.add(now - view.since)
        elif old_phase == "wrapping" and work is not None:
            work.wrapping -= 1
            work.wrap.add(now - view.since)
        view.phase, view.work = "", None
        self._unhome(view)
        if event.new == "ready":
            self._make_ready(view, now, out)
        elif event.new == "logged_out":
            self._default_disposition(view.agent_id, "logged out", now, out)

    def _reservation_lost(self, view: _AgentView, now: float) -> None:
        """The ACD gave the operator another call (our view was stale and it refused our
        reservation): withdraw their preview, or let their dial go on without them."""
        run = view.work
        if run is not None and view.agent_id in run.previews:
            pick = run.previews.pop(view.agent_id)[0]
            run.book.release(pick.state, now)
            return
        attempt = self._attempts.get(view.call_id)
        if attempt is not None and attempt.reserved_agent == view.agent_id:
            attempt.reserved_agent = None  # answered, it takes the next free operator

    def _unhome(self, view: _AgentView) -> None:
        if view.home is not None:
            view.home.ready.pop(view.agent_id, None)
            view.home = None

    def _campaigns_of(self, view: _AgentView) -> Iterable[_Run]:
        return (run for run in self._runs.values()
                if run.config.selects(view.agent_id, view.team))

    def _make_ready(self, view: _AgentView, now: float, out: list[Command]) -> None:
        """Give a ready operator a waiting answered call, or a home campaign's ready pool."""
        self._unhome(view)
        for run in self._campaigns_of(view):
            for attempt in run.waiting:
                if view.agent_id not in attempt.missed:
                    run.waiting.remove(attempt)
                    self._connect(attempt, view, now, out)
                    return
        for run in self._campaigns_of(view):  # by priority
            if self._keeps_operators(run):
                view.home = run
                run.ready[view.agent_id] = None
                return

    @staticmethod
    def _keeps_operators(run: _Run) -> bool:
        """Whether ready operators wait in the campaign's pool: it runs with contacts open,
        or it was paused or stopped while its calls still ring (an answer must still find an
        operator rather than the compliance message)."""
        if run.status is CampaignStatus.RUNNING:
            return run.book.open_count() > 0
        return run.in_flight > 0

    def _take_ready(self, run: _Run, passing: tuple[str, ...] = ()) -> _AgentView | None:
        """The longest ready operator of the pool, but none of ``passing``."""
        if not run.ready:
            return None
        if passing:
            found = next((a for a in run.ready if a not in passing), None)
            if found is None:
                return None
            del run.ready[found]
            agent_id = found
        else:
            agent_id, _ = run.ready.popitem(last=False)
        view = self._agents[agent_id]
        view.home = None
        return view

    def _usable_ready(self, run: _Run) -> int:
        held = 0
        if run.config.inbound_first and run.config.blend_queues:
            held = sum(self._inbound.get(q, 0) for q in run.config.blend_queues)
        return max(0, len(run.ready) - held)

    # --- pacing --------------------------------------------------------------------------------

    def _pace_all(self, now: float, out: list[Command]) -> None:
        wake: float | None = None
        for run in self._runs.values():
            if run.ready and not self._keeps_operators(run):
                for agent_id in list(run.ready):
                    self._make_ready(self._agents[agent_id], now, out)
            if run.status is CampaignStatus.RUNNING:
                if self._dialling(run, now):
                    self._pace(run, now, out)
                    due = run.book.next_due()
                    # Work waiting: pace again shortly (predictive timing depends on time);
                    # otherwise wake when the next contact falls due.
                    candidate = None if due is None else max(due, now + TICK_S)
                else:
                    candidate = now + SCHEDULE_POLL_S
                if candidate is not None and (wake is None or candidate < wake):
                    wake = candidate
            self._closures(run, out)
        self._next_tick = wake

    def _pace(self, run: _Run, now: float, out: list[Command]) -> None:
        """Reserve ready operators for contacts, then dial what the campaign's policy says
        to dial with no operator reserved."""
        policy = run.policy
        if policy.reserves_operators:
            self._reserve_ready(run, policy, now, out)
        lines_free = run.config.max_lines - run.in_flight - run.messages
        for _ in range(policy.dials_ahead(lines_free, lambda: self._pacing_input(run, now))):
            pick = run.book.pick(now, self.wall_at, reserved=False)
            if pick is None:
                break
            self._dial(run, pick, None, now, out)

    def _reserve_ready(self, run: _Run, policy: PacingPolicy, now: float,
                       out: list[Command]) -> None:
        """Each usable ready operator, in idle order, is reserved for a contact, then shown
        it (preview) or its call is dialled."""
        while self._usable_ready(run) > 0:
            view = self._take_ready(run)
            if view is None:
                break
            pick = run.book.pick(now, self.wall_at, reserved=True, agent=view.agent_id,
                                 only_reserved=policy.reserved_contacts_only)
            if pick is None:
                run.ready[view.agent_id] = None  # back, at the end of the idle order
                view.home = run
                break
            view.phase, view.work = "reserved", run
            attempt_id = self._next_id(run)
            view.call_id = attempt_id
            out.append(ReserveAgent(run.config.campaign_id, view.agent_id,
                                    pick.state.contact.id, attempt_id,
                                    run.config.inbound_hold_s))
            if policy.previews(pick):
                run.previews[view.agent_id] = (pick, now, attempt_id)
                contact = pick.state.contact
                out.append(ShowPreview(run.config.campaign_id, view.agent_id, contact.id,
                                       tuple(n.e164 for n in contact.numbers),
                                       tuple(sorted(contact.attributes.items()))))
            else:
                self._dial(run, pick, view.agent_id, now, out, attempt_id)

    def _mature(self, run: _Run, now: float) -> None:
        """Feed the contact rate from attempts old enough that all of their cohort has ended:
        counting outcomes as they come would over-weigh the quick ones (busy, failed) and
        make the dialer over-dial after a start."""
        maturity = run.config.ring_timeout_s + 10.0
        cohort = run.cohort
        while cohort and cohort[0].dialled_at <= now - maturity:
            if cohort[0].live is None and cohort[0].dialled_at > now - 4 * maturity:
                break
            run.contact_rate.add(1.0 if cohort.popleft().live else 0.0)

    def _pacing_input(self, run: _Run, now: float) -> PacingInput:
        config = run.config
        self._mature(run, now)
        p = run.contact_rate.value
        target, abandons, live = self._target(run, now)
        expected = max(1.0, run.in_flight * p)
        ready = self._usable_ready(run)
        staffed = ready + run.talking + run.wrapping
        in_flight_cap = int(config.max_dial_ratio * staffed)
        return PacingInput(
            ready=ready, talking=run.talking, wrapping=run.wrapping, in_flight=run.in_flight,
            waiting=len(run.waiting), contact_rate=p, answer_delay_s=run.answer_delay.value,
            talk_s=run.talk.value, wrap_s=run.wrap.value,
            allowed_abandon_ratio=allowed_abandon_ratio(target, abandons, live, expected),
            max_dials=max(0, min(config.max_lines - run.in_flight - run.talking,
                                 in_flight_cap - run.in_flight)),
            free_factor=run.free_factor.value,
        )

    def _next_id(self, run: _Run) -> str:
        if self._new_id is not None:
            return self._new_id(run.config.campaign_id)
        return f"{run.config.campaign_id}-{next(self._ids)}"

    def _not_dialable(self, run: _Run, state: ContactState, number: PhoneNumber,
                      now: float) -> str | None:
        """Why ``number`` may not be dialled at ``now``, or None when it may.

        Checked again at the moment of dialling: a preview or a reservation can outlast the
        call window, or the number can be put on a do-not-call list meanwhile.
        """
        if not run.config.strategy.calendar(number.type).open_in_all(self.wall_at(now),
                                                                      number.time_zones):
            return "outside its call window"
        if run.book.is_dnc(number.e164):
            return "on a do-not-call list"
        if number.e164 in state.dead_numbers:
            return "no longer valid"
        return None

    def _dial(self, run: _Run, pick: Pick, agent_id: str | None, now: float,
              out: list[Command], attempt_id: str | None = None) -> None:
        if self._not_dialable(run, pick.state, pick.number, now) is not None:
            # Back to the list (it is picked again when the rules allow) and free the operator.
            run.book.release(pick.state, now)
            if agent_id is not None:
                view = self._agents.get(agent_id)
                if view is not None:
                    view.phase, view.work = "", None
                out.append(ReleaseAgent(run.config.campaign_id, agent_id))
            return
        attempt_id = attempt_id or self._next_id(run)
        run.book.dialled(pick.state, pick.number, callback=pick.callback)
        attempt = _Attempt(attempt_id, run, pick.state, pick.number, agent_id, now,
                           ahead=agent_id is None)
        self._attempts[attempt_id] = attempt
        run.in_flight += 1
        run.cohort.append(attempt)
        run.stats.dialled += 1
        run.meter.dialled(now)
        config = run.config
        out.append(Dial(attempt_id, config.campaign_id, pick.state.contact.id, pick.number.e164,
                        pick.number.type.value, config.caller_id, agent_id,
                        config.ring_timeout_s, config.detect_machine))

    # --- attempts ------------------------------------------------------------------------------

    def _attempt(self, attempt_id: str) -> _Attempt | None:
        return self._attempts.get(attempt_id)

    def _record(self, attempt: _Attempt, outcome: Outcome, now: float,
                out: list[Command]) -> None:
        run = attempt.run
        run.book.outcome(attempt.state, attempt.number, outcome, now)
        if attempt.cancelled and outcome is not Outcome.HUMAN:
            run.book.cancel(attempt.state.contact.id)  # withdrawn meanwhile: not retried
        if run.status is CampaignStatus.STOPPED:
            run.book.stop()  # the last calls of a stopped campaign close their contacts
        out.append(AttemptRecorded(attempt.attempt_id, run.config.campaign_id,
                                   attempt.state.contact.id, attempt.number.e164, outcome.value,
                                   now))

    def _release_reserved(self, attempt: _Attempt, out: list[Command]) -> None:
        if attempt.reserved_agent is not None:
            view = self._agents.get(attempt.reserved_agent)
            if view is not None and view.phase == "reserved":
                view.phase, view.work = "", None
            out.append(ReleaseAgent(attempt.run.config.campaign_id, attempt.reserved_agent))
            attempt.reserved_agent = None

    def _answered(self, event: AttemptAnswered, now: float, out: list[Command]) -> None:
        attempt = self._attempt(event.attempt_id)
        if attempt is None or attempt.phase != "ringing":
            return
        run = attempt.run
        run.in_flight -= 1
        attempt.answered_at = now
        config = run.config
        if attempt.cancelled:
            self._answered_cancelled(attempt, event.human, now, out)
            return
        if not event.human:
            run.meter.machine_answer(now)
            attempt.live = False
            run.stats.machines += 1
            if run.policy.plays_message(config, human=False):
                attempt.phase = "message"
                run.messages += 1
                self._release_reserved(attempt, out)
                out.append(PlayAgentlessMessage(attempt.attempt_id, config.agentless_message))
                return
            if (config.machine_policy is MachinePolicy.OPERATOR
                    and run.policy.reserves_operators):
                self._to_operator(attempt, now, out)
                return
            attempt.phase = "done"
            self._record(attempt, Outcome.MACHINE, now, out)
            self._release_reserved(attempt, out)
            out.append(HangupAttempt(attempt.attempt_id, "machine"))
            del self._attempts[attempt.attempt_id]
            return
        run.meter.live_answer(now)
        attempt.live = True
        run.answer_delay.add(now - attempt.dialled_at)
        run.stats.live_answers += 1
        if run.policy.plays_message(config, human=True):
            attempt.phase = "message"
            run.messages += 1
            self._record(attempt, Outcome.HUMAN, now, out)
            out.append(PlayAgentlessMessage(attempt.attempt_id, config.agentless_message))
            return
        self._to_operator(attempt, now, out)

    def _answered_cancelled(self, attempt: _Attempt, human: bool, now: float,
                            out: list[Command]) -> None:
        """The answer crossed the hang-up of a withdrawn task: a person hears who called (the
        compliance message; it counts as abandoned, as any answered call nobody takes), a
        machine is hung up; either way the contact closes."""
        run = attempt.run
        self._release_reserved(attempt, out)
        if human:
            run.meter.live_answer(now)
            attempt.live = True
            run.stats.live_answers += 1
            self._abandon(attempt, now, out, compliance=True)
            return
        run.meter.machine_answer(now)
        attempt.live = False
        run.stats.machines += 1
        attempt.phase = "done"
        self._record(attempt, Outcome.MACHINE, now, out)
        out.append(HangupAttempt(attempt.attempt_id, "cancelled"))
        del self._attempts[attempt.attempt_id]

    def _to_operator(self, attempt: _Attempt, now: float, out: list[Command]) -> None:
        """The reserved operator, else the next free one, else wait (the grace time)."""
        run = attempt.run
        if attempt.reserved_agent is not None:
            reserved = self._agents[attempt.reserved_agent]
            attempt.reserved_agent = None
            self._connect(attempt, reserved, now, out)
            return
        free = self._take_ready(run)
        if free is not None:
            self._connect(attempt, free, now, out)
        else:
            attempt.phase = "waiting"
            run.waiting.append(attempt)

    def _connect(self, attempt: _Attempt, view: _AgentView, now: float,
                 out: list[Command]) -> None:
        self._default_disposition(view.agent_id, "next call", now, out)
        run = attempt.run
        self._undisposed[view.agent_id] = attempt
        attempt.phase = "connected"
        attempt.agent = view.agent_id
        view.phase, view.work, view.since = "talking", run, now
        view.call_id = attempt.attempt_id
        run.talking += 1
        run.stats.connected += 1
        if attempt.ahead and not attempt.missed:  # learnt at its first connect
            self._learn(run, now, abandoned=False)
        self._record(attempt, Outcome.HUMAN, now, out)
        out.append(ConnectAgent(attempt.attempt_id, view.agent_id, run.config.campaign_id,
                                run.config.inbound_hold_s))

    def _abandon(self, attempt: _Attempt, now: float, out: list[Command], *,
                 compliance: bool) -> None:
        run = attempt.run
        attempt.phase = "done"
        run.meter.abandoned(now)
        run.stats.abandoned += 1
        if attempt.ahead and not attempt.missed:  # an operator was found: pacing did right
            self._learn(run, now, abandoned=True)
        self._record(attempt, Outcome.ABANDONED, now, out)
        if compliance:
            out.append(PlayComplianceMessage(attempt.attempt_id, run.config.compliance_message))
        del self._attempts[attempt.attempt_id]

    def _connect_failed(self, event: ConnectFailed, now: float, out: list[Command]) -> None:
        """The operator given the answered call did not take it: it was never connected. The
        customer goes to the next free operator (not one who missed it) or waits within the
        grace time; one who hung up meanwhile is abandoned."""
        attempt = self._attempt(event.attempt_id)
        if attempt is None or attempt.phase != "connected" or attempt.agent != event.agent_id:
            return
        run = attempt.run
        run.stats.connected -= 1
        if self._undisposed.get(event.agent_id) is attempt:
            del self._undisposed[event.agent_id]
        view = self._agents.get(event.agent_id)
        if view is not None and view.phase == "talking" and view.call_id == attempt.attempt_id:
            run.talking -= 1  # unless the ACD's release came first and said so
            view.phase, view.work = "", None
        attempt.agent = None
        attempt.missed += (event.agent_id,)
        if event.customer_gone:
            self._abandon(attempt, now, out, compliance=False)
            return
        free = self._take_ready(run, passing=attempt.missed)
        if free is not None:
            self._connect(attempt, free, now, out)
            return
        attempt.phase = "waiting"  # in answer order: the grace time runs from the answer
        later = next((i for i, other in enumerate(run.waiting)
                      if other.answered_at > attempt.answered_at), len(run.waiting))
        run.waiting.insert(later, attempt)

    def _target(self, run: _Run, now: float) -> tuple[float, int, int]:
        config = run.config
        return run.meter.live_target(config.abandon_target, now, cap=config.abandon_cap,
                                     confidence=config.abandon_confidence)

    def _learn(self, run: _Run, now: float, *, abandoned: bool) -> None:
        target, abandons, live = self._target(run, now)
        run.free_factor.target = target
        run.free_factor.answered(abandoned, abandons > target * live)

    def _failed(self, event: AttemptFailed, now: float, out: list[Command]) -> None:
        attempt = self._attempt(event.attempt_id)
        if attempt is None or attempt.phase != "ringing":
            return
        outcome = _FAILED.get(event.outcome)
        if outcome is None:
            raise DialerError(f"attempt {event.attempt_id}: outcome {event.outcome!r} is not "
                              f"one of {', '.join(_FAILED)}")
        run = attempt.run
        run.in_flight -= 1
        attempt.live = False
        run.stats.failed += 1
        attempt.phase = "done"
        self._record(attempt, outcome, now, out)
        self._release_reserved(attempt, out)
        del self._attempts[attempt.attempt_id]

    def _hung_up(self, event: AttemptHungUp, now: float, out: list[Command]) -> None:
        attempt = self._attempt(event.attempt_id)
        if attempt is None:
            return
        run = attempt.run
        if attempt.phase == "waiting":
            run.waiting.remove(attempt)
            self._abandon(attempt, now, out, compliance=False)
        elif attempt.phase == "message":
            run.messages -= 1
            attempt.phase = "done"
            if attempt.live is False and not run.config.agentless_machine_delivered:
                self._record(attempt, Outcome.MACHINE, now, out)  # a message left: retried
            else:
                self._close_delivered(attempt, now)
            del self._attempts[attempt.attempt_id]
        elif attempt.phase == "ringing":
            self._failed(AttemptFailed(event.attempt_id, "no_answer"), now, out)
        # "connected": the conversation ended; the disposition closes the attempt.

    def _close_delivered(self, attempt: _Attempt, now: float) -> None:
        attempt.run.book.disposition(attempt.state, attempt.number, Disposition.SUCCESS, now)

    def _digit(self, event: AgentlessDigit, now: float, out: list[Command]) -> None:
        attempt = self._attempt(event.attempt_id)
        if attempt is None or attempt.phase != "message":
            return
        config = attempt.run.config
        if event.digit == config.agentless_press_one:
            attempt.run.messages -= 1
            attempt.phase = "done"
            out.append(TransferToQueue(attempt.attempt_id, config.agentless_queue))
            self._close_delivered(attempt, now)
            del self._attempts[attempt.attempt_id]

    def _disposition(self, event: DispositionSet, now: float, out: list[Command]) -> None:
        attempt = self._attempt(event.attempt_id)
        if attempt is None or attempt.phase != "connected":
            raise DialerError(f"attempt {event.attempt_id}: no conversation to disposition")
        try:
            disposition = Disposition(event.disposition)
        except ValueError:
            raise DialerError(f"attempt {event.attempt_id}: disposition {event.disposition!r} "
                              f"is not one of {', '.join(d.value for d in Disposition)}") \
                from None
        due: float | None = None
        if disposition is Disposition.CALLBACK:
            if event.callback_at is None or event.callback_at.tzinfo is None:
                raise DialerError(f"attempt {event.attempt_id}: a callback needs callback_at "
                                  "with its time zone (the customer's)")
            due = now + (event.callback_at - self.wall_at(now)).total_seconds()
        run = attempt.run
        if disposition is Disposition.MACHINE:
            run.stats.machines += 1
        # A customer who asks never to be called asks it of the company, not of this
        # campaign: the numbers go on the site's list, which every campaign honours.
        run.book.disposition(attempt.state, attempt.number, disposition, now, callback_due=due,
                             agent=event.agent_id, dnc=self.global_dnc)
        if disposition is Disposition.DO_NOT_CALL:
            out.append(DoNotCallAdded(run.config.campaign_id, attempt.state.contact.id,
                                      attempt.attempt_id, event.agent_id, self.global_dnc.name,
                                      tuple(n.e164 for n in attempt.state.contact.numbers)))
        if attempt.cancelled:
            run.book.cancel(attempt.state.contact.id)  # withdrawn during the call
        attempt.phase = "done"
        del self._attempts[attempt.attempt_id]
        if attempt.agent is not None and self._undisposed.get(attempt.agent) is attempt:
            del self._undisposed[attempt.agent]
        if run.status is CampaignStatus.STOPPED:
            run.book.stop()

    def _default_disposition(self, agent_id: str, reason: str, now: float,
                             out: list[Command]) -> None:
        """The operator's conversation still awaiting their disposition closes as a success
        (they were connected to the next call, or logged out, without giving one)."""
        attempt = self._undisposed.pop(agent_id, None)
        if attempt is None or attempt.phase != "connected" \
                or self._attempts.get(attempt.attempt_id) is not attempt:
            return
        self._disposition(DispositionSet(attempt.attempt_id, agent_id,
                                         Disposition.SUCCESS.value), now, out)
        out.append(DispositionDefaulted(attempt.attempt_id, attempt.run.config.campaign_id,
                                        attempt.state.contact.id, agent_id,
                                        Disposition.SUCCESS.value, reason))

    def _preview_decision(self, event: PreviewDecision, now: float, out: list[Command]) -> None:
        found = None
        for run in self._runs.values():
            entry = run.previews.get(event.agent_id)
            if entry is not None and entry[0].state.contact.id == event.contact_id:
                found = run, entry[0]
                break
        if found is None:
            raise DialerError(f"agent {event.agent_id} has no preview of contact "
                              f"{event.contact_id!r}")
        run, pick = found
        if event.dial and event.number and event.number != pick.number.e164:
            pick = self._chosen_number(run, pick, event, now)
        delay = run.config.strategy.skip_delay_s
        if event.reschedule_at is not None:
            delay = self._reschedule_delay(event, now)
        call_id = run.previews.pop(event.agent_id)[2]
        if not event.dial:
            # Skipped or rescheduled: back to the list, no attempt counted.
            run.book.release(pick.state, now, delay)
            view = self._agents[event.agent_id]
            view.phase, view.work = "", None
            out.append(ReleaseAgent(run.config.campaign_id, event.agent_id))
            return
        self._dial(run, pick, event.agent_id, now, out, call_id)

    def _reschedule_delay(self, event: PreviewDecision, now: float) -> float:
        """Seconds from ``now`` to the operator's reschedule time (raise on a time without
        its zone, in the past, or with ``dial``; the preview then stays as it was)."""
        at = event.reschedule_at
        if at is None or at.tzinfo is None or at.utcoffset() is None:
            raise DialerError(f"agent {event.agent_id}: reschedule_at needs its time zone "
                              "(the customer's)")
        if event.dial:
            raise DialerError(f"agent {event.agent_id}: a preview is dialled or rescheduled, "
                              "not both")
        delay = (at - self.wall_at(now)).total_seconds()
        if delay <= 0:
            raise DialerError(f"agent {event.agent_id}: reschedule_at {at.isoformat()} is in "
                              "the past")
        return delay

    def _chosen_number(self, run: _Run, pick: Pick, event: PreviewDecision,
                       now: float) -> Pick:
        """The number the operator chose instead, if the rules allow it now (else raise, and
        the preview stays as it was)."""
        chosen = [n for n in pick.state.contact.numbers if n.e164 == event.number]
        strategy = run.config.strategy
        state = pick.state
        allowed = bool(chosen) and (
            self._not_dialable(run, state, chosen[0], now) is None
            and (pick.callback or state.attempts_by_type.get(chosen[0].type, 0)
                 < strategy.type_limit(chosen[0].type))
            and now - state.abandoned_at.get(event.number, -1e18) >= 0.0)
        if not allowed:
            raise DialerError(f"agent {event.agent_id}: number {event.number} of contact "
                              f"{event.contact_id!r} may not be dialled now (unknown, outside "
                              "its call window, over its attempt limit or on a do-not-call "
                              "list)")
        return Pick(state, chosen[0], pick.reserved, pick.callback)

    def _closures(self, run: _Run, out: list[Command]) -> None:
        if run.book.closures:
            out.extend(ContactClosed(run.config.campaign_id, contact_id, reason.value)
                       for contact_id, reason in run.book.closures)
            run.book.closures.clear()


def attempt_outcomes(commands: Sequence[Command]) -> list[AttemptRecorded]:
    """The attempt notices among ``commands`` (a convenience for shells and tests)."""
    return [c for c in commands if isinstance(c, AttemptRecorded)]
