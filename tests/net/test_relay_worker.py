"""Relay workers (``media.relay_workers``): bridged directions handed to a worker process and
back, with real UDP phones on loopback; a rewritten stream continues across both moves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.clock import MonotonicClock
from parley.config import MediaSettings
from parley.media.rtp import RtpPacket
from parley.net.relay import HAND_OVER_SOON_S, MediaEndpoint, MediaRelay
from parley.net.relay_worker import RelayWorker, StreamState
from parley.net.rtp_ports import RtpPortPool
from parley.testing.media import numbered_packet, received_rtp, udp_phone
from parley.testing.ports import free_port_block


def _relay() -> MediaRelay:
    first = free_port_block(8)
    relay = MediaRelay(RtpPortPool("127.0.0.1", first, first + 7), MonotonicClock(),
                       relay_workers=1)
    relay.start_workers()
    return relay


@contextlib.contextmanager
def _pair(relay: MediaRelay, labels: tuple[str, str] = ("a", "b")) -> Iterator[
        tuple[socket.socket, socket.socket, MediaEndpoint, MediaEndpoint]]:
    """Two phones, each with the relay's endpoint facing it (not bridged yet); all closed
    afterwards (a second close does nothing)."""
    one, two = udp_phone(), udp_phone()
    one_side, two_side = relay.open(labels[0]), relay.open(labels[1])
    try:
        one_side.set_remote(*one.getsockname())
        two_side.set_remote(*two.getsockname())
        yield one, two, one_side, two_side
    finally:
        one_side.close()
        two_side.close()
        one.close()
        two.close()


@contextlib.contextmanager
def _phones(relay: MediaRelay) -> Iterator[tuple[socket.socket, socket.socket,
                                                  MediaEndpoint, MediaEndpoint]]:
    """Alice and Bob (:func:`_pair`), and the relay's workers stopped afterwards."""
    try:
        with _pair(relay) as phones:
            yield phones
    finally:
        relay.stop_workers()


async def _heard_once(relay: MediaRelay, alice: socket.socket, bob: socket.socket,
                      a_side: MediaEndpoint, b_side: MediaEndpoint) -> None:
    """Alice and Bob bridged, and Alice's first packet passed on to Bob by the relay."""
    relay.bridge(a_side, b_side)
    alice.sendto(numbered_packet(1, 0xA), ("127.0.0.1", a_side.port))
    await received_rtp(bob, 1)


async def _handed_over(relay: MediaRelay, alice: socket.socket, bob: socket.socket,
                       a_side: MediaEndpoint, b_side: MediaEndpoint) -> None:
    """Alice and Bob bridged, Alice heard once, and her direction handed to the worker."""
    await _heard_once(relay, alice, bob, a_side, b_side)
    relay.poll_kernel()
    assert a_side.kernel_forwarded


async def _counts_read(relay: MediaRelay) -> None:
    """A poll of the relay asks the workers for their counts without waiting; the loop
    applies them as they come."""
    relay.poll_kernel()
    await asyncio.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_rewritten_stream_goes_to_the_worker_and_back_continuing() -> None:
    """Bob heard a prompt first, so Alice's voice is rewritten to continue that stream: the
    worker takes both directions, rewriting, and the stream Bob gets has no seam at either
    move; counts, losses and the stream's position come back with it."""
    relay = _relay()
    [worker] = relay.workers
    pid = worker.pid
    assert pid is not None
    assert _alive(pid)
    with _phones(relay) as (alice, bob, a_side, b_side):
        b_side.send_packet(numbered_packet(500, 0x99))  # the hub's prompt: Bob's stream is 0x99
        relay.bridge(a_side, b_side)
        for seq in (1, 2):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
            bob.sendto(numbered_packet(seq, 0xB), ("127.0.0.1", b_side.port))
        await received_rtp(alice, 2)
        first = await received_rtp(bob, 3)
        assert [(p.sequence, p.ssrc) for p, _ in first] == [(500, 0x99), (501, 0x99),
                                                           (502, 0x99)]
        relay.poll_kernel()
        assert (a_side.kernel_forwarded, b_side.kernel_forwarded) == (True, True)
        assert worker.ports == {a_side.port, b_side.port}
        assert relay.forwarded_directions == 2

        # the worker forwards, from the relay's endpoints, and rewrites Alice's voice;
        # seq 13 never comes (lost on Alice's side)
        for seq in [*range(3, 13), *range(14, 23)]:
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
            bob.sendto(numbered_packet(seq, 0xB), ("127.0.0.1", b_side.port))
        alice.sendto(numbered_packet(7, 0xA), ("127.0.0.1", b_side.port))  # not Bob: dropped
        to_bob, to_alice = await received_rtp(bob, 19), await received_rtp(alice, 19)
        assert [p.sequence for p, _ in to_bob] == [*range(503, 513), *range(514, 523)]
        assert {p.ssrc for p, _ in to_bob} == {0x99}
        assert [p.timestamp for p, _ in to_bob][:2] == [503 * 160, 504 * 160]
        assert [p.sequence for p, _ in to_alice] == [*range(3, 13), *range(14, 23)]
        assert {address for _, address in to_bob} == {("127.0.0.1", b_side.port)}
        assert {address for _, address in to_alice} == {("127.0.0.1", a_side.port)}
        assert to_bob[0][0].payload == bytes([3]) * 160
        assert (a_side.received_packets, b_side.received_packets) == (2, 2)  # not the relay
        await _counts_read(relay)  # the worker's counts: inactivity and /metrics stay true
        assert (a_side.received_packets, b_side.received_packets) == (21, 21)
        assert (a_side.lost, b_side.lost) == (1, 1)
        assert relay.packet_totals() == (42, 43, 2)

        # recording starts: the relay takes both directions back and continues the stream
        tapped: list[int] = []
        a_side.tap = lambda data: tapped.append(RtpPacket.parse(data).sequence)
        assert (a_side.kernel_forwarded, b_side.kernel_forwarded) == (False, False)
        assert worker.ports == set()
        for seq in range(23, 28):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
        to_bob = await received_rtp(bob, 5)
        assert [(p.sequence, p.ssrc) for p, _ in to_bob] == [(seq, 0x99)
                                                            for seq in range(523, 528)]
        assert tapped == list(range(23, 28))
        relay.poll_kernel()  # a recorded bridge stays with the relay
        assert not a_side.kernel_forwarded
    assert relay.workers == []
    for _ in range(100):
        if not _alive(pid):
            break
        await asyncio.sleep(0.05)
    assert not _alive(pid)  # the channel closed: the worker ended


async def test_a_dead_worker_gives_its_directions_back_to_the_relay() -> None:
    relay = _relay()
    [worker] = relay.workers
    with _phones(relay) as (alice, bob, a_side, b_side):
        await _handed_over(relay, alice, bob, a_side, b_side)
        assert worker.pid is not None
        os.kill(worker.pid, 9)
        await asyncio.sleep(0.2)
        relay.poll_kernel()  # its counts cannot be read: the relay forwards again
        assert not a_side.kernel_forwarded
        assert relay.workers == []
        for seq in range(2, 5):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
        assert [p.sequence for p, _ in await received_rtp(bob, 3)] == [2, 3, 4]


async def test_an_idle_worker_that_dies_is_taken_for_dead_at_once() -> None:
    """A worker with no directions is never asked for counts; its channel closing is what
    says it died. Before, the node's loop read that closed channel as "nothing" over and
    over (tens of thousands of times a second) and kept the dead worker."""
    relay = _relay()
    [worker] = relay.workers
    pid = worker.pid
    assert pid is not None
    try:
        os.kill(pid, signal.SIGKILL)
        for _ in range(50):  # no poll: the loop's reader of the channel notices
            if not relay.workers:
                break
            await asyncio.sleep(0.02)
        assert relay.workers == []
    finally:
        relay.stop_workers()


async def test_a_new_bridge_goes_to_the_worker_a_moment_after_its_first_packet() -> None:
    """No poll needed: a direction is handed over a moment after the relay first passed a
    packet on (what the relay forwards meanwhile is a few packets, not half a second's);
    the direction nobody spoke on yet stays with the relay."""
    relay = _relay()
    [worker] = relay.workers
    with _phones(relay) as (alice, bob, a_side, b_side):
        await _heard_once(relay, alice, bob, a_side, b_side)
        assert not a_side.kernel_forwarded
        await asyncio.sleep(HAND_OVER_SOON_S + 0.15)
        assert a_side.kernel_forwarded
        assert not b_side.kernel_forwarded
        assert worker.ports == {a_side.port}
        for seq in (2, 3):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
        assert [p.sequence for p, _ in await received_rtp(bob, 2)] == [2, 3]
        await _counts_read(relay)
        assert a_side.received_packets == 3


async def test_a_direction_goes_to_the_worker_once_its_tap_is_let_go() -> None:
    """A tapped direction (the hub decoding the caller) stays with the relay; once the tap
    is let go it goes to the worker a moment later, without waiting for a poll."""
    relay = _relay()
    tapped: list[bytes] = []
    with _phones(relay) as (alice, bob, a_side, b_side):
        a_side.tap = tapped.append
        await _heard_once(relay, alice, bob, a_side, b_side)
        await asyncio.sleep(HAND_OVER_SOON_S + 0.15)
        assert not a_side.kernel_forwarded
        assert len(tapped) == 1
        a_side.tap = None
        await asyncio.sleep(HAND_OVER_SOON_S + 0.15)
        assert a_side.kernel_forwarded


async def test_a_worker_asked_for_counts_takes_new_bridges_once_it_has_answered() -> None:
    """Counts are asked for without waiting, and a new direction must not meet their
    answer: while a worker's answer is outstanding (here it is stopped) a new bridge stays
    with the relay, and it goes over as soon as the answer comes, without a poll."""
    relay = _relay()
    [worker] = relay.workers
    pid = worker.pid
    assert pid is not None
    with _phones(relay) as (alice, bob, a_side, b_side), \
            _pair(relay, ("c", "d")) as (carol, dave, c_side, d_side):
        await _handed_over(relay, alice, bob, a_side, b_side)
        await asyncio.sleep(0.1)
        os.kill(pid, signal.SIGSTOP)
        try:
            relay.poll_kernel()  # asks; nobody answers
            assert worker.asking
            relay.bridge(c_side, d_side)
            carol.sendto(numbered_packet(1, 0xC), ("127.0.0.1", c_side.port))
            await received_rtp(dave, 1)
            await asyncio.sleep(HAND_OVER_SOON_S + 0.15)
            assert not c_side.kernel_forwarded
        finally:
            os.kill(pid, signal.SIGCONT)
        await asyncio.sleep(0.3)
        assert not worker.asking
        assert c_side.kernel_forwarded
        assert worker.ports == {a_side.port, c_side.port}
        assert relay.forwarded_directions == 2


async def test_a_poll_between_sweeps_hands_over_without_asking_for_counts() -> None:
    """The run asks the workers for counts before each inactivity sweep only (every
    second); the polls between hand bridges over and ask nothing."""
    relay = _relay()
    [worker] = relay.workers
    with _phones(relay) as (alice, bob, a_side, b_side):
        await _heard_once(relay, alice, bob, a_side, b_side)
        relay.poll_kernel(count=False)
        assert a_side.kernel_forwarded
        assert not worker.asking
        relay.poll_kernel()
        assert worker.asking


async def test_a_worker_that_stops_answering_is_not_waited_for_then_taken_for_dead() -> None:
    """The relay asks for counts without waiting: a worker that does not answer (stopped,
    or starved of CPU) keeps its directions while the loop goes on, and after two seconds
    of silence it is taken for dead and the relay forwards again."""
    relay = _relay()
    [worker] = relay.workers
    pid = worker.pid
    assert pid is not None
    with _phones(relay) as (alice, bob, a_side, b_side):
        await _handed_over(relay, alice, bob, a_side, b_side)
        await asyncio.sleep(0.1)
        os.kill(pid, signal.SIGSTOP)
        try:
            relay.poll_kernel()  # asks again; nobody answers
            relay.poll_kernel()  # not waited for: the direction is still the worker's
            assert worker.asking
            assert a_side.kernel_forwarded
            assert relay.workers == [worker]
            await asyncio.sleep(2.2)
            relay.poll_kernel()  # silent for over 2 s: dead, its directions come back
            assert not a_side.kernel_forwarded
            assert relay.workers == []
            for seq in range(2, 5):
                alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
            assert [p.sequence for p, _ in await received_rtp(bob, 3)] == [2, 3, 4]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def test_relay_workers_and_kernel_forwarding_are_one_or_the_other() -> None:
    assert MediaSettings(relay_workers=1).relay_workers == 1
    with pytest.raises(ValueError, match=r"kernel_forwarding and media\.relay_workers are "
                       r"two ways"):
        MediaSettings(kernel_forwarding=True, relay_workers=1)


def test_new_streams_in_the_kernel_need_kernel_forwarding() -> None:
    assert MediaSettings(kernel_forwarding=True, kernel_new_streams=True).kernel_new_streams
    with pytest.raises(ValueError, match=r"kernel_new_streams applies to kernel forwarding"):
        MediaSettings(kernel_new_streams=True)


def test_auto_starts_one_worker_per_core_beyond_the_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``PARLEY_MEDIA__RELAY_WORKERS=auto``: counted on the cores the node may run on (a
    container's or a taskset's, not the machine's), none beside kernel forwarding."""
    from parley.config import Settings

    monkeypatch.setenv("PARLEY_MEDIA__RELAY_WORKERS", "auto")
    media = Settings().media
    assert media.relay_workers == "auto"
    assert media.relay_worker_count() == len(os.sched_getaffinity(0)) - 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    assert media.relay_worker_count() == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {5})
    assert media.relay_worker_count() == 0
    assert MediaSettings(relay_workers="auto", kernel_forwarding=True).relay_worker_count() == 0
    assert MediaSettings(relay_workers=2).relay_worker_count() == 2
    with pytest.raises(ValueError, match="relay_workers"):
        MediaSettings(relay_workers="many")  # type: ignore[arg-type]


def test_a_worker_with_many_directions_answers_for_every_one() -> None:
    """Counts of more directions than one answer datagram holds come in several."""
    worker = RelayWorker()
    worker.start()
    readers = [udp_phone() for _ in range(300)]
    sender = udp_phone()
    try:
        for port, reader in enumerate(readers, start=1):
            worker.add(port, reader, sender, ("127.0.0.1", 9), ("127.0.0.1", 9),
                       StreamState(ssrc=None, source_ssrc=None, seq_delta=0, ts_delta=0,
                                   rewrite=False, last_seq=0, last_ts=0))
        counts, departed = worker.counts()
        assert sorted(counts) == list(range(1, 301))
        assert {state.packets for state in counts.values()} == {0}
        assert departed == {}
        assert sorted(worker.remove(range(1, 151))) == list(range(1, 151))
        worker.drop(range(151, 301))  # closing: no answer now, the last counts come next
        counts, departed = worker.counts()
        assert (counts, sorted(departed)) == ({}, list(range(151, 301)))
        assert worker.counts() == ({}, {})
    finally:
        worker.stop()
        for sock in [*readers, sender]:
            sock.close()


async def test_a_call_that_ends_in_the_worker_keeps_its_last_packets_counted() -> None:
    """Hanging up does not wait for the worker; the packets it forwarded since its last
    counts are still in the totals once it has been asked again."""
    relay = _relay()
    with _phones(relay) as (alice, bob, a_side, b_side):
        relay.bridge(a_side, b_side)
        alice.sendto(numbered_packet(1, 0xA), ("127.0.0.1", a_side.port))
        bob.sendto(numbered_packet(1, 0xB), ("127.0.0.1", b_side.port))
        await received_rtp(bob, 1)
        await received_rtp(alice, 1)
        relay.poll_kernel()
        assert relay.forwarded_directions == 2
        for seq in [*range(2, 10), *range(11, 13)]:  # 10 lost
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
        assert len(await received_rtp(bob, 10)) == 10
        a_side.close()  # the caller hangs up: the worker's counts are not read now
        b_side.close()
        assert relay.forwarded_directions == 0
        assert relay.packet_totals() == (2, 2, 0)
        await _counts_read(relay)
        assert relay.packet_totals() == (12, 12, 1)


async def test_a_stream_goes_on_from_where_the_worker_left_it_after_an_unbridge() -> None:
    """An unbridge does not wait for the worker; the hub continuing Bob's stream right
    after (hold music, a prompt) gets the worker's last position, with no seam."""
    relay = _relay()
    with _phones(relay) as (alice, bob, a_side, b_side):
        b_side.send_packet(numbered_packet(500, 0x99))  # the hub's prompt
        relay.bridge(a_side, b_side)
        for seq in (1, 2):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
            bob.sendto(numbered_packet(seq, 0xB), ("127.0.0.1", b_side.port))
        await received_rtp(bob, 3)
        await received_rtp(alice, 2)
        relay.poll_kernel()
        assert relay.forwarded_directions == 2
        for seq in range(3, 13):
            alice.sendto(numbered_packet(seq, 0xA), ("127.0.0.1", a_side.port))
        assert [p.sequence for p, _ in await received_rtp(bob, 10)] == list(range(503, 513))
        MediaRelay.unbridge(a_side)  # the operator leaves: Bob goes back to the hub
        assert relay.forwarded_directions == 0
        assert b_side.continuation() == (0x99, 513, 513 * 160)
        assert relay.packet_totals() == (14, 15, 0)  # the worker's last counts are in


def test_a_bad_worker_count_stops_the_demo_with_the_setting_named(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from parley.cli import app

    monkeypatch.setenv("PARLEY_MEDIA__RELAY_WORKERS", "lots")
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "'lots' is not a number of relay workers (0 to 64) or auto (field " \
        "'media.relay_workers')" in result.output
    assert "Traceback" not in result.output
