"""The operator state machine: table-driven, validated, every transition recorded."""

from __future__ import annotations

import pytest

from parley.acd.agent import (
    TRANSITIONS,
    AcdError,
    Agent,
    AgentState,
    DeviceRegistry,
    InvalidTransition,
    Trigger,
    transition_table_markdown,
)
from parley.clock import VirtualClock

S = AgentState
T = Trigger


def test_full_call_cycle_records_every_transition_with_cause_and_time() -> None:
    clock = VirtualClock()
    agent = Agent("a1", skills={"sales": 7})
    log = [agent.apply(T.LOGIN, clock.monotonic(), cause="login")]
    clock.advance(5)
    log.append(agent.apply(T.RESERVE, clock.monotonic(), call_id="c1"))
    log.append(agent.apply(T.RING, clock.monotonic()))
    clock.advance(3)
    log.append(agent.apply(T.ANSWER, clock.monotonic()))
    log.append(agent.apply(T.HOLD, clock.monotonic()))
    log.append(agent.apply(T.UNHOLD, clock.monotonic()))
    clock.advance(60)
    log.append(agent.apply(T.HANG_UP, clock.monotonic()))
    log.append(agent.apply(T.EXTEND_WRAP_UP, clock.monotonic()))
    clock.advance(10)
    log.append(agent.apply(T.END_WRAP_UP, clock.monotonic(), target=S.NOT_READY,
                           reason="paperwork"))
    assert [(r.old, r.new) for r in log] == [
        (S.LOGGED_OUT, S.READY), (S.READY, S.RESERVED), (S.RESERVED, S.RINGING),
        (S.RINGING, S.ON_CALL), (S.ON_CALL, S.ON_HOLD), (S.ON_HOLD, S.ON_CALL),
        (S.ON_CALL, S.WRAP_UP), (S.WRAP_UP, S.WRAP_UP), (S.WRAP_UP, S.NOT_READY)]
    assert [r.at for r in log] == [0, 5, 5, 8, 8, 8, 68, 68, 78]
    assert log[0].cause == "login"
    assert log[2].cause == "ring"
    assert all(r.call_id == "c1" for r in log[1:7])
    assert log[-1].reason == "paperwork"
    assert agent.reason == "paperwork"
    assert agent.call_id == ""
    assert agent.state is S.NOT_READY


@pytest.mark.parametrize("state", list(AgentState))
@pytest.mark.parametrize("trigger", list(Trigger))
def test_every_pair_outside_the_table_raises(state: AgentState, trigger: Trigger) -> None:
    agent = Agent("a1", state=state, call_id="c1")
    if (state, trigger) in TRANSITIONS:
        target = TRANSITIONS[(state, trigger)][0]
        record = agent.apply(trigger, 1.0, reason="lunch")
        assert record.new is target
    else:
        with pytest.raises(InvalidTransition, match="cannot"):
            agent.apply(trigger, 1.0, reason="lunch")
        assert agent.state is state


def test_target_outside_the_allowed_ones_raises() -> None:
    agent = Agent("a1")
    with pytest.raises(InvalidTransition, match="cannot lead to"):
        agent.apply(T.LOGIN, 0, target=S.ON_CALL)


def test_not_ready_requires_a_reason_and_a_call_state_requires_a_call() -> None:
    agent = Agent("a1")
    with pytest.raises(InvalidTransition, match="reason"):
        agent.apply(T.LOGIN, 0, target=S.NOT_READY)
    agent.apply(T.LOGIN, 0)
    with pytest.raises(InvalidTransition, match="call id"):
        agent.apply(T.RESERVE, 0)


def test_skill_levels_are_one_to_ten() -> None:
    with pytest.raises(AcdError, match="level must be 1-10"):
        Agent("a1", skills={"sales": 11})
    with pytest.raises(AcdError, match="level must be 1-10"):
        Agent("a1", skills={"sales": 0})


def test_hot_desking_any_agent_any_phone_but_one_agent_per_device() -> None:
    devices = DeviceRegistry()
    alice, bob = Agent("alice"), Agent("bob")
    devices.bind(alice, "sip:desk1")
    assert devices.holder("sip:desk1") == "alice"
    with pytest.raises(AcdError, match="already used by agent alice"):
        devices.bind(bob, "sip:desk1")
    with pytest.raises(AcdError, match="already logged in on sip:desk1"):
        devices.bind(alice, "sip:desk2")
    devices.unbind("sip:desk1")
    alice.device = ""
    devices.bind(bob, "sip:desk1")  # the next shift sits at the same desk
    devices.bind(alice, "sip:desk2")
    assert devices.holder("sip:desk1") == "bob"
    assert devices.holder("sip:desk2") == "alice"


def test_ready_entry_sets_idle_time_and_epoch() -> None:
    agent = Agent("a1")
    agent.apply(T.LOGIN, 10.0)
    assert agent.idle_since == 10.0
    assert agent.ready_epoch == 1
    agent.apply(T.SET_NOT_READY, 12.0, reason="lunch")
    agent.apply(T.SET_READY, 20.0)
    assert agent.idle_since == 20.0
    assert agent.ready_epoch == 2


def test_markdown_table_lists_every_transition() -> None:
    table = transition_table_markdown()
    assert table.count("\n") == len(TRANSITIONS) + 1
    assert "| wrap_up | end_wrap_up | ready, not_ready, logged_out |" in table


def test_the_docs_show_the_transition_table_of_the_code() -> None:
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "acd.md").read_text(encoding="utf-8")
    assert transition_table_markdown() in docs
