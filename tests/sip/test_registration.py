"""Registering at a carrier: digest answers, refresh before expiry, back-off, refusals."""

from __future__ import annotations

import pytest

from parley.sip.auth import AuthOutcome, DigestAuthenticator, compute_ha1
from parley.sip.message import SipResponse, build_response
from parley.sip.registration import (
    RegistrationClient,
    RegistrationConfig,
    RegistrationState,
    SendRegister,
    StatusChanged,
    WakeAfter,
    refresh_delay,
)
from parley.sip.uri import SipUri

CARRIER = DigestAuthenticator("carrier", b"carrier-secret-for-tests-0123456")


def config(**changes: object) -> RegistrationConfig:
    values: dict[str, object] = {
        "registrar": SipUri(host="127.0.0.2", port=5070),
        "aor": SipUri(user="acct17", host="127.0.0.2", port=5070),
        "contact": SipUri(user="acct17", host="127.0.0.1", port=5060),
        "username": "acct17", "password": "secret", "local_host": "127.0.0.1",
        "local_port": 5060, "expires": 300, "retry_min": 5.0, "retry_max": 60.0}
    values.update(changes)
    return RegistrationConfig(**values)  # type: ignore[arg-type]


def sent(commands: list[object]) -> SendRegister:
    found = [c for c in commands if isinstance(c, SendRegister)]
    assert len(found) == 1, commands
    return found[0]


def wake(commands: list[object]) -> float:
    found = [c.delay for c in commands if isinstance(c, WakeAfter)]
    assert len(found) == 1, commands
    return found[0]


def status(commands: list[object]) -> StatusChanged:
    found = [c for c in commands if isinstance(c, StatusChanged)]
    assert found, commands
    return found[-1]


def carrier_answer(register: SendRegister, password: str = "secret",  # noqa: S107
                   expires: int | None = None) -> SipResponse:
    """What a digest-checking registrar answers: 401 without (or with wrong) credentials."""
    request = register.request
    result = CARRIER.verify(request, 0.0, lambda user, algorithm: compute_ha1(
        user, "carrier", password, algorithm) if user == "acct17" else None)
    if result.outcome is not AuthOutcome.OK:
        return build_response(request, 401, to_tag="t1", headers=CARRIER.challenge(0.0))
    contact = request.contact
    assert contact is not None
    granted = expires if expires is not None else request.expires
    return build_response(request, 200, to_tag="t1",
                          headers=(("Contact", f"{contact};expires={granted}"),))


def test_answers_the_challenge_and_refreshes_before_expiry() -> None:
    client = RegistrationClient(config())
    first = sent(client.start())
    assert first.request.header("Authorization") is None
    assert first.request.expires == 300
    assert client.state is RegistrationState.REGISTERING
    second = sent(client.receive_response(carrier_answer(first)))
    assert second.request.header("Authorization") is not None
    assert second.request.cseq.seq == first.request.cseq.seq + 1
    assert second.request.call_id == first.request.call_id
    done = client.receive_response(carrier_answer(second, expires=120))
    assert status(done).state is RegistrationState.REGISTERED
    assert status(done).reason == "200 OK"
    assert client.expires == 120
    assert wake(done) == 60.0  # half-way for a short expiry
    refresh = sent(client.timer_fired())
    assert refresh.request.call_id == first.request.call_id  # the same binding, refreshed
    assert client.state is RegistrationState.REGISTERED  # still bound while refreshing


def test_wrong_password_fails_with_the_registrars_words_and_backs_off() -> None:
    client = RegistrationClient(config(password="wrong"))
    first = sent(client.start())
    second = sent(client.receive_response(carrier_answer(first)))
    failed = client.receive_response(carrier_answer(second))
    assert status(failed).state is RegistrationState.FAILED
    assert status(failed).reason == "401 Unauthorized (credentials refused)"
    assert wake(failed) == 5.0
    again = sent(client.timer_fired())
    assert client.state is RegistrationState.FAILED  # until the registrar says otherwise
    retry = sent(client.receive_response(carrier_answer(again)))
    assert wake(client.receive_response(carrier_answer(retry))) == 10.0  # doubled


def test_forbidden_is_shown_as_the_reason_and_retried_later() -> None:
    client = RegistrationClient(config())
    first = sent(client.start())
    failed = client.receive_response(build_response(first.request, 403, to_tag="x"))
    assert status(failed).state is RegistrationState.FAILED
    assert client.reason == "403 Forbidden"
    assert wake(failed) == 5.0


def test_retry_after_of_a_503_is_honoured_within_the_bounds() -> None:
    client = RegistrationClient(config())
    first = sent(client.start())
    failed = client.receive_response(build_response(
        first.request, 503, to_tag="x", headers=(("Retry-After", "40"),)))
    assert wake(failed) == 40.0
    second = sent(client.timer_fired())
    failed = client.receive_response(build_response(
        second.request, 503, to_tag="x", headers=(("Retry-After", "900"),)))
    assert wake(failed) == 60.0  # retry_max


def test_interval_too_brief_retries_with_the_minimum() -> None:
    client = RegistrationClient(config(expires=30))
    first = sent(client.start())
    retry = sent(client.receive_response(build_response(
        first.request, 423, to_tag="x", headers=(("Min-Expires", "60"),))))
    assert retry.request.expires == 60


def test_no_response_fails_and_retries() -> None:
    client = RegistrationClient(config())
    client.start()
    failed = client.request_failed("no response (timeout)")
    assert status(failed).state is RegistrationState.FAILED
    assert client.reason == "no response (timeout)"
    assert wake(failed) == 5.0
    assert client.request_failed() == []  # nothing in flight any more


def test_stop_removes_the_binding() -> None:
    client = RegistrationClient(config())
    first = sent(client.start())
    client.receive_response(build_response(first.request, 200, to_tag="x"))
    assert client.state is RegistrationState.REGISTERED
    assert client.expires == 300  # no Contact expires, no Expires header: what we asked
    removal = sent(client.stop())
    assert removal.request.expires == 0
    gone = client.receive_response(build_response(removal.request, 200, to_tag="x"))
    assert status(gone).state is RegistrationState.UNREGISTERED
    assert client.timer_fired() == []


def test_stale_responses_and_provisional_ones_are_ignored() -> None:
    client = RegistrationClient(config())
    first = sent(client.start())
    assert client.receive_response(build_response(first.request, 100)) == []
    second = sent(client.receive_response(carrier_answer(first)))
    assert client.receive_response(carrier_answer(first)) == []  # an older CSeq
    assert client.receive_response(carrier_answer(second))


@pytest.mark.parametrize(("expires", "delay"), [(2, 1.0), (60, 30.0), (120, 60.0),
                                                 (3600, 3540.0)])
def test_refresh_comes_before_expiry(expires: int, delay: float) -> None:
    assert refresh_delay(expires) == delay
    assert refresh_delay(expires) < expires
