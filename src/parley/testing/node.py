"""A whole Parley node (store, web, telephony, contact center) in-process on free loopback
ports, as ``parley demo`` builds it, for the real-call tests and the benchmarks that drive it;
and a configuration change made as the API makes it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from parley.app import Node, build, serve
from parley.bus import Envelope
from parley.clock import Clock
from parley.config import PortRange, Settings
from parley.events import ConfigurationChanged
from parley.store.credentials import Passwords
from parley.store.database import SQLITE_FILE
from parley.store.specs import Spec
from parley.testing.ports import free_port, free_port_block
from parley.testing.postgres import migrated_sqlite


@contextlib.asynccontextmanager
async def demo_node(tmp_path: Path, *, database_url: str | None = None,
                    clock: Clock | None = None, rtp_ports: int = 200,
                    sip_port: int | None = None, http_port: int | None = None,
                    **more: object) -> AsyncIterator[Node]:
    """``parley demo`` on free loopback ports with its data in ``tmp_path`` (and its store at
    ``database_url``, by default a SQLite file there), on ``clock`` (by default the real
    one), with a block of ``rtp_ports`` media ports, on ``sip_port`` and ``http_port`` if given
    (a node started again where phones and pages knew it); ``more`` are further settings. Login
    passwords are hashed at argon2's lowest cost: the demo's twenty-odd users would take
    about two seconds at production's cost on every start."""
    rtp_first = free_port_block(rtp_ports)
    more.setdefault("records_interval_s", 0.1)  # tests read the records a call leaves at once
    if database_url is None and not (tmp_path / "data" / SQLITE_FILE).exists():
        (tmp_path / "data").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(await asyncio.to_thread(migrated_sqlite),
                        tmp_path / "data" / SQLITE_FILE)
    # SIP (UDP and TCP) outside the media block, the web server (TCP) on neither
    media = range(rtp_first, rtp_first + rtp_ports)
    sip_port = sip_port or free_port(avoid=media)
    http_port = http_port or free_port(avoid={sip_port})
    settings = Settings(host="127.0.0.1", sip_port=sip_port, http_port=http_port,
                        data_dir=tmp_path / "data", database_url=database_url,
                        rtp_ports=PortRange(first=rtp_first, last=rtp_first + rtp_ports - 1),
                        **more)  # type: ignore[arg-type]
    services = await build(settings, demo=True, clock=clock, passwords=Passwords.cheap())
    ready = asyncio.Event()
    task = asyncio.create_task(serve(services, ready=lambda _services: ready.set()))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # raises what stopped it
    assert ready.is_set(), "the node did not start within 30 s"  # noqa: S101 - tests' helper
    try:
        yield services
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        let_stopped_nodes_go()


#: Stopped nodes after which their frozen objects are let go, in one scan (about 200,000
#: objects each).
LET_GO_EVERY = 10
#: how often :func:`reloaded` looks whether the node's reloaders are done
RELOAD_STEP_S = 0.01
#: how many nodes were stopped since their objects were last let go
_stopped = [0]


def let_stopped_nodes_go(every: int | None = None) -> None:
    """Collect the nodes this process ran and stopped, every ``every`` stopped nodes (default
    :data:`LET_GO_EVERY`). A node freezes everything in its process as it starts
    (``settle_memory``), so each one started in-process (the tests start hundreds) stays,
    about 30 MB each; unfreezing after every node instead costs a scan of the whole process
    at every later collection. Nodes are counted, not frozen objects: counting those walks
    all of them (``gc.get_freeze_count``, 50 ms with a few million)."""
    _stopped[0] += 1
    if _stopped[0] >= (LET_GO_EVERY if every is None else every):
        _stopped[0] = 0
        gc.unfreeze()
        gc.collect()
        gc.freeze()


async def change(services: Node, kind: str, spec: Spec) -> None:
    """Change a configuration record as the API does: store it, announce it, and wait until
    every reloader that takes the change has reloaded."""
    await services.store.config.put(kind, spec)
    announced = services.bus.publish(ConfigurationChanged(kind, spec.key, "update"))
    await reloaded(services, announced)


async def reloaded(services: Node, announced: Envelope, *, within_s: float = 30.0) -> None:
    """Until each of the node's reloaders that takes ``announced`` is done with it (waits
    for more, with nothing left)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while any(not changes.idle for changes in services.reloads if changes.accept(announced)):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"the node did not reload {announced.event} within {within_s} s")
        await asyncio.sleep(RELOAD_STEP_S)
