"""Call record rules the recorder relies on: one record per id, the wait counted from the
first queueing, an answer amended with its operator, late outcomes, and recordings and
voicemails that name what is wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parley.clock import VirtualClock
from parley.store import Conflict, NotFound, Store
from parley.store.records import RecordingRecord, VoicemailRecord


async def test_an_interaction_id_is_opened_once(store: Store, clock: VirtualClock) -> None:
    t0 = clock.utcnow()
    await store.interactions.open("c1", direction="inbound", caller="+1", called="601",
                                  started_at=t0)
    with pytest.raises(Conflict, match="c1"):
        await store.interactions.open("c1", direction="inbound", caller="+1", called="601",
                                      started_at=t0)
    assert [e.kind for e in (await store.interactions.get("c1")).timeline] == ["started"]


async def test_wait_counts_from_the_first_queue(store: Store, clock: VirtualClock) -> None:
    t0 = clock.utcnow()
    await store.interactions.open("c2", direction="inbound", caller="+1", called="601",
                                  started_at=t0)
    await store.interactions.queued("c2", "sales", t0 + timedelta(seconds=2), {"priority": 1})
    await store.interactions.queued("c2", "support", t0 + timedelta(seconds=30))
    await store.interactions.answered("c2", t0 + timedelta(seconds=40), operator="1001")
    await store.interactions.answered("c2", t0 + timedelta(seconds=42), operator="1001",
                                      amend=True, detail={"waited_s": 38.0})
    record = await store.interactions.close("c2", t0 + timedelta(seconds=100),
                                            outcome="answered")
    assert record.queue == "support"
    assert record.wait_s == pytest.approx(38.0)
    assert record.talk_s == pytest.approx(60.0)
    assert [(e.kind, e.detail) for e in record.timeline[1:4]] == [
        ("queued", {"priority": 1, "queue": "sales"}), ("queued", {"queue": "support"}),
        ("answered", {"operator": "1001", "waited_s": 38.0})]


async def test_amend_names_the_operator_and_later_answers_add_entries(
        store: Store, clock: VirtualClock) -> None:
    t0 = clock.utcnow()
    await store.interactions.open("c3", direction="inbound", caller="+1", called="601",
                                  started_at=t0)
    await store.interactions.answered("c3", t0 + timedelta(seconds=5), operator="dev-7")
    await store.interactions.answered("c3", t0 + timedelta(seconds=5), operator="anna",
                                      amend=True)
    await store.interactions.answered("c3", t0 + timedelta(seconds=50), operator="ben")
    await store.interactions.set_outcome("c3", "transferred")
    record = await store.interactions.get("c3")
    assert record.operator == "ben"
    assert record.answered_at == t0 + timedelta(seconds=5)
    assert record.outcome == "transferred"
    assert [e.detail["operator"] for e in record.timeline if e.kind == "answered"] == [
        "anna", "ben"]
    with pytest.raises(NotFound):
        await store.interactions.set_outcome("nope", "answered")


async def test_recording_of_an_unknown_call_names_the_field(store: Store,
                                                            clock: VirtualClock) -> None:
    record = RecordingRecord("r1", "ghost", "/rec/r1.wav", "audio/wav", clock.utcnow(), 3.0)
    with pytest.raises(NotFound, match="interaction_id"):
        await store.recordings.add(record)
    await store.interactions.open("c4", direction="inbound", caller="+1", called="601",
                                  started_at=clock.utcnow())
    await store.recordings.add(RecordingRecord("r1", "c4", "/rec/r1.wav", "audio/wav",
                                               clock.utcnow(), 3.0))
    with pytest.raises(Conflict, match="r1"):
        await store.recordings.add(RecordingRecord("r1", None, "/rec/r1.wav", "audio/wav",
                                                   clock.utcnow(), 3.0))


async def test_voicemail_keeps_its_call_and_refuses_a_second_copy(
        store: Store, clock: VirtualClock) -> None:
    message = VoicemailRecord("vm1", "sales", "+1", clock.utcnow(), "/vm/1.wav", 2.0, False,
                              interaction_id="call-without-record")
    await store.voicemails.add(message)
    assert await store.voicemails.get("vm1") == message
    with pytest.raises(Conflict, match="vm1"):
        await store.voicemails.add(message)
