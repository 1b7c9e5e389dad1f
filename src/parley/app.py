"""The composition root: builds every service from typed settings and runs them together.

Nothing else in Parley constructs subsystems; they are wired here through constructors
(DESIGN.md §1.4). Services run in one ``asyncio.TaskGroup``; Ctrl-C cancels the group and each
service shuts down in order (stop accepting, drain, flush, close).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parley.clock import Clock, MonotonicClock
from parley.config import Settings

if TYPE_CHECKING:
    from parley.center import ContactCenter
    from parley.events import TelephonyEvent
    from parley.store import Store
    from parley.telephony.server import Telephony
    from parley.telephony.users import MemoryDirectory, UserDirectory
    from parley.web.node import WebNode


@dataclass
class Services:
    """Everything a running Parley node is made of."""

    settings: Settings
    clock: Clock
    runners: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    banner: list[str] = field(default_factory=list)
    #: bound before ``ready`` runs, so that a port in use fails before the banner is printed
    starters: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    #: awaited after the runners start and before ``ready``: the banner promises only what serves
    readiness: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    telephony: Telephony | None = None
    web: WebNode | None = None
    center: ContactCenter | None = None


def build(settings: Settings, *, demo: bool = False) -> Services:
    """Build the node's services from settings; ``demo`` adds the demo configuration.

    SIP users come from the store's devices (HA1 hashes only), loaded when the store opens and
    reloaded whenever devices change through the API or an import.
    """
    from parley.telephony.users import MemoryDirectory

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    services = Services(settings=settings, clock=MonotonicClock())
    users = MemoryDirectory()
    build_web(services, users, demo=demo)
    build_telephony(services, users, demo=demo)
    return services


def build_web(services: Services, users: MemoryDirectory, *, demo: bool = False) -> None:
    """Add the store, REST API, live events, webhooks and recorders; fill ``users`` from the
    store's devices. ``demo`` imports the demo configuration and prints the admin's login."""
    settings = services.settings

    async def start() -> None:
        from parley.bus import LiveBus
        from parley.provisioning import load_demo
        from parley.store import build_store
        from parley.web.node import build_web_node

        store = await build_store(settings, clock=services.clock)
        demo_login = await load_demo(store) if demo else None
        bus = LiveBus(services.clock)
        calls, center = await build_center(services, store, bus)
        node = await build_web_node(settings, services.clock, bus=bus, store=store,
                                    calls=calls, center=center)
        node.demo_login = demo_login
        services.web = node
        await load_sip_users(node.store, users)
        if services.telephony is not None:

            def publish(event: TelephonyEvent) -> None:
                bus.publish(event)

            services.telephony.subscribe(publish)

    async def listening() -> None:
        node = services.web
        if node is None:  # pragma: no cover - start() always runs first
            raise RuntimeError("the web node was not started")
        await node.server.ready.wait()
        services.banner.append(f"Web and REST API: {node.url}/api/docs")
        if node.demo_login is not None:
            services.banner.append(f"Admin login: user {node.demo_login.username}, "
                                   f"password {node.demo_login.password}")

    async def run() -> None:
        if services.web is None:  # pragma: no cover - start() always runs first
            raise RuntimeError("the web node was not started")
        async with asyncio.TaskGroup() as group:
            group.create_task(services.web.run())
            group.create_task(_reload_sip_users_on_change(services.web, users))
            if services.center is not None:
                from parley.center.callbacks import CallbackKeeper

                keeper = CallbackKeeper(services.center, services.web.store, services.web.bus)
                group.create_task(services.center.run())
                group.create_task(keeper.run())
                group.create_task(_reload_center_on_change(services.web, services.center))

    services.starters.insert(0, start)  # users are loaded before SIP starts answering
    services.runners.append(run)
    services.readiness.append(listening)


async def load_sip_users(store: Store, users: MemoryDirectory) -> None:
    """Replace the SIP directory's users with the store's devices for the SIP realm."""
    import structlog

    from parley.telephony.users import SipUser

    log = structlog.get_logger("parley.app")
    loaded: list[SipUser] = []
    for device in await store.directory.devices():
        if device.realm != TELEPHONY_REALM:
            log.warning("sip_device_skipped", device=device.username, realm=device.realm,
                        reason=f"credentials are for realm {device.realm!r}, the SIP server's "
                               f"realm is {TELEPHONY_REALM!r}: set the device password again")
            continue
        hashes = {name: value for name, value in (("MD5", device.ha1_md5),
                                                  ("SHA-256", device.ha1_sha256)) if value}
        loaded.append(SipUser(name=device.username, ha1=hashes,
                              static_contact=device.static_contact))
    users.replace(loaded)


async def _reload_sip_users_on_change(node: WebNode, users: MemoryDirectory) -> None:
    from parley.events import ConfigurationChanged

    async with node.bus.subscribe(
            lambda envelope: isinstance(envelope.event, ConfigurationChanged)
            and envelope.event.kind in {"devices", "site"}, lossless=True) as changes:
        async for _change in changes:
            await load_sip_users(node.store, users)


async def build_center(services: Services, store: Store, bus: Any
                       ) -> tuple[Any, Any]:
    """The contact center (IVR flows, queues, operators) over the node's telephony, and the
    live seams it gives the web layer; (None, None) on a node without telephony."""
    if services.telephony is None:
        return None, None
    from parley.center import ContactCenter, load_center_config
    from parley.center.live import LiveCalls, LiveCenter

    config = await load_center_config(store)
    center = ContactCenter(services.telephony, services.clock, config, publish=bus.publish,
                           data_dir=services.settings.data_dir)
    services.center = center
    return LiveCalls(center), LiveCenter(center)


CENTER_CONFIG_KINDS = frozenset({"queues", "users", "devices", "numbers", "flows",
                                 "number_lists", "site", "config"})


async def _reload_center_on_change(node: WebNode, center: ContactCenter) -> None:
    """Configuration changed through the API or an import: the contact center takes it."""
    import structlog

    from parley.center import load_center_config
    from parley.events import ConfigurationChanged

    log = structlog.get_logger("parley.app")
    async with node.bus.subscribe(
            lambda envelope: isinstance(envelope.event, ConfigurationChanged)
            and envelope.event.kind in CENTER_CONFIG_KINDS, lossless=True) as changes:
        async for _change in changes:
            try:
                center.apply_config(await load_center_config(node.store))
            except Exception:
                log.exception("center_reload_failed")


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
                          realm=realm, data_dir=settings.data_dir, media=settings.media),
        users, services.clock)
    services.telephony = telephony
    services.starters.append(telephony.start)
    services.runners.append(telephony.run)
    if demo:
        from parley.telephony.dialplan import echo_test

        telephony.dialplan.add_number("500", echo_test)
        host, port = settings.host, settings.sip_port
        services.banner += [
            f"Parley demo: SIP on {host}:{port} (UDP and TCP), RTP ports "
            f"{settings.rtp_ports.first}-{settings.rtp_ports.last}.",
            "Users: extensions 1001 to 1010; each SIP password is 'pw' followed by the "
            "extension (1001 -> pw1001).",
            f"Softphone: account sip:1001@{host}:{port}, user name 1001, password pw1001, "
            "transport UDP or TCP.",
            "Register a second phone as 1002 and dial 1002 from 1001 (or the other way).",
            "Echo test: dial 500 and hear yourself.",
            "Contact center: dial 600 (menu: 1 sales, 2 support), 601 (sales queue), 602 "
            "(support queue), 800 (voicemail). A registered phone logs its operator in, "
            "ready: 1001-1005 serve support, 1006-1010 sales.",
            f"baresip: add  <sip:1001@{host}:{port}>;auth_pass=pw1001  to ~/.baresip/accounts",
        ]


def settle_memory() -> None:
    """Once started: keep start-up objects, which live as long as the node, out of the
    collector's working set, and collect less often (measured by bench/sip_cps: fewer pauses
    in the SIP and RTP paths under load)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


async def serve(services: Services, *, ready: Callable[[Services], None] | None = None) -> None:
    """Run every service until cancelled or until one of them fails."""
    for starter in services.starters:
        await starter()
    settle_memory()
    async with asyncio.TaskGroup() as group:
        for runner in services.runners:
            group.create_task(runner())
        if not services.runners:
            group.create_task(asyncio.Event().wait())
        for check in services.readiness:
            await check()  # a runner that fails to start cancels this wait and raises
        if ready is not None:
            ready(services)


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
