"""Digest authentication: RFC examples, captured Asterisk challenges, nonce expiry."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.sip.auth import (
    AuthError,
    AuthOutcome,
    Challenge,
    DigestAuthenticator,
    authorization_header,
    authorize_request,
    challenges,
    compute_ha1,
    digest_response,
    parse_digest,
)
from parley.sip.message import SipRequest, SipResponse, build_response, parse_message

DATA = Path(__file__).parent / "data"
SECRET = b"0123456789abcdef-test-secret"


def load(name: str) -> SipRequest | SipResponse:
    return parse_message((DATA / name).read_bytes())


def test_rfc2617_md5_example() -> None:
    ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert digest_response(ha1=ha1, method="GET", uri="/dir/index.html",
                           nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth",
                           nc="00000001", cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
     ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")],
)
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    ha1 = compute_ha1("Mufasa", "http-auth@example.org", "Circle of Life", algorithm)
    assert digest_response(
        ha1=ha1, method="GET", uri="/dir/index.html", algorithm=algorithm,
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", qop="auth", nc="00000001",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ") == expected


@pytest.mark.parametrize(
    ("challenge_file", "request_file", "password"),
    [("001-asterisk-resp-401-register.sip", "002-baresip-req-register.sip", "pw1001"),
     ("013-asterisk-resp-401-invite.sip", "015-baresip-req-invite.sip", "pw1001"),
     ("070-asterisk-resp-401-register.sip", "071-linphonec-req-register.sip", "pw1004")],
)
def test_client_reproduces_captured_answers(challenge_file: str, request_file: str,
                                            password: str) -> None:
    challenge = load(challenge_file)
    answered = load(request_file)
    assert isinstance(challenge, SipResponse)
    assert isinstance(answered, SipRequest)
    (parsed,) = challenges(challenge)
    assert parsed.realm == "asterisk"
    assert parsed.algorithm == "MD5"
    sent = parse_digest(answered.header("Authorization") or "")
    ours = parse_digest(authorization_header(
        parsed, method=answered.method, uri=sent["uri"], username=sent["username"],
        password=password))
    assert ours["response"] == sent["response"]
    wrong = parse_digest(authorization_header(
        parsed, method=answered.method, uri=sent["uri"], username=sent["username"],
        password="not-it"))
    assert wrong["response"] != sent["response"]


def store() -> dict[tuple[str, str], str]:
    return {("1001", alg): compute_ha1("1001", "parley", "pw1001", alg)
            for alg in ("MD5", "SHA-256")}


def challenge_and_answer(auth: DigestAuthenticator, now: float, password: str,
                         *, prefer: str | None = None, username: str = "1001") -> SipRequest:
    register = load("000-baresip-req-register.sip")
    assert isinstance(register, SipRequest)
    unauthorized = build_response(register, 401, to_tag="t",
                                  headers=auth.challenge(now))
    assert [c.algorithm for c in challenges(unauthorized)] == ["SHA-256", "MD5"]
    if prefer:
        unauthorized = unauthorized.without_header("WWW-Authenticate").with_header(
            "WWW-Authenticate", next(v for n, v in auth.challenge(now)
                                     if f"algorithm={prefer}" in v))
    return authorize_request(register, unauthorized, username=username, password=password)


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_server_accepts_right_password(algorithm: str) -> None:
    auth = DigestAuthenticator("parley", SECRET)
    ha1s = store()
    retry = challenge_and_answer(auth, 100.0, "pw1001", prefer=algorithm)
    original = load("000-baresip-req-register.sip")
    assert retry.cseq.seq == original.cseq.seq + 1
    assert retry.branch != original.branch
    assert f"algorithm={algorithm}" in (retry.header("Authorization") or "")
    result = auth.verify(retry, 101.0, lambda user, alg: ha1s.get((user, alg)))
    assert result.outcome is AuthOutcome.OK
    assert result.username == "1001"
    # The same nc again is a replay.
    again = auth.verify(retry, 102.0, lambda user, alg: ha1s.get((user, alg)))
    assert again.outcome is AuthOutcome.CHALLENGE


def test_server_refuses_wrong_password_and_unknown_user() -> None:
    auth = DigestAuthenticator("parley", SECRET)
    ha1s = store()
    retry = challenge_and_answer(auth, 0.0, "wrong")
    result = auth.verify(retry, 1.0, lambda user, alg: ha1s.get((user, alg)))
    assert result.outcome is AuthOutcome.FORBIDDEN
    assert result.reason == "wrong password"
    # The nonce saw a wrong answer: it is spent, even with the right password now.
    right = challenge_and_answer(auth, 0.0, "pw1001")
    nonce = parse_digest(retry.header("Authorization") or "")["nonce"]
    reused = auth.verify(_with_nonce(right, nonce), 2.0, lambda user, alg: ha1s.get((user, alg)))
    assert reused.outcome is AuthOutcome.CHALLENGE
    assert reused.reason == "nonce spent by a wrong answer"
    fresh = challenge_and_answer(auth, 3.0, "wrong")
    nobody = auth.verify(fresh, 3.0, lambda user, alg: None)
    assert nobody.outcome is AuthOutcome.FORBIDDEN
    assert nobody.reason == "unknown user"


def _with_nonce(request: SipRequest, nonce: str) -> SipRequest:
    """``request`` answering ``nonce`` instead of its own (the response is then recomputed
    by the phone; here it stays wrong only if the password is)."""
    from dataclasses import replace

    params = parse_digest(request.header("Authorization") or "")
    ha1 = compute_ha1(params["username"], params["realm"], "pw1001", params["algorithm"])
    response = digest_response(ha1=ha1, method=request.method, uri=params["uri"], nonce=nonce,
                               algorithm=params["algorithm"], qop=params.get("qop"),
                               nc=params.get("nc"), cnonce=params.get("cnonce"))
    value = (request.header("Authorization") or "").replace(params["nonce"], nonce).replace(
        params["response"], response)
    return replace(request, headers=request.headers.remove("Authorization").add(
        "Authorization", value))


def test_unknown_user_costs_a_digest_like_a_known_one() -> None:
    """Both paths compute one digest response: counted through the hash functions."""
    from parley.sip import auth as auth_module

    calls: list[str] = []
    real = dict(auth_module.ALGORITHMS)

    def counting(name: str):  # type: ignore[no-untyped-def]
        def hasher(data: bytes):  # type: ignore[no-untyped-def]
            calls.append(name)
            return real[name](data)
        return hasher

    auth = DigestAuthenticator("parley", SECRET)
    ha1s = store()
    known_request = challenge_and_answer(auth, 0.0, "wrong")
    unknown_request = challenge_and_answer(auth, 0.0, "wrong", username="9999")
    auth.verify(challenge_and_answer(auth, 0.0, "x"), 0.0, lambda user, alg: None)  # decoy made
    auth_module.ALGORITHMS.update({name: counting(name) for name in real})
    try:
        auth.verify(known_request, 1.0, lambda user, alg: ha1s.get((user, alg)))
        known_cost = len(calls)
        calls.clear()
        auth.verify(unknown_request, 1.0, lambda user, alg: None)
        unknown_cost = len(calls)
    finally:
        auth_module.ALGORITHMS.update(real)
    assert known_cost == unknown_cost > 0


def test_expired_nonce_is_stale_and_forged_nonce_rechallenged() -> None:
    auth = DigestAuthenticator("parley", SECRET, nonce_lifetime=60)
    ha1s = store()
    retry = challenge_and_answer(auth, 0.0, "pw1001")
    late = auth.verify(retry, 61.0, lambda user, alg: ha1s.get((user, alg)))
    assert late.outcome is AuthOutcome.CHALLENGE
    assert late.stale
    assert all("stale=true" in v for _, v in auth.challenge(61.0, stale=True))
    other = DigestAuthenticator("parley", b"another-secret-of-16-bytes")
    forged = other.verify(retry, 1.0, lambda user, alg: ha1s.get((user, alg)))
    assert forged.outcome is AuthOutcome.CHALLENGE
    assert not forged.stale
    missing = auth.verify(load("000-baresip-req-register.sip"), 1.0,  # type: ignore[arg-type]
                          lambda user, alg: None)
    assert missing.outcome is AuthOutcome.CHALLENGE


def test_bad_inputs() -> None:
    with pytest.raises(AuthError, match="not Digest"):
        parse_digest('Basic realm="x"')
    with pytest.raises(AuthError, match="not supported"):
        DigestAuthenticator("parley", SECRET, algorithms=["SHA-512-256"])
    with pytest.raises(AuthError, match="16 bytes"):
        DigestAuthenticator("parley", b"short")
    assert Challenge.parse('Digest realm="a", nonce="b", qop="auth,auth-int"').qop == (
        "auth", "auth-int")


def test_answers_without_qop_accepted_unless_required() -> None:
    auth = DigestAuthenticator("asterisk", SECRET)
    nonce = auth.make_nonce(0.0)
    request = load("002-baresip-req-register.sip")
    assert isinstance(request, SipRequest)
    value = authorization_header(f'Digest realm="asterisk", nonce="{nonce}"',
                                 method="REGISTER", uri="sip:127.0.0.1:47060",
                                 username="1001", password="pw1001")
    assert "qop" not in value
    signed = request.set_header("Authorization", value)
    ha1 = compute_ha1("1001", "asterisk", "pw1001")
    assert auth.verify(signed, 1.0, lambda user, alg: ha1).ok
    strict = DigestAuthenticator("asterisk", SECRET, require_qop=True)
    assert strict.verify(signed, 1.0, lambda user, alg: ha1).outcome is AuthOutcome.FORBIDDEN


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_verify_never_raises_on_garbage_credentials(garbage: str) -> None:
    auth = DigestAuthenticator("parley", SECRET)
    request = load("002-baresip-req-register.sip")
    assert isinstance(request, SipRequest)
    for value in (garbage, "Digest " + garbage,
                  f'Digest realm="parley", username="1001", {garbage}'):
        signed = request.set_header("Authorization", value)
        result = auth.verify(signed, 1.0, lambda user, alg: "0" * 32)
        assert not result.ok
