"""One customer call as the contact center follows it, and the steps it goes through.

An :class:`InboundCall` lives from the caller's INVITE (or a due callback) until the caller's
leg ends. Its ``acd_id`` names it in the ACD; its ``interaction_id`` names the call record,
which every operator leg joins, so one id follows the call across transfers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from parley.telephony.channel import Signal

if TYPE_CHECKING:
    from collections.abc import Callable

    from parley.ivr.model import Flow
    from parley.telephony.channel import Bridge, Channel
    from parley.telephony.media import CallRecording


@dataclass(frozen=True, slots=True)
class ToFlow:
    """Run a flow (the number's, or the target of a transfer); ``draft``: run this version
    of it instead of the live one (a test call from the web editor); ``at``: from this node
    on, not the start."""

    flow: str
    dnis: str = ""
    draft: Flow | None = None
    #: go on from this node (a caller carried over from the other node of a cluster)
    at: str | None = None


@dataclass(frozen=True, slots=True)
class ToQueue:
    """Wait in ``queue``; ``since``: a caller carried over from the other node of a cluster,
    in line there since then (it keeps its place)."""

    queue: str
    priority: int = 0
    skills: tuple[str, ...] = ()
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class ToOperator:
    """Ring one operator (a user name) or a SIP user directly."""

    user: str


@dataclass(frozen=True, slots=True)
class ToOutside:
    """Call an outside number through the routes (a transfer to a customer's mobile), with
    the outside-line right of ``by``, who asked for it."""

    number: str
    by: str = ""


@dataclass(frozen=True, slots=True)
class ToVoicemail:
    """Leave a message in ``mailbox``; ``greet`` False when a flow has already said so."""

    mailbox: str
    greet: bool = True


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer asked for during a conversation: by REFER from the phone or the API."""

    target: str
    by: str


@dataclass(frozen=True, slots=True)
class AttendedTransfer:
    """The operator consulted someone on a second call (``consultation``, the leg from the
    operator's phone) and joins the customer to them (``target``, the leg to that person)."""

    target: Channel
    consultation: Channel
    by: str


@dataclass(frozen=True, slots=True)
class TakeOver:
    """A supervisor (``by``) takes the customer over from the operator: ``leg`` (the
    supervisor's phone, already answered) becomes the customer's party and the operator's
    leg is released, as after a transfer."""

    leg: Channel
    by: str


@dataclass(frozen=True, slots=True)
class Conference:
    """The operator (on ``operator_leg``) joined the person they consulted (``target``, the
    leg to them) to the conversation: the three talk in one mix until one leaves."""

    target: Channel
    operator_leg: Channel
    by: str


@dataclass(eq=False)
class Consultation:
    """An operator (``by``) consulting ``party`` (a user, or a number) from the desk while
    the customer holds with music: ``leg`` rings ``party``; once answered, ``bridge`` joins
    it with the operator's leg. ``state``: ringing, talking, conference. ``done`` is set when
    the call's own coroutine takes over (a completed transfer, a conference)."""

    by: str
    party: str
    leg: Channel
    bridge: Bridge | None = None
    state: str = "ringing"
    done: Signal = field(default_factory=Signal)


Step = ToFlow | ToQueue | ToOperator | ToVoicemail | ToOutside


@dataclass(eq=False)
class InboundCall:
    """A customer's call in the contact center."""

    acd_id: str
    interaction_id: str
    ani: str
    dnis: str
    caller: Channel | None
    started_at: datetime
    variables: dict[str, Any] = field(default_factory=dict)
    queue: str = ""
    priority: int = 0
    queued_at: datetime | None = None  # when it began waiting in ``queue``
    operator: str = ""
    operator_leg: Channel | None = None
    bridge: Bridge | None = None
    recording: CallRecording | None = None
    #: who paused the recording, one name per pause so far (the marks say where)
    paused_by: list[str] = field(default_factory=list)
    answered_at: datetime | None = None
    #: ringing operator legs (or a callback's operator leg), by operator
    offers: dict[str, Channel] = field(default_factory=dict)
    #: operator legs the shell hung up itself (their end is not news for the ACD)
    cancelled: set[str] = field(default_factory=set)
    #: set when the caller is waiting in a queue: resolved with what happens next
    outcome: asyncio.Future[object] | None = None
    waiting: asyncio.Task[None] | None = None
    callback: bool = False  # a callback: the customer is dialled when an operator is free
    transfers: int = 0
    #: the operator's consultation from the desk, while one is in progress
    consult: Consultation | None = None
    final: str = ""  # the outcome the call record closes with
    hung_up_by: str = ""  # who ended the call: "caller", an operator, "parley"
    #: called once, when an operator first answers (a campaign task closes then)
    on_answered: list[Callable[[InboundCall], None]] = field(default_factory=list)

    @property
    def caller_gone(self) -> bool:
        return self.caller is None or self.caller.ended

    def resolve(self, value: object) -> None:
        """Tell the call's coroutine what happened (the first news wins)."""
        if self.outcome is not None and not self.outcome.done():
            self.outcome.set_result(value)

    def headers(self) -> dict[str, str]:
        """The ``X-Parley-*`` headers an operator's phone or CRM receives with the call."""
        import json

        out = {"X-Parley-Interaction": self.interaction_id, "X-Parley-Caller": self.ani,
               "X-Parley-Dialled": self.dnis}
        if self.queue:
            out["X-Parley-Queue"] = self.queue
        language = self.variables.get("language")
        if isinstance(language, str) and language:
            out["X-Parley-Language"] = language
        data = {key: value for key, value in self.variables.items()
                if not key.startswith("_")}
        if data:
            text = json.dumps(data, separators=(",", ":"), default=str, ensure_ascii=True)
            if len(text) <= 1500:
                out["X-Parley-Data"] = text
        for key, value in data.items():
            if isinstance(value, str | int | float) and not isinstance(value, bool) \
                    and key.replace("_", "").isalnum():
                text = str(value)
                if "\r" not in text and "\n" not in text and len(text) <= 200:
                    out[f"X-Parley-Var-{key}"] = text
        return out
