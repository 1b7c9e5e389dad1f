"""Outbound work through the ACD: the dialer's reservations never collide with inbound calls."""

from __future__ import annotations

import pytest

from parley import events as ev
from parley.acd.agent import AcdError, Agent
from parley.acd.config import QueueConfig, SiteConfig
from parley.testing.acd import AcdHarness


def make(*ids: str, wrap: float = 0.0, site: SiteConfig | None = None) -> AcdHarness:
    queue = QueueConfig("q", skills={"q": 1}, wrap_up_s=wrap, ring_timeout_s=15.0)
    return AcdHarness([queue], [Agent(a, skills={"q": 5}) for a in ids], site=site)


def changes(h: AcdHarness, caused: list[object]) -> list[tuple[str, str, str, str]]:
    return [(c.agent_id, c.old, c.new, c.cause) for c in h.of(ev.AgentStateChanged, caused)]


def test_a_reserved_operator_is_never_offered_an_inbound_call() -> None:
    h = make("a", "b")
    h.login("a", "b")
    caused = h.send(ev.ReserveForOutbound("a", "spring", "att1"))
    assert changes(h, caused) == [("a", "ready", "reserved", "outbound reserve")]
    assert h.of(ev.AgentStateChanged, caused)[0].call_id == "att1"
    # Two inbound calls arrive: b takes the first, the second waits; a is never offered one.
    h.send(ev.RouteCall("c1", "q"), ev.RouteCall("c2", "q"))
    assert h.offered_to("c1") == ["b"]
    assert h.offered_to("c2") == []
    assert h.acd.position("c2") == 1
    # The outbound conversation and its wrap-up keep a away from the waiting caller too.
    h.send(ev.OutboundConnected("a", "att1", "spring", wrap_up_s=30.0))
    assert h.state("a") == "on_call"
    h.advance(100)
    h.send(ev.AgentLegEnded("att1", "a"))
    assert h.state("a") == "wrap_up"
    h.advance(29)
    assert h.offered_to("c2") == []
    # When a is ready again, the waiting inbound caller comes first.
    caused = h.advance(1)
    assert h.of(ev.OfferCall, caused) == [ev.OfferCall("c2", "a", "sip:a@desk", 15.0)]
    stats = h.acd.agent_snapshot("a", h.now)
    assert stats.answered == 1
    assert h.acd.agent_stats["a"].outbound == 1
    assert stats.aht == 130.0  # 100 s talk + 30 s wrap-up


def test_a_reservation_is_refused_unless_the_operator_is_ready_and_changes_nothing() -> None:
    h = make("a", "b", "c")
    h.login("a")
    h.login("b", ready=False)
    h.send(ev.RouteCall("c1", "q"))  # offered to a
    with pytest.raises(AcdError, match=r"agent a .*being offered inbound call c1"):
        h.send(ev.ReserveForOutbound("a", "spring", "att1"))
    with pytest.raises(AcdError, match=r"agent b .*not ready \(not_ready\)"):
        h.send(ev.ReserveForOutbound("b", "spring", "att2"))
    with pytest.raises(AcdError, match=r"agent c .*logged_out"):
        h.send(ev.ReserveForOutbound("c", "spring", "att3"))
    with pytest.raises(AcdError, match="unknown agent 'zed'"):
        h.send(ev.ReserveForOutbound("zed", "spring", "att4"))
    with pytest.raises(AcdError, match="call c1 is already in the ACD"):
        h.send(ev.AgentReady("b"), ev.ReserveForOutbound("b", "spring", "c1"))
    assert h.state("b") == "ready"
    assert h.acd.outbound == {}
    assert h.state("a") == "reserved"  # still offered c1, untouched
    assert h.acd.agents["a"].call_id == "c1"
    assert h.acd.outbound_calls == {}
    # An inbound call may not take the id of an outbound one either.
    with pytest.raises(AcdError, match="call att5 is already in the ACD"):
        h.send(ev.ReserveForOutbound("b", "spring", "att5"), ev.RouteCall("att5", "q"))
    h.send(ev.OutboundReleased("b"))
    # A second dial for an operator already reserved is refused as well.
    h.send(ev.ReserveForOutbound("b", "spring", "att5"))
    with pytest.raises(AcdError, match="reserved for outbound call att5"):
        h.send(ev.ReserveForOutbound("b", "autumn", "att6"))
    with pytest.raises(AcdError, match="cannot take outbound call att6"):
        h.send(ev.OutboundConnected("b", "att6"))


def test_release_returns_to_ready_and_the_operator_takes_waiting_inbound_at_once() -> None:
    h = make("a")
    h.login("a")
    h.send(ev.ReserveForOutbound("a", "spring", "att1"))
    h.send(ev.RouteCall("c1", "q"))
    assert h.acd.position("c1") == 1
    caused = h.send(ev.OutboundReleased("a"))
    assert changes(h, caused) == [("a", "reserved", "ready", "outbound released"),
                                  ("a", "ready", "reserved", "offer")]
    assert h.of(ev.OfferCall, caused)[0].call_id == "c1"
    # A late release (the reservation is long gone) changes nothing.
    assert h.send(ev.OutboundReleased("a")) == []
    assert h.state("a") == "reserved"
    assert h.acd.agents["a"].call_id == "c1"


def test_release_honours_a_not_ready_asked_for_during_the_reservation() -> None:
    h = make("a")
    h.login("a")
    h.send(ev.ReserveForOutbound("a", "spring", "att1"))
    h.send(ev.AgentNotReady("a", "lunch"))
    assert h.state("a") == "reserved"
    h.send(ev.OutboundReleased("a", "att1"))
    assert h.state("a") == "not_ready"
    assert h.acd.agents["a"].reason == "lunch"


def test_predictive_connect_from_ready_hold_and_wrap_up_until_the_disposition() -> None:
    h = make("a")
    h.login("a")
    caused = h.send(ev.OutboundConnected("a", "att9", "spring"))
    assert changes(h, caused) == [("a", "ready", "reserved", "outbound reserve"),
                                  ("a", "reserved", "on_call", "outbound connected")]
    h.send(ev.CallHeld("att9"))
    assert h.state("a") == "on_hold"
    h.send(ev.CallResumed("att9"))
    h.send(ev.AgentLegEnded("att9", "a"))
    h.advance(600)  # no wrap-up time given: after-call work lasts until the disposition
    assert h.state("a") == "wrap_up"
    h.send(ev.WrapUpDone("a", "ready"))
    assert h.state("a") == "ready"
    assert h.acd.outbound == {}


def test_an_operator_who_never_takes_the_campaign_call_is_freed_with_a_miss_not_a_call() -> None:
    h = make("a", "b", wrap=30.0)
    h.login("a", "b")
    h.send(ev.ReserveForOutbound("a", "spring", "att1"))
    h.send(ev.OutboundConnected("a", "att1", "spring", wrap_up_s=30.0))
    h.send(ev.RouteCall("c1", "q"))  # b takes it; c2 waits
    h.send(ev.RouteCall("c2", "q"))
    h.advance(20)  # a's phone rings out
    assert h.send(ev.OutboundMissed("a", "other")) == []  # not a's call: nothing happens
    caused = h.send(ev.OutboundMissed("a", "att1", "not answered"))
    # No wrap-up for a conversation that never took place: a is ready and takes c2.
    assert changes(h, caused) == [("a", "on_call", "ready", "outbound not answered"),
                                  ("a", "ready", "reserved", "offer")]
    assert h.of(ev.OfferCall, caused)[0].call_id == "c2"
    stats = h.acd.agent_stats["a"]
    assert (stats.answered, stats.outbound, stats.missed, stats.handled) == (0, 0, 1, 0)
    assert h.acd.agents["a"].calls_taken == 0
    assert h.acd.outbound == {}
    assert h.send(ev.OutboundMissed("a", "att1")) == []  # told twice: nothing more


def test_campaign_calls_missed_in_a_row_make_the_operator_not_ready() -> None:
    h = make("a", site=SiteConfig(missed_call_limit=2))
    h.login("a")
    h.send(ev.OutboundConnected("a", "att1", "spring"))
    h.send(ev.OutboundMissed("a", "att1"))
    assert h.state("a") == "ready"
    # The customer had hung up before the phone was answered: not the operator's miss.
    h.send(ev.OutboundConnected("a", "att2", "spring"))
    h.send(ev.OutboundMissed("a", "att2", "customer hung up", counted=False))
    assert h.state("a") == "ready"
    h.send(ev.OutboundConnected("a", "att3", "spring"))
    caused = h.send(ev.OutboundMissed("a", "att3"))
    assert changes(h, caused) == [("a", "on_call", "not_ready", "outbound not answered")]
    assert h.acd.agents["a"].reason == "missed call"
    assert h.acd.agent_stats["a"].missed == 2


def test_a_failed_dial_ends_the_reservation_through_the_leg_end() -> None:
    h = make("a")
    h.login("a")
    h.send(ev.ReserveForOutbound("a", "spring", "att1"))
    h.send(ev.AgentLegEnded("other", "a"))  # not this operator's leg: nothing happens
    assert h.state("a") == "reserved"
    caused = h.send(ev.AgentLegEnded("att1", "a"))
    assert changes(h, caused) == [("a", "reserved", "ready", "outbound leg ended")]


def test_the_watchdog_frees_outbound_work_whose_leg_is_gone() -> None:
    h = make("a", "b", "c", site=SiteConfig(watchdog_grace_s=10.0))
    h.login("a", "b", "c")
    h.send(ev.ReserveForOutbound("a", "spring", "att1"))
    h.send(ev.OutboundConnected("b", "att2", "spring"))
    h.send(ev.ReserveForOutbound("c", "spring", "att3"))
    # A fresh reservation gets the grace for its leg to appear; a conversation does not.
    caused = h.send(ev.LiveLegs(frozenset({"att3"})))
    assert changes(h, caused) == [("b", "on_call", "wrap_up", "watchdog"),
                                  ("b", "wrap_up", "ready", "wrap-up ended")]
    assert h.state("a") == "reserved"
    h.advance(10)
    caused = h.send(ev.LiveLegs(frozenset({"att3"})))
    assert changes(h, caused) == [("a", "reserved", "ready", "watchdog")]
    assert h.state("c") == "reserved"
    assert set(h.acd.outbound) == {"c"}


def test_outbound_first_keeps_inbound_away_for_the_campaigns_hold_only() -> None:
    h = make("a")
    h.login("a")
    h.send(ev.ReserveForOutbound("a", "spring", "att1", outbound_first_s=5.0))
    h.send(ev.RouteCall("c1", "q"))
    h.send(ev.OutboundConnected("a", "att1"), ev.AgentLegEnded("att1", "a"))
    h.send(ev.WrapUpDone("a"))
    assert h.state("a") == "ready"
    assert h.offered_to("c1") == []
    h.advance(4)
    # Within the hold the campaign may reserve the operator again...
    h.send(ev.ReserveForOutbound("a", "spring", "att2"))
    h.send(ev.OutboundReleased("a"))
    # ...and with no hold on this reservation, inbound comes first once more.
    assert h.offered_to("c1") == ["a"]


def test_outbound_first_hold_ends_with_inbound_offered() -> None:
    h = make("a")
    h.login("a")
    h.send(ev.ReserveForOutbound("a", "spring", "att1", outbound_first_s=5.0))
    h.send(ev.RouteCall("c1", "q"))
    h.send(ev.OutboundReleased("a"))
    h.advance(4.9)
    assert h.offered_to("c1") == []
    h.advance(0.1)
    assert h.offered_to("c1") == ["a"]


def test_a_campaign_conversation_carried_over_keeps_its_operator_busy_until_the_wrap_up(
        ) -> None:
    h = make("a", "b")
    h.login("b")
    # the other node had connected campaign call att7 to a; here a is not logged in yet
    caused = h.send(ev.OutboundCarried("a", "sip:a@desk", "att7", "spring", wrap_up_s=10.0,
                                       talked=30.0))
    assert [(c.old, c.new, c.cause) for c in h.of(ev.AgentStateChanged, caused)] == [
        ("logged_out", "ready", "carried over"), ("ready", "reserved", "carried over"),
        ("reserved", "on_call", "carried over")]
    # an inbound caller goes to the free operator; the dialer cannot reserve the busy one
    assert h.of(ev.OfferCall, h.send(ev.RouteCall("c1", "q")))[0].agent_id == "b"
    with pytest.raises(AcdError, match=r"agent a .*on_call for outbound call att7"):
        h.send(ev.ReserveForOutbound("a", "spring", "att8"))
    h.send(ev.LiveLegs(frozenset({"att7", "c1"})))  # its legs are here: not a phantom
    assert h.state("a") == "on_call"
    h.advance(20)
    h.send(ev.AgentLegEnded("att7", "a"))
    assert h.state("a") == "wrap_up"  # the campaign's after-call work, as on the other node
    h.advance(10)
    assert h.state("a") == "ready"
    assert h.acd.agent_stats["a"].outbound == 0  # counted by the node that connected it
    assert h.acd.agent_snapshot("a", h.now).aht == 60.0  # 30 + 20 s talk, 10 s wrap-up


def test_a_campaign_conversation_carried_to_a_busy_operator_or_twice_is_refused() -> None:
    h = make("a", "b")
    h.login("a", "b")
    h.send(ev.RouteCall("c1", "q"))  # offered to a (longest idle)
    busy = h.offered_to("c1")[0]
    with pytest.raises(AcdError, match=f"operator {busy} is reserved"):
        h.send(ev.OutboundCarried(busy, f"sip:{busy}@desk", "att1", "spring"))
    free = "b" if busy == "a" else "a"
    h.send(ev.OutboundCarried(free, f"sip:{free}@desk", "att1", "spring"))
    with pytest.raises(AcdError, match="call att1 is already in the ACD"):
        h.send(ev.OutboundCarried(busy, f"sip:{busy}@desk", "att1", "spring"))
    with pytest.raises(AcdError, match="wrap_up_s must be >= 0"):
        h.send(ev.OutboundCarried(free, f"sip:{free}@desk", "att2", wrap_up_s=-1.0))
