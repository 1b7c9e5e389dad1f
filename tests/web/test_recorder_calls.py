"""Call records written by the recorder from what the live bus carries: telephony events and
the contact center's notices, linked by interaction id, on SQLite and PostgreSQL.

Each test publishes a call's events on a real ``LiveBus`` at set times of a virtual clock and
reads the stored record back: legs, timeline, waiting and talking time, operator, queue and
outcome."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from parley.bus import LiveBus
from parley.clock import VirtualClock
from parley.events import (
    DATA_ATTACHED,
    Answered,
    CallProgress,
    ChannelCreated,
    Direction,
    Hangup,
    HangupCause,
    RecordingStored,
    VoicemailLeft,
)
from parley.journal import Journal
from parley.store import NotFound, Store, open_store
from parley.store.credentials import Passwords
from parley.store.recorders import CallRecorder
from parley.store.records import InteractionRecord

T = TypeVar("T")
CALLER = "+4930111222"
CLEARED = HangupCause.NORMAL_CLEARING


@dataclass
class Line:
    """A recorder running over a real bus and store, and a way to publish a call's events
    at given seconds from the start of the test."""

    store: Store
    bus: LiveBus
    clock: VirtualClock

    def at(self, seconds: float, *events: object) -> None:
        self.clock.advance(seconds - self.clock.monotonic())
        for event in events:
            self.bus.publish(event)

    def inbound(self, seconds: float, channel: str, called: str = "601") -> None:
        """A caller's leg: it starts its own interaction, named after the channel."""
        self.at(seconds, ChannelCreated(channel, Direction.INBOUND, CALLER, called,
                                        interaction_id=channel))

    def operator_leg(self, seconds: float, interaction: str, channel: str, user: str) -> None:
        """A leg originated to an operator's phone for the call ``interaction``."""
        self.at(seconds, ChannelCreated(channel, Direction.OUTBOUND, CALLER, user,
                                        interaction_id=interaction))

    def progress(self, seconds: float, interaction: str, kind: str, queue: str = "",
                 operator: str = "", **detail: object) -> None:
        self.at(seconds, CallProgress(interaction, kind, dict(detail), queue=queue,
                                      operator=operator))

    async def eventually(self, read: Callable[[], Awaitable[T]],
                         done: Callable[[T], bool]) -> T:
        """What ``read`` returns once ``done`` holds (the recorder runs behind the bus)."""
        for _ in range(200):
            try:
                value = await read()
            except NotFound:
                pass
            else:
                if done(value):
                    return value
            await asyncio.sleep(0.02)
        raise AssertionError("the recorder did not write the expected record in time")

    async def closed(self, interaction: str) -> InteractionRecord:
        return await self.eventually(lambda: self.store.interactions.get(interaction),
                                     lambda record: record.ended_at is not None)

    def seconds(self, record: InteractionRecord, moment: Any) -> float:
        """Seconds from the record's start to ``moment``."""
        return float((moment - record.started_at).total_seconds())


@contextlib.asynccontextmanager
async def recording(database_url: str, *, queue_size: int = 1000,
                    journal_dir: Path | None = None
                    ) -> AsyncIterator[tuple[Line, asyncio.Task[None]]]:
    """A recorder running over a real bus and store (its task, to stop it early); with
    ``journal_dir``, reading the node's event journal in that folder as a node's does."""
    clock = VirtualClock()
    store = await open_store(database_url, clock=clock, passwords=Passwords.cheap())
    journal = Journal(journal_dir, commit_interval_s=0.01) if journal_dir else None
    bus = LiveBus(clock, queue_size=queue_size,
                  journal=journal.append if journal else None)
    syncing = asyncio.create_task(journal.run()) if journal else None
    task = asyncio.create_task(CallRecorder(store, bus, clock, journal).run())
    try:
        if journal is None:
            for _ in range(1000):  # the recorder subscribes on its first turn
                if bus.subscriber_count:
                    break
                await asyncio.sleep(0)
            assert bus.subscriber_count == 1
        yield Line(store, bus, clock), task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if syncing is not None:
            syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await syncing
        if journal is not None:
            journal.close()
        await store.close()


@pytest.fixture(params=["bus", "journal"])
async def line(database_url: str, request: pytest.FixtureRequest,
               tmp_path: Path) -> AsyncIterator[Line]:
    """Each rule is checked with the recorder reading the bus and reading the journal."""
    journal_dir = tmp_path / "journal" if request.param == "journal" else None
    async with recording(database_url, journal_dir=journal_dir) as (running, _task):
        yield running


def kinds(record: InteractionRecord) -> list[str]:
    return [entry.kind for entry in record.timeline]


async def test_ivr_call_queued_then_answered_by_an_operator(line: Line) -> None:
    line.inbound(0, "in-1")
    line.at(0.5, Answered("in-1"))  # the IVR answers the caller: nobody has taken the call
    line.progress(0.5, "in-1", "entered flow", flow="main")
    line.progress(4, "in-1", "menu choice", digit="2")
    line.progress(5, "in-1", "queued", queue="support", priority=0)
    line.operator_leg(12, "in-1", "op-1", "1001")
    line.progress(12, "in-1", "offered", queue="support", operator="1001")
    line.at(15, Answered("op-1"))
    line.progress(15, "in-1", "answered", queue="support", operator="1001", waited_s=10.0)
    line.at(75, Hangup("op-1", CLEARED, by="1001"), Hangup("in-1", CLEARED))

    record = await line.closed("in-1")
    assert record.direction == "inbound"
    assert record.called == "601"
    assert record.queue == "support"
    assert record.operator == "1001"
    assert record.outcome == "answered"
    assert record.wait_s == pytest.approx(10.0)  # queued at 5 s, answered at 15 s
    assert record.talk_s == pytest.approx(60.0)
    assert record.duration_s == pytest.approx(75.0)
    assert line.seconds(record, record.answered_at) == pytest.approx(15.0)
    assert kinds(record) == ["started", "entered flow", "menu choice", "queued", "offered",
                             "answered", "ended"]
    assert record.timeline[3].detail == {"queue": "support", "priority": 0}
    assert record.timeline[4].detail == {"queue": "support", "operator": "1001"}
    assert record.timeline[5].detail == {"operator": "1001", "waited_s": 10.0}
    assert [(leg.channel_id, leg.direction, leg.endpoint) for leg in record.legs] == [
        ("in-1", "inbound", "601"), ("op-1", "outbound", "1001")]
    assert all(leg.ended_at is not None and leg.hangup_cause == 16 for leg in record.legs)
    assert line.seconds(record, record.legs[0].answered_at) == pytest.approx(0.5)


async def test_attached_data_joins_the_records_variables(line: Line) -> None:
    line.inbound(0, "in-9", called="+74951110000")
    line.progress(0.1, "in-9", DATA_ATTACHED, campaign="belka", script="onboarding",
                  reason="registration not finished")
    line.progress(0.2, "in-9", DATA_ATTACHED, language="ru")
    line.at(5, Hangup("in-9", CLEARED))
    record = await line.closed("in-9")
    assert record.variables == {"campaign": "belka", "script": "onboarding",
                                "reason": "registration not finished", "language": "ru"}
    assert kinds(record) == ["started", DATA_ATTACHED, DATA_ATTACHED, "ended"]
    # a notice after the call ended reaches its timeline; the variables stay whole
    line.progress(6, "in-9", DATA_ATTACHED, campaign="other")
    late = await line.eventually(lambda: line.store.interactions.get("in-9"),
                                 lambda found: kinds(found)[-1] == DATA_ATTACHED)
    assert late.variables == record.variables


async def test_operator_who_does_not_answer_then_the_next_one_does(line: Line) -> None:
    line.inbound(0, "in-2")
    line.at(0.2, Answered("in-2"))
    line.progress(1, "in-2", "queued", queue="sales")
    line.operator_leg(2, "in-2", "op-2a", "1002")
    line.progress(2, "in-2", "offered", queue="sales", operator="1002")
    line.at(17, Hangup("op-2a", HangupCause.NO_ANSWER, by="local"))
    line.progress(17, "in-2", "not answered", queue="sales", operator="1002")
    line.operator_leg(17, "in-2", "op-2b", "1003")
    line.progress(17, "in-2", "offered", queue="sales", operator="1003")
    line.at(20, Answered("op-2b"))
    line.progress(20, "in-2", "answered", queue="sales", operator="1003")
    line.at(50, Hangup("in-2", CLEARED))  # the caller hangs up first
    line.at(50.1, Hangup("op-2b", CLEARED))

    record = await line.closed("in-2")
    assert record.operator == "1003"
    assert record.queue == "sales"
    assert record.outcome == "answered"
    assert record.wait_s == pytest.approx(19.0)
    assert record.talk_s == pytest.approx(30.1)
    assert kinds(record) == ["started", "queued", "offered", "not answered", "offered",
                             "answered", "ended"]
    assert [entry.detail.get("operator") for entry in record.timeline[2:6]] == [
        "1002", "1002", "1003", "1003"]
    unanswered = record.legs[1]
    assert (unanswered.endpoint, unanswered.answered_at) == ("1002", None)
    assert unanswered.hangup_cause == int(HangupCause.NO_ANSWER)
    assert line.seconds(record, unanswered.ended_at) == pytest.approx(17.0)
    assert line.seconds(record, record.legs[2].answered_at) == pytest.approx(20.0)


async def test_blind_transfer_stays_one_call_with_the_last_operator(line: Line) -> None:
    line.inbound(0, "in-3")
    line.at(0, Answered("in-3"))
    line.progress(2, "in-3", "queued", queue="support")
    line.operator_leg(3, "in-3", "op-3a", "1001")
    line.at(5, Answered("op-3a"))
    line.progress(5, "in-3", "answered", queue="support", operator="1001")
    line.progress(30, "in-3", "transferred", operator="1001", to="1003")
    line.operator_leg(30, "in-3", "op-3b", "1003")  # the target exists before 1001 leaves
    line.at(31, Hangup("op-3a", CLEARED, by="1001"))
    line.at(36, Answered("op-3b"))
    line.progress(36, "in-3", "answered", operator="1003")
    line.at(96, Hangup("in-3", CLEARED), Hangup("op-3b", CLEARED))

    record = await line.closed("in-3")
    page = await line.store.interactions.search()
    assert [item.id for item in page.items] == ["in-3"]  # one call, not one per leg
    assert record.outcome == "answered"
    assert record.operator == "1003"
    assert line.seconds(record, record.answered_at) == pytest.approx(5.0)  # the first answer
    assert record.wait_s == pytest.approx(3.0)
    assert record.talk_s == pytest.approx(91.0)
    assert kinds(record) == ["started", "queued", "answered", "transferred", "answered",
                             "ended"]
    answers = [entry.detail["operator"] for entry in record.timeline if entry.kind == "answered"]
    assert answers == ["1001", "1003"]
    assert record.timeline[3].detail == {"to": "1003", "operator": "1001"}
    assert [leg.endpoint for leg in record.legs] == ["601", "1001", "1003"]


async def test_caller_who_hangs_up_while_waiting_abandoned(line: Line) -> None:
    line.inbound(0, "in-4")
    line.at(0.3, Answered("in-4"))
    line.progress(3, "in-4", "queued", queue="sales")
    line.progress(33, "in-4", "announced", position=2, expected_wait=45)
    line.at(40, Hangup("in-4", CLEARED, by="remote"))

    record = await line.closed("in-4")
    assert record.outcome == "abandoned"
    assert record.answered_at is None
    assert record.operator is None
    assert record.queue == "sales"
    assert record.wait_s == pytest.approx(37.0)
    assert record.talk_s == 0.0
    assert kinds(record) == ["started", "queued", "announced", "ended"]
    assert record.timeline[2].detail == {"position": 2, "expected_wait": 45}


async def test_call_that_is_answered_only_by_the_ivr_is_unanswered(line: Line) -> None:
    line.inbound(0, "in-6", called="600")
    line.at(1, Answered("in-6"))
    line.progress(1, "in-6", "entered flow", flow="opening hours")
    line.at(20, Hangup("in-6", CLEARED, by="local"))

    record = await line.closed("in-6")
    assert record.outcome == "unanswered"
    assert record.answered_at is None
    assert record.wait_s == pytest.approx(20.0)


async def test_voicemail_is_kept_with_its_call(line: Line) -> None:
    line.inbound(0, "in-5")
    line.at(0.4, Answered("in-5"))
    line.progress(2, "in-5", "queued", queue="support")
    line.progress(62, "in-5", "voicemail", queue="support", mailbox="support")
    line.progress(62, "in-5", "outcome", outcome="voicemail")
    received = line.clock.utcnow() + timedelta(seconds=74)
    line.at(75, VoicemailLeft("vm-1", "support", CALLER, "/var/lib/parley/vm/vm-1.wav", 12.5,
                              received, interaction_id="in-5"),
            Hangup("in-5", CLEARED, by="remote"))

    record = await line.closed("in-5")
    assert record.outcome == "voicemail"
    assert record.answered_at is None
    assert record.queue == "support"
    assert kinds(record) == ["started", "queued", "voicemail", "ended"]
    messages = await line.store.voicemails.list(interaction_id="in-5")
    assert [(m.id, m.mailbox, m.caller, m.duration_s, m.heard) for m in messages] == [
        ("vm-1", "support", CALLER, 12.5, False)]
    assert messages[0].received_at == received
    assert (await line.store.voicemails.list("support"))[0].interaction_id == "in-5"


async def test_recording_is_linked_to_its_call(line: Line) -> None:
    line.inbound(0, "in-7")
    line.operator_leg(1, "in-7", "op-7", "1001")
    line.at(3, Answered("op-7"))
    started = line.clock.utcnow()
    line.at(33, RecordingStored("rec-7", "in-7", "/var/lib/parley/rec/rec-7.wav", started,
                                30.0, ({"start_s": 10.5, "end_s": 14.0, "by": "1001"},)),
            Hangup("op-7", CLEARED), Hangup("in-7", CLEARED))

    record = await line.closed("in-7")
    assert record.outcome == "answered"
    assert record.operator == "1001"  # from the answering leg, no notice needed
    assert kinds(record) == ["started", "answered", "ended"]
    page = await line.store.recordings.list(interaction_id="in-7")
    assert [(r.id, r.media_type, r.duration_s, r.started_at) for r in page.items] == [
        ("rec-7", "audio/wav", 30.0, started)]
    # the gap written as silence while the recording was paused is stored with it
    assert page.items[0].pauses == ({"start_s": 10.5, "end_s": 14.0, "by": "1001"},)


async def test_events_of_unknown_calls_are_skipped_and_late_notices_kept(line: Line) -> None:
    line.progress(0, "ghost", "queued", queue="sales")
    line.at(0, Answered("no-such-leg"), Hangup("no-such-leg", CLEARED))
    line.at(0, RecordingStored("rec-ghost", "ghost", "/var/lib/parley/rec/ghost.wav",
                               line.clock.utcnow(), 1.0))
    line.inbound(1, "in-8")
    line.at(1, ChannelCreated("in-8", Direction.INBOUND, CALLER, "601",
                              interaction_id="in-8"))  # a duplicate must not break the call
    line.progress(2, "in-8", "queued", queue="sales")
    line.at(9, Hangup("in-8", CLEARED, by="remote"))
    line.progress(9, "in-8", "abandoned", queue="sales", waited=7)  # after the hang-up
    line.progress(9, "in-8", "outcome", outcome="callback")

    record = await line.eventually(lambda: line.store.interactions.get("in-8"),
                                   lambda r: r.outcome == "callback")
    assert kinds(record) == ["started", "queued", "ended", "abandoned"]
    assert record.wait_s == pytest.approx(7.0)
    with pytest.raises(NotFound):
        await line.store.interactions.get("ghost")
    kept = await line.store.recordings.get("rec-ghost")  # kept, just not linked
    assert kept.interaction_id is None


async def test_legs_without_interaction_id_are_paired_as_before(line: Line) -> None:
    """A direct call through the B2BUA with no contact-center shell: the phone's leg and the
    leg Parley places to the extension make one call record."""
    line.at(0, ChannelCreated("b2b-in", Direction.INBOUND, "1001", "3000"))
    line.at(0.1, ChannelCreated("b2b-out", Direction.OUTBOUND, "1001", "3000"))
    line.at(2, Answered("b2b-out"), Answered("b2b-in"))
    line.at(12, Hangup("b2b-in", CLEARED), Hangup("b2b-out", CLEARED))

    record = await line.closed("b2b-in")
    assert record.operator == "3000"
    assert record.outcome == "answered"
    assert record.wait_s == pytest.approx(2.0)
    assert record.talk_s == pytest.approx(10.0)
    assert kinds(record) == ["started", "dialing", "answered", "ended"]
    assert len(record.legs) == 2


async def test_records_still_queued_when_the_node_stops_are_written_first(
        database_url: str) -> None:
    async with recording(database_url, queue_size=5) as (line, task):
        for number in range(40):  # a burst: far more than a viewer's queue holds
            channel = f"burst-{number}"
            line.bus.publish(ChannelCreated(channel, Direction.INBOUND, CALLER, "601"))
            line.bus.publish(Hangup(channel, CLEARED))
        task.cancel()  # the node stops before the recorder has caught up
        with contextlib.suppress(asyncio.CancelledError):
            await task
        page = await line.store.interactions.search(limit=100)
        assert page.total == 40
        assert all(record.ended_at is not None for record in page.items)


async def test_a_burst_is_written_in_batches_and_one_bad_step_spoils_nothing_else(
        database_url: str) -> None:
    async with recording(database_url) as (line, _task):
        for number in range(3):  # published at once: the recorder takes them as one batch
            channel = f"b-{number}"
            line.bus.publish(ChannelCreated(channel, Direction.INBOUND, CALLER, "800"))
            line.bus.publish(CallProgress(channel, "entered flow", {"flow": "demo-voicemail"}))
            if number == 1:  # not JSON: the database refuses this step
                line.bus.publish(CallProgress(channel, "bad step", {"digits": {1, 2}}))
            line.bus.publish(VoicemailLeft(f"vm-{number}", "general", CALLER,
                                           f"/vm/{number}.wav", 3.0, line.clock.utcnow(),
                                           interaction_id=channel))
            line.bus.publish(Hangup(channel, CLEARED))
        for number in range(3):
            record = await line.closed(f"b-{number}")
            assert "entered flow" in kinds(record)
            assert "bad step" not in kinds(record)
        messages = await line.eventually(lambda: line.store.voicemails.list("general"),
                                         lambda found: len(found) == 3)
        assert {message.interaction_id for message in messages} == {"b-0", "b-1", "b-2"}
