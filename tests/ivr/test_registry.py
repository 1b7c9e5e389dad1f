"""The flow registry: activation refuses bad flows, the previous version keeps serving."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from parley.ivr.commands import EndCall, EnqueueCall, FlowTimeline, Play
from parley.ivr.environment import IvrEnvironment, NumberLists
from parley.ivr.errors import FlowError, FlowValidationError
from parley.ivr.files import DEMO_NUMBERS, demo_registry, load_directory, shipped_flows
from parley.ivr.registry import FlowRegistry
from parley.testing.ivr import Call, flow_text

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def queue_flow(queue: str) -> str:
    return flow_text(f"""
start:
  type: queue
  queue: {queue}
""").replace("flow: test", "flow: main")


def test_a_bad_update_is_refused_and_the_previous_version_keeps_serving() -> None:
    registry = FlowRegistry()
    registry.bind_number("+33 1 23 45", "main")
    first = registry.activate_source(queue_flow("sales"), "main.yaml", NOW)
    assert first.version == 1
    broken = queue_flow("sales").replace("type: queue", "type: queueue")
    with pytest.raises(FlowValidationError) as info:
        registry.activate_source(broken, "main.yaml", NOW)
    assert info.value.flow == "main"
    assert [issue.code for issue in info.value.issues] == ["unknown-type"]
    assert "main.yaml:6: error node 'start' field 'type'" in str(info.value)
    # Still version 1, still routing to sales.
    version = registry.active_version("main")
    assert version is not None
    assert version.version == 1
    run = registry.start_call(call_id="c1", ani="100", dnis="+331 2345")
    assert run is not None
    queued = [c for c in run.start(NOW) if isinstance(c, EnqueueCall)]
    assert [c.queue for c in queued] == ["sales"]


def test_a_good_update_replaces_the_live_version_but_not_running_calls() -> None:
    registry = FlowRegistry()
    registry.bind_number("600", "main")
    registry.activate_source(queue_flow("sales"), "main.yaml", NOW)
    before = registry.start_call(call_id="c1", ani="100", dnis="600")
    assert before is not None
    registry.activate_source(queue_flow("support"), "main.yaml", NOW)
    assert [v.version for v in registry.history("main")] == [1, 2]
    after = registry.start_call(call_id="c2", ani="100", dnis="600")
    assert after is not None
    queued_before = [c for c in before.start(NOW) if isinstance(c, EnqueueCall)]
    queued_after = [c for c in after.start(NOW) if isinstance(c, EnqueueCall)]
    assert queued_before[0].queue == "sales"  # the call keeps the version it started with
    assert queued_after[0].queue == "support"
    registry.rollback("main")
    rolled = registry.active("main")
    assert rolled is not None
    assert rolled.nodes["start"].queue.source == "sales"  # type: ignore[attr-defined]
    assert registry.active_version("main").version == 3  # type: ignore[union-attr]


def test_numbers_route_to_flows() -> None:
    registry = FlowRegistry()
    assert registry.start_call(call_id="c", ani="1", dnis="600") is None
    registry.bind_number("600", "main")
    assert registry.start_call(call_id="c", ani="1", dnis="600") is None  # not active yet
    registry.activate_source(queue_flow("sales"))
    assert registry.flow_for_number("6-0-0") is not None
    registry.unbind_number("600")
    assert registry.route("600") is None
    with pytest.raises(FlowError, match="not a phone number"):
        registry.bind_number("sales", "main")
    with pytest.raises(FlowError, match="no earlier version"):
        registry.rollback("main")


def test_the_shipped_flows_are_valid() -> None:
    flows = shipped_flows()
    names = {flow.require().name for flow in flows}
    assert {"demo-main", "demo-voicemail", "example-customer-care"} <= names
    for flow in flows:
        assert flow.ok, [str(issue) for issue in flow.issues]
        assert flow.warnings == ()
    registry = demo_registry()
    for number, name in DEMO_NUMBERS.items():
        route = registry.route(number)
        assert route is not None
        assert route.flow == name


def test_load_directory(tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "a.yaml").write_text(queue_flow("sales"), encoding="utf-8")
    (folder / "b.yaml").write_text("flow: b\nstart: x\nnodes: {}\n", encoding="utf-8")
    loaded = load_directory(folder)
    assert [flow.ok for flow in loaded] == [True, False]
    assert loaded[1].errors[0].file.endswith("b.yaml")


def test_demo_600_press_2_reaches_support_and_blacklist_is_rejected() -> None:
    registry = demo_registry()
    env = IvrEnvironment(lists=NumberLists({"blacklist": ["+33999"]}))
    run = registry.start_call(call_id="call-1", ani="+33100", dnis="600", env=env)
    assert run is not None
    call = Call(run.flow, env=env)
    call.start()
    assert isinstance(call.actions[1], Play)
    call.finish_play()
    call.press("2")
    enqueue = call.last(EnqueueCall)
    assert enqueue.queue == "support"
    assert enqueue.attached["menu_choice"] == "support"
    kinds = [c.kind for c in call.commands if isinstance(c, FlowTimeline)]
    assert kinds == ["entered flow", "menu offered", "menu choice", "queued"]
    rejected = registry.start_call(call_id="call-2", ani="+33999", dnis="600", env=env)
    assert rejected is not None
    commands = rejected.start(NOW)
    end = [c for c in commands if isinstance(c, EndCall)]
    assert end
    assert not end[0].answered
    voicemail = registry.start_call(call_id="call-3", ani="+33100", dnis="800", env=env)
    assert voicemail is not None
    assert voicemail.flow.name == "demo-voicemail"


def test_the_site_lists_kept_by_the_acd_serve_flows() -> None:
    from parley.acd.lists import NumberLists as AcdLists
    from parley.ivr.environment import SiteListsView

    lists = AcdLists()
    lists.block("+33 6 66", "busy")
    lists.add_vip("+33 1 11", 5)
    lists.tag("customers", "+33111")
    lists.tag("gold", "+33111")
    view = SiteListsView(lists)
    assert view.in_list("blacklist", "+33666")
    assert not view.in_list("blacklist", "+33111")
    assert view.in_list("vip", "+33111")
    assert view.in_list("customers", "+33 111")
    assert list(view.tags("customers", "+33111")) == ["customers", "gold"]
    assert list(view.tags("blacklist", "+33666")) == ["busy"]
    assert list(view.tags("vip", "+33666")) == []
    # The demo flow rejects a blacklisted caller through this view.
    registry = demo_registry()
    run = registry.start_call(call_id="c", ani="+33666", dnis="600",
                              env=IvrEnvironment(lists=view))
    assert run is not None
    ends = [c for c in run.start(NOW) if isinstance(c, EndCall)]
    assert len(ends) == 1
    assert not ends[0].answered
