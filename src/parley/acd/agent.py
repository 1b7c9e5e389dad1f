"""The operator (agent) state machine: a transition table that raises on any unknown move.

Every transition is validated against :data:`TRANSITIONS` and returned as a
:class:`Transition` record (who, from, to, trigger, cause, reason, call, time), which the ACD
turns into an ``AgentStateChanged`` notice for the store. Time is always passed in (``now``,
monotonic seconds); nothing here reads a clock.

Outbound work uses the same table through the ACD's own events (``ReserveForOutbound`` moves
an operator with ``Trigger.RESERVE``, ``OutboundConnected`` with ``Trigger.ANSWER``, and so on;
see ``parley.acd.outbound``): nothing outside the ACD moves its operators.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from parley.errors import ParleyError


class AcdError(ParleyError):
    """Base of the ACD's errors."""


class InvalidTransition(AcdError):
    """An operator was asked to move in a way the transition table does not allow."""


class AgentState(StrEnum):
    """Where an operator is; the values are what events, the store and the UI carry."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    RESERVED = "reserved"
    RINGING = "ringing"
    ON_CALL = "on_call"
    ON_HOLD = "on_hold"
    WRAP_UP = "wrap_up"


class Trigger(StrEnum):
    """What moves an operator from one state to another."""

    LOGIN = "login"
    LOGOUT = "logout"
    SET_READY = "set_ready"
    SET_NOT_READY = "set_not_ready"
    RESERVE = "reserve"
    RING = "ring"
    ANSWER = "answer"
    RELEASE = "release"  # an offer ended without a conversation: no answer, caller gone, watchdog
    HOLD = "hold"
    UNHOLD = "unhold"
    HANG_UP = "hang_up"
    EXTEND_WRAP_UP = "extend_wrap_up"
    END_WRAP_UP = "end_wrap_up"


S = AgentState
T = Trigger

TRANSITIONS: dict[tuple[AgentState, Trigger], tuple[AgentState, ...]] = {
    # (state, trigger): allowed targets, the first being the default.
    (S.LOGGED_OUT, T.LOGIN): (S.READY, S.NOT_READY),
    (S.READY, T.LOGOUT): (S.LOGGED_OUT,),
    (S.NOT_READY, T.LOGOUT): (S.LOGGED_OUT,),
    (S.WRAP_UP, T.LOGOUT): (S.LOGGED_OUT,),
    (S.NOT_READY, T.SET_READY): (S.READY,),
    (S.READY, T.SET_NOT_READY): (S.NOT_READY,),
    (S.NOT_READY, T.SET_NOT_READY): (S.NOT_READY,),
    (S.READY, T.RESERVE): (S.RESERVED,),
    (S.RESERVED, T.RING): (S.RINGING,),
    (S.RESERVED, T.ANSWER): (S.ON_CALL,),
    (S.RINGING, T.ANSWER): (S.ON_CALL,),
    (S.RESERVED, T.RELEASE): (S.READY, S.NOT_READY, S.LOGGED_OUT),
    (S.RINGING, T.RELEASE): (S.READY, S.NOT_READY, S.LOGGED_OUT),
    (S.ON_CALL, T.HOLD): (S.ON_HOLD,),
    (S.ON_HOLD, T.UNHOLD): (S.ON_CALL,),
    (S.ON_CALL, T.HANG_UP): (S.WRAP_UP, S.READY, S.NOT_READY, S.LOGGED_OUT),
    (S.ON_HOLD, T.HANG_UP): (S.WRAP_UP, S.READY, S.NOT_READY, S.LOGGED_OUT),
    (S.WRAP_UP, T.EXTEND_WRAP_UP): (S.WRAP_UP,),
    (S.WRAP_UP, T.END_WRAP_UP): (S.READY, S.NOT_READY, S.LOGGED_OUT),
}
"""The whole operator state machine. Anything not listed raises :class:`InvalidTransition`."""

BUSY_STATES = frozenset({S.RESERVED, S.RINGING, S.ON_CALL, S.ON_HOLD, S.WRAP_UP})
"""States in which the operator works on a call (occupancy counts them as busy)."""

CALL_STATES = frozenset({S.RESERVED, S.RINGING, S.ON_CALL, S.ON_HOLD})
"""States in which the operator is tied to one call leg (``Agent.call_id`` is set)."""


class Transition(NamedTuple):
    """One recorded state change (a named tuple: cheap, immutable, one per transition)."""

    agent_id: str
    old: AgentState
    new: AgentState
    trigger: Trigger
    cause: str
    at: float
    reason: str = ""
    call_id: str = ""


def transition_table_markdown() -> str:
    """The transition table as a Markdown table (docs/acd.md is generated from it)."""
    lines = ["| From | Trigger | To (first is the default) |", "|---|---|---|"]
    for (state, trigger), targets in TRANSITIONS.items():
        lines.append(f"| {state} | {trigger} | {', '.join(targets)} |")
    return "\n".join(lines)


@dataclass(slots=True)
class Agent:
    """An operator: identity, skills (level 1-10 per skill), teams and state.

    ``team`` is the operator's main team (campaigns select on it); ``teams`` every other team
    the operator belongs to, for queues served by teams.

    The log of the operator's states is the stream of transitions :meth:`apply` returns,
    which the store persists; the operator keeps none of it (a copy of the last 64 per
    operator was 70,000 objects at floor scale that nothing read, and every full pass of the
    cycle collector went through them).
    """

    agent_id: str
    skills: dict[str, int] = field(default_factory=dict)
    team: str = ""
    name: str = ""
    teams: frozenset[str] = frozenset()
    wrap_up_s: float | None = None  # per-operator after-call work; None: the queue's
    state: AgentState = AgentState.LOGGED_OUT
    reason: str = ""  # not-ready reason code
    since: float = 0.0  # when the current state began
    device: str = ""
    call_id: str = ""
    idle_since: float = 0.0  # when the operator last became ready
    ready_epoch: int = 0  # bumped on every entry into READY (lets routing indexes go stale)
    calls_taken: int = 0
    missed_in_row: int = 0
    after_work: str = ""  # "" (ready), "not_ready:<reason>" or "logged_out": state after wrap-up

    def __post_init__(self) -> None:
        for skill, level in self.skills.items():
            if not isinstance(level, int) or not 1 <= level <= 10:
                raise AcdError(
                    f"agent {self.agent_id}: skill {skill!r} level must be 1-10, got {level!r}")

    def in_any_team(self, teams: Iterable[str]) -> bool:
        """Whether the operator belongs to one of ``teams``."""
        return any(team == self.team or team in self.teams for team in teams)

    def can(self, trigger: Trigger) -> bool:
        """Whether ``trigger`` is allowed from the current state."""
        return (self.state, trigger) in TRANSITIONS

    def apply(
        self,
        trigger: Trigger,
        now: float,
        *,
        target: AgentState | None = None,
        cause: str = "",
        reason: str = "",
        call_id: str = "",
    ) -> Transition:
        """Move the operator; raise :class:`InvalidTransition` for a move not in the table."""
        allowed = TRANSITIONS.get((self.state, trigger))
        if allowed is None:
            raise InvalidTransition(
                f"agent {self.agent_id}: cannot {trigger} while {self.state}")
        new = allowed[0] if target is None else target
        if new not in allowed:
            raise InvalidTransition(
                f"agent {self.agent_id}: {trigger} from {self.state} cannot lead to {new}")
        if new is S.NOT_READY and not reason:
            raise InvalidTransition(f"agent {self.agent_id}: not ready needs a reason code")
        old = self.state
        if new in CALL_STATES:
            if call_id:
                self.call_id = call_id
            if not self.call_id:
                raise InvalidTransition(f"agent {self.agent_id}: {new} needs a call id")
        record = Transition(self.agent_id, old, new, trigger, cause or str(trigger), now,
                            reason if new is S.NOT_READY else "", call_id or self.call_id)
        self.state = new
        self.since = now
        self.reason = reason if new is S.NOT_READY else ""
        if new not in CALL_STATES:
            self.call_id = ""
        if new is S.READY:
            self.idle_since = now
            self.ready_epoch += 1
        if new is S.LOGGED_OUT:
            self.device = ""
            self.after_work = ""
        return record


class DeviceRegistry:
    """Which operator is logged in on which device: hot-desking, at most one operator a device."""

    def __init__(self) -> None:
        self._by_device: dict[str, str] = {}

    def holder(self, device: str) -> str | None:
        """The operator logged in on ``device``, if any."""
        return self._by_device.get(device)

    def bind(self, agent: Agent, device: str) -> None:
        """Seat ``agent`` at ``device``; raise if another operator holds it or agent is seated."""
        if not device:
            raise AcdError(f"agent {agent.agent_id}: a device is required to log in")
        holder = self._by_device.get(device)
        if holder is not None and holder != agent.agent_id:
            raise AcdError(f"device {device} is already used by agent {holder}")
        if agent.device and agent.device != device:
            raise AcdError(f"agent {agent.agent_id} is already logged in on {agent.device}")
        self._by_device[device] = agent.agent_id
        agent.device = device

    def unbind(self, device: str) -> None:
        self._by_device.pop(device, None)
