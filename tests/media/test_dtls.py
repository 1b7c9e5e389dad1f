"""DTLS-SRTP as a pure object: both roles, fingerprints, profiles, retransmission on the
injected clock."""

from __future__ import annotations

import pytest

from parley.media.dtls import DtlsCertificate, DtlsError, DtlsSrtp, fingerprint_of, is_dtls
from parley.media.rtp import RtpPacket


@pytest.fixture(scope="module")
def certificates() -> tuple[DtlsCertificate, DtlsCertificate]:
    return DtlsCertificate.generate(), DtlsCertificate.generate()


def pair(certificates: tuple[DtlsCertificate, DtlsCertificate], *,
         client_sees: str | None = None) -> tuple[DtlsSrtp, DtlsSrtp]:
    ours, theirs = certificates
    client = DtlsSrtp(ours, "client", (("sha-256", client_sees or theirs.fingerprint),))
    server = DtlsSrtp(theirs, "server", (("sha-256", ours.fingerprint),))
    return client, server


def run(client: DtlsSrtp, server: DtlsSrtp, *, lose: str = "") -> None:
    """Exchange flights until both are connected; ``lose`` drops the first flight of the
    "client" or the "server", whose own timer (on the injected clock) must send it again."""
    to_server = client.start(0.0)
    if lose == "client":
        assert client.poll(0.5) == []  # not due yet
        to_server = client.poll(1.5)  # one second later: the ClientHello again
        assert to_server
    for step in range(10):
        to_client: list[bytes] = []
        for datagram in to_server:
            assert is_dtls(datagram)
            to_client += server.receive(datagram, step * 0.1)
        if lose == "server" and step == 0:
            assert server.poll(0.5) == []
            to_client = server.poll(1.5)
            assert to_client
        to_server = []
        for datagram in to_client:
            to_server += client.receive(datagram, step * 0.1)
        if client.connected and server.connected:
            return


def test_handshake_both_roles_then_srtp_both_ways(
        certificates: tuple[DtlsCertificate, DtlsCertificate]) -> None:
    client, server = pair(certificates)
    run(client, server)
    assert client.connected
    assert server.connected
    assert client.profile == server.profile == "SRTP_AEAD_AES_128_GCM"
    packet = bytes(RtpPacket(0, 1, 160, 0x1234, payload=b"\xff" * 160))
    protected = client.protect(packet)
    assert protected != packet
    assert server.unprotect(protected) == packet
    assert client.unprotect(server.protect(packet)) == packet
    report = bytes([0x80, 201, 0, 1]) + (0x1234).to_bytes(4, "big")
    assert server.unprotect_rtcp(client.protect_rtcp(report)) == report


@pytest.mark.parametrize("lost", ["client", "server"])
def test_a_lost_flight_is_sent_again_on_the_injected_clock(
        certificates: tuple[DtlsCertificate, DtlsCertificate], lost: str) -> None:
    client, server = pair(certificates)
    run(client, server, lose=lost)
    assert client.connected
    assert server.connected


def test_a_certificate_not_matching_the_sdp_fingerprint_fails(
        certificates: tuple[DtlsCertificate, DtlsCertificate]) -> None:
    client, server = pair(certificates, client_sees="00:" * 31 + "00")
    run(client, server)
    assert not client.connected
    assert client.failed is not None
    assert "a=fingerprint" in client.failed
    with pytest.raises(DtlsError):
        client.protect(b"\x80" + bytes(171))


def test_no_answer_fails_after_the_handshake_timeout(
        certificates: tuple[DtlsCertificate, DtlsCertificate]) -> None:
    client, _server = pair(certificates)
    client.start(0.0)
    now = 0.0
    sent = 0
    while client.failed is None and now < 60:
        now += 0.5
        sent += len(client.poll(now))
    assert client.failed is not None
    assert "not done" in client.failed
    assert 3 <= sent <= 8  # backed off: 1, 2, 4, 8, 8… seconds


def test_fingerprint_format_matches_sdp() -> None:
    text = fingerprint_of(b"abc")
    assert len(text.split(":")) == 32
    assert text == text.upper()


def test_packet_functions_agree_with_the_sessions_and_drop_what_srtp_refuses(
        certificates: tuple[DtlsCertificate, DtlsCertificate]) -> None:
    client, server = pair(certificates)
    run(client, server)
    protect, _ = client.packet_functions()
    _, unprotect = server.packet_functions()
    packet = bytes(RtpPacket(0, 7, 1120, 0x77, payload=b"\x55" * 160))
    protected = protect(packet)
    assert unprotect(protected) == packet
    assert unprotect(protected) == b""  # the same packet again: a replay
    tampered = bytearray(protect(bytes(RtpPacket(0, 8, 1280, 0x77, payload=b"\x55" * 160))))
    tampered[20] ^= 0xFF
    assert unprotect(bytes(tampered)) == b""
    assert unprotect(b"\x80" * 2000) == b""  # longer than any datagram the relay reads
