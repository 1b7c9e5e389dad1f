"""Every stored queue and site setting changes what the ACD does: a queue configured in the
store (YAML or API) is built into the pure ACD here and driven with calls on a virtual
clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley import events as ev
from parley.acd.agent import AcdError
from parley.center.config import CenterConfig, number_lists
from parley.clock import VirtualClock
from parley.store.specs import NumberListSpec, QueueSpec, SiteSpec, UserSpec
from parley.testing.acd import AcdHarness

MONDAY_10_UTC = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def center(queues: list[QueueSpec], users: list[UserSpec], *,
           site: SiteSpec | None = None, lists: list[NumberListSpec] | None = None,
           at: datetime = MONDAY_10_UTC) -> AcdHarness:
    config = CenterConfig(site=site, queues=queues, users=users, lists=lists or [])
    return AcdHarness(config.queue_configs(), config.operators(), site=config.site_config(),
                      lists=number_lists(config.lists), clock=VirtualClock(wall_epoch=at))


def agents(*names: str, **skills: int) -> list[UserSpec]:
    return [UserSpec(username=name, roles=["agent"], skills=skills) for name in names]


def overflows(h: AcdHarness, call_id: str) -> list[tuple[str, str, str]]:
    return [(o.target_kind, o.target, o.reason) for o in h.of(ev.Overflow, h.out)
            if o.call_id == call_id]


def test_fixed_order_offers_to_members_in_the_listed_order() -> None:
    queue = QueueSpec(name="q", strategy="fixed_order", members=["c", "a", "b"])
    h = center([queue], agents("a", "b", "c"))
    h.login("a", "b", "c")
    h.send(ev.RouteCall("x1", "q"))
    assert h.offered_to("x1") == ["c"]
    h.send(ev.RouteCall("x2", "q"))
    assert h.offered_to("x2") == ["a"]
    h.advance(queue.ring_timeout_s + 0.1)  # c does not answer: the next in the list
    assert h.offered_to("x1") == ["c", "b"]


def test_a_closed_queue_sends_callers_to_the_closed_target() -> None:
    queue = QueueSpec(name="q", members=["a"],
                      hours={"mon": ["08:00-09:00"], "timezone": "UTC"},
                      overflow=[{"when": "closed", "target": "voicemail:after-hours"}])
    h = center([queue], agents("a"))
    h.login("a")
    h.send(ev.RouteCall("late", "q"))
    assert overflows(h, "late") == [("voicemail", "after-hours", "closed")]
    assert h.offered_to("late") == []


def test_opening_hours_are_in_the_site_time_zone_unless_they_name_one() -> None:
    # 10:00 UTC on a Monday is 19:00 in Tokyo: closed there, open in London.
    hours = {"mon": ["09:00-17:00"]}
    closed = [{"when": "closed", "target": "hangup"}]
    for zone, is_open in (("Asia/Tokyo", False), ("Europe/London", True)):
        queue = QueueSpec(name="q", members=["a"], hours=hours, overflow=closed)
        h = center([queue], agents("a"), site=SiteSpec(time_zone=zone))
        h.login("a")
        h.send(ev.RouteCall("c", "q"))
        assert (h.offered_to("c") == ["a"]) is is_open, zone
    queue = QueueSpec(name="q", members=["a"], hours={**hours, "timezone": "Europe/London"},
                      overflow=closed)
    h = center([queue], agents("a"), site=SiteSpec(time_zone="Asia/Tokyo"))
    h.login("a")
    h.send(ev.RouteCall("c", "q"))
    assert h.offered_to("c") == ["a"]


def test_a_full_queue_overflows_to_its_overflow_target() -> None:
    queues = [QueueSpec(name="q", members=["a"], max_length=1, overflow_target="queue:spill"),
              QueueSpec(name="spill", members=["b"])]
    h = center(queues, agents("a", "b"))
    h.login("a", "b")
    h.send(ev.RouteCall("c1", "q"))
    h.answer("c1", "a")
    h.send(ev.RouteCall("c2", "q"))  # a is busy: c2 waits
    h.send(ev.RouteCall("c3", "q"))  # the line is full
    assert overflows(h, "c2") == []
    assert overflows(h, "c3") == [("queue", "spill", "max length")]
    assert h.offered_to("c3") == ["b"]


def test_overflow_rules_by_wait_and_no_agents() -> None:
    queue = QueueSpec(name="q", members=["a"], overflow=[
        {"when": "no_agents", "target": "flow:closed-message"},
        {"when": "wait", "threshold": 60, "target": "callback"}])
    h = center([queue], agents("a"))
    h.send(ev.RouteCall("nobody", "q"))
    assert overflows(h, "nobody") == [("flow", "closed-message", "no agents")]
    h.login("a", ready=False)
    h.send(ev.RouteCall("waits", "q"))
    h.advance(59)
    assert overflows(h, "waits") == []
    h.advance(2)
    assert overflows(h, "waits") == [("callback", "", "wait")]


def test_skill_relaxing_widens_the_operators_after_the_configured_wait() -> None:
    queue = QueueSpec(name="q", strategy="skills_based", required_skills={"de": 1},
                      relax=[{"after_s": 0, "min_level": 8}, {"after_s": 30, "min_level": 1}])
    users = [UserSpec(username="expert", roles=["agent"], skills={"de": 9}),
             UserSpec(username="novice", roles=["agent"], skills={"de": 2})]
    h = center([queue], users)
    h.login("expert", "novice")
    h.send(ev.RouteCall("busy", "q"))
    h.answer("busy", "expert")
    h.send(ev.RouteCall("c", "q"))
    h.advance(29)
    assert h.offered_to("c") == []  # only experts for the first 30 seconds
    h.advance(2)
    assert h.offered_to("c") == ["novice"]


def test_every_team_of_a_user_serves_the_queues_of_that_team() -> None:
    queues = [QueueSpec(name="north", teams=["north"]), QueueSpec(name="south", teams=["south"])]
    users = [UserSpec(username="a", roles=["agent"], teams=["north", "south"]),
             UserSpec(username="b", roles=["agent"], teams=["west"])]
    h = center(queues, users)
    h.login("a", "b")
    h.send(ev.RouteCall("n", "north"))
    assert h.offered_to("n") == ["a"]
    h.send(ev.CallerHangup("n"))
    h.send(ev.RouteCall("s", "south"))
    assert h.offered_to("s") == ["a"]  # not only the first team counts


def test_a_vip_list_puts_its_callers_ahead() -> None:
    queue = QueueSpec(name="q", members=["a"])
    lists = [NumberListSpec(name="gold", kind="vip", priority=20, numbers=["+15550001"])]
    h = center([queue], agents("a"), lists=lists)
    h.login("a", ready=False)
    h.send(ev.RouteCall("plain", "q", caller="+15559999"))
    h.send(ev.RouteCall("vip", "q", caller="+1 555 0001"))
    assert h.acd.position("vip") == 1
    assert h.acd.position("plain") == 2
    h.send(ev.AgentReady("a"))
    assert h.offered_to("vip") == ["a"]


def test_reason_codes_come_from_the_site() -> None:
    site = SiteSpec(reason_codes=["coaching", "lunch"])
    h = center([QueueSpec(name="q", members=["a"])], agents("a"), site=site)
    h.login("a")
    h.send(ev.AgentNotReady("a", "coaching"))
    assert h.state("a") == "not_ready"
    with pytest.raises(AcdError, match="coaching, lunch"):
        h.send(ev.AgentNotReady("a", "break"))


def test_a_stored_flow_checks_times_in_the_site_time_zone_unless_it_names_one() -> None:
    from parley.store.specs import FlowSpec

    nodes = {"bye": {"type": "hangup"}}
    flows = [FlowSpec(name="plain", definition={"start": "bye", "nodes": nodes}),
             FlowSpec(name="paris", definition={"start": "bye", "nodes": nodes,
                                                "timezone": "Europe/Paris"})]
    registry = CenterConfig(site=SiteSpec(time_zone="Asia/Tokyo"), flows=flows).registry()
    plain, paris = registry.active("plain"), registry.active("paris")
    assert plain is not None
    assert paris is not None
    assert (plain.timezone, paris.timezone) == ("Asia/Tokyo", "Europe/Paris")
