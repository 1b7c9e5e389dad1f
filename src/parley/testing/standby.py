"""A hot-standby cluster on the namespaces' LAN (:mod:`parley.testing.netns`): real
``parley serve`` processes, each in its host's namespace, serving on the floating address
(bound before they hold it, as docs/deployment.md says) with the web also on the host's own
address; and what the peers do to them: ask the health, place a call.

Used by ``tests/integration/test_floating_ip.py`` and ``bench/takeover.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from parley.sip.headers import NameAddr, Via
from parley.sip.message import SipResponse, build_request, new_branch
from parley.sip.uri import SipUri
from parley.testing.netns import Host, http_get
from parley.testing.sipclient import RawSipClient

READY_LINE = b"Press Ctrl-C to stop."
NUMBER = "700"  # answered by ``answering_site``
SIP_PORT, HTTP_PORT = 5060, 8080
POLL_S = 0.05
_OFFER = ("v=0\r\no=bench 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
          "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")


def answering_site(path: Path) -> Path:
    """A provisioning document at ``path`` (for ``serve --config``): number 700 answers,
    plays a beep and hangs up."""
    flow = {"flow": "answer", "start": "beep",
            "nodes": {"beep": {"type": "play", "prompt": "beep", "next": "bye"},
                      "bye": {"type": "hangup"}}}
    document = {"version": 1, "site": {"name": "Hot standby", "time_zone": "UTC"},
                "flows": [{"name": "answer", "description": "Answer, beep, hang up",
                           "definition": flow}],
                "numbers": [{"number": NUMBER, "flow": "answer", "description": "Answered"}]}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass
class StandbyNode:
    """``parley serve`` as node ``host.name`` of cluster ``site``, in the host's namespace,
    on the floating address ``floating`` (with its prefix), its web also on the host's own
    address; ``extra`` more arguments to ``serve`` (``--config``)."""

    host: Host
    folder: Path
    database_url: str
    floating: str
    renew_s: float = 0.5
    lapse_s: float = 1.5
    extra: Sequence[str] = ()
    process: asyncio.subprocess.Process | None = None
    #: everything the node printed (shown when a test fails)
    output: bytearray = field(default_factory=bytearray)
    _drain: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.host.name

    async def start(self) -> None:
        """Start it and wait until it listens (as the standby, or active)."""
        self.host.sysctl("net.ipv4.ip_nonlocal_bind", "1")
        env = {**os.environ, "PARLEY_HA__NODE_NAME": self.name, "PARLEY_HA__CLUSTER": "site",
               "PARLEY_HA__RENEW_INTERVAL_S": str(self.renew_s),
               "PARLEY_HA__LAPSE_S": str(self.lapse_s),
               "PARLEY_HA__FLOATING_IP": self.floating, "PARLEY_HA__INTERFACE": "eth0",
               "PARLEY_HA__NODE_ADDRESS": self.host.ip}
        address = self.floating.split("/")[0]
        self.output.clear()
        self.process = await asyncio.create_subprocess_exec(
            *self.host.command(
                sys.executable, "-c", "from parley.cli import main; main()", "serve",
                "--host", address, "--sip-port", str(SIP_PORT), "--http-port", str(HTTP_PORT),
                "--rtp-ports", "20000-20019", "--data-dir", str(self.folder / self.name),
                "--database-url", self.database_url, *self.extra),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env)
        stdout = self.process.stdout
        if stdout is None:  # pragma: no cover - asked for above
            raise RuntimeError("the node's output is not piped")
        async with asyncio.timeout(60):
            while READY_LINE not in self.output:
                line = await stdout.readline()
                if not line:
                    raise AssertionError(f"node {self.name} exited at start:\n"
                                         f"{self.output.decode(errors='replace')}")
                self.output += line
        self._drain = asyncio.create_task(self._keep_reading(stdout))

    async def _keep_reading(self, stdout: asyncio.StreamReader) -> None:
        while line := await stdout.readline():
            self.output += line

    async def stop(self, sig: signal.Signals) -> int:
        """Send ``sig`` and wait for the process to end; its exit code."""
        process = self.process
        if process is None:
            raise RuntimeError(f"node {self.name} was not started")
        if process.returncode is None:
            process.send_signal(sig)
        async with asyncio.timeout(30):
            code = await process.wait()
            if self._drain is not None:
                await self._drain
        return code


@contextlib.asynccontextmanager
async def nodes(*members: StandbyNode) -> AsyncIterator[None]:
    """Kill whichever of ``members`` still runs on the way out."""
    try:
        yield
    finally:
        for member in members:
            if member.process is not None and member.process.returncode is None:
                member.process.kill()
                await member.process.wait()


async def health_at(peers: Host, address: str) -> tuple[int, dict[str, Any]]:
    """``/api/health`` of whichever node answers at ``address``, asked from the peers."""
    status, body = await http_get(peers, address, HTTP_PORT, "/api/health", timeout_s=2)
    return status, json.loads(body)


async def until_active_at(peers: Host, address: str, *, within_s: float,
                          besides: str = "") -> tuple[float, dict[str, Any]]:
    """Poll the health at ``address`` from the peers until an active node (other than
    ``besides``) answers; (seconds taken, its health)."""
    started = time.monotonic()
    last: object = None
    while time.monotonic() - started < within_s:
        with contextlib.suppress(OSError, TimeoutError, ValueError):
            code, body = await health_at(peers, address)
            last = (code, body)
            if code == 200 and body["node"] != besides:
                return time.monotonic() - started, body
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"no active node other than {besides!r} answered at {address} "
                         f"within {within_s} s; last: {last}")


async def register_status(peers: Host, address: str) -> int:
    """The final answer to a REGISTER sent from the peers to ``address`` over UDP (an
    active node challenges it: 401)."""
    async with RawSipClient(address, SIP_PORT, bind=peers.ip, realm_host=address,
                            sock=peers.bound_socket()) as phone:
        return (await phone.request(phone.build("REGISTER", "1001"), wait_s=3)).status


async def call_answered(peers: Host, address: str, number: str = NUMBER, *,
                        wait_s: float = 1.0) -> SipResponse:
    """One call from the peers to ``number`` at ``address``: INVITE with a PCMU offer; on
    200 OK it is acknowledged and hung up at once. The final answer (raises TimeoutError
    when none came within ``wait_s``)."""
    async with RawSipClient(address, SIP_PORT, bind=peers.ip, realm_host=address,
                            sock=peers.bound_socket()) as phone:
        call_id = secrets.token_hex(8)
        offer = _OFFER.format(ip=peers.ip, port=40000).encode()
        invite = phone.build("INVITE", "bench", target=number, call_id=call_id, body=offer)
        answer = await phone.request(invite, wait_s=wait_s)
        if answer.status == 200:
            contact = answer.contact
            target = contact.uri if contact is not None else invite.uri
            for method, cseq in (("ACK", invite.cseq.seq), ("BYE", invite.cseq.seq + 1)):
                request = build_request(
                    method, target, from_=invite.from_, to=answer.to, call_id=call_id,
                    cseq=cseq, via=Via("UDP", peers.ip, phone.local_port,
                                       (("branch", new_branch()), ("rport", None))),
                    contact=NameAddr(SipUri(user="bench", host=peers.ip,
                                            port=phone.local_port)))
                if method == "ACK":
                    phone.send(request)
                else:
                    with contextlib.suppress(TimeoutError):
                        await phone.request(request, wait_s=wait_s)
        return answer
