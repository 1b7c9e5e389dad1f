"""The flow model: a named graph of typed nodes, built from YAML by :mod:`parley.ivr.loader`.

Every node has an ``id`` and the ``line`` it was declared on (for error messages). Exits are
node ids; :meth:`FlowNode.exits` lists them per field so the validator can follow the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from parley.events import HangupCause
from parley.ivr.expr import Expression, Template


class PromptKind(StrEnum):
    """How a prompt item is rendered: a stored prompt file, text-to-speech, or a spoken value."""

    FILE = "file"
    SPEECH = "speech"
    SAY = "say"


class SayKind(StrEnum):
    NUMBER = "number"
    ORDINAL = "ordinal"
    DIGITS = "digits"
    DURATION = "duration"
    MONEY = "money"


@dataclass(frozen=True, slots=True)
class PromptSpec:
    """One item of a prompt list; ``text`` is a template (a prompt name, speech, or a value)."""

    kind: PromptKind
    text: Template
    say: SayKind | None = None


Prompts = tuple[PromptSpec, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowNode:
    """Fields every node has."""

    id: str
    line: int | None = None
    description: str = ""

    TYPE = ""
    TERMINAL = False  # ends the flow's part of the call (queue, transfer, voicemail, hangup)
    WAITS = False  # waits for the caller or the outside world before moving on

    def exits(self) -> list[tuple[str, str]]:
        """(field, target node id) pairs; the validator checks each target exists."""
        return []


def _exit_list(**targets: str | None) -> list[tuple[str, str]]:
    return [(name, target) for name, target in targets.items() if target is not None]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayNode(FlowNode):
    prompts: Prompts
    next: str

    TYPE = "play"
    WAITS = True

    def exits(self) -> list[tuple[str, str]]:
        return _exit_list(next=self.next)


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuNode(FlowNode):
    """Play a prompt and branch on one digit, with retries on timeout and on a wrong digit."""

    prompts: Prompts
    options: dict[str, str]
    timeout: float = 5.0
    retries: int = 2
    invalid_prompts: Prompts = ()
    timeout_prompts: Prompts = ()
    on_invalid: str | None = None
    on_timeout: str | None = None
    on_failure: str | None = None

    TYPE = "menu"
    WAITS = True

    def exits(self) -> list[tuple[str, str]]:
        pairs = [(f"options.{digit}", target) for digit, target in self.options.items()]
        return pairs + _exit_list(on_invalid=self.on_invalid, on_timeout=self.on_timeout,
                                  on_failure=self.on_failure)


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectNode(FlowNode):
    """Collect digits into a variable, validating length, pattern and numeric range."""

    prompts: Prompts
    variable: str
    next: str
    on_failure: str
    min_length: int = 1
    max_length: int = 20
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    terminators: str = "#"
    timeout: float = 5.0
    inter_digit_timeout: float = 3.0
    retries: int = 2
    invalid_prompts: Prompts = ()
    timeout_prompts: Prompts = ()

    TYPE = "collect"
    WAITS = True

    def exits(self) -> list[tuple[str, str]]:
        return _exit_list(next=self.next, on_failure=self.on_failure)


@dataclass(frozen=True, slots=True, kw_only=True)
class SayNode(FlowNode):
    kind: SayKind
    value: Expression
    next: str

    TYPE = "say"
    WAITS = True

    def exits(self) -> list[tuple[str, str]]:
        return _exit_list(next=self.next)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionNode(FlowNode):
    expression: Expression
    then: str
    otherwise: str

    TYPE = "condition"

    def exits(self) -> list[tuple[str, str]]:
        return _exit_list(then=self.then, **{"else": self.otherwise})


@dataclass(frozen=True, slots=True, kw_only=True)
class SetNode(FlowNode):
    assignments: tuple[tuple[str, Expression], ...]
    next: str

    TYPE = "set"

    def exits(self) -> list[tuple[str, str]]:
        return _exit_list(next=self.next)


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupNode(FlowNode):
    """An HTTP GET or POST returning JSON, stored in ``variable``; ``fallback`` on any failure."""

    method: str
    url: Template
    variable: str
    next: str
    fallback: str
    body: tuple[tuple[str, Expression], ...] | None = None
    headers: tuple[tuple[str, Template], ...] = ()
    timeout: float = 3.0

    TYPE = "lookup"
    WAITS = True

    def exits(self) -> list[tuple[str, str]]:
        return _exit_list(next=self.next, fallback=self.fallback)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueNode(FlowNode):
    queue: Template
    priority: Expression | None = None
    skills: tuple[str, ...] = ()
    data: tuple[tuple[str, Expression], ...] = ()
    on_failure: str | None = None

    TYPE = "queue"
    TERMINAL = True

    def exits(self) -> list[tuple[str, str]]:
        return _exit_list(on_failure=self.on_failure)


class TransferKind(StrEnum):
    OPERATOR = "operator"
    NUMBER = "number"
    FLOW = "flow"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferNode(FlowNode):
    kind: TransferKind
    target: Template
    on_failure: str | None = None

    TYPE = "transfer"
    TERMINAL = True

    def exits(self) -> list[tuple[str, str]]:
        return _exit_list(on_failure=self.on_failure)


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailNode(FlowNode):
    mailbox: Template
    prompts: Prompts = ()

    TYPE = "voicemail"
    TERMINAL = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackNode(FlowNode):
    """Offer a callback ("press 1 to be called back") and register it when accepted."""

    queue: Template
    prompts: Prompts
    accepted: str
    declined: str
    number: Expression | None = None  # default: the caller's number
    confirm_digit: str = "1"
    timeout: float = 5.0
    confirm_prompts: Prompts = ()

    TYPE = "callback"
    WAITS = True

    def exits(self) -> list[tuple[str, str]]:
        return _exit_list(accepted=self.accepted, declined=self.declined)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordNode(FlowNode):
    variable: str
    next: str
    prompts: Prompts = ()
    max_seconds: float = 120.0
    beep: bool = True
    terminators: str = "#"

    TYPE = "record"
    WAITS = True

    def exits(self) -> list[tuple[str, str]]:
        return _exit_list(next=self.next)


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupNode(FlowNode):
    cause: HangupCause = HangupCause.NORMAL_CLEARING
    prompts: Prompts = ()

    TYPE = "hangup"
    TERMINAL = True


NODE_TYPES: dict[str, type[FlowNode]] = {cls.TYPE: cls for cls in (
    PlayNode, MenuNode, CollectNode, SayNode, ConditionNode, SetNode, LookupNode, QueueNode,
    TransferNode, VoicemailNode, CallbackNode, RecordNode, HangupNode,
)}


@dataclass(frozen=True, slots=True)
class Screening:
    """The check before the flow: callers on ``list`` get this treatment instead of the flow.

    Without ``node`` the call is rejected unanswered with ``cause`` (after ``prompts``, if any,
    which needs the call answered); with ``node`` the caller goes there instead of ``start``.
    """

    list: str = "blacklist"
    cause: HangupCause = HangupCause.CALL_REJECTED
    prompts: Prompts = ()
    node: str | None = None


@dataclass(frozen=True, slots=True)
class Flow:
    """One version of a flow: its graph plus the settings its expressions and runs need."""

    name: str
    start: str
    nodes: dict[str, FlowNode]
    file: str = ""
    description: str = ""
    timezone: str = "UTC"
    holidays: frozenset[date] = frozenset()
    calendar: str | None = None
    screening: Screening | None = None
    on_error: str | None = None
    variables: tuple[tuple[str, Expression], ...] = ()
    max_steps: int = 200
    languages: tuple[str, ...] = ()  # the caller's languages it speaks; the first is its own
    source: str = field(default="", repr=False, compare=False)

    def node(self, node_id: str) -> FlowNode:
        return self.nodes[node_id]
