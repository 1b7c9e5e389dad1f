"""Two real ``parley serve`` processes of one hot-standby cluster on one PostgreSQL: the
first takes the lease and serves; the second stands by and refuses new work (503 on the web
and on SIP REGISTER, its health saying who is active); the active one is killed with SIGKILL
and the standby reports itself active within the lapse and one renewal, with a higher
fencing token, and serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.testing.ports import free_port, free_port_block
from parley.testing.postgres import (  # noqa: F401 - fixtures
    create_database,
    drop_database,
    postgres_server_url,
    postgres_template,
)
from parley.testing.sipclient import RawSipClient

READY_LINE = b"Press Ctrl-C to stop."
RENEW_S, LAPSE_S = 1.0, 3.0  # the shipped defaults: a node stalled 1 s by a busy machine serves on
POLL_S = 0.05


@pytest.fixture
def pg_url(postgres_server_url: str, postgres_template: str) -> Iterator[str]:  # noqa: F811
    url, name = create_database(postgres_server_url, postgres_template)
    try:
        yield url
    finally:
        drop_database(postgres_server_url, name)


class Member:
    """``parley serve`` as node ``name`` of cluster ``site``, on free loopback ports."""

    def __init__(self, name: str, folder: Path, database_url: str) -> None:
        self.name = name
        self.folder = folder
        self.database_url = database_url
        self.sip_port, self.http_port = free_port(), free_port()
        self.rtp_first = free_port_block(20)
        self.process: asyncio.subprocess.Process | None = None
        #: everything the node printed, shown when the test fails
        self.output: list[str] = []
        self.url = f"http://127.0.0.1:{self.http_port}"

    async def start(self) -> None:
        env = {**os.environ, "PARLEY_HA__NODE_NAME": self.name, "PARLEY_HA__CLUSTER": "site",
               "PARLEY_HA__RENEW_INTERVAL_S": str(RENEW_S), "PARLEY_HA__LAPSE_S": str(LAPSE_S)}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from parley.cli import main; main()", "serve",
            "--host", "127.0.0.1", "--sip-port", str(self.sip_port),
            "--http-port", str(self.http_port),
            "--rtp-ports", f"{self.rtp_first}-{self.rtp_first + 19}",
            "--data-dir", str(self.folder / self.name), "--database-url", self.database_url,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env)
        assert self.process.stdout is not None
        seen = b""
        async with asyncio.timeout(60):
            while READY_LINE not in seen:
                line = await self.process.stdout.readline()
                if not line:
                    raise AssertionError(f"node {self.name} exited at start:\n{seen.decode()}")
                seen += line
        self.output.extend(seen.decode(errors="replace").splitlines())
        self._drain = asyncio.create_task(self._keep_reading())

    async def _keep_reading(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.output.append(line.decode(errors="replace").rstrip("\n"))

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            response = await client.get("/api/health")
        return response.status_code, response.json()

    async def register_status(self) -> int:
        """The final answer to a REGISTER (no credentials: an active node challenges)."""
        async with RawSipClient("127.0.0.1", self.sip_port) as phone:
            return (await phone.request(phone.build("REGISTER", "1001"))).status

    async def stop(self, sig: signal.Signals) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        async with asyncio.timeout(60):
            code = await self.process.wait()
            await self._drain
        return code


@contextlib.asynccontextmanager
async def members(folder: Path, database_url: str) -> AsyncIterator[tuple[Member, Member]]:
    first, second = Member("a", folder, database_url), Member("b", folder, database_url)
    try:
        yield first, second
    finally:
        for member in (first, second):
            if member.process is not None and member.process.returncode is None:
                member.process.kill()
                await member.process.wait()
            print(f"--- node {member.name} (exit {member.process and member.process.returncode})")
            print("\n".join(member.output[-200:]))


async def until_serving(member: Member, within: float) -> tuple[float, dict[str, Any]]:
    """Poll ``/api/health`` until the node serves; (seconds taken, its health)."""
    started = time.monotonic()
    while True:
        code, body = await member.health()
        if code == 200:
            return time.monotonic() - started, body
        assert time.monotonic() - started < within, body
        await asyncio.sleep(POLL_S)


async def until_one_serves(*nodes: Member) -> None:
    """Poll until one of ``nodes`` has taken the lease."""
    started = time.monotonic()
    while not any([(await node.health())[0] == 200 for node in nodes]):
        assert time.monotonic() - started < 10, "no node took the lease"
        await asyncio.sleep(POLL_S)


async def test_the_standby_refuses_work_and_takes_over_when_the_active_node_is_killed(
        tmp_path: Path, pg_url: str) -> None:
    async with members(tmp_path, pg_url) as (first, second):
        await asyncio.gather(first.start(), second.start())
        # whichever took the lease first is active; the other stands by
        await until_one_serves(first, second)
        codes = {member.name: (await member.health())[0] for member in (first, second)}
        active, standby = (first, second) if codes["a"] == 200 else (second, first)
        assert sorted(codes.values()) == [200, 503], codes
        _code, held = await active.health()
        assert (held["role"], held["serving"], held["node"]) == ("active", True, active.name)
        _code, waiting = await standby.health()
        assert (waiting["role"], waiting["serving"]) == ("standby", False)
        assert waiting["active_node"] == active.name
        assert waiting["reason"] == f"this node is the standby of cluster site; node " \
            f"{active.name} is active"
        token = held["fencing_token"]
        assert isinstance(token, int)
        assert waiting["fencing_token"] == token

        # the standby takes no new work: 503 on the web (with the reason) and on REGISTER
        async with httpx.AsyncClient(base_url=standby.url, timeout=5) as client:
            refused = await client.get("/api/auth/me")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        assert "standby" in refused.json()["detail"]
        async with httpx.AsyncClient(base_url=active.url, timeout=5) as client:
            assert (await client.get("/api/auth/me")).status_code == 401
        assert await standby.register_status() == 503
        assert await active.register_status() == 401

        # SIGKILL the active node: the standby serves within the lapse and one renewal
        # (the poll's own step and one HTTP round trip allowed beside)
        await active.stop(signal.SIGKILL)
        taken, body = await until_serving(standby, within=10)
        assert taken <= LAPSE_S + RENEW_S + 2 * POLL_S + 0.5, taken
        assert (body["role"], body["node"], body["active_node"]) == \
            ("active", standby.name, standby.name)
        assert body["fencing_token"] > token
        takeover = body["last_takeover"]
        assert takeover["previous_node"] == active.name
        assert takeover["duration_s"] >= LAPSE_S
        assert await standby.register_status() == 401  # it serves now
        assert await standby.stop(signal.SIGTERM) == 0  # an orderly stop, lease let go
