"""A phone registered over UDP or TCP stays reachable when the node restarts: the
registrar's bindings are kept in the store and restored when the node starts serving (the
same path a standby takes over by), so the phone rings and its operator is ready again
without waiting for the phone's next REGISTER (up to an hour). The TCP phone's connection
died with the node: it is rung over a new one, at the address its Contact names."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

from parley.app import Node
from parley.sip.uri import SipUri
from parley.testing.node import demo_node
from parley.testing.sipclient import RawSipClient

OFFER = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


async def until(check: Callable[[], bool], what: str, within: float = 5.0) -> None:
    for _ in range(int(within / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s: {what}")


def ready(node: Node, operator: str) -> bool:
    return str(node.center.shell.acd.agents[operator].state) == "ready"


async def call_1002(node: Node, rung: Callable[[], bool], what: str) -> None:
    """1001 calls 1002 on ``node`` (answering the digest challenge) until ``rung()`` says
    the phone got the INVITE; the call is then given up."""
    async with RawSipClient("127.0.0.1", node.telephony.sip_port) as caller:
        challenge = await caller.request(
            caller.build("INVITE", "1001", target="1002", body=OFFER))
        assert challenge.status == 401
        caller.send(caller.build("ACK", "1001", target="1002", call_id=challenge.call_id))
        invite = asyncio.create_task(caller.authenticated(
            "INVITE", "1001", "pw1001", target="1002", challenge=challenge, body=OFFER))
        await until(rung, what)
        invite.cancel()


async def test_a_restarted_node_rings_a_phone_that_registered_before_the_restart(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        phone = await RawSipClient("127.0.0.1", node.telephony.sip_port).open()
        registered = await phone.authenticated("REGISTER", "1002", "pw1002")
        assert registered.status == 200
        await until(lambda: ready(node, "1002"), "1002 ready after registering")
        await asyncio.sleep(1.5)  # the bindings are written once a second
    try:
        async with demo_node(tmp_path) as restarted:
            # no REGISTER since: the phone's operator is ready again, and a call rings it
            await until(lambda: ready(restarted, "1002"), "1002 ready after the restart")
            assert [b.uri.port for b in restarted.telephony.engine.contacts_of("1002")] \
                == [phone.local_port]
            phone.raw.clear()
            await call_1002(restarted, lambda: any(p.startswith(b"INVITE sip:1002@")
                                                   for p in phone.raw),
                            "the call to 1002 ringing the phone")
    finally:
        await phone.close()


async def test_a_phone_registered_over_tcp_is_rung_at_its_contact_after_the_restart(
        tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    contact = SipUri(user="1002", host="127.0.0.1", port=listener.getsockname()[1],
                     params=(("transport", "tcp"),))
    rung: list[bytes] = []

    async def phone_side(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            rung.append(data)
        writer.close()

    server = await asyncio.start_server(phone_side, sock=listener)
    try:
        async with demo_node(tmp_path) as node, \
                RawSipClient("127.0.0.1", node.telephony.sip_port, transport="TCP") as phone:
            registered = await phone.authenticated("REGISTER", "1002", "pw1002",
                                                   contact=contact)
            assert registered.status == 200
            await until(lambda: ready(node, "1002"), "1002 ready after registering")
            await asyncio.sleep(1.5)  # the bindings are written once a second
        async with demo_node(tmp_path) as restarted:  # the phone's connection is gone
            await until(lambda: ready(restarted, "1002"), "1002 ready after the restart")
            await call_1002(restarted, lambda: any(b"INVITE sip:1002@" in data
                                                   for data in rung),
                            "the call to 1002 ringing the phone at its Contact, over TCP")
    finally:
        server.close()
