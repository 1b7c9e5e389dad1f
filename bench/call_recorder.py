"""How fast the call recorder catches up after a burst: calls per second written from the bus.

Method: ``--calls`` inbound calls are published on the live bus at once, each as the contact
center publishes it (a caller's leg, entered flow, menu choice, queued, waiting, offered, an
operator's leg, answered, both legs answered and hung up: 14 events), while a ``CallRecorder``
writes them to a fresh SQLite store (a file in WAL mode, ``synchronous=NORMAL``). The figure is
the time until the last call record is closed, as calls per second and events per second, for
batches of up to 50 steps per transaction (the recorder's default) read from the bus, the same
read from the node's event journal (as a node runs it: every event written to a file and
synced every 100 ms, the recorder reading the file and writing its mark with each batch), and
one step per transaction (how the recorder wrote before batching).

    .venv/bin/python bench/call_recorder.py --calls 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

from parley.bus import LiveBus
from parley.clock import MonotonicClock
from parley.events import (
    Answered,
    CallProgress,
    ChannelCreated,
    Direction,
    Hangup,
    HangupCause,
)
from parley.journal import Journal
from parley.store import NotFound, open_store
from parley.store import recorders as recorder_module
from parley.store.credentials import Passwords
from parley.store.recorders import CallRecorder


def publish_call(bus: LiveBus, number: int) -> None:
    caller, operator = f"in-{number}", f"op-{number}"
    bus.publish(ChannelCreated(caller, Direction.INBOUND, "5550100", "600"))
    bus.publish(Answered(caller))
    for kind, detail in (("entered flow", {"flow": "demo-main"}),
                         ("menu choice", {"digit": "2"})):
        bus.publish(CallProgress(caller, kind, dict(detail)))
    bus.publish(CallProgress(caller, "queued", {"priority": 0}, queue="support"))
    bus.publish(CallProgress(caller, "waiting", {"position": 1}, queue="support"))
    bus.publish(ChannelCreated(operator, Direction.OUTBOUND, "5550100", "1001",
                               interaction_id=caller))
    bus.publish(CallProgress(caller, "offered", {"operator": "1001"}))
    bus.publish(Answered(operator))
    bus.publish(CallProgress(caller, "answered", {"operator": "1001"}, queue="support",
                             operator="1001"))
    bus.publish(CallProgress(caller, "outcome", {"outcome": "answered"}))
    bus.publish(Hangup(operator, HangupCause.NORMAL_CLEARING))
    bus.publish(Hangup(caller, HangupCause.NORMAL_CLEARING))


async def run(calls: int, batch: int, url: str, journal_dir: Path | None
              ) -> tuple[float, int]:
    recorder_module.BATCH = batch
    clock = MonotonicClock()
    store = await open_store(url, clock=clock, passwords=Passwords.cheap())
    journal = Journal(journal_dir) if journal_dir is not None else None
    bus = LiveBus(clock, journal=journal.append if journal is not None else None)
    syncing = asyncio.create_task(journal.run()) if journal is not None else None
    task = asyncio.create_task(CallRecorder(store, bus, clock, journal).run())
    try:
        for _ in range(1000):  # the recorder subscribes (or reads its mark) on its first turns
            if bus.subscriber_count or (journal is not None and _ > 10):
                break
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        for number in range(calls):
            publish_call(bus, number)
        while True:  # the recorder writes in order: the last call closed means all are
            try:
                if (await store.interactions.get(f"in-{calls - 1}")).ended_at is not None:
                    break
            except NotFound:
                pass
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        return elapsed, (await store.interactions.search(limit=1)).total
    finally:
        for running in (task, syncing):
            if running is not None:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        if journal is not None:
            journal.close()
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    print(f"{'source':>8} {'batch':>6} {'calls':>6} {'seconds':>8} {'calls/s':>8} "
          f"{'events/s':>9}")
    default = recorder_module.BATCH
    for source, batch in (("bus", default), ("journal", default), ("bus", 1)):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
            journal_dir = Path(folder) / "journal" if source == "journal" else None
            seconds, written = await run(args.calls, batch, url, journal_dir)
        print(f"{source:>8} {batch:>6} {written:>6} {seconds:>8.1f} {written / seconds:>8.1f} "
              f"{written * 14 / seconds:>9.0f}")


if __name__ == "__main__":
    asyncio.run(main())
