"""ICE-lite: binding checks answered with the SDP's credentials, nomination, consent."""

from __future__ import annotations

from aioice import stun

from parley.media.ice import IceLite, is_stun

BROWSER = ("192.0.2.2", 45849)
OTHER = ("192.0.2.2", 38322)


def check(agent: IceLite, *, username: str | None = None, pwd: str | None = None,
          use_candidate: bool = False) -> bytes:
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    request.attributes["USERNAME"] = username or f"{agent.local_ufrag}:spKN"
    request.attributes["PRIORITY"] = 2122194687
    request.attributes["ICE-CONTROLLING"] = 1
    if use_candidate:
        request.attributes["USE-CANDIDATE"] = None
    request.add_message_integrity((pwd or agent.local_pwd).encode())
    return bytes(request)


def agent() -> IceLite:
    lite = IceLite.new()
    lite.set_remote("spKN", "2qVhEiZVn52knKPapcDKx5ck")
    return lite


def test_a_valid_check_gets_a_signed_success_with_the_browser_address() -> None:
    lite = agent()
    data = check(lite)
    assert is_stun(data)
    response = stun.parse_message(lite.receive(data, BROWSER, 1.0) or b"")
    assert response.message_class is stun.Class.RESPONSE
    assert response.attributes["XOR-MAPPED-ADDRESS"] == BROWSER
    assert response.check_message_integrity(lite.local_pwd.encode())
    assert lite.selected == BROWSER  # the first checked address, before any nomination
    assert lite.nominated is None


def test_use_candidate_nominates_and_later_checks_refresh_consent() -> None:
    lite = agent()
    lite.receive(check(lite), OTHER, 0.0)
    lite.receive(check(lite, use_candidate=True), BROWSER, 1.0)
    assert lite.nominated == BROWSER
    assert lite.selected == BROWSER
    lite.receive(check(lite), BROWSER, 20.0)
    assert not lite.consent_expired(45.0, timeout=30.0)
    lite.receive(check(lite), OTHER, 40.0)  # consent is given on the selected pair only
    assert lite.consent_expired(50.5, timeout=30.0)


def test_wrong_password_or_username_is_refused_with_401_and_nominates_nothing() -> None:
    lite = agent()
    for data in (check(lite, pwd="not-the-password-at-all"),
                 check(lite, username="someoneelse:spKN", use_candidate=True)):
        response = stun.parse_message(lite.receive(data, BROWSER, 1.0) or b"")
        assert response.message_class is stun.Class.ERROR
        assert response.attributes["ERROR-CODE"][0] == 401
    assert lite.selected is None
    assert lite.refused == 2
    assert not lite.consent_expired(100.0)  # never given, so never expires: see the leg


def test_garbage_and_indications_get_no_answer() -> None:
    lite = agent()
    assert lite.receive(b"\x00\x01" + b"\xff" * 30, BROWSER, 0.0) is None
    indication = stun.Message(stun.Method.BINDING, stun.Class.INDICATION)
    assert lite.receive(bytes(indication), BROWSER, 0.0) is None


def test_an_ice_restart_forgets_the_nomination() -> None:
    lite = agent()
    lite.receive(check(lite, use_candidate=True), BROWSER, 0.0)
    lite.set_remote("newU", "a-new-password-of-22-chars")
    assert lite.selected is None
