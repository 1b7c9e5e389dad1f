"""The event journal on real files: what is published is on disk in order, survives a process
that dies mid-write, is read back exactly, and is trimmed once its readers are done."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parley.bus import LiveBus
from parley.clock import VirtualClock
from parley.events import Answered, ChannelCreated, Direction, Hangup, HangupCause, Ringing
from parley.journal import Journal, JournalError, decode_line


def segments(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.jsonl"))


def bus_over(journal: Journal) -> LiveBus:
    return LiveBus(VirtualClock(wall_epoch=datetime(2026, 12, 2, tzinfo=UTC)),
                   journal=journal.append)


async def test_published_events_are_written_in_order_and_read_back_exactly(
        tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    bus = bus_over(journal)
    sent = [ChannelCreated("c1", Direction.INBOUND, "+4930111", "601", interaction_id="c1"),
            Ringing("c1"),  # not a journaled type: the live bus alone carries it
            Answered("c1"), Hangup("c1", HangupCause.NORMAL_CLEARING, by="remote")]
    envelopes = [bus.publish(event) for event in sent]
    reader = journal.reader("test", 1)
    assert reader.read(10) == []  # nothing is read before it is synced
    await asyncio.sleep(0)  # the loop turn ends: the lines are written
    journal.sync()
    entries = reader.read(10)
    assert [entry.seq for entry in entries] == [1, 2, 3]
    assert [entry.envelope for entry in entries] == [envelopes[0], envelopes[2], envelopes[3]]
    assert reader.read(10) == []
    journal.close()
    # the next run of the node has only the files: every line decoded, equal again
    again = Journal(tmp_path)
    again.open()
    decoded = again.reader("test", 1).read(10)
    assert [entry.envelope for entry in decoded] == [envelopes[0], envelopes[2], envelopes[3]]
    assert all(entry.envelope is not sent for entry, sent
               in zip(decoded, [envelopes[0], envelopes[2], envelopes[3]], strict=True))


async def test_readers_keeping_up_take_the_appended_envelopes_older_lines_are_decoded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("parley.journal.RECENT", 2)
    journal = Journal(tmp_path)
    journal.open()
    bus = bus_over(journal)
    envelopes = [bus.publish(Answered(f"c{number}")) for number in range(5)]
    await asyncio.sleep(0)
    journal.sync()
    first, second = journal.reader("first", 1), journal.reader("second", 1)
    for reader in (first, second):
        entries = reader.read(10)
        assert [entry.envelope for entry in entries] == envelopes
        # the last two are kept (the same objects, not decoded again); the rest from disk
        assert [entry.envelope is sent for entry, sent in zip(entries, envelopes, strict=True)] \
            == [False, False, False, True, True]
    journal.release("first", 6)
    assert journal.appended(5) is envelopes[4]  # the second reader still needs them
    journal.release("second", 5)
    assert journal.appended(4) is None
    assert journal.appended(5) is envelopes[4]


async def test_group_commit_syncs_within_the_interval(tmp_path: Path) -> None:
    journal = Journal(tmp_path, commit_interval_s=0.05)
    runner = asyncio.create_task(journal.run())
    bus = bus_over(journal)
    await asyncio.sleep(0)
    bus.publish(Answered("c1"))
    async with asyncio.timeout(2):
        await journal.synced_after(0)
    assert journal.synced_seq == 1
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


def test_a_torn_last_line_is_cut_off_and_numbering_goes_on(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    bus = bus_over(journal)
    for number in range(3):
        bus.publish(Answered(f"c{number}"))  # no loop: written at once
    # the process dies: no close, and half a line at the end
    [name] = segments(tmp_path)
    with (tmp_path / name).open("ab") as file:
        file.write(b'{"seq":4,"id":"x","at":"2026-')
    reopened = Journal(tmp_path)
    reopened.open()
    assert reopened.last_seq == 3
    assert reopened.started_seq == 4
    assert (tmp_path / name).read_bytes().endswith(b"\n")
    bus_over(reopened).publish(Answered("c3"))
    reopened.sync()
    entries = reopened.reader("test", 1).read(10)
    assert [(entry.seq, entry.envelope.event) for entry in entries] == [
        (1, Answered("c0")), (2, Answered("c1")), (3, Answered("c2")), (4, Answered("c3"))]


def test_segments_rotate_and_are_deleted_once_every_reader_released_them(
        tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_bytes=400)
    bus = bus_over(journal)
    fast, slow = journal.reader("fast", 1), journal.reader("slow", 1)
    for number in range(20):
        bus.publish(Answered(f"channel-{number}"))
    journal.sync()
    assert len(segments(tmp_path)) > 3
    assert [entry.seq for entry in fast.read(100)] == list(range(1, 21))
    journal.release("fast", 21)
    assert len(segments(tmp_path)) > 3  # the slow reader still needs them
    assert [entry.seq for entry in slow.read(7)] == list(range(1, 8))
    journal.release("slow", 8)
    remaining = segments(tmp_path)
    assert int(remaining[0].removesuffix(".jsonl")) <= 8
    assert [entry.seq for entry in slow.read(100)] == list(range(8, 21))
    journal.release("slow", 21)
    assert len(segments(tmp_path)) == 1  # the current segment stays
    journal.close()
    reopened = Journal(tmp_path)
    reopened.open()
    assert reopened.last_seq == 20  # the numbering survives the trimming


def test_a_reader_starts_at_any_sequence_number(tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_bytes=300)
    bus = bus_over(journal)
    for number in range(12):
        bus.publish(Answered(f"c{number}"))
    journal.sync()
    assert [entry.seq for entry in journal.reader("late", 9).read(100)] == [9, 10, 11, 12]


def test_a_reader_stops_at_the_synced_and_at_half_written_lines_and_goes_on_from_there(
        tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    bus = bus_over(journal)
    for number in range(8):
        bus.publish(Answered(f"c{number}"))
    journal.sync()
    (segment,) = tmp_path.glob("*.jsonl")
    whole = segment.read_bytes()
    ends = [index + 1 for index, byte in enumerate(whole) if byte == ord("\n")]
    half_7, half_8 = ends[5] + 30, ends[6] + 30  # lines 7 and 8 half written in turn
    segment.write_bytes(whole[:half_7])
    journal.synced_seq = 3  # more on disk than synced
    reader = journal.reader("r", 1)
    assert [entry.seq for entry in reader.read(100)] == [1, 2, 3]
    assert reader.read(100) == []
    journal.synced_seq = 8
    assert [entry.seq for entry in reader.read(2)] == [4, 5]
    assert [entry.seq for entry in reader.read(100)] == [6]  # 7 is not whole yet
    with segment.open("ab") as more:
        more.write(whole[half_7:half_8])
    assert [entry.seq for entry in reader.read(100)] == [7]
    with segment.open("ab") as rest:
        rest.write(whole[half_8:])
    assert [(entry.seq, entry.envelope.event) for entry in reader.read(100)] == [
        (8, Answered("c7"))]
    assert reader.read(100) == []
    reader.close()


def test_a_corrupt_line_is_skipped_by_readers_and_refused_at_the_end(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    bus = bus_over(journal)
    bus.publish(Answered("c1"))
    [name] = segments(tmp_path)
    fd = os.open(tmp_path / name, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b'{"seq":2,"id":"x","at":"2026-12-02T00:00:00+00:00","type":"Nope",'
                 b'"data":{}}\n')
    os.close(fd)
    bus.publish(Answered("c2"))  # numbered 2 as well: the journal never wrote the bad line
    journal.sync()
    assert [entry.envelope.event for entry in journal.reader("test", 1).read(10)] == [
        Answered("c1"), Answered("c2")]
    fd = os.open(tmp_path / name, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b'{"seq":3,"id":"x","at":"2026-12-02T00:00:00+00:00","type":"Nope",'
                 b'"data":{}}\n')
    os.close(fd)
    journal.close()
    reopened = Journal(tmp_path)
    with pytest.raises(JournalError, match=rf"{name}:4: type: 'Nope' is not a journaled"):
        reopened.open()  # the last line must be readable to go on numbering


def test_decode_line_names_the_place_and_field() -> None:
    with pytest.raises(JournalError, match=r"j\.jsonl:7: 'seq', 'id' or 'at'"):
        decode_line(b'{"seq":"1","id":"x","at":"now"}', "j.jsonl:7")
    with pytest.raises(JournalError, match=r"j\.jsonl:8: 'seq'"):
        decode_line(b'{"id":"x"}', "j.jsonl:8")


def test_numbering_never_goes_back_behind_what_was_applied(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open(after=41)  # the recorders' marks say 41 entries were applied
    assert journal.last_seq == 41
    bus_over(journal).publish(Answered("c1"))
    journal.sync()
    assert [entry.seq for entry in journal.reader("test", 42).read(10)] == [42]
