"""The seams between the web layer and live call handling.

The REST API never touches a SIP channel or the ACD's state: it calls these small interfaces,
which the telephony and ACD shells implement and the composition root hands to
:func:`parley.web.build_web_app`. Until a node runs telephony, the routes that need it answer
503 with a message saying so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from parley.dialer.campaign import CampaignConfig
from parley.dialer.contacts import Contact
from parley.dialer.engine import CampaignStats
from parley.errors import ParleyError

if TYPE_CHECKING:
    from parley.center.flow_trials import Trial
    from parley.ivr.model import Flow
from parley.events import (
    AgentAtDesk,
    AgentLogin,
    AgentLogout,
    AgentNotReady,
    AgentReady,
    CampaignFiguresChanged,
    WrapUpDone,
)


class LiveError(ParleyError):
    """A live-call operation could not be done."""


class LiveCallNotFound(LiveError):
    """No live call with that id (it may have ended)."""


class OperationRefused(LiveError):
    """The call or operator is in a state where the operation makes no sense (a conflict)."""


class InvalidRequest(OperationRefused):
    """The request itself is at fault: it names a number, target or reason this site does not
    have. The message starts with the field at fault (``number: …``)."""


class NotRunning(LiveError):
    """This node runs no telephony or ACD, so live operations are unavailable."""


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A call in progress as supervisors and operators see it."""

    id: str
    direction: str
    caller: str
    called: str
    state: str
    started_at: datetime
    queue: str | None = None
    operator: str | None = None
    answered_at: datetime | None = None
    recording_id: str | None = None  # the conversation is being recorded
    recording_paused: bool = False  # … and its recording is paused now (silence written)


@dataclass(frozen=True, slots=True)
class RecordingGap:
    """A stretch of a recording written as silence, in seconds from the start of its file
    (``end_s`` None while it lasts)."""

    start_s: float
    end_s: float | None


@dataclass(frozen=True, slots=True)
class RecordingPauseState:
    """A live call's recording after a pause or resume: its gaps so far."""

    recording_id: str
    paused: bool
    offset_s: float  # where the gap just started (paused) or ended (resumed)
    pauses: tuple[RecordingGap, ...]


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """A queue right now: calls waiting, operators, and today's counts."""

    queue: str
    waiting: int
    longest_wait_s: float
    expected_wait_s: float
    operators_logged_in: int
    operators_ready: int
    operators_busy: int
    offered: int
    answered: int
    abandoned: int
    service_level: float | None
    operators_wrap_up: int = 0
    operators_not_ready: int = 0
    #: ASA (parley.kpi.average_speed_of_answer) of today's answered calls, seconds
    asa_s: float = 0.0
    #: abandoned / (answered + abandoned): parley.kpi.AbandonRate.FINISHED; None: no call
    abandon_rate: float | None = None


@dataclass(frozen=True, slots=True)
class OperatorNow:
    """An operator's state as the ACD holds it now (the desk draws itself from it)."""

    operator: str
    state: str
    reason: str
    in_state_s: float
    #: the monotonic clock's reading when the state began (stable between readings)
    since: float = 0.0


class CallControl(Protocol):
    """Click-to-call, hang-up, transfer and the list of live calls (telephony/ implements)."""

    async def originate(self, *, device: str, number: str, caller_id: str | None,
                        requested_by: str) -> LiveCall:
        """Ring ``device`` (the operator's phone), then dial ``number`` and bridge them."""
        ...

    async def hang_up(self, call_id: str, *, requested_by: str) -> None:
        ...

    async def transfer(self, call_id: str, *, target: str, requested_by: str) -> None:
        """Blind-transfer the call to a number, a user or a queue (``queue:<name>``)."""
        ...

    async def consult(self, call_id: str, *, target: str, requested_by: str) -> None:
        """Put the customer on hold and ring ``target`` (an operator, a user, a free operator
        of ``queue:<name>``, or a number) for the call's operator to talk to."""
        ...

    async def consult_action(self, call_id: str, *, action: str, requested_by: str) -> None:
        """End the consultation: ``complete`` (transfer the customer to the consulted
        party), ``conference`` (all three in one call) or ``cancel`` (back to the
        customer)."""
        ...

    async def record(self, call_id: str, *, on: bool, requested_by: str) -> str | None:
        """Start (``on``) or stop recording the conversation, for queues recording on demand;
        returns the recording's id."""
        ...

    async def pause_recording(self, call_id: str, *, paused: bool,
                              requested_by: str) -> RecordingPauseState:
        """Pause (silence in the file, the gap marked) or resume the call's recording."""
        ...

    def live_calls(self) -> list[LiveCall]:
        ...

    async def monitor(self, call_id: str, *, mode: str, device: str,
                      requested_by: str) -> str:
        """A supervisor joins a conversation from ``device`` as ``mode`` (listen, whisper to
        the operator, barge in), or, already in it, changes mode without being called again;
        returns "ringing" or "changed"."""
        ...

    async def take_over(self, call_id: str, *, device: str, requested_by: str) -> str:
        """The supervisor takes the customer over from the operator (whose leg is released
        to wrap-up): their monitoring leg is kept, else ``device`` rings first; returns
        "taken" or "ringing"."""
        ...

    async def end_monitor(self, call_id: str, *, requested_by: str) -> None:
        """The supervisor leaves the conversation (their phone is hung up)."""
        ...


OperatorEvent = (AgentLogin | AgentLogout | AgentReady | AgentNotReady | AgentAtDesk
                 | WrapUpDone)


class ContactCenter(Protocol):
    """Operator state changes and live queue figures (the ACD shell implements)."""

    async def operator_event(self, event: OperatorEvent) -> None:
        """Apply an operator's request; the ACD publishes the resulting state change."""
        ...

    def queue_figures(self) -> list[QueueFigures]:
        ...

    def operator_now(self, operator: str) -> OperatorNow | None:
        """The operator's current state; None when they are no queue's operator."""
        ...

    def operators_now(self) -> list[OperatorNow]:
        """Every operator the ACD knows, as :meth:`operator_now` (one pass, no store)."""
        ...


class FlowTrialLines(Protocol):
    """Test lines that run a flow's draft for one call (parley.center.flow_trials)."""

    def open(self, flow: Flow, callers: frozenset[str]) -> Trial:
        """A number that runs ``flow`` for one call from one of ``callers`` (SIP users)."""
        ...


class NoCallControl:
    """What a node without telephony answers: every operation is unavailable."""

    async def originate(self, *, device: str, number: str, caller_id: str | None,
                        requested_by: str) -> LiveCall:
        raise NotRunning("telephony is not running on this node")

    async def hang_up(self, call_id: str, *, requested_by: str) -> None:
        raise NotRunning("telephony is not running on this node")

    async def transfer(self, call_id: str, *, target: str, requested_by: str) -> None:
        raise NotRunning("telephony is not running on this node")

    async def consult(self, call_id: str, *, target: str, requested_by: str) -> None:
        raise NotRunning("telephony is not running on this node")

    async def consult_action(self, call_id: str, *, action: str, requested_by: str) -> None:
        raise NotRunning("telephony is not running on this node")

    async def record(self, call_id: str, *, on: bool, requested_by: str) -> str | None:
        raise NotRunning("telephony is not running on this node")

    async def pause_recording(self, call_id: str, *, paused: bool,
                              requested_by: str) -> RecordingPauseState:
        raise NotRunning("telephony is not running on this node")

    def live_calls(self) -> list[LiveCall]:
        raise NotRunning("telephony is not running on this node")

    async def monitor(self, call_id: str, *, mode: str, device: str,
                      requested_by: str) -> str:
        raise NotRunning("telephony is not running on this node")

    async def take_over(self, call_id: str, *, device: str, requested_by: str) -> str:
        raise NotRunning("telephony is not running on this node")

    async def end_monitor(self, call_id: str, *, requested_by: str) -> None:
        raise NotRunning("telephony is not running on this node")


class NoContactCenter:
    """What a node without the ACD answers."""

    async def operator_event(self, event: OperatorEvent) -> None:
        raise NotRunning("the ACD is not running on this node")

    def queue_figures(self) -> list[QueueFigures]:
        raise NotRunning("the ACD is not running on this node")

    def operator_now(self, operator: str) -> OperatorNow | None:
        raise NotRunning("the ACD is not running on this node")

    def operators_now(self) -> list[OperatorNow]:
        raise NotRunning("the ACD is not running on this node")


class BanView(Protocol):
    """One SIP ban or lock as the API shows it (see :class:`parley.sip.guard.BanInfo`)."""

    @property
    def kind(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def since(self) -> datetime: ...
    @property
    def until(self) -> datetime: ...
    @property
    def failures(self) -> int: ...


class SecurityControl(Protocol):
    """The SIP ban list, for admins (implemented by :class:`parley.sip.guard.AuthGuard`)."""

    def bans(self) -> Sequence[BanView]: ...  # pragma: no cover - protocol

    def lift(self, kind: str, subject: str, *, by: str = "") -> bool: ...  # pragma: no cover


# --- campaigns: the web and the store on one side, the live dialer shell on the other -------

CampaignAction = Literal["start", "pause", "stop"]


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    """A campaign right now: its state and the dialer's counters since this node loaded it."""

    campaign: str
    status: str  # created | running | paused | stopped
    contacts_open: int  # loaded and not closed
    in_flight: int  # attempts dialled and not finished
    operators_ready: int
    operators_talking: int
    stats: CampaignStats


@dataclass(frozen=True, slots=True)
class ContactCancelled:
    """What the live dialer did with a withdrawn task.

    ``action``: ``withdrawn`` (it was waiting or shown in preview: closed now),
    ``call_cancelled`` (it was ringing: the call is hung up and its attempt stored as it
    ended), ``after_call`` (a person is on the line: the call goes on, ``operator`` names who
    has it, and the contact stays closed when it ends), or ``none`` (the dialer no longer
    had it open)."""

    action: Literal["withdrawn", "call_cancelled", "after_call", "none"]
    operator: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PreviewNumber:
    """One number of a previewed contact: its type and the zone of whoever answers it."""

    number: str  # E.164
    type: str  # mobile | home | work | other
    time_zone: str  # IANA zone
    proposed: bool  # the number the dialer would dial (Dial without choosing)


@dataclass(frozen=True, slots=True)
class OperatorPreview:
    """The contact an operator is previewing: decide with ``preview_decided``."""

    operator: str
    campaign: str
    contact_id: str
    fields: Mapping[str, str]
    numbers: tuple[PreviewNumber, ...]
    time_zone: str  # the customer's zone (their record's, else the proposed number's)
    script: str = ""


PreviewAction = Literal["dial", "skip", "reschedule"]


class CampaignControl(Protocol):
    """What the web and provisioning ask of the live dialer (the dialer shell implements).

    The store is written first (nothing is lost): the API saves contacts or a status, then
    tells the shell, which loads them from the :class:`CampaignStore` it was built with."""

    async def control(self, campaign: str, action: CampaignAction, *,
                      requested_by: str) -> str:
        """Start, pause or stop; returns the new status. A pause is runtime state the store
        keeps, so a re-import of the same YAML (``active: true``) does not undo it."""
        ...

    async def contacts_added(self, campaign: str, contact_ids: Sequence[str], *,
                             now: bool = False) -> None:
        """The store holds new contacts of ``campaign``; dial them as pacing and windows allow
        (``now``: skip pacing, still honour windows and do-not-call)."""
        ...

    async def contact_cancelled(self, campaign: str, contact_id: str, *,
                                requested_by: str) -> ContactCancelled:
        """An outside system withdrew the task (the store has it closed already): withdraw
        it from the dialer wherever it is, and say what happened."""
        ...

    async def campaigns_changed(self) -> None:
        """Campaign settings or do-not-call lists changed in the store; reload them."""
        ...

    def figures(self, campaign: str) -> CampaignFigures:
        ...

    def conversation_closed(self, attempt_id: str, *, operator: str, disposition: str,
                            callback_at: datetime | None = None) -> bool:
        """An operator closed a campaign conversation (the wrap-up's result code means
        ``disposition``); False when ``attempt_id`` is no attempt awaiting one here. Raises
        :class:`InvalidRequest` naming what is wrong (a callback without its time ...)."""
        ...

    def preview_of(self, operator: str) -> OperatorPreview | None:
        """The contact the operator is previewing now (None: no preview)."""
        ...

    def preview_decided(self, operator: str, contact_id: str, action: PreviewAction, *,
                        number: str = "", at: datetime | None = None) -> None:
        """The operator's decision on their preview: dial (``number``: one of the contact's,
        else the proposed one), skip, or reschedule to ``at`` (timezone-aware). Raises
        :class:`InvalidRequest` naming the field at fault (no such preview, an unknown
        number, a time in the past or without its zone)."""
        ...


class NoCampaignControl:
    """What a node without the dialer answers: control and figures are unavailable (the
    store keeps what the API wrote; a dialer started later loads it)."""

    async def control(self, campaign: str, action: CampaignAction, *,
                      requested_by: str) -> str:
        raise NotRunning("the dialer is not running on this node")

    async def contacts_added(self, campaign: str, contact_ids: Sequence[str], *,
                             now: bool = False) -> None:
        raise NotRunning("the dialer is not running on this node")

    async def contact_cancelled(self, campaign: str, contact_id: str, *,
                                requested_by: str) -> ContactCancelled:
        raise NotRunning("the dialer is not running on this node")

    async def campaigns_changed(self) -> None:
        raise NotRunning("the dialer is not running on this node")

    def figures(self, campaign: str) -> CampaignFigures:
        raise NotRunning("the dialer is not running on this node")

    def conversation_closed(self, attempt_id: str, *, operator: str, disposition: str,
                            callback_at: datetime | None = None) -> bool:
        return False

    def preview_of(self, operator: str) -> OperatorPreview | None:
        return None

    def preview_decided(self, operator: str, contact_id: str, action: PreviewAction, *,
                        number: str = "", at: datetime | None = None) -> None:
        raise NotRunning("the dialer is not running on this node")


def figures_event(figures: CampaignFigures) -> CampaignFiguresChanged:
    """The live-bus notice of ``figures`` (the ``campaign`` topic of ``/api/events``)."""
    stats = figures.stats
    return CampaignFiguresChanged(
        figures.campaign, figures.status, figures.contacts_open, figures.in_flight,
        figures.operators_ready, figures.operators_talking, stats.dialled, stats.live_answers,
        stats.machines, stats.abandoned, stats.failed, stats.connected,
        stats.abandon_rate_window)


@dataclass(frozen=True, slots=True)
class StoredCampaign:
    """A campaign as the store keeps it: its settings, wanted and runtime status, and the
    dialog script and queue that travel with its calls."""

    config: CampaignConfig
    status: str  # created | running | paused | stopped (runtime; a supervisor's pause)
    queue: str = ""  # where answered calls (and agentless "press 1") go
    script: str = ""  # the dialog script's name, carried into the interaction
    message: str = ""  # the agentless message template (the IVR's ${...})
    compliance_message: str = ""
    machine_policy: str = "drop"  # drop | message (left after the beep) | operator
    machine_message: str = ""  # what "message" leaves (empty: ``message``)
    #: a contact who calls in reaches the operator with the task's card and the task closes
    #: ("answered_inbound") once an operator answers
    match_inbound: bool = True


@dataclass(frozen=True, slots=True)
class ContactProgress:
    """A contact's place in its campaign, as the store keeps it across restarts."""

    contact: Contact
    status: str  # pending | in_progress | done
    due_at: datetime | None = None  # earliest next attempt (UTC); None: now
    attempts: int = 0
    attempts_by_number: Mapping[str, int] = field(default_factory=dict)
    dead_numbers: frozenset[str] = frozenset()
    close_reason: str | None = None
    callback_at: datetime | None = None
    callback_agent: str | None = None
    dial_now: bool = False  # a task to dial at once (``"now": true``)


@dataclass(frozen=True, slots=True)
class CampaignTask:
    """An open contact of ``campaign`` (found by a caller's number)."""

    campaign: str
    progress: ContactProgress


@dataclass(frozen=True, slots=True)
class AttemptFacts:
    """Everything one attempt did, written when it starts and again as it changes (the same
    ``attempt_id`` updates the row; writes are idempotent)."""

    attempt_id: str
    campaign: str
    contact_id: str
    number: str
    number_type: str
    started_at: datetime
    trunk: str | None = None
    call_id: str | None = None  # the interaction id, for the call's timeline and recording
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    sip_status: int | None = None  # the final response of the call out (200, 486, 404 ...)
    outcome: str | None = None  # parley.dialer.model.Outcome, once known
    amd: str | None = None  # human | machine | unknown (None: detection off)
    amd_cause: str | None = None
    operator: str | None = None
    talk_s: float | None = None
    disposition: str | None = None
    early_media: str | None = None  # what the network said before answer, when recognised


class CampaignStore(Protocol):
    """The dialer shell's view of the store (store/ implements). Every method writes through
    at once; the shell never keeps something only in memory that a restart would need."""

    async def load_campaigns(self) -> list[StoredCampaign]:
        ...

    async def load_contacts(self, campaign: str, contact_ids: Sequence[str] | None = None
                            ) -> list[ContactProgress]:
        """The campaign's open contacts (``contact_ids``: just those)."""
        ...

    async def do_not_call(self) -> dict[str, frozenset[str]]:
        """Every do-not-call list by name (``global`` is the site's own) of E.164 numbers."""
        ...

    async def add_to_do_not_call(self, numbers: Iterable[str], list_name: str = "global", *,
                                 note: str = "") -> int:
        """Add numbers to a list as the customer's opt-out (kept across restarts and
        re-imports); returns how many were new."""
        ...

    async def save_status(self, campaign: str, status: str, *, by: str) -> None:
        ...

    async def open_attempts(self) -> list[AttemptFacts]:
        """Attempts with no end yet (under way, or cut short by a stop or a failure)."""
        ...

    async def save_attempt(self, facts: AttemptFacts) -> None:
        ...

    async def save_progress(self, campaign: str, progress: ContactProgress) -> None:
        """The contact's state after an attempt, a disposition, a reschedule or its close;
        a closed contact's webhook (with all its attempts) follows from this write."""
        ...

    async def save_batch(self, items: Sequence[AttemptFacts | tuple[str, ContactProgress]]
                         ) -> None:
        """Attempts and ``(campaign, progress)`` pairs, in order, in one transaction."""
        ...

    async def open_tasks_by_number(self, number: str) -> list[CampaignTask]:
        """The open (not closed) contacts of every campaign that hold the E.164 ``number``,
        the latest added first: a customer calling in is matched to their tasks."""
        ...

    async def close_contact(self, campaign: str, contact_id: str, reason: str, *,
                            by: str = "") -> bool:
        """Close a waiting (not being dialled) contact with ``reason``, its closed-contact
        webhook sent; False when it is being dialled or already closed."""
        ...
