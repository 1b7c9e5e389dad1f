"""Memory under a long run: resident memory of one node after every ``--every`` calls of a
steady inbound load, and whether it stays flat once the first calls have warmed it up.

Method: the node and the scenario of ``bench/inbound_queue.py`` (callers answered, a beep,
queue ``bench``, operators that echo; ``--operators`` of them at one sipp answerer), one node
for the whole run, one sipp caller placing ``--calls`` calls at ``--rate`` calls/s, each
lasting ``--duration`` s after its answer. Every second the node's VmRSS is read from /proc
with the caller's count of finished calls; a line is printed each time another ``--every``
calls have finished. The figure is the growth of resident memory from the checkpoint at
``--baseline`` calls (default: the first ``--every``) to the end, in %; the aim is at most 10%
(docs/benchmarks.md, "Memory under a long run"). Memory per concurrent call is the baseline's
RSS less the idle node's, over the concurrent calls the rate implies.

    .venv/bin/python bench/memory_soak.py --calls 10000 --rate 50
    .venv/bin/python bench/memory_soak.py --calls 100000 --rate 50 --every 10000

``--tracemalloc`` runs the node under tracemalloc (``bench/traced_node.py``; tracing starts
at the first checkpoint), takes a snapshot at every checkpoint and once idle at the end, and
prints the Python heap the snapshots traced next to the RSS, and what grew most from the
baseline checkpoint to the last one and to the idle end, grouped by the allocation's
traceback: RSS that grows while the traced heap stays flat is memory outside Python's
objects (the allocators'), a traced heap that grows names its allocation site. The node is
slower and bigger traced: a tool, not a measurement.

    .venv/bin/python bench/memory_soak.py --calls 14000 --every 2000 --baseline 4000 \
        --no-media --tracemalloc
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inbound_queue import (
    QUEUE_NUMBER,
    SCENARIOS,
    Node,
    caller_scenario,
    machine,
    rtp_block,
    write_provisioning,
)

from parley.testing.peers import PeerError, Sipp
from parley.testing.ports import LOOPBACK, free_port


def finished_calls(stat_file: Path) -> int:
    """Calls the sipp caller has finished (successful or not), from its last -stf row."""
    if not stat_file.exists():
        return 0
    rows = list(csv.DictReader(stat_file.read_text(errors="replace").splitlines(),
                               delimiter=";"))
    if not rows:
        return 0
    last = rows[-1]
    return sum(int(last.get(key, "0") or 0) for key in ("SuccessfulCall(C)", "FailedCall(C)"))


async def snapshots_written(folder: Path, count: int, within: float = 300.0) -> None:
    """Until the node has written ``count`` snapshots (a big heap takes a while)."""
    deadline = time.monotonic() + within
    while (written := snapshot_count(folder)) < count:
        if time.monotonic() > deadline:
            raise PeerError(f"the node wrote {written} of {count} tracemalloc snapshots")
        await asyncio.sleep(1.0)


def snapshot_count(folder: Path) -> int:
    return len(list(folder.glob("snapshot-*.bin")))


def compare_snapshots(folder: Path, marks: list[int], baseline_at: int, top: int = 15) -> None:
    """The traced heap at each checkpoint, then the allocation sites that grew most from the
    baseline checkpoint to the last one and to the idle end (by traceback)."""
    ignored = (tracemalloc.Filter(False, tracemalloc.__file__),
               tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"))
    snapshots = {mark: tracemalloc.Snapshot.load(str(folder / f"snapshot-{number:03d}.bin"))
                 .filter_traces(ignored) for number, mark in enumerate(marks, 1)}
    print(f"{'calls':>8} {'traced MiB':>10}")
    for mark, snapshot in snapshots.items():
        size = sum(stat.size for stat in snapshot.statistics("filename"))
        print(f"{mark or 'idle':>8} {size / 2**20:>10.1f}")
    base = min((mark for mark in snapshots if mark >= baseline_at), default=None)
    last = max(snapshots)
    if base is None:
        return
    for label, later in ((f"{base} -> {last} calls", snapshots[last]),
                         (f"{base} calls -> idle at the end", snapshots.get(0))):
        if later is None:
            continue
        print(f"\ngrew most, {label} (KiB, count, where: the allocating line first, "
              "each called from the next)")
        for stat in later.compare_to(snapshots[base], "traceback")[:top]:
            # a traceback runs from the oldest frame to the allocating one
            frames = [f"{Path(frame.filename).name}:{frame.lineno}"
                      for frame in reversed(stat.traceback)][:6]
            print(f"  {stat.size_diff / 1024:>+9.0f} {stat.count_diff:>+8} "
                  f"{' < '.join(frames)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=50, help="calls per second")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds each call lasts after its answer")
    parser.add_argument("--operators", type=int, default=1100)
    parser.add_argument("--every", type=int, default=1000,
                        help="print a checkpoint after this many more calls")
    parser.add_argument("--baseline", type=int, default=None,
                        help="the checkpoint growth is measured from (default: --every)")
    parser.add_argument("--media", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--tracemalloc", action="store_true",
                        help="snapshots of the node's Python heap at each checkpoint")
    args = parser.parse_args()
    for tool, package in (("sipp", "sip-tester"), ("sox", "sox")):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (Debian package {package})")
    baseline_at = args.baseline or args.every
    print(f"machine: {machine()}; {args.calls} calls at {args.rate}/s of {args.duration:g} s, "
          f"{args.operators} operators, {'with' if args.media else 'without'} media",
          flush=True)
    with contextlib.ExitStack() as stack:
        root = args.keep or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="parley-memory-soak-")))
        scenario = caller_scenario(root / "scenario", args.media)
        agent_port = free_port()
        config = write_provisioning(root / "bench.yaml", args.operators, agent_port)
        concurrent = int(args.rate * (args.duration + 8)) + 50
        rtp_first, rtp_count = rtp_block(concurrent, int(args.rate * args.duration) + 50)
        node = Node(root, config, (rtp_first, rtp_first + rtp_count - 1),
                    tracemalloc_dir=root / "snapshots" if args.tracemalloc else None)
        marks: list[int] = []  # the checkpoints snapshotted, in order
        agents = Sipp(root / "agents", SCENARIOS / "uas_agent.xml", port=agent_port,
                      extra=("-rtp_echo",))
        limit = int(args.calls / args.rate + args.duration + 120)
        caller = Sipp(root / "caller", scenario, service=QUEUE_NUMBER, port=free_port(),
                      calls=args.calls, rate=args.rate,
                      extra=("-d", str(int(args.duration * 1000)),
                             "-l", str(max(3000, 3 * concurrent)), "-recv_timeout", "32000",
                             "-timeout", f"{limit}s", "-timeout_error"))
        try:
            await node.start()
            await agents.start()
            await asyncio.sleep(2.0)
            idle = node.memory_kib("VmRSS")
            print(f"idle node: {idle / 1024:.0f} MiB", flush=True)
            print(f"{'calls':>8} {'elapsed s':>9} {'RSS MiB':>8} {'vs baseline':>11}",
                  flush=True)
            caller.target = f"{LOOPBACK}:{node.sip_port}"
            started = time.monotonic()
            await caller.start()
            waiting = asyncio.create_task(caller.wait(limit + 30))
            stat = root / "caller" / f"{Path(scenario).stem}-stat.csv"
            next_mark, baseline, last = args.every, None, 0
            while not waiting.done():
                await asyncio.wait({waiting}, timeout=1.0)
                done, rss = finished_calls(stat), node.memory_kib("VmRSS")
                while done >= next_mark:
                    if baseline is None and next_mark >= baseline_at:
                        baseline = rss
                    last = rss
                    growth = "" if baseline is None else f"{100 * (rss / baseline - 1):+.1f}%"
                    print(f"{next_mark:>8} {time.monotonic() - started:>9.0f} "
                          f"{rss / 1024:>8.0f} {growth:>11}", flush=True)
                    if args.tracemalloc:
                        node.snapshot()
                        marks.append(next_mark)
                    next_mark += args.every
            with contextlib.suppress(PeerError):
                waiting.result()
            await asyncio.sleep(40.0)  # past the 32 s a finished call stays findable
            end = node.memory_kib("VmRSS")
            if args.tracemalloc:
                node.snapshot()
                marks.append(0)  # 0: idle at the end
                await snapshots_written(root / "snapshots", len(marks))
            result, legs = caller.result(), agents.result()
        finally:
            with contextlib.suppress(Exception):
                await caller.stop()
            with contextlib.suppress(Exception):
                await agents.stop()
            await node.stop()
        print(f"calls: {result.successful} successful, {result.failed} failed; operator legs "
              f"answered {legs.successful}")
        if baseline:
            per_call = (baseline - idle) / max(1, int(args.rate * args.duration))
            print(f"resident memory under load: {baseline / 1024:.0f} MiB after {baseline_at} "
                  f"calls, {last / 1024:.0f} MiB at the last checkpoint "
                  f"({100 * (last / baseline - 1):+.1f}%); idle again 40 s after the last call: "
                  f"{end / 1024:.0f} MiB (idle before: {idle / 1024:.0f} MiB); about "
                  f"{per_call:.0f} KiB per concurrent call")
        if args.tracemalloc:
            compare_snapshots(root / "snapshots", marks, baseline_at)  # before root goes


if __name__ == "__main__":
    asyncio.run(main())
