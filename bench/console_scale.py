"""The supervisor console at floor scale: the node's CPU, and one real page's frame time, with
1,400 operators and 1,000 calls changing state at 100 events a second.

Method: a node in its own process (this script with ``--serve``: the composition root's
``build`` on SQLite, its site imported from a provisioning document: 1,400 operators in
seven queues, devices with static contacts so that ``ready_on_register`` has them logged in
and ready, and a site-wide supervisor ``boss``). Inside that process a generator makes
``--rate`` events a second, half of them operator state changes through the ACD shell's
real path (``LiveCenter.operator_event``: ready, then not ready with a reason, published on
the bus as ``AgentStateChanged`` and written to the store), half of them call changes. The
calls are the one synthetic part: 1,000 calls placed over SIP would measure the B2BUA and
the RTP relay, not the console, so the generator keeps a picture of 1,000 calls (queued,
ringing, talking with an operator; a call that ends is replaced by a new one) and the node's
call feed (``parley.center.call_feed``) reads it in place of the live calls: the feed's
diffing, the bus, the event stream's scoping and the page are the node's own.

The script first measures the node's CPU with no console open (what the events cost by
themselves), then opens ``--consoles`` synthetic consoles (WebSockets on ``/api/events``
with the supervisor's session and the page's topics, counting what they receive) and one
real headless Chromium on ``/supervisor``; once the page shows 1,000 calls and 1,400
operators it measures for ``--seconds``: the node's CPU (user + system from /proc, % of one
core), the page's frame times (``requestAnimationFrame`` deltas: p50, p95, max), its long
tasks (over 50 ms: count and total), and how many row changes it drew.

    flock /tmp/parley-peer.lock .venv/bin/python bench/console_scale.py
    flock /tmp/parley-peer.lock .venv/bin/python bench/console_scale.py --consoles 50 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from websockets.asyncio.client import ClientConnection, connect

from parley.testing.peers import process_cpu_seconds
from parley.testing.ports import LOOPBACK, free_port, free_port_block

FIRST = 40001
QUEUES = 7
BOSS, BOSS_PASSWORD = "boss", "pw-boss-123"
READY_LINE = "console-scale node ready"
CHROMIUM = "/usr/bin/chromium"


def names(operators: int) -> list[str]:
    return [str(FIRST + index) for index in range(operators)]


def provisioning(operators: int, parked: int) -> dict[str, Any]:
    """1,400 operators in seven queues, all on one static contact nothing answers."""
    everyone = names(operators)
    per_queue = -(-operators // QUEUES)
    return {
        "version": 1,
        "site": {"name": "Console scale benchmark", "time_zone": "UTC", "sip_realm": "parley",
                 "ready_on_register": True},
        "users": [*({"username": name, "display_name": f"Operator {name}", "roles": ["agent"],
                     "extension": name} for name in everyone),
                  {"username": BOSS, "display_name": "Boss", "roles": ["supervisor"],
                   "password": BOSS_PASSWORD}],
        "devices": [{"name": name, "user": name, "sip_password": f"sip-{name}",
                     "static_contact": f"sip:{name}@{LOOPBACK}:{parked}"} for name in everyone],
        "queues": [{"name": f"queue-{index + 1}", "strategy": "longest_idle",
                    "members": everyone[index * per_queue:(index + 1) * per_queue]}
                   for index in range(QUEUES)],
    }


# --- the node's process -----------------------------------------------------------------------


class Floor:
    """The generator's picture of the calls in progress and what changes it next."""

    def __init__(self, operators: list[str], calls: int, seed: int = 7) -> None:
        from parley.center.ports import LiveCall

        self.random = random.Random(seed)
        self.operators = operators
        self.free = set(operators)
        self.calls: dict[str, LiveCall] = {}
        self.made = 0
        now = datetime.now(UTC)
        for _ in range(calls):
            call = self._new(now - timedelta(seconds=self.random.uniform(0, 600)))
            roll = self.random.random()
            if roll > 0.15:
                call = self._ring(call)
                call = replace(call, state="talking", answered_at=call.started_at
                               + timedelta(seconds=self.random.uniform(1, 30)))
            elif roll > 0.10:
                call = self._ring(call)
            self.calls[call.id] = call

    def _new(self, at: datetime) -> Any:
        from parley.center.ports import LiveCall

        self.made += 1
        queue = f"queue-{self.random.randrange(QUEUES) + 1}"
        return LiveCall(id=f"bench-{self.made:06d}", direction="inbound",
                        caller=f"+4930{self.random.randrange(10**7):07d}", called="700",
                        state="queued", started_at=at, queue=queue)

    def _ring(self, call: Any) -> Any:
        operator = self.random.choice(sorted(self.free)) if self.free else None
        if operator is not None:
            self.free.discard(operator)
        return replace(call, state="ringing", operator=operator)

    def step(self) -> None:
        """One call changes: queued rings an operator, ringing is answered, talking ends (and
        a new call arrives in its place)."""
        call = self.calls[self.random.choice(list(self.calls))]
        if call.state == "queued":
            self.calls[call.id] = self._ring(call)
        elif call.state == "ringing":
            self.calls[call.id] = replace(call, state="talking",
                                          answered_at=datetime.now(UTC))
        else:
            del self.calls[call.id]
            if call.operator:
                self.free.add(call.operator)
            new = self._new(datetime.now(UTC))
            self.calls[new.id] = new

    def live_calls(self) -> list[Any]:
        return list(self.calls.values())


async def serve(workdir: Path, config: Path, http_port: int, operators: int, calls: int,
                rate: float) -> None:
    """The node, with the generator: runs until killed."""
    from parley.app import build
    from parley.app import serve as serve_node
    from parley.center.live import LiveCenter
    from parley.config import PortRange, Settings
    from parley.events import AgentNotReady, AgentReady
    from parley.provisioning import import_file
    from parley.store import build_store
    from parley.store.credentials import Passwords

    rtp = free_port_block(20)
    settings = Settings(host=LOOPBACK, sip_port=free_port(), http_port=http_port,
                        data_dir=workdir / "data",
                        rtp_ports=PortRange(first=rtp, last=rtp + 19))
    store = await build_store(settings, passwords=Passwords.cheap())
    await import_file(store, config)
    await store.close()
    node = await build(settings, passwords=Passwords.cheap())
    floor = Floor(names(operators), calls)
    # the node's live calls (the feeds' and the console's first load's: without the latter
    # the page would list none at first and learn each call only from its next change, a
    # minute to see 95% of them) are the floor's
    node.call_feed.source.__self__.live_calls = floor.live_calls  # type: ignore[attr-defined]
    node.call_feed.source = floor.live_calls
    if node.operator_feed is not None:
        node.operator_feed.calls = floor.live_calls
    center = LiveCenter(node.center)
    ready = asyncio.Event()
    task = asyncio.create_task(serve_node(node, ready=lambda _node: ready.set()))
    await ready.wait()
    while len([a for a in node.center.shell.acd.agents.values()  # noqa: ASYNC110 - polled
               if str(a.state) == "ready"]) < operators:
        await asyncio.sleep(0.2)
    print(READY_LINE, flush=True)
    away: set[str] = set()
    everyone = names(operators)
    chooser = random.Random(11)
    start, index = time.monotonic(), 0
    while not task.done():
        index += 1
        await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
        if index % 2:
            floor.step()
        else:
            operator = chooser.choice(everyone)
            with contextlib.suppress(Exception):  # an operator the ACD refuses: the next
                if operator in away:
                    await center.operator_event(AgentReady(operator))
                    away.discard(operator)
                else:
                    await center.operator_event(AgentNotReady(operator, "break"))
                    away.add(operator)
    await task


# --- the measuring side ------------------------------------------------------------------------


class Console:
    """A synthetic console: the page's event socket, counting what arrives."""

    def __init__(self) -> None:
        self.received = 0
        self.socket: ClientConnection | None = None

    async def open(self, url: str, cookie: str, origin: str) -> None:
        self.socket = await connect(url, additional_headers={
            "Cookie": f"parley_session={cookie}", "Origin": origin}, max_queue=None)

    async def listen(self) -> None:
        assert self.socket is not None
        with contextlib.suppress(Exception):
            async for message in self.socket:
                self.received += len(message) and 1


MEASURE_PAGE = """() => {
  window.benchFrames = [];
  window.benchLong = [];
  let last = performance.now();
  const frame = (at) => { window.benchFrames.push(at - last); last = at;
                          if (!window.benchStop) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.benchLong.push(entry.duration);
  }).observe({ type: "longtask" });
  window.benchDrawn = 0;
  new MutationObserver((records) => { window.benchDrawn += records.length; })
    .observe(document.getElementById("call-rows"), { childList: true, subtree: true,
                                                     characterData: true });
}"""


def top_functions(profile: dict[str, Any], count: int = 12) -> list[tuple[str, float]]:
    """The page's functions that took the most time themselves (share of the samples), from
    a Chromium CPU profile."""
    samples = profile.get("samples", [])
    hits: dict[int, int] = {}
    for node in samples:
        hits[node] = hits.get(node, 0) + 1
    by_name: dict[str, int] = {}
    for node in profile["nodes"]:
        frame = node["callFrame"]
        url = frame.get("url", "").rsplit("/", 1)[-1]
        function = frame.get("functionName") or "(anonymous)"
        name = f"{function} {url}:{frame.get('lineNumber', 0) + 1}"
        by_name[name] = by_name.get(name, 0) + hits.get(node["id"], 0)
    total = max(1, len(samples))
    return [(name, round(100 * n / total, 1))
            for name, n in sorted(by_name.items(), key=lambda item: -item[1])[:count]]


def trace_summary(trace: bytes, count: int = 12) -> list[tuple[str, float]]:
    """The renderer main thread's time by event (ms, self time of the outermost events
    and their children summed by name: Layout, RecalcStyle, FunctionCall…)."""
    events = json.loads(trace)
    events = events.get("traceEvents", events) if isinstance(events, dict) else events
    main = {(e["pid"], e["tid"]) for e in events
            if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"}
    total: dict[str, float] = {}
    for e in events:
        if (e.get("pid"), e.get("tid")) in main and e.get("ph") == "X" and "dur" in e:
            total[e["name"]] = total.get(e["name"], 0.0) + e["dur"] / 1000
    return [(name, round(ms, 1)) for name, ms in
            sorted(total.items(), key=lambda item: -item[1])[:count]]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * (len(ordered) - 1)))] if ordered else 0.0


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="console-scale-") as folder:
        workdir = Path(folder)
        config = workdir / "site.yaml"
        config.write_text(yaml.safe_dump(provisioning(args.operators, free_port()),
                                         sort_keys=False))
        http_port = free_port()
        log = (workdir / "node.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", str(workdir), "--http-port", str(http_port),
            "--operators", str(args.operators), "--calls", str(args.calls),
            "--rate", str(args.rate), stdout=log, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PARLEY_LOG_LEVEL": "warning"})
        consoles: list[Console] = []
        try:
            deadline = time.monotonic() + 180
            while READY_LINE not in (workdir / "node.log").read_text(errors="replace"):
                if process.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError((workdir / "node.log").read_text()[-3000:])
                await asyncio.sleep(0.5)
            await asyncio.sleep(3.0)  # the generator settles
            before, began = process_cpu_seconds(process.pid), time.monotonic()
            await asyncio.sleep(args.seconds)
            figures["alone_cpu_pct"] = 100 * (process_cpu_seconds(process.pid) - before) / (
                time.monotonic() - began)

            base = f"http://{LOOPBACK}:{http_port}"
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                signed = await client.post("/api/auth/login", json={
                    "username": BOSS, "password": BOSS_PASSWORD})
                signed.raise_for_status()
                cookies = {name: value for name, value in client.cookies.items()}
                for name, path in (("live_s", "/supervisor/live"),
                                   ("console_html_s", "/supervisor")):
                    asked = time.monotonic()
                    (await client.get(path)).raise_for_status()
                    figures[name] = time.monotonic() - asked
            url = f"ws://{LOOPBACK}:{http_port}/api/events?topics=operator,call,queue"
            for _ in range(args.consoles):
                console = Console()
                await console.open(url, cookies["parley_session"], base)
                consoles.append(console)
            listeners = [asyncio.create_task(console.listen()) for console in consoles]
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                           headless=True)
                context = await browser.new_context(viewport={"width": 1366, "height": 768})
                await context.add_cookies([{"name": name, "value": value, "url": base}
                                           for name, value in cookies.items()])
                page = await context.new_page()
                if args.trace:  # the first load's trace: where the renderer's time goes
                    await browser.start_tracing(page=page, categories=[
                        "devtools.timeline", "disabled-by-default-devtools.timeline"])
                loading = time.monotonic()
                await page.goto(f"{base}/supervisor")
                if args.trace:
                    await page.wait_for_timeout(args.trace_s * 1000)
                    trace = await browser.stop_tracing()
                    args.trace.write_bytes(trace)
                    figures["load_trace"] = trace_summary(trace)
                await page.wait_for_function(
                    f"document.querySelectorAll('#call-rows tr[data-key]').length >= "
                    f"{args.calls - 50} && document.querySelectorAll("
                    f"'#operator-rows tr[data-key]').length >= {args.operators}",
                    timeout=120_000, polling=500)
                figures["page_ready_s"] = time.monotonic() - loading
                await asyncio.sleep(2.0)
                await page.evaluate(MEASURE_PAGE)
                profiler = None
                if args.profile_page:  # the page's JS CPU profile, by function (self time)
                    profiler = await context.new_cdp_session(page)
                    await profiler.send("Profiler.enable")
                    await profiler.send("Profiler.setSamplingInterval", {"interval": 500})
                    await profiler.send("Profiler.start")
                received = sum(console.received for console in consoles)
                before, began = process_cpu_seconds(process.pid), time.monotonic()
                own = time.process_time()
                await asyncio.sleep(args.seconds)
                wall = time.monotonic() - began
                figures["consoles_cpu_pct"] = 100 * (
                    process_cpu_seconds(process.pid) - before) / wall
                figures["bench_cpu_pct"] = 100 * (time.process_time() - own) / wall
                if profiler is not None:
                    figures["page_profile"] = top_functions(
                        (await profiler.send("Profiler.stop"))["profile"])
                page_figures = await page.evaluate(
                    "() => { window.benchStop = true; return {frames: window.benchFrames, "
                    "long: window.benchLong, drawn: window.benchDrawn, rows: "
                    "document.querySelectorAll('#call-rows tr[data-key]').length}; }")
                figures["messages_per_console_s"] = (
                    sum(console.received for console in consoles) - received) / max(
                    1, len(consoles)) / wall
                await browser.close()
            for task in listeners:
                task.cancel()
            frames = page_figures["frames"][1:]
            figures.update({
                "frames": len(frames), "fps": len(frames) / wall,
                "frame_p50_ms": percentile(frames, 0.5), "frame_p95_ms": percentile(frames, 0.95),
                "frame_max_ms": max(frames) if frames else 0.0,
                "long_tasks": len(page_figures["long"]),
                "long_task_ms": sum(page_figures["long"]),
                "dom_mutations_per_s": page_figures["drawn"] / wall,
                "rows": page_figures["rows"],
            })
        finally:
            for console in consoles:
                if console.socket is not None:
                    with contextlib.suppress(Exception):
                        await console.socket.close()
            if process.returncode is None:
                process.terminate()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 30)
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            log.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operators", type=int, default=1400)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="events a second")
    parser.add_argument("--consoles", type=int, default=20,
                        help="synthetic consoles (event sockets) beside the real page")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--profile-page", action="store_true",
                        help="print the page's JS functions by CPU time (Chromium profiler)")
    parser.add_argument("--trace", type=Path,
                        help="write a Chromium trace of the first --trace-s of the page's load")
    parser.add_argument("--trace-s", type=float, default=20.0)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--http-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        profile = os.environ.get("CONSOLE_SCALE_PROFILE")  # a file for the node's cProfile

        async def node() -> None:
            task = asyncio.current_task()
            assert task is not None
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
            await serve(args.serve, args.serve / "site.yaml", args.http_port, args.operators,
                        args.calls, args.rate)

        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            profiler.enable()
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(node())
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        return
    print(f"{args.operators} operators, {args.calls} calls, {args.rate:g} events/s "
          f"(half operator states through the ACD, half call changes), {args.consoles} "
          f"synthetic consoles and one Chromium page, {args.seconds:g} s each")
    f = asyncio.run(measure(args))
    print(json.dumps({key: round(value, 2) if isinstance(value, float) else value
                      for key, value in f.items()}))
    print(f"node CPU, no console:             {f['alone_cpu_pct']:5.1f}% of a core")
    print(f"node CPU, {args.consoles} consoles + the page: {f['consoles_cpu_pct']:5.1f}% "
          f"of a core (this script {f['bench_cpu_pct']:.1f}%)")
    print(f"page: ready in {f['page_ready_s']:.1f} s with {f['rows']} call rows; "
          f"{f['fps']:.0f} frames/s, frame p50 {f['frame_p50_ms']:.1f} ms, "
          f"p95 {f['frame_p95_ms']:.1f} ms, max {f['frame_max_ms']:.1f} ms; "
          f"{f['long_tasks']} long tasks ({f['long_task_ms']:.0f} ms in all)")
    print(f"first load: /supervisor {f['console_html_s']:.2f} s, /supervisor/live "
          f"{f['live_s']:.2f} s")
    for name, ms in f.get("load_trace", []):
        print(f"  load trace {ms:9.1f} ms  {name}")
    for name, share in f.get("page_profile", []):
        print(f"  page CPU {share:5.1f}%  {name}")
    print(f"each console received {f['messages_per_console_s']:.0f} messages/s")


if __name__ == "__main__":
    main()
