"""Pure pieces of call control: cause table, HA1 store, SDP negotiation, toll-fraud rule."""

from __future__ import annotations

import hashlib

import pytest

from parley.events import HangupCause
from parley.sip.auth import compute_ha1 as ha1
from parley.telephony.causes import STATUS_TO_CAUSE, cause_for_status, status_for_cause
from parley.telephony.engine import CallerClass, Destination, may_call
from parley.telephony.media_sdp import (
    PCMA,
    MediaNegotiationError,
    answer_direction,
    build_sdp,
    read_audio,
)
from parley.telephony.users import demo_directory


@pytest.mark.parametrize(("status", "cause"), [
    (486, HangupCause.USER_BUSY), (480, HangupCause.NO_ANSWER),
    (404, HangupCause.UNALLOCATED_NUMBER), (487, HangupCause.ORIGINATOR_CANCEL),
    (488, HangupCause.INCOMPATIBLE_DESTINATION), (603, HangupCause.CALL_REJECTED),
])
def test_causes_map_to_sip_and_back(status: int, cause: HangupCause) -> None:
    assert cause_for_status(status) is cause
    assert status_for_cause(cause) == status


def test_every_status_in_the_table_maps_to_a_cause_that_maps_to_a_failure() -> None:
    for status, cause in STATUS_TO_CAUSE.items():
        assert 400 <= status_for_cause(cause) < 700, (status, cause)
    assert cause_for_status(599) is HangupCause.TEMPORARY_FAILURE
    assert cause_for_status(499) is HangupCause.NORMAL_UNSPECIFIED


def test_ha1_is_what_the_directory_stores() -> None:
    user = demo_directory("parley").lookup("1007")
    assert user is not None
    assert user.ha1["MD5"] == hashlib.md5(b"1007:parley:pw1007", usedforsecurity=False).hexdigest()
    assert user.ha1["SHA-256"] == ha1("1007", "parley", "pw1007", "SHA-256")
    assert "pw1007" not in repr(user)


OFFER = (b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 9 8 0 101\r\na=rtpmap:9 G722/8000\r\n"
         b"a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n")


def test_offer_keeps_the_phones_order_of_supported_codecs() -> None:
    audio = read_audio(OFFER)
    assert (audio.host, audio.port) == ("10.0.0.5", 4000)
    assert [codec.name for codec in audio.codecs] == ["PCMA", "PCMU"]
    assert audio.dtmf_payload_type == 101
    assert audio.direction == "sendonly"
    assert answer_direction(audio.direction) == "recvonly"


def test_no_common_codec_says_so() -> None:
    with pytest.raises(MediaNegotiationError, match=r"no common codec: offered G722.*PCMU or PCMA"):
        read_audio(OFFER.replace(b"9 8 0 101", b"9 101"))
    with pytest.raises(MediaNegotiationError, match="no audio"):
        read_audio(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n")


def test_parleys_sdp_reads_back() -> None:
    body = build_sdp("127.0.0.1", 20000, (PCMA,), session_id=5, version=2,
                     direction="sendonly")
    audio = read_audio(body)
    assert (audio.port, audio.codec.name, audio.direction) == (20000, "PCMA", "sendonly")


@pytest.mark.parametrize(("caller", "allowed"), [
    (CallerClass.USER, {Destination.EXTENSION, Destination.PUBLIC, Destination.OUTSIDE,
                        Destination.UNKNOWN}),
    (CallerClass.TRUNK, {Destination.EXTENSION, Destination.PUBLIC, Destination.UNKNOWN}),
    (CallerClass.GUEST, {Destination.PUBLIC}),
])
def test_no_toll_fraud(caller: CallerClass, allowed: set[Destination]) -> None:
    assert {d for d in Destination if may_call(caller, d)} == allowed
