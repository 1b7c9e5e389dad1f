"""Queue strategies: who gets the call among the ready operators."""

from __future__ import annotations

from parley import events as ev
from parley.acd.agent import Agent
from parley.acd.config import QueueConfig, RelaxStep, Strategy
from parley.testing.acd import AcdHarness


def agents(*ids: str, skill: str = "sales", levels: dict[str, int] | None = None) -> list[Agent]:
    levels = levels or {}
    return [Agent(a, skills={skill: levels.get(a, 5)}) for a in ids]


def harness(strategy: Strategy, ids: tuple[str, ...] = ("a", "b", "c"), **kw: object) -> AcdHarness:
    queue = QueueConfig("sales", strategy=strategy, skills={"sales": 1}, **kw)  # type: ignore[arg-type]
    return AcdHarness([queue], agents(*ids))


def take_call(h: AcdHarness, call_id: str, talk: float = 30) -> str:
    """Route one call, answer it with whoever is offered, talk, hang up; return that agent."""
    h.send(ev.RouteCall(call_id, "sales"))
    agent = h.offered_to(call_id)[-1]
    h.answer(call_id, agent)
    h.advance(talk)
    h.send(ev.CallerHangup(call_id))
    return agent


def test_longest_idle_is_the_default_and_rotates_by_idle_time() -> None:
    h = harness(Strategy.LONGEST_IDLE)
    assert h.acd.queues["sales"].config.strategy is Strategy.LONGEST_IDLE
    h.login("b")
    h.advance(1)
    h.login("a")
    h.advance(1)
    h.login("c")
    h.advance(1)
    assert [take_call(h, f"c{i}") for i in range(4)] == ["b", "a", "c", "b"]


def test_fewest_calls_prefers_the_operator_with_fewest_answered() -> None:
    h = harness(Strategy.FEWEST_CALLS)
    h.acd.agents["a"].calls_taken = 5
    h.acd.agents["b"].calls_taken = 1
    h.acd.agents["c"].calls_taken = 3
    h.login("a", "b", "c")
    assert take_call(h, "x1") == "b"
    assert take_call(h, "x2") == "b"  # b now has 2, still the fewest
    assert take_call(h, "x3") == "c"  # b has 3, c has 3 and has idled longer


def test_round_robin_continues_after_the_last_one_chosen() -> None:
    h = harness(Strategy.ROUND_ROBIN, ("a", "b", "c"))
    h.login("c", "b", "a")
    assert [take_call(h, f"r{i}") for i in range(5)] == ["a", "b", "c", "a", "b"]


def test_fixed_order_always_starts_from_the_first_member() -> None:
    h = harness(Strategy.FIXED_ORDER, ("a", "b", "c"))
    h.login("c", "b")
    assert take_call(h, "f1") == "b"
    h.login("a")
    assert take_call(h, "f2") == "a"
    h.send(ev.RouteCall("f3", "sales"))
    h.send(ev.RouteCall("f4", "sales"))
    assert h.offered_to("f3") == ["a"]
    assert h.offered_to("f4") == ["b"]


def test_random_is_seeded_and_reproducible() -> None:
    def picks(seed: int) -> list[str]:
        h = harness(Strategy.RANDOM, tuple("abcdefgh"), seed=seed)
        h.login(*"abcdefgh")
        return [take_call(h, f"z{i}") for i in range(12)]

    first = picks(1)
    assert first == picks(1)
    assert first != picks(2)
    assert len(set(first)) > 3


def test_ring_all_rings_every_ready_operator_and_the_first_answer_wins() -> None:
    h = harness(Strategy.RING_ALL)
    h.login("a", "b", "c")
    h.send(ev.RouteCall("r1", "sales"))
    assert sorted(h.offered_to("r1")) == ["a", "b", "c"]
    caused = h.answer("r1", "b")
    cancelled = sorted(c.agent_id for c in h.of(ev.CancelOffer, caused))
    assert cancelled == ["a", "c"]
    assert h.state("b") == "on_call"
    assert h.state("a") == "ready"
    assert h.state("c") == "ready"
    late = h.send(ev.AgentAnswered("r1", "a"))
    assert h.of(ev.CancelOffer, late) == [ev.CancelOffer("r1", "a")]
    assert h.state("a") == "ready"


def test_skills_based_takes_the_best_level_first() -> None:
    queue = QueueConfig("es", strategy=Strategy.SKILLS_BASED, skills={"es": 1})
    h = AcdHarness([queue], agents("low", "high", "mid", skill="es",
                                   levels={"low": 2, "high": 9, "mid": 6}))
    h.login("low", "high", "mid")
    h.send(ev.RouteCall("s1", "es"), ev.RouteCall("s2", "es"), ev.RouteCall("s3", "es"))
    assert [h.offered_to(c)[0] for c in ("s1", "s2", "s3")] == ["high", "mid", "low"]


def test_skills_based_relaxes_the_minimum_level_as_the_wait_grows() -> None:
    queue = QueueConfig("es", strategy=Strategy.SKILLS_BASED, skills={"es": 1},
                        relax=(RelaxStep(0, 8), RelaxStep(30, 5), RelaxStep(60, 1)))
    h = AcdHarness([queue], agents("novice", "fluent", skill="es",
                                   levels={"novice": 3, "fluent": 6}))
    h.login("novice", "fluent")
    h.send(ev.RouteCall("s1", "es"))
    assert h.offered_to("s1") == []  # nobody at level 8 yet
    h.advance(29.9)
    assert h.offered_to("s1") == []
    h.advance(0.1)
    assert h.offered_to("s1") == ["fluent"]  # level 5 allowed from 30 s
    h.answer("s1", "fluent")
    h.send(ev.RouteCall("s2", "es"))
    h.advance(59)
    assert h.offered_to("s2") == []
    h.advance(1)
    assert h.offered_to("s2") == ["novice"]  # anybody from 60 s of waiting


def test_a_freed_operator_of_too_low_a_level_does_not_take_a_fresh_call() -> None:
    queue = QueueConfig("es", strategy=Strategy.SKILLS_BASED, skills={"es": 1},
                        relax=(RelaxStep(0, 8), RelaxStep(20, 1)))
    h = AcdHarness([queue], agents("novice", skill="es", levels={"novice": 3}))
    h.login("novice", ready=False)
    h.send(ev.RouteCall("s1", "es"))
    h.send(ev.AgentReady("novice"))
    assert h.offered_to("s1") == []
    h.advance(20)
    assert h.offered_to("s1") == ["novice"]


def test_teams_and_listed_members_belong_whatever_their_skills() -> None:
    queue = QueueConfig("escalations", skills={"billing": 6}, members=("sam",),
                        teams=("blue",))
    people = [Agent("sam"), Agent("tia", team="blue"), Agent("uma", team="red"),
              Agent("vic", skills={"billing": 7}), Agent("wes", skills={"billing": 3})]
    h = AcdHarness([queue], people)
    assert sorted(h.acd.queues["escalations"].members) == ["sam", "tia", "vic"]
