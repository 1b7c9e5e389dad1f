"""A carrier's RTP/SAVP offer with a=crypto (RFC 4568): read by what the trunk's ``srtp``
allows, and Parley's own SRTP offer and answer written."""

from __future__ import annotations

import base64
import struct
from types import SimpleNamespace
from typing import cast

import pytest

from parley.media.srtp import Crypto, SdesSrtp, SrtpError
from parley.net.relay import MediaEndpoint
from parley.sdp.session import SessionDescription
from parley.telephony.media_sdp import PCMU, MediaNegotiationError, build_sdp, read_audio
from parley.telephony.sdes import answer_crypto, answered_crypto, offer_crypto

KEY = base64.b64encode(bytes(range(30))).decode()


def offer(profile: str = "RTP/SAVP", crypto: tuple[str, ...] = (
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}",)) -> bytes:
    lines = ["v=0", "o=carrier 1 1 IN IP4 127.0.0.2", "s=-", "c=IN IP4 127.0.0.2", "t=0 0",
             f"m=audio 4000 {profile} 0 101", "a=rtpmap:0 PCMU/8000",
             "a=rtpmap:101 telephone-event/8000", *(f"a=crypto:{c}" for c in crypto)]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_srtp_offer_refused_when_trunk_srtp_is_off() -> None:
    with pytest.raises(MediaNegotiationError, match="srtp: offer or require"):
        read_audio(offer())


@pytest.mark.parametrize("mode", ["offer", "require"])
def test_srtp_offer_read_with_its_usable_lines_in_order(mode: str) -> None:
    remote = read_audio(offer(crypto=(
        f"1 F8_128_HMAC_SHA1_80 inline:{KEY}",
        f"2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}",
        f"3 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")), srtp=mode)
    assert [(c.tag, c.suite) for c in remote.crypto] == [
        (2, "AES_CM_128_HMAC_SHA1_32"), (3, "AES_CM_128_HMAC_SHA1_80")]
    assert remote.codec == PCMU
    assert (remote.host, remote.port) == ("127.0.0.2", 4000)


def test_srtp_offer_without_a_usable_line_is_refused_naming_why() -> None:
    with pytest.raises(MediaNegotiationError, match="no a=crypto line"):
        read_audio(offer(crypto=()), srtp="offer")
    with pytest.raises(MediaNegotiationError, match="F8_128_HMAC_SHA1_80 is not one"):
        read_audio(offer(crypto=(f"1 F8_128_HMAC_SHA1_80 inline:{KEY}",)), srtp="offer")


def test_plain_offer_taken_with_offer_refused_with_require() -> None:
    assert read_audio(offer("RTP/AVP", ()), srtp="offer").crypto == ()
    with pytest.raises(MediaNegotiationError, match="requires SRTP"):
        read_audio(offer("RTP/AVP", ()), srtp="require")


def test_our_srtp_sdp_is_savp_with_our_crypto_lines() -> None:
    ours = (Crypto.fresh(1, "AES_CM_128_HMAC_SHA1_80"), Crypto.fresh(2, "AEAD_AES_128_GCM"))
    body = build_sdp("127.0.0.1", 20000, (PCMU,), session_id=1, version=1, crypto=ours)
    audio = SessionDescription.parse(body).audio
    assert audio is not None
    assert audio.proto == "RTP/SAVP"
    assert [Crypto.parse(v) for v in audio.attribute_values("crypto")] == list(ours)
    back = read_audio(body, srtp="require")
    assert back.crypto == ours


def test_a_carriers_answer_must_name_one_of_our_lines_and_keys_the_leg() -> None:
    ours = offer_crypto()
    assert ours[0].suite == "AES_CM_128_HMAC_SHA1_80"
    endpoint = cast(MediaEndpoint, SimpleNamespace(protect=None, unprotect=None,
                                                    kernel_forwarded=False))
    with pytest.raises(SrtpError, match="matches no line"):
        answered_crypto(endpoint, ours, (Crypto.fresh(9, "AES_CM_128_HMAC_SHA1_80"),))
    theirs = Crypto.fresh(ours[1].tag, ours[1].suite)
    assert answered_crypto(endpoint, ours, (theirs,)) == ours[1]
    assert endpoint.protect is not None
    assert endpoint.unprotect is not None
    carrier_protect, carrier_unprotect = SdesSrtp(theirs, ours[1]).packet_functions()
    packet = struct.pack("!BBHII", 0x80, 0, 1, 160, 0x1234) + b"\xff" * 160
    assert carrier_unprotect(endpoint.protect(packet)) == packet
    assert endpoint.unprotect(carrier_protect(packet)) == packet


def test_our_answer_keeps_the_carriers_tag_and_suite_with_a_key_of_ours() -> None:
    endpoint = cast(MediaEndpoint, SimpleNamespace(protect=None, unprotect=None,
                                                    kernel_forwarded=False))
    offered = (Crypto.fresh(4, "AEAD_AES_128_GCM"), Crypto.fresh(5, "AES_CM_128_HMAC_SHA1_80"))
    ours = answer_crypto(endpoint, offered)
    assert (ours.tag, ours.suite) == (4, "AEAD_AES_128_GCM")
    assert ours.key != offered[0].key
