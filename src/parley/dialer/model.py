"""The dialer's vocabulary: modes, number types, attempt outcomes, dispositions and its error."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from parley.errors import ParleyError
from parley.kpi import OutboundAbandonRate


class DialerError(ParleyError):
    """A campaign, contact list or strategy setting is wrong; the message says what to fix."""


class DialMode(StrEnum):
    """How a campaign decides when to dial (docs/dialer.md, "Modes")."""

    PREVIEW = "preview"  # the operator sees the contact first, then dials or skips
    PROGRESSIVE = "progressive"  # one operator reserved before each dial
    PREDICTIVE = "predictive"  # dial ahead of free operators, abandon rate under a cap
    AGENTLESS = "agentless"  # a message plays; "press 1" reaches an operator queue


class NumberType(StrEnum):
    """What kind of line a contact number is; each has its own call windows and limits."""

    MOBILE = "mobile"
    HOME = "home"
    WORK = "work"


class Outcome(StrEnum):
    """How one attempt ended, as the network and answering-machine detection tell it."""

    HUMAN = "human"  # a live answer, connected to an operator (or to the agentless message)
    MACHINE = "machine"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # congestion, network or temporary failure: worth retrying
    INVALID = "invalid"  # the number does not exist: never dial it again
    ABANDONED = "abandoned"  # answered by a person, no operator in time


class Disposition(StrEnum):
    """What the operator records at the end of a conversation."""

    SUCCESS = "success"
    CALLBACK = "callback"  # call again at a time given in the customer's time zone
    NOT_INTERESTED = "not_interested"
    WRONG_NUMBER = "wrong_number"  # this number is not the contact's: drop the number
    DO_NOT_CALL = "do_not_call"  # the contact asked never to be called: DNC list, close
    MACHINE = "machine"  # detection said human but an operator heard a machine


class MachinePolicy(StrEnum):
    """What an answer that detection calls a machine gets (docs/dialer.md, "Answering
    machines")."""

    DROP = "drop"  # hang up; the number is tried again after the machine retry delay
    MESSAGE = "message"  # leave the campaign's message after the beep, then hang up
    OPERATOR = "operator"  # pass it to an operator like a person (counted as a machine)


class ContactStatus(StrEnum):
    """Where a contact stands in its campaign."""

    PENDING = "pending"  # waiting for its next attempt
    IN_PROGRESS = "in_progress"  # being previewed, reserved for or dialled right now
    DONE = "done"  # closed; ``close_reason`` says why


class CloseReason(StrEnum):
    """Why a contact was closed."""

    SUCCESS = "success"
    NOT_INTERESTED = "not_interested"
    DO_NOT_CALL = "do_not_call"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  # per-contact limit, or every number used up
    NO_VALID_NUMBER = "no_valid_number"  # every number invalid, wrong or on a DNC list
    NO_CALL_WINDOW = "no_call_window"  # no number's window ever opens (time zones too spread)
    CAMPAIGN_STOPPED = "campaign_stopped"
    CANCELLED = "cancelled"  # the outside system withdrew the task
    ANSWERED_INBOUND = "answered_inbound"  # the customer called in and an operator answered


#: What a campaign's abandon rate is measured over (regulators differ): the named outbound
#: definitions of :mod:`parley.kpi` (live answers, all answers, dials).
AbandonDefinition = OutboundAbandonRate


@dataclass(frozen=True, slots=True)
class CarriedConversation:
    """An operator's conversation with a contact that the other node of a hot-standby cluster
    dialled and connected, carried on by this one (:meth:`Dialer.restore_contacts`):
    attempt ``attempt_id`` on ``number`` (E.164), operator ``agent_id`` of ``team``,
    connected ``talked`` seconds ago."""

    attempt_id: str
    contact_id: str
    number: str
    agent_id: str
    team: str = ""
    talked: float = 0.0
