"""Per-queue routing indexes: the ordered waiting line and the ready operators, by strategy.

Kept apart from the event handling in :mod:`parley.acd.core` so that the hot paths (a call
looking for an operator, an operator looking for a call) stay small and indexed:

- the waiting line is a sorted list of ``(-priority, arrived, seq, call_id)`` keys (bisect);
- ready members are an insertion-ordered dict plus, for the ordered strategies, a heap keyed
  by the strategy with lazy deletion (an entry is live while the operator's ``ready_epoch``
  matches), so picking an operator costs O(log n) however many are ready.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable

from parley.acd.agent import Agent, AgentState
from parley.acd.config import QueueConfig, Strategy
from parley.acd.stats import QueueStats

CallKey = tuple[int, float, int, str]
_EPSILON = 1e-6
HeapEntry = tuple[float, float, int, str]

_HEAP_STRATEGIES = frozenset({Strategy.LONGEST_IDLE, Strategy.FEWEST_CALLS,
                              Strategy.SKILLS_BASED, Strategy.FIXED_ORDER})


class QueueRuntime:
    """The live state of one queue."""

    def __init__(self, config: QueueConfig) -> None:
        self.config = config
        self.waiting: list[CallKey] = []
        self.members: dict[str, int] = {}  # agent id -> skill level on this queue's skills
        self.order: list[str] = []  # member order (fixed order, round robin)
        self.rank: dict[str, int] = {}  # place in ``order``
        self.fixed_rank: dict[str, int] = {}  # fixed order: listed members first, as listed
        self._listed = {agent_id: i for i, agent_id in enumerate(config.members)}
        self.ready: dict[str, None] = {}
        self.heap: list[HeapEntry] = []
        self.logged_in = 0
        self.not_ready = 0
        self.rr_next = 0
        self.rng = random.Random(config.seed)  # noqa: S311 - routing, not secrets
        self.stats = QueueStats(sl_threshold_s=config.sl_threshold_s,
                                short_abandon_s=config.short_abandon_s)

    # --- membership -------------------------------------------------------------------

    def level_of(self, agent: Agent) -> int | None:
        """The operator's level on this queue (min over its skills), or None if not a member."""
        skills = self.config.skills
        if agent.agent_id in self.config.members or agent.in_any_team(self.config.teams):
            return min((agent.skills.get(s, 1) for s in skills), default=10)
        if not skills:
            return None
        levels = [agent.skills.get(skill, 0) for skill in skills]
        if any(level < skills[s] for level, s in zip(levels, skills, strict=True)):
            return None
        return min(levels)

    def add_member(self, agent: Agent, level: int) -> None:
        self.members[agent.agent_id] = level
        self.rank[agent.agent_id] = len(self.order)
        listed = self._listed
        self.fixed_rank[agent.agent_id] = listed.get(agent.agent_id,
                                                     len(listed) + len(self.order))
        self.order.append(agent.agent_id)

    def reconfigure(self, config: QueueConfig) -> None:
        """Take changed settings: the fixed order follows the new member list and the ready
        index is rebuilt for the (possibly new) strategy."""
        self.config = config
        self._listed = {agent_id: i for i, agent_id in enumerate(config.members)}
        for place, agent_id in enumerate(self.order):
            self.fixed_rank[agent_id] = self._listed.get(agent_id, len(self._listed) + place)
        self.stats.sl_threshold_s = config.sl_threshold_s
        self.heap = []
        if config.strategy in _HEAP_STRATEGIES:
            for agent_id in self.ready:
                agent = self._agents(agent_id)
                k1, k2 = self._heap_key(agent)
                self.heap.append((k1, k2, agent.ready_epoch, agent_id))
            heapq.heapify(self.heap)

    # --- the waiting line -------------------------------------------------------------

    def enqueue(self, key: CallKey) -> None:
        insort(self.waiting, key)

    def remove(self, key: CallKey) -> None:
        index = bisect_left(self.waiting, key)
        if index < len(self.waiting) and self.waiting[index] == key:
            del self.waiting[index]

    def position(self, key: CallKey) -> int:
        """1-based place of ``key`` in the line."""
        return bisect_left(self.waiting, key) + 1

    def min_level(self, waited: float) -> int:
        """The minimum operator level allowed after ``waited`` seconds (skills-based)."""
        if self.config.strategy is not Strategy.SKILLS_BASED or not self.config.relax:
            return 0
        waited += _EPSILON  # a relax timer fires at arrival + step, give or take rounding
        level = 0
        for step in self.config.relax:
            if waited >= step.after_s:
                level = step.min_level
            elif level == 0:
                level = step.min_level  # before the first step: the first step's level
                break
            else:
                break
        return level

    def next_relax(self, waited: float) -> float | None:
        """Seconds of waiting at which the next relax step applies, if any."""
        if self.config.strategy is not Strategy.SKILLS_BASED:
            return None
        waited += _EPSILON
        for step in self.config.relax:
            if step.after_s > waited:
                return step.after_s
        return None

    # --- ready operators --------------------------------------------------------------

    def _heap_key(self, agent: Agent) -> tuple[float, float]:
        strategy = self.config.strategy
        if strategy is Strategy.FEWEST_CALLS:
            return (float(agent.calls_taken), agent.idle_since)
        if strategy is Strategy.SKILLS_BASED:
            return (float(-self.members[agent.agent_id]), agent.idle_since)
        if strategy is Strategy.FIXED_ORDER:
            return (float(self.fixed_rank[agent.agent_id]), 0.0)
        return (agent.idle_since, 0.0)

    def mark_ready(self, agent: Agent) -> None:
        self.ready[agent.agent_id] = None
        if self.config.strategy in _HEAP_STRATEGIES:
            k1, k2 = self._heap_key(agent)
            heapq.heappush(self.heap, (k1, k2, agent.ready_epoch, agent.agent_id))
            if len(self.heap) > 4 * len(self.members) + 64:
                self._compact()

    def mark_unready(self, agent_id: str) -> None:
        self.ready.pop(agent_id, None)
        if not self.ready and self.heap:
            self.heap.clear()  # nobody ready: every entry is stale, drop them in O(1)

    def _compact(self) -> None:
        self.heap = [e for e in self.heap if e[3] in self.ready and self._live(e)]
        heapq.heapify(self.heap)

    def _live(self, entry: HeapEntry) -> bool:
        agent = self._agents(entry[3])
        return agent.state is AgentState.READY and agent.ready_epoch == entry[2]

    _agents: Callable[[str], Agent]

    def bind_agents(self, lookup: Callable[[str], Agent]) -> None:
        self._agents = lookup

    def pick(self, excluded: Iterable[str], min_level: int) -> str | None:
        """The ready member this queue's strategy picks, skipping ``excluded``, at or above
        ``min_level``; ``None`` when nobody qualifies. Ring-all is handled by the caller."""
        if not self.ready:
            return None
        excluded = excluded if isinstance(excluded, (set, frozenset)) else set(excluded)
        strategy = self.config.strategy
        if strategy in _HEAP_STRATEGIES:
            return self._pick_heap(excluded, min_level)
        candidates = [a for a in self.ready
                      if a not in excluded and self.members[a] >= min_level]
        if not candidates:
            return None
        if strategy is Strategy.RANDOM:
            return self.rng.choice(candidates)
        if strategy is Strategy.ROUND_ROBIN:
            size = len(self.order)
            eligible = set(candidates)
            for step in range(size):
                agent_id = self.order[(self.rr_next + step) % size]
                if agent_id in eligible:
                    self.rr_next = (self.rank[agent_id] + 1) % size
                    return agent_id
        return candidates[0]  # ring all: the caller takes every candidate

    def _pick_heap(self, excluded: set[str] | frozenset[str], min_level: int) -> str | None:
        heap = self.heap
        skipped: list[HeapEntry] = []
        found: str | None = None
        while heap:
            entry = heap[0]
            agent_id = entry[3]
            if agent_id not in self.ready or not self._live(entry):
                heapq.heappop(heap)
                continue
            if self.members[agent_id] < min_level:
                break  # skills-based heaps are ordered by level: nobody further qualifies
            if agent_id in excluded:
                skipped.append(heapq.heappop(heap))
                continue
            found = agent_id
            break
        for entry in skipped:
            heapq.heappush(heap, entry)
        return found

    def candidates(self, excluded: set[str], min_level: int) -> list[str]:
        """Every ready member able to take a call now (ring all)."""
        return [a for a in self.ready if a not in excluded and self.members[a] >= min_level]
