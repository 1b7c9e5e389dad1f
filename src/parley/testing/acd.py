"""A harness that drives the pure ACD on a :class:`~parley.clock.VirtualClock` in tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from parley import events as ev
from parley.acd.agent import Agent
from parley.acd.config import QueueConfig, SiteConfig
from parley.acd.core import Acd
from parley.acd.lists import NumberLists
from parley.clock import VirtualClock

C = TypeVar("C")


class AcdHarness:
    """An ACD, a virtual clock, and everything the ACD has said so far (``out``)."""

    def __init__(self, queues: Iterable[QueueConfig], agents: Iterable[Agent], *,
                 site: SiteConfig | None = None, lists: NumberLists | None = None,
                 clock: VirtualClock | None = None) -> None:
        self.clock = clock or VirtualClock()
        self.acd = Acd(queues, agents, site=site, lists=lists, wall=self.wall)
        self.out: list[Any] = []

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    def wall(self, monotonic: float) -> datetime:
        return self.clock.utcnow() + timedelta(seconds=monotonic - self.clock.monotonic())

    def send(self, *events: ev.AcdEvent) -> list[Any]:
        """Feed events now; return what they caused (also appended to ``out``)."""
        caused: list[Any] = []
        for event in events:
            caused.extend(self.acd.handle(event, self.now))
        self.out.extend(caused)
        return caused

    def advance(self, seconds: float) -> list[Any]:
        """Move time on, firing the ACD's timers as they fall due."""
        target = self.now + seconds
        caused: list[Any] = []
        while (deadline := self.acd.next_deadline()) is not None and deadline <= target:
            self.clock.run_until(deadline)
            caused.extend(self.acd.on_time(deadline))
        self.clock.run_until(target)
        self.out.extend(caused)
        return caused

    def login(self, *agent_ids: str, ready: bool = True) -> None:
        for agent_id in agent_ids:
            self.send(ev.AgentLogin(agent_id, f"sip:{agent_id}@desk", ready))

    def answer(self, call_id: str, agent_id: str) -> list[Any]:
        return self.send(ev.AgentRinging(call_id, agent_id), ev.AgentAnswered(call_id, agent_id))

    def state(self, agent_id: str) -> str:
        return self.acd.agents[agent_id].state.value

    @staticmethod
    def of(kind: type[C], items: Iterable[Any]) -> list[C]:
        return [item for item in items if isinstance(item, kind)]

    def offered_to(self, call_id: str) -> list[str]:
        """Operators ``call_id`` was offered to, in order."""
        return [c.agent_id for c in self.of(ev.OfferCall, self.out) if c.call_id == call_id]
