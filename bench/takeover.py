"""Hot standby: how long the site is without service when the active node is killed, and
what the standby costs while it waits.

Method: a LAN of network namespaces on this machine (parley.testing.netns; root and
iproute2 needed): two hosts running ``parley serve`` as nodes ``a`` and ``b`` of one
cluster on a throw-away PostgreSQL server (Debian's binaries, reached over the LAN through
a relay in the machine's own namespace), both serving on the floating address 10.77.0.100
with the shipped lease timing (``--renew`` 1 s, ``--lapse`` 3 s) and number 700 (a flow that
answers, plays a beep and hangs up); a third host for the callers. Each run: both nodes up,
one active; the active one is killed with SIGKILL and, as its service manager's
``ExecStopPost`` would (docs/deployment.md), the floating address is removed from its
host. From the callers' host, every 50 ms, the health at the floating address is asked and
a call to 700 is placed (INVITE with a PCMU offer, 1 s for an answer; on 200 OK it is
acknowledged and hung up). Printed per run: seconds from the kill until the other node's
health says it is active ("serving") and until a call is answered ("call answered"); then
the killed node is started again and stands by (the roles alternate). Afterwards the median
and the worst of each, and the CPU each node used over ``--idle`` seconds with no calls (user
+ system from /proc, % of one core; the standby asks for the lease every renew interval and
keeps its configuration, prompts and registrations warm from the store).

Answered calls do not survive a takeover yet (docs/deployment.md, "Not done yet"), so the
time until audio resumes in a call that was talking is not measured.

    sudo .venv/bin/python bench/takeover.py --runs 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from parley.testing.netns import NETNS, Host, Lan, TcpRelay, ip
from parley.testing.peers import process_cpu_seconds
from parley.testing.postgres import ThrowawayPostgres, create_database
from parley.testing.standby import (
    NUMBER,
    StandbyNode,
    answering_site,
    call_answered,
    health_at,
    nodes,
)

FLOATING_NUMBER = 100  # 10.77.0.100/24
DB_PORT = 5432
STEP_S = 0.05


async def first_success(probe: Callable[[], Awaitable[bool]], started: float,
                        within_s: float) -> float:
    """Seconds from ``started`` until ``probe()`` first comes true, tried every STEP_S."""
    while time.monotonic() - started < within_s:
        attempt = time.monotonic()
        with contextlib.suppress(OSError, TimeoutError, ValueError, KeyError):
            if await probe():
                return time.monotonic() - started
        await asyncio.sleep(max(0.0, STEP_S - (time.monotonic() - attempt)))
    raise RuntimeError(f"nothing within {within_s} s")


async def until_roles(peers: Host, active: StandbyNode, standby: StandbyNode) -> None:
    """Wait until ``active`` serves and ``standby`` says it stands by (their own addresses)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, TimeoutError, ValueError):
            up, _ = await health_at(peers, active.host.ip)
            waiting, body = await health_at(peers, standby.host.ip)
            if up == 200 and waiting == 503 and body.get("role") == "standby":
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{active.name} did not become active with {standby.name} standing by")


async def one_run(peers: Host, floating: str, active: StandbyNode, standby: StandbyNode,
                  within_s: float) -> tuple[float, float]:
    """Kill ``active``; (seconds until ``standby`` serves, until a call is answered)."""
    address = floating.split("/")[0]

    async def serving() -> bool:
        code, body = await health_at(peers, address)
        return code == 200 and body["node"] == standby.name

    async def answered() -> bool:
        return (await call_answered(peers, address, NUMBER, wait_s=1.0)).status == 200

    process = active.process
    if process is None:
        raise RuntimeError(f"node {active.name} is not running")
    started = time.monotonic()
    process.kill()
    await process.wait()
    ip("-n", active.host.namespace, "addr", "del", floating, "dev", active.host.device,
       check=False)  # ExecStopPost's part
    took = await asyncio.gather(first_success(serving, started, within_s),
                                first_success(answered, started, within_s))
    return took[0], took[1]


async def idle_cpu(members: list[StandbyNode], seconds: float) -> dict[str, float]:
    """Each node's CPU over ``seconds`` with no calls, % of one core."""
    pids = {member.name: member.process.pid for member in members if member.process}
    before = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
    await asyncio.sleep(seconds)
    return {name: 100 * (process_cpu_seconds(pid) - before[name]) / seconds
            for name, pid in pids.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--renew", type=float, default=1.0, help="renew interval, seconds")
    parser.add_argument("--lapse", type=float, default=3.0, help="lease lapse, seconds")
    parser.add_argument("--idle", type=float, default=30.0,
                        help="seconds over which the idle nodes' CPU is measured")
    args = parser.parse_args()
    if not NETNS.present():
        parser.error(NETNS.message())
    print(f"machine: {os.cpu_count()} cores; renew {args.renew:g} s, lapse {args.lapse:g} s",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="parley-takeover-") as folder, \
            contextlib.ExitStack() as stack:
        postgres = ThrowawayPostgres()
        stack.callback(postgres.stop)
        await asyncio.to_thread(postgres.start)
        server_url, name = await asyncio.to_thread(create_database, postgres.url)
        lan = Lan()
        stack.callback(lan.close)
        lan.open()
        first, second = lan.add("a", 1), lan.add("b", 2)
        peers, db = lan.add("peers", 3), lan.add("db", 4)
        floating = str(lan.address(FLOATING_NUMBER))
        target = urlsplit(server_url)
        relay = await TcpRelay(db.listener(DB_PORT),
                               (target.hostname or "127.0.0.1", target.port or 5432)).start()
        config = answering_site(Path(folder) / "takeover.yaml")
        lan_url = f"postgresql://{target.username}@{db.ip}:{DB_PORT}/{name}"
        a, b = (StandbyNode(host, Path(folder), lan_url, floating, args.renew, args.lapse,
                            extra=("--config", str(config))) for host in (first, second))
        try:
            async with nodes(a, b):
                await a.start()  # the first start migrates the database: one at a time
                await b.start()
                active, standby = a, b
                with contextlib.suppress(RuntimeError):
                    await until_roles(peers, a, b)
                _code, body = await health_at(peers, a.host.ip)
                if body.get("role") != "active":
                    active, standby = b, a
                await until_roles(peers, active, standby)
                print(f"{'run':>3} {'killed':>6} {'serving s':>9} {'call answered s':>15}",
                      flush=True)
                serving: list[float] = []
                answered: list[float] = []
                for run in range(1, args.runs + 1):
                    up, call = await one_run(peers, floating, active, standby,
                                             within_s=args.lapse * 5 + 10)
                    serving.append(up)
                    answered.append(call)
                    print(f"{run:>3} {active.name:>6} {up:>9.2f} {call:>15.2f}", flush=True)
                    await active.start()  # back as the standby
                    active, standby = standby, active
                    await until_roles(peers, active, standby)
                print(f"serving: median {statistics.median(serving):.2f} s, worst "
                      f"{max(serving):.2f} s; call answered: median "
                      f"{statistics.median(answered):.2f} s, worst {max(answered):.2f} s")
                cpu = await idle_cpu([active, standby], args.idle)
                print(f"idle CPU over {args.idle:g} s: active {active.name} "
                      f"{cpu[active.name]:.1f} %, standby {standby.name} "
                      f"{cpu[standby.name]:.1f} % of one core")
                for member in (active, standby):
                    await member.stop(signal.SIGTERM)
        except BaseException:
            for member in (a, b):
                print(f"--- node {member.name}", file=sys.stderr)
                print(member.output.decode(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            await relay.close()


if __name__ == "__main__":
    asyncio.run(main())
