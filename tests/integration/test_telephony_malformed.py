"""Malformed SIP gets 400 or is dropped, and a call placed right after still works."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from parley.sip.message import parse_message
from parley.telephony.engine import TrunkPeer
from parley.telephony.server import Telephony
from parley.telephony.users import SipUser
from parley.testing.peers import Sipp
from parley.testing.ports import free_port

from .conftest import needs_sipp

pytestmark = needs_sipp

GOOD_HEAD = (
    "INVITE sip:1002@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{n};rport\r\n"
    "From: <sip:9000@127.0.0.1>;tag=t{n}\r\n"
    "To: <sip:1002@127.0.0.1>\r\n"
    "Call-ID: junk-{n}@test\r\n"
    "CSeq: 1 INVITE\r\n"
    "Max-Forwards: 70\r\n"
)

CASES = {
    "truncated": lambda port: (GOOD_HEAD.format(port=port, n=1) + "Content-Len").encode(),
    "bad_content_length": lambda port: (GOOD_HEAD.format(port=port, n=2)
                                        + "Content-Length: 500\r\n\r\nv=0\r\n").encode(),
    "no_via": lambda port: (b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\n"
                            b"To: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n"
                            b"Content-Length: 0\r\n\r\n"),
    "binary_garbage": lambda port: bytes(range(256)) * 4,
    "oversized_header": lambda port: (GOOD_HEAD.format(port=port, n=3)
                                      + "Subject: " + "x" * 20000 + "\r\n"
                                      + "Content-Length: 0\r\n\r\n").encode(),
}


def _answers(sock: socket.socket) -> list[bytes]:
    answers = []
    while True:
        try:
            answers.append(sock.recv(65535))
        except BlockingIOError:
            return answers


@pytest.mark.parametrize("case", sorted(CASES))
async def test_malformed_sip_is_refused_and_calls_still_work(parley: Telephony, tmp_path: Path,
                                                             case: str) -> None:
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    sender.setblocking(False)
    port = sender.getsockname()[1]
    try:
        for _ in range(3):
            sender.sendto(CASES[case](port), ("127.0.0.1", parley.sip_port))
        await asyncio.sleep(0.3)
        answers = _answers(sender)
    finally:
        sender.close()
    for answer in answers:  # anything that came back is a 400 naming the fault
        response = parse_message(answer)
        assert getattr(response, "status", None) == 400, answer[:200]
    assert parley.transport.malformed >= 1
    assert not parley.engine.active_channels

    # Over TCP too: the connection is closed or answered 400, the listener survives.
    reader, writer = await asyncio.open_connection("127.0.0.1", parley.sip_port)
    writer.write(CASES[case](port))
    await writer.drain()
    try:
        data = await asyncio.wait_for(reader.read(65535), 0.5)
    except TimeoutError:
        data = b""  # still waiting for the rest of a message: nothing was accepted
    assert data == b"" or data.startswith(b"SIP/2.0 400"), data[:200]
    writer.close()

    # A real call right after: sipp -> Parley -> sipp behind a static user.
    phone = Sipp(tmp_path / "phone", "uas", port=free_port(), calls=1)
    parley.users.add(SipUser("4000", static_contact=f"sip:4000@127.0.0.1:{phone.port}"))  # type: ignore[attr-defined]
    client = Sipp(tmp_path / "client", "uac", target=f"127.0.0.1:{parley.sip_port}",
                  service="4000", port=free_port(), calls=1,
                  extra=("-timeout", "15s", "-timeout_error"))
    parley.engine.config.trunks = (TrunkPeer("sipp", "127.0.0.1", client.port),)
    try:
        await phone.start()
        await client.start()
        result = await client.wait(25)
    finally:
        await client.stop()
        await phone.stop()
    assert result.ok, result.log
    assert result.successful == 1
