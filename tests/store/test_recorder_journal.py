"""The recorders read the node's event journal: a stop writes all of it, a restart writes what
was left and knows the calls still open, a call cut off by a crash is closed, and nothing is
applied twice. On SQLite and PostgreSQL, with real files."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from parley.bus import LiveBus
from parley.clock import VirtualClock
from parley.events import (
    AgentStateChanged,
    Answered,
    CallCarried,
    CallProgress,
    ChannelCreated,
    Direction,
    Hangup,
    HangupCause,
)
from parley.journal import Journal
from parley.store import NotFound, Store, open_store, recorders
from parley.store.credentials import Passwords
from parley.store.recorders import CallRecorder, StateRecorder
from parley.store.records import InteractionRecord

CALLER = "+4930111222"
CLEARED = HangupCause.NORMAL_CLEARING


@dataclass
class Node:
    """The store side of a node: a journal, a bus writing to it, both recorders."""

    store: Store
    journal: Journal
    bus: LiveBus
    clock: VirtualClock


@contextlib.asynccontextmanager
async def node(database_url: str, folder: Path, *, recorders: bool = True,
               drain_s: float | None = None, interval_s: float = 0.0,
               name: str = "") -> AsyncIterator[Node]:
    """Run until the block ends, then stop in order (recorders drain, for at most
    ``drain_s`` if given, and the journal closes). Without ``recorders`` only the journal
    runs: events wait on disk, as after a crash. ``interval_s``: how long the recorders
    gather events per transaction (none here unless given: the tests read at once).
    ``name``: the node's name in a hot-standby cluster (its recorders' marks are its own)."""
    clock = VirtualClock()
    store = await open_store(database_url, clock=clock, passwords=Passwords.cheap())
    journal = Journal(folder, commit_interval_s=0.01)
    journal.open(after=await store.journal_marks.highest(name))  # as the node does
    bus = LiveBus(clock, journal=journal.append)
    tasks = [asyncio.create_task(recorder.run()) for recorder in (
        CallRecorder(store, bus, clock, journal, drain_s=drain_s, interval_s=interval_s,
                     node=name),
        StateRecorder(store, bus, clock, journal, drain_s=drain_s, interval_s=interval_s,
                      node=name))
        if recorders]
    syncing = asyncio.create_task(journal.run())
    await asyncio.sleep(0.05)  # the recorders have read their marks
    try:
        yield Node(store, journal, bus, clock)
    finally:
        for task in [*tasks, syncing]:  # recorders first: they sync and drain the journal
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        journal.close()
        await store.close()


def call_start(bus: LiveBus, channel: str) -> None:
    bus.publish(ChannelCreated(channel, Direction.INBOUND, CALLER, "601",
                               interaction_id=channel))
    bus.publish(Answered(channel))
    bus.publish(CallProgress(channel, "queued", {}, queue="support"))
    bus.publish(ChannelCreated(f"op-{channel}", Direction.OUTBOUND, CALLER, "1001",
                               interaction_id=channel))
    bus.publish(Answered(f"op-{channel}"))


def call_end(bus: LiveBus, channel: str) -> None:
    bus.publish(CallProgress(channel, "answered", {}, queue="support", operator="1001"))
    bus.publish(Hangup(f"op-{channel}", CLEARED, by="1001"))
    bus.publish(Hangup(channel, CLEARED))


async def closed(store: Store, interaction: str) -> InteractionRecord:
    for _ in range(500):
        with contextlib.suppress(NotFound):
            record = await store.interactions.get(interaction)
            if record.ended_at is not None:
                return record
        await asyncio.sleep(0.01)
    raise AssertionError(f"{interaction} was not closed")


async def opened(store: Store, interaction: str) -> InteractionRecord:
    for _ in range(500):
        with contextlib.suppress(NotFound):
            return await store.interactions.get(interaction)
        await asyncio.sleep(0.01)
    raise AssertionError(f"{interaction} was not opened")


def lose_journal(folder: Path) -> None:
    for path in folder.glob("*.jsonl"):
        path.unlink()


def segments(folder: Path) -> list[int]:
    return sorted(int(path.name.removesuffix(".jsonl")) for path in folder.glob("*.jsonl"))


def assert_complete(record: InteractionRecord) -> None:
    """Both legs once each, ended; the hang-up on the timeline once; answered by 1001."""
    assert [leg.channel_id for leg in record.legs] == [record.id, f"op-{record.id}"]
    assert all(leg.ended_at is not None for leg in record.legs)
    kinds = [entry.kind for entry in record.timeline]
    assert kinds == ["started", "queued", "answered", "ended"], kinds
    assert record.operator == "1001"
    assert record.outcome == "answered"


async def test_a_stop_writes_everything_the_journal_holds(database_url: str,
                                                          tmp_path: Path) -> None:
    async with node(database_url, tmp_path) as running:
        for number in range(150):  # a burst far ahead of the recorder
            call_start(running.bus, f"c{number}")
            call_end(running.bus, f"c{number}")
        store = running.store
        # the block ends at once: the node stops before the recorder has caught up
    store = await open_store(database_url, passwords=Passwords.cheap())
    try:
        page = await store.interactions.search(limit=200)
        assert page.total == 150
        for record in page.items:
            assert_complete(await store.interactions.get(record.id))
        applied, _replay_from = await store.journal_marks.get(CallRecorder.NAME)
        assert applied == 150 * 8
    finally:
        await store.close()


async def test_a_restart_writes_what_was_left_and_knows_the_open_calls(
        database_url: str, tmp_path: Path) -> None:
    async with node(database_url, tmp_path) as running:
        call_start(running.bus, "long")  # written, and the call is still open
        call_start(running.bus, "short")
        call_end(running.bus, "short")
        await closed(running.store, "short")
    async with node(database_url, tmp_path, recorders=False) as crashed:
        call_end(crashed.bus, "long")  # journaled, then the node dies before writing it
        call_start(crashed.bus, "late")
        call_end(crashed.bus, "late")
        await asyncio.sleep(0.05)
        assert (await crashed.store.interactions.get("long")).ended_at is None
    async with node(database_url, tmp_path) as restarted:
        assert_complete(await closed(restarted.store, "long"))
        assert_complete(await closed(restarted.store, "late"))
        assert_complete(await restarted.store.interactions.get("short"))  # not again
        assert (await restarted.store.interactions.search(limit=10)).total == 3


async def test_a_call_cut_off_by_the_stop_is_closed_at_the_next_start(
        database_url: str, tmp_path: Path) -> None:
    async with node(database_url, tmp_path) as running:
        call_start(running.bus, "cut")
        await asyncio.sleep(0.1)
    async with node(database_url, tmp_path) as restarted:
        record = await closed(restarted.store, "cut")
        assert [entry.kind for entry in record.timeline][-2:] == ["node restarted", "ended"]
        assert all(leg.ended_at is not None for leg in record.legs)
        assert {leg.hangup_cause for leg in record.legs} == {
            int(HangupCause.NETWORK_OUT_OF_ORDER)}
        call_start(restarted.bus, "next")  # the node goes on as usual
        call_end(restarted.bus, "next")
        assert_complete(await closed(restarted.store, "next"))


async def test_the_journal_is_trimmed_once_written(database_url: str, tmp_path: Path) -> None:
    async with node(database_url, tmp_path) as running:
        running.journal.segment_bytes = 2000
        call_start(running.bus, "held")  # open: its entries must stay for a restart
        for number in range(40):
            call_start(running.bus, f"c{number}")
            call_end(running.bus, f"c{number}")
            await asyncio.sleep(0)  # one write per loop turn: segments fill up
        await closed(running.store, "c39")
        await asyncio.sleep(0.05)
        assert len(segments(tmp_path)) > 2
        assert segments(tmp_path)[0] == 1  # the open call's first entries are kept
        call_end(running.bus, "held")
        await closed(running.store, "held")
        for _ in range(100):
            if len(segments(tmp_path)) == 1:
                break
            await asyncio.sleep(0.01)
        assert len(segments(tmp_path)) == 1


async def test_operator_states_are_written_once_across_a_restart(
        database_url: str, tmp_path: Path) -> None:
    async with node(database_url, tmp_path) as running:
        running.bus.publish(AgentStateChanged("alice", "offline", "ready", "login", 0.0))
    async with node(database_url, tmp_path, recorders=False) as crashed:
        crashed.bus.publish(AgentStateChanged("alice", "ready", "busy", "offer", 1.0))
        await asyncio.sleep(0.05)
    async with node(database_url, tmp_path) as restarted:
        for _ in range(300):
            history = await restarted.store.operator_states.history("alice")
            if len(history) == 2:
                break
            await asyncio.sleep(0.01)
        assert [entry.state for entry in history] == ["busy", "ready"]


async def test_a_lost_journal_loses_only_what_was_not_written(database_url: str,
                                                               tmp_path: Path) -> None:
    async with node(database_url, tmp_path) as running:
        call_start(running.bus, "before")
        call_end(running.bus, "before")
        await closed(running.store, "before")
    lose_journal(tmp_path)
    async with node(database_url, tmp_path) as restarted:
        assert restarted.journal.last_seq == 8  # numbering goes on after what was applied
        call_start(restarted.bus, "after")
        call_end(restarted.bus, "after")
        assert_complete(await closed(restarted.store, "after"))
        assert_complete(await restarted.store.interactions.get("before"))  # not again


def failing_marks(store: Store, failures: int, error: Exception) -> list[int]:
    """Make the first ``failures`` writes of the call recorder's mark (with its batch) fail
    with ``error``; the list counts the calls."""
    calls: list[int] = []
    real = store.interactions.write_rows

    async def write_rows(*args: Any) -> None:
        calls.append(1)
        if len(calls) <= failures:
            raise error
        await real(*args)

    store.interactions.write_rows = write_rows  # type: ignore[method-assign]
    return calls


async def test_a_busy_database_is_tried_again_from_the_mark(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorders, "LOCK_RETRIES", 0)
    monkeypatch.setattr(recorders, "RETRY_S", 0.01)
    async with node(database_url, tmp_path) as running:
        busy = OperationalError("UPDATE", {}, Exception("database is locked"))
        calls = failing_marks(running.store, 3, busy)
        for channel in ("x", "y"):
            call_start(running.bus, channel)
            call_end(running.bus, channel)
        for channel in ("x", "y"):
            assert_complete(await closed(running.store, channel))
        assert len(calls) > 3


async def test_a_batch_that_fails_otherwise_is_written_step_by_step(
        database_url: str, tmp_path: Path) -> None:
    async with node(database_url, tmp_path) as running:
        failing_marks(running.store, 1, RuntimeError("the batch fails"))
        call_start(running.bus, "z")
        call_end(running.bus, "z")
        assert_complete(await closed(running.store, "z"))
        assert await running.store.journal_marks.get(CallRecorder.NAME) == (8, 9)


async def stored_counts(store: Store) -> tuple[int, int, dict[str, int]]:
    """Call records, legs, and timeline entries per call record, as stored."""
    async with store.engine.connect() as connection:
        records = (await connection.execute(text("SELECT count(*) FROM interactions"))).scalar()
        legs = (await connection.execute(text("SELECT count(*) FROM legs"))).scalar()
        entries = dict((await connection.execute(text(
            "SELECT interaction_id, count(*) FROM timeline_events GROUP BY interaction_id"
        ))).all())
    return int(records or 0), int(legs or 0), {str(k): int(v) for k, v in entries.items()}


async def test_a_stop_under_backlog_leaves_the_rest_for_the_next_start_written_once(
        database_url: str, tmp_path: Path) -> None:
    """Hundreds of calls, the stop cut short (no time to drain) while calls are open and a
    backlog waits in the journal: the next start writes every call's record exactly once."""
    calls = [f"call-{number}" for number in range(240)]
    async with node(database_url, tmp_path, drain_s=0.0) as running:
        for channel in calls[:120]:
            call_start(running.bus, channel)
            call_end(running.bus, channel)
        for channel in calls[120:]:  # open across the stop
            call_start(running.bus, channel)
        await closed(running.store, calls[119])
        await opened(running.store, calls[-1])
        for channel in calls[120:]:  # the backlog: journaled, not written when it stops
            call_end(running.bus, channel)
        for channel in (f"late-{number}" for number in range(60)):
            call_start(running.bus, channel)
            call_end(running.bus, channel)
    stopped = await open_store(database_url, passwords=Passwords.cheap())
    try:
        records, _legs, _entries = await stored_counts(stopped)
        assert records == 240  # the late calls' records wait in the journal
        assert (await stopped.interactions.get(calls[-1])).ended_at is None
    finally:
        await stopped.close()
    async with node(database_url, tmp_path) as restarted:
        await closed(restarted.store, "late-59")
        records, legs, entries = await stored_counts(restarted.store)
        assert (records, legs) == (300, 600)
        assert set(entries.values()) == {4}, entries  # started, queued, answered, ended
        for channel in (calls[0], calls[120], calls[-1], "late-0"):
            assert_complete(await restarted.store.interactions.get(channel))


async def test_a_large_backlog_is_written_exactly_once_with_bounded_batches(
        database_url: str, tmp_path: Path) -> None:
    """A burst far ahead of the recorder, then a stop with time enough: every record once."""
    async with node(database_url, tmp_path) as running:
        for number in range(400):
            call_start(running.bus, f"b{number}")
            call_end(running.bus, f"b{number}")
        await closed(running.store, "b399")
        records, legs, entries = await stored_counts(running.store)
        assert (records, legs) == (400, 800)
        assert set(entries.values()) == {4}
        assert await running.store.journal_marks.get(CallRecorder.NAME) == (3200, 3201)


async def test_what_arrives_within_the_interval_is_written_in_one_transaction(
        database_url: str, tmp_path: Path) -> None:
    """Calls that end 0.05 s apart share a transaction when the recorders gather for 1 s
    (the events wait on disk in the journal meanwhile); every record is written whole."""
    async with node(database_url, tmp_path, interval_s=1.0) as n:
        transactions: list[object] = []
        write_rows = n.store.interactions.write_rows

        async def counted(rows: Any, mark: Any) -> None:
            transactions.append(mark)
            await write_rows(rows, mark)

        n.store.interactions.write_rows = counted  # type: ignore[method-assign]
        await asyncio.sleep(0.2)  # the recorders' first (empty) step is behind them
        for channel in ("a", "b", "c", "d"):
            call_start(n.bus, channel)
            call_end(n.bus, channel)
            await asyncio.sleep(0.05)
        for channel in ("a", "b", "c", "d"):
            assert_complete(await closed(n.store, channel))
        assert 1 <= len(transactions) <= 2, transactions  # one per call without the interval


def test_a_call_copied_for_a_rollback_is_untouched_by_the_batch() -> None:
    from datetime import UTC, datetime

    from parley.events import Direction
    from parley.store.recorders import _OpenCall

    call = _OpenCall("i1", Direction.INBOUND, "leg1", "5550100", "700",
                     datetime(2026, 12, 4, tzinfo=UTC), True, 7, {"leg1"}, {"leg1": "700"},
                     answered_detail={"operator": "20001", "skills": ["en"]},
                     variables={"order": {"id": 42, "lines": [1, 2]}})
    before = call.copy()
    assert before == call
    call.open_legs.add("leg2")
    call.leg_called["leg2"] = "20001"
    call.answered = True
    assert call.answered_detail is not None
    call.answered_detail["skills"].append("ru")
    call.variables["order"]["lines"].append(3)
    assert before.open_legs == {"leg1"}
    assert before.leg_called == {"leg1": "700"}
    assert not before.answered
    assert before.answered_detail == {"operator": "20001", "skills": ["en"]}
    assert before.variables == {"order": {"id": 42, "lines": [1, 2]}}


async def test_a_call_carried_over_is_closed_once_by_the_node_that_took_it(
        database_url: str, tmp_path: Path) -> None:
    """Node a opens and answers two calls and stops without their hang-ups (killed, its
    journal its own); node b, whose journal starts behind a's marks, carries the legs of one
    on and hangs them up: that record is closed once, by b, with the takeover on its
    timeline, and a's return does not close it again. A carried leg of a call that had
    ended already reopens nothing."""
    async with node(database_url, tmp_path / "a", name="a") as a:
        call_start(a.bus, "talking")
        call_start(a.bus, "ended")
        call_end(a.bus, "ended")
        await closed(a.store, "ended")
    async with node(database_url, tmp_path / "b", name="b") as b:
        first_closed = (await b.store.interactions.get("ended")).ended_at
        for leg in ("talking", "op-talking"):
            b.bus.publish(CallCarried(leg, "talking", node="a"))
        b.bus.publish(CallCarried("ended", "ended", node="a"))
        b.bus.publish(Hangup("talking", CLEARED, by="remote"))
        b.bus.publish(Hangup("op-talking", CLEARED))
        b.bus.publish(Hangup("ended", CLEARED, by="remote"))
        record = await closed(b.store, "talking")
        await asyncio.sleep(0.1)
        again = await b.store.interactions.get("ended")
    # node a comes back: the call its journal left open was closed by b and stays as b
    # closed it (no second close at a's "last sign of life")
    async with node(database_url, tmp_path / "a", name="a") as back:
        await asyncio.sleep(0.2)
        after = await back.store.interactions.get("talking")
    assert after == record
    kinds = [entry.kind for entry in record.timeline]
    assert kinds == ["started", "queued", "answered", "carried over", "ended"], kinds
    assert record.timeline[3].detail == {"from_node": "a"}
    assert all(leg.ended_at is not None for leg in record.legs)
    assert record.outcome == "answered"
    assert again.ended_at == first_closed  # closed before the takeover: left as it was
    assert [entry.kind for entry in again.timeline].count("ended") == 1


async def test_a_carried_call_the_dead_node_never_wrote_is_recorded_by_the_node_that_took_it(
        database_url: str, tmp_path: Path) -> None:
    """Node a puts a caller through to an operator and dies before writing anything of the
    call (it all waits in a's journal); node b carries both legs on: b opens the record as
    the call began (its start, the operator's answer), the hang-up closes it, answered by
    the operator. When a comes back, its journal fills in the rest of that one record (the
    queue, the answer on the timeline), and closes nothing again."""
    async with node(database_url, tmp_path / "a", name="a", recorders=False) as a:
        began = a.clock.utcnow()
        call_start(a.bus, "late")
        await asyncio.sleep(0.05)
    async with node(database_url, tmp_path / "b", name="b") as b:
        b.bus.publish(CallCarried("late", "late", node="a", direction=Direction.INBOUND,
                                  caller=CALLER, called="601", started_at=began,
                                  answered_at=began))
        b.bus.publish(CallCarried("op-late", "late", node="a", direction=Direction.OUTBOUND,
                                  caller=CALLER, called="1001", started_at=began,
                                  answered_at=began))
        b.bus.publish(Hangup("op-late", CLEARED, by="1001"))
        b.bus.publish(Hangup("late", CLEARED, by="remote"))
        record = await closed(b.store, "late")
    assert (record.started_at, record.answered_at) == (began, began)
    assert (record.operator, record.outcome) == ("1001", "answered")
    assert [leg.channel_id for leg in record.legs] == ["late", "op-late"]
    assert all(leg.ended_at is not None for leg in record.legs)
    kinds = [entry.kind for entry in record.timeline]
    assert kinds == ["started", "carried over", "ended"], kinds
    assert record.timeline[1].detail == {"from_node": "a", "record_opened_here": True}

    async with node(database_url, tmp_path / "a", name="a") as back:
        await asyncio.sleep(0.3)
        page = await back.store.interactions.search(limit=10)
        after = await back.store.interactions.get("late")
    assert page.total == 1
    kinds = [entry.kind for entry in after.timeline]
    assert sorted(kinds) == sorted(["started", "queued", "answered", "carried over", "ended"])
    assert (after.ended_at, after.outcome, after.operator) == (
        record.ended_at, "answered", "1001")
    assert after.queue == "support"


async def test_a_node_back_as_the_standby_writes_its_last_run_and_closes_what_went_nowhere(
        database_url: str, tmp_path: Path) -> None:
    """Node a dies with all of its last run in its journal: a call that ended, one cut off
    (its caller hung up on the dead node) and one that node b carried on and still relays.
    a starts again as the standby and writes its last run at once: the ended call whole,
    the cut-off one closed as at a restart, the carried one left open for b, whose hang-up
    then closes it; a's own run later (once active) closes nothing of it."""
    async with node(database_url, tmp_path / "a", name="a", recorders=False) as a:
        began = a.clock.utcnow()
        for call in ("done", "cut", "going"):
            call_start(a.bus, call)
        call_end(a.bus, "done")
        await asyncio.sleep(0.05)
    async with node(database_url, tmp_path / "b", name="b") as b:
        for leg, called in (("going", "601"), ("op-going", "1001")):
            b.bus.publish(CallCarried(leg, "going", node="a", caller=CALLER, called=called,
                                      started_at=began, answered_at=began))
        await opened(b.store, "going")

        # a, back as the standby: its last run written through a store without a fence
        store = await open_store(database_url, clock=a.clock, passwords=Passwords.cheap())
        journal = Journal(tmp_path / "a", commit_interval_s=0.01)
        journal.open(after=await store.journal_marks.highest("a"))
        standby = CallRecorder(store, LiveBus(a.clock, journal=journal.append), a.clock,
                               journal, node="a")
        try:
            assert await standby.write_last_run()
            assert_complete(await store.interactions.get("done"))
            assert (await store.interactions.get("cut")).ended_at is None  # not yet
            await standby.close_last_run({"going"})
            assert not await standby.write_last_run()  # nothing more to write
        finally:
            journal.close()
            await store.close()
        cut = await b.store.interactions.get("cut")
        assert [entry.kind for entry in cut.timeline][-2:] == ["node restarted", "ended"]
        assert (await b.store.interactions.get("going")).ended_at is None
        b.bus.publish(Hangup("op-going", CLEARED, by="1001"))
        b.bus.publish(Hangup("going", CLEARED, by="remote"))
        going = await closed(b.store, "going")
    async with node(database_url, tmp_path / "a", name="a") as active:
        await asyncio.sleep(0.3)
        assert await active.store.interactions.get("going") == going
        assert await active.store.interactions.get("cut") == cut
    kinds = [entry.kind for entry in going.timeline]
    assert kinds.count("ended") == 1, kinds
    assert "node restarted" not in kinds, kinds
    assert going.outcome == "answered"


async def test_a_node_back_alone_that_carries_its_own_call_on_does_not_close_it(
        database_url: str, tmp_path: Path) -> None:
    """Node a dies with a call up and no standby takes over; a starts again, takes the
    lease and carries its own kept call on (its CallCarried come before its recorder
    runs, as in parley.app): the record stays open, not closed as "node restarted", and
    the call's hang-up closes it once."""
    async with node(database_url, tmp_path, name="a", recorders=False) as crashed:
        call_start(crashed.bus, "mine")
        await asyncio.sleep(0.05)
    clock = VirtualClock()
    store = await open_store(database_url, clock=clock, passwords=Passwords.cheap())
    # synced only every second: the recorder must not close the call before it reads
    # the CallCarried published before it began
    journal = Journal(tmp_path, commit_interval_s=1.0)
    journal.open(after=await store.journal_marks.highest("a"))
    bus = LiveBus(clock, journal=journal.append)
    for leg in ("mine", "op-mine"):
        bus.publish(CallCarried(leg, "mine", node="a"))
    recorder = asyncio.create_task(CallRecorder(store, bus, clock, journal, node="a",
                                                interval_s=0.0).run())
    syncing = asyncio.create_task(journal.run())
    try:
        record = await opened(store, "mine")
        await asyncio.sleep(0.3)  # the recorder has caught up with what came before
        record = await store.interactions.get("mine")
        assert record.ended_at is None, record.timeline
        bus.publish(CallProgress("mine", "answered", {}, queue="support", operator="1001"))
        bus.publish(Hangup("op-mine", CLEARED, by="1001"))
        bus.publish(Hangup("mine", CLEARED))
        record = await closed(store, "mine")
    finally:
        for task in (recorder, syncing):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        journal.close()
        await store.close()
    assert_complete(record)
