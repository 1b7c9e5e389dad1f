"""What the event journal costs the event loop: microseconds per published event with and
without it, how long each group commit's fsync takes, and what a recorder's reading costs.

Method: ``--calls`` calls' worth of events (14 each, as ``bench/call_recorder.py`` publishes
them) are published on a ``LiveBus`` in turns of ``--per-turn`` events (a loop turn of a busy
node), with no journal and with a journal in a fresh folder on the data disk; the journal's
group commit runs every 100 ms in a thread as in a node. The figures are the event loop's CPU
time per published event (``time.process_time`` over the publishing turns, the line encoding
and the one ``write`` per turn included) and the fsyncs' count and mean duration (wall time,
outside the loop). Then the entries are read back in batches of 500 (as a recorder reads
them), once while the journal still keeps the envelopes it appended (a recorder keeping up)
and once through a journal opened afresh on the same folder (the next run of the node, or a
recorder further behind than ``parley.journal.RECENT``: every line decoded); CPU per entry,
the best of five readers each.

    .venv/bin/python bench/journal.py --calls 2000 --folder /var/lib/parley
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path

from call_recorder import publish_call

from parley import journal as journal_module
from parley.bus import LiveBus
from parley.clock import MonotonicClock
from parley.journal import Journal


async def publish(calls: int, per_turn: int, journal: Journal | None) -> float:
    """CPU seconds spent publishing (the loop's own share)."""
    bus = LiveBus(MonotonicClock(), journal=journal.append if journal is not None else None)
    spent = 0.0
    published = 0
    for number in range(calls):
        started = time.process_time()
        publish_call(bus, number)
        spent += time.process_time() - started
        published += 14
        if published >= per_turn:
            published = 0
            started = time.process_time()
            if journal is not None:
                journal.write()  # the loop turn's one write (call_soon would run it next)
            spent += time.process_time() - started
            await asyncio.sleep(0)
    return spent


def read_all(journal: Journal, name: str, times: int = 5) -> tuple[int, float]:
    """Entries read by a new reader from the first, and the CPU seconds it took (the best
    of ``times`` readers)."""
    best = float("inf")
    count = 0
    for attempt in range(times):
        reader = journal.reader(f"{name}-{attempt}", 1)
        count, started = 0, time.process_time()
        while entries := reader.read(500):
            count += len(entries)
        best = min(best, time.process_time() - started)
        reader.close()
    return count, best


def journal_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.glob("*.jsonl"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--per-turn", type=int, default=14)
    parser.add_argument("--folder", type=Path, default=None,
                        help="where to put the journal (default: a temporary folder)")
    args = parser.parse_args()
    events = args.calls * 14
    bare = await publish(args.calls, args.per_turn, None)
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        journal = Journal(Path(folder))
        fsyncs: list[float] = []
        real_fsync = os.fsync

        def timed_fsync(fd: int) -> None:
            started = time.perf_counter()
            real_fsync(fd)
            fsyncs.append(time.perf_counter() - started)

        journal_module.os.fsync = timed_fsync  # type: ignore[attr-defined]
        syncing = asyncio.create_task(journal.run())
        try:
            journaled = await publish(args.calls, args.per_turn, journal)
            await asyncio.sleep(0.3)
            kept_count, kept = read_all(journal, "kept")
        finally:
            syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await syncing
            journal.close()
            journal_module.os.fsync = real_fsync  # type: ignore[attr-defined]
        size = journal_bytes(Path(folder))
        again = Journal(Path(folder))
        again.open()
        decoded_count, decoded = read_all(again, "decoded")
        again.close()
    print(f"events {events}, {size / events:.0f} bytes per line")
    print(f"publish without journal: {bare / events * 1e6:6.1f} us CPU per event")
    print(f"publish with journal:    {journaled / events * 1e6:6.1f} us CPU per event")
    print(f"read, envelopes kept:     {kept / kept_count * 1e6:6.1f} us CPU per entry "
          f"({kept_count} entries)")
    print(f"read, every line decoded: {decoded / decoded_count * 1e6:6.1f} us CPU per entry "
          f"({decoded_count} entries)")
    if fsyncs:
        print(f"fsyncs: {len(fsyncs)}, mean {sum(fsyncs) / len(fsyncs) * 1000:.2f} ms, "
              f"max {max(fsyncs) * 1000:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
