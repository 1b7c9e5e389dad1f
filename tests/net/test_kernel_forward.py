"""Kernel forwarding (``media.kernel_forwarding``): a bridge handed to nftables and back, with
real UDP peers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from collections.abc import AsyncIterator
from typing import NamedTuple

from parley.clock import MonotonicClock
from parley.media.rtp import RtpPacket
from parley.net.kernel_forward import KernelForwarder, table_name
from parley.net.relay import MediaEndpoint, MediaRelay
from parley.net.rtp_ports import RtpPortPool
from parley.testing.media import numbered_packet, received_rtp, udp_phone
from parley.testing.needs import NFTABLES, needs
from parley.testing.ports import free_port_block

pytestmark = needs(NFTABLES)


def _tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                          check=True).stdout


async def test_a_bridge_goes_to_the_kernel_and_back_to_python_losing_nothing() -> None:
    first = free_port_block(8)
    stale = KernelForwarder(table_name(first))
    stale.start()  # a crashed run's table: replaced at start
    relay = MediaRelay(RtpPortPool("127.0.0.1", first, first + 7), MonotonicClock(),
                       kernel_forwarding=True)
    relay.start_kernel()
    kernel = relay.kernel
    assert kernel is not None
    alice, bob = udp_phone(), udp_phone()
    a_side, b_side = relay.open("a"), relay.open("b")
    try:
        a_side.set_remote(*alice.getsockname())  # SDP; latched from the phones' packets
        b_side.set_remote(*bob.getsockname())
        relay.bridge(a_side, b_side)
        # the relay forwards the first packets itself (latching, the streams' sources)
        for seq in (1, 2):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
            bob.sendto(numbered_packet(seq, 0xB), ("127.0.0.1", b_side.port))
        assert len(await received_rtp(bob, 2)) == 2
        assert len(await received_rtp(alice, 2)) == 2
        relay.poll_kernel()
        assert (a_side.kernel_forwarded, b_side.kernel_forwarded) == (True, True)
        assert kernel.elements() == 2

        # now the kernel: the relay's sockets see none of it, the phones get all of it,
        # each from the relay's endpoint facing it
        for seq in range(3, 23):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
            bob.sendto(numbered_packet(seq, 0xB), ("127.0.0.1", b_side.port))
        to_bob, to_alice = await received_rtp(bob, 20), await received_rtp(alice, 20)
        assert [p.sequence for p, _ in to_bob] == list(range(3, 23))
        assert [p.sequence for p, _ in to_alice] == list(range(3, 23))
        assert {address for _, address in to_bob} == {("127.0.0.1", b_side.port)}
        assert {address for _, address in to_alice} == {("127.0.0.1", a_side.port)}
        assert to_bob[0][0].payload == bytes([3]) * 160  # untouched on the way
        assert (a_side.received_packets, b_side.received_packets) == (2, 2)
        relay.poll_kernel()  # the kernel's counters: inactivity and /metrics stay true
        assert (a_side.received_packets, b_side.received_packets) == (22, 22)
        assert relay.packet_totals() == (44, 44, 0)

        # recording starts mid-stream: the relay takes the bridge back at once
        for seq in range(23, 28):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
        tapped: list[int] = []
        a_side.tap = lambda data: tapped.append(RtpPacket.parse(data).sequence)
        assert (a_side.kernel_forwarded, b_side.kernel_forwarded) == (False, False)
        assert kernel.elements() == 0
        for seq in range(28, 33):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
            bob.sendto(numbered_packet(seq - 5, 0xB), ("127.0.0.1", b_side.port))
        to_bob, to_alice = await received_rtp(bob, 10), await received_rtp(alice, 5)
        assert [p.sequence for p, _ in to_bob] == list(range(23, 33))  # none lost or twice
        assert [p.sequence for p, _ in to_alice] == list(range(23, 28))
        assert {address for _, address in to_bob} == {("127.0.0.1", b_side.port)}
        assert tapped == list(range(28, 33))
        assert relay.packet_totals() == (59, 59, 0)
        relay.poll_kernel()  # a recorded bridge stays with the relay
        assert not a_side.kernel_forwarded
    finally:
        a_side.close()
        b_side.close()
        alice.close()
        bob.close()
        assert kernel.elements() == 0
        relay.stop_kernel()
        stale.stop()
    assert f"table ip {table_name(first)}\n" not in _tables()


class _Call(NamedTuple):
    relay: MediaRelay
    alice: socket.socket
    bob: socket.socket
    a_side: MediaEndpoint
    b_side: MediaEndpoint


@contextlib.asynccontextmanager
async def _call(*, new_streams: bool = False, prompt_to_bob: bool = False
                ) -> AsyncIterator[_Call]:
    """Alice and Bob bridged through a kernel-forwarding relay, their first two packets
    each way relayed by it (latching, the streams' sources), not yet handed over; with
    ``prompt_to_bob`` the hub's prompt (sequence 500, SSRC 0x99) reached Bob first."""
    first = free_port_block(8)
    relay = MediaRelay(RtpPortPool("127.0.0.1", first, first + 7), MonotonicClock(),
                       kernel_forwarding=True, kernel_new_streams=new_streams)
    relay.start_kernel()
    alice, bob = udp_phone(), udp_phone()
    a_side, b_side = relay.open("a"), relay.open("b")
    try:
        a_side.set_remote(*alice.getsockname())
        b_side.set_remote(*bob.getsockname())
        if prompt_to_bob:
            b_side.send_packet(numbered_packet(500, 0x99))
        relay.bridge(a_side, b_side)
        for seq in (1, 2):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
            bob.sendto(numbered_packet(seq, 0xB), ("127.0.0.1", b_side.port))
        heard = [(500, 0x99), (501, 0x99), (502, 0x99)] if prompt_to_bob else [(1, 0xA), (2, 0xA)]
        to_bob = [p for p, _ in await received_rtp(bob, len(heard))]
        assert [(p.sequence, p.ssrc) for p in to_bob] == heard  # a prompt's stream goes on
        assert len(await received_rtp(alice, 2)) == 2
        yield _Call(relay, alice, bob, a_side, b_side)
    finally:
        a_side.close()
        b_side.close()
        alice.close()
        bob.close()
        relay.stop_kernel()


async def test_a_stream_that_needs_rewriting_stays_with_the_relay() -> None:
    """Bob heard a prompt first: Alice's voice must continue that stream (rewritten), so
    only Bob's direction goes to the kernel."""
    async with _call(prompt_to_bob=True) as (relay, alice, bob, a_side, b_side):
        relay.poll_kernel()
        assert (a_side.kernel_forwarded, b_side.kernel_forwarded) == (False, True)
        for seq in range(3, 8):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
            bob.sendto(numbered_packet(seq, 0xB), ("127.0.0.1", b_side.port))
        to_bob = [p for p, _ in await received_rtp(bob, 5)]
        assert [(p.sequence, p.ssrc) for p in to_bob] == [(503 + n, 0x99) for n in range(5)]
        assert [p.sequence for p, _ in await received_rtp(alice, 5)] == list(range(3, 8))
        assert b_side.received_packets == 2  # the kernel's, until the next poll


async def test_with_new_streams_a_rewritten_stream_goes_to_the_kernel_as_sent() -> None:
    """``media.kernel_new_streams``: Bob heard a prompt, then Alice's voice (rewritten to
    continue it) goes to the kernel too: Bob gets Alice's own stream from then on, and what
    the hub plays after the kernel gives the bridge back continues that stream."""
    async with _call(new_streams=True, prompt_to_bob=True) as (relay, alice, bob, a_side,
                                                                b_side):
        relay.poll_kernel()
        assert (a_side.kernel_forwarded, b_side.kernel_forwarded) == (True, True)
        for seq in range(3, 8):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
        to_bob = [p for p, _ in await received_rtp(bob, 5)]
        assert [(p.sequence, p.timestamp, p.ssrc) for p in to_bob] == [
            (seq, seq * 160, 0xA) for seq in range(3, 8)]  # Alice's stream, as she sent it
        assert a_side.received_packets == 2  # the kernel forwarded the rest

        # hold music for Bob: the bridge comes back first, and the hub goes on from the
        # last packet the kernel passed him (Alice's SSRC, sequence 8, its timestamp)
        assert b_side.continuation() == (0xA, 8, 8 * 160)
        assert (a_side.kernel_forwarded, b_side.kernel_forwarded) == (False, False)
        b_side.hub_sends = True
        b_side.send_packet(numbered_packet(8, 0xA))
        b_side.hub_sends = False
        alice.sendto(numbered_packet(8, 0xA), ("127.0.0.1", a_side.port))
        to_bob = [p for p, _ in await received_rtp(bob, 2)]
        assert [(p.sequence, p.ssrc) for p in to_bob] == [(8, 0xA), (9, 0xA)]


async def test_a_bridge_ending_in_the_kernel_leaves_the_other_stream_to_go_on_ahead() -> None:
    """Alice hangs up while the kernel forwards her voice to Bob: the removal does not read
    the last counts (that costs libnftables the whole map), so what Bob hears next (a
    prompt) continues past every packet the kernel may have passed him, never behind."""
    async with _call() as (relay, alice, bob, a_side, b_side):
        kernel = relay.kernel
        assert kernel is not None
        relay.poll_kernel()
        assert a_side.kernel_forwarded
        for seq in range(3, 23):  # a phone's pace, 20 ms a packet, none of it counted yet
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
            await asyncio.sleep(0.02)
        assert [p.sequence for p, _ in await received_rtp(bob, 20)] == list(range(3, 23))
        a_side.close()
        assert kernel.elements() == 0
        continuation = b_side.continuation()
        assert continuation is not None
        ssrc, sequence, timestamp = continuation
        assert ssrc == 0xA
        assert 23 <= sequence <= 23 + 60  # past the kernel's packets, a short gap at most
        assert timestamp == (sequence * 160) & 0xFFFFFFFF
