"""The ACD core as its extensions see it: the few operations callbacks and outbound work use.

``acd/callbacks.py`` and ``acd/outbound.py`` are the ACD's handlers for callbacks and for the
dialer's work; they take an :class:`AcdCore`, never the ``Acd`` class, so they cannot come to
depend on its private fields. ``Acd`` satisfies the protocol (mypy checks it where ``Acd``
registers their handlers). Shells do not use these operations: they feed events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from parley.acd.agent import Agent, AgentState, Trigger
    from parley.acd.calls import AcdCall
    from parley.acd.config import SiteConfig
    from parley.acd.outbound import OutboundWork
    from parley.acd.routing import QueueRuntime
    from parley.acd.stats import AgentStats


class AcdCore(Protocol):
    """What an ACD extension may read and do."""

    # --- state it reads (and, for the maps of calls and outbound work, keeps up to date) ---

    @property
    def site(self) -> SiteConfig: ...

    @property
    def wall(self) -> Callable[[float], datetime]:
        """UTC wall time at a monotonic reading (scheduled callbacks are wall-clock times)."""
        ...

    @property
    def queues(self) -> Mapping[str, QueueRuntime]: ...

    @property
    def agents(self) -> Mapping[str, Agent]: ...

    @property
    def agent_stats(self) -> Mapping[str, AgentStats]: ...

    @property
    def calls(self) -> dict[str, AcdCall]:
        """Inbound calls and callbacks the ACD holds, by id."""
        ...

    @property
    def outbound(self) -> dict[str, OutboundWork]:
        """Each operator's outbound work, by operator id."""
        ...

    @property
    def outbound_calls(self) -> dict[str, str]:
        """Outbound call id -> the operator it is for."""
        ...

    # --- operations ---------------------------------------------------------------------

    def agent(self, agent_id: str) -> Agent:
        """The operator ``agent_id``; ``AcdError`` if unknown."""
        ...

    def next_seq(self) -> int:
        """The next arrival sequence number (ties in a queue go to the lower one)."""
        ...

    def schedule(self, when: float, kind: str, *args: Any) -> None:
        """Run the core's timer ``kind`` with ``args`` at ``when``."""
        ...

    def emit(self, item: Any) -> None:
        """Append a command or notice to what the current ``handle``/``on_time`` returns."""
        ...

    def arrive(self, call: AcdCall, runtime: QueueRuntime) -> None:
        """``call`` enters the queue: arrival rules, then an operator or the waiting line."""
        ...

    def leave_line(self, call: AcdCall) -> None:
        """Take ``call`` out of its queue's waiting line, if it is in it."""
        ...

    def move(self, agent: Agent, trigger: Trigger, *, target: AgentState | None = None,
             cause: str = "", reason: str = "", call_id: str = "") -> None:
        """Apply an operator state transition and publish it."""
        ...

    def release(self, agent: Agent, cause: str) -> None:
        """Free an operator whose offer ended through no fault of theirs."""
        ...

    def connect(self, call: AcdCall, agent: Agent) -> None:
        """``agent`` takes ``call``: other offers are withdrawn, statistics count it."""
        ...

    def begin_handle(self, agent_id: str, queue: str, now: float) -> None:
        """Start the handle time of the operator's conversation ("" queue: outbound)."""
        ...

    def cancel_handle(self, agent_id: str) -> None:
        """Forget a handle time begun for a conversation that never took place."""
        ...

    def free_after_miss(self, agent: Agent, trigger: Trigger, cause: str, *,
                        counted: bool = True) -> None:
        """Free an operator who did not take a call given to them, counting the miss."""
        ...

    def end_wrap_up(self, agent: Agent, then: str = "") -> None:
        """End after-call work now."""
        ...

    def arm_wrap(self, agent: Agent, seconds: float) -> None:
        """End after-call work in ``seconds``."""
        ...

    def hold_inbound(self, agent_id: str, seconds: float) -> None:
        """Outbound first: once the operator is next ready, keep inbound away ``seconds``."""
        ...
