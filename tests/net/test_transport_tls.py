"""SIP over TLS toward a carrier: the certificate and the carrier's name are verified, the
carrier's own requests come back over the same connection, and a certificate that does not
verify is reported to the sender at once, with the reason."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from parley.net.certificates import ensure_certificate
from parley.net.transport import Peer, SipMessage, SipTransport, TlsClient, client_tls_context
from parley.sip.message import SipRequest, StreamFramer, parse_message
from parley.testing.tls import make_pki

OPTIONS = (b"OPTIONS sip:carrier@127.0.0.1;transport=tls SIP/2.0\r\n"
           b"Via: SIP/2.0/TLS 127.0.0.1:5060;branch=z9hG4bK-tls1;rport\r\n"
           b"From: <sip:parley@127.0.0.1>;tag=1\r\nTo: <sip:carrier@127.0.0.1>\r\n"
           b"Call-ID: tls-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
# The carrier's own request, sent back over the connection Parley opened.
NOTIFY = OPTIONS.replace(b"OPTIONS sip:carrier", b"NOTIFY sip:parley") \
    .replace(b"tls1", b"tls2").replace(b"1 OPTIONS", b"1 NOTIFY")


@asynccontextmanager
async def tls_server(cert: Path, key: Path,
                     on_data: Callable[[bytes, asyncio.StreamWriter], None]
                     ) -> AsyncIterator[int]:
    """A TLS server on 127.0.0.1 (Python's ssl over a real socket) presenting ``cert``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                on_data(data, writer)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()


async def test_messages_go_both_ways_over_one_verified_tls_connection(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki", ["carrier.test", "127.0.0.1"])
    heard: asyncio.Queue[SipMessage] = asyncio.Queue()
    from_carrier: asyncio.Queue[tuple[SipMessage, Peer]] = asyncio.Queue()
    framer = StreamFramer()

    def carrier(data: bytes, writer: asyncio.StreamWriter) -> None:
        for item in framer.feed(data):
            if isinstance(item, bytes):
                heard.put_nowait(parse_message(item))
                writer.write(NOTIFY)

    transport = SipTransport("127.0.0.1", 0, lambda m, p: from_carrier.put_nowait((m, p)))
    await transport.start()
    try:
        async with tls_server(pki.cert_file, pki.key_file, carrier) as port:
            peer = Peer("TLS", "127.0.0.1", port)
            transport.tls_clients[("127.0.0.1", port)] = TlsClient(
                client_tls_context(str(pki.ca_file)), "127.0.0.1")
            errors: list[str] = []
            request = parse_message(OPTIONS)
            transport.send(request, peer, errors.append)
            transport.send(request, peer, errors.append)  # queued behind the handshake
            first = await asyncio.wait_for(heard.get(), 5)
            assert isinstance(first, SipRequest)
            assert first.method == "OPTIONS"
            message, source = await asyncio.wait_for(from_carrier.get(), 5)
            assert isinstance(message, SipRequest)
            assert message.method == "NOTIFY"
            assert source == peer  # answered over the same connection
            await asyncio.wait_for(heard.get(), 5)
            assert errors == []
            assert peer not in transport.connect_errors
    finally:
        await transport.close()


@pytest.mark.parametrize("case", ["untrusted", "wrong name"])
async def test_a_certificate_that_does_not_verify_is_reported_at_once(
        tmp_path: Path, case: str) -> None:
    if case == "untrusted":  # a self-signed certificate nobody vouches for
        ours = make_pki(tmp_path / "ours", ["127.0.0.1"])
        trial = ensure_certificate(tmp_path / "self", ["127.0.0.1"])
        cert, key = trial.certificate, trial.private_key
    else:  # signed by the CA we trust, but for another name than the one we connect to
        ours = make_pki(tmp_path / "ours", ["carrier.test"])
        cert, key = ours.cert_file, ours.key_file
    transport = SipTransport("127.0.0.1", 0, lambda m, p: None)
    await transport.start()
    try:
        async with tls_server(cert, key, lambda d, w: None) as port:
            peer = Peer("TLS", "127.0.0.1", port)
            transport.tls_clients[("127.0.0.1", port)] = TlsClient(
                client_tls_context(str(ours.ca_file)), "127.0.0.1")
            failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            transport.send(parse_message(OPTIONS), peer, failed.set_result)
            reason = await asyncio.wait_for(failed, 5)  # not after timer F's 32 s
            assert reason.startswith("TLS: certificate verify failed ("), reason
            assert transport.connect_errors[peer] == reason
    finally:
        await transport.close()


async def test_a_refused_connection_is_reported_with_its_reason() -> None:
    transport = SipTransport("127.0.0.1", 0, lambda m, p: None)
    await transport.start()
    try:
        peer = Peer("TCP", "127.0.0.1", _closed_port())
        failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        transport.send(parse_message(OPTIONS.replace(b"TLS", b"TCP")), peer, failed.set_result)
        assert (await asyncio.wait_for(failed, 5)).startswith("connect failed")
    finally:
        await transport.close()


def _closed_port() -> int:
    """A port nothing listens on (bound for a moment, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
