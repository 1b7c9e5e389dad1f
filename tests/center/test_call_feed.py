"""The live calls as row changes (the supervisor console's feed): what is added, changed and
removed between two pictures of the calls in progress."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from parley.center.call_feed import row_changes
from parley.center.ports import LiveCall

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def call(call_id: str, state: str = "queued", **more: object) -> LiveCall:
    return LiveCall(id=call_id, direction="inbound", caller="+4930111", called="602",
                    state=state, started_at=START, queue="support", **more)  # type: ignore[arg-type]


def test_only_the_rows_that_changed_are_sent_keyed_by_call_id() -> None:
    before, first = row_changes({}, [call("a"), call("b"), call("mon-1", "talking")])
    assert [(c.call_id, c.change) for c in first] == [("a", "added"), ("b", "added")]
    assert "mon-1" not in before  # a supervisor's own monitoring leg is no call to list

    answered = call("b", "talking", operator="1001", answered_at=START)
    rows, second = row_changes(before, [call("a"), answered, call("c")])
    assert [(c.call_id, c.change) for c in second] == [("b", "changed"), ("c", "added")]
    (moved, _added) = second
    assert (moved.state, moved.operator, moved.was_operator, moved.was_queue) == (
        "talking", "1001", "", "support")

    # a recording paused changes nothing a console shows; a call gone is removed
    paused = replace(answered, recording_id="r1", recording_paused=True)
    _rows, third = row_changes(rows, [paused, call("c")])
    assert [(c.call_id, c.change, c.operator) for c in third] == [("a", "removed", "")]
