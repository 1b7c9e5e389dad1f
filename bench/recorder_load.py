"""Whether the store's recorders keep up: calls per second of records they sustain on SQLite
and PostgreSQL, the backlog over time, and the process's memory, with the journal between.

Method: as in a node, events are published on a ``LiveBus`` that journals them (a fresh
folder, group commit every 100 ms) and the ``CallRecorder`` and ``StateRecorder`` write them
from the journal to a fresh store. Calls arrive at ``--rates`` calls per second for
``--duration`` seconds, each with the events the contact center publishes for it, spread
over the call as they happen: at its start the caller's leg, its answer, entered flow, menu
choice, queued and waiting (6); half a second later the operator's leg, offered, its answer,
the answered notice and the operator's state change to busy (5); ``--call-seconds`` later
the outcome, both hang-ups and the operator's state change back (4): 15 events a call, 13
for the call recorder. Every second the recorder's backlog (journal entries past its stored
mark), the resident memory (VmRSS) and the process's CPU are sampled. When the calls stop the
time to catch up is measured, then the stored call records are counted (closed ones against
calls placed) and checked for duplicates (legs and timeline entries per call record).

Then a burst: ``--burst`` calls published as fast as the loop can (every event of a call at
once), the recorders writing behind; the figure is calls per second written while behind, and
the memory while the backlog waits in the journal on disk.

SQLite is a WAL-mode file with ``synchronous=NORMAL`` in a temporary folder; PostgreSQL is a
throw-away Debian server as the tests run it (``fsync=off``).

    .venv/bin/python bench/recorder_load.py --database sqlite postgresql --rates 60 120 240
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from parley.bus import LiveBus
from parley.clock import MonotonicClock
from parley.events import (
    AgentStateChanged,
    Answered,
    CallProgress,
    ChannelCreated,
    Direction,
    Hangup,
    HangupCause,
)
from parley.journal import Journal
from parley.store import Store, open_store
from parley.store.credentials import Passwords
from parley.store.recorders import CallRecorder, StateRecorder
from parley.testing.postgres import ThrowawayPostgres, create_database

CLEARED = HangupCause.NORMAL_CLEARING


def call_events(number: int, call_seconds: float) -> list[tuple[float, object]]:
    """(seconds after the call's start, event) for one call."""
    caller, operator, agent = f"in-{number}", f"op-{number}", f"{20001 + number % 1100}"
    return [
        (0.0, ChannelCreated(caller, Direction.INBOUND, "5550100", "700",
                             interaction_id=caller)),
        (0.0, Answered(caller)),
        (0.0, CallProgress(caller, "entered flow", {"flow": "bench-queue"})),
        (0.0, CallProgress(caller, "menu choice", {"digit": "2"})),
        (0.0, CallProgress(caller, "queued", {"priority": 0}, queue="bench")),
        (0.0, CallProgress(caller, "waiting", {"position": 1}, queue="bench")),
        (0.5, ChannelCreated(operator, Direction.OUTBOUND, "5550100", agent,
                             interaction_id=caller)),
        (0.5, CallProgress(caller, "offered", {}, queue="bench", operator=agent)),
        (0.5, Answered(operator)),
        (0.5, CallProgress(caller, "answered", {}, queue="bench", operator=agent)),
        (0.5, AgentStateChanged(agent, "ready", "busy", "answered", 0.0, call_id=caller)),
        (call_seconds, CallProgress(caller, "outcome", {"outcome": "answered"})),
        (call_seconds, Hangup(operator, CLEARED)),
        (call_seconds, Hangup(caller, CLEARED)),
        (call_seconds, AgentStateChanged(agent, "busy", "ready", "call ended", 0.0)),
    ]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Running:
    store: Store
    journal: Journal
    bus: LiveBus
    calls: CallRecorder
    states: StateRecorder
    samples: list[tuple[float, int, float]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def running(url: str, folder: Path) -> AsyncIterator[Running]:
    clock = MonotonicClock()
    store = await open_store(url, clock=clock, passwords=Passwords.cheap())
    journal = Journal(folder / "journal")
    journal.open(after=await store.journal_marks.highest())
    bus = LiveBus(clock, journal=journal.append)
    calls = CallRecorder(store, bus, clock, journal)
    states = StateRecorder(store, bus, clock, journal)
    tasks = [asyncio.create_task(task) for task in (journal.run(), calls.run(), states.run())]
    await asyncio.sleep(0.2)
    try:
        yield Running(store, journal, bus, calls, states)
    finally:
        for task in reversed(tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        journal.close()
        await store.close()


async def sample_every(node: Running, started: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        node.samples.append((time.monotonic() - started, node.calls.backlog, rss_mib()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def caught_up(node: Running, within: float) -> float:
    """Seconds until both recorders' backlogs are empty."""
    started = time.monotonic()
    while node.calls.backlog or node.states.backlog:
        if time.monotonic() - started > within:
            break
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def stored(store: Store) -> tuple[int, int, int, int]:
    """Closed call records, call records, legs, timeline entries."""
    async with store.engine.connect() as connection:
        values = []
        for sql in ("SELECT count(*) FROM interactions WHERE ended_at IS NOT NULL",
                    "SELECT count(*) FROM interactions", "SELECT count(*) FROM legs",
                    "SELECT count(*) FROM timeline_events"):
            values.append(int((await connection.execute(text(sql))).scalar() or 0))
        return values[0], values[1], values[2], values[3]


async def steady(url: str, rate: int, duration: float, call_seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as folder:
        async with running(url, Path(folder)) as node:
            total = int(rate * duration)
            schedule: list[tuple[float, int, int, object]] = []
            order = 0
            for number in range(total):
                for offset, event in call_events(number, call_seconds):
                    heapq.heappush(schedule, (number / rate + offset, order, number, event))
                    order += 1
            rss_before = rss_mib()
            stop = asyncio.Event()
            started = time.monotonic()
            sampler = asyncio.create_task(sample_every(node, started, stop))
            cpu_start = cpu_seconds()
            while schedule:
                now = time.monotonic() - started
                while schedule and schedule[0][0] <= now:
                    node.bus.publish(heapq.heappop(schedule)[3])
                await asyncio.sleep(0.01)
            run_s = time.monotonic() - started
            cpu = cpu_seconds() - cpu_start
            catch_up = await caught_up(node, 120.0)
            stop.set()
            await sampler
            closed, records, legs, entries = await stored(node.store)
            backlogs = [backlog for _at, backlog, _rss in node.samples]
            arrivals = [backlog for at, backlog, _rss in node.samples if at <= duration]
            print(f"{rate:>5} {total:>6} {run_s:>6.1f} {100 * cpu / run_s:>5.0f}% "
                  f"{max(backlogs):>7} {arrivals[-1] if arrivals else 0:>7} "
                  f"{catch_up:>6.2f} {closed:>6}/{total:<6} {records - total:>4} "
                  f"{legs - 2 * total:>4} {entries - 8 * total:>4} "
                  f"{rss_before:>6.0f} {max(rss for *_x, rss in node.samples):>6.0f}",
                  flush=True)
            print("      backlog each second:",
                  " ".join(str(backlog) for _at, backlog, _rss in node.samples), flush=True)


async def burst(url: str, calls: int) -> None:
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as folder:
        async with running(url, Path(folder)) as node:
            rss_before = rss_mib()
            started = time.monotonic()
            cpu_start = cpu_seconds()
            peak_backlog = 0
            for number in range(calls):
                for _offset, event in call_events(number, 10.0):
                    node.bus.publish(event)
                if number % 50 == 49:
                    peak_backlog = max(peak_backlog, node.calls.backlog)
                    await asyncio.sleep(0)
            published = time.monotonic() - started
            peak_rss = rss_mib()
            while node.calls.backlog or node.states.backlog:
                peak_backlog = max(peak_backlog, node.calls.backlog)
                peak_rss = max(peak_rss, rss_mib())
                await asyncio.sleep(0.05)
            seconds = time.monotonic() - started
            cpu = cpu_seconds() - cpu_start
            closed, records, legs, _entries = await stored(node.store)
            print(f"burst {calls} calls: published in {published:.1f} s, written in "
                  f"{seconds:.1f} s = {closed / seconds:.0f} calls/s "
                  f"({closed * 13 / seconds:.0f} events/s), CPU {1000 * cpu / calls:.2f} ms "
                  f"per call (publishing, journal and recorders); peak backlog "
                  f"{peak_backlog} entries; RSS {rss_before:.0f} -> {peak_rss:.0f} MiB; "
                  f"records {closed}/{calls} closed, {records - calls} extra, "
                  f"{legs - 2 * calls} extra legs", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", nargs="+", choices=["sqlite", "postgresql"],
                        default=["sqlite", "postgresql"])
    parser.add_argument("--rates", type=int, nargs="+", default=[60, 120, 240])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--call-seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=5000)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        for database in args.database:
            if database == "postgresql":
                server = ThrowawayPostgres()
                stack.callback(server.stop)
                await asyncio.to_thread(server.start)

                async def fresh(server: ThrowawayPostgres = server) -> str:
                    url, _name = await asyncio.to_thread(create_database, server.url)
                    return url.replace("postgresql://", "postgresql+asyncpg://", 1)
            else:
                async def fresh(server: ThrowawayPostgres | None = None) -> str:
                    folder = stack.enter_context(tempfile.TemporaryDirectory())
                    return f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
            print(f"\n{database}: {args.duration:.0f} s at each rate, "
                  f"{args.call_seconds:.0f} s calls")
            print(f"{'rate':>5} {'calls':>6} {'run s':>6} {'CPU':>6} {'backlog':>7} "
                  f"{'at end':>7} {'catch':>6} {'closed/placed':>13} {'dup':>4} "
                  f"{'legs':>4} {'tl':>4} {'RSS0':>6} {'RSS^':>6}")
            for rate in args.rates:
                await steady(await fresh(), rate, args.duration, args.call_seconds)
            if args.burst:
                await burst(await fresh(), args.burst)


if __name__ == "__main__":
    asyncio.run(main())
