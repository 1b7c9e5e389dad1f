"""Where the node's CPU goes in the inbound scenario: ``bench/inbound_queue.py`` sampled with
py-spy, the samples grouped by subsystem and by function.

Method: one step of ``bench/inbound_queue.py`` per rate (a fresh node, 1,100 operators that
echo, callers answered, a beep, the queue, 10 s calls, 30 s of arrivals) with ``py-spy record``
attached to the node's process from the caller's start to its end (``--rate`` samples a
second, every thread, idle samples left out, so the percentages are of the samples in which a
thread of the node was busy). Each sample is one stack; it is counted once for:

- its **subsystem**: the one that caused the work, i.e. the innermost frame in Parley's own
  code (``parley/sip/message.py`` is "SIP parse/serialize" …), except that time under the
  logging, store (SQLAlchemy, aiosqlite, asyncpg) or metrics libraries is counted to them
  whoever called them; a stack with no Parley frame at all is the event loop's own work
  (asyncio, uvloop) or a worker thread's;
- its **leaf**: the function running when the sample was taken ("self" time), and every
  distinct function on the stack ("cumulative" time).

py-spy is not a dependency of the node: ``pip install 'parley[bench]'`` in a virtual
environment of its own, or ``pip install --target /tmp/pyspy py-spy`` and ``--py-spy
/tmp/pyspy/bin/py-spy``. py-spy reads the node's memory, so it needs the right to trace it
(the same user, and ``CAP_SYS_PTRACE`` where ``kernel.yama.ptrace_scope`` is above 0).

    .venv/bin/python bench/profile_inbound.py --rates 20 100 --py-spy /tmp/pyspy/bin/py-spy
    .venv/bin/python bench/profile_inbound.py --from-raw /tmp/prof/rate-20.txt
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import linecache
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inbound_queue import caller_scenario, machine, step

# The innermost Parley module of a stack names the subsystem (longest prefix wins).
SUBSYSTEMS: dict[str, str] = {
    "sip/message.py": "SIP parse/serialize",
    "sip/headers.py": "SIP parse/serialize",
    "sip/uri.py": "SIP parse/serialize",
    "sdp/": "SIP parse/serialize",
    "sip/": "SIP transactions, sessions, dialogs",
    "net/transport.py": "SIP transport (UDP)",
    "net/relay.py": "RTP relay (per packet)",
    "net/rtp_ports.py": "RTP relay (per packet)",
    "net/webrtc.py": "RTP relay (per packet)",
    "net/": "SIP transport (UDP)",
    "media/": "media hub",
    "telephony/media.py": "media hub",
    "telephony/moh.py": "media hub",
    "telephony/": "B2BUA, telephony",
    "center/acd_shell.py": "ACD",
    "center/waiting.py": "ACD",
    "acd/": "ACD",
    "center/ivr_shell.py": "IVR",
    "ivr/": "IVR",
    "center/": "contact-center shell (calls, feeds)",
    "store/": "store, recorders, journal",
    "journal.py": "store, recorders, journal",
    "reports/": "store, recorders, journal",
    "bus.py": "events, bus",
    "events.py": "events, bus",
    "event_codec.py": "events, bus",
    "webhooks.py": "events, bus",
    "web/": "web",
    "metrics.py": "metrics",
    "logs.py": "logging",
    "clock.py": "asyncio (loop, tasks, timers)",
}
# Libraries whose time is counted to their own subsystem whoever called them.
LIBRARIES: dict[str, str] = {
    "structlog": "logging",
    "logging": "logging",
    "sqlalchemy": "store, recorders, journal",
    "aiosqlite": "store, recorders, journal",
    "sqlite3": "store, recorders, journal",
    "asyncpg": "store, recorders, journal",
    "prometheus_client": "metrics",
    "uvicorn": "web",
    "starlette": "web",
    "fastapi": "web",
    "jinja2": "web",
}
LOOP = "asyncio (loop, tasks, timers)"
NATIVE = "event loop, native (uvloop: polling, socket reads, dispatch)"
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
# A thread whose innermost frame is one of these lines waits (for work, a lock, a timer):
# py-spy counts some such samples as busy (the thread was woken, or about to sleep).
WAITING = re.compile(r"\.get\((block=True)?\)$|\bwaiter\.acquire\(|\.wait\(|\bsleep\(|"
                     r"\bselect\(|\.poll\(|_wait_for_tstate_lock")
STARTUP = {"typer", "click", "uvloop"}
# Parley frames that only start the node (the stack's root): never the cause of work.
ENTRY = {("cli.py", None), ("app.py", "run"), ("app.py", "main"), ("app.py", "serve")}


@dataclass(frozen=True)
class Frame:
    function: str
    file: str
    line: int = 0

    @property
    def name(self) -> str:
        """``module.function`` with the module as a dotted path from the package root."""
        return f"{module_of(self.file)}.{self.function}"


def module_of(file: str) -> str:
    """A dotted module name for a frame's file (``parley.sip.message``, ``asyncio.events``)."""
    path = file.replace("\\", "/")
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                path = path.split("/", 1)[1] if "/" in path else path
            break
    return path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")


def parse_frame(text: str) -> Frame:
    match = FRAME.match(text)
    if match is None:
        return Frame(text, "")
    return Frame(match["function"], match["file"], int(match["line"] or 0))


def waiting(frame: Frame) -> bool:
    """Whether the innermost frame is a thread waiting (its source line is a blocking call)."""
    return bool(frame.line) and bool(WAITING.search(
        linecache.getline(frame.file, frame.line).strip()))


def entry(inside: str, function: str) -> bool:
    """A frame of the node's start-up chain (``parley serve`` down to the event loop)."""
    return (inside, None) in ENTRY or (inside, function.rsplit(".", 1)[-1]) in ENTRY


def parley_part(file: str) -> str | None:
    """The path inside the ``parley`` package (``sip/message.py``), or None."""
    path = file.replace("\\", "/")
    if "/parley/" not in path or "/parley/testing/" in path:
        return None
    return path.rsplit("/parley/", 1)[1]


def startup(frame: Frame) -> bool:
    """A frame every sample of its thread has: the command, the loop's start, a thread's."""
    inside = parley_part(frame.file)
    if inside is not None:
        return entry(inside, frame.function)
    return (library_of(frame.file) in STARTUP or frame.file.endswith("/bin/parley")
            or frame.name in {"asyncio.runners.Runner.run", "threading.Thread.run",
                              "threading.Thread._bootstrap", "threading.Thread._bootstrap_inner"})


def library_of(file: str) -> str:
    """The top-level package or stdlib module a frame's file belongs to."""
    return module_of(file).split(".", 1)[0]


def subsystem(stack: list[Frame]) -> str:
    """The subsystem a sample is counted to (``stack`` from the root to the leaf)."""
    for frame in reversed(stack):
        inside = parley_part(frame.file)
        if inside is not None and entry(inside, frame.function):
            return NATIVE  # the loop itself runs: nothing of Parley's is on the stack
        if inside is not None:
            for prefix in sorted(SUBSYSTEMS, key=len, reverse=True):
                if inside.startswith(prefix):
                    return SUBSYSTEMS[prefix]
            return f"other ({inside})"
        library = LIBRARIES.get(library_of(frame.file))
        if library is not None:
            return library
    return LOOP


@dataclass
class Profile:
    """The samples of one py-spy raw file."""

    samples: int = 0
    waiting: int = 0  # samples of threads waiting, left out of every figure
    by_subsystem: Counter[str] = field(default_factory=Counter)
    by_thread: Counter[str] = field(default_factory=Counter)
    self_time: Counter[str] = field(default_factory=Counter)
    cumulative: Counter[str] = field(default_factory=Counter)

    def add(self, thread: str, stack: list[Frame], count: int) -> None:
        if stack and waiting(stack[-1]):
            self.waiting += count
            return
        self.samples += count
        self.by_thread[thread] += count
        self.by_subsystem[subsystem(stack)] += count
        if stack:
            self.self_time[stack[-1].name] += count
        for name in {frame.name for frame in stack if not startup(frame)}:
            self.cumulative[name] += count


def read_raw(path: Path) -> Profile:
    """Parse py-spy's ``--format raw`` output (``--threads``: the first frame is the thread)."""
    profile = Profile()
    for line in path.read_text(errors="replace").splitlines():
        text, _, count = line.rpartition(" ")
        if not text or not count.isdigit():
            continue
        parts = text.split(";")
        thread = parts[0].split(": ", 1)[-1] if parts[0].startswith("thread (") else "?"
        frames = [parse_frame(part) for part in parts[1:] if part]
        profile.add(thread, frames, int(count))
    return profile


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}" if whole else "    -"


def report(profile: Profile, top: int, cpu_percent: float | None) -> str:
    """The grouped table and the top functions, as Markdown-friendly text."""
    lines = [f"samples: {profile.samples} of busy threads ({profile.waiting} more of threads "
             "waiting, left out)"]
    if cpu_percent is not None:
        lines.append(f"node CPU over the step: {cpu_percent:.1f} % of a core; the column "
                     "'of a core' is the share times that")
    lines += ["", "| subsystem | % of samples | % of a core |", "|---|---:|---:|"]
    for name, count in profile.by_subsystem.most_common():
        share = 100 * count / profile.samples if profile.samples else 0.0
        core = "-" if cpu_percent is None else f"{share * cpu_percent / 100:.1f}"
        lines.append(f"| {name} | {share:.1f} | {core} |")
    lines += ["", "| thread | % of samples |", "|---|---:|"]
    lines += [f"| {name} | {percent(count, profile.samples).strip()} |"
              for name, count in profile.by_thread.most_common(6)]
    lines += ["", f"| top {top} functions, self | % |", "|---|---:|"]
    lines += [f"| `{name}` | {percent(count, profile.samples).strip()} |"
              for name, count in profile.self_time.most_common(top)]
    lines += ["", f"| top {top} functions, cumulative | % |", "|---|---:|"]
    lines += [f"| `{name}` | {percent(count, profile.samples).strip()} |"
              for name, count in profile.cumulative.most_common(top)]
    return "\n".join(lines)


def recorder(py_spy: str, output: Path,
             rate_hz: int) -> Callable[[int], contextlib.AbstractContextManager[None]]:
    """``inbound_queue.step``'s ``during_calls``: py-spy on the node while the callers run."""

    @contextlib.contextmanager
    def record(pid: int) -> Iterator[None]:
        command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--threads",
                   "--full-filenames", "--nonblocking", "--rate", str(rate_hz),
                   "--output", str(output)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        try:
            yield
        finally:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                _, errors = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                _, errors = process.communicate()
            if not output.exists():
                raise RuntimeError(f"py-spy wrote no profile: {errors.decode(errors='replace')}")

    return record


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--operators", type=int, default=1100)
    parser.add_argument("--media", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--recording", choices=["none", "all"], default="none",
                        help="the queue's recording policy (all: every call recorded)")
    parser.add_argument("--relay-workers", type=int, default=0, metavar="N",
                        help="media.relay_workers of the node (its own process is sampled)")
    parser.add_argument("--kernel-forwarding", action="store_true",
                        help="media.kernel_forwarding on (root and nftables)")
    parser.add_argument("--kernel-new-streams", action="store_true",
                        help="with --kernel-forwarding, media.kernel_new_streams on")
    parser.add_argument("--rate-hz", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy",
                        help="the py-spy executable")
    parser.add_argument("--top", type=int, default=25, help="functions listed")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the raw profiles (and the steps' logs) in this folder")
    parser.add_argument("--from-raw", type=Path, nargs="+", default=None,
                        help="only group these py-spy raw files (no run)")
    args = parser.parse_args()
    if args.from_raw:
        for path in args.from_raw:
            print(f"## {path}\n\n{report(read_raw(path), args.top, None)}\n", flush=True)
        return
    if shutil.which(args.py_spy) is None:
        parser.error("py-spy not found: pip install 'parley[bench]' in a venv of its own, or "
                     "pip install --target /tmp/pyspy py-spy, then --py-spy /tmp/pyspy/bin/py-spy")
    for tool in ("sipp", "sox"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed")
    print(f"machine: {machine()}; {'with' if args.media else 'without'} media, "
          f"recording {args.recording}, {args.relay_workers} relay workers, "
          f"{'kernel forwarding, ' if args.kernel_forwarding else ''}"
          f"{'new streams in the kernel, ' if args.kernel_new_streams else ''}"
          f"{args.operators} operators, calls of "
          f"{args.duration:g} s", flush=True)
    with contextlib.ExitStack() as stack:
        root = args.keep or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="parley-profile-inbound-")))
        root.mkdir(parents=True, exist_ok=True)
        scenario = caller_scenario(root / "scenario", args.media)
        for rate in args.rates:
            raw = root / f"rate-{rate}.txt"
            result = await step(root / f"rate-{rate}", scenario, rate, rate * 30,
                                args.duration, args.operators, 2.0,
                                recording=args.recording, relay_workers=args.relay_workers,
                                kernel_forwarding=args.kernel_forwarding,
                                kernel_new_streams=args.kernel_new_streams,
                                during_calls=recorder(args.py_spy, raw, args.rate_hz))
            print(f"## {rate} calls/s: {result.calls} calls, clean: "
                  f"{'yes' if result.clean else 'NO'}, wait to operator "
                  f"{result.wait_s or 0:.2f} s\n", flush=True)
            print(report(read_raw(raw), args.top, result.cpu_percent), "\n", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
