"""The month's queues report on PostgreSQL: a month of a 1,000-call site (~3 million calls)
generated straight into the store with COPY, the interval aggregates built from it, then the
queues report for the month timed, on interval boundaries and off them (edges from the raw
records).

    flock /tmp/parley-peer.lock .venv/bin/python bench/reports_month.py --calls 3000000

The call model: ~100,000 calls a day on weekdays and half on weekends, arriving by a daily
curve that peaks late morning; 20 queues (a few busy, many small), 1,000 operators, 4 trunks,
10 numbers; 85% of queued calls answered (waits exponential, mean 25 s; talk mean 4 min),
11% abandoned (half within 5 s), the rest sent to voicemail; 5% of calls end in the menu.
Each call has its caller's leg (with its trunk) and, answered, the operator's. A throw-away
PostgreSQL server (``parley.testing.postgres``) unless ``--database-url`` names one.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]

from parley.reports import tables
from parley.store import open_store
from parley.store.specs import QueueSpec, SiteSpec
from parley.testing.postgres import ThrowawayPostgres, create_database

MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30
QUEUES = [f"queue-{index:02d}" for index in range(20)]
QUEUE_WEIGHTS = [30, 20, 12, 8, 6, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5]
OPERATORS = [f"op{index:04d}" for index in range(1000)]
TRUNKS = ["carrier-a", "carrier-b", "carrier-c", "carrier-d"]
NUMBERS = [f"+7495100{index:04d}" for index in range(10)]
CHUNK = 50_000

INTERACTION_COLUMNS = ("id", "direction", "caller", "called", "queue", "operator",
                       "started_at", "queued_at", "answered_at", "ended_at", "wait_s",
                       "talk_s", "duration_s", "outcome", "hangup_cause", "variables")
LEG_COLUMNS = ("interaction_id", "channel_id", "direction", "endpoint", "caller", "called",
               "started_at", "answered_at", "ended_at", "hangup_cause", "trunk")


def hour_weight(hour: float) -> float:
    """The daily arrival curve: quiet at night, a late-morning peak, a smaller afternoon."""
    return 0.05 + math.exp(-((hour - 11) / 2.5) ** 2) + 0.7 * math.exp(-((hour - 16) / 2) ** 2)


def arrivals(rng: random.Random, total: int) -> list[datetime]:
    """``total`` call start times over the month following the daily and weekly curves."""
    weights = []
    for day in range(DAYS):
        weekday = (MONTH_START + timedelta(days=day)).weekday()
        for hour in range(24):
            weights.append(hour_weight(hour + 0.5) * (0.5 if weekday >= 5 else 1.0))
    scale = total / sum(weights)
    times: list[datetime] = []
    for index, weight in enumerate(weights):
        base = MONTH_START + timedelta(hours=index)
        count = round(weight * scale)
        times.extend(base + timedelta(seconds=rng.random() * 3600) for _ in range(count))
    times.sort()
    return times[:total]


def calls(rng: random.Random, starts: list[datetime]
          ) -> Iterator[tuple[list[tuple[object, ...]], list[tuple[object, ...]]]]:
    """Rows of the interactions and legs tables, a chunk at a time."""
    interactions: list[tuple[object, ...]] = []
    legs: list[tuple[object, ...]] = []
    for started in starts:
        call_id = uuid.uuid4().hex
        caller = f"+79{rng.randrange(10**9):09d}"
        called = rng.choice(NUMBERS)
        trunk = rng.choice(TRUNKS)
        queue = operator = queued = answered = None
        wait = talk = 0.0
        fate = rng.random()
        if fate < 0.05:  # ended in the menu
            ended = started + timedelta(seconds=rng.uniform(5, 60))
            outcome = "ivr"
        else:
            queue = rng.choices(QUEUES, QUEUE_WEIGHTS)[0]
            queued = started + timedelta(seconds=rng.uniform(3, 25))
            if fate < 0.05 + 0.95 * 0.85:
                wait = rng.expovariate(1 / 25)
                answered = queued + timedelta(seconds=wait)
                talk = rng.expovariate(1 / 240) + 10
                ended = answered + timedelta(seconds=talk)
                operator = rng.choice(OPERATORS)
                outcome = "answered"
            elif fate < 0.05 + 0.95 * 0.96:
                wait = rng.uniform(0, 5) if rng.random() < 0.5 else rng.expovariate(1 / 60) + 5
                ended = queued + timedelta(seconds=wait)
                outcome = "abandoned"
            else:
                wait = 120.0
                ended = queued + timedelta(seconds=wait + 40)
                outcome = "voicemail"
        duration = (ended - started).total_seconds()
        interactions.append((call_id, "inbound", caller, called, queue, operator, started,
                             queued, answered, ended, round(wait, 3), round(talk, 3),
                             round(duration, 3), outcome, 16, "{}"))
        legs.append((call_id, f"{call_id}-a", "inbound", called, caller, called, started,
                     started, ended, 16, trunk))
        if answered is not None:
            legs.append((call_id, f"{call_id}-b", "outbound", str(operator), caller,
                         str(operator), answered - timedelta(seconds=3), answered, ended, 16,
                         None))
        if len(interactions) >= CHUNK:
            yield interactions, legs
            interactions, legs = [], []
    if interactions:
        yield interactions, legs


async def generate(url: str, total: int) -> float:
    """COPY ``total`` calls into the database at ``url``; seconds taken."""
    rng = random.Random(2026)
    began = time.perf_counter()
    starts = arrivals(rng, total)
    connection = await asyncpg.connect(url)
    try:
        written = 0
        for interactions, legs in calls(rng, starts):
            await connection.copy_records_to_table("interactions", records=interactions,
                                                   columns=INTERACTION_COLUMNS)
            await connection.copy_records_to_table("legs", records=legs, columns=LEG_COLUMNS)
            written += len(interactions)
            if written % 500_000 < CHUNK:
                print(f"  {written:,} calls written ({time.perf_counter() - began:.0f} s)",
                      flush=True)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return time.perf_counter() - began


async def run(url: str, total: int, repeats: int) -> None:
    store = await open_store(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        await store.config.put_site(SiteSpec())
        for queue in QUEUES:
            await store.config.put("queues", QueueSpec(name=queue))
        print(f"generating {total:,} calls over {DAYS} days with COPY")
        seconds = await generate(url, total)
        print(f"generated in {seconds:.0f} s")
        began = time.perf_counter()
        counted = await store.reports.rebuild()
        print(f"aggregates built from the raw records in {time.perf_counter() - began:.0f} s"
              f" ({counted[0]:,} calls)")
        async with store.engine.connect() as connection:
            await connection.exec_driver_sql("ANALYZE")
        end = MONTH_START + timedelta(days=DAYS)
        periods = {"whole intervals": (MONTH_START, end),
                   "off the boundaries": (MONTH_START + timedelta(minutes=7, seconds=30),
                                          end - timedelta(minutes=4, seconds=10))}
        for name, (since, until) in periods.items():
            times = []
            rows: list[dict[str, object]] = []
            for _ in range(repeats):
                started = time.perf_counter()
                rows = await tables.queues(store.reports, since, until)
                times.append(time.perf_counter() - started)
            offered = sum(int(str(row["offered"])) for row in rows)
            print(f"queues report for the month, {name}: median "
                  f"{statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms"
                  f" of {repeats} ({len(rows)} queues, {offered:,} calls offered)")
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=3_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database-url", help="a postgresql:// server where a database may "
                        "be created (default: a throw-away server)")
    args = parser.parse_args()
    server = None
    if args.database_url:
        server_url = args.database_url
    else:
        server = ThrowawayPostgres()
        await asyncio.to_thread(server.start)
        server_url = server.url
    try:
        url, _name = await asyncio.to_thread(create_database, server_url)
        await run(url, args.calls, args.repeats)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
