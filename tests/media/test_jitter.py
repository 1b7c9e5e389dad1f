"""The jitter buffer: order, lateness, loss, duplicates, bounded latency, pauses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.media import MediaError
from parley.media.jitter import JitterBuffer


def payload(seq: int) -> bytes:
    return seq.to_bytes(2, "big")


def test_reorders_within_its_depth() -> None:
    buffer = JitterBuffer(depth=3)
    for seq in (102, 100, 101):
        buffer.push(seq, payload(seq))
    out = [buffer.pop() for _ in range(3)]
    assert out == [payload(100), payload(101), payload(102)]


def test_waits_for_depth_before_playing() -> None:
    buffer = JitterBuffer(depth=2)
    buffer.push(1, payload(1))
    assert buffer.pop() is None
    buffer.push(2, payload(2))
    assert buffer.pop() == payload(1)


def test_lost_packet_is_a_gap_at_its_tick_and_late_arrival_is_dropped() -> None:
    buffer = JitterBuffer(depth=1)
    for seq in (10, 12, 13):
        buffer.push(seq, payload(seq))
    assert [buffer.pop() for _ in range(2)] == [payload(10), None]
    assert not buffer.push(11, payload(11))  # its tick has passed
    assert [buffer.pop() for _ in range(2)] == [payload(12), payload(13)]
    assert buffer.stats.lost == 1
    assert buffer.stats.late == 1


def test_duplicates_are_dropped() -> None:
    buffer = JitterBuffer(depth=1)
    assert buffer.push(5, payload(5))
    assert not buffer.push(5, b"again")
    assert buffer.pop() == payload(5)
    assert buffer.stats.duplicate == 1


def test_wraps_around_sequence_numbers() -> None:
    buffer = JitterBuffer(depth=2)
    for seq in (65534, 0, 65535, 1):
        buffer.push(seq, payload(seq))
    assert [buffer.pop() for _ in range(4)] == [payload(s) for s in (65534, 65535, 0, 1)]


def test_burst_beyond_capacity_drops_back_to_the_target_depth() -> None:
    buffer = JitterBuffer(depth=2, capacity=5)
    for seq in range(6):
        buffer.push(seq, payload(seq))
    assert len(buffer) == 2  # the sixth packet overflowed: only the newest two are kept
    assert buffer.stats.overflow == 4
    for seq in range(6, 9):
        buffer.push(seq, payload(seq))
    assert [buffer.pop() for _ in range(5)] == [payload(s) for s in range(4, 9)]


def test_overflow_while_playing_skips_ahead() -> None:
    buffer = JitterBuffer(depth=2, capacity=4)
    for seq in range(2):
        buffer.push(seq, payload(seq))
    assert buffer.pop() == payload(0)
    for seq in range(2, 7):  # a burst: when 5 arrives, 1..5 wait, one more than the capacity
        buffer.push(seq, payload(seq))
    assert [buffer.pop() for _ in range(3)] == [payload(4), payload(5), payload(6)]
    assert buffer.stats.lost == 0


def test_resynchronises_after_the_stream_pauses() -> None:
    buffer = JitterBuffer(depth=1)
    buffer.push(1, payload(1))
    assert buffer.pop() == payload(1)
    assert [buffer.pop() for _ in range(10)] == [None] * 10  # dry: nothing arrives
    buffer.push(500, payload(500))  # the sender skipped sequence numbers while silent
    assert buffer.pop() == payload(500)
    assert buffer.stats.lost == 0


def test_gap_concealment_repeats_once_then_silence() -> None:
    buffer = JitterBuffer(depth=1)
    for seq in (1, 5):
        buffer.push(seq, payload(seq))
    out = [buffer.pop_filled(b"..") for _ in range(5)]
    assert out == [payload(1), payload(1), b"..", b"..", payload(5)]


def test_bad_settings() -> None:
    with pytest.raises(MediaError, match="below the capacity"):
        JitterBuffer(depth=5, capacity=5)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_bounded_reordering_plays_every_packet_once_in_order(data: st.DataObject) -> None:
    start = data.draw(st.integers(0, 65535))
    count = 60
    order = list(range(count))
    # Each packet is delayed by up to 2 positions (jitter smaller than the depth).
    keys = [i + data.draw(st.floats(0, 2.5)) for i in order]
    arrival = [i for _, i in sorted(zip(keys, order, strict=True))]
    buffer = JitterBuffer(depth=4)
    played: list[bytes] = []
    for position, index in enumerate(arrival):
        buffer.push((start + index) & 0xFFFF, payload(index))
        if position >= 3:
            out = buffer.pop()
            if out is not None:
                played.append(out)
    while len(buffer):
        out = buffer.pop()
        if out is not None:
            played.append(out)
    assert played == [payload(i) for i in range(count)]
