"""The composition root: builds every service from typed settings and runs them together.

Nothing else in Parley constructs subsystems; they are wired here through constructors
(DESIGN.md §1.4). Services run in one ``asyncio.TaskGroup``; Ctrl-C cancels the group and each
service shuts down in order (stop accepting, drain, flush, close).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from parley.clock import Clock, MonotonicClock
from parley.config import Settings


@dataclass
class Services:
    """Everything a running Parley node is made of."""

    settings: Settings
    clock: Clock
    runners: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    banner: list[str] = field(default_factory=list)


def build(settings: Settings, *, demo: bool = False) -> Services:
    """Build the node's services from settings; ``demo`` adds the demo configuration."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Services(settings=settings, clock=MonotonicClock())


async def serve(services: Services, *, ready: Callable[[Services], None] | None = None) -> None:
    """Run every service until cancelled or until one of them fails."""
    if ready is not None:
        ready(services)
    async with asyncio.TaskGroup() as group:
        for runner in services.runners:
            group.create_task(runner())
        if not services.runners:
            group.create_task(asyncio.Event().wait())


def run(services: Services, *, ready: Callable[[Services], None] | None = None) -> None:
    """Run the node in the foreground until SIGINT or SIGTERM, then shut down cleanly."""

    async def main() -> None:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task here
            raise RuntimeError("parley must run inside an asyncio task")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serve(services, ready=ready)

    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(main())
    else:
        uvloop.run(main())
