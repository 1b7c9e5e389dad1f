"""Parsing and serialising SIP messages: captures, compact forms, folding, limits, framing."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.sip.errors import SipFramingError, SipParseError
from parley.sip.headers import NameAddr, Via
from parley.sip.message import (
    MAX_HEADER_LENGTH,
    KeepAlive,
    SipRequest,
    SipResponse,
    StreamFramer,
    build_request,
    build_response,
    new_branch,
    parse_message,
)
from parley.sip.uri import _PARAM_SAFE, _USER_SAFE, SipUri

DATA = Path(__file__).parent / "data"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_every_capture_parses_and_round_trips(capture: bytes) -> None:
    message = parse_message(capture)
    again = parse_message(bytes(message))
    # A missing Content-Length is added on output; otherwise the message is unchanged.
    assert again.without_header("Content-Length") == message.without_header("Content-Length")
    assert again.body == message.body
    assert bytes(again) == bytes(message)
    assert parse_message(bytes(again)) == again
    assert message.call_id
    assert message.via.branch
    assert message.via.branch.startswith("z9hG4bK")


def test_capture_with_crlf_is_byte_exact() -> None:
    raw = load("012-baresip-req-invite.sip")
    assert bytes(parse_message(raw)) == raw


def test_invite_accessors() -> None:
    msg = parse_message(load("012-baresip-req-invite.sip"))
    assert isinstance(msg, SipRequest)
    assert msg.method == "INVITE"
    assert msg.uri.user == "1002"
    assert msg.uri.port == 47060
    assert msg.via.transport == "UDP"
    assert msg.via.branch == "z9hG4bKf61ac2ce7c6192b7"
    assert msg.via.wants_rport
    assert msg.via.rport is None
    assert msg.from_.tag == "8e89eb3e0f18f1ad"
    assert msg.to.tag is None
    assert msg.cseq.seq == 38236
    assert msg.cseq.method == "INVITE"
    assert msg.max_forwards == 70
    assert msg.contact is not None
    assert msg.contact.uri.user == "1001-0x55ce0c89a030"
    assert msg.content_type == "application/sdp"
    assert msg.body.startswith(b"v=0\r\n")
    assert len(msg.body) == 343


def test_response_accessors_received_rport() -> None:
    msg = parse_message(load("001-asterisk-resp-401-register.sip"))
    assert isinstance(msg, SipResponse)
    assert msg.status == 401
    assert msg.reason == "Unauthorized"
    assert msg.method == "REGISTER"
    assert msg.via.received == "127.0.0.1"
    assert msg.via.rport == 38210
    assert msg.via.response_address() == ("127.0.0.1", 38210)
    assert msg.to.tag == "as7b4c8643"
    assert 'nonce="2e831dc5"' in (msg.header("www-authenticate") or "")


def test_linphone_contact_params() -> None:
    msg = parse_message(load("073-linphonec-req-invite.sip"))
    contact = msg.contact
    assert contact is not None
    assert contact.expires == 60
    assert contact.uri.transport == "udp"
    assert contact.param("+sip.instance") == '"<urn:uuid:533d505d-16ce-00a3-9410-957c9a6e91a2>"'
    assert msg.to.uri.user == "1001"  # addr-spec form without angle brackets


COMPACT = (
    b"OPTIONS sip:alice@example.com SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1,\r\n"
    b"  SIP/2.0/TCP proxy.example.com;branch=z9hG4bK2;received=10.0.0.9\r\n"
    b"f: \"Bob, Jr.\" <sip:bob@example.com>;tag=a1\r\n"
    b"t: <sip:alice@example.com>\r\n"
    b"i: abc@host\r\n"
    b"CSEQ: 7 OPTIONS\r\n"
    b"m: <sip:bob@10.0.0.1>;q=0.5, <sip:bob@10.0.0.2>;q=0.9\r\n"
    b"k: timer\r\n"
    b"s: folded\r\n"
    b"\tsubject line\r\n"
    b"l: 0\r\n\r\n"
)


def test_compact_forms_folding_and_lists() -> None:
    msg = parse_message(COMPACT)
    assert [v.host for v in msg.vias] == ["10.0.0.1", "proxy.example.com"]
    assert msg.vias[1].received == "10.0.0.9"
    assert msg.from_.display_name == "Bob, Jr."
    assert msg.call_id == "abc@host"
    assert msg.header("Subject") == "folded subject line"
    assert msg.header("supported") == "timer"
    assert [c.q for c in msg.contacts] == [0.5, 0.9]
    out = bytes(msg)
    assert b"Call-ID: abc@host\r\n" in out
    assert b"\r\nVia: " in out
    assert parse_message(out) == msg


def test_bare_lf_and_leading_crlf_accepted() -> None:
    raw = b"\r\n\r\n" + COMPACT.replace(b"\r\n", b"\n")
    assert parse_message(raw).call_id == "abc@host"
    # Mixed: CRLF lines ended by a bare LF empty line; CR CR LF before the empty line.
    head, _, body = COMPACT.partition(b"\r\n\r\n")
    for end in (b"\r\n\n", b"\r\r\n\r\n"):
        assert parse_message(head + end + body).call_id == "abc@host"
    with pytest.raises(SipParseError, match="control characters"):  # a CR alone elsewhere
        parse_message(COMPACT.replace(b"\r\n", b"\r\r\n", 1))


def test_content_length_recomputed_and_extra_bytes_dropped() -> None:
    raw = load("063-sipp-req-invite.sip")
    msg = parse_message(raw + b"garbage-after-body")
    assert len(msg.body) == 130
    changed = msg.with_body(b"v=0\r\n", "application/sdp")
    assert b"Content-Length: 5\r\n" in bytes(changed)
    assert parse_message(bytes(changed)).body == b"v=0\r\n"


@pytest.mark.parametrize(
    ("mutate", "header", "words"),
    [
        (lambda r: r.replace(b"Via: SIP/2.0/UDP 127.0.0.1:47070;branch=z9hG4bK-2820-1-0\r\n", b""),
         "Via", "missing"),
        (lambda r: r.replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"), "CSeq", "number"),
        (lambda r: r.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), "CSeq", "differs"),
        (lambda r: r.replace(b"Content-Length:   130", b"Content-Length: 500"),
         "Content-Length", "only 130"),
        (lambda r: r.replace(b"Content-Length:   130", b"Content-Length: -1"),
         "Content-Length", "integer"),
        (lambda r: r.replace(b"Max-Forwards: 70", b"Max-Forwards: 999"), "Max-Forwards", "255"),
        (lambda r: r.replace(b"To: 600 <sip:600@", b"To: 600 <sop:600@"), "To", "URI"),
        (lambda r: r.replace(b"From: sipp <sip:sipp@127.0.0.1:47070>",
                             b"From: sipp <sip:sipp@127.0.0.1:470700>"), "From", "port"),
    ],
)
def test_malformed_header_names_header(mutate, header: str, words: str) -> None:  # type: ignore[no-untyped-def]
    raw = mutate(load("063-sipp-req-invite.sip"))
    with pytest.raises(SipParseError) as info:
        parse_message(raw)
    assert info.value.header == header
    assert words in str(info.value)
    assert header in str(info.value)


@pytest.mark.parametrize(
    ("old", "new"),
    [(b"CSeq: 1 INVITE", b"CSeq: x INVITE"), (b"To: 600 <sip:600@", b"To: 600 <sop:600@"),
     (b"Max-Forwards: 70", b"Max-Forwards: many"), (b"Call-ID: 1-2820@127.0.0.1\r\n", b""),
     (b"Content-Length:   130", b"Content-Length: 99999")],
)
def test_any_partial_request_can_be_answered_400(old: bytes, new: bytes) -> None:
    raw = load("063-sipp-req-invite.sip").replace(old, new)
    with pytest.raises(SipParseError) as info:
        parse_message(raw)
    partial = info.value.partial
    assert partial is not None
    reply = build_response(partial, 400, f"Bad Request ({info.value.reason})", to_tag="t")
    assert reply.status == 400
    assert reply.header("Via") == "SIP/2.0/UDP 127.0.0.1:47070;branch=z9hG4bK-2820-1-0"
    assert bytes(reply).startswith(b"SIP/2.0 400 Bad Request (")


def test_partial_request_allows_400() -> None:
    raw = load("063-sipp-req-invite.sip").replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE")
    with pytest.raises(SipParseError) as info:
        parse_message(raw)
    partial = info.value.partial
    assert partial is not None
    reply = SipResponse(400, "Bad Request", partial.headers.remove("Content-Length"))
    assert b"Via: SIP/2.0/UDP 127.0.0.1:47070;branch=z9hG4bK-2820-1-0" in bytes(reply)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n",  # truncated
        b"INVITE sip:a@b SIP/3.0\r\n\r\n",
        b"SIP/2.0 99 Low\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\nNo colon here\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\n folded-first\r\n\r\n",
    ],
)
def test_garbage_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(raw)


def test_oversized_header_is_named() -> None:
    raw = load("063-sipp-req-invite.sip").replace(
        b"Subject: Performance Test", b"Subject: " + b"x" * (MAX_HEADER_LENGTH + 10))
    with pytest.raises(SipParseError, match="Subject: header longer than") as info:
        parse_message(raw)
    assert info.value.header == "Subject"


def test_too_many_headers_and_too_large() -> None:
    raw = load("063-sipp-req-invite.sip")
    many = raw.replace(b"Subject: Performance Test\r\n", b"X-A: 1\r\n" * 200)
    with pytest.raises(SipParseError, match="more than 128 header lines"):
        parse_message(many)
    with pytest.raises(SipParseError, match="exceeds"):
        parse_message(raw + b"x" * 70_000)


def test_build_request_and_response() -> None:
    via = Via("UDP", "10.0.0.1", 5060, (("branch", new_branch()), ("rport", None)))
    req = build_request(
        "INVITE", SipUri.parse("sip:1002@10.0.0.2"),
        from_=NameAddr.parse("<sip:1001@parley>;tag=abc"), to=NameAddr.parse("sip:1002@parley"),
        call_id="c1@parley", cseq=1, via=via,
        contact=NameAddr(SipUri.parse("sip:1001@10.0.0.1:5060")),
        headers=[("Record-Route", "<sip:proxy;lr>")], body=b"v=0\r\n",
        content_type="application/sdp")
    parsed = parse_message(bytes(req))
    assert parsed == req
    ringing = build_response(parsed, 180, to_tag="xyz")
    assert ringing.reason == "Ringing"
    assert ringing.to.tag == "xyz"
    assert ringing.from_.tag == "abc"
    assert ringing.vias == parsed.vias
    assert ringing.cseq == parsed.cseq
    assert [str(r.uri) for r in ringing.record_routes] == ["sip:proxy;lr"]
    trying = build_response(parsed, 100, to_tag="xyz")
    assert trying.to.tag is None
    assert not trying.record_routes
    assert parse_message(bytes(ringing)) == ringing


def test_stream_framer_splits_and_answers_pings() -> None:
    a = load("063-sipp-req-invite.sip")
    b = load("066-sipp-req-ack.sip")
    stream = b"\r\n\r\n" + a + b"\r\n" + b
    framer = StreamFramer()
    frames: list[bytes | KeepAlive] = []
    for i in range(0, len(stream), 7):
        frames += framer.feed(stream[i:i + 7])
    assert isinstance(frames[0], KeepAlive)
    msgs = [parse_message(f) for f in frames[1:] if isinstance(f, bytes)]
    assert [m.cseq.method for m in msgs] == ["INVITE", "ACK"]
    assert framer.buffered == 0


def test_stream_framer_needs_content_length() -> None:
    framer = StreamFramer()
    with pytest.raises(SipFramingError, match="mandatory over TCP"):
        framer.feed(load("069-linphonec-req-register.sip"))
    with pytest.raises(SipFramingError):
        framer.feed(b"more")


def test_folding_onto_an_empty_value() -> None:
    raw = load("065-asterisk-resp-200-invite.sip").replace(
        b"Supported: replaces, timer", b"Supported:\r\n replaces, timer")
    msg = parse_message(raw)
    assert msg.header("Supported") == "replaces, timer"
    assert parse_message(bytes(msg)) == msg


def test_precheck_request() -> None:
    from parley.sip.message import precheck_request

    invite = parse_message(load("073-linphonec-req-invite.sip"))
    assert isinstance(invite, SipRequest)
    assert precheck_request(invite) is None
    needs = invite.with_header("Require", "100rel, replaces")
    refused = precheck_request(needs)
    assert refused is not None
    assert refused.status == 420
    assert refused.header("Unsupported") == "100rel"
    assert precheck_request(needs, supported=["100rel", "replaces"]) is None
    looped = invite.set_header("Max-Forwards", "0")
    hops = precheck_request(looped)
    assert hops is not None
    assert hops.status == 483
    ack = parse_message(load("075-linphonec-req-ack.sip"))
    assert isinstance(ack, SipRequest)
    assert precheck_request(ack.set_header("Max-Forwards", "0")) is None


def test_quoted_display_name_may_hold_angle_brackets_and_semicolons() -> None:
    raw = load("063-sipp-req-invite.sip").replace(
        b"From: sipp <sip:sipp@", b'From: "Acme <Sales>; \\"East\\"" <sip:sipp@')
    msg = parse_message(raw)
    assert msg.from_.display_name == 'Acme <Sales>; "East"'
    assert msg.from_.tag == "2820SIPpTag001"
    assert parse_message(bytes(msg)).from_ == msg.from_


def _written(user: str, value: str) -> str:
    uri = SipUri(scheme="sip", user=user, host="example.net", params=(("x", value),))
    return str(uri)


@given(user=st.text(st.characters(max_codepoint=0x17F), max_size=12),
       value=st.text(st.characters(max_codepoint=0x17F), max_size=12))
@settings(max_examples=400)
def test_a_uri_is_written_with_exactly_the_characters_that_need_it_escaped(
        user: str, value: str) -> None:
    """A user part or parameter value is written escaped where RFC 3261's character sets
    want it, whatever it holds: the common plain ones skip the escaping pass, which must
    change nothing."""
    assert _written(user, value) == (f"sip:{quote(user, safe=_USER_SAFE)}@example.net"
                                     f";x={quote(value, safe=_PARAM_SAFE)}")


def test_every_character_alone_is_escaped_in_a_uri_as_rfc_3261_wants() -> None:
    for char in map(chr, range(0x300)):
        assert _written(char, char) == (f"sip:{quote(char, safe=_USER_SAFE)}@example.net"
                                        f";x={quote(char, safe=_PARAM_SAFE)}"), repr(char)


def test_headers_a_caller_adds_to_a_built_request_are_spelled_canonically() -> None:
    """Extra header names are re-spelled (compact forms expanded; unknown ones kept as
    written) and come before
    Content-Type and Content-Length, which the builder writes last."""
    request = build_request(
        "INFO", SipUri.parse("sip:1001@example.net"), from_=NameAddr.parse("<sip:a@b>;tag=1"),
        to=NameAddr.parse("<sip:1001@example.net>"), call_id="c1", cseq=2,
        via=Via("UDP", "127.0.0.1", 5060), headers=[("x-parley-queue", "support"),
                                                    ("k", "timer")],
        body=b"Signal=5\r\n", content_type="application/dtmf-relay")
    names = [name for name, _ in request.headers]
    assert names[-4:] == ["x-parley-queue", "Supported", "Content-Type", "Content-Length"]
    assert request.headers.get("supported") == "timer"
    assert request.headers.get("Content-Length") == "10"
