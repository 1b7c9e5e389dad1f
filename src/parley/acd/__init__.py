"""The ACD: operators, queues and routing as a pure, sans-IO core (see docs/acd.md).

``Acd.handle(event, now) -> commands``; ``Acd.next_deadline()`` / ``Acd.on_time(now)`` for its
timers. Events and commands are the ``parley.events`` acd section.
"""

from parley.acd.agent import (
    AcdError,
    Agent,
    AgentState,
    DeviceRegistry,
    InvalidTransition,
    Transition,
    Trigger,
)
from parley.acd.config import (
    Condition,
    OverflowRule,
    QueueConfig,
    RelaxStep,
    SiteConfig,
    Strategy,
    Target,
    TargetKind,
    queue_from_mapping,
)
from parley.acd.core import Acd
from parley.acd.lists import NumberLists
from parley.acd.schedule import WeeklySchedule

__all__ = [
    "Acd",
    "AcdError",
    "Agent",
    "AgentState",
    "Condition",
    "DeviceRegistry",
    "InvalidTransition",
    "NumberLists",
    "OverflowRule",
    "QueueConfig",
    "RelaxStep",
    "SiteConfig",
    "Strategy",
    "Target",
    "TargetKind",
    "Transition",
    "Trigger",
    "WeeklySchedule",
    "queue_from_mapping",
]
