"""Cross-subsystem events and commands: frozen dataclasses, the only thing subsystems share.

Subsystems never reach into each other's objects (DESIGN.md §1.3). Each section below belongs
to the subsystem that emits it; add new types to your own section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum


class Direction(StrEnum):
    """Which way a call leg points, seen from Parley."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class HangupCause(IntEnum):
    """Why a leg ended, as ITU-T Q.850 cause values (what trunks, CDRs and reports speak)."""

    UNALLOCATED_NUMBER = 1
    NO_ROUTE_DESTINATION = 3
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONSE = 18
    NO_ANSWER = 19
    CALL_REJECTED = 21
    NUMBER_CHANGED = 22
    DESTINATION_OUT_OF_ORDER = 27
    INVALID_NUMBER_FORMAT = 28
    NORMAL_UNSPECIFIED = 31
    NORMAL_CIRCUIT_CONGESTION = 34
    NETWORK_OUT_OF_ORDER = 38
    TEMPORARY_FAILURE = 41
    SWITCH_CONGESTION = 42
    BEARER_CAPABILITY_NOT_AVAILABLE = 58
    INCOMPATIBLE_DESTINATION = 88
    RECOVERY_ON_TIMER_EXPIRE = 102
    INTERWORKING = 127
    # Not Q.850 on the wire, but distinct outcomes a contact center must tell apart.
    ORIGINATOR_CANCEL = 487
    MEDIA_TIMEOUT = 600
    CONSENT_EXPIRED = 601  # a browser's WebRTC media consent ran out (RFC 7675)


# --- telephony/: call control events (DESIGN.md §3) ------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelCreated:
    """A new leg. ``interaction_id`` names the call record it belongs to: an inbound leg
    starts its own (its channel id), an originated leg carries the id it was given (the
    operator leg of a queued call, a transfer target), so one id follows a call across
    transfers. ``trunk`` names the carrier's trunk the leg goes through (empty: none)."""

    channel_id: str
    direction: Direction
    caller: str
    called: str
    interaction_id: str = ""
    trunk: str = ""


@dataclass(frozen=True, slots=True)
class Ringing:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Answered:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Dtmf:
    """A digit received on a channel; ``method`` is "rfc4733", "inband" or "info"."""

    channel_id: str
    digit: str
    duration_ms: int
    method: str


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """A playback ended; ``reason`` is "done", "stopped" or "hangup"."""

    playback_id: str
    channel_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RecordingFinished:
    recording_id: str
    channel_id: str
    path: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class AmdResult:
    """Answering-machine detection outcome: "human", "machine" or "unknown"."""

    channel_id: str
    result: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class EarlyMediaResult:
    """What the network played before an outbound leg was answered (its early media):
    ``kind`` busy, congestion, sit or announcement; ``cause`` busy, congestion, unavailable or
    invalid (what the attempt closes with); ``detail`` as ``SIT-VC-985-1370``."""

    channel_id: str
    kind: str
    cause: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Hangup:
    channel_id: str
    cause: HangupCause
    by: str = ""  # "local", "remote" or a user id: who ended it, for the call timeline
    sip_status: int | None = None  # the final SIP status of the leg's INVITE, when known


@dataclass(frozen=True, slots=True)
class CallCarried:
    """A leg of an answered call that the cluster's other node was handling goes on on
    this node after it took over (``node``: the one that had it): its call record goes on
    here, and its ``Hangup`` closes it. The leg as it began (direction, numbers, trunk,
    when it was created and answered) opens the record if the other node died before
    writing it (a call of its last moments)."""

    channel_id: str
    interaction_id: str
    node: str = ""
    direction: Direction | None = None
    caller: str = ""
    called: str = ""
    trunk: str = ""
    started_at: datetime | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TrunkStatusChanged:
    """A carrier's trunk changed state: ``state`` is registering, registered, failed (the
    registrar refused or did not answer: ``reason`` says what it said), up (a peer trunk
    answers), down (it stopped answering) or removed."""

    trunk: str
    state: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class UserRegistered:
    """A SIP user's phone registered (a new binding, not a refresh)."""

    user: str
    contact: str


@dataclass(frozen=True, slots=True)
class UserUnregistered:
    """A SIP user has no live registration left; ``reason`` is "unregistered", "expired" or
    "connection_closed" (the browser's WebSocket it registered over closed)."""

    user: str
    reason: str


TelephonyEvent = (
    ChannelCreated
    | Ringing
    | Answered
    | Dtmf
    | PlaybackFinished
    | RecordingFinished
    | AmdResult
    | EarlyMediaResult
    | Hangup
    | CallCarried
    | UserRegistered
    | UserUnregistered
    | TrunkStatusChanged
)


# --- acd/ ---------------------------------------------------------------------------------
# Events fed to the ACD (``Acd.handle(event, now)``) and the commands and notices it returns.
# Agent states travel as the string values of ``parley.acd.agent.AgentState``.


@dataclass(frozen=True, slots=True)
class RouteCall:
    """Queue a call: sent by the IVR (or the inbound shell) to the ACD. ``waited``: a call
    that was already waiting in the queue on the other node of a hot-standby cluster, for
    that many seconds (carried over): it keeps its place, and the rules applied when a call
    arrives (closed, no operators, too long a line) are not applied again."""

    call_id: str
    queue: str
    caller: str = ""
    priority: int = 0
    waited: float | None = None


@dataclass(frozen=True, slots=True)
class ConversationCarried:
    """A caller from ``queue`` talking to operator ``agent_id`` (on ``device``), connected
    by the other node of a hot-standby cluster and carried on by this one: the operator is
    on that call (logged in first when not yet), and its end is the usual hang-up and
    wrap-up. ``waited``: seconds the caller waited before the answer; ``talked``: since."""

    call_id: str
    queue: str
    agent_id: str
    device: str
    caller: str = ""
    priority: int = 0
    waited: float = 0.0
    talked: float = 0.0


@dataclass(frozen=True, slots=True)
class AgentLogin:
    """An operator logs in on a device (any operator at any phone); ``ready`` picks the state."""

    agent_id: str
    device: str
    ready: bool = True


@dataclass(frozen=True, slots=True)
class AgentLogout:
    """An operator logs out; during a call the logout takes effect when the work ends."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentReady:
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentNotReady:
    """Not ready with a site reason code; during a call it applies after wrap-up."""

    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class AgentAtDesk:
    """An operator opened (``at_desk``) or left the desk in the browser: while at the desk
    only the operator's own clicks change their state, never their phone's registering."""

    agent_id: str
    at_desk: bool


@dataclass(frozen=True, slots=True)
class DeskTakenOver:
    """Notice: the operator signed in to the desk elsewhere; the desk page ``desk_id`` has
    been signed out (``address`` and ``at``: where and when the new sign-in came from)."""

    agent_id: str
    desk_id: str
    address: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LiveCallChanged:
    """Notice: one row of the live calls changed (``change``: "added", "changed" or
    "removed"), keyed by ``call_id``, with what the row shows now (for "removed", what it
    showed last). For "changed", ``was_operator`` and ``was_queue`` are what they were before
    (so that a viewer who no longer sees the call learns that it left their view)."""

    call_id: str
    change: str
    direction: str
    caller: str
    called: str
    state: str
    started_at: datetime
    queue: str = ""
    operator: str = ""
    answered_at: datetime | None = None
    was_queue: str = ""
    was_operator: str = ""


@dataclass(frozen=True, slots=True)
class OperatorRowChanged:
    """Notice: what the console shows of one operator changed; ``fields`` holds only the
    changed ones (of ``state``, ``reason``, ``since``, ``call``, ``call_since``, and when the
    node reads them ``calls_today`` and ``talk_today_s``), all of them for an operator seen
    for the first time."""

    operator: str
    fields: dict[str, str | None]


@dataclass(frozen=True, slots=True)
class HelpRequested:
    """Notice: an operator asks the supervisors of their teams for help on a call."""

    agent_id: str
    call_id: str
    queue: str
    teams: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class SupervisorMonitoring:
    """Notice: a supervisor joined an operator's conversation, changed how (``mode``:
    listen, whisper, barge), or left it (``mode`` "left")."""

    call_id: str
    agent_id: str
    supervisor: str
    mode: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ConsultationChanged:
    """Notice for one desk (``agent_id``): operator ``operator`` consults ``party`` (a user
    or a number) about customer call ``call_id`` (the customer's number ``caller``).
    ``state``: "ringing", "talking", "conference" (the three in one call), "transferred"
    (the customer now talks with ``party``: the desk of ``party`` takes the call's card and
    script) or "ended" (the consultation is over and the customer is back with
    ``operator``, or gone). Each party's desk gets its own notice."""

    call_id: str
    agent_id: str
    operator: str
    party: str
    state: str
    caller: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AgentRinging:
    """The operator's phone rings for an offered call."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentAnswered:
    """The operator answered an offered call (the shell bridges it to the caller)."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentLegEnded:
    """The operator's leg is gone: refused, unreachable, or hung up after the conversation."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class CallerHangup:
    """The caller hung up: an abandon while waiting or ringing, the end of a conversation later.
    ``unrung``: the operator whose offer found the caller gone before their phone was rung
    (not counted as offered to them)."""

    call_id: str
    unrung: str = ""


@dataclass(frozen=True, slots=True)
class CallHeld:
    call_id: str


@dataclass(frozen=True, slots=True)
class CallResumed:
    call_id: str


@dataclass(frozen=True, slots=True)
class WrapUpExtend:
    """Give the operator ``seconds`` more after-call work."""

    agent_id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class WrapUpDone:
    """End after-call work now; ``then`` is "ready", "not_ready:<reason>" or "logged_out"."""

    agent_id: str
    then: str = ""


@dataclass(frozen=True, slots=True)
class RequestCallback:
    """The waiting caller leaves the queue but keeps the place; call ``number`` back."""

    call_id: str
    number: str


@dataclass(frozen=True, slots=True)
class ScheduleCallback:
    """Call ``number`` back at ``at`` (timezone-aware, usually the customer's zone)."""

    callback_id: str
    queue: str
    number: str
    at: datetime
    attempts: int = 3
    retry_after_s: float = 600.0
    expires_at: datetime | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class CancelCallback:
    """Drop a callback that has not connected yet (staff cancelled it); ``CallbackExpired``
    with reason "cancelled" follows, and an operator being rung for it is freed."""

    callback_id: str


@dataclass(frozen=True, slots=True)
class CallbackResult:
    """Outcome of a ``DialCallback``: the customer answered (``connected``) or not."""

    callback_id: str
    connected: bool


@dataclass(frozen=True, slots=True)
class LiveLegs:
    """Watchdog audit from the shell: every call id that still has a live leg."""

    call_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class ReserveForOutbound:
    """Hold a ready operator for an outbound dial of ``campaign_id`` (the dialer's
    ``ReserveAgent``); refused with an ``AcdError`` unless the operator is ready.
    ``outbound_first_s``: once this outbound work ends, keep inbound calls away from the
    operator that long, so the campaign can reserve them again (0: inbound first)."""

    agent_id: str
    campaign_id: str
    call_id: str
    outbound_first_s: float = 0.0


@dataclass(frozen=True, slots=True)
class OutboundConnected:
    """The outbound call ``call_id`` is bridged to the operator (the dialer's
    ``ConnectAgent``): from the operator's reservation, or straight from ready (predictive).
    ``wrap_up_s``: after-call work when the call ends (None: the operator's own setting, else
    until ``WrapUpDone``); ``outbound_first_s`` as in ``ReserveForOutbound``."""

    agent_id: str
    call_id: str
    campaign_id: str = ""
    wrap_up_s: float | None = None
    outbound_first_s: float = 0.0


@dataclass(frozen=True, slots=True)
class OutboundCarried:
    """Operator ``agent_id`` (on ``device``) talking to the customer of campaign call
    ``call_id`` (its attempt), connected by the other node of a hot-standby cluster and
    carried on by this one: the operator is on that outbound call here (logged in first
    when not yet), offered nothing else, and its end is the usual outbound end and
    wrap-up (``wrap_up_s`` as in ``OutboundConnected``). ``talked``: seconds since the
    operator was connected."""

    agent_id: str
    device: str
    call_id: str
    campaign_id: str = ""
    wrap_up_s: float | None = None
    talked: float = 0.0


@dataclass(frozen=True, slots=True)
class OutboundReleased:
    """The outbound reservation ended without a conversation (the dialer's ``ReleaseAgent``).
    A release for an operator who no longer holds that reservation changes nothing."""

    agent_id: str
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class OutboundMissed:
    """The operator connected to an answered campaign call (``OutboundConnected``) never took
    it: their phone did not answer, refused or could not be reached. Not a conversation: the
    counts the connect made are taken back, the miss is counted as an inbound one is, and the
    operator is free again (``counted`` false: the customer hung up first, no miss of
    theirs). For another call, or an operator no longer on it, nothing."""

    agent_id: str
    call_id: str
    cause: str = "not answered"
    counted: bool = True


AcdEvent = (
    RouteCall | ConversationCarried | AgentLogin | AgentLogout | AgentReady | AgentNotReady
    | AgentRinging | AgentAnswered | AgentLegEnded | CallerHangup | CallHeld | CallResumed
    | WrapUpExtend | WrapUpDone | RequestCallback | ScheduleCallback | CallbackResult
    | CancelCallback | LiveLegs
    | ReserveForOutbound | OutboundConnected | OutboundCarried | OutboundReleased
    | OutboundMissed
)


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Command: ring ``device`` for the operator; bridge to the caller on answer."""

    call_id: str
    agent_id: str
    device: str
    ring_timeout: float


@dataclass(frozen=True, slots=True)
class CancelOffer:
    """Command: stop ringing the operator (no answer, caller gone, answered elsewhere)."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class DialCallback:
    """Command: the operator is reserved; dial the customer and bridge them."""

    callback_id: str
    agent_id: str
    device: str
    number: str
    queue: str


@dataclass(frozen=True, slots=True)
class Overflow:
    """Command: the call leaves the queue for ``target_kind`` (queue, voicemail, callback, flow,
    hangup) named ``target``; ``reason`` says which rule fired."""

    call_id: str
    queue: str
    target_kind: str
    target: str
    reason: str


@dataclass(frozen=True, slots=True)
class RejectCall:
    """Command: a blacklisted number gets the configured treatment (e.g. "busy", a flow)."""

    call_id: str
    treatment: str
    reason: str


@dataclass(frozen=True, slots=True)
class CallQueued:
    """Notice: the call waits at ``position`` (1 = next) with ``expected_wait`` seconds."""

    call_id: str
    queue: str
    position: int
    expected_wait: float


@dataclass(frozen=True, slots=True)
class CallConnected:
    """Notice: an operator answered; ``waited`` is the caller's time in queue."""

    call_id: str
    agent_id: str
    queue: str
    waited: float


@dataclass(frozen=True, slots=True)
class CallAbandoned:
    call_id: str
    queue: str
    waited: float


@dataclass(frozen=True, slots=True)
class CallbackExpired:
    callback_id: str
    queue: str
    reason: str


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    """Notice: one operator state transition, with its cause and time (the store keeps it)."""

    agent_id: str
    old: str
    new: str
    cause: str
    at: float
    reason: str = ""
    call_id: str = ""
    #: a wrap-up of a call answered from a queue: its call record and that queue (the
    #: contact center fills them in; reports add the wrap-up to the queue's handle time)
    interaction_id: str = ""
    queue: str = ""


AcdCommand = (
    OfferCall | CancelOffer | DialCallback | Overflow | RejectCall | CallQueued
    | CallConnected | CallAbandoned | CallbackExpired | AgentStateChanged
)


# --- dialer/ ------------------------------------------------------------------------------
# Events fed to the outbound dialer (``Dialer.handle(event, now)``) and the commands and notices
# it returns. The dialer also takes the ACD's ``AgentStateChanged`` as is. Numbers are E.164.


@dataclass(frozen=True, slots=True)
class DialerAgentJoined:
    """An operator becomes known to the dialer (with the team campaigns may select on)."""

    agent_id: str
    team: str = ""


@dataclass(frozen=True, slots=True)
class CampaignStart:
    campaign_id: str


@dataclass(frozen=True, slots=True)
class CampaignPause:
    """No new dials; calls in progress finish normally."""

    campaign_id: str


@dataclass(frozen=True, slots=True)
class CampaignStop:
    """No new dials, waiting contacts closed, reservations released."""

    campaign_id: str


@dataclass(frozen=True, slots=True)
class InboundWaiting:
    """How many inbound calls wait in ``queue`` (blended operators serve inbound first)."""

    queue: str
    waiting: int


@dataclass(frozen=True, slots=True)
class AttemptAnswered:
    """The called party answered; ``human`` is the answering-machine detection verdict (True
    when detection is off)."""

    attempt_id: str
    human: bool


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """The attempt ended unanswered: ``outcome`` is "busy", "no_answer", "failed" or "invalid"."""

    attempt_id: str
    outcome: str


@dataclass(frozen=True, slots=True)
class AttemptHungUp:
    """The called party hung up after answering (while waiting, or ending the conversation)."""

    attempt_id: str


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    """The operator given an answered call (``ConnectAgent``) never took it: their phone did
    not answer, refused or could not be reached; ``customer_gone`` when the customer hung up
    meanwhile. The call was never connected: the customer goes to the next free operator or
    waits for one within the grace time (then hears the compliance message), and counts as
    abandoned if nobody takes them."""

    attempt_id: str
    agent_id: str
    customer_gone: bool = False


@dataclass(frozen=True, slots=True)
class AgentlessDigit:
    """A digit pressed during an agentless message ("1" reaches the campaign's queue)."""

    attempt_id: str
    digit: str


@dataclass(frozen=True, slots=True)
class PreviewDecision:
    """The operator looked at the previewed contact: dial it (optionally a chosen number),
    skip it, or reschedule it: ``reschedule_at`` (timezone-aware, given in the customer's
    zone) puts it back due at that time, with ``dial`` false."""

    agent_id: str
    contact_id: str
    dial: bool
    number: str = ""
    reschedule_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DispositionSet:
    """The operator's disposition of a conversation; ``callback_at`` is timezone-aware (the
    customer's zone) for "callback"."""

    attempt_id: str
    agent_id: str
    disposition: str
    callback_at: datetime | None = None


DialerEvent = (
    DialerAgentJoined | CampaignStart | CampaignPause | CampaignStop | InboundWaiting
    | AttemptAnswered | AttemptFailed | AttemptHungUp | ConnectFailed | AgentlessDigit
    | PreviewDecision
    | DispositionSet | AgentStateChanged
)


@dataclass(frozen=True, slots=True)
class ReserveAgent:
    """Command: hold the operator (READY -> RESERVED) for ``contact_id`` of the campaign; the
    shell feeds it to the ACD as ``ReserveForOutbound`` (``outbound_first_s`` included)."""

    campaign_id: str
    agent_id: str
    contact_id: str
    call_id: str
    outbound_first_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ReleaseAgent:
    """Command: the reservation ended without a conversation (RESERVED -> READY)."""

    campaign_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class ShowPreview:
    """Command: show the contact on the operator's screen; answer with ``PreviewDecision``."""

    campaign_id: str
    agent_id: str
    contact_id: str
    numbers: tuple[str, ...]
    attributes: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Dial:
    """Command: originate ``number`` on the campaign's trunk with ``caller_id``. With
    ``reserved_agent`` an operator is already held for the call."""

    attempt_id: str
    campaign_id: str
    contact_id: str
    number: str
    number_type: str
    caller_id: str
    reserved_agent: str | None
    ring_timeout_s: float
    detect_machine: bool


@dataclass(frozen=True, slots=True)
class ConnectAgent:
    """Command: bridge the answered attempt to the operator (RESERVED/READY -> ON_CALL); the
    shell feeds it to the ACD as ``OutboundConnected``."""

    attempt_id: str
    agent_id: str
    campaign_id: str = ""
    outbound_first_s: float = 0.0


@dataclass(frozen=True, slots=True)
class PlayComplianceMessage:
    """Command: no operator within the grace time; play the short compliance message (who is
    calling and how to opt out), then hang up. The call counts as abandoned."""

    attempt_id: str
    message: str


@dataclass(frozen=True, slots=True)
class PlayAgentlessMessage:
    """Command: play the campaign's message; digits come back as ``AgentlessDigit``."""

    attempt_id: str
    message: str


@dataclass(frozen=True, slots=True)
class TransferToQueue:
    """Command: hand the answered attempt to an ACD queue (agentless "press 1")."""

    attempt_id: str
    queue: str


@dataclass(frozen=True, slots=True)
class HangupAttempt:
    """Command: hang up the attempt (a machine the policy does not talk to, a stopped call)."""

    attempt_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class AttemptRecorded:
    """Notice: one attempt's outcome, for the store and reports."""

    attempt_id: str
    campaign_id: str
    contact_id: str
    number: str
    outcome: str
    at: float


@dataclass(frozen=True, slots=True)
class ContactClosed:
    """Notice: the contact is finished in the campaign; ``reason`` says why."""

    campaign_id: str
    contact_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class DoNotCallAdded:
    """Notice: the customer asked never to be called again (a "do not call" disposition);
    ``numbers`` went on the do-not-call list ``list_name`` (the site's ``global`` one) and the
    shell keeps them in the store, so a restart or a re-import does not forget them."""

    campaign_id: str
    contact_id: str
    attempt_id: str
    agent_id: str
    list_name: str
    numbers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DispositionDefaulted:
    """Notice: operator ``agent_id`` gave no disposition for their conversation on the
    attempt before they were connected to the next campaign call, or logged out (a queue
    with no wrap-up makes them ready at once): it closed as ``disposition`` (success), as a
    wrap-up that ends without one does, so that its contact is not left open for ever."""

    attempt_id: str
    campaign_id: str
    contact_id: str
    agent_id: str
    disposition: str
    reason: str  # "next call" | "logged out"


DialerCommand = (
    ReserveAgent | ReleaseAgent | ShowPreview | Dial | ConnectAgent | PlayComplianceMessage
    | PlayAgentlessMessage | TransferToQueue | HangupAttempt | AttemptRecorded | ContactClosed
    | DoNotCallAdded | DispositionDefaulted
)


# --- center/: the contact-center shell (IVR and ACD over real calls) ------------------------


DATA_ATTACHED = "data attached"
"""The :class:`CallProgress` kind whose detail joins the call record's variables."""


@dataclass(frozen=True, slots=True)
class CallProgress:
    """Notice for the call record: one step of interaction ``interaction_id``.

    ``kind`` is the timeline entry ("entered flow", "menu choice", "queued", "announced",
    "offered", "not answered", "answered", "transferred", "callback requested", ...);
    ``queue`` and ``operator`` are set on "queued" and "answered"; ``detail`` is free JSON.
    ``kind`` "outcome" sets the outcome the record closes with (``detail["outcome"]``:
    "answered", "abandoned", "voicemail", "callback", "rejected", "transferred", "ivr").
    ``kind`` "data attached" (:data:`DATA_ATTACHED`) adds ``detail`` to the record's
    variables, the call's attached data (a campaign task's fields, the campaign, its script)
    that the desk's script and result codes are found by.
    """

    interaction_id: str
    kind: str
    detail: dict[str, object]
    queue: str = ""
    operator: str = ""


@dataclass(frozen=True, slots=True)
class WrapupSaved:
    """An operator (or supervisor, ``saved_by``) closed interaction ``interaction_id``: its
    result code, the dialer disposition it means, the callback time (UTC) for a callback,
    and how many times it was saved (the last save wins). The answers are in the store."""

    interaction_id: str
    result: str
    disposition: str
    saved_by: str
    operator: str = ""  # the call's operator
    queue: str = ""
    script: str = ""
    callback_at: datetime | None = None
    saves: int = 1


@dataclass(frozen=True, slots=True)
class VoicemailLeft:
    """Notice: a message was recorded in ``mailbox`` (a stored WAV)."""

    voicemail_id: str
    mailbox: str
    caller: str
    path: str
    duration_s: float
    received_at: datetime
    interaction_id: str = ""


@dataclass(frozen=True, slots=True)
class RecordingStored:
    """Notice: a call recording is complete on disk (a stereo WAV: caller left)."""

    recording_id: str
    interaction_id: str
    path: str
    started_at: datetime
    duration_s: float
    #: the gaps written as silence, in seconds from the start of the file:
    #: ``{"start_s": 12.34, "end_s": 20.1, "by": "1001"}`` (``by``: who paused)
    pauses: tuple[dict[str, object], ...] = ()


@dataclass(frozen=True, slots=True)
class RecordingPauseChanged:
    """Notice: the recording of a call was paused (a customer gives card details) or resumed.

    ``offset_s`` is where the gap starts (paused) or ends (resumed), in seconds from the start
    of the recording's file; ``operator`` is the call's operator, ``by`` who asked."""

    interaction_id: str
    recording_id: str
    paused: bool
    offset_s: float
    operator: str
    by: str
    at: datetime


# --- web/: notices from the API ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    """Notice: a callback was requested through the API (stored; the ACD schedules it)."""

    callback_id: str
    queue: str
    number: str
    due_at: datetime
    requested_by: str


@dataclass(frozen=True, slots=True)
class CallbackCancelled:
    """Notice: staff cancelled a callback through the API (stored; the ACD drops it)."""

    callback_id: str
    cancelled_by: str


@dataclass(frozen=True, slots=True)
class CampaignStatusChanged:
    """Notice: a campaign was started, paused or stopped (``by`` whom: a user, ``config``
    for the provisioning file, ``dialer``); live viewers and webhooks hear it."""

    campaign: str
    status: str
    by: str


@dataclass(frozen=True, slots=True)
class CampaignFiguresChanged:
    """Notice: a running campaign's figures now (the dialer shell publishes it as they
    change, for wallboards on the ``campaign`` topic of ``/api/events``)."""

    campaign: str
    status: str
    contacts_open: int
    in_flight: int
    operators_ready: int
    operators_talking: int
    dialled: int
    live_answers: int
    machines: int
    abandoned: int
    failed: int
    connected: int
    abandon_rate: float


@dataclass(frozen=True, slots=True)
class ConfigurationChanged:
    """Notice: configuration records changed through the API or an import; services that
    keep a copy (the SIP user directory, the ACD's queues) reload ``kind`` (``key`` is the
    record's name, or "*" after an import)."""

    kind: str
    key: str
    action: str


@dataclass(frozen=True, slots=True)
class NodeRoleChanged:
    """Notice: this node's role in its hot-standby cluster changed (docs/deployment.md, "Hot
    standby"): ``role`` is "active" (it took the lease: ``token`` is its new fencing token,
    ``takeover_s`` how long the cluster was without a live holder when it took over from
    ``previous_node``, if it was one) or "standby" (it lost the lease: ``reason`` says why,
    and it has stopped serving)."""

    node: str
    cluster: str
    role: str
    token: int
    reason: str = ""
    previous_node: str = ""
    takeover_s: float | None = None


# --- security: guessing, bans, throttled logins, refused toll fraud ---------------------------


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """Notice: something a site may want to alert on (audit log, ``security.alert`` webhook).

    ``kind``: "ban" (a source address is refused for a while), "ban_lifted" (by an admin or
    on expiry), "user_locked" (a SIP user is under a guessing attack: only the addresses it
    authenticated from recently may still try), "guessing" (a burst of wrong answers, one
    summary per burst), "toll_fraud" (a call to a number the caller may not reach),
    "login_throttled" (web logins for a name from an address are delayed).
    ``source`` is the client address, ``user`` the SIP or login user name when known,
    ``until`` when a ban or lock ends; ``detail`` holds figures (failures, window).
    """

    kind: str
    source: str
    user: str
    reason: str
    at: datetime
    until: datetime | None = None
    detail: dict[str, object] | None = None
