"""The RTP relay on real loopback sockets: forwarding, latching, continuity, inactivity."""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import time

import pytest

from parley.clock import MonotonicClock, VirtualClock
from parley.media.rtp import RtpPacket
from parley.net.relay import MediaRelay
from parley.net.rtp_ports import PortPoolExhausted, RtpPortPool
from parley.testing.ports import free_port_block


def _phone() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def _receive(sock: socket.socket, count: int) -> list[RtpPacket]:
    packets: list[RtpPacket] = []
    for _ in range(100):
        while True:
            try:
                packets.append(RtpPacket.parse(sock.recv(2048)))
            except BlockingIOError:
                break
        if len(packets) >= count:
            return packets
        await asyncio.sleep(0.01)
    return packets


def _packet(seq: int, ts: int, ssrc: int) -> bytes:
    return bytes(RtpPacket(0, seq, ts, ssrc, payload=bytes([seq & 0xFF]) * 160))


@pytest.fixture
def relay() -> MediaRelay:
    first = free_port_block(16)
    return MediaRelay(RtpPortPool("127.0.0.1", first, first + 15), MonotonicClock())


async def test_bridged_endpoints_forward_both_ways_and_latch(relay: MediaRelay) -> None:
    alice, bob = _phone(), _phone()
    a_side, b_side = relay.open("a"), relay.open("b")
    try:
        # SDP says port 9 for Bob; his packets come from his real socket, so the relay latches.
        b_side.set_remote("127.0.0.1", 9)
        a_side.set_remote(*alice.getsockname())
        relay.bridge(a_side, b_side)
        bob.sendto(_packet(1, 160, 0xB0B), ("127.0.0.1", b_side.port))
        assert [p.sequence for p in await _receive(alice, 1)] == [1]
        assert b_side.remote == bob.getsockname()
        for seq in range(2, 12):
            alice.sendto(_packet(seq, seq * 160, 0xA11CE), ("127.0.0.1", a_side.port))
        received = await _receive(bob, 10)
        assert [p.sequence for p in received] == list(range(2, 12))
        assert {p.ssrc for p in received} == {0xA11CE}  # untouched: no source change yet
    finally:
        a_side.close()
        b_side.close()
        alice.close()
        bob.close()
    assert relay.endpoints == 0


async def test_a_backlog_after_a_stalled_loop_is_forwarded_whole_and_in_order(
        relay: MediaRelay) -> None:
    """The relay reads one packet per wake-up while it keeps up; after a stall (the loop
    busy for longer than a packet interval) it drains each socket, losing nothing."""
    alice, bob = _phone(), _phone()
    a_side, b_side = relay.open("a"), relay.open("b")
    try:
        relay.bridge(a_side, b_side)
        b_side.set_remote(*bob.getsockname())
        alice.sendto(_packet(1, 160, 7), ("127.0.0.1", a_side.port))
        assert [p.sequence for p in await _receive(bob, 1)] == [1]
        for seq in range(2, 42):  # 40 packets pile up while the loop is busy
            alice.sendto(_packet(seq, seq * 160, 7), ("127.0.0.1", a_side.port))
        time.sleep(0.05)  # noqa: ASYNC251 - the stall is the point
        received = await _receive(bob, 40)
        assert [p.sequence for p in received] == list(range(2, 42))
        assert a_side.received_packets == 41
        assert a_side.lost == 0
    finally:
        a_side.close()
        b_side.close()
        alice.close()
        bob.close()


async def test_new_source_continues_the_stream_the_phone_hears(relay: MediaRelay) -> None:
    listener, first, second = _phone(), _phone(), _phone()
    out, in1, in2 = relay.open("listener"), relay.open("first"), relay.open("second")
    try:
        out.set_remote(*listener.getsockname())
        relay.bridge(in1, out)
        for seq in range(100, 105):
            first.sendto(_packet(seq, seq * 160, 1111), ("127.0.0.1", in1.port))
        before = await _receive(listener, 5)
        relay.bridge(in2, out)  # re-bridge: the listener now hears another phone
        for seq in range(7000, 7005):
            second.sendto(_packet(seq, 50_000 + seq * 160, 2222), ("127.0.0.1", in2.port))
        after = await _receive(listener, 5)
    finally:
        for endpoint in (out, in1, in2):
            endpoint.close()
        for sock in (listener, first, second):
            sock.close()
    assert {p.ssrc for p in before + after} == {1111}
    sequences = [p.sequence for p in before + after]
    assert sequences == list(range(100, 110))
    timestamps = [p.timestamp for p in before + after]
    assert all(b - a == 160 for a, b in itertools.pairwise(timestamps))
    assert [p.payload[0] for p in after] == [seq & 0xFF for seq in range(7000, 7005)]


async def test_hub_takes_over_a_relayed_phone_and_hands_it_back(relay: MediaRelay) -> None:
    """While the hub sends (hub_sends) the relay forwards nothing to that phone, the hub
    continues the phone's stream, and the relay continues the hub's afterwards; the tap sees
    every packet the phone sends meanwhile."""
    listener, talker = _phone(), _phone()
    out, inp = relay.open("listener"), relay.open("talker")
    tapped: list[bytes] = []
    try:
        out.set_remote(*listener.getsockname())
        relay.bridge(inp, out)
        inp.tap = tapped.append
        for seq in range(10, 13):
            talker.sendto(_packet(seq, seq * 160, 77), ("127.0.0.1", inp.port))
        relayed = await _receive(listener, 3)
        out.hub_sends = True
        continued = out.continuation()
        assert continued == (77, 13, 12 * 160 + 160)
        ssrc, seq, ts = continued
        for step in range(2):
            out.send_packet(_packet(seq + step, ts + 160 * step, ssrc))
        for seq_in in range(13, 16):  # the relay must not forward these meanwhile
            talker.sendto(_packet(seq_in, seq_in * 160, 77), ("127.0.0.1", inp.port))
        from_hub = await _receive(listener, 2)
        out.on_hold = True  # held (a=sendonly): the relay stops, hold music from the hub goes on
        out.send_packet(_packet(seq + 2, ts + 320, ssrc))
        from_hub += await _receive(listener, 1)
        out.on_hold = False
        await asyncio.sleep(0.05)
        out.hub_sends = False
        talker.sendto(_packet(16, 16 * 160, 77), ("127.0.0.1", inp.port))
        after = await _receive(listener, 1)
        assert len(tapped) == 7
    finally:
        for endpoint in (out, inp):
            endpoint.close()
        for sock in (listener, talker):
            sock.close()
    heard = relayed + from_hub + after
    assert [p.sequence for p in heard] == list(range(10, 17))
    assert {p.ssrc for p in heard} == {77}
    assert all(b.timestamp - a.timestamp == 160 for a, b in itertools.pairwise(heard))


async def test_packets_and_losses_are_counted_across_wraps_restarts_and_closes(
        relay: MediaRelay) -> None:
    alice, bob = _phone(), _phone()
    a_side, b_side = relay.open("a"), relay.open("b")
    try:
        a_side.set_remote(*alice.getsockname())
        b_side.set_remote(*bob.getsockname())
        relay.bridge(a_side, b_side)
        # a stray packet first, then 65530..65539 across the wrap without 65533 and 2,
        # 65535 late: two lost
        order = [7, 65530, 65531, 65532, 65534, 0, 65535, 1, 3]
        # then a new stream far away in sequence space: the jump is no loss, a gap inside is
        order += [40000, 40001, 40003]
        for seq in order:
            alice.sendto(_packet(seq & 0xFFFF, seq * 160, 0xA11CE), ("127.0.0.1", a_side.port))
            await asyncio.sleep(0.002)  # keep the order on the wire
        assert len(await _receive(bob, len(order))) == len(order)
        assert relay.packet_totals() == (len(order), len(order), 3)
        assert a_side.lost == 3
        alice.sendto(_packet(40001, 0, 0xA11CE), ("127.0.0.1", a_side.port))  # a duplicate
        await _receive(bob, 1)
        assert a_side.lost == 2  # as RFC 3550 counts: duplicates offset losses
        assert b_side.lost == 0
    finally:
        a_side.close()
        b_side.close()
        alice.close()
        bob.close()
    assert relay.packet_totals() == (len(order) + 1, len(order) + 1, 2)  # closed ones count


async def test_silent_endpoint_times_out_once() -> None:
    clock = VirtualClock()
    first = free_port_block(4)
    relay = MediaRelay(RtpPortPool("127.0.0.1", first, first + 3), clock, timeout=30)
    dead: list[str] = []
    endpoint = relay.open("quiet", on_timeout=lambda e: dead.append(e.label))
    try:
        clock.advance(29)
        assert relay.sweep() == []
        clock.advance(2)
        assert [e.label for e in relay.sweep()] == ["quiet"]
        clock.advance(60)
        assert relay.sweep() == []
        assert dead == ["quiet"]
    finally:
        endpoint.close()


async def test_many_calls_silent_at_once_end_among_the_other_work() -> None:
    """A takeover's carried calls whose phones hung up in the gap fall silent together: the
    sweep ends them one by one, other work (a lease renewal) running in between, never all
    in one stretch of the loop."""
    first = free_port_block(24)
    relay = MediaRelay(RtpPortPool("127.0.0.1", first, first + 23), MonotonicClock(),
                       timeout=0.05)
    happened: list[str] = []
    endpoints = [relay.open(f"leg {n}", on_timeout=lambda e: happened.append(e.label))
                 for n in range(12)]

    async def other_work() -> None:
        while True:
            happened.append("other")
            await asyncio.sleep(0)

    sweeping = asyncio.create_task(relay.run(interval=0.1))
    working = asyncio.create_task(other_work())
    try:
        deadline = time.monotonic() + 5
        while sum(label.startswith("leg") for label in happened) < 12:
            assert time.monotonic() < deadline, happened
            await asyncio.sleep(0.01)
    finally:
        sweeping.cancel()
        working.cancel()
        await asyncio.gather(sweeping, working, return_exceptions=True)
        for endpoint in endpoints:
            endpoint.close()
    ends = [n for n, label in enumerate(happened) if label.startswith("leg")]
    assert sorted(happened[n] for n in ends) == sorted(f"leg {n}" for n in range(12))
    assert all("other" in happened[a:b] for a, b in itertools.pairwise(ends))


def test_pool_hands_out_even_ports_and_runs_out() -> None:
    first = free_port_block(4)
    pool = RtpPortPool("127.0.0.1", first, first + 3)
    pairs = [pool.allocate(), pool.allocate()]
    try:
        ports = [rtp.getsockname()[1] for rtp, _ in pairs]
        assert all(port % 2 == 0 for port in ports)
        assert [rtcp.getsockname()[1] for _, rtcp in pairs] == [p + 1 for p in ports]
        with pytest.raises(PortPoolExhausted, match="widen --rtp-ports"):
            pool.allocate()
    finally:
        for rtp, rtcp in pairs:
            rtp.close()
            rtcp.close()


def test_rtp_header_layout_is_what_the_relay_rewrites() -> None:
    data = _packet(0xFFFF, 0xFFFFFFFF, 7)
    assert struct.unpack_from("!HII", data, 2) == (0xFFFF, 0xFFFFFFFF, 7)
