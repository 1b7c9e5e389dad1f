"""REFER parsing (RFC 3515) and Replaces (RFC 3891): what a transfer handler is given."""

from __future__ import annotations

import pytest

from parley.sip.errors import SipParseError
from parley.sip.message import SipRequest, parse_message
from parley.telephony import ReferRequest, Replaces
from parley.telephony.refer import parse_refer, sipfrag


def refer(*headers: str) -> SipRequest:
    head = "\r\n".join([
        "REFER sip:parley@127.0.0.1:5060 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1",
        "From: <sip:1001@127.0.0.1>;tag=phone",
        "To: <sip:600@127.0.0.1>;tag=parley",
        "Call-ID: call-1@127.0.0.1",
        "CSeq: 3 REFER",
        "Contact: <sip:1001@127.0.0.1:5070>",
        "Max-Forwards: 70",
        *headers,
        "Content-Length: 0",
    ])
    message = parse_message((head + "\r\n\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


def test_blind_transfer_gives_target_and_uri() -> None:
    request = refer("Refer-To: <sip:601@127.0.0.1:5060>")
    assert parse_refer(request) == ReferRequest(target="601", uri="sip:601@127.0.0.1:5060",
                                                replaces=None,
                                                referred_by="sip:1001@127.0.0.1")


def test_compact_form_and_addr_spec_and_referred_by() -> None:
    request = refer("r: sip:1002@pbx.example.com", 'Referred-By: "Ann" <sip:1001@pbx>')
    parsed = parse_refer(request)
    assert parsed.target == "1002"
    assert parsed.uri == "sip:1002@pbx.example.com"
    assert parsed.referred_by == "sip:1001@pbx"


def test_attended_transfer_replaces_is_url_decoded_and_dropped_from_uri() -> None:
    request = refer("Refer-To: <sip:1002@127.0.0.1?Replaces=abc%40host%3Bto-tag%3Dp1"
                    "%3Bfrom-tag%3Dph2&Require=replaces>")
    parsed = parse_refer(request)
    assert parsed.replaces == Replaces(call_id="abc@host", to_tag="p1", from_tag="ph2")
    assert parsed.uri == "sip:1002@127.0.0.1"
    assert parsed.target == "1002"


def test_replaces_written_without_escaping_still_parses() -> None:
    parsed = parse_refer(refer(
        "Refer-To: <sip:1002@127.0.0.1?Replaces=x@y;from-tag=b;to-tag=a;early-only>"))
    assert parsed.replaces == Replaces("x@y", to_tag="a", from_tag="b", early_only=True)


@pytest.mark.parametrize(("headers", "header", "words"), [
    ((), "Refer-To", "missing"),
    (("Refer-To: <sip:1@h>", "Refer-To: <sip:2@h>"), "Refer-To", "more than one"),
    (("Refer-To: <sip:1@h>, <sip:2@h>",), "Refer-To", "more than one"),
    (("Refer-To: <http://example.com/x>",), "Refer-To", "not a sip"),
    (("Refer-To: <sip:host.example.com>",), "Refer-To", "no user part"),
    (("Refer-To: <sip:1002@h?Replaces=abc%3Bto-tag%3Dx>",), "Refer-To", "from-tag"),
    (("Refer-To: <sip:1002@h?Replaces=%3Bto-tag%3Dx%3Bfrom-tag%3Dy>",), "Refer-To",
     "Call-ID"),
    (("Refer-To: <sip:1002@>",), "Refer-To", "host"),
    (("Refer-To: <sip:1002@h>", "Referred-By: <sip:oops"), "Referred-By", "'<'"),
])
def test_malformed_refer_names_the_header(headers: tuple[str, ...], header: str,
                                          words: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_refer(refer(*headers))
    assert caught.value.header == header
    assert words in caught.value.reason


def test_replaces_parse() -> None:
    assert Replaces.parse("a@b;to-tag=1;from-tag=2") == Replaces("a@b", "1", "2")
    with pytest.raises(SipParseError, match="to-tag"):
        Replaces.parse("a@b;from-tag=2")


def test_sipfrag_is_a_status_line() -> None:
    assert sipfrag(200, "OK") == b"SIP/2.0 200 OK\r\n"
