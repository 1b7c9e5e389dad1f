"""The STUN/TURN servers a browser phone is given: TURN credentials made from coturn's shared
secret as coturn checks them, servers with their own credentials as they are, and settings
that could never work refused, naming the key."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from pydantic import ValidationError

from parley.config import WebRtcSettings
from parley.web.phone import ice_servers


def test_turn_credentials_are_made_per_phone_from_the_shared_secret() -> None:
    settings = WebRtcSettings.model_validate({
        "ice_servers": [{"urls": ["turn:turn.example.net:3478"]},
                        {"urls": ["stun:stun.example.net"]},
                        {"urls": ["turns:fixed.example.net:5349"], "username": "site",
                         "credential": "pw"}],
        "turn_secret": "s3cret", "turn_ttl_s": 600})
    made, stun, fixed = ice_servers(settings, "1001", 1_800_000_000.7)
    assert made.username == "1800000600:1001"
    expected = hmac.new(b"s3cret", b"1800000600:1001", hashlib.sha1).digest()
    assert made.credential == base64.b64encode(expected).decode()
    assert (stun.username, stun.credential) == (None, None)
    assert (fixed.username, fixed.credential) == ("site", "pw")


@pytest.mark.parametrize(("given", "message"), [
    ({"ice_servers": [{"urls": ["turn:t.example.net"]}]}, "needs a username and credential"),
    ({"ice_servers": [{"urls": ["http://t.example.net"]}]}, "is not a STUN or TURN URL"),
    ({"ice_servers": [{"urls": ["stun:s.example.net"]}], "ice_transport_policy": "relay"},
     "'relay' needs a TURN server"),
    ({"turn_ttl_s": 10}, "turn_ttl_s"),
])
def test_settings_that_could_not_work_are_refused(given: dict[str, object],
                                                  message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WebRtcSettings.model_validate(given)
