"""Call records, operator states, recordings and callbacks as the shells will write them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parley.clock import VirtualClock
from parley.store import NotFound, Store
from parley.store.records import CallbackRecord, RecordingRecord
from parley.store.specs import QueueSpec


async def test_interaction_with_legs_timeline_and_durations(store: Store,
                                                            clock: VirtualClock) -> None:
    t0 = clock.utcnow()
    await store.interactions.open("call-1", direction="inbound", caller="+4930111",
                                  called="601", started_at=t0)
    await store.interactions.add_leg("call-1", channel_id="ch-a", direction="inbound",
                                     endpoint="trunk:carrier", caller="+4930111",
                                     called="601", started_at=t0)
    await store.interactions.leg_answered("ch-a", t0 + timedelta(seconds=1))
    await store.interactions.queued("call-1", "sales", t0 + timedelta(seconds=5))
    await store.interactions.add_leg("call-1", channel_id="ch-b", direction="outbound",
                                     endpoint="user:1006", caller="+4930111", called="1006",
                                     started_at=t0 + timedelta(seconds=17))
    await store.interactions.leg_answered("ch-b", t0 + timedelta(seconds=20))
    await store.interactions.answered("call-1", t0 + timedelta(seconds=20), operator="1006")
    await store.interactions.append("call-1", t0 + timedelta(seconds=30), "hold", {"by": "1006"})
    end = t0 + timedelta(seconds=95.5)
    await store.interactions.leg_ended("ch-b", end, 16)
    await store.interactions.leg_ended("ch-a", end, 16)
    record = await store.interactions.close("call-1", end, outcome="answered", hangup_cause=16)
    assert record.duration_s == pytest.approx(95.5)
    assert record.wait_s == pytest.approx(15.0)
    assert record.talk_s == pytest.approx(75.5)
    assert record.operator == "1006"
    assert record.queue == "sales"
    assert [leg.channel_id for leg in record.legs] == ["ch-a", "ch-b"]
    assert record.legs[1].answered_at == t0 + timedelta(seconds=20)
    assert [event.kind for event in record.timeline] == ["started", "queued", "answered",
                                                         "hold", "ended"]
    assert record.started_at.tzinfo is not None


async def test_search_by_time_number_queue_and_operator(store: Store,
                                                        clock: VirtualClock) -> None:
    t0 = clock.utcnow()
    for index in range(5):
        call_id = f"c{index}"
        started = t0 + timedelta(minutes=index)
        await store.interactions.open(call_id, direction="inbound", caller=f"+100{index}",
                                      called="601" if index % 2 else "602", started_at=started)
        await store.interactions.queued(call_id, "sales" if index % 2 else "support", started)
        await store.interactions.answered(call_id, started, operator=f"10{index:02d}")
        await store.interactions.close(call_id, started + timedelta(seconds=30),
                                       outcome="answered")
    page = await store.interactions.search(limit=2)
    assert page.total == 5
    assert [r.id for r in page.items] == ["c4", "c3"]
    page = await store.interactions.search(offset=4, limit=2)
    assert [r.id for r in page.items] == ["c0"]
    assert (await store.interactions.search(queue="sales")).total == 2
    assert [r.id for r in (await store.interactions.search(number="+1002")).items] == ["c2"]
    assert [r.id for r in (await store.interactions.search(operator="1003")).items] == ["c3"]
    window = await store.interactions.search(since=t0 + timedelta(minutes=1),
                                             until=t0 + timedelta(minutes=3))
    assert sorted(r.id for r in window.items) == ["c1", "c2"]


async def test_unknown_interaction_is_reported(store: Store, clock: VirtualClock) -> None:
    with pytest.raises(NotFound, match="nope"):
        await store.interactions.answered("nope", clock.utcnow())


async def test_operator_state_log(store: Store, clock: VirtualClock) -> None:
    t0 = clock.utcnow()
    await store.operator_states.record("1001", "logged_in", t0)
    await store.operator_states.record("1001", "ready", t0 + timedelta(seconds=1))
    await store.operator_states.record("1002", "paused", t0, reason="lunch")
    current = await store.operator_states.current()
    assert current["1001"].state == "ready"
    assert current["1002"].reason == "lunch"
    history = await store.operator_states.history("1001")
    assert [entry.state for entry in history] == ["ready", "logged_in"]


async def test_recordings_and_callbacks(store: Store, clock: VirtualClock) -> None:
    now = clock.utcnow()
    await store.recordings.add(RecordingRecord("r1", None, "/tmp/r1.wav", "audio/wav", now, 3.5))
    assert (await store.recordings.get("r1")).duration_s == 3.5
    assert (await store.recordings.list()).total == 1
    await store.config.put("queues", QueueSpec(name="sales"))
    callback = CallbackRecord("cb1", "+4930222", "sales", now, now + timedelta(minutes=5),
                              "pending", 0, "1001", "", None)
    await store.callbacks.request(callback)
    assert await store.callbacks.list(due_before=now) == []
    due = await store.callbacks.list(due_before=now + timedelta(minutes=5))
    assert [c.id for c in due] == ["cb1"]
    done = await store.callbacks.set_status("cb1", "dialing", count_attempt=True)
    assert done.attempts == 1
    with pytest.raises(NotFound, match="queue"):
        await store.callbacks.request(CallbackRecord("cb2", "1", "nope", now, now, "pending",
                                                     0, "x", "", None))
