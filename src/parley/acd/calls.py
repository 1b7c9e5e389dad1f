"""The ACD's view of a call, and the read-only snapshots it gives of queues and operators."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from parley.acd.agent import AgentState
from parley.acd.routing import CallKey


class CallState(StrEnum):
    WAITING = "waiting"
    OFFERING = "offering"
    CONNECTED = "connected"
    SCHEDULED = "scheduled"  # a callback waiting for its time
    ENDED = "ended"


@dataclass(slots=True)
class AcdCall:
    """A call (or a callback) the ACD is responsible for."""

    call_id: str
    queue: str
    caller: str
    priority: int
    arrived: float
    seq: int
    state: CallState = CallState.WAITING
    callback: bool = False
    number: str = ""
    offered_to: set[str] = field(default_factory=set)
    missed: set[str] = field(default_factory=set)
    agent_id: str = ""
    hops: int = 0
    offers: int = 0
    attempts: int = 0
    max_attempts: int = 1
    retry_after: float = 600.0
    expires: float | None = None
    tokens: dict[str, int] = field(default_factory=dict)  # agent -> offer number

    @property
    def key(self) -> CallKey:
        return (-self.priority, self.arrived, self.seq, self.call_id)


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    queue: str
    waiting: int
    longest_wait: float
    offered: int
    answered: int
    abandoned: int
    overflowed: int
    asa: float
    aht: float
    occupancy: float
    service_level: float
    service_level_abandons: float
    logged_in: int
    ready: int


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    agent_id: str
    state: AgentState
    in_state_for: float
    offered: int
    answered: int
    missed: int
    aht: float
    occupancy: float
