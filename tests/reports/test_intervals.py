"""The pure interval arithmetic the aggregates rest on: intervals on the quarter hour, a
segment cut into them loses and gains no second, a call's counters name what a report
counts (in each queue it entered, for each operator who answered it), a wrap-up adds to its
queue, and logged-out time is never working time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from parley.reports.drill import behind
from parley.reports.intervals import (
    CallFacts,
    QueueVisit,
    StateEntry,
    Step,
    Thresholds,
    call_counters,
    calls_by_interval,
    interval_ceiling,
    interval_start,
    split,
    state_segments,
    walk,
    wrap_up_by_interval,
)
from parley.reports.tables import call_figures

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


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def moved(outcome: str, *steps: Step, ended: float = 100.0) -> CallFacts:
    return CallFacts(T0, "inbound", "sales", "bob", "600", at(0), at(10), 10.0, 90.0, ended,
                     outcome, call_id="c1", ended_at=at(ended), steps=steps)


def test_a_call_counts_in_every_queue_it_entered_and_for_every_operator() -> None:
    """Transferred from support to sales: offered and answered in both, each operator
    credited with their own talk; the transfer counts where it was made."""
    limits = Thresholds(short_abandon_s=5, service_level_s={"support": 20, "sales": 20})
    transferred = moved("answered", Step(at(0), "queued", queue="support"),
                        Step(at(10), "answered", operator="anna"),
                        Step(at(40), "transferred", operator="anna"),
                        Step(at(41), "queued", queue="sales"),
                        Step(at(71), "answered", operator="bob"),
                        Step(at(100), "ended"))
    visits, answers = walk(transferred)
    assert visits == [QueueVisit("support", 10.0, "answered", "anna", 30.0, 1),
                      QueueVisit("sales", 30.0, "answered", "bob", 29.0, 0)]
    assert [(a.operator, a.talk_s, a.transfers, a.queue, a.wait_s) for a in answers] == [
        ("anna", 30.0, 1, "support", 10.0), ("bob", 29.0, 0, "sales", 30.0)]
    totals = calls_by_interval([transferred], limits)
    support, sales = totals[(T0, "queue", "support")], totals[(T0, "queue", "sales")]
    assert (support["offered"], support["answered"], support["transfers"],
            support["answered_within"]) == (1, 1, 1, 1)
    assert (sales["offered"], sales["answered"], sales.get("transfers"),
            sales.get("answered_within"), sales["wait_answered_s"]) == (1, 1, None, None, 30.0)
    assert totals[(T0, "operator", "anna")]["talk_s"] == 30.0
    assert totals[(T0, "operator", "bob")]["talk_s"] == 29.0
    assert totals[(T0, "number", "600")]["offered"] == 1  # a whole call, once


def test_an_overflowed_call_is_abandoned_where_its_wait_ended() -> None:
    """Overflowed from support to sales: offered in both, overflowed out of support,
    abandoned in sales after the whole wait (the caller waited all along)."""
    limits = Thresholds(short_abandon_s=5, service_level_s={"support": 20, "sales": 20})
    overflowed = moved("abandoned", Step(at(0), "queued", queue="support"),
                       Step(at(30), "overflowed", to="queue", target="sales"),
                       Step(at(33), "ended"), ended=33.0)._replace(answered_at=None)
    visits, answers = walk(overflowed)
    assert visits == [QueueVisit("support", 30.0, "overflowed"),
                      QueueVisit("sales", 33.0, "abandoned")]
    assert answers == []
    totals = calls_by_interval([overflowed], limits)
    assert totals[(T0, "queue", "support")] == {"calls": 1, "inbound": 1, "offered": 1,
                                                "overflowed": 1}
    sales = totals[(T0, "queue", "sales")]
    assert (sales["offered"], sales["abandoned"], sales.get("abandoned_short"),
            sales.get("abandoned_within"), sales["wait_abandoned_s"]) == (1, 1, None, None, 33.0)
    # the calls behind a figure: as many lines as it counts
    assert len(behind(overflowed, "offered", limits, "queue")) == 2
    assert [row.queue for row in behind(overflowed, "abandoned", limits, "queue",
                                        ["sales"])] == ["sales"]
    assert behind(overflowed, "abandoned", limits, "queue", ["support"]) == []


def test_a_record_without_its_timeline_counts_as_before() -> None:
    limits = Thresholds(short_abandon_s=5, service_level_s={"sales": 20})
    plain = moved("answered")
    visits, answers = walk(plain)
    assert visits == [QueueVisit("sales", 10.0, "answered", "bob", 90.0, 0)]
    assert [(a.operator, a.talk_s) for a in answers] == [("bob", 90.0)]
    assert calls_by_interval([plain], limits)[(T0, "queue", "sales")]["answered"] == 1


def test_a_wrap_up_of_a_queues_call_adds_to_that_queue() -> None:
    """Its seconds, in the interval it began in; none without a queue or a length."""
    log = [StateEntry("anna", "on_call", "", at(0)),
           StateEntry("anna", "wrap_up", "", T0 + timedelta(minutes=14, seconds=50),
                      "support", "c1"),
           StateEntry("anna", "ready", "", T0 + timedelta(minutes=15, seconds=20)),
           StateEntry("anna", "wrap_up", "", T0 + timedelta(minutes=20), "sales", "c2"),
           StateEntry("anna", "ready", "", T0 + timedelta(minutes=20)),
           StateEntry("anna", "wrap_up", "", T0 + timedelta(minutes=21)),
           StateEntry("anna", "ready", "", T0 + timedelta(minutes=22))]
    totals = wrap_up_by_interval(state_segments(log))
    assert totals == {(T0, "queue", "support"): {"wrap_up_s": 30.0}}
    assert call_figures({"offered": 1, "answered": 1, "talk_s": 60.0,
                         "wrap_up_s": 30.0})["aht_s"] == 90.0
