"""SDP parsing, serialising and offer/answer against real offers."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.sdp import (
    PCMA,
    PCMU,
    NoCommonCodec,
    SdpError,
    SdpParseError,
    SessionDescription,
    build_answer,
    build_offer,
    negotiated,
    with_direction,
)
from parley.sip.message import parse_message

HERE = Path(__file__).parent
CHROMIUM = (HERE / "data" / "chromium-156-audio-offer.sdp").read_bytes()
SIP_DATA = HERE.parent / "sip" / "data"
SDP_BODIES = {
    p.name: parse_message(p.read_bytes()).body
    for p in sorted(SIP_DATA.glob("*.sip"))
    if parse_message(p.read_bytes()).content_type == "application/sdp"
}


def body(name: str) -> SessionDescription:
    return SessionDescription.parse(SDP_BODIES[name])


def test_captures_have_sdp_bodies() -> None:
    assert len(SDP_BODIES) >= 10


@pytest.mark.parametrize("name", sorted(SDP_BODIES))
def test_every_captured_sdp_round_trips(name: str) -> None:
    sdp = SessionDescription.parse(SDP_BODIES[name])
    assert SessionDescription.parse(str(sdp)) == sdp
    assert sdp.audio is not None
    if SDP_BODIES[name].endswith(b"\r\n"):
        assert bytes(sdp) == SDP_BODIES[name]


def test_chromium_offer() -> None:
    sdp = SessionDescription.parse(CHROMIUM)
    audio = sdp.audio
    assert audio is not None
    assert audio.proto == "UDP/TLS/RTP/SAVPF"
    assert audio.payload_types == [111, 63, 9, 0, 8, 13, 110, 126]
    assert audio.rtpmaps[126].encoding == "telephone-event"
    assert audio.rtpmaps[111].channels == 2
    assert audio.fmtp(111) == "minptime=10;useinbandfec=1"
    assert sdp.connection_for(audio) is not None
    assert SessionDescription.parse(bytes(sdp)) == sdp


def test_chromium_offer_is_refused_with_reason() -> None:
    # Parley's SIP legs speak plain RTP; DTLS-SRTP offers are the WebRTC gateway's job.
    with pytest.raises(NoCommonCodec, match="no common codec: offered UDP/TLS/RTP/SAVPF audio"):
        build_answer(SessionDescription.parse(CHROMIUM), "10.0.0.1", 20000)


def test_answer_keeps_offerer_payload_types_and_dtmf() -> None:
    offer = body("073-linphonec-req-invite.sip")  # opus speex ... PCMU PCMA; te at 99/100/101
    answer = build_answer(offer, "10.0.0.1", 20000, codecs=[PCMA, PCMU])
    audio = answer.audio
    assert audio is not None
    assert audio.formats == ("8", "0", "101")
    assert audio.rtpmaps[101].encoding == "telephone-event"
    assert audio.rtpmaps[101].clock_rate == 8000
    assert audio.direction == "sendrecv"
    assert audio.port == 20000
    media = negotiated(answer)
    assert (media.address, media.port, media.codec, media.payload_type) == (
        "10.0.0.1", 20000, PCMA, 8)
    assert media.dtmf_payload_type == 101
    # The offer side: what we send to linphone.
    theirs = negotiated(offer)
    assert theirs.port == 47178
    assert theirs.codec == PCMU
    assert theirs.dtmf_payload_type == 101


def test_baresip_offer_answer_round_trip() -> None:
    offer = body("012-baresip-req-invite.sip")
    answer = build_answer(offer, "127.0.0.1", 30000)
    parsed = SessionDescription.parse(bytes(answer))
    assert parsed == answer
    assert parsed.audio is not None
    assert parsed.audio.formats == ("0", "8", "101")
    assert parsed.audio.fmtp(101) == "0-15"
    assert parsed.audio.ptime == 20


def test_no_common_codec_message() -> None:
    offer = build_offer("10.0.0.2", 4000, codecs=[], dtmf=False)
    offer = SessionDescription.parse(
        str(offer).replace("RTP/AVP ", "RTP/AVP 9 18").replace(
            "a=ptime", "a=rtpmap:9 G722/8000\r\na=ptime"))
    with pytest.raises(NoCommonCodec) as info:
        build_answer(offer, "10.0.0.1", 20000)
    assert str(info.value) == "no common codec: offered G722, G729, supported PCMU, PCMA"
    assert info.value.warning == '305 parley "no common codec: offered G722, G729, ' \
        'supported PCMU, PCMA"'


@pytest.mark.parametrize(
    ("offered", "ours", "expected"),
    [("sendrecv", "sendrecv", "sendrecv"), ("sendonly", "sendrecv", "recvonly"),
     ("recvonly", "sendrecv", "sendonly"), ("inactive", "sendrecv", "inactive"),
     ("sendrecv", "sendonly", "sendonly"), ("sendonly", "sendonly", "inactive")],
)
def test_answer_direction(offered: str, ours: str, expected: str) -> None:
    offer = build_offer("10.0.0.2", 4000, direction=offered)
    answer = build_answer(offer, "10.0.0.1", 20000, direction=ours)
    assert answer.audio is not None
    assert answer.audio.direction == expected


def test_hold_and_resume_offers() -> None:
    offer = build_offer("10.0.0.1", 20000, session_id="42", version=1)
    hold = with_direction(offer, "sendonly")
    assert hold.audio is not None
    assert hold.audio.direction == "sendonly"
    assert hold.origin.version == 2
    assert negotiated(hold).on_hold
    resume = with_direction(hold, "sendrecv")
    assert resume.audio is not None
    assert resume.audio.direction == "sendrecv"
    assert resume.origin.version == 3
    assert str(resume).count("a=sendrecv") == 1
    with pytest.raises(SdpError, match="direction"):
        with_direction(offer, "sideways")


def test_answer_refuses_extra_streams_with_port_zero() -> None:
    video = "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
    text = str(build_offer("10.0.0.2", 4000)) + video
    answer = build_answer(SessionDescription.parse(text), "10.0.0.1", 20000)
    assert [(m.media, m.port) for m in answer.media] == [("audio", 20000), ("video", 0)]


@pytest.mark.parametrize(
    ("text", "line"),
    [("o=- 1 1 IN IP4 h\r\n", 1), ("v=0\r\no=- 1 x IN IP4 h\r\n", 2),
     ("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 99999 RTP/AVP 0\r\n", 3),
     ("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 5 RTP/AVP zero\r\n", 3),
     ("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4\r\n", 3), ("v=0\r\ngarbage\r\n", 2)],
)
def test_bad_sdp_names_the_line(text: str, line: int) -> None:
    with pytest.raises(SdpParseError) as info:
        SessionDescription.parse(text)
    assert info.value.line_number == line
    assert f"SDP line {line}:" in str(info.value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | st.sampled_from(list(SDP_BODIES.values())).flatmap(
    lambda b: st.integers(0, len(b)).map(lambda n: b[:n] + b"\r\nm=x\r\n" + b[n:])))
def test_parse_or_raise(data: bytes) -> None:
    try:
        sdp = SessionDescription.parse(data)
    except SdpParseError:
        return
    assert SessionDescription.parse(str(sdp)) == sdp


def test_old_style_hold_with_zero_address() -> None:
    held = SessionDescription.parse(str(build_offer("0.0.0.0", 4000)))
    media = negotiated(held)
    assert media.direction == "sendrecv"
    assert media.on_hold


def test_session_level_direction_applies_to_streams() -> None:
    text = str(build_offer("10.0.0.2", 4000)).replace("a=sendrecv\r\n", "")
    text = text.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n")
    offer = SessionDescription.parse(text)
    assert offer.audio is not None
    assert offer.audio.direction == "sendrecv"  # the stream alone says nothing
    assert offer.direction_of(offer.audio) == "sendonly"
    assert negotiated(offer).on_hold
    answer = build_answer(offer, "10.0.0.1", 20000)
    assert answer.audio is not None
    assert answer.audio.direction == "recvonly"


INSERTS = [b"", b" ", b"0", b"a=sendonly\r\n", b"m=audio 0 RTP/AVP 8\r\n",
           b"a=rtpmap:8 PCMA/8000\r\n", b"c=IN IP4 0.0.0.0\r\n",
           b"a=rtpmap:101 telephone-event/notanumber\r\n"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([*SDP_BODIES.values(), CHROMIUM]).flatmap(
    lambda b: st.tuples(st.just(b), st.integers(0, len(b)), st.integers(0, 40),
                        st.sampled_from(INSERTS))))
def test_offer_answer_never_fails_unexpectedly(case: tuple[bytes, int, int, bytes]) -> None:
    body, at, cut, insert = case
    data = body[:at] + insert + body[at + cut:]
    try:
        offer = SessionDescription.parse(data)
    except SdpParseError:
        return
    try:
        answer = build_answer(offer, "10.0.0.1", 20000)
    except SdpError:
        return
    assert len(answer.media) == len(offer.media)
    assert SessionDescription.parse(bytes(answer)) == answer
    assert negotiated(answer).port == 20000
