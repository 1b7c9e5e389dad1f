"""Symmetric response routing (RFC 3581) and one SIP listener for UDP and TCP."""

from __future__ import annotations

import asyncio

from parley.net.transport import Peer, SipMessage, SipTransport, stamp_received
from parley.sip.message import SipRequest, build_response, parse_message

REQUEST = (b"OPTIONS sip:parley@127.0.0.1 SIP/2.0\r\n"
           b"Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK-1;rport\r\n"
           b"From: <sip:a@b>;tag=1\r\nTo: <sip:parley@127.0.0.1>\r\nCall-ID: c1\r\n"
           b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


def test_received_and_rport_are_filled_in_from_the_source() -> None:
    request = parse_message(REQUEST)
    assert isinstance(request, SipRequest)
    stamped = stamp_received(request, Peer("UDP", "192.0.2.9", 40123))
    assert stamped.via.received == "192.0.2.9"
    assert stamped.via.rport == 40123
    assert stamped.via.response_address() == ("192.0.2.9", 40123)


async def test_udp_and_tcp_requests_are_answered_where_they_came_from() -> None:
    transport: SipTransport

    def answer(message: SipMessage, peer: Peer) -> None:
        assert isinstance(message, SipRequest)
        transport.send_response(build_response(message, 200), peer)

    transport = SipTransport("127.0.0.1", 0, answer)
    await transport.start()
    try:
        loop = asyncio.get_running_loop()
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                replies.put_nowait(data)

        udp, _ = await loop.create_datagram_endpoint(Client, local_addr=("127.0.0.1", 0))
        udp.sendto(REQUEST, ("127.0.0.1", transport.port))
        reply = parse_message(await asyncio.wait_for(replies.get(), 2))
        udp.close()
        assert getattr(reply, "status", None) == 200
        assert "received=127.0.0.1" in (reply.headers.get("Via") or "")

        reader, writer = await asyncio.open_connection("127.0.0.1", transport.port)
        writer.write(REQUEST.replace(b"UDP", b"TCP") * 2)  # two messages in one segment
        await writer.drain()
        data = b""
        while data.count(b"SIP/2.0 200") < 2:
            data += await asyncio.wait_for(reader.read(4096), 2)
        writer.close()
    finally:
        await transport.close()
