"""Changing a running ACD's queues and operators: a new strategy, a new member order, new
teams and skills apply from the next decision."""

from __future__ import annotations

from dataclasses import replace

from parley import events as ev
from parley.acd.agent import Agent
from parley.acd.config import QueueConfig, Strategy
from parley.testing.acd import AcdHarness


def test_a_new_strategy_applies_to_operators_already_ready() -> None:
    queue = QueueConfig("q", strategy=Strategy.RANDOM, members=("a", "b"))
    h = AcdHarness([queue], [Agent("a"), Agent("b")])
    h.login("b", "a")
    h.acd.update_queue(replace(queue, strategy=Strategy.FIXED_ORDER))
    h.send(ev.RouteCall("c1", "q"))
    assert h.offered_to("c1") == ["a"]


def test_a_new_member_order_is_the_new_fixed_order() -> None:
    queue = QueueConfig("q", strategy=Strategy.FIXED_ORDER, members=("a", "b", "c"))
    h = AcdHarness([queue], [Agent("a"), Agent("b"), Agent("c")])
    h.login("a", "b", "c")
    h.acd.update_queue(replace(queue, members=("c", "b", "a")))
    h.send(ev.RouteCall("c1", "q"))
    assert h.offered_to("c1") == ["c"]


def test_an_operator_in_several_teams_serves_each_team_queue() -> None:
    queues = [QueueConfig("north", teams=("north",)), QueueConfig("south", teams=("south",))]
    h = AcdHarness(queues, [Agent("a", team="north", teams=frozenset({"north", "south"}))])
    assert set(h.acd.queues["south"].members) == {"a"}
    assert set(h.acd.queues["north"].members) == {"a"}


def test_an_operator_given_a_team_joins_its_queues() -> None:
    h = AcdHarness([QueueConfig("south", teams=("south",))], [Agent("a")])
    assert h.acd.queues["south"].members == {}
    h.acd.update_agent("a", skills={}, team="north", teams=frozenset({"north", "south"}),
                       name="Ann")
    h.login("a")
    h.send(ev.RouteCall("c1", "south"))
    assert h.offered_to("c1") == ["a"]
