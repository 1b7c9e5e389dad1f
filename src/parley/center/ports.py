"""The seams between the web layer and live call handling.

The REST API never touches a SIP channel or the ACD's state: it calls these small interfaces,
which the telephony and ACD shells implement and the composition root hands to
:func:`parley.web.build_web_app`. Until a node runs telephony, the routes that need it answer
503 with a message saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from parley.errors import ParleyError
from parley.events import AgentLogin, AgentLogout, AgentNotReady, AgentReady


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

    async def record(self, call_id: str, *, on: bool, requested_by: str) -> str | None:
        """Start (``on``) or stop recording the conversation, for queues recording on demand;
        returns the recording's id."""
        ...

    def live_calls(self) -> list[LiveCall]:
        ...


OperatorEvent = AgentLogin | AgentLogout | AgentReady | AgentNotReady


class ContactCenter(Protocol):
    """Operator state changes and live queue figures (the ACD shell implements)."""

    async def operator_event(self, event: OperatorEvent) -> None:
        """Apply an operator's request; the ACD publishes the resulting state change."""
        ...

    def queue_figures(self) -> list[QueueFigures]:
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

    async def record(self, call_id: str, *, on: bool, requested_by: str) -> str | None:
        raise NotRunning("telephony is not running on this node")

    def live_calls(self) -> list[LiveCall]:
        raise NotRunning("telephony is not running on this node")


class NoContactCenter:
    """What a node without the ACD answers."""

    async def operator_event(self, event: OperatorEvent) -> None:
        raise NotRunning("the ACD is not running on this node")

    def queue_figures(self) -> list[QueueFigures]:
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
