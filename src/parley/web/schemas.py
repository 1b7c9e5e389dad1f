"""Request and response bodies of the operational API (configuration bodies are the specs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from parley.store.specs import Name, PhoneNumber, PlusNumber


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValidationIssue(BaseModel):
    """One malformed field: where it is (``["body", "number"]``) and what is wrong."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error answer: a sentence that starts with the field at fault where there is one
    (``number: …``), or, for malformed input, the list of fields at fault."""

    detail: str | list[ValidationIssue]


#: The error answers every API route may give (route declarations add their own meaning).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body could not be read (it is not UTF-8 "
                                            "text)"},
    401: {"model": ErrorOut, "description": "not authenticated"},
    403: {"model": ErrorOut, "description": "the role or the CSRF token is missing, or the "
                                            "object is someone else's"},
    404: {"model": ErrorOut, "description": "no such object (or call: it has ended)"},
    409: {"model": ErrorOut, "description": "the object's state does not allow it now"},
    422: {"model": ErrorOut, "description": "the request is at fault; the detail names the "
                                            "field"},
}

#: What the live routes add: a node without telephony or the contact center.
LIVE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body could not be read (it is not UTF-8 "
                                            "text)"},
    503: {"model": ErrorOut, "description": "telephony or the contact center is not running "
                                            "on this node"},
}


class LoginRequest(Body):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Me(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    csrf_token: str | None = None


class OperatorLogin(Body):
    device: Name | None = Field(None, description="the device to take calls on; default: "
                                                  "the operator's own device")
    ready: bool = True


class OperatorStateRequest(Body):
    state: Literal["ready", "not_ready", "logged_out"]
    reason: Annotated[str, StringConstraints(max_length=100)] = ""


class OperatorState(BaseModel):
    username: str
    state: str
    reason: str
    at: datetime


class OriginateRequest(Body):
    number: PhoneNumber
    device: Name | None = Field(None, description="device that rings first; default: yours")
    caller_id: PhoneNumber | None = None


class MonitorRequest(Body):
    mode: Literal["listen", "whisper", "barge"] = Field(
        description="listen: hear both, heard by nobody; whisper: heard by the operator only; "
                    "barge: a full party of the call")
    device: Name | None = Field(None, description="the phone that rings for the supervisor; "
                                                  "default: yours")


class TakeOverRequest(Body):
    device: Name | None = Field(None, description="the phone that rings for the supervisor "
                                                  "when not already monitoring; default: yours")


class TransferRequest(Body):
    target: Annotated[str, StringConstraints(pattern=r"^(queue:[A-Za-z0-9_.@-]{1,64}|"
                                                     r"\+?[0-9*#]{1,32}|[A-Za-z0-9_.@-]{1,64})$")]


class ConsultRequest(Body):
    """Whom to consult: an operator or user, ``queue:<name>`` (its longest-ready operator),
    or a number."""

    target: Annotated[str, StringConstraints(pattern=r"^(queue:[A-Za-z0-9_.@-]{1,64}|"
                                                     r"\+?[0-9*#]{1,32}|[A-Za-z0-9_.@-]{1,64})$")]


class RecordingRequest(Body):
    """Start (true) or stop (false) recording a conversation (queues recording on demand)."""

    recording: bool


class RecordingState(BaseModel):
    recording: bool
    recording_id: str | None = None


class RecordingGapOut(BaseModel):
    """Where a recording holds silence because it was paused, in seconds from its start."""

    start_s: float
    end_s: float | None = Field(description="null while the recording is still paused")


class RecordingPauseOut(BaseModel):
    recording_id: str
    paused: bool
    offset_s: float = Field(description="where the gap just started (pause) or ended "
                                        "(resume), in seconds from the start of the file")
    pauses: list[RecordingGapOut]


class LiveCallOut(BaseModel):
    id: str
    direction: str
    caller: str
    called: str
    state: str
    started_at: datetime
    queue: str | None
    operator: str | None
    answered_at: datetime | None
    recording_id: str | None = Field(default=None,
                                     description="set while the conversation is recorded")
    recording_paused: bool = False


class QueueFiguresOut(BaseModel):
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
    asa_s: float = 0.0
    abandon_rate: float | None = None


class TrunkStatusOut(BaseModel):
    """A carrier's trunk now: its state and why (the registrar's last answer, or why it is
    down), whether calls may go through it, channels and calls per second, last failure."""

    name: str
    kind: str
    state: str
    reason: str
    registered: bool
    available: bool
    channels: int
    max_channels: int
    calls_per_second: int
    max_cps: float | None
    calls: int
    failures: int
    last_failure: str
    last_failure_at: datetime | None


class CallbackRequest(Body):
    number: PhoneNumber
    queue: Name
    due_at: datetime | None = Field(None, description="when to call; default: now")
    note: Annotated[str, StringConstraints(max_length=1000)] = ""


class CallbackOut(BaseModel):
    id: str
    number: str
    queue: str
    requested_at: datetime
    due_at: datetime
    status: str
    attempts: int
    requested_by: str
    note: str


class LegOut(BaseModel):
    channel_id: str
    direction: str
    endpoint: str
    caller: str
    called: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    hangup_cause: int | None
    trunk: str | None = None
    sip_status: int | None = None


class TimelineOut(BaseModel):
    at: datetime
    kind: str
    detail: dict[str, Any]


class InteractionOut(BaseModel):
    id: str
    direction: str
    caller: str
    called: str
    queue: str | None
    operator: str | None
    started_at: datetime
    queued_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_s: float | None
    talk_s: float | None
    duration_s: float | None
    outcome: str | None
    hangup_cause: int | None


class InteractionDetail(InteractionOut):
    variables: dict[str, Any]
    legs: list[LegOut]
    timeline: list[TimelineOut]


class InteractionPage(BaseModel):
    items: list[InteractionOut]
    total: int
    offset: int
    limit: int


class RecordingPauseMark(BaseModel):
    """A gap written as silence while the recording was paused, and who paused it."""

    start_s: float
    end_s: float | None
    by: str = ""


class RecordingOut(BaseModel):
    id: str
    interaction_id: str | None
    media_type: str
    started_at: datetime
    duration_s: float
    pauses: list[RecordingPauseMark] = Field(
        default_factory=list, description="stretches of the file written as silence "
        "(paused while a customer gave card details), in seconds from its start")
    deleted_at: datetime | None = Field(
        None, description="when the retention sweep deleted the file (docs/admin.md)")
    size_bytes: int | None = Field(None, description="the stored file's size once compressed "
                                   "to FLAC (null: an uncompressed WAV)")


class RecordingPage(BaseModel):
    items: list[RecordingOut]
    total: int
    offset: int
    limit: int


class VoicemailOut(BaseModel):
    id: str
    mailbox: str
    caller: str
    received_at: datetime
    duration_s: float
    heard: bool
    interaction_id: str | None = Field(None, description="the call the message was left in")
    size_bytes: int | None = Field(None, description="the stored file's size once compressed "
                                   "to FLAC (null: an uncompressed WAV)")


class TokenRequest(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    username: Name


class TokenCreated(BaseModel):
    id: int
    name: str
    username: str
    token: str = Field(description="shown once; only its hash is stored")


class TokenOut(BaseModel):
    id: int
    name: str
    username: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class AuditOut(BaseModel):
    at: datetime
    actor: str
    action: str
    target_type: str
    target: str
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int
    offset: int
    limit: int


class BanOut(BaseModel):
    """A SIP source address banned, or a SIP user locked, after password guessing."""

    kind: Literal["address", "user"]
    subject: str
    reason: str
    since: datetime
    until: datetime
    failures: int


class DeliveryOut(BaseModel):
    webhook: str
    event_id: str
    event_type: str
    attempt: int
    at: datetime
    status_code: int | None
    error: str
    delivered: bool
    duration_ms: float


class IceServerOut(BaseModel):
    """A STUN or TURN server for the browser's RTCPeerConnection (an RTCIceServer)."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class PhoneCredentials(BaseModel):
    """Short-lived SIP credentials for this web session's browser phone (never the device's
    own SIP password): register ``uri`` over ``ws_url`` authenticating as
    ``authorization_user`` with ``password`` in ``realm``; ask again before ``expires_in_s``."""

    user: str = Field(description="the SIP user (extension) the browser registers as")
    username: str = Field(description="the signed-in user the credentials were given to")
    uri: str = Field(description="the address of record, sip:USER@HOST")
    authorization_user: str = Field(description="the digest user name (web-…)")
    password: str
    realm: str
    ws_url: str = Field(description="SIP over WebSocket: ws://HOST/sip or wss://HOST/sip")
    expires_in_s: int
    session_device: bool = Field(description="true when the user has no device of their "
                                             "own and this one lives only as long as the "
                                             "session")
    ice_servers: list[IceServerOut] = Field(
        default_factory=list, description="STUN and TURN servers for the call's media (TURN "
                                          "credentials made for this phone, good for a day)")
    ice_transport_policy: Literal["all", "relay"] = Field(
        "all", description="relay: all media through the TURN servers")


# --- campaigns --------------------------------------------------------------------------------

NumberKind = Literal["mobile", "home", "work"]
ContactId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
FieldValue = Annotated[str, StringConstraints(max_length=2000)] | int | float | bool | None


class ContactNumberIn(Body):
    number: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    type: NumberKind | None = None  # None: as phonenumbers tells (mobile, else home)


class ContactIn(Body):
    """One contact (an outside system's task): a number or several, and the fields that
    travel with the call into the operator's card and the agentless message."""

    contact_id: ContactId | None = None  # None: Parley gives one
    number: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    type: NumberKind | None = None
    numbers: Annotated[list[ContactNumberIn], Field(max_length=20)] = Field(
        default_factory=list)
    fields: Annotated[dict[FieldName, FieldValue], Field(max_length=100)] = Field(
        default_factory=dict)
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    now: bool = False  # dial at once: skip pacing, still honour windows and do-not-call


class ContactBatchIn(Body):
    contacts: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=10_000)]
    now: bool = False


class ContactIssue(BaseModel):
    """A contact not loaded, or a number left out of one: where (``line`` of a CSV, counting
    the header as 1, or ``index`` in a JSON batch, from 0), which field, and why."""

    line: int | None = None
    index: int | None = None
    field: str
    reason: str


class OptOutsIn(BaseModel):
    """Numbers whose owners asked not to be called (from an outside system: an unsubscribe
    link, a complaint), with a note kept beside each."""

    numbers: list[PlusNumber] = Field(min_length=1, max_length=10000)
    note: Annotated[str, StringConstraints(max_length=200)] = ""


class OptOutsAdded(BaseModel):
    name: str  # the do-not-call list
    added: int  # new on the list (the others were on it already)


class NumberRangesOut(BaseModel):
    """The site's number-range table: how many lines of ranges and prefixes, who loaded it
    and when (download the CSV itself with ``?format=csv``)."""

    rows: int
    updated_at: datetime
    updated_by: str


class NumberAreaOut(BaseModel):
    """Where a number's called party lives by the site's number-range table."""

    number: str
    region: str
    zone: str
    line: int  # the table's line that placed it


class ContactsAdded(BaseModel):
    added: int
    contact_ids: list[str]
    rejected: list[ContactIssue]
    dropped_numbers: list[ContactIssue]
    dialer: Literal["notified", "not running"]
    detail: str = ""


class CampaignLive(BaseModel):
    """The running dialer's figures for a campaign (since this node loaded it)."""

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


class CampaignState(BaseModel):
    """A campaign's runtime status and contacts, beside its settings."""

    name: str
    status: str  # created | running | paused | stopped
    status_by: str
    status_at: datetime | None
    active: bool
    contacts: dict[str, int]  # pending, in_progress, done
    live: CampaignLive | None  # None: no dialer runs on this node


class CampaignControlled(BaseModel):
    campaign: str
    status: str
    dialer: Literal["notified", "not running"]
    detail: str = ""


class AttemptOut(BaseModel):
    attempt_id: str
    campaign: str
    contact_id: str
    number: str
    number_type: str
    started_at: datetime
    trunk: str | None
    call_id: str | None
    answered_at: datetime | None
    ended_at: datetime | None
    sip_status: int | None
    outcome: str | None
    amd: str | None
    amd_cause: str | None
    operator: str | None
    talk_s: float | None
    disposition: str | None
    early_media: str | None


class AttemptPage(BaseModel):
    items: list[AttemptOut]
    total: int
    offset: int
    limit: int


class ContactNumberOut(BaseModel):
    number: str
    type: str
    time_zones: list[str]


class ContactOut(BaseModel):
    campaign: str
    contact_id: str
    fields: dict[str, str]
    numbers: list[ContactNumberOut]
    time_zone: str | None
    status: str
    close_reason: str | None
    cancelled: bool
    attempts_made: int
    due_at: datetime | None
    callback_at: datetime | None
    callback_agent: str | None
    dial_now: bool
    closed_at: datetime | None
    added_at: datetime
    added_by: str
    attempts: list[AttemptOut]


class ContactCancelledOut(ContactOut):
    """A withdrawn task, and what the live dialer did with it: ``withdrawn`` (it was waiting
    or in preview), ``call_cancelled`` (it was ringing: hung up, its attempt stored),
    ``after_call`` (a person is on the line: the call goes on, ``operator`` names who has it;
    the contact stays closed), ``none`` (the dialer had no call of it) or ``not running``
    (no dialer on this node)."""

    dialer: Literal["withdrawn", "call_cancelled", "after_call", "none", "not running"]
    operator: str | None = None
    detail: str = ""


# --- the operator's preview (preview campaigns) -------------------------------------------------


class PreviewNumberOut(BaseModel):
    number: str = Field(description="E.164")
    type: str = Field(description="mobile, home, work or other")
    time_zone: str = Field(description="the zone of whoever answers this number (IANA)")
    local_time: datetime = Field(description="now, in that zone (with its offset)")
    proposed: bool = Field(description="the number the dialer would dial")


class PreviewOut(BaseModel):
    """The contact the operator is previewing: its card and numbers, the customer's local
    time next to the operator's."""

    campaign: str
    contact_id: str
    script: str
    fields: dict[str, str]
    numbers: list[PreviewNumberOut]
    time_zone: str = Field(description="the customer's zone: reschedule in it")
    customer_time: datetime = Field(description="now, in the customer's zone")
    operator_time_zone: str = Field(description="the site's zone, the operator's times")
    operator_time: datetime = Field(description="now, in the operator's zone")


class MyPreview(BaseModel):
    """The operator's current preview, or ``preview: null`` with a sentence saying so."""

    preview: PreviewOut | None
    detail: str = ""


class PreviewDecisionIn(Body):
    """Dial the previewed contact (``number``: one of its numbers; default the proposed one),
    skip it, or reschedule it to ``at`` (ISO 8601 with its offset, e.g.
    ``2026-12-03T15:00:00+03:00``: the customer's time)."""

    contact_id: ContactId
    action: Literal["dial", "skip", "reschedule"]
    number: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    at: datetime | None = None


class PreviewDecided(BaseModel):
    contact_id: str
    action: str
    number: str | None = None
    at: datetime | None = Field(None, description="the reschedule time, in UTC")
