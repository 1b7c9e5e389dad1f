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
from typing import TYPE_CHECKING, Any

from parley.clock import Clock, MonotonicClock
from parley.config import Settings

if TYPE_CHECKING:
    from parley.telephony.server import Telephony
    from parley.telephony.users import UserDirectory


@dataclass
class Services:
    """Everything a running Parley node is made of."""

    settings: Settings
    clock: Clock
    runners: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    banner: list[str] = field(default_factory=list)
    #: bound before ``ready`` runs, so that a port in use fails before the banner is printed
    starters: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    telephony: Telephony | None = None


def build(settings: Settings, *, demo: bool = False) -> Services:
    """Build the node's services from settings; ``demo`` adds the demo configuration."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    services = Services(settings=settings, clock=MonotonicClock())
    if demo:
        from parley.telephony.users import demo_directory

        build_telephony(services, demo_directory(TELEPHONY_REALM), demo=True)
    return services


TELEPHONY_REALM = "parley"


def build_telephony(services: Services, users: UserDirectory, *, demo: bool = False) -> None:
    """Add the SIP server (UDP+TCP), registrar, B2BUA and RTP relay for ``users``.

    The demo calls it with users 1001-1010; a node serving users from the store calls it with
    the store's :class:`~parley.telephony.users.UserDirectory` (HA1 hashes for the realm
    ``TELEPHONY_REALM``).
    """
    from parley.telephony.server import Telephony, TelephonySettings

    settings = services.settings
    realm = TELEPHONY_REALM
    telephony = Telephony(
        TelephonySettings(host=settings.host, sip_port=settings.sip_port,
                          rtp_ports=(settings.rtp_ports.first, settings.rtp_ports.last),
                          realm=realm),
        users, services.clock)
    services.telephony = telephony
    services.starters.append(telephony.start)
    services.runners.append(telephony.run)
    if demo:
        host, port = settings.host, settings.sip_port
        services.banner += [
            f"Parley demo: SIP on {host}:{port} (UDP and TCP), RTP ports "
            f"{settings.rtp_ports.first}-{settings.rtp_ports.last}.",
            "Users: extensions 1001 to 1010; each SIP password is 'pw' followed by the "
            "extension (1001 -> pw1001).",
            f"Softphone: account sip:1001@{host}:{port}, user name 1001, password pw1001, "
            "transport UDP or TCP.",
            "Register a second phone as 1002 and dial 1002 from 1001 (or the other way).",
            f"baresip: add  <sip:1001@{host}:{port}>;auth_pass=pw1001  to ~/.baresip/accounts",
        ]


async def serve(services: Services, *, ready: Callable[[Services], None] | None = None) -> None:
    """Run every service until cancelled or until one of them fails."""
    for starter in services.starters:
        await starter()
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
