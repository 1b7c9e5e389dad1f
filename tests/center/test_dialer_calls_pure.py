"""The pure parts of the dialer's calls: SIP statuses to outcomes, the message template."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley.center.dialer_calls import outcome_of, render_message
from parley.events import HangupCause
from parley.ivr.errors import ExpressionError


@pytest.mark.parametrize(("status", "outcome"), [
    (486, "busy"), (600, "busy"), (408, "no_answer"), (480, "no_answer"), (487, "no_answer"),
    (404, "invalid"), (484, "invalid"), (604, "invalid"), (503, "failed"), (403, "failed"),
    (None, "failed")])
def test_final_sip_status_gives_the_outcome(status: int | None, outcome: str) -> None:
    assert outcome_of(status) == outcome


def test_the_ring_timeout_is_no_answer_whatever_the_status() -> None:
    assert outcome_of(487, timed_out=True) == "no_answer"
    assert outcome_of(None, cause=HangupCause.NO_ANSWER) == "no_answer"


def test_the_message_takes_the_tasks_fields() -> None:
    text = render_message("Your taxi, a ${colour} ${car}, plate ${plate}, is waiting.",
                          {"colour": "white", "car": "Skoda", "plate": "A123BC"},
                          datetime(2026, 1, 5, tzinfo=UTC))
    assert text == "Your taxi, a white Skoda, plate A123BC, is waiting."


def test_a_field_the_task_lacks_is_said_as_nothing_and_a_bad_template_is_named() -> None:
    assert render_message("plate ${plate}.", {}, datetime(2026, 1, 5, tzinfo=UTC)) == "plate ."
    with pytest.raises(ExpressionError):
        render_message("plate ${plate", {}, datetime(2026, 1, 5, tzinfo=UTC))
