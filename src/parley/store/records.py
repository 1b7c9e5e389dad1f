"""Plain records returned by the repositories: what the rest of Parley sees of the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SipCredentials:
    """What the SIP registrar needs to challenge a device: HA1 per algorithm, static contact."""

    username: str
    realm: str
    ha1_md5: str | None
    ha1_sha256: str | None
    static_contact: str | None
    user: str | None

    def ha1(self, algorithm: str) -> str | None:
        """The HA1 for ``MD5`` or ``SHA-256`` (the digest ``algorithm`` parameter)."""
        return self.ha1_sha256 if algorithm.upper().startswith("SHA-256") else self.ha1_md5


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user as the web layer sees it."""

    user_id: int
    username: str
    roles: tuple[str, ...]
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class LoginUser:
    user_id: int
    username: str
    roles: tuple[str, ...]
    password_hash: str | None
    active: bool
    display_name: str = ""
    directory: bool = False  # signs in through the directory, not with a local password


@dataclass(frozen=True, slots=True)
class SessionRecord:
    principal: Principal
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    name: str
    username: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class LegRecord:
    channel_id: str
    direction: str
    endpoint: str
    caller: str
    called: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    hangup_cause: int | None
    trunk: str | None = None  # the carrier's trunk the leg went through
    sip_status: int | None = None  # the final SIP status of its INVITE


@dataclass(frozen=True, slots=True)
class TimelineRecord:
    at: datetime
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InteractionRecord:
    """A call record with its durations (seconds): wait until answer, talk, and total."""

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
    variables: dict[str, Any] = field(default_factory=dict)
    legs: tuple[LegRecord, ...] = ()
    timeline: tuple[TimelineRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class OperatorStateRecord:
    username: str
    state: str
    reason: str
    at: datetime
    queue: str | None = None  # a wrap-up of a queue's call: that queue
    interaction_id: str | None = None  # a wrap-up: the call record it follows


@dataclass(frozen=True, slots=True)
class RecordingRecord:
    id: str
    interaction_id: str | None
    path: str
    media_type: str
    started_at: datetime
    duration_s: float
    #: the gaps written as silence (paused), in seconds from the start of the file, with who
    #: paused: ``{"start_s": 12.3, "end_s": 20.1, "by": "1001"}``
    pauses: tuple[dict[str, Any], ...] = ()
    #: when the retention sweep deleted the file (None: kept)
    deleted_at: datetime | None = None
    size_bytes: int | None = None  # the file's size once compressed (FLAC)


@dataclass(frozen=True, slots=True)
class VoicemailRecord:
    id: str
    mailbox: str
    caller: str
    received_at: datetime
    path: str
    duration_s: float
    heard: bool
    interaction_id: str | None = None
    size_bytes: int | None = None  # the file's size once compressed (FLAC)


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    id: str
    number: str
    queue: str
    requested_at: datetime
    due_at: datetime
    status: str
    attempts: int
    requested_by: str
    note: str
    interaction_id: str | None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    webhook: str
    event_id: str
    event_type: str
    attempt: int
    at: datetime
    status_code: int | None
    error: str
    delivered: bool
    duration_ms: float


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    actor: str
    action: str
    target_type: str
    target: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a search: the items and the total number of matches."""

    items: tuple[T, ...]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """An unfinished webhook delivery from the outbox."""

    id: int
    webhook: str
    event_id: str
    event_type: str
    body: str
    attempts: int
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """One typed answer of a wrap-up (a ticked option of a checkboxes field is one each)."""

    script: str
    block: str
    field: str
    type: str  # text | number | date | choice | checkboxes
    value: str | float | date


@dataclass(frozen=True, slots=True)
class ScriptDraftRecord:
    """A call's script answers and notes saved on a hand-over, before the wrap-up (``result``
    is empty: nothing is closed yet)."""

    interaction_id: str
    answers: dict[str, Any]
    notes: str
    saved_by: str
    saved_at: datetime
    result: str = ""


@dataclass(frozen=True, slots=True)
class WrapupRecord:
    """How the operator closed an interaction; ``answers`` as the form sends them again
    (dates as YYYY-MM-DD), ``saves`` how many times it was saved (the last save wins)."""

    interaction_id: str
    script: str | None
    result: str
    disposition: str
    notes: str
    callback_at: datetime | None
    answers: dict[str, Any]
    saved_by: str
    saved_at: datetime
    saves: int = 1
    rows: tuple[AnswerRecord, ...] = ()
