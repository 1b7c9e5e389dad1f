"""The contact-center shell's pure parts: configuration mapping, announcements, headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from parley.acd.config import Strategy
from parley.center.calls import InboundCall
from parley.center.config import CenterConfig, agent_for, number_lists, queue_config, queue_policy
from parley.center.waiting import position_prompts, wait_prompts
from parley.store.specs import (
    FlowSpec,
    NumberListSpec,
    NumberSpec,
    QueueSpec,
    SiteSpec,
    UserSpec,
)


def test_stored_queue_becomes_acd_settings_and_policy() -> None:
    spec = QueueSpec(name="support", strategy="round_robin", priority=3, max_wait_s=120,
                     wrap_up_s=5, service_level_s=30, required_skills={"support": 50},
                     members=["1002", "1001"], recording="all", ring_timeout_s=12,
                     announce_every_s=45, callback_offer_s=90, music="jazz")
    config = queue_config(spec)
    assert config.strategy is Strategy.ROUND_ROBIN
    assert config.members == ("1002", "1001")  # as listed: the fixed order
    assert config.skills == {"support": 10}  # store levels 0-100, the ACD's 1-10
    assert (config.ring_timeout_s, config.wrap_up_s, config.max_wait_s) == (12, 5, 120)
    assert config.sl_threshold_s == 30
    policy = queue_policy(spec)
    assert (policy.recording, policy.announce_every_s, policy.callback_offer_s,
            policy.music, policy.mailbox) == ("all", 45, 90, "jazz", "support")


def test_the_sites_short_abandon_threshold_reaches_every_queues_live_figures() -> None:
    """Live figures (the console, /api/live/queues) count a short abandon as the reports do."""
    queues = [QueueSpec(name="support"), QueueSpec(name="sales")]
    assert [q.short_abandon_s for q in CenterConfig(queues=queues).queue_configs()] == [5, 5]
    site = SiteSpec(short_abandon_s=12)
    assert [q.short_abandon_s for q in CenterConfig(site=site, queues=queues)
            .queue_configs()] == [12, 12]


def test_operators_are_active_agents_with_their_skills() -> None:
    config = CenterConfig(users=[
        UserSpec(username="1001", roles=["agent"], skills={"support": 5, "billing": 0},
                 teams=["blue"]),
        UserSpec(username="boss", roles=["supervisor"]),
        UserSpec(username="gone", roles=["agent"], active=False),
    ])
    operators = config.operators()
    assert [agent.agent_id for agent in operators] == ["1001"]
    assert operators[0].skills == {"support": 5}
    assert operators[0].team == "blue"
    assert agent_for(UserSpec(username="x", roles=["agent"])).skills == {}


def test_block_lists_reject_and_every_list_tags() -> None:
    lists = number_lists([NumberListSpec(name="blacklist", kind="block", numbers=["5550100"]),
                          NumberListSpec(name="vip", kind="tag", numbers=["5550199"])])
    assert lists.match("5550100").blocked
    assert lists.match("5550100").treatment == "reject"
    assert not lists.match("5550199").blocked
    assert "vip" in lists.match("5550199").tags


def test_registry_serves_shipped_and_stored_flows_and_skips_a_broken_one() -> None:
    good = FlowSpec(name="after-hours", definition={
        "start": "bye", "nodes": {"bye": {"type": "hangup", "prompt": "vm-goodbye"}}})
    broken = FlowSpec(name="demo-main", definition={"start": "nowhere", "nodes": {}})
    config = CenterConfig(flows=[good, broken], numbers=[
        NumberSpec(number="600", flow="demo-main"), NumberSpec(number="700", flow="after-hours")])
    registry = config.registry()
    assert registry.flow_for_number("700") is not None
    main = registry.flow_for_number("600")
    assert main is not None
    assert "main_menu" in main.nodes  # the shipped version kept serving


@pytest.mark.parametrize(("position", "expected"), [
    (1, ["queue-youarenext"]),
    (3, ["queue-thereare", "digits/2", "queue-callswaiting"]),
])
def test_position_announcements(position: int, expected: list[str]) -> None:
    assert position_prompts(position) == expected


def test_wait_announcements_round_up_to_minutes() -> None:
    assert wait_prompts(30) == ["queue-holdtime", "queue-less-than", "digits/1", "queue-minute"]
    assert wait_prompts(61) == ["queue-holdtime", "digits/2", "queue-minutes"]
    assert wait_prompts(60) == ["queue-holdtime", "digits/1", "queue-minute"]


def test_operator_headers_carry_the_call_and_its_data() -> None:
    call = InboundCall("call-1", "ch-7", "5550123", "600", None, datetime.now(UTC),
                       variables={"menu_choice": "support", "customer": {"name": "Ada"},
                                  "_private": "x", "note": "two\nlines"}, queue="support")
    headers = call.headers()
    assert headers["X-Parley-Interaction"] == "ch-7"
    assert headers["X-Parley-Caller"] == "5550123"
    assert headers["X-Parley-Queue"] == "support"
    assert headers["X-Parley-Var-menu_choice"] == "support"
    assert "X-Parley-Var-note" not in headers  # no line breaks in a header
    assert "X-Parley-Var-customer" not in headers  # structured data goes in X-Parley-Data
    data = json.loads(headers["X-Parley-Data"])
    assert data["customer"] == {"name": "Ada"}
    assert "_private" not in data
    assert all("\r" not in value and "\n" not in value for value in headers.values())


def test_operator_headers_carry_the_callers_language() -> None:
    call = InboundCall("call-2", "ch-8", "5550123", "610", None, datetime.now(UTC),
                       variables={"language": "ru"}, queue="support")
    headers = call.headers()
    assert headers["X-Parley-Language"] == "ru"
    assert headers["X-Parley-Var-language"] == "ru"
    plain = InboundCall("call-3", "ch-9", "5550123", "600", None, datetime.now(UTC))
    assert "X-Parley-Language" not in plain.headers()  # nothing chose one: the site's
