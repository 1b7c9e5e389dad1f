"""Ids are unique and sort by creation time, within a node and across restarts."""

from __future__ import annotations

import uuid

from parley.clock import VirtualClock
from parley.ids import IdSource


def test_ids_are_version_7_and_strictly_increasing_within_a_millisecond() -> None:
    source = IdSource(VirtualClock())
    ids = [source.uuid7() for _ in range(10_000)]  # more than 4,096 in one millisecond
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_a_restarted_source_never_reuses_an_id_and_sorts_after_the_old_ones() -> None:
    clock = VirtualClock()
    before = [IdSource(clock).new("ch") for _ in range(100)]
    clock.advance(0.002)
    after = IdSource(clock).new("ch")  # a new process: the counter starts again
    assert after not in before
    assert all(after > old for old in before)
    assert after.startswith("ch-")
