"""Callbacks (virtual hold, scheduled), number lists, priorities, EWT and statistics."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from parley import events as ev
from parley import kpi
from parley.acd.agent import AcdError, Agent
from parley.acd.config import QueueConfig
from parley.acd.lists import NumberLists
from parley.acd.stats import expected_wait
from parley.clock import VirtualClock
from parley.testing.acd import AcdHarness


def make(*ids: str, lists: NumberLists | None = None, clock: VirtualClock | None = None,
         **queue_kw: object) -> AcdHarness:
    queue = QueueConfig("q", skills={"q": 1}, **queue_kw)  # type: ignore[arg-type]
    return AcdHarness([queue], [Agent(a, skills={"q": 5}) for a in ids], lists=lists,
                      clock=clock)


def test_virtual_hold_keeps_the_place_and_dials_back_with_a_reserved_operator() -> None:
    h = make("a")
    h.login("a", ready=False)
    h.send(ev.RouteCall("c1", "q"), ev.RouteCall("c2", "q", caller="+4930111"),
           ev.RouteCall("c3", "q"))
    h.send(ev.RequestCallback("c2", "+4930999"))
    h.send(ev.CallerHangup("c2"))
    assert h.acd.position("c3") == 3  # the callback still holds place 2
    h.send(ev.AgentReady("a"))
    assert h.offered_to("c1") == ["a"]
    h.answer("c1", "a")
    h.send(ev.CallerHangup("c1"))
    dial = h.of(ev.DialCallback, h.out)
    assert dial == [ev.DialCallback("c2", "a", "sip:a@desk", "+4930999", "q")]
    assert h.state("a") == "reserved"
    h.send(ev.CallbackResult("c2", connected=True))
    assert h.state("a") == "on_call"
    h.send(ev.CallerHangup("c2"))
    assert h.offered_to("c3") == ["a"]


def test_scheduled_callback_at_the_customers_local_time_with_retries() -> None:
    clock = VirtualClock(wall_epoch=datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    h = make("a", clock=clock)
    h.login("a")
    tokyo = ZoneInfo("Asia/Tokyo")  # UTC+9
    at = datetime(2026, 3, 2, 22, 0, tzinfo=tokyo)  # 13:00 UTC, one hour from now
    h.send(ev.ScheduleCallback("cb1", "q", "+81312345678", at, attempts=2,
                               retry_after_s=900))
    assert h.of(ev.DialCallback, h.advance(3599)) == []
    dial = h.of(ev.DialCallback, h.advance(1))
    assert [d.number for d in dial] == ["+81312345678"]
    h.send(ev.CallbackResult("cb1", connected=False))
    assert h.state("a") == "ready"
    assert h.of(ev.DialCallback, h.advance(899)) == []
    assert len(h.of(ev.DialCallback, h.advance(1))) == 1  # second attempt, 15 min later
    caused = h.send(ev.CallbackResult("cb1", connected=False))
    assert h.of(ev.CallbackExpired, caused) == [
        ev.CallbackExpired("cb1", "q", "no answer after 2 attempts")]
    assert "cb1" not in h.acd.calls


def test_scheduled_callback_expires_if_nobody_takes_it_in_time() -> None:
    h = make("a")
    h.login("a", ready=False)
    start = h.wall(h.now)
    h.send(ev.ScheduleCallback("cb1", "q", "555", start.replace(minute=10),
                               expires_at=start.replace(minute=40)))
    h.advance(10 * 60)
    assert h.acd.position("cb1") == 1
    caused = h.advance(30 * 60)
    assert h.of(ev.CallbackExpired, caused) == [ev.CallbackExpired("cb1", "q", "expired")]
    with pytest.raises(AcdError, match="needs a time zone"):
        h.send(ev.ScheduleCallback("cb2", "q", "555", datetime(2026, 1, 5, 9, 0)))


def test_callback_whose_operator_never_reports_is_freed_by_the_watchdog_timer() -> None:
    h = make("a", ring_timeout_s=10.0)
    h.login("a")
    h.send(ev.ScheduleCallback("cb1", "q", "555", h.wall(h.now), attempts=1))
    h.advance(0)
    assert h.state("a") == "reserved"
    h.advance(30)  # 2 x ring timeout + grace
    assert h.state("a") == "ready"
    assert [e.callback_id for e in h.of(ev.CallbackExpired, h.out)] == ["cb1"]


def test_a_cancelled_callback_leaves_the_line_and_frees_the_operator_rung_for_it() -> None:
    h = make("a", "b")
    h.login("a", ready=False)
    h.login("b", ready=False)
    h.send(ev.ScheduleCallback("cb1", "q", "555", h.wall(h.now)),
           ev.ScheduleCallback("cb2", "q", "556", h.wall(h.now)))
    h.advance(0)
    assert h.acd.position("cb1") == 1
    caused = h.send(ev.CancelCallback("cb1"))  # waiting: it simply leaves the line
    assert h.of(ev.CallbackExpired, caused) == [ev.CallbackExpired("cb1", "q", "cancelled")]
    assert h.acd.position("cb2") == 1
    h.send(ev.AgentReady("a"))
    assert h.state("a") == "reserved"  # being called back for cb2
    caused = h.send(ev.CancelCallback("cb2"))  # while the operator is rung: freed at once
    assert h.of(ev.CancelOffer, caused) == [ev.CancelOffer("cb2", "a")]
    assert h.state("a") == "ready"
    assert h.send(ev.CancelCallback("cb2")) == []  # twice, or unknown: nothing happens
    assert h.send(ev.CancelCallback("nope")) == []


def test_blacklist_gets_its_treatment_and_vip_jumps_the_line() -> None:
    lists = NumberLists()
    lists.block("+1 555 0100", "flow:blocked")
    lists.add_vip("+15550199", priority=10)
    lists.tag("debtors", "+15550142")
    h = make("a", lists=lists)
    caused = h.send(ev.RouteCall("spam", "q", caller="+15550100"))
    assert h.of(ev.RejectCall, caused) == [ev.RejectCall("spam", "flow:blocked", "blacklist")]
    assert "spam" not in h.acd.calls
    h.login("a", ready=False)
    h.send(ev.RouteCall("c1", "q", caller="+15550001"),
           ev.RouteCall("vip", "q", caller="+1 (555) 0199"))
    assert h.acd.position("vip") == 1
    h.send(ev.AgentReady("a"))
    assert h.offered_to("vip") == ["a"]
    assert lists.tags("+15550142") == frozenset({"debtors"})
    assert lists.match("+15550142").tags == frozenset({"debtors"})
    assert lists.tags("+15550001") == frozenset()


def test_an_operator_in_several_queues_takes_the_best_caller_across_them() -> None:
    queues = [QueueConfig("sales", skills={"sales": 1}),
              QueueConfig("support", skills={"support": 1}),
              QueueConfig("gold", skills={"gold": 1}, priority=5)]
    both = Agent("a", skills={"sales": 5, "support": 5, "gold": 5})
    h = AcdHarness(queues, [both])
    h.login("a", ready=False)
    h.send(ev.RouteCall("s1", "sales"))
    h.advance(1)
    h.send(ev.RouteCall("t1", "support"))
    h.advance(1)
    h.send(ev.RouteCall("t2", "support", priority=3))
    h.advance(1)
    h.send(ev.RouteCall("g1", "gold"))
    order = []
    h.send(ev.AgentReady("a"))
    for _ in range(4):
        call = h.of(ev.OfferCall, h.out)[-1].call_id
        order.append(call)
        h.answer(call, "a")
        h.send(ev.CallerHangup(call))
    assert order == ["g1", "t2", "s1", "t1"]


def test_position_and_expected_wait_per_caller() -> None:
    h = make("a", "b")
    h.login("a", "b")
    for i in range(2):  # two calls of 120 s teach the queue its handle time
        h.send(ev.RouteCall(f"warm{i}", "q"))
    for i in range(2):
        h.answer(f"warm{i}", h.offered_to(f"warm{i}")[0])
    h.advance(120)
    for i in range(2):
        h.send(ev.CallerHangup(f"warm{i}"))
    for i in range(2):  # both operators busy again
        h.send(ev.RouteCall(f"busy{i}", "q"))
        h.answer(f"busy{i}", h.offered_to(f"busy{i}")[0])
    queued = [h.of(ev.CallQueued, h.send(ev.RouteCall(f"w{i}", "q")))[0] for i in range(3)]
    assert [q.position for q in queued] == [1, 2, 3]
    # state estimate p * 120 / 2, blended half and half with recent waits of 0 s
    assert [q.expected_wait for q in queued] == [30.0, 60.0, 90.0]
    assert h.acd.expected_wait("w2", h.now) == 90.0
    assert h.acd.position("busy0") is None


def test_expected_wait_estimator_blends_state_and_history() -> None:
    assert expected_wait(3, 2, 100.0, None, 0, 0.5) == 150.0
    assert expected_wait(3, 2, 100.0, 60.0, 20.0, 0.5) == pytest.approx(0.5 * 150 + 0.5 * 40)
    assert expected_wait(1, 0, 100.0, 60.0, 70.0, 0.5) == 0.0
    assert expected_wait(1, 0, None, None, 0.0, 0.5) == 0.0


def test_real_time_statistics_per_queue_and_operator() -> None:
    h = make("a", sl_threshold_s=20.0, wrap_up_s=10.0)
    h.login("a", ready=False)
    h.send(ev.RouteCall("fast", "q"), ev.RouteCall("slow", "q"),
           ev.RouteCall("quit_early", "q"), ev.RouteCall("quit_late", "q"))
    h.advance(5)
    h.send(ev.CallerHangup("quit_early"))  # abandoned within 20 s
    h.advance(5)
    h.send(ev.AgentReady("a"))  # 'fast' is offered after 10 s
    h.answer("fast", "a")
    snap = h.acd.queue_snapshot("q", h.now)
    assert snap.waiting == 2
    assert snap.longest_wait == 10.0
    h.advance(50)
    h.send(ev.CallerHangup("fast"))
    h.advance(10)  # wrap-up ends; 'slow' is offered after 70 s
    h.answer("slow", "a")
    h.send(ev.CallerHangup("quit_late"))  # abandoned after 70 s
    h.advance(30)
    h.send(ev.AgentLegEnded("slow", "a"))
    h.advance(10)
    snap = h.acd.queue_snapshot("q", h.now)
    assert (snap.offered, snap.answered, snap.abandoned, snap.waiting) == (4, 2, 2, 0)
    assert snap.asa == 40.0  # (10 + 70) / 2
    assert snap.aht == 50.0  # (50 + 10 + 30 + 10) / 2
    assert snap.service_level == 0.5  # 1 of 2 answered within 20 s
    assert snap.service_level_abandons == 0.5  # (1 answered + 1 abandoned in 20 s) / 4
    agent = h.acd.agent_snapshot("a", h.now)
    assert (agent.offered, agent.answered, agent.missed) == (2, 2, 0)
    assert agent.occupancy == 1.0  # never idle while ready: every ready second went to work
    assert snap.occupancy == 1.0


def test_queue_figures_by_every_named_definition() -> None:
    """A wrong-number hang-up after 3 s is a short abandon (queue ``short_abandon_s``): the
    definitions that leave short abandons out do not hold it against the queue."""
    h = make("a", sl_threshold_s=20.0, short_abandon_s=5.0)
    h.login("a", ready=False)
    h.send(ev.RouteCall("answered", "q"), ev.RouteCall("wrong_number", "q"),
           ev.RouteCall("gave_up", "q"), ev.RouteCall("still_waiting", "q"))
    h.advance(3)
    h.send(ev.CallerHangup("wrong_number"))
    h.advance(27)
    h.send(ev.CallerHangup("gave_up"))  # after 30 s: beyond T
    h.send(ev.AgentReady("a"))
    h.answer("answered", "a")  # after 30 s
    stats = h.acd.queues["q"].stats
    assert (stats.offered, stats.answered, stats.abandoned, stats.short_abandons) == (4, 1, 2, 1)
    assert stats.abandon_rate == pytest.approx(2 / 3)  # the live figure: AbandonRate.FINISHED
    assert stats.abandon_rate_by(kpi.AbandonRate.OFFERED) == 0.5
    assert stats.abandon_rate_by(kpi.AbandonRate.FINISHED_LESS_SHORT_ABANDONS) == 0.5
    assert stats.abandon_rate_by(kpi.AbandonRate.OFFERED_LESS_SHORT_ABANDONS) == \
        pytest.approx(1 / 3)
    assert stats.service_level == 0.0  # ServiceLevel.ANSWERED: the one answer came late
    assert stats.service_level_abandons == pytest.approx(1 / 3)  # the short abandon was "met"
    assert stats.service_level_by(kpi.ServiceLevel.ABANDONS_WITHIN_T_EXCLUDED) == 0.0


def test_occupancy_counts_ready_time_as_idle() -> None:
    h = make("a")
    h.login("a")
    h.advance(30)
    h.send(ev.RouteCall("c1", "q"))
    h.answer("c1", "a")
    h.advance(90)
    h.send(ev.CallerHangup("c1"))
    assert h.acd.agent_snapshot("a", h.now).occupancy == 0.75



def test_an_offer_that_found_the_caller_gone_is_not_counted_as_offered() -> None:
    """The shell finds the caller gone as it is about to ring the operator's phone: the
    caller abandoned, and the operator, never rung, was not offered the call; one whose
    phone rang when the caller left was."""
    h = make("a", "b")
    h.login("a")
    h.send(ev.RouteCall("c1", "q"))
    assert h.offered_to("c1") == ["a"]
    h.send(ev.CallerHangup("c1", unrung="a"))
    assert h.state("a") == "ready"
    stats = h.acd.agent_stats["a"]
    assert (stats.offered, stats.missed) == (0, 0)
    assert h.acd.queue_snapshot("q", h.now).abandoned == 1
    h.send(ev.RouteCall("c2", "q"))
    h.send(ev.AgentRinging("c2", "a"), ev.CallerHangup("c2"))
    assert (stats.offered, stats.missed) == (1, 0)
