"""Limits and overflow: no operators, waits, expected waits, lengths, opening hours."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley import events as ev
from parley.acd.agent import AcdError, Agent
from parley.acd.config import (
    Condition,
    OverflowRule,
    QueueConfig,
    Target,
    TargetKind,
    queue_from_mapping,
)
from parley.acd.schedule import ScheduleError, WeeklySchedule
from parley.clock import VirtualClock
from parley.testing.acd import AcdHarness

VOICEMAIL = Target(TargetKind.VOICEMAIL, "sales-box")


def rule(condition: Condition, threshold: float = 0, target: Target = VOICEMAIL) -> OverflowRule:
    return OverflowRule(condition, target, threshold)


def make(*rules: OverflowRule, agents: tuple[str, ...] = ("a",), **kw: object) -> AcdHarness:
    queues = [QueueConfig("sales", skills={"sales": 1}, overflow=rules, **kw),  # type: ignore[arg-type]
              QueueConfig("backup", skills={"backup": 1})]
    people = [Agent(a, skills={"sales": 5}) for a in agents] + [Agent("z", skills={"backup": 5})]
    return AcdHarness(queues, people)


def overflows(caused: list[object]) -> list[tuple[str, str, str]]:
    return [(o.target_kind, o.target, o.reason) for o in AcdHarness.of(ev.Overflow, caused)]


def test_no_operator_logged_in_overflows_at_once() -> None:
    h = make(rule(Condition.NO_AGENTS))
    assert overflows(h.send(ev.RouteCall("c1", "sales"))) == [
        ("voicemail", "sales-box", "no agents")]
    assert h.acd.calls == {}
    h.login("a", ready=False)  # logged in, even if not ready: callers wait
    assert overflows(h.send(ev.RouteCall("c2", "sales"))) == []


def test_last_operator_logging_out_overflows_the_waiting_callers() -> None:
    h = make(rule(Condition.NO_AGENTS))
    h.login("a", ready=False)
    h.send(ev.RouteCall("c1", "sales"), ev.RouteCall("c2", "sales"))
    caused = h.send(ev.AgentLogout("a"))
    assert [o.call_id for o in h.of(ev.Overflow, caused)] == ["c1", "c2"]


def test_wait_longer_than_n_overflows_by_timer() -> None:
    h = make(rule(Condition.WAIT, 45))
    h.login("a", ready=False)
    h.send(ev.RouteCall("c1", "sales"))
    assert overflows(h.advance(44.9)) == []
    assert overflows(h.advance(0.1)) == [("voicemail", "sales-box", "wait")]
    assert h.acd.queue_snapshot("sales", h.now).overflowed == 1


def test_max_wait_and_max_length_use_the_overflow_target() -> None:
    h = make(max_wait_s=30.0, max_length=2,
             overflow_target=Target(TargetKind.FLOW, "sorry"))
    h.login("a", ready=False)
    h.send(ev.RouteCall("c1", "sales"), ev.RouteCall("c2", "sales"))
    assert overflows(h.send(ev.RouteCall("c3", "sales"))) == [("flow", "sorry", "max length")]
    assert overflows(h.advance(30)) == [("flow", "sorry", "max wait")] * 2


def test_queue_longer_than_n_overflows_to_another_queue_which_routes_it() -> None:
    h = make(rule(Condition.LENGTH, 1, Target(TargetKind.QUEUE, "backup")))
    h.login("a", ready=False)
    h.login("z")
    h.send(ev.RouteCall("c1", "sales"))
    caused = h.send(ev.RouteCall("c2", "sales"))
    assert overflows(caused) == [("queue", "backup", "length")]
    assert h.offered_to("c2") == ["z"]
    assert h.acd.calls["c2"].queue == "backup"


def test_expected_wait_longer_than_n_overflows_on_arrival() -> None:
    h = make(rule(Condition.EXPECTED_WAIT, 100))
    h.login("a")
    h.send(ev.RouteCall("c1", "sales"))
    h.answer("c1", "a")
    h.advance(300)
    h.send(ev.CallerHangup("c1"))  # recent handle time 300 s, one serving operator
    h.send(ev.AgentNotReady("a", "break"))
    h.send(ev.AgentReady("a"))
    h.send(ev.RouteCall("c2", "sales"))
    h.answer("c2", "a")
    caused = h.send(ev.RouteCall("c3", "sales"))
    assert overflows(caused) == [("voicemail", "sales-box", "expected wait")]


def test_overflow_to_callback_keeps_the_place_and_dials_when_the_turn_comes() -> None:
    h = make(rule(Condition.WAIT, 20, Target(TargetKind.CALLBACK)))
    h.login("a", ready=False)
    h.send(ev.RouteCall("c1", "sales", caller="+15551230000"))
    h.advance(5)
    h.send(ev.RouteCall("c2", "sales"))
    assert overflows(h.advance(15)) == [("callback", "", "wait")]
    h.send(ev.CallerHangup("c1"))  # the shell tells the caller and hangs up: no abandon
    assert h.of(ev.CallAbandoned, h.out) == []
    caused = h.send(ev.AgentReady("a"))
    assert h.of(ev.DialCallback, caused) == [
        ev.DialCallback("c1", "a", "sip:a@desk", "+15551230000", "sales")]


PARIS_HOURS = {"timezone": "Europe/Paris", "mon": ["09:00-12:00", "14:00-18:00"],
               "tue": ["09:00-18:00"], "holidays": ["2026-01-06"]}


def test_weekly_schedule_in_the_site_time_zone_with_holidays() -> None:
    hours = WeeklySchedule.from_mapping(PARIS_HOURS)
    # 2026-01-05 is a Monday; Paris is UTC+1 in January.
    assert hours.is_open(datetime(2026, 1, 5, 8, 30, tzinfo=UTC))  # 09:30 Paris
    assert not hours.is_open(datetime(2026, 1, 5, 7, 30, tzinfo=UTC))  # 08:30 Paris
    assert not hours.is_open(datetime(2026, 1, 5, 11, 30, tzinfo=UTC))  # lunch
    assert not hours.is_open(datetime(2026, 1, 6, 10, 0, tzinfo=UTC))  # holiday Tuesday
    assert hours.is_open(datetime(2026, 1, 13, 16, 59, tzinfo=UTC))  # next Tuesday 17:59
    assert not hours.is_open(datetime(2026, 1, 10, 10, 0, tzinfo=UTC))  # Saturday
    # Summer time: 09:00 Paris is 07:00 UTC in July (a Monday).
    assert hours.is_open(datetime(2026, 7, 6, 7, 0, tzinfo=UTC))


def test_outside_opening_hours_overflows() -> None:
    queue = queue_from_mapping({"name": "sales", "skills": {"sales": 1}, "hours": PARIS_HOURS,
                                "overflow": [{"when": "closed", "target": "flow:closed"}]})
    clock = VirtualClock(wall_epoch=datetime(2026, 1, 5, 7, 0, tzinfo=UTC))  # 08:00 Paris
    h = AcdHarness([queue], [Agent("a", skills={"sales": 3})], clock=clock)
    h.login("a", ready=False)
    assert overflows(h.send(ev.RouteCall("c1", "sales"))) == [("flow", "closed", "closed")]
    h.advance(3600)  # 09:00 Paris
    assert overflows(h.send(ev.RouteCall("c2", "sales"))) == []


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "q", "strategy": "fastest"}, "queue q.strategy: unknown 'fastest'"),
    ({"name": "q", "skills": {"x": 12}}, "queue q.skills.x: level must be 1-10"),
    ({"name": "q", "overflow": [{"when": "soon", "target": "voicemail"}]},
     r"queue q.overflow\[0\].when: unknown 'soon'"),
    ({"name": "q", "overflow": [{"when": "wait", "target": "mars:x"}]},
     r"queue q.overflow\[0\].target: unknown target 'mars:x'"),
    ({"name": "q", "ring_timeout_s": "long"}, "queue q.ring_timeout_s: expected float"),
    ({"name": "q", "colour": "red"}, "queue q: unknown field"),
    ({"skills": {}}, "queue.name: required"),
])
def test_bad_queue_settings_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(AcdError, match=message):
        queue_from_mapping(data)


@pytest.mark.parametrize(("data", "message"), [
    ({"timezone": "Mars/Olympus"}, "hours.timezone: unknown time zone"),
    ({"mon": ["9-17"]}, r"hours.mon\[0\]: expected HH:MM"),
    ({"mon": ["18:00-09:00"]}, r"hours.mon\[0\]: closes before it opens"),
    ({"holidays": ["Christmas"]}, r"hours.holidays\[0\]: expected YYYY-MM-DD"),
])
def test_bad_schedules_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        WeeklySchedule.from_mapping(data)


def test_expected_wait_counts_the_callers_real_place_in_line() -> None:
    h = make(rule(Condition.EXPECTED_WAIT, 250))
    h.login("a")
    h.send(ev.RouteCall("c1", "sales"))
    h.answer("c1", "a")
    h.advance(200)
    h.send(ev.CallerHangup("c1"))  # handle time 200 s, one operator serving
    h.send(ev.RouteCall("c2", "sales"))
    h.answer("c2", "a")
    h.send(ev.RouteCall("w1", "sales"))  # place 1: 0.5 x 200 + 0.5 x 0 = 100 s
    h.send(ev.RouteCall("w2", "sales"))  # place 2: 200 s
    assert overflows(h.send(ev.RouteCall("w3", "sales"))) == [
        ("voicemail", "sales-box", "expected wait")]  # place 3: 300 s
    assert overflows(h.send(ev.RouteCall("vip", "sales", priority=5))) == []  # place 1
    assert h.acd.position("vip") == 1


def test_a_call_carried_over_keeps_its_place_ahead_of_calls_that_came_later() -> None:
    h = make(rule(Condition.NO_AGENTS))
    h.login("a", ready=False)
    h.send(ev.RouteCall("new", "sales"))
    h.advance(5)
    # carried from the other node of a cluster, where it had waited 20 s: first in line
    h.send(ev.RouteCall("carried", "sales", waited=20.0))
    assert h.acd.position("carried") == 1
    assert h.acd.position("new") == 2
    h.send(ev.AgentReady("a"))
    assert h.offered_to("carried") == ["a"]
    assert h.offered_to("new") == []


def test_a_call_carried_over_is_not_turned_away_by_the_arrival_rules_again() -> None:
    # right after a takeover no operator may be logged in yet, and the line may be full:
    # the caller was admitted on the other node and stays queued
    h = make(rule(Condition.NO_AGENTS), max_length=1, max_wait_s=60.0)
    assert overflows(h.send(ev.RouteCall("c1", "sales", waited=10.0))) == []
    assert overflows(h.send(ev.RouteCall("c2", "sales", waited=5.0))) == []
    assert h.acd.position("c1") == 1
    assert overflows(h.send(ev.RouteCall("c3", "sales"))) == [
        ("voicemail", "sales-box", "no agents")]  # a new call meets the rules
    # the maximum wait counts the time waited on the other node
    assert overflows(h.advance(49.9)) == []
    assert [o.call_id for o in h.of(ev.Overflow, h.advance(0.1))] == ["c1"]
    assert [o.call_id for o in h.of(ev.Overflow, h.advance(5))] == ["c2"]
