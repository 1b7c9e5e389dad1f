"""Which failures of a trunk send an outside call to the next trunk: the trunk's own (5xx,
408, no answer at all), never an answer about the number (404, 486, 603, 480)."""

from __future__ import annotations

import pytest

from parley.events import HangupCause
from parley.telephony.causes import cause_for_status
from parley.telephony.outside import TrunkAddress, fails_over


@pytest.mark.parametrize(("status", "next_trunk"), [
    (500, True), (502, True), (503, True), (504, True), (408, True), (599, True),
    (404, False), (484, False), (486, False), (480, False), (603, False), (600, False),
    (403, False), (487, False),
])
def test_failover_by_final_status(status: int, next_trunk: bool) -> None:
    assert fails_over(cause_for_status(status)) is next_trunk


def test_a_trunk_that_never_answers_fails_over_and_an_answered_call_does_not() -> None:
    assert fails_over(HangupCause.RECOVERY_ON_TIMER_EXPIRE)  # no response: timer B
    assert not fails_over(HangupCause.NORMAL_CLEARING)
    assert not fails_over(None)


@pytest.mark.parametrize(("address", "uri"), [
    (TrunkAddress("192.0.2.10"), "sip:+74951234567@192.0.2.10:5060"),
    (TrunkAddress("gw.example", 5070, "tcp"), "sip:+74951234567@gw.example:5070;transport=tcp"),
])
def test_the_request_uri_a_trunk_gets(address: TrunkAddress, uri: str) -> None:
    assert address.uri("+74951234567") == uri
