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

Talking calls (``--talking N``, 10 by default): before each kill, N calls from the
callers' host by user 2001 to extension 2002, a phone on the callers' host that sends back
every RTP packet it gets (parley.testing.standby.EchoPhone); each caller sends a packet every
20 ms and notes when each comes back through the node. After 1.5 s of talk (the active node
keeps its calls in the store every 0.5 s) the node is killed. Printed per run: for each call
the longest silence from the kill on (the longest time between two packets heard back, the
echo going both ways through the node: about the time from the kill until the new node
relays), median and worst over the calls, and how many heard their audio again within 10
s; then every caller hangs up (BYE, answered by the new node) and the calls end.
Afterwards the median and worst over all runs.

With ``--switch-over`` the active node is not killed: an admin asks it for a planned
switch-over (``POST /api/cluster/switch-over`` with an API token), it hands its answered
calls over and stops by itself (exit code 0), and the same figures are taken from the
request on.

    sudo .venv/bin/python bench/takeover.py --runs 10
    sudo .venv/bin/python bench/takeover.py --runs 10 --switch-over --idle 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from parley.testing.netns import NETNS, Host, Lan, http_request, ip
from parley.testing.peers import process_cpu_seconds
from parley.testing.postgres import ThrowawayPostgres, create_database
from parley.testing.standby import (
    HTTP_PORT,
    NUMBER,
    EchoPhone,
    StandbyNode,
    TalkingCaller,
    admin_token,
    answering_site,
    call_answered,
    database_on_lan,
    health_at,
    nodes,
    talking_devices,
)

FLOATING_NUMBER = 100  # 10.77.0.100/24
STEP_S = 0.05
ECHO_PORT = 5070
CALLER, PASSWORD, CALLEE = "2001", "secret-2001", "2002"
TALK_BEFORE_S = 1.5  # the active node keeps its calls every 0.5 s
RESUME_WITHIN_S = 10.0


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


async def talking(peers: Host, address: str, count: int) -> list[TalkingCaller]:
    """``count`` answered calls to the echoing phone, talking."""
    callers = [TalkingCaller(peers, address, CALLER, PASSWORD, CALLEE) for _ in range(count)]
    answers = await asyncio.gather(*(caller.call() for caller in callers))
    refused = [answer.status for answer in answers if answer.status != 200]
    if refused:
        raise RuntimeError(f"{len(refused)} of {count} calls not answered: {refused[:5]}")
    return callers


def silences(callers: list[TalkingCaller], started: float, until: float) -> list[float]:
    """Per call that heard its audio again before ``until``: the longest silence (seconds
    between two packets heard, 0.02 when none was missed) from just before ``started``."""
    gaps = []
    for caller in callers:
        heard = [at for at in caller.heard if started - 0.1 <= at <= until]
        if not heard or heard[-1] < started:
            continue  # never heard again
        gaps.append(max((later - earlier for earlier, later in itertools.pairwise(heard)),
                        default=0.0))
    return gaps


async def hang_up(callers: list[TalkingCaller]) -> int:
    """Every caller hangs up; how many BYEs were answered 200."""
    answers = await asyncio.gather(*(caller.hang_up() for caller in callers),
                                   return_exceptions=True)
    for caller in callers:
        await caller.close()
    return sum(1 for answer in answers if not isinstance(answer, BaseException)
               and answer.status == 200)


async def one_run(peers: Host, floating: str, active: StandbyNode, standby: StandbyNode,
                  within_s: float, talking_calls: int, token: str | None
                  ) -> tuple[float, float, list[float], int]:
    """Kill ``active`` (with an admin's API ``token``: ask it for a planned switch-over
    instead) with ``talking_calls`` calls talking; (seconds until ``standby`` serves, until
    a new call is answered, the longest silence in each talking call, BYEs answered
    afterwards)."""
    address = floating.split("/")[0]
    callers = await talking(peers, address, talking_calls)
    await asyncio.sleep(TALK_BEFORE_S)

    async def serving() -> bool:
        code, body = await health_at(peers, address)
        return code == 200 and body["node"] == standby.name

    async def answered() -> bool:
        return (await call_answered(peers, address, NUMBER, wait_s=1.0)).status == 200

    process = active.process
    if process is None:
        raise RuntimeError(f"node {active.name} is not running")
    started = time.monotonic()
    if token is None:
        process.kill()
        await process.wait()
        ip("-n", active.host.namespace, "addr", "del", floating, "dev", active.host.device,
           check=False)  # ExecStopPost's part
    else:
        code, body = await http_request(peers, address, HTTP_PORT, "POST",
                                        "/api/cluster/switch-over",
                                        headers={"Authorization": f"Bearer {token}"})
        if code != 202:
            raise RuntimeError(f"switch-over refused: {code} {body!r}")
    took = await asyncio.gather(first_success(serving, started, within_s),
                                first_success(answered, started, within_s))
    if token is not None and await active.exited(within_s=30) != 0:
        raise RuntimeError(f"node {active.name} did not stop cleanly after its switch-over")
    await asyncio.sleep(max(0.0, started + RESUME_WITHIN_S - time.monotonic()))
    resumed = silences(callers, started, started + RESUME_WITHIN_S)
    return took[0], took[1], resumed, await hang_up(callers)


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
    parser.add_argument("--talking", type=int, default=10,
                        help="calls talking when the active node is killed")
    parser.add_argument("--switch-over", action="store_true",
                        help="ask the active node for a planned switch-over instead of "
                             "killing it")
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
        relay, lan_url = await database_on_lan(db, server_url, name)
        token = await admin_token(server_url, Path(folder) / "admin") \
            if args.switch_over else None
        config = answering_site(Path(folder) / "takeover.yaml", devices=talking_devices(
            caller=CALLER, password=PASSWORD, callee=CALLEE,
            callee_contact=f"sip:{CALLEE}@{peers.ip}:{ECHO_PORT}"))
        a, b = (StandbyNode(host, Path(folder), lan_url, floating, args.renew, args.lapse,
                            extra=("--config", str(config)),
                            rtp_ports=f"20000-{20000 + 4 * args.talking + 19}")
                for host in (first, second))
        try:
            async with nodes(a, b), EchoPhone(peers, ECHO_PORT):
                await a.start()  # the first start migrates the database: one at a time
                await b.start()
                active, standby = a, b
                with contextlib.suppress(RuntimeError):
                    await until_roles(peers, a, b)
                _code, body = await health_at(peers, a.host.ip)
                if body.get("role") != "active":
                    active, standby = b, a
                await until_roles(peers, active, standby)
                print(f"{'run':>3} {'from':>6} {'serving s':>9} {'call answered s':>15} "
                      f"{'longest silence s (median/worst)':>32} {'resumed':>7} "
                      f"{'BYE 200':>7}", flush=True)
                serving: list[float] = []
                answered: list[float] = []
                audio: list[float] = []
                lost = 0
                for run in range(1, args.runs + 1):
                    up, call, resumed, byes = await one_run(
                        peers, floating, active, standby, within_s=args.lapse * 5 + 10,
                        talking_calls=args.talking, token=token)
                    serving.append(up)
                    answered.append(call)
                    audio += resumed
                    lost += args.talking - len(resumed)
                    spread = (f"{statistics.median(resumed):.2f} / {max(resumed):.2f}"
                              if resumed else "-")
                    print(f"{run:>3} {active.name:>6} {up:>9.2f} {call:>15.2f} {spread:>32} "
                          f"{len(resumed):>3}/{args.talking:<3} {byes:>3}/{args.talking:<3}",
                          flush=True)
                    await active.start()  # back as the standby
                    active, standby = standby, active
                    await until_roles(peers, active, standby)
                print(f"serving: median {statistics.median(serving):.2f} s, worst "
                      f"{max(serving):.2f} s; call answered: median "
                      f"{statistics.median(answered):.2f} s, worst {max(answered):.2f} s")
                if audio:
                    print(f"audio back in {len(audio)} of {len(audio) + lost} talking calls; "
                          f"longest silence: median {statistics.median(audio):.2f} s, worst "
                          f"{max(audio):.2f} s")
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
