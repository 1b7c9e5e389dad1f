"""CPU and memory cost of the pure IVR: validating a flow, and running calls through it.

Method: the shipped flows are validated N times (parse, field and expression checks, graph
checks). Then N calls run through ``demo-main`` (screening against a 1,000-number blacklist,
greeting, menu, key 2, queue) and N through ``example-customer-care`` (opening hours in a time
zone with holidays, a customer-card lookup answered with JSON, VIP check, live queue figures,
queue with attached data), each answered in process the way the call shell would answer
(no event loop, no I/O). CPU time from ``time.process_time``. Memory: tracemalloc's growth
while 10,000 calls wait in the demo menu at once.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from parley.events import PlaybackFinished
from parley.ivr.commands import Collect, CollectFinished, EnqueueCall, HttpLookup, LookupResult
from parley.ivr.environment import IvrEnvironment, NumberLists, QueueFigure, QueueSnapshot
from parley.ivr.files import shipped_flows
from parley.ivr.interpreter import FlowRun
from parley.ivr.validator import validate_flow

FLOWS = {flow.require().name: flow.require() for flow in shipped_flows()}
ENV = IvrEnvironment(
    lists=NumberLists({"blacklist": [f"+3399{n:06d}" for n in range(1000)], "vip": ["+331"]}),
    queues=QueueSnapshot({"support": QueueFigure(expected_wait=120.0, agents_ready=3)}),
)
MONDAY_MORNING = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def per_op(label: str, count: int, started: float) -> None:
    elapsed = time.process_time() - started
    print(f"{label:<52} {elapsed / count * 1e6:8.1f} us  ({count / elapsed:,.0f}/s)")


def answer(run: FlowRun, commands: list[Any], now: datetime) -> list[Any]:
    """Answer the last request the way the shell would, pressing 2 in menus."""
    for command in reversed(commands):
        if isinstance(command, Collect):
            return run.handle(CollectFinished(run.call_id, command.request_id, "2"), now)
        if isinstance(command, HttpLookup):
            card = {"name": "Ada", "tier": "gold"}
            return run.handle(LookupResult(run.call_id, command.request_id, 200, card), now)
        request_id = getattr(command, "request_id", None)
        if request_id is not None and not isinstance(command, EnqueueCall):
            return run.handle(PlaybackFinished(request_id, run.call_id, "done"), now)
    return []


def run_calls(name: str, count: int) -> None:
    flow = FLOWS[name]
    started = time.process_time()
    for n in range(count):
        now = MONDAY_MORNING + timedelta(seconds=n)
        run = FlowRun(flow, call_id=f"c{n}", ani="+331", dnis="600", env=ENV)
        commands = run.start(now)
        while not (run.finished or run.handed_off):
            commands = answer(run, commands, now)
    per_op(f"one call through {name}", count, started)


def memory(count: int) -> None:
    flow = FLOWS["demo-main"]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    runs = []
    for n in range(count):
        run = FlowRun(flow, call_id=f"c{n}", ani="+331", dnis="600", env=ENV)
        answer(run, run.start(MONDAY_MORNING), MONDAY_MORNING)  # now waiting in the menu
        runs.append(run)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"{'memory per call waiting in the demo menu':<52} {grown / count / 1024:8.1f} KiB"
          f"  ({count:,} calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    texts = [(flow.require().source, flow.require().file) for flow in shipped_flows()]
    started = time.process_time()
    rounds = max(1, args.count // 10)
    for _ in range(rounds):
        for text, file in texts:
            validate_flow(text, file)
    per_op(f"validate one shipped flow ({len(texts)} flows)", rounds * len(texts), started)
    run_calls("demo-main", args.count)
    run_calls("example-customer-care", args.count)
    memory(min(args.count * 2, 10_000))


if __name__ == "__main__":
    main()
