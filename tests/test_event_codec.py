"""Every event the store's recorders consume goes to the journal and comes back equal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley.event_codec import CODED, CodecError, decode, encode
from parley.events import (
    AgentStateChanged,
    Answered,
    CallCarried,
    CallProgress,
    ChannelCreated,
    Direction,
    Hangup,
    HangupCause,
    RecordingStored,
    Ringing,
    VoicemailLeft,
)

AT = datetime(2026, 12, 2, 13, 30, 5, 123456, tzinfo=UTC)

SAMPLES: list[object] = [
    ChannelCreated("ch-1", Direction.INBOUND, "+4930111222", "601"),
    ChannelCreated("ch-2", Direction.OUTBOUND, "+4930111222", "1001", interaction_id="ch-1"),
    Answered("ch-1"),
    Hangup("ch-1", HangupCause.ORIGINATOR_CANCEL, by="remote"),
    CallProgress("ch-1", "queued", {"priority": 2, "skills": ["de", "billing"],
                                    "nested": {"a": None, "b": 1.5, "c": True}},
                 queue="support", operator="1001"),
    CallProgress("ch-1", "menu choice", {}),
    VoicemailLeft("vm-1", "sales", "+4930111222", "voicemail/vm-1.wav", 12.34, AT,
                  interaction_id="ch-1"),
    RecordingStored("rec-1", "ch-1", "recordings/rec-1.wav",
                    AT.astimezone(timezone(timedelta(hours=3))), 61.0,
                    ({"start_s": 12.34, "end_s": 20.0, "by": "1001"},)),
    AgentStateChanged("alice", "ready", "busy", "offer", 1234.5678, reason="", call_id="ch-1"),
    CallCarried("ch-2", "ch-1", node="node-a"),
]


def through_disk(event: object) -> object:
    """Encode, write as a JSON line, read back and decode: what the journal does."""
    return decode(json.loads(json.dumps(encode(event))))


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip_is_exact(event: object) -> None:
    back = through_disk(event)
    assert type(back) is type(event)
    assert back == event
    for name in getattr(event, "__slots__", ()):
        assert type(getattr(back, name)) is type(getattr(event, name))


def test_every_coded_type_has_a_sample() -> None:
    assert {type(event) for event in SAMPLES} == set(CODED)


texts = st.text(max_size=20)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | texts
                           | st.floats(allow_nan=False),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(texts, inner, max_size=3), max_leaves=8)


@given(st.builds(CallProgress, texts, texts, st.dictionaries(texts, json_values, max_size=4),
                 queue=texts, operator=texts)
       | st.builds(Hangup, texts, st.sampled_from(HangupCause), by=texts)
       | st.builds(AgentStateChanged, texts, texts, texts, texts,
                   st.floats(allow_nan=False, allow_infinity=False), reason=texts,
                   call_id=texts)
       | st.builds(VoicemailLeft, texts, texts, texts, texts,
                   st.floats(min_value=0, max_value=1e6),
                   st.datetimes(timezones=st.just(UTC)), interaction_id=texts))
def test_generated_events_round_trip(event: object) -> None:
    assert through_disk(event) == event


def test_an_event_outside_the_journal_is_refused() -> None:
    with pytest.raises(CodecError, match="Ringing is not a journaled event type"):
        encode(Ringing("ch-1"))


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(CodecError, match="naive datetime"):
        encode(RecordingStored("r", "i", "p", datetime(2026, 1, 1), 1.0))


@pytest.mark.parametrize(("obj", "message"), [
    ([], "expected an object with a 'type' string"),
    ({"type": "Ringing", "data": {}}, "'Ringing' is not a journaled event type"),
    ({"type": "Hangup", "data": {"channel_id": "c", "cause": 999}},
     "Hangup.cause: 999 is not a HangupCause"),
    ({"type": "Hangup", "data": {"channel_id": 5, "cause": 16}},
     "Hangup.channel_id: expected str, got 5"),
    ({"type": "Hangup", "data": {"cause": 16}}, "Hangup: .*channel_id"),
    ({"type": "Answered", "data": {"channel_id": "c", "extra": 1}},
     "Answered: unknown field 'extra'"),
    ({"type": "RecordingStored", "data": {"recording_id": "r", "interaction_id": "i",
                                          "path": "p", "started_at": "yesterday",
                                          "duration_s": 1}},
     "RecordingStored.started_at: 'yesterday' is not an ISO 8601 time"),
    ({"type": "RecordingStored", "data": {"recording_id": "r", "interaction_id": "i",
                                          "path": "p", "started_at": AT.isoformat(),
                                          "duration_s": 1, "pauses": [1.5]}},
     "RecordingStored.pauses: expected a list of objects"),
    ({"type": "RecordingStored", "data": {"recording_id": "r", "interaction_id": "i",
                                          "path": "p", "started_at": AT.isoformat(),
                                          "duration_s": "1"}},
     "RecordingStored.duration_s: expected a number"),
    ({"type": "CallProgress", "data": {"interaction_id": "i", "kind": "k", "detail": []}},
     "CallProgress.detail: expected an object"),
])
def test_bad_input_names_the_field(obj: object, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode(obj)
