"""What the IVR interpreter returns (commands) and the results it is fed back (events).

The interpreter (:class:`parley.ivr.interpreter.FlowRun`) is sans-IO: the shell that owns the
call executes each command on the real channel, ACD or HTTP client and feeds the outcome back
as one of the result events below, or as a telephony event from :mod:`parley.events`
(``Dtmf``, ``PlaybackFinished``, ``RecordingFinished``, ``Hangup``). Every command that awaits
an outcome carries a ``request_id``; the result must carry the same id (for ``Play`` and
``Say`` the shell uses it as the ``playback_id``; for ``RecordMessage`` as the
``recording_id``). Results with another id are stale and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley.events import Dtmf, HangupCause, PlaybackFinished, RecordingFinished
from parley.events import Hangup as ChannelHangup

# --- prompt items -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromptFile:
    """A stored prompt by name, e.g. ``queue-thereare`` or ``digits/5`` (no extension)."""

    name: str


@dataclass(frozen=True, slots=True)
class Speech:
    """Text for text-to-speech."""

    text: str


@dataclass(frozen=True, slots=True)
class SayValue:
    """A value spoken with stock prompts: ``kind`` is "number", "digits" or "duration"."""

    kind: str
    value: str


PromptItem = PromptFile | Speech | SayValue


# --- commands -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnswerCall:
    """Answer the call (sent once, before the first prompt)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class Play:
    """Play the items in order; answer with ``PlaybackFinished(playback_id=request_id)``."""

    call_id: str
    request_id: str
    prompts: tuple[PromptItem, ...]


@dataclass(frozen=True, slots=True)
class Say:
    """Speak a value (number, digits, duration in seconds); answer like ``Play``."""

    call_id: str
    request_id: str
    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class Collect:
    """Play ``prompts`` (a digit stops them) and collect digits; answer ``CollectFinished``.

    ``timeout`` counts from the end of the prompts to the first digit; ``inter_digit_timeout``
    between digits. Collection ends at ``max_digits``, at a terminator (not included in the
    digits), or at a timeout.
    """

    call_id: str
    request_id: str
    prompts: tuple[PromptItem, ...]
    max_digits: int
    timeout: float
    inter_digit_timeout: float
    terminators: str


@dataclass(frozen=True, slots=True)
class HttpLookup:
    """Fetch JSON (the customer card); answer ``LookupResult``. ``body`` is JSON text or None."""

    call_id: str
    request_id: str
    method: str
    url: str
    body: str | None
    headers: tuple[tuple[str, str], ...]
    timeout: float


@dataclass(frozen=True, slots=True)
class EnqueueCall:
    """Hand the call to the ACD queue (terminal); ``QueueResult`` only if it is refused."""

    call_id: str
    request_id: str
    queue: str
    priority: int
    skills: tuple[str, ...]
    attached: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TransferCall:
    """Transfer to an operator or an outside number (terminal); ``TransferResult`` on failure."""

    call_id: str
    request_id: str
    kind: str  # "operator" or "number"
    target: str
    attached: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendToVoicemail:
    """Let the caller leave a message in ``mailbox`` (terminal)."""

    call_id: str
    request_id: str
    mailbox: str
    attached: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegisterCallback:
    """Register a callback to ``number`` through ``queue`` (as soon as an operator is free)."""

    call_id: str
    queue: str
    number: str
    attached: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordMessage:
    """Record the caller; answer ``RecordingFinished(recording_id=request_id)``."""

    call_id: str
    request_id: str
    max_seconds: float
    beep: bool
    terminators: str


@dataclass(frozen=True, slots=True)
class EndCall:
    """Hang up (terminal). ``answered`` False means reject before answering (e.g. 603)."""

    call_id: str
    cause: HangupCause
    answered: bool


@dataclass(frozen=True, slots=True)
class FlowTimeline:
    """One decision for the call record: "entered flow", "menu choice", "queued", ..."""

    call_id: str
    at: datetime
    flow: str
    node: str | None
    kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)


IvrCommand = (
    AnswerCall | Play | Say | Collect | HttpLookup | EnqueueCall | TransferCall
    | SendToVoicemail | RegisterCallback | RecordMessage | EndCall | FlowTimeline
)
TERMINAL_COMMANDS = (EnqueueCall, TransferCall, SendToVoicemail, EndCall)


# --- results fed back ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CollectFinished:
    """Digits collected for a ``Collect``; ``reason``: "max_digits", "terminator", "timeout"."""

    call_id: str
    request_id: str
    digits: str
    reason: str = "max_digits"


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The outcome of an ``HttpLookup``: the decoded JSON, or ``error`` ("timeout", ...)."""

    call_id: str
    request_id: str
    status: int = 0
    data: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class QueueResult:
    """The ACD refused the call (unknown or closed queue, full); ``accepted`` True is a no-op."""

    call_id: str
    request_id: str
    accepted: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TransferResult:
    """A transfer failed (busy, no answer, not allowed); ``ok`` True is a no-op."""

    call_id: str
    request_id: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TimerExpired:
    """Time has reached the run's ``next_deadline`` (e.g. a lookup's timeout)."""

    call_id: str


IvrEvent = (
    Dtmf | PlaybackFinished | RecordingFinished | ChannelHangup | CollectFinished
    | LookupResult | QueueResult | TransferResult | TimerExpired
)
