"""A browser's media leg carried over to another node (WebRtcEndpoint.carried_state and
carry_on): the node that takes over binds the same port and goes on with the same ICE
credentials and SRTP keys, from where each direction was, rollover counters included; the
browser (a stand-in doing ICE, DTLS and SRTP with libsrtp, as Chromium does) notices
nothing. Real UDP sockets on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from parley.clock import MonotonicClock
from parley.net.relay import MediaEndpoint, MediaRelay
from parley.net.rtp_ports import RtpPortPool
from parley.net.webrtc import WebRtcEndpoint
from parley.testing.ports import free_port_block
from parley.testing.webrtc import WebRtcPhone


def packet(seq: int, ssrc: int) -> bytes:
    header = bytes([0x80, 0]) + (seq & 0xFFFF).to_bytes(2, "big")
    return header + (seq * 160 & 0xFFFFFFFF).to_bytes(4, "big") + ssrc.to_bytes(4, "big") \
        + bytes([0xFF]) * 160


@contextlib.asynccontextmanager
async def relay(first: int) -> AsyncIterator[MediaRelay]:
    node = MediaRelay(RtpPortPool("127.0.0.1", first, first + 19), MonotonicClock())
    task = asyncio.create_task(node.run())
    try:
        yield node
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(what)


def phone_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket) -> list[bytes]:
    got = []
    with contextlib.suppress(BlockingIOError):
        while True:
            got.append(sock.recv(2048))
    return got


async def test_a_browser_leg_says_once_when_its_media_is_up() -> None:
    """A call with a browser can be carried over once the browser's DTLS is done, often a
    moment after the call is bridged: the leg says when (the node keeps the call then)."""
    phone = WebRtcPhone().open()
    try:
        async with relay(free_port_block(20)) as node:
            browser = node.open_webrtc("browser")
            up: list[WebRtcEndpoint] = []
            browser.on_connected = up.append
            browser.configure(phone.ufrag, phone.pwd,
                              (("sha-256", phone.certificate.fingerprint),), "server")
            assert not browser.carriable
            assert browser.carried_state() is None
            phone.target(("127.0.0.1", browser.port), browser.ice.local_ufrag,
                         browser.ice.local_pwd, node.certificate.fingerprint)
            await phone.connect()
            await until(lambda: bool(up), "told that the browser's media is up")
            assert up == [browser]
            assert browser.carriable
            phone._check(use_candidate=True)  # consent checks go on: said once only
            await asyncio.sleep(0.1)
            assert up == [browser]
            browser.close()
    finally:
        await phone.close()


@pytest.mark.parametrize("start", [65_480, 1_000])
async def test_a_browser_leg_goes_on_on_another_node_both_ways(start: int) -> None:
    """``start``: the sequence numbers both sides begin at; from 65,480 each direction has
    wrapped (SRTP's rollover counter is 1) before the takeover."""
    first = free_port_block(20)
    phone = WebRtcPhone().open()
    other = phone_socket()  # the other party of the call, plain RTP
    try:
        async with relay(first) as node_a:
            browser = node_a.open_webrtc("browser")
            browser.configure(phone.ufrag, phone.pwd,
                              (("sha-256", phone.certificate.fingerprint),), "server")
            plain = node_a.open("other")
            plain.set_remote(*other.getsockname())
            node_a.bridge(browser, plain)
            phone.target(("127.0.0.1", browser.port), browser.ice.local_ufrag,
                         browser.ice.local_pwd, node_a.certificate.fingerprint)
            await phone.connect()
            for seq in range(start, start + 100):  # both ways, across 65535 from 65,480
                phone.send_rtp(packet(seq, 0xB0B))
                other.sendto(packet(seq, 0xCA11), ("127.0.0.1", plain.port))
                await asyncio.sleep(0.002)
            await until(lambda: len(phone.received) >= 95, "the browser hears the other")
            assert len(drain(other)) >= 95
            kept = json.loads(json.dumps({"browser": browser.carried_state(),
                                          "port": browser.port, "plain": plain.port}))
            # packets sent after the state was written, that the new node skips over
            for seq in range(start + 100, start + 120):
                phone.send_rtp(packet(seq, 0xB0B))
            other.sendto(packet(start + 100, 0xCA11), ("127.0.0.1", plain.port))
            await asyncio.sleep(0.05)
            heard_before = len(phone.received)
            drain(other)
            MediaEndpoint.close(browser)  # the node dies: no DTLS goodbye
            plain.close()

        async with relay(first) as node_b:  # the same ports, another process's relay
            assert kept["browser"] is not None
            carried = node_b.open_webrtc_at(int(kept["port"]))
            carried.carry_on(kept["browser"], elapsed_s=0.2)
            plain_b = node_b.open_at(int(kept["plain"]))
            plain_b.set_remote(*other.getsockname())
            node_b.bridge(carried, plain_b)
            assert isinstance(carried, WebRtcEndpoint)
            checks = phone.stun_successes
            for seq in range(start + 120, start + 170):
                phone.send_rtp(packet(seq, 0xB0B))
                other.sendto(packet(seq, 0xCA11), ("127.0.0.1", plain_b.port))
                await asyncio.sleep(0.002)
            await until(lambda: len(phone.received) - heard_before >= 45,
                        "the browser hears the other through the new node")
            assert phone.srtp_errors == 0
            from_browser = drain(other)
            assert len(from_browser) >= 45, carried.srtp_errors  # decrypted by the new node
            assert carried.srtp_errors == 0
            assert {p[8:12] for p in from_browser} == {(0xB0B).to_bytes(4, "big")}
            # what the browser heard goes on as one stream, ahead of what it heard before
            sequences = [int.from_bytes(p[2:4], "big") for p in phone.received]
            assert len({p[8:12] for p in phone.received}) == 1
            assert 0 < (sequences[heard_before] - sequences[heard_before - 1]) & 0xFFFF < 0x4000
            phone._check(use_candidate=False)  # its consent check answered as before
            await until(lambda: phone.stun_successes > checks, "consent answered")
            carried.close()
            plain_b.close()
    finally:
        await phone.close()
        other.close()
