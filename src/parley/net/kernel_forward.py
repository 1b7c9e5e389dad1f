"""Kernel forwarding of unrecorded two-party bridges through nftables (``media.kernel_forwarding``).

A bridge whose packets Parley only passes on (no tap, no SRTP, no hold, no header rewrite) can
be forwarded by the kernel instead of the relay's Python path, as rtpengine's kernel module
does. One table of the node's own (``ip parley_media_<first RTP port>``) holds a constant
chain and four maps; a forwarded direction is one element in each map, so handing a
direction over or taking it back is a few element changes, never a rule change::

    legs:      relay port . phone address . phone port  ->  mark (the relay port)
    to_addr:   mark -> the other phone's address
    to_port:   mark -> the other phone's port
    from_port: mark -> the other endpoint's relay port (the new source port)

The chain runs at ``prerouting`` with ``raw`` priority: a packet from the latched phone to the
endpoint's port is marked, untracked and rewritten (source: the address it was sent to, the
other endpoint's port; destination: the other phone), then routed as if the other endpoint had
sent it. The kernel keeps the IP and UDP checksums right. ``legs`` counts packets and bytes per
element; the relay polls it so that inactivity, packet counts and ``/metrics`` stay true.

Where it works: phones reached through the loopback interface (tested and measured,
docs/benchmarks.md). Through a network card the rewritten packet carries one of the node's
own addresses as its source and must be forwarded, which Linux drops as a martian unless
``net.ipv4.ip_forward=1``, ``net.ipv4.conf.<card>.accept_local=1`` and ``rp_filter`` is off
there; that is untested (docs/configuration.md, "Kernel forwarding").

nftables is driven in-process through ``libnftables`` (ctypes): one command costs a netlink
round trip, not a fork and exec of ``nft``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import re
from collections.abc import Iterable
from dataclasses import dataclass

TABLE = "parley_media"
_GOT = re.compile(r"counter packets (\d+) bytes \d+ : 0x([0-9a-f]+)")
#: keys per ``get element``: libnftables 1.0.6 crashed the process on 200 at once
_GET_AT_ONCE = 64


class KernelForwardError(RuntimeError):
    """nftables refused a command (no CAP_NET_ADMIN, no nf_tables in the kernel, a bad
    element); the message is nftables' own."""


class _Nft:
    """A libnftables context: run a command, get its output or its error."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("nftables") or "libnftables.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError as error:
            raise KernelForwardError(
                f"media.kernel_forwarding needs libnftables (Debian's nftables): {error}"
            ) from error
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self._lib = lib
        self._ctx = lib.nft_ctx_new(0)
        if not self._ctx:
            raise KernelForwardError("nft_ctx_new failed")
        lib.nft_ctx_buffer_output(self._ctx)
        lib.nft_ctx_buffer_error(self._ctx)

    def run(self, command: str) -> str:
        """Run one or more commands (one transaction); the output, or KernelForwardError."""
        lib = self._lib
        rc = lib.nft_run_cmd_from_buffer(self._ctx, command.encode())
        output = (lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
        error = (lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode()
        if rc != 0:
            raise KernelForwardError(f"nftables: {error.strip() or 'failed'} ({command[:200]!r})")
        return output

    def close(self) -> None:
        if self._ctx:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None


@dataclass(frozen=True, slots=True)
class Direction:
    """One forwarded direction: what arrives at ``port`` from ``source`` goes to ``target``,
    sent from ``from_port``."""

    port: int
    source: tuple[str, int]
    target: tuple[str, int]
    from_port: int

    def key(self) -> str:
        return f"{self.port} . {self.source[0]} . {self.source[1]}"


def table_name(first_port: int) -> str:
    """The table of the node whose RTP ports start at ``first_port``: nodes on one machine
    have their own ranges, and a node restarted after a crash finds its old table."""
    return f"{TABLE}_{first_port}"


class KernelForwarder:
    """One node's nftables table: created at :meth:`start`, removed at :meth:`stop`."""

    def __init__(self, table: str = TABLE) -> None:
        self.table = table
        self._spec = f"ip {table}"
        self._nft: _Nft | None = None

    def open(self) -> None:
        """Open the libnftables context and its netlink socket now. Call it before the
        process opens many sockets: libnftables waits on its socket with ``select()``, which
        aborts the process for a descriptor above 1023."""
        if self._nft is None:
            nft = _Nft()
            try:
                nft.run("list tables")
            except KernelForwardError as error:
                nft.close()
                raise KernelForwardError(
                    f"media.kernel_forwarding needs CAP_NET_ADMIN and nf_tables: {error}"
                ) from error
            self._nft = nft

    def start(self) -> None:
        """Create the table (replacing one a crashed run left behind)."""
        self.open()
        nft = self._nft
        assert nft is not None  # noqa: S101 (open() made it)
        nft.run(f"add table {self._spec}\ndelete table {self._spec}")
        nft.run(
            f"table {self._spec} {{\n"
            "  map legs { type inet_service . ipv4_addr . inet_service : mark; counter; }\n"
            "  map to_addr { type mark : ipv4_addr; }\n"
            "  map to_port { type mark : inet_service; }\n"
            "  map from_port { type mark : inet_service; }\n"
            "  chain prerouting {\n"
            "    type filter hook prerouting priority raw; policy accept;\n"
            "    meta l4proto udp meta mark set udp dport . ip saddr . udp sport map @legs"
            " notrack ip saddr set ip daddr ip daddr set meta mark map @to_addr"
            " udp sport set meta mark map @from_port udp dport set meta mark map @to_port"
            " meta mark set 0\n"
            "  }\n"
            "}\n")

    def stop(self) -> None:
        """Remove the table (every forwarded direction with it)."""
        nft = self._nft
        if nft is None:
            return
        self._nft = None
        with contextlib.suppress(KernelForwardError):  # gone already
            nft.run(f"delete table {self._spec}")
        nft.close()

    @property
    def running(self) -> bool:
        return self._nft is not None

    def _run(self, command: str) -> str:
        if self._nft is None:
            raise KernelForwardError("kernel forwarding is not started")
        return self._nft.run(command)

    def add(self, directions: Iterable[Direction]) -> None:
        """Hand directions to the kernel (one transaction)."""
        directions = list(directions)
        if not directions:
            return
        legs = ", ".join(f"{d.key()} : {d.port}" for d in directions)
        to_addr = ", ".join(f"{d.port} : {d.target[0]}" for d in directions)
        to_port = ", ".join(f"{d.port} : {d.target[1]}" for d in directions)
        from_port = ", ".join(f"{d.port} : {d.from_port}" for d in directions)
        # the rewrite maps first, so a packet matching ``legs`` always finds its targets
        self._run(f"add element {self._spec} to_addr {{ {to_addr} }}\n"
                  f"add element {self._spec} to_port {{ {to_port} }}\n"
                  f"add element {self._spec} from_port {{ {from_port} }}\n"
                  f"add element {self._spec} legs {{ {legs} }}")

    def remove(self, directions: Iterable[Direction], *,
               read_counts: bool = True) -> dict[int, int]:
        """Take directions back (one transaction): once this returns, the kernel forwards
        none of their packets, and the next ones reach the relay's sockets. Returns their
        packet counts read just before (by relay port), unless ``read_counts`` is False:
        reading them after any change to the table makes libnftables fetch the whole map
        again (about 4 ms with 500 directions, against 0.2 ms for the removal itself)."""
        directions = list(directions)
        if not directions:
            return {}
        legs = ", ".join(d.key() for d in directions)
        marks = ", ".join(str(d.port) for d in directions)
        counts: dict[int, int] = {}
        for start in range(0, len(directions) if read_counts else 0, _GET_AT_ONCE):
            keys = ", ".join(d.key() for d in directions[start:start + _GET_AT_ONCE])
            # nft 1.0.6 prints ``get element`` as text whatever the output flags
            listed = self._run(f"get element {self._spec} legs {{ {keys} }}")
            counts.update((int(mark, 16), int(packets))
                          for packets, mark in _GOT.findall(listed))
        self._run(f"delete element {self._spec} legs {{ {legs} }}\n"
                  f"delete element {self._spec} to_addr {{ {marks} }}\n"
                  f"delete element {self._spec} to_port {{ {marks} }}\n"
                  f"delete element {self._spec} from_port {{ {marks} }}")
        return counts

    def counters(self) -> dict[int, int]:
        """Packets the kernel has forwarded per direction, by relay port (one list command,
        read as text: half the cost of nftables' JSON for the same elements)."""
        listed = self._run(f"list map {self._spec} legs")
        return {int(mark, 16): int(packets) for packets, mark in _GOT.findall(listed)}

    def elements(self) -> int:
        """How many directions the kernel forwards now (for tests and diagnostics)."""
        return len(self.counters())
