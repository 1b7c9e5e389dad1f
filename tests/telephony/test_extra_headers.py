"""Headers given to originate(): added as given, refused when they could break the INVITE."""

from __future__ import annotations

import pytest

from parley.sip.message import extra_headers


def test_headers_kept_in_order() -> None:
    assert extra_headers({"X-Parley-Queue": "support", "X-Priority": "2 (high)"}) == (
        ("X-Parley-Queue", "support"), ("X-Priority", "2 (high)"))
    assert extra_headers(None) == ()


@pytest.mark.parametrize(("headers", "words"), [
    ({"X Bad": "1"}, "not a SIP token"),
    ({"": "1"}, "not a SIP token"),
    ({"X-Evil": "a\r\nVia: SIP/2.0/UDP evil"}, "CR, LF"),
    ({"X-Evil": "a\nb"}, "CR, LF"),
    ({"Call-ID": "x"}, "set by Parley"),
    ({"i": "x"}, "set by Parley"),  # the compact form of Call-ID
    ({"content-length": "0"}, "set by Parley"),
])
def test_bad_headers_raise_value_error(headers: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        extra_headers(headers)
