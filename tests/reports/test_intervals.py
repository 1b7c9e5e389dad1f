"""The pure interval arithmetic the aggregates rest on: intervals on the quarter hour, a
segment cut into them loses and gains no second, a call's counters name what a report
counts, and logged-out time is never working time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from parley.reports.intervals import (
    CallFacts,
    StateEntry,
    Thresholds,
    call_counters,
    interval_ceiling,
    interval_start,
    split,
    state_segments,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
moments = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2199, 1, 1),
                       timezones=st.just(UTC))


@given(moments, st.floats(min_value=0, max_value=7 * 86400))
def test_a_segment_split_into_intervals_keeps_every_second(start: datetime,
                                                           seconds: float) -> None:
    end = start + timedelta(seconds=seconds)
    parts = list(split(start, end))
    assert abs(sum(part for _bucket, part in parts) - (end - start).total_seconds()) < 1e-6
    for bucket, part in parts:
        assert bucket.minute % 15 == 0
        assert bucket.second == bucket.microsecond == 0
        assert 0 < part <= 900
    assert interval_start(start) <= start < interval_start(start) + timedelta(minutes=15)
    assert start <= interval_ceiling(start) < start + timedelta(minutes=15)


def call(**changes: object) -> CallFacts:
    base = CallFacts(T0, "inbound", "support", None, "600", T0, None, 4.0, 0.0, 10.0,
                     "abandoned")
    return base._replace(**changes)


def test_a_call_counts_as_the_reports_define() -> None:
    limits = Thresholds(short_abandon_s=5, service_level_s={"support": 20})
    assert call_counters(call(), limits) == {
        "calls": 1, "inbound": 1, "duration_s": 10.0, "transfers": 0, "offered": 1,
        "abandoned": 1, "wait_abandoned_s": 4.0, "abandoned_short": 1, "abandoned_within": 1}
    assert call_counters(call(wait_s=6.0), limits)["abandoned_short"] == 0
    voicemail = call_counters(call(outcome="voicemail", wait_s=120.0), limits)
    assert voicemail["offered"] == 1
    assert "abandoned" not in voicemail
    answered = call_counters(call(answered_at=T0 + timedelta(seconds=25), operator="anna",
                                  wait_s=25.0, talk_s=60.0, outcome="answered"), limits)
    assert (answered["answered"], answered["answered_within"], answered["talk_s"]) == (
        1, 0, 60.0)


def test_logged_out_time_is_not_working_time() -> None:
    entries = [StateEntry("anna", state, "", T0 + timedelta(minutes=minute))
               for state, minute in (("ready", 0), ("logged_out", 10), ("ready", 70),
                                     ("on_call", 75))]
    assert [(entry.state, end - entry.at) for entry, end in state_segments(entries)] == [
        ("ready", timedelta(minutes=10)), ("ready", timedelta(minutes=5))]
