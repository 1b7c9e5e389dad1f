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
+ system from /proc, % of one core; the standby reads the lease four times a renew interval
and keeps its configuration, prompts and registrations warm from the store).

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

The contact center through the takeover (``--center N``, instead of the talking calls
above), with the peers a site has: the site has a queue served by N operators; N - 1 of
their phones are one sipp answerer on the peers' host at their static contacts, sending
back every RTP packet it gets (``-rtp_echo``, as the inbound benchmark's operators), the
last is a baresip softphone registered with the node, playing its own voice. Before each
kill, sipp places N calls to the queue's number, 50 a second, each playing a caller's voice
(noise from a capture) and put through to the N operators (talking), then N more that wait
in the queue with hold music (the issue's 100 calls for N = 50). What each caller hears is
taken on the peers' host's interface (parley.testing.capture: every RTP packet with the
kernel's arrival time, by the caller's media port). After the kill: per talking call the
longest silence from the kill over 10 s, and whether in the last 3 s of those the caller
hears its operator ("both ways": its own voice echoed back through the operator's phone,
or baresip's voice; audio_similarity above 0.5); per waiting caller the longest silence in
its hold music. The talking callers hang up when their voice ends (sipp's BYE, answered by
the new node); each operator, free again, is offered a waiting caller, and 12 s later each
waiting caller must be hearing an operator ("reached"); then they hang up too ("sipp ok":
calls that ended well, every request answered). Last, the call records of the run are
counted in the store: one per call (none lost, none twice), each closed, each answered by
an operator. With ``--load R`` sipp also places R new calls a second to number 730 (as
below) from 2 s before the first caller until the waiting callers are through.

Under load (``--load R``, with the talking calls): from 2 s before the kill until the
talking calls' 10 s are over, sipp on the callers' host places R new calls a second to
number 730 (answered, a beep, a menu waiting for a key; sipp hangs up after 1 s), about
R calls up at any time besides the talking ones. Printed per run besides the figures
above: how many of sipp's calls succeeded and failed (those in progress at the kill, and
those placed while no node serves, fail: a takeover of the calls in the IVR needs them
answered first, and sipp gives up on an unanswered INVITE after its retransmissions).

With ``--cut`` (``--center`` only) the active node is not killed: its host's link goes
down (``ip link set eth0 down`` in its namespace), so it can renew its lease no more; it
stops serving and exits by itself, and the standby takes over as after a kill; after the
run the link comes up again and the node starts as the standby.

With ``--switch-over`` the active node is not killed: an admin asks it for a planned
switch-over (``POST /api/cluster/switch-over`` with an API token), it hands its answered
calls over and stops by itself (exit code 0), and the same figures are taken from the
request on.

    sudo .venv/bin/python bench/takeover.py --runs 10
    sudo .venv/bin/python bench/takeover.py --runs 10 --switch-over --idle 2
    sudo .venv/bin/python bench/takeover.py --runs 10 --center 50 --idle 2
    sudo .venv/bin/python bench/takeover.py --runs 3 --center 50 --load 100 --idle 2
    sudo .venv/bin/python bench/takeover.py --runs 3 --center 50 --cut --idle 2
    sudo .venv/bin/python bench/takeover.py --runs 10 --talking 50 --load 100 --idle 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from parley.store import open_store
from parley.store.database import database_url
from parley.testing.capture import RtpCapture
from parley.testing.media import audio_packets, write_pcap
from parley.testing.netns import NETNS, Host, Lan, http_request, ip
from parley.testing.peers import (
    Baresip,
    SippResult,
    noise_signal,
    process_cpu_seconds,
    write_wav,
)
from parley.testing.postgres import ThrowawayPostgres, create_database
from parley.testing.standby import (
    HTTP_PORT,
    NUMBER,
    QUEUE_NUMBER,
    SIP_PORT,
    EchoPhone,
    StandbyNode,
    TalkingCaller,
    admin_token,
    answering_site,
    call_answered,
    database_on_lan,
    echo_contacts,
    echo_phones,
    health_at,
    load_caller,
    nodes,
    queueing_site,
    talking_devices,
    voice_callers,
)

FLOATING_NUMBER = 100  # 10.77.0.100/24
STEP_S = 0.05
ECHO_PORT = 5070
CALLER, PASSWORD, CALLEE = "2001", "secret-2001", "2002"
TALK_BEFORE_S = 1.5  # the active node keeps its calls every 0.5 s
RESUME_WITHIN_S = 10.0
REACHED_WITHIN_S = 15.0
OPERATOR_PASSWORD = "secret-op"  # noqa: S105 - the throw-away site's phones
# --center: each call's media port counts from these on the peers' host (by fours)
TALKER_MEDIA, WAITER_MEDIA = 40000, 50000
CALL_RATE = 50.0  # calls a second sipp places to the queue
WAIT_FOR_OPERATORS_S = 10.0  # for the N talking callers to be put through
CUT_EXIT_S = 120.0  # --cut: how long the cut-off node may take to exit by itself
SIMILAR = 0.5  # audio_similarity: unrelated audio scores near 0, a G.711 path above 0.9


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
                  within_s: float, talking_calls: int, token: str | None,
                  load: float = 0.0, workdir: Path | None = None
                  ) -> tuple[float, float, list[float], int, SippResult | None]:
    """Kill ``active`` (with an admin's API ``token``: ask it for a planned switch-over
    instead) with ``talking_calls`` calls talking (and ``load`` new calls a second);
    (seconds until ``standby`` serves, until a new call is answered, the longest silence in
    each talking call, BYEs answered afterwards, sipp's figures under load)."""
    address = floating.split("/")[0]
    loader = None
    if load:
        loader = load_caller(peers, address, workdir or Path("."), load)
        await loader.start()
        await asyncio.sleep(2.0)  # the load is on before the talking calls and the kill
    callers = await talking(peers, address, talking_calls)
    await asyncio.sleep(TALK_BEFORE_S)

    started, took = await takeover(peers, floating, active, standby, within_s, token)
    resumed = silences(callers, started, started + RESUME_WITHIN_S)
    loaded = await loader.stop() if loader is not None else None
    return took[0], took[1], resumed, await hang_up(callers), loaded


def operator_names(count: int) -> list[tuple[str, str, str]]:
    """The ``--center`` site's operators: (user, device, SIP password)."""
    return [(f"op{i:03d}", f"3{i:03d}", OPERATOR_PASSWORD) for i in range(count)]


async def wait_for(condition: Callable[[], bool], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


@dataclasses.dataclass
class CenterRun:
    """One ``--center`` run's figures, taken from the peers' capture and sipp."""

    serving: float
    answered: float
    talking: list[float]  # the longest silence of each talking call that heard audio again
    both_ways: int  # talking calls whose caller hears its operator after the takeover
    waiting: list[float]  # the longest silence in the hold music of each waiting caller
    reached: int  # waiting callers who talked with an operator after the takeover
    calls_ok: int  # sipp's calls that ended well (every BYE answered), of 2N
    records: int  # the run's call records in the store
    closed_answered: int  # of them, closed and answered by an operator
    loaded: SippResult | None = None  # the new calls placed meanwhile (--load)


async def center_run(peers: Host, floating: str, active: StandbyNode, standby: StandbyNode,
                     count: int, voice: tuple[Path, Path], soft_source: Path, database: str,
                     folder: Path, within_s: float, token: str | None, run: int,
                     load: float = 0.0, cut: bool = False) -> CenterRun:
    """Kill ``active`` (or ask it for a switch-over) with ``count`` sipp callers talking to
    the operators and as many waiting (and ``load`` new calls a second to HOLD_NUMBER
    from before the first caller until the waiting ones are through); see the module
    docstring."""
    address = floating.split("/")[0]
    voice_pcap, voice_wav = voice
    workdir = folder / f"run-{run}"
    loader = None
    if load:
        loader = load_caller(peers, address, workdir / "load", load)
        await loader.start()
        await asyncio.sleep(2.0)
    talk_s = WAIT_FOR_OPERATORS_S + TALK_BEFORE_S + RESUME_WITHIN_S + 2.0
    talkers = voice_callers(peers, workdir / "talkers", address, voice_pcap, calls=count,
                            talk_s=talk_s, media_port=TALKER_MEDIA, rate=CALL_RATE)
    waiters = voice_callers(peers, workdir / "waiters", address, voice_pcap, calls=count,
                            talk_s=talk_s + REACHED_WITHIN_S, media_port=WAITER_MEDIA,
                            rate=CALL_RATE)
    since = datetime.now(UTC)
    async with RtpCapture(peers) as capture:
        def hearing(lowest: int, highest: int) -> list[int]:
            now = time.monotonic()
            return [port for port in capture.ports(lowest=lowest, highest=highest)
                    if capture.count_between(port, now - 1.0, now) >= 40]

        talker_ports = (TALKER_MEDIA, TALKER_MEDIA + 4 * count - 1)
        waiter_ports = (WAITER_MEDIA, WAITER_MEDIA + 4 * count - 1)
        await talkers.start()
        if not await wait_for(lambda: len(hearing(*talker_ports)) == count,
                              WAIT_FOR_OPERATORS_S):
            raise RuntimeError(f"only {len(hearing(*talker_ports))} of {count} callers put "
                               f"through to operators")
        talking_ports = capture.ports(lowest=talker_ports[0], highest=talker_ports[1])
        await waiters.start()
        if not await wait_for(lambda: len(hearing(*waiter_ports)) == count,
                              WAIT_FOR_OPERATORS_S):
            raise RuntimeError("the waiting callers do not all hear hold music")
        waiting_ports = capture.ports(lowest=waiter_ports[0], highest=waiter_ports[1])
        await asyncio.sleep(TALK_BEFORE_S)

        started, took = await takeover(peers, floating, active, standby, within_s, token,
                                       cut)
        end = started + RESUME_WITHIN_S
        talk = [capture.longest_silence(port, started - 0.1, end) for port in talking_ports
                if capture.first_after(port, started + 0.1) is not None]
        music = [capture.longest_silence(port, started - 0.1, end) for port in waiting_ports
                 if capture.first_after(port, started + 0.1) is not None]
        sources = [voice_wav, soft_source]
        both_ways = sum(1 for port in talking_ports if capture.hears(
            port, end - 3.0, end, sources, workdir / f"heard-{port}.wav") > SIMILAR)
        talked = await talkers.wait(within=talk_s + 60)
        await asyncio.sleep(REACHED_WITHIN_S - 3.0)  # the waiting callers put through
        now = time.monotonic()
        reached = sum(1 for port in waiting_ports if capture.hears(
            port, now - 3.0, now, sources, workdir / f"heard-{port}.wav") > SIMILAR)
        waited = await waiters.wait(within=talk_s + REACHED_WITHIN_S + 60)
    loaded = None if loader is None else await loader.stop()
    store = await open_store(database_url(database, folder), run_migrations=False)
    try:
        for _ in range(50):  # the new active node writes its records every few tenths
            page = await store.interactions.search(since=since, number=QUEUE_NUMBER,
                                                   limit=10 * count)
            records = [item for item in page.items if item.called == QUEUE_NUMBER]
            if len(records) >= 2 * count and all(r.ended_at for r in records):
                break
            await asyncio.sleep(0.2)
        good = sum(1 for r in records if r.ended_at and r.outcome == "answered"
                   and r.operator)
    finally:
        await store.close()
    return CenterRun(took[0], took[1], talk, both_ways, music, reached,
                     talked.successful + waited.successful, len(records), good, loaded)


async def takeover(peers: Host, floating: str, active: StandbyNode, standby: StandbyNode,
                   within_s: float, token: str | None, cut: bool = False
                   ) -> tuple[float, tuple[float, float]]:
    """:func:`failure`, then probe from the callers' host until ``standby`` serves and a new
    call is answered, and wait until RESUME_WITHIN_S have passed since the failure; (when
    it happened, (seconds until serving, until a call was answered))."""
    address = floating.split("/")[0]

    async def serving() -> bool:
        code, body = await health_at(peers, address)
        return code == 200 and body["node"] == standby.name

    async def answered() -> bool:
        return (await call_answered(peers, address, NUMBER, wait_s=1.0)).status == 200

    started = await failure(peers, floating, active, token, cut)
    up, call = await asyncio.gather(first_success(serving, started, within_s),
                                    first_success(answered, started, within_s))
    if token is not None and await active.exited(within_s=30) != 0:
        raise RuntimeError(f"node {active.name} did not stop cleanly after its switch-over")
    await asyncio.sleep(max(0.0, started + RESUME_WITHIN_S - time.monotonic()))
    return started, (up, call)


async def failure(peers: Host, floating: str, active: StandbyNode, token: str | None,
                  cut: bool = False) -> float:
    """Kill ``active`` (and remove the floating address as ExecStopPost would), or with
    ``cut`` take its link down (it stops serving and exits by itself when it cannot renew),
    or with an admin's API ``token`` ask it for a planned switch-over; when it happened."""
    address = floating.split("/")[0]
    process = active.process
    if process is None:
        raise RuntimeError(f"node {active.name} is not running")
    started = time.monotonic()
    if cut:
        ip("-n", active.host.namespace, "link", "set", active.host.device, "down")
    elif token is None:
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
    return started


async def idle_cpu(members: list[StandbyNode], seconds: float) -> dict[str, float]:
    """Each node's CPU over ``seconds`` with no calls, % of one core."""
    pids = {member.name: member.process.pid for member in members if member.process}
    before = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
    await asyncio.sleep(seconds)
    return {name: 100 * (process_cpu_seconds(pid) - before[name]) / seconds
            for name, pid in pids.items()}


async def center_runs(args: argparse.Namespace, peers: Host, floating: str,
                      members: tuple[StandbyNode, StandbyNode], soft_source: Path,
                      database: str, folder: Path, token: str | None) -> None:
    """The ``--center`` runs, their summary and the idle CPU; the nodes stopped after."""
    active, standby = members
    count = args.center
    voice_pcm = noise_signal(60, seed=77)
    voice = (write_pcap(folder / "voice.pcap", audio_packets(voice_pcm)),
             write_wav(folder / "voice.wav", voice_pcm))
    print(f"{'run':>3} {'from':>6} {'serving s':>9} {'call s':>6} "
          f"{'talking: back, silence med/worst s':>34} {'both ways':>9} "
          f"{'waiting: music back, silence med/worst s':>40} {'reached':>7} "
          f"{'sipp ok':>7} {'records':>7} {'closed':>6}", flush=True)
    results: list[CenterRun] = []
    for run in range(1, args.runs + 1):
        result = await center_run(peers, floating, active, standby, count, voice,
                                  soft_source, database, folder,
                                  within_s=args.lapse * 5 + 10, token=token, run=run,
                                  load=args.load, cut=args.cut)
        results.append(result)

        def spread(values: list[float]) -> str:
            return (f"{len(values):>3}/{count:<3} {statistics.median(values):.2f} / "
                    f"{max(values):.2f}" if values else f"  0/{count:<3} -")

        print(f"{run:>3} {active.name:>6} {result.serving:>9.2f} {result.answered:>6.2f} "
              f"{spread(result.talking):>34} {result.both_ways:>4}/{count:<4} "
              f"{spread(result.waiting):>40} {result.reached:>3}/{count:<3} "
              f"{result.calls_ok:>3}/{2 * count:<3} {result.records:>3}/{2 * count:<3} "
              f"{result.closed_answered:>6}" + ("" if result.loaded is None else
                                                 f" load: {result.loaded.successful} ok, "
                                                 f"{result.loaded.failed} failed"),
              flush=True)
        if args.cut:  # it stops by itself, its lease lost; plugged in again
            cut_at = time.monotonic()
            try:
                await active.exited(within_s=CUT_EXIT_S)
                print(f"    {active.name} exited by itself, {time.monotonic() - cut_at:.1f} s "
                      f"after the run", flush=True)
            except TimeoutError:
                print(f"    {active.name} still running {CUT_EXIT_S:g} s after the run: "
                      f"killed", flush=True)
                await active.stop(signal.SIGKILL)
            ip("-n", active.host.namespace, "link", "set", active.host.device, "up")
        await active.start()  # back as the standby
        active, standby = standby, active
        await until_roles(peers, active, standby)
    talk = [gap for result in results for gap in result.talking]
    music = [gap for result in results for gap in result.waiting]
    calls = count * len(results)
    print(f"serving: median {statistics.median(r.serving for r in results):.2f} s, worst "
          f"{max(r.serving for r in results):.2f} s; new call answered: median "
          f"{statistics.median(r.answered for r in results):.2f} s, worst "
          f"{max(r.answered for r in results):.2f} s")
    if talk:
        print(f"talking calls with audio back: {len(talk)} of {calls}; longest silence "
              f"median {statistics.median(talk):.2f} s, worst {max(talk):.2f} s; the "
              f"caller hearing its operator after the takeover (both ways): "
              f"{sum(r.both_ways for r in results)} of {calls}")
    if music:
        print(f"waiting callers with music back: {len(music)} of {calls}; longest silence "
              f"median {statistics.median(music):.2f} s, worst {max(music):.2f} s")
    print(f"waiting callers who talked with an operator after the takeover: "
          f"{sum(r.reached for r in results)} of {calls}; sipp's calls ended well: "
          f"{sum(r.calls_ok for r in results)} of {2 * calls}; call records: "
          f"{sum(r.records for r in results)} for {2 * calls} calls, "
          f"{sum(r.closed_answered for r in results)} closed and answered")
    if args.load:
        print(f"under {args.load:g} new calls a second: "
              f"{sum(r.loaded.successful for r in results if r.loaded)} of sipp's calls "
              f"succeeded, {sum(r.loaded.failed for r in results if r.loaded)} failed")
    cpu = await idle_cpu([active, standby], args.idle)
    print(f"idle CPU over {args.idle:g} s: active {active.name} {cpu[active.name]:.1f} %, "
          f"standby {standby.name} {cpu[standby.name]:.1f} % of one core")
    for member in (active, standby):
        await member.stop(signal.SIGTERM)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--renew", type=float, default=1.0, help="renew interval, seconds")
    parser.add_argument("--lapse", type=float, default=3.0, help="lease lapse, seconds")
    parser.add_argument("--talking", type=int, default=10,
                        help="calls talking when the active node is killed")
    parser.add_argument("--load", type=float, default=0.0,
                        help="new calls a second placed by sipp through each run")
    parser.add_argument("--center", type=int, default=0,
                        help="instead: N callers talking to N operators of a queue and N "
                             "more waiting in it when the active node fails")
    parser.add_argument("--cut", action="store_true",
                        help="with --center: take the active node's link down instead of "
                             "killing it")
    parser.add_argument("--switch-over", action="store_true",
                        help="ask the active node for a planned switch-over instead of "
                             "killing it")
    parser.add_argument("--logs", type=Path, default=None,
                        help="on a failure, write each node's whole output to this folder")
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
        if args.center:
            staff = operator_names(args.center)
            config = queueing_site(Path(folder) / "takeover.yaml", operators=staff,
                                   contacts=echo_contacts(peers, [device for _user, device,
                                                                  _pw in staff[:-1]]))
            legs = 3 * args.center + int(args.load * 10) + 50
        else:
            config = answering_site(Path(folder) / "takeover.yaml", devices=talking_devices(
                caller=CALLER, password=PASSWORD, callee=CALLEE,
                callee_contact=f"sip:{CALLEE}@{peers.ip}:{ECHO_PORT}"))
            legs = 2 * args.talking + int(args.load * 10) + 50  # a burst after the gap
        a, b = (StandbyNode(host, Path(folder), lan_url, floating, args.renew, args.lapse,
                            extra=("--config", str(config)),
                            rtp_ports=f"20000-{20000 + 2 * legs + 19}")
                for host in (first, second))
        try:
            async with nodes(a, b), contextlib.AsyncExitStack() as phones_open:
                if not args.center:  # the talking calls' other end
                    await phones_open.enter_async_context(EchoPhone(peers, ECHO_PORT))
                await a.start()  # the first start migrates the database: one at a time
                await b.start()
                active, standby = a, b
                with contextlib.suppress(RuntimeError):
                    await until_roles(peers, a, b)
                _code, body = await health_at(peers, a.host.ip)
                if body.get("role") != "active":
                    active, standby = b, a
                await until_roles(peers, active, standby)
                if args.center:
                    echo = echo_phones(peers, Path(folder) / "echo")
                    await echo.start()
                    phones_open.push_async_callback(echo.stop)
                    _user, device, password = staff[-1]
                    soft = Baresip(Path(folder) / "soft", user=device, password=password,
                                   server_port=SIP_PORT, server_host=floating.split("/")[0],
                                   host=peers.ip, namespace=peers.namespace,
                                   auto_answer=True)
                    await soft.start()
                    phones_open.push_async_callback(soft.stop)
                    assert soft.source is not None  # made by start
                    await center_runs(args, peers, floating, (active, standby), soft.source,
                                      server_url, Path(folder), token)
                    return
                print(f"{'run':>3} {'from':>6} {'serving s':>9} {'call answered s':>15} "
                      f"{'longest silence s (median/worst)':>32} {'resumed':>7} "
                      f"{'BYE 200':>7}", flush=True)
                serving: list[float] = []
                answered: list[float] = []
                audio: list[float] = []
                lost = load_ok = load_failed = 0
                for run in range(1, args.runs + 1):
                    up, call, resumed, byes, loaded = await one_run(
                        peers, floating, active, standby, within_s=args.lapse * 5 + 10,
                        talking_calls=args.talking, token=token, load=args.load,
                        workdir=Path(folder) / f"load-{run}")
                    serving.append(up)
                    answered.append(call)
                    audio += resumed
                    lost += args.talking - len(resumed)
                    spread = (f"{statistics.median(resumed):.2f} / {max(resumed):.2f}"
                              if resumed else "-")
                    under = "" if loaded is None else \
                        f" load: {loaded.successful} ok, {loaded.failed} failed"
                    if loaded is not None:
                        load_ok += loaded.successful
                        load_failed += loaded.failed
                    print(f"{run:>3} {active.name:>6} {up:>9.2f} {call:>15.2f} {spread:>32} "
                          f"{len(resumed):>3}/{args.talking:<3} {byes:>3}/{args.talking:<3}"
                          f"{under}", flush=True)
                    await active.start()  # back as the standby
                    active, standby = standby, active
                    await until_roles(peers, active, standby)
                print(f"serving: median {statistics.median(serving):.2f} s, worst "
                      f"{max(serving):.2f} s; call answered: median "
                      f"{statistics.median(answered):.2f} s, worst {max(answered):.2f} s")
                if args.load:
                    print(f"under {args.load:g} new calls a second: {load_ok} of sipp's "
                          f"calls succeeded, {load_failed} failed")
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
                if args.logs is not None:  # all of it, for a look afterwards
                    args.logs.mkdir(parents=True, exist_ok=True)
                    (args.logs / f"node-{member.name}.log").write_bytes(member.output)
            raise
        finally:
            await relay.close()


if __name__ == "__main__":
    asyncio.run(main())
