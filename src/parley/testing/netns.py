"""A small LAN on this machine for tests of what only a real network shows (a floating
address moving between nodes by gratuitous ARP, a node cut off): network namespaces, one per
"host", each with an ``eth0`` plugged into one bridge, which lives in a namespace of its own.
The machine's own network namespace is never touched.

Creating namespaces needs root (``CAP_SYS_ADMIN`` and ``CAP_NET_ADMIN``) and iproute2's
``ip``: :data:`NETNS` is that need (the test is skipped without it, or failed under CI).

Every name is unique per run (``parley-<pid>-<random>-<host>``), so parallel runs never
collide; :meth:`Lan.close` deletes every namespace (and with them the veth pairs and the
bridge) even when the test failed, and a new :class:`Lan` first deletes the namespaces of
runs whose process is gone (an aborted run).

The test process itself can act inside a namespace for a moment (:func:`inside`): a socket
made there stays there, so a test's HTTP or SIP client can be one of the LAN's hosts while
the test's event loop runs in the machine's namespace. :class:`TcpRelay` puts a server of
the machine (the test session's PostgreSQL) on the LAN.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from parley.testing.needs import Need

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21
LAN_NETWORK = IPv4Interface("10.77.0.0/24")
_STALE = re.compile(r"^parley-(\d+)-[0-9a-f]{6}-")


def _capable(*capabilities: int) -> bool:
    """Whether this process has every one of ``capabilities`` in force."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return False
    found = re.search(r"^CapEff:\s*([0-9a-f]+)$", status, re.MULTILINE)
    effective = int(found.group(1), 16) if found else 0
    return all(effective >> capability & 1 for capability in capabilities)


NETNS = Need("network namespaces (root: CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's ip",
             "iproute2",
             lambda: shutil.which("ip") is not None and _capable(CAP_NET_ADMIN, CAP_SYS_ADMIN),
             remedy="run the tests as root, with Debian's iproute2")


def ip(*args: str, check: bool = True) -> str:
    """Run ``ip`` with ``args``; its output (an error names the command and what ip said)."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True,  # noqa: S603,S607
                          check=False, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or done.stdout}")
    return done.stdout


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python 3.12+
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"setns: {os.strerror(code)}")


@contextlib.contextmanager
def inside(namespace: str) -> Iterator[None]:
    """This thread inside ``namespace`` until the block ends (sockets made there stay
    there). Synchronous code only: never ``await`` inside, or other tasks would run there."""
    with open("/proc/thread-self/ns/net", "rb") as home, \
            open(NETNS_DIR / namespace, "rb") as there:
        _setns(there.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


def sweep_stale() -> None:
    """Delete the namespaces left by runs whose process is gone."""
    if not NETNS_DIR.is_dir():
        return
    for entry in NETNS_DIR.iterdir():
        found = _STALE.match(entry.name)
        if found is None:
            continue
        try:
            os.kill(int(found.group(1)), 0)
        except ProcessLookupError:
            ip("netns", "del", entry.name, check=False)
        except PermissionError:  # alive, someone else's
            continue


@dataclass
class Host:
    """One host of the LAN: namespace ``namespace``, with ``address`` on its ``eth0``."""

    name: str
    namespace: str
    address: IPv4Interface
    device: str = "eth0"

    @property
    def ip(self) -> str:
        return str(self.address.ip)

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def bound_socket(self, kind: socket.SocketKind = socket.SOCK_DGRAM, port: int = 0
                     ) -> socket.socket:
        """An IPv4 socket of this host, bound to its address and ``port`` (0: chosen by
        the kernel)."""
        with inside(self.namespace):
            made = socket.socket(socket.AF_INET, kind)
        made.bind((self.ip, port))
        made.setblocking(False)
        return made

    def listener(self, port: int) -> socket.socket:
        """A TCP socket of this host listening on its address and ``port``."""
        with inside(self.namespace):
            made = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        made.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        made.bind((self.ip, port))
        made.listen(64)
        made.setblocking(False)
        return made

    def sysctl(self, key: str, value: str) -> None:
        """Set a per-namespace ``net.`` sysctl, e.g. ``net.ipv4.ip_nonlocal_bind``."""
        with inside(self.namespace):
            Path("/proc/sys", *key.split(".")).write_text(value, encoding="ascii")

    def addresses(self) -> list[str]:
        """The IPv4 addresses on ``eth0``, with their prefixes."""
        text = ip("-n", self.namespace, "-o", "-4", "addr", "show", "dev", self.device)
        return re.findall(r"\binet (\S+)", text)

    def mac(self) -> str:
        text = ip("-n", self.namespace, "-o", "link", "show", "dev", self.device)
        found = re.search(r"link/ether (\S+)", text)
        assert found is not None, text  # noqa: S101 - a veth always has one
        return found.group(1)

    def neighbour(self, address: str) -> str | None:
        """The MAC this host's ARP cache holds for ``address`` (None: no entry)."""
        text = ip("-n", self.namespace, "neigh", "show", address, "dev", self.device)
        found = re.search(r"lladdr (\S+)", text)
        return None if found is None else found.group(1)


@dataclass
class Lan:
    """A bridge in a namespace of its own, and hosts plugged into it (:meth:`add`), on
    ``network``; :meth:`close` removes them all."""

    network: IPv4Interface = LAN_NETWORK
    tag: str = field(default_factory=lambda: f"parley-{os.getpid()}-{secrets.token_hex(3)}")
    hosts: dict[str, Host] = field(default_factory=dict)
    _namespaces: list[str] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"{self.tag}-switch"

    def open(self) -> Lan:
        sweep_stale()
        self._create(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        return self

    def _create(self, namespace: str) -> None:
        ip("netns", "add", namespace)
        self._namespaces.append(namespace)

    def address(self, number: int) -> IPv4Interface:
        """The LAN's ``number``-th address, with the LAN's prefix (``10.77.0.<number>/24``)."""
        return IPv4Interface(f"{self.network.network[number]}/{self.network.network.prefixlen}")

    def add(self, name: str, number: int) -> Host:
        """A host ``name`` (at most 15 characters) with the LAN's ``number``-th address."""
        host = Host(name, f"{self.tag}-{name}", self.address(number))
        self._create(host.namespace)
        ip("-n", self.switch, "link", "add", "name", name, "type", "veth", "peer", "name",
           host.device, "netns", host.namespace)
        ip("-n", self.switch, "link", "set", "dev", name, "master", "br0", "up")
        ip("-n", host.namespace, "link", "set", "lo", "up")
        ip("-n", host.namespace, "addr", "add", str(host.address), "dev", host.device)
        ip("-n", host.namespace, "link", "set", host.device, "up")
        self.hosts[name] = host
        return host

    def close(self) -> None:
        """Delete every namespace (their veths and the bridge go with them)."""
        for namespace in reversed(self._namespaces):
            ip("netns", "del", namespace, check=False)
        self._namespaces.clear()


@pytest.fixture
def lan() -> Iterator[Lan]:
    """A fresh LAN for the test, removed afterwards whatever happened (needs :data:`NETNS`:
    mark the test with ``needs(NETNS)``)."""
    made = Lan()
    try:
        yield made.open()
    finally:
        made.close()


class TcpRelay:
    """Relays each TCP connection accepted on ``listener`` (e.g. a LAN host's,
    :meth:`Host.listener`) to ``target`` in this process's own namespace: the test
    session's PostgreSQL, reached from the LAN. The relaying is done by a child process
    (:mod:`parley.testing.tcp_relay`), so that a pause of the test's own event loop never
    delays the nodes' statements (a late lease renewal stops a node)."""

    def __init__(self, listener: socket.socket, target: tuple[str, int]) -> None:
        self.listener = listener
        self.target = target
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> TcpRelay:
        fd = self.listener.fileno()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "parley.testing.tcp_relay", str(fd), self.target[0],
            str(self.target[1]), stdin=asyncio.subprocess.PIPE, pass_fds=(fd,))
        self.listener.close()  # the child has it
        return self

    async def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()


async def http_get(host: Host, address: str, port: int, path: str,
                   timeout_s: float = 5.0) -> tuple[int, bytes]:
    """``GET path`` from ``host`` to ``address:port`` over a fresh connection (HTTP/1.1,
    closed after the answer); the status and the body."""
    return await http_request(host, address, port, "GET", path, timeout_s=timeout_s)


async def http_request(host: Host, address: str, port: int, method: str, path: str, *,
                       headers: dict[str, str] | None = None, body: bytes = b"",
                       timeout_s: float = 5.0) -> tuple[int, bytes]:
    """``method path`` (with ``headers`` and ``body``) from ``host`` to ``address:port``
    over a fresh connection (HTTP/1.1, closed after the answer); the status and the body."""
    sock = host.bound_socket(socket.SOCK_STREAM)
    loop = asyncio.get_running_loop()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {address}:{port}", "Connection: close",
             f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in (headers or {}).items())]
    try:
        async with asyncio.timeout(timeout_s):
            await loop.sock_connect(sock, (address, port))
            reader, writer = await asyncio.open_connection(sock=sock)
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            answer = await reader.read(-1)
            writer.close()
    except BaseException:
        sock.close()
        raise
    head, _, content = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, content
