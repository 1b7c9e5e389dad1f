"""Free loopback ports chosen at run time, so that tests never collide with each other."""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from parley.telephony.server import TelephonySettings

LOOPBACK = "127.0.0.1"
#: every address: a port free here is free on all of them (what a wildcard bind needs)
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - only ever probed, to find a port free everywhere


def _bindable(port: int, host: str = LOOPBACK) -> bool:
    """True when both UDP and TCP can bind ``port`` on ``host`` right now."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        finally:
            sock.close()
    return True


def free_port(host: str = LOOPBACK, *, avoid: Collection[int] = ()) -> int:
    """A port free for both UDP and TCP on ``host``, below the kernel's ephemeral range: a
    port the kernel picked would be free now but could be handed to another process's
    outgoing connection (a node's database pool) before the server that asked binds it.
    ``avoid``: ports already chosen for the same peer, free too until it binds them."""
    return free_port_block(1, host, even=False, avoid=avoid)


def free_port_block(count: int, host: str = LOOPBACK, *, even: bool = True,
                    avoid: Collection[int] = (), rng: random.Random | None = None) -> int:
    """The first port of ``count`` consecutive ports free for UDP and TCP, none of them in
    ``avoid`` (``rng`` draws the candidates).

    Some peers take more than one port (baresip opens SIP/TLS on its SIP port + 1; an RTP range
    needs several), so a test asks for a whole block.
    """
    # Blocks come from below the kernel's ephemeral range, where nothing is handed out behind
    # our back (other tests' client sockets land in the ephemeral range).
    low, _high = _ephemeral_range()
    first_candidate, last_candidate = 10_000, max(10_002, low - count - 1)
    draw = rng or random.SystemRandom()
    for _ in range(200):
        base = draw.randrange(first_candidate, last_candidate)
        if even and base % 2:
            base += 1
        ports = range(base, base + count)
        if not any(port in avoid for port in ports) \
                and all(_bindable(port, host) for port in ports):
            return base
    raise OSError(f"no block of {count} free ports found on loopback")


def _ephemeral_range() -> tuple[int, int]:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        low, high = (int(part) for part in text.split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether ``port`` could be bound now (UDP and TCP)."""
    with contextlib.suppress(OSError):
        return _bindable(port, host)
    return False


def telephony_settings(**overrides: object) -> TelephonySettings:
    """Settings for a test server: loopback, a free SIP port, a free block of 400 RTP ports
    (``overrides`` replace any of them)."""
    from parley.telephony.server import TelephonySettings

    values: dict[str, object] = {
        "host": LOOPBACK,
        "realm": "parley.test",
        "no_answer_timeout": 3.0,
        "media_timeout": 30.0,
        **overrides,
    }
    if "sip_port" not in values:
        values["sip_port"] = free_port()
    if "rtp_ports" not in values:
        rtp_first = free_port_block(400)
        values["rtp_ports"] = (rtp_first, rtp_first + 399)
    return TelephonySettings(**values)  # type: ignore[arg-type]
