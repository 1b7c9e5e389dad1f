"""What held when Parley was probed, kept held: 40,000 mutated SIP datagrams (captured phone
and PBX messages with bytes flipped, inserted, deleted, cut and repeated) sent to a live node
over UDP leave no traceback in its log, and the node answers a phone right after."""

from __future__ import annotations

import asyncio
import random
import re
import socket
from pathlib import Path

import structlog

from parley.telephony.server import Telephony
from parley.testing.sipclient import RawSipClient

CAPTURES = [path.read_bytes() for path in
            sorted((Path(__file__).resolve().parents[1] / "sip" / "data").glob("*.sip"))]
SIP_BYTES = [b"\r\n", b"\n", b":", b";", b",", b"<", b">", b'"', b" ", b"\t", b"=", b"@",
             b"\x00", b"\xff", b"Content-Length: 99999\r\n", b"Via: SIP/2.0/UDP [::1\r\n",
             b"%", b"sip:", b"tel:", b"\r\n\r\n"]
DATAGRAMS = 40_000


def _aimed(message: bytes, port: int, branch: int) -> bytes:
    """The capture with its top Via pointed at the fuzzer's own socket (with rport), so that
    answers come back here rather than to the captured phone's address; a new branch each
    time, so that the node sees new transactions rather than retransmissions."""
    via = b"Via: SIP/2.0/UDP 127.0.0.1:%d;rport;branch=z9hG4bK-fuzz%d" % (port, branch)
    return re.sub(rb"(?m)^(?:Via|v):[^\r\n]*", lambda _m: via, message, count=1)


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.choice(("flip", "insert", "delete", "truncate", "dup"))
        pos = rng.randint(0, max(0, len(buffer) - 1))
        if op == "flip" and buffer:
            buffer[pos] = rng.randint(0, 255)
        elif op == "insert":
            buffer[pos:pos] = rng.choice(SIP_BYTES)
        elif op == "delete":
            del buffer[pos:pos + rng.randint(1, 20)]
        elif op == "truncate":
            del buffer[pos:]
        else:
            end = min(len(buffer), pos + rng.randint(1, 40))
            buffer[pos:pos] = buffer[pos:end]
    return bytes(buffer)


async def test_mutated_datagrams_leave_no_traceback(parley: Telephony) -> None:
    rng = random.Random(12)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    sender.setblocking(False)
    port = sender.getsockname()[1]
    target = ("127.0.0.1", parley.sip_port)
    with structlog.testing.capture_logs() as logs:
        try:
            for n in range(DATAGRAMS):
                try:
                    message = _aimed(rng.choice(CAPTURES), port, n)
                    sender.sendto(_mutate(message, rng), target)
                except (BlockingIOError, OSError):
                    await asyncio.sleep(0.01)
                if n % 200 == 0:
                    await asyncio.sleep(0.002)  # let the node read: a flood is not the point
                    while True:  # drop what came back
                        try:
                            sender.recv(65535)
                        except BlockingIOError:
                            break
        finally:
            sender.close()
        await asyncio.sleep(0.5)
    failures = [entry for entry in logs if entry.get("log_level") in ("error", "critical")
                or entry["event"] in ("handler_failed", "call_task_failed",
                                      "subscriber_failed")]
    assert failures == []
    assert parley.transport.malformed > DATAGRAMS // 10
    for channel in parley.channels():
        channel.hangup()
    async with RawSipClient("127.0.0.1", parley.sip_port, bind="127.0.0.2") as phone:
        assert (await phone.authenticated("REGISTER", "1005", "pw1005")).status == 200
