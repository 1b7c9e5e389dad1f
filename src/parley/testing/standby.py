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
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from parley.sip.auth import Challenge, authorization_header
from parley.sip.errors import SipParseError
from parley.sip.headers import NameAddr, Via
from parley.sip.message import (
    SipRequest,
    SipResponse,
    build_request,
    build_response,
    new_branch,
    parse_message,
)
from parley.sip.uri import SipUri
from parley.testing.media import sipp_answerer, sipp_caller, sipp_play
from parley.testing.netns import Host, TcpRelay, http_get
from parley.testing.peers import Sipp
from parley.testing.sipclient import RawSipClient

READY_LINE = b"Press Ctrl-C to stop."
NUMBER = "700"  # answered by ``answering_site``
HOLD_NUMBER = "730"  # answered by ``answering_site``: a beep, then 30 s waiting for a key
SIP_PORT, HTTP_PORT = 5060, 8080
POLL_S = 0.05
_OFFER = ("v=0\r\no=bench 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
          "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")


def answering_site(path: Path, *, devices: Sequence[dict[str, str]] = ()) -> Path:
    """A provisioning document at ``path`` (for ``serve --config`` or ``parley import``):
    number 700 answers, plays a beep and hangs up, number 730 beeps and waits 30 s for a
    key (a caller who hangs up first); ``devices`` (:func:`talking_devices`)."""
    flow = {"flow": "answer", "start": "beep",
            "nodes": {"beep": {"type": "play", "prompt": "beep", "next": "bye"},
                      "bye": {"type": "hangup"}}}
    hold = {"flow": "hold", "start": "menu",
            "nodes": {"menu": {"type": "menu", "prompt": "beep", "options": {"1": "bye"},
                               "timeout": 30, "retries": 0, "on_timeout": "bye",
                               "on_invalid": "bye"},
                      "bye": {"type": "hangup"}}}
    document: dict[str, Any] = {
        "version": 1, "site": {"name": "Hot standby", "time_zone": "UTC"},
        "flows": [{"name": "answer", "description": "Answer, beep, hang up",
                   "definition": flow},
                  {"name": "hold", "description": "Answer, beep, wait for a key",
                   "definition": hold}],
        "numbers": [{"number": NUMBER, "flow": "answer", "description": "Answered"},
                    {"number": HOLD_NUMBER, "flow": "hold", "description": "Held"}]}
    if devices:
        document["devices"] = list(devices)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


QUEUE_NUMBER = "710"  # answered by ``queueing_site``: the caller waits in queue "sales"
MENU_NUMBER = "720"  # a beep, then a menu: 1 or 4 s of silence lead to queue "sales"


def queueing_site(path: Path, *, operator: str = "", device: str = "", password: str = "",
                  record: bool = False,
                  operators: Sequence[tuple[str, str, str]] = (),
                  contacts: Mapping[str, str] | None = None) -> Path:
    """:func:`answering_site` with a queue: number 710 puts the caller in queue ``sales``,
    number 720 after a menu (:data:`MENU_NUMBER`); the queue is served by ``operator``
    alone on ``device`` (``password``), or by ``operators`` (each such a triple), each
    logged in and ready once their phone registers (no wrap-up), or at once for a device
    that ``contacts`` gives a static contact (device name -> SIP URI); it records every call
    when ``record``."""
    staff = list(operators) or [(operator, device, password)]
    answering_site(path)
    document = yaml.safe_load(path.read_text())
    document["site"]["ready_on_register"] = True
    document["flows"].append({"name": "wait", "description": "Wait for sales",
                              "definition": {"flow": "wait", "start": "q", "nodes": {
                                  "q": {"type": "queue", "queue": "sales"}}}})
    document["numbers"].append({"number": QUEUE_NUMBER, "flow": "wait",
                                "description": "Sales"})
    document["flows"].append({"name": "menu", "description": "Beep, menu, sales",
                              "definition": {"flow": "menu", "start": "welcome", "nodes": {
                                  "welcome": {"type": "play", "prompt": "beep",
                                              "next": "menu"},
                                  "menu": {"type": "menu", "prompt": "please-try-again",
                                           "options": {"1": "q"}, "timeout": 4,
                                           "retries": 0, "on_timeout": "q",
                                           "on_invalid": "q"},
                                  "q": {"type": "queue", "queue": "sales"}}}})
    document["numbers"].append({"number": MENU_NUMBER, "flow": "menu",
                                "description": "Menu"})
    document["users"] = [{"username": name, "display_name": f"Operator {name}",
                          "roles": ["agent"], "password": f"{secret}-web"}
                         for name, _device, secret in staff]
    fixed = contacts or {}
    document["devices"] = [{"name": phone, "user": name, "sip_password": secret,
                            **({"static_contact": fixed[phone]} if phone in fixed else {})}
                           for name, phone, secret in staff]
    document["queues"] = [{"name": "sales", "strategy": "longest_idle", "wrap_up_s": 0,
                           "members": [name for name, _device, _secret in staff],
                           "recording": "all" if record else "none"}]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


ECHO_SIP_PORT, ECHO_MEDIA_PORT = 5070, 6000  # :func:`echo_phones` on the peers' host


def echo_contacts(peers: Host, devices: Sequence[str]) -> dict[str, str]:
    """``contacts`` for :func:`queueing_site`: each of ``devices`` at :func:`echo_phones`."""
    return {device: f"sip:{device}@{peers.ip}:{ECHO_SIP_PORT}" for device in devices}


def peer_sipp(peers: Host, workdir: Path, scenario: str, **options: Any) -> Sipp:
    """sipp on the peers' host running ``scenario`` (its XML) in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{workdir.name}.xml"
    path.write_text(scenario)
    return Sipp(workdir, path, host=peers.ip, prefix=peers.command(), **options)


def echo_phones(peers: Host, workdir: Path) -> Sipp:
    """The operators' phones at :func:`echo_contacts`: one sipp answering every call
    there, sending back each RTP packet it gets (``-rtp_echo``) from its media port."""
    return peer_sipp(peers, workdir, sipp_answerer("[media_port]", media_ip="[media_ip]"),
                     port=ECHO_SIP_PORT, media_port=ECHO_MEDIA_PORT, extra=("-rtp_echo",))


def voice_callers(peers: Host, workdir: Path, address: str, voice_pcap: Path, *,
                  calls: int, talk_s: float, media_port: int, rate: float = 10.0) -> Sipp:
    """sipp placing ``calls`` calls to :data:`QUEUE_NUMBER` at ``address``, ``rate`` a
    second, each playing ``voice_pcap`` for ``talk_s`` and then hanging up; a call's media
    port is ``media_port`` + 4 x (its number - 1), where the peers' capture finds it."""
    return peer_sipp(peers, workdir, sipp_caller(sipp_play(voice_pcap, int(talk_s * 1000))),
                     target=f"{address}:{SIP_PORT}", service=QUEUE_NUMBER, calls=calls,
                     rate=rate, media_port=media_port,
                     extra=("-l", str(calls), "-timeout", f"{int(talk_s) + 120}s"))


def load_caller(peers: Host, address: str, workdir: Path, rate: float,
                calls: int | None = None) -> Sipp:
    """sipp on the callers' host placing ``rate`` calls a second to :data:`HOLD_NUMBER`
    (each from its own number: 5550 and the call's number), each hung up after 1 s; until
    stopped, or ``calls`` of them."""
    return peer_sipp(peers, workdir, sipp_caller('  <pause milliseconds="1000"/>\n',
                                                 caller="5550[call_number]"),
                     service=HOLD_NUMBER, rate=rate, calls=calls,
                     target=f"{address}:{SIP_PORT}",
                     extra=("-l", str(int(rate * 5) + 10), "-timeout", "120s"))


DB_PORT = 5432


async def database_on_lan(db: Host, database_url: str, name: str) -> tuple[TcpRelay, str]:
    """PostgreSQL at ``database_url`` (database ``name``) reached from the LAN: a relay on
    host ``db``'s port 5432 to the server, and the URL the nodes use (close the relay)."""
    target = urlsplit(database_url)
    relay = await TcpRelay(db.listener(DB_PORT),
                           (target.hostname or "127.0.0.1", target.port or 5432)).start()
    return relay, f"postgresql://{target.username}@{db.ip}:{DB_PORT}/{name}"


async def import_site(site: Path, database_url: str, folder: Path) -> None:
    """``parley import`` of the provisioning document ``site`` into the cluster's database,
    once, before either node starts."""
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", "from parley.cli import main; main()", "import",
                         str(site), "--database-url", database_url, "--data-dir",
                         str(folder)], check=True, capture_output=True, timeout=120)


async def admin_token(database_url: str, folder: Path) -> str:
    """An admin's API token (user ``ops``), made with ``parley user add --token``."""
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", "from parley.cli import main; main()", "user",
                         "add", "ops", "--role", "admin", "--password", "ops-secret-1",
                         "--token", "--database-url", database_url, "--data-dir", str(folder)],
        check=True, capture_output=True, timeout=120, text=True)
    return done.stdout.split("API token (shown once): ")[1].split()[0]


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
    rtp_ports: str = "20000-20019"
    #: more settings for the node, as environment variables (``PARLEY_MEDIA__...``)
    environment: Mapping[str, str] = field(default_factory=dict)
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
        # as docs/deployment.md sets the hosts up: a killed node's kernel, the address
        # still on it, must not ask for the peers in the floating address's name (the
        # peers would send to it again, away from the node that took over)
        for device in ("all", self.host.device):
            self.host.sysctl(f"net.ipv4.conf.{device}.arp_announce", "2")
        env = {**os.environ, "PARLEY_HA__NODE_NAME": self.name, "PARLEY_HA__CLUSTER": "site",
               "PARLEY_HA__RENEW_INTERVAL_S": str(self.renew_s),
               "PARLEY_HA__LAPSE_S": str(self.lapse_s),
               "PARLEY_HA__FLOATING_IP": self.floating, "PARLEY_HA__INTERFACE": "eth0",
               "PARLEY_HA__NODE_ADDRESS": self.host.ip, **self.environment}
        address = self.floating.split("/")[0]
        self.output.clear()
        self.process = await asyncio.create_subprocess_exec(
            *self.host.command(
                sys.executable, "-c", "from parley.cli import main; main()", "serve",
                "--host", address, "--sip-port", str(SIP_PORT), "--http-port", str(HTTP_PORT),
                "--rtp-ports", self.rtp_ports, "--data-dir", str(self.folder / self.name),
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
        return await self.exited(within_s=30)

    async def exited(self, *, within_s: float) -> int:
        """Wait for the process to end (by itself); its exit code."""
        process = self.process
        if process is None:
            raise RuntimeError(f"node {self.name} was not started")
        async with asyncio.timeout(within_s):
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


def talking_devices(*, caller: str, password: str, callee: str, callee_contact: str
                    ) -> list[dict[str, str]]:
    """Devices for :func:`answering_site`: ``caller`` (with ``password``) calls extension
    ``callee``, a phone at the static contact ``callee_contact`` (an :class:`EchoPhone`)."""
    return [{"name": caller, "sip_password": password},
            {"name": callee, "static_contact": callee_contact}]


def digest_answer(challenge: SipResponse, method: str, user: str, password: str,
                  uri: SipUri) -> str:
    """The Authorization header answering ``challenge`` (a 401) for ``method`` to ``uri``."""
    value = challenge.headers.values("WWW-Authenticate")[0]
    return authorization_header(Challenge.parse(value), method=method, uri=str(uri),
                                username=user, password=password)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.received = received

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received(data, (str(addr[0]), int(addr[1])))


async def send_every_20ms(rtp: asyncio.DatagramTransport, address: str, port: int,
                          ssrc: int) -> None:
    """A numbered PCMU-sized RTP packet every 20 ms from ``rtp`` to ``address:port``, until
    cancelled or the transport closes (a phone that talks)."""
    packet = 0
    while not rtp.is_closing():
        header = bytes([0x80, 0]) + (packet & 0xFFFF).to_bytes(2, "big") + \
            (packet * 160).to_bytes(4, "big") + ssrc.to_bytes(4, "big")
        rtp.sendto(header + bytes(160), (address, port))
        packet += 1
        await asyncio.sleep(0.02)


def heard_between(heard: list[float], start: float, end: float) -> int:
    """How many of the moments ``heard`` (packets' arrivals) fall from ``start`` to ``end``."""
    return sum(1 for at in heard if start <= at < end)


@dataclass
class EchoPhone:
    """A phone on ``host`` at SIP port ``port`` that answers every INVITE with PCMU at an
    RTP port of its own (or only rings: ``ring_only``), sends back every RTP packet it gets
    (to where it came from), and answers BYE and CANCEL; ``byes`` counts the BYEs.
    ``talking``: it sends a packet every 20 ms to the caller's media address instead, and
    notes when each packet comes (``heard``), as a customer who talks."""

    host: Host
    port: int
    #: rings (180) instead of answering, until the INVITE is cancelled (then 487)
    ring_only: bool = False
    #: the called numbers (Request-URI users) it rings for as ``ring_only``, answering others
    ringing_for: frozenset[str] = frozenset()
    talking: bool = False
    heard: list[float] = field(default_factory=list)
    _talks: list[asyncio.Task[None]] = field(default_factory=list)
    byes: int = 0
    echoed: int = 0
    #: the Call-IDs of the INVITEs cancelled (CANCEL), in order
    cancelled: list[str] = field(default_factory=list)
    #: requests sent again for want of an answer (RFC 3261 Timer A)
    retransmissions: int = 0
    _sip: asyncio.DatagramTransport | None = None
    _rtp: asyncio.DatagramTransport | None = None
    rtp_port: int = 0
    #: the calls it answered, by Call-ID (each INVITE as received)
    invites: dict[str, SipRequest] = field(default_factory=dict)
    _responses: asyncio.Queue[SipResponse] = field(default_factory=asyncio.Queue)

    async def __aenter__(self) -> EchoPhone:
        loop = asyncio.get_running_loop()
        self._sip, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._on_sip), sock=self.host.bound_socket(port=self.port))
        self._rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._on_rtp), sock=self.host.bound_socket())
        self.rtp_port = int(self._rtp.get_extra_info("sockname")[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._talks:
            task.cancel()
        for transport in (self._sip, self._rtp):
            if transport is not None:
                transport.close()

    def heard_between(self, start: float, end: float) -> int:
        """Packets heard from ``start`` to ``end`` (``talking``)."""
        return heard_between(self.heard, start, end)

    async def hang_up(self, call_id: str, address: str) -> SipResponse:
        """BYE on the call it answered, sent to ``address``; the answer to it."""
        invite = self.invites[call_id]
        contact = invite.contact
        tag = f"echo{abs(hash(call_id))}"
        bye = build_request(
            "BYE", contact.uri if contact is not None else invite.uri,
            from_=invite.to.with_tag(tag), to=invite.from_, call_id=call_id, cseq=1,
            via=Via("UDP", self.host.ip, self.port,
                    (("branch", new_branch()), ("rport", None))))
        return await self._request(bye, address)

    async def register(self, address: str, user: str, password: str) -> int:
        """Register as device ``user`` at ``address`` from this phone's SIP port (its
        contact), answering the digest challenge; the final status."""
        uri = SipUri(host=address, port=SIP_PORT)
        aor = NameAddr(SipUri(user=user, host=address, port=SIP_PORT))
        call_id, tag = secrets.token_hex(8), secrets.token_hex(4)

        def register(cseq: int, authorization: str | None = None) -> SipRequest:
            headers = [("Expires", "300")]
            if authorization is not None:
                headers.append(("Authorization", authorization))
            return build_request(
                "REGISTER", uri, from_=aor.with_tag(tag), to=aor, call_id=call_id, cseq=cseq,
                via=Via("UDP", self.host.ip, self.port,
                        (("branch", new_branch()), ("rport", None))),
                contact=NameAddr(SipUri(user=user, host=self.host.ip, port=self.port)),
                headers=headers)

        challenge = await self._request(register(1), address)
        if challenge.status != 401:
            return challenge.status
        authorization = digest_answer(challenge, "REGISTER", user, password, uri)
        return (await self._request(register(2, authorization), address)).status

    async def _request(self, request: SipRequest, address: str) -> SipResponse:
        if self._sip is None:
            raise RuntimeError("the phone is not open")
        data = bytes(request)
        self._sip.sendto(data, (address, SIP_PORT))
        async with asyncio.timeout(5):
            interval = 0.5  # RFC 3261 Timer A: a datagram may be lost (an ARP flip, say)
            while True:
                try:
                    async with asyncio.timeout(interval):
                        response = await self._responses.get()
                except TimeoutError:
                    self._sip.sendto(data, (address, SIP_PORT))
                    self.retransmissions += 1
                    interval = min(interval * 2, 2.0)
                    continue
                if response.call_id == request.call_id and response.status >= 200 \
                        and response.cseq == request.cseq:
                    return response

    def _on_rtp(self, data: bytes, source: tuple[str, int]) -> None:
        if self.talking:
            self.heard.append(time.monotonic())
        elif self._rtp is not None:
            self._rtp.sendto(data, source)
            self.echoed += 1

    def _on_sip(self, data: bytes, source: tuple[str, int]) -> None:
        try:
            request = parse_message(data)
        except SipParseError:
            return
        if isinstance(request, SipResponse):
            self._responses.put_nowait(request)
            return
        if request.method == "ACK" or self._sip is None:
            return
        tag = f"echo{abs(hash(request.call_id))}"
        if request.method == "INVITE" and (self.ring_only
                                           or request.uri.user in self.ringing_for):
            self.invites.setdefault(request.call_id, request)
            response = build_response(request, 180, to_tag=tag)
        elif request.method == "CANCEL":
            self.cancelled.append(request.call_id)
            invite = self.invites.get(request.call_id)
            if invite is not None:
                self._sip.sendto(bytes(build_response(invite, 487, to_tag=tag)), source)
            response = build_response(request, 200, to_tag=tag)
        elif request.method == "INVITE":
            if self.talking and request.call_id not in self.invites:
                media = request.body.decode(errors="replace")
                address = media.split("c=IN IP4 ")[1].split()[0]
                port = int(media.split("m=audio ")[1].split()[0])
                if self._rtp is not None:
                    self._talks.append(asyncio.ensure_future(
                        send_every_20ms(self._rtp, address, port, 0xC0FFEE)))
            self.invites.setdefault(request.call_id, request)
            response = build_response(
                request, 200, to_tag=tag,
                contact=NameAddr(SipUri(user="echo", host=self.host.ip, port=self.port)),
                body=_OFFER.format(ip=self.host.ip, port=self.rtp_port).encode(),
                content_type="application/sdp")
        else:
            if request.method == "BYE":
                self.byes += 1
            response = build_response(request, 200, to_tag=tag)
        self._sip.sendto(bytes(response), source)


@dataclass
class TalkingCaller:
    """A call from ``host`` to extension ``callee`` at ``address`` as user ``user``
    (``password``): once answered it sends a numbered RTP packet every 20 ms and notes
    when each packet comes back (``heard``)."""

    host: Host
    address: str
    user: str
    password: str
    callee: str
    #: its SIP over UDP, or TCP: a connection it opens again to hang up when the node that
    #: had it closed it (a takeover)
    transport: str = "UDP"
    heard: list[float] = field(default_factory=list)
    _phone: RawSipClient | None = None
    _rtp: asyncio.DatagramTransport | None = None
    _invite: SipRequest | None = None
    _answer: SipResponse | None = None
    _sending: asyncio.Task[None] | None = None

    async def call(self, *, wait_s: float = 5.0) -> SipResponse:
        """Place the call (answering a digest challenge); on 200 OK acknowledge it."""
        loop = asyncio.get_running_loop()
        self._rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(lambda _data, _source: self.heard.append(time.monotonic())),
            sock=self.host.bound_socket())
        rtp_port = int(self._rtp.get_extra_info("sockname")[1])
        self._phone = phone = await self._connect()
        offer = _OFFER.format(ip=self.host.ip, port=rtp_port).encode()
        call_id = secrets.token_hex(8)
        first = phone.build("INVITE", self.user, target=self.callee, call_id=call_id,
                            body=offer)
        invite = first
        answer = await self._final(first, wait_s=wait_s)
        if answer.status == 401:  # a phone of the site calling: its credentials
            # acknowledged, or the node repeats its 401 until timer H
            phone.send(build_request("ACK", first.uri, from_=first.from_, to=answer.to,
                                     call_id=call_id, cseq=first.cseq.seq, via=first.via))
            invite = phone.build("INVITE", self.user, target=self.callee, call_id=call_id,
                                 body=offer, authorization=digest_answer(
                                     answer, "INVITE", self.user, self.password,
                                     SipUri(user=self.callee, host=self.address,
                                            port=SIP_PORT)))
            answer = await self._final(invite, wait_s=wait_s)
        self._invite, self._answer = invite, answer
        if answer.status == 200:
            phone.send(self._in_dialog("ACK", invite.cseq.seq))
            media = answer.body.decode()
            node_port = int(media.split("m=audio ")[1].split()[0])
            self._sending = asyncio.create_task(
                send_every_20ms(self._rtp, self.address, node_port, 0x5EED))
        return answer

    async def _connect(self) -> RawSipClient:
        kind = socket.SOCK_STREAM if self.transport == "TCP" else socket.SOCK_DGRAM
        return await RawSipClient(self.address, SIP_PORT, transport=self.transport,
                                  bind=self.host.ip, realm_host=self.address,
                                  sock=self.host.bound_socket(kind)).open()

    async def _final(self, request: SipRequest, *, wait_s: float) -> SipResponse:
        """Send ``request``; its final response (others, late repeats included, skipped)."""
        phone = self._phone
        if phone is None:
            raise RuntimeError("no phone")
        phone.send(request)
        async with asyncio.timeout(wait_s):
            while True:
                response = await phone.replies.get()
                if response.call_id == request.call_id and response.status >= 200 \
                        and response.cseq == request.cseq:
                    return response

    def _in_dialog(self, method: str, cseq: int) -> SipRequest:
        invite, answer, phone = self._invite, self._answer, self._phone
        if invite is None or answer is None or phone is None:
            raise RuntimeError("no call")
        contact = answer.contact
        params = (("transport", "tcp"),) if self.transport == "TCP" else ()
        return build_request(
            method, contact.uri if contact is not None else invite.uri, from_=invite.from_,
            to=answer.to, call_id=invite.call_id, cseq=cseq,
            via=Via(self.transport, self.host.ip, phone.local_port,
                    (("branch", new_branch()), ("rport", None))),
            contact=NameAddr(SipUri(user=self.user, host=self.host.ip,
                                    port=phone.local_port, params=params)))

    def heard_between(self, start: float, end: float) -> int:
        return heard_between(self.heard, start, end)

    async def hang_up(self) -> SipResponse:
        """BYE; the answer to it."""
        phone = self._phone
        if phone is None or self._invite is None:
            raise RuntimeError("no call")
        if not phone.connected:  # TCP, closed by the node that had the call
            await phone.close()
            self._phone = await self._connect()
        return await self._final(self._in_dialog("BYE", self._invite.cseq.seq + 1), wait_s=5)

    async def close(self) -> None:
        if self._sending is not None:
            self._sending.cancel()
        if self._rtp is not None:
            self._rtp.close()
            self._rtp = None
        if self._phone is not None:
            await self._phone.close()
