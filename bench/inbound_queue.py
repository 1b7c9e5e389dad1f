"""Inbound calls through a queue on the real node: callers answered, a beep, the queue, an
operator; calls per second and concurrent calls with 0 failures, Parley's CPU and memory.

Method: each step starts a fresh node (``parley serve --config``) on loopback with a
provisioning document written by this script: ``--operators`` operators, each with a device
whose static contact is one sipp answerer (``bench/sipp/uas_agent.xml`` with ``-rtp_echo``,
every operator its own user at the same host and port), the site's ``ready_on_register`` so
that they are ready from the start, queue ``bench`` (longest idle, no wrap-up, no
announcements, no recording) and number 700 bound to flow ``bench-queue``: play the stock
``beep``, then queue ``bench``. A sipp caller (``bench/sipp/uac_queue_rtp.xml`` streaming a
speech file as µ-law, or ``uac_queue_nortp.xml`` with ``--no-media``) places ``rate * 30``
calls to 700 at each rate of ``--rates``; each call lasts ``--duration`` seconds after its
answer, then the caller hangs up. A step is clean when every caller call succeeded, every
operator leg was answered and ended normally (the answerer's ``-stf`` statistics) and the
node kept running. Parley's CPU (user + system from /proc of its process, over the caller's
run, as % of one core) and peak memory (VmHWM) are its own; the two sipp processes share the
same machine. Also shown: the mean time from Parley's answer to the operator's, and the calls
with a complete record in the store once the node has stopped (SQLite in its data folder, or
a throw-away PostgreSQL server with ``--database postgresql``). The node's event-loop lag
over the caller's run (median, 99th percentile and worst) comes from two scrapes of its
``parley_event_loop_delay_seconds`` histogram, each figure the bound of its bucket
(``<=5ms``: at most 5 ms), and the share of its samples later than 5 ms ("lag>5ms": the aim,
a p99 under 5 ms, is under 1%). ``--recording all`` records every call (the queue's policy); the
step is then clean only if the store holds a recording of each. Offers that pause: the
longest time an operator was ready with no offer made while calls kept arriving ("gap ms"),
and how many such stretches exceeded 200 ms ("pauses"), from the store's timeline and
operator state log (SQLite only).

A key pressed in an IVR menu under that load (``--dtmf N``): a second sipp caller
(``bench/sipp/uac_menu_dtmf.xml``) places N calls a second to number 701 beside the load,
bound to flow ``bench-menu`` (a menu that plays the beep and waits; key 1 hangs up). Each
call waits 1.5 s after its answer, then sends key 1 as RFC 4733 events (a 100 ms press: the
end packet 80 ms after the first) and times, with sipp's response-time timer, the first
event packet to the node's BYE. Printed: median, 99th percentile and worst (nearest rank) of
that time less the 80 ms, that is from the key's release (the end packet, when a receiver
knows the key) to the node acting on it; keys not acted on within KEY_GIVEN_UP_S are
counted apart. Calls to 701 are not counted in the step's calls, records or clean.

    .venv/bin/python bench/inbound_queue.py --rates 20 40 60 80 100 --duration 10
    .venv/bin/python bench/inbound_queue.py --no-media --rates 100
    .venv/bin/python bench/inbound_queue.py --database postgresql
    .venv/bin/python bench/inbound_queue.py --rates 20 40 100 --dtmf 2

``--kernel-forwarding`` starts the node with ``media.kernel_forwarding`` on (root and
Debian's nftables needed): bridges only forwarding are handed to nftables. The kernel's work
then lands outside the node's process (in the sender's system call or ksoftirqd), so every
step also shows the sipp processes' CPU and the whole machine's (busy time from /proc/stat,
all cores, in % of one core; other work on a shared machine counts too), and how many
directions the kernel forwarded at the middle of the caller's run. ``--kernel-new-streams``
adds ``media.kernel_new_streams``: the operator's voice to the caller, which continues the
stream of the beep, goes to the kernel too (the caller gets the operator's stream as it is).

``--relay-workers N`` starts the node with ``media.relay_workers`` N: bridged directions
are forwarded by N worker processes; the node's "CPU %" is then its own process only and
"workers %" the CPU of its child processes (the workers; with ``--recording all`` also the
compressor) over the caller's run.

Any other SIP server can be measured with the same callers and operators (``--target``): the
script then starts no node; the server must route ``--number`` (default 700) to a queue whose
operators it calls at ``--operators-at`` (one sipp answerer; every operator's contact is that
address, as in the provisioning document above), and ``--server-pid`` names its process for
CPU and memory. Records are then not counted (the store is Parley's).

    .venv/bin/python bench/inbound_queue.py --target 127.0.0.1:5060 --number 700 \
        --operators-at 127.0.0.1:5090 --server-pid $(pidof asterisk) --rates 15 20 25 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import math
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from parley.net.kernel_forward import table_name
from parley.telephony.prompts import find_stock_sounds
from parley.testing.media import event_stream, write_pcap
from parley.testing.peers import (
    PeerError,
    Sipp,
    SippResult,
    child_pids,
    children_cpu_seconds,
    process_cpu_seconds,
)
from parley.testing.ports import LOOPBACK, free_port, free_port_block
from parley.testing.postgres import ThrowawayPostgres, create_database

SCENARIOS = Path(__file__).resolve().parent / "sipp"
QUEUE_NUMBER = "700"
MENU_NUMBER = "701"  # a one-key menu: key 1 hangs up (the DTMF probe, ``--dtmf``)
KEY_GIVEN_UP_S = 20.0
"""A probe call whose key was not acted on within this (the menu waits 60 s) fails: its key
counts as not acted on."""
FIRST_OPERATOR = 20001  # operators are 20001, 20002 …: user name, extension and device alike
SPEECH = ("demo-instruct.wav", "demo-congrats.wav")  # stock prompts the callers say
READY_LINE = "Press Ctrl-C to stop."


# --- the provisioning document ----------------------------------------------------------------


def operator_names(count: int) -> list[str]:
    """The operators' user names; digits, so that each can be its own extension."""
    return [str(FIRST_OPERATOR + index) for index in range(count)]


METRICS_USER, METRICS_PASSWORD = "bench-metrics", "bench-metrics-password"
"""The admin the benchmark signs in as to read the node's /metrics (RTP counters)."""
MAX_LOSS = 0.001
"""A step whose relay lost more than this share of the callers' and operators' packets is
not clean."""


def provisioning(operators: int, agent_port: int, host: str = LOOPBACK,
                 recording: str = "none") -> dict[str, Any]:
    """The site of the benchmark: operators at one static contact, queue ``bench``, number 700
    (its calls recorded per ``recording``: ``none`` or ``all``)."""
    names = operator_names(operators)
    flow = {"flow": "bench-queue", "start": "beep",
            "nodes": {"beep": {"type": "play", "prompt": "beep", "next": "to_queue"},
                      "to_queue": {"type": "queue", "queue": "bench"}}}
    menu = {"flow": "bench-menu", "start": "menu",
            "nodes": {"menu": {"type": "menu", "prompt": "beep", "options": {"1": "pressed"},
                               "timeout": 60, "retries": 0, "on_failure": "no_key"},
                      "pressed": {"type": "hangup"},
                      "no_key": {"type": "hangup", "cause": "call_rejected"}}}
    return {
        "version": 1,
        "site": {"name": "Inbound queue benchmark", "time_zone": "UTC", "sip_realm": "parley",
                 "ready_on_register": True},
        "users": [{"username": name, "display_name": f"Operator {name}", "roles": ["agent"],
                   "extension": name} for name in names]
        + [{"username": METRICS_USER, "roles": ["admin"], "password": METRICS_PASSWORD}],
        "devices": [{"name": name, "user": name, "sip_password": f"pw{name}",
                     "static_contact": f"sip:{name}@{host}:{agent_port}"} for name in names],
        "queues": [{"name": "bench", "strategy": "longest_idle", "wrap_up_s": 0,
                    "ring_timeout_s": 15, "announce_every_s": 0, "recording": recording,
                    "members": names}],
        "flows": [{"name": "bench-queue", "description": "Beep, then the queue",
                   "definition": flow},
                  {"name": "bench-menu", "description": "Key 1 hangs up",
                   "definition": menu}],
        "numbers": [{"number": QUEUE_NUMBER, "flow": "bench-queue",
                     "description": "Inbound queue benchmark"},
                    {"number": MENU_NUMBER, "flow": "bench-menu",
                     "description": "A key pressed in a menu (DTMF probe)"}],
    }


def write_provisioning(path: Path, operators: int, agent_port: int,
                       recording: str = "none") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(provisioning(operators, agent_port, recording=recording),
                                   sort_keys=False))
    return path


# --- the caller's scenario and audio ----------------------------------------------------------


def speech_ulaw(folder: Path) -> Path:
    """A raw µ-law file of speech for the caller to stream (stock prompts, else espeak-ng)."""
    folder.mkdir(parents=True, exist_ok=True)
    sounds = find_stock_sounds()
    sources = [] if sounds is None else [str(sounds / name) for name in SPEECH]
    if not sources:
        spoken = folder / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(spoken), "Thank you for calling. Please hold "
                        "the line, an operator will be with you shortly."], check=True)
        sources = [str(spoken)]
    audio = folder / "speech.ulaw"
    subprocess.run(["sox", *sources, "-t", "raw", "-e", "mu-law", "-r", "8000", "-c", "1",
                    str(audio)], check=True)
    return audio


def caller_scenario(folder: Path, media: bool) -> Path:
    """The shared scenario, unchanged but for the audio file's path (with ``media``)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not media:
        return SCENARIOS / "uac_queue_nortp.xml"
    text = (SCENARIOS / "uac_queue_rtp.xml").read_text(encoding="iso-8859-1")
    scenario = folder / "uac_queue_rtp.xml"
    scenario.write_text(text.replace("AUDIO_ULAW", str(speech_ulaw(folder))),
                        encoding="iso-8859-1")
    return scenario


def menu_scenario(folder: Path) -> tuple[Path, float]:
    """The DTMF probe's scenario with its capture of key 1 (RFC 4733, 100 ms), and when in
    that capture the key's end packet goes out (seconds after its first): a receiver knows
    the key from its end packet."""
    folder.mkdir(parents=True, exist_ok=True)
    packets = event_stream("1")
    capture = write_pcap(folder / "key-1.pcap", packets)
    end = min(when for when, packet in packets if packet[13] & 0x80)
    text = (SCENARIOS / "uac_menu_dtmf.xml").read_text(encoding="iso-8859-1")
    scenario = folder / "uac_menu_dtmf.xml"
    scenario.write_text(text.replace("DTMF_PCAP", str(capture)), encoding="iso-8859-1")
    return scenario, end


def key_latencies(folder: Path) -> list[float]:
    """Seconds from each probe call's first key packet to the node's BYE: the response
    times sipp wrote with ``-trace_rtt`` (``*_rtt.csv``: date_ms;response_time_ms;rtd_no)."""
    values: list[float] = []
    for path in sorted(folder.glob("*_rtt.csv")):
        for line in path.read_text().splitlines()[1:]:
            fields = line.split(";")
            if len(fields) >= 2 and fields[1].strip():
                values.append(float(fields[1]) / 1000)
    return values


def nearest_rank(values: list[float], share: float) -> float | None:
    """The value at ``share`` (0 to 1) of the sorted values, by nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- the node ---------------------------------------------------------------------------------


@dataclass
class Node:
    """``parley serve`` in its own process; its output goes to ``parley.log``."""

    workdir: Path
    config: Path
    rtp_ports: tuple[int, int]
    sip_port: int = 0
    http_port: int = 0
    process: asyncio.subprocess.Process | None = None
    cpu_seen: float = 0.0  # the last CPU time read, kept once the process is gone
    database_url: str | None = None  # None: SQLite in the data folder
    kernel_forwarding: bool = False  # media.kernel_forwarding
    kernel_new_streams: bool = False  # media.kernel_new_streams
    relay_workers: int = 0  # media.relay_workers
    #: run under tracemalloc (bench/traced_node.py), its snapshots written here on request
    tracemalloc_dir: Path | None = None
    #: signed in once (a sign-in is a password hash check, ~0.1 s of the node's CPU: one
    #: per read would be counted in the step's CPU)
    _metrics: httpx.Client | None = None

    @property
    def log(self) -> Path:
        return self.workdir / "parley.log"

    async def start(self, within: float = 120.0) -> None:
        self.sip_port = self.sip_port or free_port()
        self.http_port = self.http_port or free_port()
        executable = Path(sys.executable).with_name("parley")
        launcher = [str(executable) if executable.exists() else "parley"]
        if self.tracemalloc_dir is not None:
            launcher = [sys.executable, str(Path(__file__).with_name("traced_node.py"))]
        command = [*launcher, "serve",
                   "--config", str(self.config), "--host", LOOPBACK,
                   "--sip-port", str(self.sip_port), "--http-port", str(self.http_port),
                   "--rtp-ports", f"{self.rtp_ports[0]}-{self.rtp_ports[1]}",
                   "--data-dir", str(self.workdir / "data")]
        if self.database_url is not None:
            command += ["--database-url", self.database_url]
        environment = {**os.environ, "PARLEY_MEDIA__KERNEL_FORWARDING":
                       "true" if self.kernel_forwarding else "false",
                       "PARLEY_MEDIA__KERNEL_NEW_STREAMS":
                       "true" if self.kernel_new_streams else "false",
                       "PARLEY_MEDIA__RELAY_WORKERS": str(self.relay_workers)}
        if self.tracemalloc_dir is not None:
            environment["PARLEY_TRACEMALLOC_DIR"] = str(self.tracemalloc_dir)
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=log,
                stderr=asyncio.subprocess.STDOUT, cwd=self.workdir, env=environment)
        deadline = time.monotonic() + within
        while READY_LINE not in self.log.read_text(errors="replace"):
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"parley serve did not start:\n{self.tail()}")
            await asyncio.sleep(0.2)

    def metrics_text(self) -> str | None:
        """The node's /metrics, read as its admin (signed in at the first read, again only
        when the session is refused); None when they cannot be read."""
        try:
            client = self._metrics
            if client is not None:
                answer = client.get("/metrics")
                if answer.status_code != 401:
                    answer.raise_for_status()
                    return answer.text
                client.close()
            client = self._metrics = httpx.Client(
                base_url=f"http://{LOOPBACK}:{self.http_port}", timeout=10)
            client.post("/api/auth/login", json={
                "username": METRICS_USER, "password": METRICS_PASSWORD}).raise_for_status()
            answer = client.get("/metrics")
            answer.raise_for_status()
            return answer.text
        except httpx.HTTPError:
            return None

    def rtp_counters(self) -> tuple[int, int] | None:
        """The relay's packets received from the peers and lost on the way to it, read from
        the node's /metrics; None when they cannot be read."""
        text = self.metrics_text()
        if text is None:
            return None
        found = dict(re.findall(r'^(parley_rtp_packets(?:_lost)?(?:_total)?'
                                r'(?:\{direction="received"\})?) ([0-9.e+]+)$', text, re.M))
        received = next((v for k, v in found.items() if "received" in k), None)
        lost = next((v for k, v in found.items() if k.startswith("parley_rtp_packets_lost")),
                    None)
        if received is None or lost is None:
            return None
        return int(float(received)), int(float(lost))

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User + system CPU time of the node so far (every thread of its process)."""
        if self.process is None:
            return 0.0
        with contextlib.suppress(OSError):
            self.cpu_seen = process_cpu_seconds(self.process.pid)
        return self.cpu_seen

    def children_cpu_seconds(self) -> float:
        """User + system CPU time so far of the node's child processes that still run (its
        relay workers; with ``--recording all`` also the compressor)."""
        if self.process is None:
            return 0.0
        return children_cpu_seconds(self.process.pid)

    def snapshot(self) -> None:
        """Ask a node run under tracemalloc for a snapshot (written in ``tracemalloc_dir``)."""
        if self.process is not None and self.tracemalloc_dir is not None:
            self.process.send_signal(signal.SIGUSR1)

    def memory_kib(self, field: str) -> int:
        """``VmRSS`` or ``VmHWM`` (peak resident memory) of the node, in KiB."""
        if self.process is None:
            return 0
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def exit_code(self) -> int | None:
        """None while the node runs; its exit code once it has stopped by itself."""
        return None if self.process is None else self.process.returncode

    def last_error(self) -> str:
        """The last line of the node's log that names an exception, if any."""
        lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines()
                 if "Error:" in line or "Exception:" in line]
        return lines[-1] if lines else ""

    async def stop(self, grace: float = 300.0) -> None:
        """SIGTERM, then wait: a stopping node writes its journalled records first (for at
        most 30 s; the journal keeps the rest for the next start, and this step's count is
        then short); SIGKILL only past the grace."""
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@dataclass
class ForeignServer:
    """A SIP server this script does not start (``--target``): measured through its process
    (``pid``) when given; it is never stopped here and keeps no records the script can count."""

    host: str
    sip_port: int
    pid: int | None
    log: Path
    cpu_seen: float = 0.0

    async def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.touch()

    def _proc(self, name: str) -> str | None:
        if self.pid is None:
            return None
        with contextlib.suppress(OSError):
            return Path(f"/proc/{self.pid}/{name}").read_text()
        return None

    def cpu_seconds(self) -> float:
        if self.pid is not None:
            with contextlib.suppress(OSError):
                self.cpu_seen = process_cpu_seconds(self.pid)
        return self.cpu_seen

    def memory_kib(self, field: str) -> int:
        for line in (self._proc("status") or "").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def exit_code(self) -> int | None:
        return None if self.pid is None or self._proc("stat") is not None else -1

    def last_error(self) -> str:
        return "" if self.exit_code() is None else f"process {self.pid} is gone"

    async def stop(self) -> None:
        """Left running: it is not ours."""


# --- one step ---------------------------------------------------------------------------------


@dataclass
class StepResult:
    rate: int
    calls: int
    successful: int
    failed: int
    legs_offered: int
    legs_answered: int
    legs_failed: int
    peak_concurrent: int
    wait_s: float | None
    records: int | None
    """Calls with a complete record once the node has stopped."""
    records_live: int | None
    """The same, 4 s after the last caller hung up, the node still running."""
    backlog_at_stop: int
    """Journal entries the call recorder had not written when told to stop (its log)."""
    stop_s: float
    cpu_percent: float
    peak_rss_mib: float
    start_rss_mib: float
    wall_s: float
    failures: dict[str, int]
    log_problems: int
    node_exit: int | None  # the node stopped by itself during the step: its exit code
    node_error: str
    rtp_received: int | None = None
    """RTP packets the node's relay received from the peers (None: not read)."""
    rtp_lost: int | None = None
    """Packets the peers sent that never reached the relay (sequence gaps)."""
    peer_dropped: int | None = None
    """Packets the operators' answering peer (sipp echoing every call from one socket) never
    read because its socket's buffer was full, over the caller's run: it never echoed them,
    so the relay counts each as a gap in that operator's stream; lost in the peer, not
    through the relay (None: not read)."""
    sipp_cpu_percent: float = 0.0
    """The caller's and the answerer's CPU over the caller's run, % of one core."""
    machine_cpu_percent: float = 0.0
    """Every core's busy time over the caller's run (/proc/stat), % of one core."""
    softirq_percent: float = 0.0
    """Of which softirq (where the kernel's forwarding and loopback delivery run)."""
    kernel_directions: int | None = None
    """Directions the kernel (or the relay workers) forwarded at the middle of the run
    (None: neither)."""
    lag_p50_s: float | None = None
    """The node's event-loop lag over the caller's run: median, 99th percentile and worst,
    each as the bound of its histogram bucket (None: not read)."""
    lag_p99_s: float | None = None
    lag_max_s: float | None = None
    lag_over_aim: float | None = None
    """The share of the loop-lag samples later than LAG_AIM_S (the aim is a p99 under it:
    below 1%)."""
    longest_offer_gap_s: float | None = None
    """The longest time between two offers to operators while one was ready (SQLite)."""
    offer_pauses: int | None = None
    """How many of those gaps were longer than OFFER_PAUSE_S."""
    recordings_wanted: bool = False
    recordings: int | None = None
    """Recordings in the store once the node has stopped (SQLite; None: not read)."""
    keys: list[float] | None = None
    """The DTMF probe: seconds from each key's end packet to the node's BYE (None: no
    probe)."""
    keys_probed: int = 0
    """Probe calls placed; those missing from ``keys`` got no answer to their key."""
    workers_cpu_percent: float = 0.0
    """The node's child processes (relay workers) over the caller's run, % of one core."""

    node_dropped: int | None = None
    """Packets dropped at the node's own sockets (and its relay workers'), read once a
    second over the caller's run (a socket's last second before it closed is missed)."""

    @property
    def rtp_loss_seen(self) -> float | None:
        """Of the packets the relay expected from the peers, the share it never got."""
        if self.rtp_received is None or self.rtp_lost is None:
            return None
        expected = self.rtp_received + self.rtp_lost
        return self.rtp_lost / expected if expected else 0.0

    @property
    def rtp_loss(self) -> float | None:
        """The share lost through the relay: what it never got less what the answering peer
        dropped itself, or what the node's sockets dropped if that is more (the relay sees
        no gap for packets lost at the end of a stream)."""
        if self.rtp_received is None or self.rtp_lost is None:
            return None
        expected = self.rtp_received + self.rtp_lost
        lost = max(self.rtp_lost - (self.peer_dropped or 0), self.node_dropped or 0, 0)
        return lost / expected if expected else 0.0

    @property
    def clean(self) -> bool:
        return (self.successful == self.calls and self.failed == 0
                and self.legs_answered == self.calls and self.legs_failed == 0
                and self.node_exit is None
                and (self.rtp_loss is None or self.rtp_loss <= MAX_LOSS)
                and (not self.recordings_wanted or self.recordings in (None, self.calls)))


def loop_delay_buckets(text: str | None) -> dict[float, float] | None:
    """The node's loop-lag histogram (``parley_event_loop_delay_seconds``): samples at most
    each bound so far, by bound in seconds (``inf`` for all of them)."""
    if text is None:
        return None
    found = re.findall(r'^parley_event_loop_delay_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$',
                       text, re.M)
    return {float(bound): float(count) for bound, count in found} or None


def lag_quantile(before: dict[float, float] | None, after: dict[float, float] | None,
                 q: float) -> float | None:
    """The bucket bound (seconds) under which ``q`` of the samples taken between the two
    scrapes fall: an upper bound of that quantile of the loop's lag. ``q`` 1.0 gives the
    bound of the worst sample."""
    if before is None or after is None:
        return None
    taken = {bound: after[bound] - before.get(bound, 0.0) for bound in sorted(after)}
    total = taken.get(float("inf"), 0.0)
    if not total:
        return None
    return next(bound for bound, count in taken.items() if count >= q * total)


#: The loop-lag aim: its 99th percentile under this (a bucket bound of the node's histogram).
LAG_AIM_S = 0.005


def lag_share_over(before: dict[float, float] | None, after: dict[float, float] | None,
                   bound: float) -> float | None:
    """The share of the samples taken between the two scrapes that were later than
    ``bound`` (one of the histogram's bucket bounds)."""
    if before is None or after is None or bound not in after:
        return None
    total = after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)
    within = after[bound] - before.get(bound, 0.0)
    return (total - within) / total if total else None


#: An operator ready this long with no offer made, while callers arrive, is a pause.
OFFER_PAUSE_S = 0.2


def offer_gaps(database: Path) -> tuple[float, int] | None:
    """The longest time an operator was ready with no offer made, from the first offer to
    the last, and how many such stretches exceeded :data:`OFFER_PAUSE_S`; from the node's
    SQLite store (the calls' ``offered`` timeline entries, the operators' state log).
    Callers arrive steadily meanwhile, so a long stretch means offers stalled. None when the
    store cannot be read."""
    if not database.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(database)) as connection:
            offers = [row[0] for row in connection.execute(
                "SELECT at FROM timeline_events WHERE kind = 'offered' ORDER BY at")]
            changes = list(connection.execute(
                "SELECT at, username, state FROM operator_state_log ORDER BY at, id"))
    except sqlite3.Error:
        return None
    # One pass in time order; an offer comes before the state changes of its own instant
    # (the operator it rings becomes "ringing" then).
    timeline = sorted([(at, 0, "", "") for at in offers]
                      + [(at, 1, user, state) for at, user, state in changes])
    states: dict[str, str] = {}
    ready = 0
    ready_since: float | None = None  # someone ready and no offer since then
    offered = False
    longest, pauses = 0.0, 0
    for at, kind, user, state in timeline:
        moment = datetime.fromisoformat(at).timestamp()
        if kind == 0:
            if offered and ready_since is not None:
                longest = max(longest, moment - ready_since)
                pauses += moment - ready_since > OFFER_PAUSE_S
            offered = True
            ready_since = moment if ready else None
            continue
        was = ready
        ready += (state == "ready") - (states.get(user) == "ready")
        states[user] = state
        if was == 0 and ready > 0:
            ready_since = moment
        elif ready == 0:
            ready_since = None
    return longest, pauses


def csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return list(csv.DictReader(path.read_text(errors="replace").splitlines(), delimiter=";"))


def failure_counts(result: SippResult) -> dict[str, int]:
    """The non-zero ``Failed…(C)`` counters of a sipp run (why calls failed)."""
    counts = {}
    for key, value in result.stats.items():
        if key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)":
            with contextlib.suppress(ValueError):
                if int(value):
                    counts[key.removesuffix("(C)")] = int(value)
    return counts


def seconds(value: str | None) -> float | None:
    """A sipp duration (``HH:MM:SS:microseconds``) in seconds."""
    try:
        hours, minutes, secs, micros = (int(part) for part in (value or "").split(":"))
    except ValueError:
        return None
    return hours * 3600 + minutes * 60 + secs + micros / 1e6


def mean_wait(caller: SippResult, legs: SippResult) -> float | None:
    """Mean seconds from the caller's INVITE to the operator's answer, from the two runs'
    mean call lengths (an operator leg ends with the caller's, plus the answerer's 2 s wait)."""
    call = seconds(caller.stats.get("CallLength(C)"))
    leg = seconds(legs.stats.get("CallLength(C)"))
    if call is None or leg is None or not legs.successful:
        return None
    return call - (leg - 2.0)


RECORDS = "SELECT count(*) FROM interactions WHERE called = {} AND ended_at IS NOT NULL"


async def call_records(database: Path | str) -> int | None:
    """Calls to the queue number with a complete record (ended) in the node's store: its
    SQLite file, or a PostgreSQL URL."""
    if isinstance(database, str):
        import asyncpg  # type: ignore[import-untyped]

        try:
            connection = await asyncpg.connect(database)
        except (OSError, asyncpg.PostgresError):
            return None
        try:
            return int(await connection.fetchval(RECORDS.format("$1"), QUEUE_NUMBER))
        except asyncpg.PostgresError:
            return None
        finally:
            await connection.close()
    return sqlite_records(database)


def sqlite_records(database: Path) -> int | None:
    return sqlite_count(database, RECORDS.format("?"), QUEUE_NUMBER)


RECORDINGS = "SELECT count(*) FROM recordings"


def sqlite_count(database: Path, query: str, *parameters: object) -> int | None:
    """The count a query gives in the node's SQLite store; None when it cannot be read."""
    if not database.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(database)) as connection:
            row = connection.execute(query, parameters).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0])


async def records_settled(database: Path | str, calls: int, within: float) -> None:
    """Wait until the node has a record of every call, or its count stops growing, or
    ``within`` seconds (what is still queued is written when the node stops)."""
    deadline, last = time.monotonic() + within, -1
    while time.monotonic() < deadline:
        count = await call_records(database)
        if count is None or count >= calls or count == last:
            return
        last = count
        await asyncio.sleep(3.0)


def backlog_at_stop(log: Path) -> int:
    """The call recorder's backlog when the node was told to stop, from its log line
    (0: none logged, nothing was behind)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    found = re.findall(r"writing journaled records before stopping(?=[^\n]*recorder='?call "
                       r"records)[^\n]*?queued=(\d+)", text)
    return max((int(queued) for queued in found), default=0)


def log_problems(log: Path) -> int:
    """Lines of the node's log at warning level or worse."""
    words = ("[warning", "[error", "[critical", "Traceback", '"level": "warning"',
             '"level": "error"')
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(1 for line in text.splitlines() if any(word in line for word in words))


def machine_jiffies() -> tuple[int, int]:
    """(busy, softirq) clock ticks of every core so far, from /proc/stat's ``cpu`` line."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq + steal, softirq


def kernel_directions(table: str) -> int | None:
    """Directions in the node's nftables map now (``nft``, once a step); None without it."""
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
        listed = subprocess.run(["nft", "list", "map", "ip", table, "legs"],
                                capture_output=True, text=True, timeout=10, check=True)
        return listed.stdout.count(" counter packets ")
    return None


def forwarded_directions(text: str | None) -> int | None:
    """``parley_rtp_directions_forwarded`` from a /metrics text (None: not there)."""
    found = re.search(r"^parley_rtp_directions_forwarded ([0-9.e+]+)$", text or "", re.M)
    return None if found is None else int(float(found.group(1)))


def rtp_block(calls: int, at_least: int) -> tuple[int, int]:
    """A free port block for the node's RTP: two legs per call, an RTP/RTCP pair each.

    A block for ``calls`` is wanted; on a busy machine a smaller one, down to ``at_least``
    calls (the node walks its range round-robin, so a tight range only reuses ports sooner).
    """
    wanted, smallest = max(2000, 4 * calls), max(2000, 4 * at_least)
    while True:
        try:
            return free_port_block(wanted), wanted
        except OSError:
            if wanted <= smallest:
                raise
            wanted = max(smallest, wanted * 3 // 4)


@dataclass(frozen=True)
class Foreign:
    """Where another SIP server is (``--target``) and where it sends operator calls."""

    host: str
    port: int
    number: str
    operators_host: str
    operators_port: int
    pid: int | None


async def step(workdir: Path, scenario: Path, rate: int, calls: int, duration: float,
               operators: int, settle: float, postgres: str | None = None,
               foreign: Foreign | None = None, kernel_forwarding: bool = False,
               kernel_new_streams: bool = False, recording: str = "none", relay_workers: int = 0,
               during_calls: Callable[[int], contextlib.AbstractContextManager[Any]] | None
               = None, probe: tuple[Path, float, float] | None = None) -> StepResult:
    """Run one rate on a fresh node (or the ``foreign`` server); every process started here
    is stopped here. ``during_calls(pid)``, when given, is entered with the node's process id
    as the caller starts and left when it is done (``bench/profile_inbound.py`` samples the
    node with it). ``probe`` (scenario, its key's end offset, calls per second) places
    calls to the menu beside the load, each pressing key 1 once."""
    in_progress = int(rate * (duration + 8)) + 50  # calls set up, talking or ending at once
    database: Path | str | None = workdir / "data" / "parley.sqlite3"
    node: Node | ForeignServer
    if foreign is not None:
        agent_port, agent_host, database = foreign.operators_port, foreign.operators_host, None
        node = ForeignServer(foreign.host, foreign.port, foreign.pid, workdir / "server.log")
    else:
        agent_port, agent_host = free_port(), LOOPBACK
        config = write_provisioning(workdir / "bench.yaml", operators, agent_port, recording)
        rtp_first, rtp_count = rtp_block(in_progress, int(rate * duration) + 50)
        if postgres is not None:  # a fresh database on the server for this step
            database, _name = await asyncio.to_thread(create_database, postgres)
        node = Node(workdir, config, (rtp_first, rtp_first + rtp_count - 1),
                    database_url=database if isinstance(database, str) else None,
                    kernel_forwarding=kernel_forwarding,
                    kernel_new_streams=kernel_new_streams, relay_workers=relay_workers)
    agents = Sipp(workdir / "agents", SCENARIOS / "uas_agent.xml", port=agent_port,
                  host=agent_host, extra=("-rtp_echo",))
    limit = int(calls / rate + duration + 60)  # a step that falls behind is cut off as failed
    number = QUEUE_NUMBER if foreign is None else foreign.number
    caller = Sipp(workdir / "caller", scenario, service=number, port=free_port(),
                  calls=calls, rate=rate,
                  extra=("-d", str(int(duration * 1000)), "-l", str(max(3000, 3 * in_progress)),
                         "-recv_timeout", "32000", "-timeout", f"{limit}s", "-timeout_error"))
    menu: Sipp | None = None
    if probe is not None and foreign is None:
        menu = Sipp(workdir / "menu", probe[0], service=MENU_NUMBER, port=free_port(),
                    calls=max(1, round(probe[2] * calls / rate)), rate=probe[2],
                    extra=("-trace_rtt", "-rtt_freq", "1", "-recv_timeout",
                           str(int(KEY_GIVEN_UP_S * 1000)), "-timeout", f"{limit}s"))
    peak_rss = 0
    try:
        await node.start()
        start_rss = node.memory_kib("VmRSS")
        await agents.start()
        await asyncio.sleep(settle)  # operators become ready once the node has started
        if isinstance(node, Node):  # signed in before the step's CPU is counted
            await asyncio.to_thread(node.metrics_text)
        caller.target = (f"{LOOPBACK}:{node.sip_port}" if foreign is None
                         else f"{foreign.host}:{foreign.port}")
        watch: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if during_calls is not None and isinstance(node, Node) and node.process is not None:
            watch = during_calls(node.process.pid)
        with watch:
            cpu_before, started = node.cpu_seconds(), time.monotonic()
            workers_before = node.children_cpu_seconds() if isinstance(node, Node) else 0.0
            busy_before, softirq_before = machine_jiffies()
            children_before = children_cpu()  # the caller's, once it has exited
            agents_before = sipp_cpu(agents)
            agent_drops_before = socket_drops(agents)
            lag_before = loop_delay_buckets(await asyncio.to_thread(node.metrics_text)) \
                if isinstance(node, Node) else None
            await caller.start()
            if menu is not None:
                menu.target = caller.target
                await menu.start()
            waiting = asyncio.create_task(caller.wait(limit + 30))
            middle = started + calls / rate / 2 + duration / 2
            directions: int | None = None
            # the most each of the node's sockets had dropped when last looked at (a second
            # apart: the count of a socket that closes goes with it)
            node_drops: dict[str, int] = {}
            drops_read = 0.0
            while not waiting.done():
                peak_rss = max(peak_rss, node.memory_kib("VmRSS"))
                if isinstance(node, Node) and time.monotonic() - drops_read >= 1.0:
                    drops_read = time.monotonic()
                    node_drops.update(await asyncio.to_thread(udp_drops, node_pids(node)))
                if kernel_forwarding and directions is None and time.monotonic() >= middle:
                    directions = await asyncio.to_thread(
                        kernel_directions, table_name(node.rtp_ports[0])
                        if isinstance(node, Node) else "")
                if (relay_workers and directions is None and isinstance(node, Node)
                        and time.monotonic() >= middle):
                    directions = forwarded_directions(
                        await asyncio.to_thread(node.metrics_text))
                await asyncio.wait({waiting}, timeout=0.5)
            with contextlib.suppress(PeerError):  # cut off: counted from its statistics
                waiting.result()
            sipp_used = sipp_cpu(agents) - agents_before + children_cpu() - children_before
            agent_drops = socket_drops(agents)
            cpu = node.cpu_seconds() - cpu_before
            workers_used = (node.children_cpu_seconds() - workers_before
                            if isinstance(node, Node) else 0.0)
            wall = time.monotonic() - started
            busy_after, softirq_after = machine_jiffies()
            ticks = os.sysconf("SC_CLK_TCK")
            lag_after = loop_delay_buckets(await asyncio.to_thread(node.metrics_text)) \
                if isinstance(node, Node) else None
        peak_rss = max(peak_rss, node.memory_kib("VmHWM"))
        if menu is not None:
            with contextlib.suppress(PeerError):  # a call with no BYE: missing from keys
                await menu.wait(30)
        await asyncio.sleep(4.0)  # the answerer counts a leg after its 2 s time-wait
        legs = agents.result()
        counters = await asyncio.to_thread(node.rtp_counters) if isinstance(node, Node) \
            else None
        records_live = None
        if database is not None:
            records_live = await call_records(database)  # the recorders kept up, or not
            await records_settled(database, calls, 15.0)
        node_exit = node.exit_code()
    finally:
        with contextlib.suppress(Exception):
            await caller.stop()
        with contextlib.suppress(Exception):
            await agents.stop()
        if menu is not None:
            with contextlib.suppress(Exception):
                await menu.stop()
        stopping = time.monotonic()
        await node.stop()  # a node that stops writes what its recorders still hold
        stop_s = time.monotonic() - stopping
    records = None if database is None else await call_records(database)
    gaps = await asyncio.to_thread(offer_gaps, database) if isinstance(database, Path) \
        else None
    recordings = await asyncio.to_thread(sqlite_count, database, RECORDINGS) \
        if isinstance(database, Path) and recording == "all" else None
    result = caller.result()
    rows = csv_rows(workdir / "caller" / f"{scenario.stem}-stat.csv")
    concurrent = max((int(row.get("CurrentCall", "0") or 0) for row in rows), default=0)
    return StepResult(
        rate=rate, calls=calls, successful=result.successful, failed=result.failed,
        legs_offered=int(legs.stats.get("IncomingCall(C)", "0") or 0),
        legs_answered=legs.successful, legs_failed=legs.failed, peak_concurrent=concurrent,
        wait_s=mean_wait(result, legs), records=records, records_live=records_live,
        backlog_at_stop=backlog_at_stop(node.log), stop_s=stop_s,
        cpu_percent=100 * cpu / wall, peak_rss_mib=peak_rss / 1024,
        start_rss_mib=start_rss / 1024, wall_s=wall, failures=failure_counts(result),
        log_problems=log_problems(node.log), node_exit=node_exit,
        node_error=node.last_error() if node_exit is not None else "",
        rtp_received=counters[0] if counters else None,
        rtp_lost=counters[1] if counters else None,
        peer_dropped=None if agent_drops is None or agent_drops_before is None
        else agent_drops - agent_drops_before,
        node_dropped=sum(node_drops.values()) if isinstance(node, Node) else None,
        sipp_cpu_percent=100 * sipp_used / wall,
        machine_cpu_percent=100 * (busy_after - busy_before) / ticks / wall,
        softirq_percent=100 * (softirq_after - softirq_before) / ticks / wall,
        kernel_directions=directions,
        lag_p50_s=lag_quantile(lag_before, lag_after, 0.5),
        lag_p99_s=lag_quantile(lag_before, lag_after, 0.99),
        lag_max_s=lag_quantile(lag_before, lag_after, 1.0),
        lag_over_aim=lag_share_over(lag_before, lag_after, LAG_AIM_S),
        longest_offer_gap_s=gaps[0] if gaps else None,
        offer_pauses=gaps[1] if gaps else None,
        recordings_wanted=recording == "all", recordings=recordings,
        keys=None if menu is None or probe is None
        else [value - probe[1] for value in key_latencies(workdir / "menu")],
        keys_probed=0 if menu is None or menu.calls is None else menu.calls,
        workers_cpu_percent=100 * workers_used / wall)


def milliseconds(bound: float | None) -> str:
    """A lag bucket's bound as printed: ``<=5ms``, ``>5000ms`` above the last bound."""
    if bound is None:
        return "-"
    return ">5000ms" if bound == float("inf") else f"<={bound * 1000:g}ms"


def key_ms(keys: list[float] | None, share: float) -> str:
    """A DTMF probe's percentile as printed, in whole milliseconds."""
    value = None if keys is None else nearest_rank(keys, share)
    return "-" if value is None else str(round(value * 1000))


def children_cpu() -> float:
    """User + system CPU seconds of this script's exited children (sipp callers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.3f}%"


def udp_drops(pids: Iterable[int]) -> dict[str, int]:
    """Datagrams the kernel dropped so far at the UDP sockets these processes hold because
    they were not read in time (the receive buffer was full), by socket inode: the ``drops``
    column of /proc/net/udp. A socket that closed has taken its count with it."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    drops: dict[str, int] = {}
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[9] in inodes:
                    drops[fields[9]] = int(fields[-1])
    return drops


def socket_drops(peer: Sipp) -> int | None:
    """What :func:`udp_drops` says of a peer's sockets, summed (None: not running)."""
    process = peer._process
    if process is None or process.returncode is not None:
        return None
    return sum(udp_drops([process.pid]).values())


def node_pids(node: Node) -> list[int]:
    """The node's process and its children (relay workers, the compressor)."""
    if node.process is None:
        return []
    return [node.process.pid, *child_pids(node.process.pid)]


def sipp_cpu(*peers: Sipp) -> float:
    """CPU seconds the sipp processes have used so far (0 for one not running)."""
    total = 0.0
    for peer in peers:
        process = peer._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(OSError):
                total += process_cpu_seconds(process.pid)
    return total


# --- the run ----------------------------------------------------------------------------------


def host_port(parser: argparse.ArgumentParser, option: str, value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"{option}: {value!r} is not HOST:PORT")
    return host, int(port)


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[20, 40, 60, 80, 100],
                        help="calls per second, one step each")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds each call lasts after its answer")
    parser.add_argument("--calls", type=int, default=None,
                        help="calls per step (default: 30 seconds' worth at the step's rate)")
    parser.add_argument("--operators", type=int, default=1100)
    parser.add_argument("--media", action=argparse.BooleanOptionalAction, default=True,
                        help="callers stream speech (uac_queue_rtp) or send no RTP (nortp)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds between the node's start and the first call")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite",
                        help="the node's store: SQLite in its data folder, or a throw-away "
                             "PostgreSQL server (Debian's binaries)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep logs, statistics and data of every step in this folder")
    parser.add_argument("--target", default=None, metavar="HOST:PORT",
                        help="measure another SIP server there instead of starting a node")
    parser.add_argument("--number", default=QUEUE_NUMBER,
                        help="the number the target routes to its queue (with --target)")
    parser.add_argument("--operators-at", default=None, metavar="HOST:PORT",
                        help="where the target sends operator calls: the sipp answerer "
                             "listens there (with --target)")
    parser.add_argument("--server-pid", type=int, default=None,
                        help="the target's process, for its CPU and memory (with --target)")
    parser.add_argument("--kernel-forwarding", action=argparse.BooleanOptionalAction,
                        default=False, help="the node hands unrecorded two-party bridges to "
                        "nftables (media.kernel_forwarding; needs root and nftables)")
    parser.add_argument("--kernel-new-streams", action="store_true",
                        help="with --kernel-forwarding, streams that need rewriting go to "
                        "the kernel too (media.kernel_new_streams: the caller gets the "
                        "operator's stream as it is, a new SSRC)")
    parser.add_argument("--relay-workers", type=int, default=0, metavar="N",
                        help="the node forwards bridged directions in N worker processes "
                        "(media.relay_workers); their CPU is the 'workers %%' column")
    parser.add_argument("--recording", choices=["none", "all"], default="none",
                        help="the queue records every call (stereo WAV in the node's data "
                        "folder, compressed once each call ends) or none")
    parser.add_argument("--dtmf", type=float, default=0.0, metavar="CALLS_PER_S",
                        help="beside the load, place this many calls a second to a menu "
                        f"(number {MENU_NUMBER}), each pressing key 1, and report the time "
                        "from the key's end packet to the node hanging up (0: none)")
    parser.add_argument("--stop-after-failure", action=argparse.BooleanOptionalAction,
                        default=True, help="skip higher rates after a step that is not clean")
    args = parser.parse_args()
    if args.kernel_new_streams and not args.kernel_forwarding:
        parser.error("--kernel-new-streams goes with --kernel-forwarding")
    for tool, package in (("sipp", "sip-tester"), ("sox", "sox")):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (Debian package {package})")
    foreign = None
    if args.target is not None:
        if args.operators_at is None:
            parser.error("--target needs --operators-at: where the server calls operators")
        foreign = Foreign(*host_port(parser, "--target", args.target), args.number,
                          *host_port(parser, "--operators-at", args.operators_at),
                          args.server_pid)
    elif args.operators_at or args.server_pid:
        parser.error("--operators-at and --server-pid go with --target")
    server = (f"Parley, store {args.database}" if foreign is None
              else f"the server at {args.target}")
    print(f"machine: {machine()}; {server}; {'with' if args.media else 'without'} media, "
                    f"{args.operators} operators, calls of {args.duration:g} s"
          f"{', kernel forwarding' if args.kernel_forwarding else ''}"
          f"{' (new streams too)' if args.kernel_new_streams else ''}"
          f"{f', {args.relay_workers} relay workers' if args.relay_workers else ''}"
          f"{', every call recorded' if args.recording == 'all' else ''}", flush=True)
    print(f"{'rate/s':>6} {'calls':>6} {'ok':>6} {'failed':>6} {'op legs':>7} "
          f"{'implied':>7} {'peak':>5} {'wait s':>6} {'CPU %':>6} {'workers %':>9} "
          f"{'RSS MiB':>8} "
          f"{'records':>7} {'live':>6} {'behind':>6} {'stop s':>6} {'RTP lost':>9} "
          f"{'seen':>7} {'peer drop':>9} {'node drop':>9} {'sipp %':>6} {'box %':>6} "
          f"{'sirq %':>6} {'kernel':>6} {'lag p50':>7} "
          f"{'lag p99':>7} {'lag max':>7} {'lag>5ms':>8} {'gap ms':>6} {'pauses':>6} "
          f"{'key p50':>7} {'key p99':>7} {'key max':>7}  clean",
          flush=True)
    best = 0
    postgres: ThrowawayPostgres | None = None
    with contextlib.ExitStack() as stack:
        if args.database == "postgresql":
            postgres = ThrowawayPostgres()
            stack.callback(postgres.stop)
            await asyncio.to_thread(postgres.start)
        root = args.keep or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="parley-inbound-queue-")))
        scenario = caller_scenario(root / "scenario", args.media)
        probe = None
        if args.dtmf > 0:
            menu, key_end = menu_scenario(root / "scenario")
            probe = (menu, key_end, args.dtmf)
        for rate in args.rates:
            calls = args.calls or rate * 30
            r = await step(root / f"rate-{rate}", scenario, rate, calls, args.duration,
                           args.operators, args.settle,
                           postgres.url if postgres is not None else None, foreign,
                           kernel_forwarding=args.kernel_forwarding,
                           kernel_new_streams=args.kernel_new_streams, recording=args.recording,
                           relay_workers=args.relay_workers,
                           probe=probe)
            implied = int(rate * args.duration)
            offer_gap_ms = "-" if r.longest_offer_gap_s is None else round(
                1000 * r.longest_offer_gap_s)
            print(f"{rate:>6} {r.calls:>6} {r.successful:>6} {r.failed:>6} "
                  f"{r.legs_answered:>7} {implied:>7} {r.peak_concurrent:>5} "
                  f"{'-' if r.wait_s is None else format(r.wait_s, '.2f'):>6} "
                  f"{r.cpu_percent:>6.1f} {r.workers_cpu_percent:>9.1f} "
                  f"{r.peak_rss_mib:>8.0f} "
                  f"{'-' if r.records is None else r.records:>7} "
                  f"{'-' if r.records_live is None else r.records_live:>6} "
                  f"{r.backlog_at_stop:>6} {r.stop_s:>6.1f} "
                  f"{percent(r.rtp_loss):>9} {percent(r.rtp_loss_seen):>7} "
                  f"{'-' if r.peer_dropped is None else r.peer_dropped:>9} "
                  f"{'-' if r.node_dropped is None else r.node_dropped:>9} "
                  f"{r.sipp_cpu_percent:>6.1f} {r.machine_cpu_percent:>6.1f} "
                  f"{r.softirq_percent:>6.1f} "
                  f"{'-' if r.kernel_directions is None else r.kernel_directions:>6} "
                  f"{milliseconds(r.lag_p50_s):>7} {milliseconds(r.lag_p99_s):>7} "
                  f"{milliseconds(r.lag_max_s):>7} {percent(r.lag_over_aim):>8} "
                  f"{offer_gap_ms:>6} "
                  f"{'-' if r.offer_pauses is None else r.offer_pauses:>6} "
                  f"{key_ms(r.keys, 0.5):>7} {key_ms(r.keys, 0.99):>7} "
                  f"{key_ms(r.keys, 1.0):>7}  {'yes' if r.clean else 'NO'}", flush=True)
            if r.keys is not None and len(r.keys) < r.keys_probed:
                print(f"       keys acted on: {len(r.keys)} of {r.keys_probed} menu calls",
                      flush=True)
            if not r.clean:
                print(f"       failures: {r.failures or '-'}; operator legs offered "
                      f"{r.legs_offered}, failed {r.legs_failed}; node log warnings "
                      f"{r.log_problems}"
                      f"{'; recordings ' + str(r.recordings) if r.recordings_wanted else ''}",
                      flush=True)
            if r.node_exit is not None:
                print(f"       the node stopped during the step (exit code {r.node_exit}): "
                      f"{r.node_error}", flush=True)
            if r.clean:
                best = max(best, rate)
            elif args.stop_after_failure:
                break
    print(f"highest clean rate: {best} calls/s (~{int(best * args.duration)} concurrent calls)")


if __name__ == "__main__":
    asyncio.run(main())
