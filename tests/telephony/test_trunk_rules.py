"""Trunk rules: the calls-per-second cap, when a call goes to the next trunk, the number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley.sip.message import parse_message
from parley.telephony.trunk_rules import CallRateLimiter, dialled_number, fails_over


def starts_within_any_second(starts: list[float]) -> int:
    ordered = sorted(starts)
    return max(sum(1 for t in ordered if first <= t < first + 1.0) for first in ordered)


def test_thirty_calls_at_once_leave_at_five_a_second() -> None:
    limiter = CallRateLimiter(max_cps=5, max_wait=10.0)
    delays = [limiter.reserve(100.0) for _ in range(30)]
    assert all(delay is not None for delay in delays)
    starts = [100.0 + d for d in delays if d is not None]
    assert starts[0] == 100.0  # an idle trunk starts at once
    assert starts_within_any_second(starts) == 5
    assert starts[-1] - starts[0] == pytest.approx(29 * 1.02 / 5)


def test_a_call_that_would_wait_too_long_is_not_booked() -> None:
    limiter = CallRateLimiter(max_cps=5, max_wait=0.5)
    booked = [limiter.reserve(0.0) for _ in range(5)]
    assert booked[:3] == [0.0, pytest.approx(0.204), pytest.approx(0.408)]
    assert booked[3:] == [None, None]  # 0.612 s and more: the next trunk, or refused
    assert limiter.reserve(0.5) == pytest.approx(0.612 - 0.5)
    assert limiter.rate(0.9) == 4


@given(st.lists(st.floats(min_value=0, max_value=20), min_size=1, max_size=80),
       st.sampled_from([0.5, 1, 3, 5, 10]))
def test_never_more_than_the_cap_in_any_second(requests: list[float], cps: float) -> None:
    limiter = CallRateLimiter(max_cps=cps, max_wait=3.0)
    starts = []
    for now in sorted(requests):
        delay = limiter.reserve(now)
        if delay is not None:
            assert 0 <= delay <= 3.0
            starts.append(now + delay)
    assert starts_within_any_second(starts) <= max(1, cps)


@pytest.mark.parametrize(("status", "next_trunk"), [
    (None, True), (408, True), (500, True), (503, True), (504, True), (404, False),
    (486, False), (603, False), (480, False), (487, False), (200, False), (403, False)])
def test_which_answers_go_to_the_next_trunk(status: int | None, next_trunk: bool) -> None:
    assert fails_over(status) is next_trunk


INVITE = (b"INVITE sip:84951110000@127.0.0.1:5060 SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK1\r\n"
          b"From: <sip:+79161234567@carrier>;tag=1\r\nTo: <sip:74951110000@carrier>\r\n"
          b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
          b"Contact: <sip:carrier@127.0.0.2:5070>\r\n"
          b"X-Called: <sip:+74951110000@carrier>\r\nX-Plain: 4951110000\r\n"
          b"Content-Length: 0\r\n\r\n")


@pytest.mark.parametrize(("number_from", "number"), [
    ("request_uri", "84951110000"), ("to", "74951110000"),
    ("header:X-Called", "+74951110000"), ("header:x-plain", "4951110000"),
    ("header:X-Missing", "")])
def test_the_dialled_number_is_read_where_the_carrier_puts_it(number_from: str,
                                                              number: str) -> None:
    request = parse_message(INVITE)
    assert dialled_number(request, number_from) == number  # type: ignore[arg-type]
