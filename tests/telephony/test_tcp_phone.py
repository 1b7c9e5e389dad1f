"""A phone registered over TCP is called over its connection while it lasts, and at the
address its Contact names once that connection is gone (it closed, or it was opened to the
other node of a hot-standby cluster before a takeover): never at the connection's own
source port, where nothing listens. Real sockets on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from parley.sip.errors import SipParseError
from parley.sip.message import SipRequest, parse_message
from parley.sip.uri import SipUri
from parley.telephony.server import Telephony
from parley.testing.sipclient import RawSipClient


async def invite_over(reader: asyncio.StreamReader) -> SipRequest:
    """The first INVITE that comes over ``reader``'s connection."""
    data = b""
    async with asyncio.timeout(5):
        while True:
            data += await reader.read(65536)
            with contextlib.suppress(SipParseError):  # not all of it yet
                message = parse_message(data)
                assert isinstance(message, SipRequest)
                return message


async def test_a_phone_registered_over_tcp_is_called_at_its_contact_once_its_connection_is_gone(
        node: Telephony) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    listening = listener.getsockname()[1]
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = \
        asyncio.Queue()
    server = await asyncio.start_server(lambda r, w: accepted.put_nowait((r, w)),
                                        sock=listener)
    phone = await RawSipClient("127.0.0.1", node.sip_port, transport="TCP").open()
    try:
        contact = SipUri(user="1001", host="127.0.0.1", port=listening,
                         params=(("transport", "tcp"),))
        answer = await phone.authenticated("REGISTER", "1001", "pw1001", contact=contact)
        assert answer.status == 200, answer

        # while its connection is open, the call comes over it
        node.originate("1001", caller_id="2001", timeout=5)
        async with asyncio.timeout(5):
            while not any(raw.startswith(b"INVITE ") for raw in phone.raw):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert accepted.empty()

        await phone.close()  # the connection goes (as with the node that had it)
        async with asyncio.timeout(5):
            while node.transport.connected("127.0.0.1", phone.local_port):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        channel = node.originate("1001", caller_id="2002", timeout=5)
        async with asyncio.timeout(5):
            reader, writer = await accepted.get()
        invite = await invite_over(reader)
        assert invite.method == "INVITE"
        assert "2002" in str(invite.header("From"))
        channel.hangup()
        writer.close()
        await writer.wait_closed()
    finally:
        await phone.close()
        server.close()
