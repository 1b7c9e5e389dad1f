"""A call's life in the ACD: offer, answer, hold, wrap-up, redirect on no answer, watchdog."""

from __future__ import annotations

import pytest

from parley import events as ev
from parley.acd.agent import AcdError, Agent, InvalidTransition
from parley.acd.config import QueueConfig, SiteConfig
from parley.testing.acd import AcdHarness


def make(*ids: str, wrap: float = 0.0, ring: float = 15.0, site: SiteConfig | None = None,
         **agent_kw: object) -> AcdHarness:
    queue = QueueConfig("q", skills={"q": 1}, wrap_up_s=wrap, ring_timeout_s=ring)
    return AcdHarness([queue], [Agent(a, skills={"q": 5}, **agent_kw) for a in ids],  # type: ignore[arg-type]
                      site=site)


def test_offer_ring_answer_hold_hangup_and_timed_wrap_up() -> None:
    h = make("a", wrap=20)
    h.login("a")
    caused = h.send(ev.RouteCall("c1", "q", caller="+33123"))
    assert h.of(ev.OfferCall, caused) == [ev.OfferCall("c1", "a", "sip:a@desk", 15.0)]
    assert h.state("a") == "reserved"
    h.send(ev.AgentRinging("c1", "a"))
    assert h.state("a") == "ringing"
    h.advance(4)
    connected = h.of(ev.CallConnected, h.send(ev.AgentAnswered("c1", "a")))
    assert connected == [ev.CallConnected("c1", "a", "q", 4.0)]
    h.send(ev.CallHeld("c1"))
    assert h.state("a") == "on_hold"
    h.send(ev.CallResumed("c1"))
    h.advance(60)
    h.send(ev.AgentLegEnded("c1", "a"))
    assert h.state("a") == "wrap_up"
    h.advance(19.9)
    assert h.state("a") == "wrap_up"
    h.advance(0.1)
    assert h.state("a") == "ready"
    changes = h.of(ev.AgentStateChanged, h.out)
    assert [(c.old, c.new) for c in changes] == [
        ("logged_out", "ready"), ("ready", "reserved"), ("reserved", "ringing"),
        ("ringing", "on_call"), ("on_call", "on_hold"), ("on_hold", "on_call"),
        ("on_call", "wrap_up"), ("wrap_up", "ready")]
    assert changes[-1].at == 84.0
    assert changes[-2].cause == "agent hung up"
    assert all(c.call_id == "c1" for c in changes[1:7])
    snap = h.acd.queue_snapshot("q", h.now)
    assert snap.aht == 80.0  # 60 s talk + 20 s wrap-up


def test_per_operator_wrap_up_overrides_the_queue_and_can_be_extended() -> None:
    h = make("a", wrap=30, wrap_up_s=5.0)
    h.login("a")
    h.send(ev.RouteCall("c1", "q"))
    h.answer("c1", "a")
    h.send(ev.CallerHangup("c1"))
    h.advance(3)
    h.send(ev.WrapUpExtend("a", 10))
    h.advance(9)
    assert h.state("a") == "wrap_up"  # 5 s would have ended at 5; extended to 13
    h.advance(1)
    assert h.state("a") == "ready"


def test_wrap_up_ends_in_a_chosen_state() -> None:
    h = make("a", wrap=60)
    h.login("a")
    h.send(ev.RouteCall("c1", "q"))
    h.answer("c1", "a")
    h.send(ev.AgentNotReady("a", "lunch"))  # asked during the call: applies after the work
    assert h.state("a") == "on_call"
    h.send(ev.CallerHangup("c1"))
    h.advance(60)
    assert h.state("a") == "not_ready"
    assert h.acd.agents["a"].reason == "lunch"
    h.send(ev.AgentReady("a"))
    h.send(ev.RouteCall("c2", "q"))
    h.answer("c2", "a")
    h.send(ev.CallerHangup("c2"))
    h.send(ev.WrapUpDone("a", then="not_ready:training"))
    assert h.acd.agents["a"].reason == "training"


def test_invalid_moves_raise_and_change_nothing() -> None:
    h = make("a")
    with pytest.raises(InvalidTransition):
        h.send(ev.AgentReady("a"))  # not logged in
    h.login("a")
    with pytest.raises(InvalidTransition):
        h.send(ev.AgentReady("a"))  # already ready
    with pytest.raises(InvalidTransition):
        h.send(ev.WrapUpDone("a"))
    with pytest.raises(AcdError, match="unknown not-ready reason 'nap'"):
        h.send(ev.AgentNotReady("a", "nap"))
    with pytest.raises(AcdError, match="unknown queue 'nope'"):
        h.send(ev.RouteCall("c1", "nope"))
    assert h.state("a") == "ready"


def test_hot_desking_login_logout_and_one_operator_per_device() -> None:
    h = make("a", "b")
    h.send(ev.AgentLogin("a", "sip:desk-7"))
    with pytest.raises(AcdError, match="already used by agent a"):
        h.send(ev.AgentLogin("b", "sip:desk-7"))
    h.send(ev.AgentLogout("a"))
    h.send(ev.AgentLogin("b", "sip:desk-7"))
    h.send(ev.AgentLogin("a", "sip:desk-9"))
    h.send(ev.RouteCall("c1", "q"))
    offer = h.of(ev.OfferCall, h.out)[0]
    assert offer.device in ("sip:desk-7", "sip:desk-9")
    assert h.acd.devices.holder(offer.device) == offer.agent_id


def test_logout_during_a_call_takes_effect_after_the_work() -> None:
    h = make("a", wrap=10)
    h.login("a")
    h.send(ev.RouteCall("c1", "q"))
    h.answer("c1", "a")
    h.send(ev.AgentLogout("a"))
    assert h.state("a") == "on_call"
    h.send(ev.CallerHangup("c1"))
    h.advance(10)
    assert h.state("a") == "logged_out"
    assert h.acd.devices.holder("sip:a@desk") is None


def test_ring_timeout_redirects_to_the_next_operator() -> None:
    h = make("a", "b", ring=12)
    h.login("a")
    h.advance(1)
    h.login("b")
    h.send(ev.RouteCall("c1", "q"))
    assert h.offered_to("c1") == ["a"]
    h.advance(11.9)
    assert h.offered_to("c1") == ["a"]
    caused = h.advance(0.1)
    assert h.of(ev.CancelOffer, caused) == [ev.CancelOffer("c1", "a")]
    assert h.offered_to("c1") == ["a", "b"]
    assert h.state("a") == "ready"  # not punitive by default
    h.answer("c1", "b")
    assert h.acd.agent_snapshot("a", h.now).missed == 1


def test_refused_offer_also_moves_on_and_a_lone_operator_is_retried() -> None:
    h = make("a")
    h.login("a")
    h.send(ev.RouteCall("c1", "q"))
    h.send(ev.AgentLegEnded("c1", "a"))  # busy here / declined
    assert h.offered_to("c1") == ["a", "a"]
    assert h.state("a") == "reserved"


def test_after_n_misses_the_operator_goes_not_ready_missed_call() -> None:
    h = make("a", "b", ring=10, site=SiteConfig(missed_call_limit=2))
    h.login("a", "b")
    for i in range(2):
        h.send(ev.RouteCall(f"c{i}", "q"))
    # both offered at once: a gets c0, b gets c1; neither answers
    h.advance(10)
    assert h.state("a") == "reserved"  # first miss of two: offered again
    h.advance(10)
    assert h.state("a") == "not_ready"
    assert h.acd.agents["a"].reason == "missed call"
    assert h.state("b") == "not_ready"
    h.send(ev.AgentReady("a"))  # back by hand; the counter starts over
    assert h.acd.agents["a"].missed_in_row == 0


def test_watchdog_frees_an_operator_whose_call_leg_is_gone() -> None:
    h = make("a", "b")
    h.login("a", "b")
    h.send(ev.RouteCall("c1", "q"), ev.RouteCall("c2", "q"))
    h.send(ev.AgentRinging("c1", "a"))
    h.answer("c2", "b")
    caused = h.send(ev.LiveLegs(frozenset()))  # the shell finds neither leg alive
    assert h.state("a") == "ready"
    assert h.state("b") == "ready"
    assert h.acd.calls == {}
    assert [c.call_id for c in h.of(ev.CallAbandoned, caused)] == ["c1"]
    assert ev.CancelOffer("c1", "a") in caused


def test_caller_hangup_while_ringing_frees_the_operator_and_counts_an_abandon() -> None:
    h = make("a")
    h.login("a")
    h.send(ev.RouteCall("c1", "q"))
    h.advance(3)
    caused = h.send(ev.CallerHangup("c1"))
    assert ev.CancelOffer("c1", "a") in caused
    assert h.of(ev.CallAbandoned, caused) == [ev.CallAbandoned("c1", "q", 3.0)]
    assert h.state("a") == "ready"
    assert h.acd.agent_snapshot("a", h.now).missed == 0


def test_duplicate_call_is_refused() -> None:
    h = make("a")
    h.send(ev.RouteCall("c1", "q"))
    with pytest.raises(AcdError, match="already in the ACD"):
        h.send(ev.RouteCall("c1", "q"))


def test_a_conversation_carried_over_keeps_its_operator_busy_until_the_wrap_up() -> None:
    h = make("a", "b", wrap=10)
    h.login("b")
    # the other node had connected the caller to a; here a is not logged in yet
    caused = h.send(ev.ConversationCarried("c1", "q", "a", "sip:a@desk", caller="+33123",
                                           waited=12.0, talked=30.0))
    assert h.state("a") == "on_call"
    assert h.of(ev.OfferCall, caused) == []  # nobody is offered the call again
    assert [(c.old, c.new, c.cause) for c in h.of(ev.AgentStateChanged, caused)] == [
        ("logged_out", "ready", "carried over"), ("ready", "reserved", "carried over"),
        ("reserved", "on_call", "carried over")]
    # a new caller goes to the free operator, not to the one still talking
    assert h.of(ev.OfferCall, h.send(ev.RouteCall("c2", "q")))[0].agent_id == "b"
    h.send(ev.LiveLegs(frozenset({"c1", "c2"})))  # the shell knows the call: not a phantom
    assert h.state("a") == "on_call"
    h.advance(20)
    h.send(ev.AgentLegEnded("c1", "a"))
    assert h.state("a") == "wrap_up"
    h.advance(10)
    assert h.state("a") == "ready"
    # the handle time counts the talk on the other node too: 30 + 20 s talk, 10 s wrap-up
    assert h.acd.agent_snapshot("a", h.now).state == "ready"
    assert h.acd.queue_snapshot("q", h.now).aht == 60.0


def test_a_conversation_carried_to_a_busy_or_unknown_operator_is_refused() -> None:
    h = make("a")
    h.login("a")
    h.send(ev.RouteCall("c1", "q"))  # a is offered c1
    with pytest.raises(AcdError, match="operator a is reserved"):
        h.send(ev.ConversationCarried("c9", "q", "a", "sip:a@desk"))
    with pytest.raises(AcdError, match="unknown agent 'zed'"):
        h.send(ev.ConversationCarried("c9", "q", "zed", "sip:zed@desk"))
    with pytest.raises(AcdError, match="unknown queue 'nope'"):
        h.send(ev.ConversationCarried("c9", "nope", "a", "sip:a@desk"))
    assert "c9" not in h.acd.calls
