"""Property: whatever a caller and the outside world do, a run ends in a terminal command.

Random event sequences (right and wrong answers, stale ids, hang-ups, timers, clock jumps)
are fed to runs of the shipped flows; afterwards the run is driven with time-outs until it
settles. It must end handed off (queue, transfer, voicemail), hung up by the flow, or hung up
by the caller, and it may raise nothing but FlowError.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.events import Dtmf, Hangup, HangupCause, PlaybackFinished, RecordingFinished
from parley.ivr.commands import (
    TERMINAL_COMMANDS,
    Collect,
    CollectFinished,
    EndCall,
    FlowTimeline,
    HttpLookup,
    IvrCommand,
    IvrEvent,
    LookupResult,
    Play,
    QueueResult,
    RecordMessage,
    Say,
    TimerExpired,
    TransferResult,
)
from parley.ivr.environment import IvrEnvironment, NumberLists, QueueFigure, QueueSnapshot
from parley.ivr.errors import FlowError
from parley.ivr.files import shipped_flows
from parley.ivr.interpreter import FlowRun

FLOWS = {flow.require().name: flow.require() for flow in shipped_flows()}
ENV = IvrEnvironment(
    lists=NumberLists({"blacklist": ["666"], "vip": ["777"]}),
    queues=QueueSnapshot({"support": QueueFigure(expected_wait=600.0, agents_ready=0)}),
    flows=FLOWS.get,
)
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday morning in Paris

digits = st.text(alphabet="0123456789*#", max_size=10)
json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=8,
)


def pending(commands: list[IvrCommand]) -> Any:
    for command in reversed(commands):
        if not isinstance(command, FlowTimeline):
            return command
    return None


@st.composite
def event_for(draw: st.DrawFn, request: Any) -> IvrEvent:
    """A plausible or implausible event, often aimed at the pending request."""
    rid = getattr(request, "request_id", "stale") if draw(st.booleans()) else "stale"
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return PlaybackFinished(rid, "c", draw(st.sampled_from(["done", "stopped", "hangup"])))
    if choice == 1:
        return CollectFinished("c", rid, draw(digits),
                               draw(st.sampled_from(["max_digits", "terminator", "timeout"])))
    if choice == 2:
        return LookupResult("c", rid, draw(st.sampled_from([0, 200, 404, 500])), draw(json_data),
                            draw(st.sampled_from(["", "timeout"])))
    if choice == 3:
        return QueueResult("c", rid, draw(st.booleans()), "refused")
    if choice == 4:
        return TransferResult("c", rid, draw(st.booleans()), "busy")
    if choice == 5:
        return RecordingFinished(rid, "c", "/tmp/x.wav", 3.0)
    if choice == 6:
        return Dtmf("c", draw(st.sampled_from("0123456789*#")), 80, "rfc4733")
    if choice == 7:
        return TimerExpired("c")
    if choice == 8 and draw(st.integers(0, 5)) == 0:
        return Hangup("c", HangupCause.NORMAL_CLEARING, "remote")
    return CollectFinished("c", rid, draw(st.sampled_from(["1", "2", "3", "9"])))


def settle(request: Any) -> IvrEvent | None:
    """The dullest answer to a pending request: prompts end, nobody presses anything."""
    if isinstance(request, Play | Say):
        return PlaybackFinished(request.request_id, "c", "done")
    if isinstance(request, Collect):
        return CollectFinished("c", request.request_id, "", "timeout")
    if isinstance(request, HttpLookup):
        return LookupResult("c", request.request_id, 0, None, "timeout")
    if isinstance(request, RecordMessage):
        return RecordingFinished(request.request_id, "c", "/tmp/x.wav", 1.0)
    return None


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(FLOWS)),
    ani=st.sampled_from(["666", "777", "+33100000001"]),
    minutes=st.integers(0, 7 * 24 * 60),
    data=st.data(),
)
def test_random_events_always_end_in_a_terminal_command(name: str, ani: str, minutes: int,
                                                        data: st.DataObject) -> None:
    now = START + timedelta(minutes=minutes)
    run = FlowRun(FLOWS[name], call_id="c", ani=ani, dnis="600", env=ENV)
    commands: list[IvrCommand] = []
    try:
        commands += run.start(now)
        for _ in range(data.draw(st.integers(0, 25))):
            now += timedelta(seconds=data.draw(st.integers(0, 30)))
            commands += run.handle(data.draw(event_for(pending(commands))), now)
        for _ in range(60):
            if run.finished or run.handed_off:
                break
            event = settle(pending(commands))
            assert event is not None, f"waiting without a request: {pending(commands)}"
            commands += run.handle(event, now)
    except FlowError:
        return  # the one exception family a run may raise
    assert run.finished or run.handed_off, run.timeline[-3:]
    last = pending(commands)
    if run.outcome == "caller hung up":
        assert run.timeline[-1].kind == "caller hung up"
    else:
        assert isinstance(last, TERMINAL_COMMANDS), last
    if isinstance(last, EndCall) and run.outcome != "rejected":
        assert last.answered
