"""No call record is lost when a node stops or dies under load: a real ``parley demo`` process
takes a burst of SIPp calls to the IVR at 600; then it is (a) stopped normally, or (b) killed
with SIGKILL a second after the last call ended and started again. Afterwards every call
that reached the node has its complete record (legs, end, the hang-up on its timeline), once.

So that the recorders are surely behind when the node stops or dies, the test holds the
SQLite write lock during the burst (as a slow or busy database would): every record of the
burst is then in the node's event journal only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np

from parley.store import Store, open_store
from parley.store.credentials import Passwords
from parley.store.records import InteractionRecord
from parley.telephony.recording import Recording
from parley.testing.media import sipp_caller
from parley.testing.peers import Sipp, SippResult
from parley.testing.ports import free_port, free_port_block

from .conftest import needs_sipp

CALLS = 200
RATE = 40  # calls per second
READY_LINE = b"Press Ctrl-C to stop."


class NodeProcess:
    """``parley demo`` in a subprocess on free loopback ports, with its data in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.sip_port = free_port()
        self.http_port = free_port()
        self.rtp_first = free_port_block(400)
        self.process: asyncio.subprocess.Process | None = None
        self.output = data_dir.parent / "node.log"

    async def start(self) -> None:
        command = [sys.executable, "-c", "from parley.cli import main; main()", "demo",
                   "--host", "127.0.0.1", "--sip-port", str(self.sip_port),
                   "--http-port", str(self.http_port),
                   "--rtp-ports", f"{self.rtp_first}-{self.rtp_first + 399}",
                   "--data-dir", str(self.data_dir)]
        self.process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=os.environ.copy())
        assert self.process.stdout is not None
        seen = b""
        async with asyncio.timeout(60):
            while READY_LINE not in seen:
                line = await self.process.stdout.readline()
                if not line:
                    raise AssertionError(f"the node exited at start:\n{seen.decode()}")
                seen += line
        self._drain = asyncio.create_task(self._keep_reading(seen))

    async def _keep_reading(self, seen: bytes) -> None:
        """Keep the node's output flowing (a full pipe would block it) into a log file."""
        assert self.process is not None
        assert self.process.stdout is not None
        with self.output.open("ab") as log:
            log.write(seen)
            while line := await self.process.stdout.readline():
                log.write(line)

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` and wait for the process to end (a normal stop has no time limit of
        its own here: the test allows it two minutes)."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        async with asyncio.timeout(120):
            code = await self.process.wait()
            await self._drain
        return code


@contextlib.asynccontextmanager
async def running(data_dir: Path) -> AsyncIterator[NodeProcess]:
    node = NodeProcess(data_dir)
    await node.start()
    try:
        yield node
    finally:
        if node.process is not None and node.process.returncode is None:
            node.process.kill()
            await node.process.wait()


def short_call(workdir: Path) -> Path:
    """A SIPp scenario: call, wait a second, hang up."""
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = workdir / "short-call.xml"
    scenario.write_text(sipp_caller('  <pause milliseconds="1000"/>\n'))
    return scenario


async def burst(node: NodeProcess, workdir: Path) -> SippResult:
    """``CALLS`` one-second calls to the IVR at ``RATE`` calls per second; wait until all
    have ended."""
    scenario = short_call(workdir)
    caller = Sipp(workdir, scenario, service="600", calls=CALLS, rate=RATE,
                  target=f"127.0.0.1:{node.sip_port}",
                  extra=("-timeout", "120s", "-timeout_error", "-l", str(CALLS)))
    await caller.start()
    return await caller.wait(within=150)


@contextlib.contextmanager
def database_busy(data_dir: Path) -> Iterator[None]:
    """Hold the node's SQLite write lock (readers go on; writers wait)."""
    connection = sqlite3.connect(data_dir / "parley.sqlite3", isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def queued_at_stop(log: Path) -> int:
    """How many journal entries the call recorder had still to write when told to stop."""
    found = re.findall(r"writing journaled records before stopping[^\n]*?queued=(\d+)"
                       r"[^\n]*?recorder='call records'", log.read_text(errors="replace"))
    return int(found[-1]) if found else 0


async def records(data_dir: Path) -> tuple[Store, list[InteractionRecord]]:
    """Every call record in the node's store, with legs and timeline."""
    store = await open_store(f"sqlite+aiosqlite:///{data_dir / 'parley.sqlite3'}",
                             passwords=Passwords.cheap())
    page = await store.interactions.search(limit=10 * CALLS)
    return store, [await store.interactions.get(item.id) for item in page.items]


def assert_complete(found: list[InteractionRecord], result: SippResult) -> None:
    """At least one record per call SIPp completed, each closed and whole, none twice."""
    assert result.successful >= CALLS * 0.9, result.log[-2000:]
    assert len(found) >= result.successful
    assert len(found) <= CALLS
    assert len({record.id for record in found}) == len(found)
    channels = [leg.channel_id for record in found for leg in record.legs]
    assert len(channels) == len(set(channels)), "a leg was written twice"
    for record in found:
        assert record.ended_at is not None, f"{record.id} was never closed"
        assert record.legs, f"{record.id} has no leg"
        assert all(leg.ended_at is not None for leg in record.legs), record.id
        kinds = [entry.kind for entry in record.timeline]
        assert kinds.count("started") == 1, (record.id, kinds)
        assert kinds.count("ended") == 1, (record.id, kinds)
        assert "node restarted" not in kinds, (record.id, kinds)


async def wait_until_closed(data_dir: Path, expected: int, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        store, found = await records(data_dir)
        await store.close()
        if len(found) >= expected and all(record.ended_at for record in found):
            return
        if loop.time() > deadline:
            return  # the assertions that follow say what is missing
        await asyncio.sleep(1)


@needs_sipp
async def test_a_normal_stop_under_a_burst_writes_every_record(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with running(data_dir) as node:
        with database_busy(data_dir):
            result = await burst(node, tmp_path / "sipp")
            # told to stop while the recorders still wait for the database: the whole burst
            # is behind them (they write it within a second once the lock is free)
            stopping = asyncio.create_task(node.stop())
            await asyncio.sleep(1)
        assert await stopping == 0
    assert queued_at_stop(node.output) >= result.successful  # several entries per call
    store, found = await records(data_dir)  # the node is gone: what it wrote before exiting
    try:
        assert_complete(found, result)
    finally:
        await store.close()


@needs_sipp
async def test_a_node_killed_under_a_burst_writes_every_record_when_restarted(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with running(data_dir) as node:
        with database_busy(data_dir):  # nothing of the burst reaches the database
            result = await burst(node, tmp_path / "sipp")
            await asyncio.sleep(1)
            assert await node.stop(signal.SIGKILL) == -signal.SIGKILL
    store, found = await records(data_dir)
    await store.close()
    assert not found  # every record of the burst is in the journal only
    async with running(data_dir) as restarted:
        await wait_until_closed(data_dir, result.successful, within=120)
        assert await restarted.stop() == 0
    store, found = await records(data_dir)
    try:
        assert_complete(found, result)
    finally:
        await store.close()


@needs_sipp
async def test_a_recording_cut_by_a_crash_reaches_its_call_record_at_the_restart(
        tmp_path: Path) -> None:
    """A node died while recording a call: the WAV it was writing plays to its last flushed
    second, but the notice that files a recording with its call record comes when the
    recording ends, and it never came. At the restart the node repairs the file and files
    it with the call, from what the recording's sidecar says."""
    data_dir = tmp_path / "data"
    async with running(data_dir) as node:
        caller = Sipp(tmp_path / "sipp", short_call(tmp_path / "sipp"), service="600",
                      calls=1, rate=1, target=f"127.0.0.1:{node.sip_port}",
                      extra=("-timeout", "30s", "-timeout_error", "-l", "1"))
        await caller.start()
        assert (await caller.wait(within=40)).successful == 1
        await wait_until_closed(data_dir, 1, within=20)
        assert await node.stop() == 0
    store, (record,) = await records(data_dir)
    await store.close()
    # what the node had written of the call's recording when it died: 1.5 s, of which
    # the first second reached the disk (the writer hands data over once a second)
    cut = Recording(data_dir / "recordings" / "cut" / f"{record.id}-cut.wav",
                    recording_id="rec-cut", call_id="cut", started=record.started_at,
                    caller="caller", operator="operator", interaction_id=record.id)
    for tick in range(75):
        level = np.full(160, 1000 + tick, dtype=np.int16)
        cut.write_tick({"caller": level, "operator": -level})
    async with running(data_dir) as restarted:
        store = await open_store(f"sqlite+aiosqlite:///{data_dir / 'parley.sqlite3'}",
                                 passwords=Passwords.cheap())
        try:
            for _ in range(100):
                filed = (await store.recordings.list(interaction_id=record.id)).items
                if filed:
                    break
                await asyncio.sleep(0.2)
        finally:
            await store.close()
        assert await restarted.stop() == 0
    assert [(r.id, r.duration_s) for r in filed] == [("rec-cut", 1.0)], \
        restarted.output.read_text(errors="replace")[-3000:]
    assert "recording_repaired" in restarted.output.read_text(errors="replace")
