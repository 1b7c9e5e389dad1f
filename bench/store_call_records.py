"""Call records in the store: how fast calls are written as they happen, and how fast the
call-record search and CSV export answer over many records.

Each call is written the way the telephony shell writes it, one transaction per step: open,
two legs, leg answered twice, queued, answered, two legs ended, close (10 transactions).
Figures: calls written per second (sequentially, then 20 calls at a time), the time of one
search page (50 rows) filtered by queue, and of a full CSV-sized scan of one queue.

Run: .venv/bin/python bench/store_call_records.py [--calls N] [--postgresql]
(--postgresql starts a throw-away PostgreSQL from Debian's binaries, as the tests do).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from parley.store import Store, open_store

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
QUEUES = [f"queue-{n}" for n in range(10)]


async def one_call(store: Store, index: int) -> None:
    began = START + timedelta(seconds=index * 3)
    call_id = f"call-{index}"
    records = store.interactions
    await records.open(call_id, direction="inbound", caller=f"+4930{index:07d}", called="600",
                       started_at=began)
    await records.add_leg(call_id, channel_id=f"{call_id}-a", direction="inbound",
                          endpoint="trunk", caller=f"+4930{index:07d}", called="600",
                          started_at=began)
    await records.leg_answered(f"{call_id}-a", began + timedelta(seconds=1))
    await records.queued(call_id, QUEUES[index % len(QUEUES)], began + timedelta(seconds=8))
    await records.add_leg(call_id, channel_id=f"{call_id}-b", direction="outbound",
                          endpoint=f"user:{1000 + index % 1400}", caller="600",
                          called=str(1000 + index % 1400),
                          started_at=began + timedelta(seconds=20))
    await records.leg_answered(f"{call_id}-b", began + timedelta(seconds=24))
    await records.answered(call_id, began + timedelta(seconds=24),
                           operator=str(1000 + index % 1400))
    end = began + timedelta(seconds=200)
    await records.leg_ended(f"{call_id}-b", end, 16)
    await records.leg_ended(f"{call_id}-a", end, 16)
    await records.close(call_id, end, outcome="answered", hangup_cause=16)


async def measure(url: str, calls: int) -> dict[str, float]:
    store = await open_store(url)
    try:
        half = calls // 2
        started = time.perf_counter()
        for index in range(half):
            await one_call(store, index)
        sequential = half / (time.perf_counter() - started)

        started = time.perf_counter()
        for first in range(half, calls, 20):
            async with asyncio.TaskGroup() as group:
                for index in range(first, min(first + 20, calls)):
                    group.create_task(one_call(store, index))
        concurrent = (calls - half) / (time.perf_counter() - started)

        pages = []
        for round_ in range(20):
            started = time.perf_counter()
            page = await store.interactions.search(queue=QUEUES[round_ % len(QUEUES)],
                                                   offset=round_ * 10, limit=50)
            pages.append(time.perf_counter() - started)
            assert page.total >= calls // len(QUEUES) - 1
        started = time.perf_counter()
        offset, rows = 0, 0
        while True:
            page = await store.interactions.search(queue=QUEUES[0], offset=offset, limit=500)
            rows += len(page.items)
            offset += len(page.items)
            if not page.items or offset >= page.total:
                break
        scan = time.perf_counter() - started
        return {"sequential": sequential, "concurrent": concurrent,
                "page_ms": statistics.median(pages) * 1000, "scan_s": scan, "rows": rows}
    finally:
        await store.close()


def report(name: str, figures: dict[str, float]) -> None:
    print(f"{name}: {figures['sequential']:.0f} calls/s written one at a time, "
          f"{figures['concurrent']:.0f} calls/s 20 at a time; search page (50 of one queue) "
          f"{figures['page_ms']:.1f} ms median; scan of {figures['rows']:.0f} rows "
          f"{figures['scan_s']:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--postgresql", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        report("SQLite (WAL)", asyncio.run(measure(url, args.calls)))
    if args.postgresql:
        from parley.testing.postgres import ThrowawayPostgres, create_database

        server = ThrowawayPostgres()
        try:
            server.start()
            url, _ = create_database(server.url)
            url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
            report("PostgreSQL 15", asyncio.run(measure(url, args.calls)))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
