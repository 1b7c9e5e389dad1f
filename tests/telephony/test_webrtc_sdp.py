"""Browser SDP: Chromium's captured offer read, Parley's ICE-lite answer and offer written."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.sdp.session import SessionDescription
from parley.telephony.media_sdp import (
    PCMU,
    LocalWebRtc,
    MediaNegotiationError,
    answer_setup,
    build_sdp,
    dtls_role,
    read_audio,
)

SDP_DATA = Path(__file__).parent.parent / "sdp" / "data"
CHROMIUM = (SDP_DATA / "chromium-156-audio-offer.sdp").read_bytes()
# Captured from Debian's firefox-esr 153 (headless, one audio transceiver, ICE gathered).
FIREFOX = (SDP_DATA / "firefox-esr-153-audio-offer.sdp").read_bytes()


def test_chromium_offer_gives_ice_credentials_fingerprint_and_g711() -> None:
    remote = read_audio(CHROMIUM)
    assert remote.webrtc is not None
    assert remote.webrtc.ice_ufrag == "spKN"
    assert remote.webrtc.ice_pwd == "2qVhEiZVn52knKPapcDKx5ck"
    assert remote.webrtc.fingerprints[0][0] == "sha-256"
    assert remote.webrtc.fingerprints[0][1].startswith("1E:9D:C6")
    assert remote.webrtc.setup == "actpass"
    assert remote.webrtc.mid == "0"
    assert remote.webrtc.bundle
    assert [codec.name for codec in remote.codecs] == ["PCMU", "PCMA"]
    assert remote.dtmf_payload_type == 126  # telephone-event/8000, not the 48 kHz one


def test_answer_to_chromium_is_ice_lite_passive_pcmu_with_rtcp_mux() -> None:
    remote = read_audio(CHROMIUM)
    assert remote.webrtc is not None
    setup = answer_setup(remote.webrtc.setup)
    local = LocalWebRtc("abcd1234", "p" * 24, "AA:" * 31 + "AA", setup, remote.webrtc.mid)
    body = build_sdp("203.0.113.5", 20000, (PCMU,), session_id=1, version=1,
                     dtmf_payload_type=126, webrtc=local)
    answer = SessionDescription.parse(body)
    audio = answer.audio
    assert audio is not None
    assert audio.proto == "UDP/TLS/RTP/SAVPF"
    assert audio.formats == ("0", "126")
    assert answer.attribute("ice-lite") == ""
    assert answer.attribute("group") == "BUNDLE 0"
    assert audio.attribute("mid") == "0"
    assert audio.attribute("setup") == "passive"
    assert audio.attribute("rtcp-mux") == ""
    assert audio.attribute("candidate") == "1 1 udp 2130706431 203.0.113.5 20000 typ host"
    assert dtls_role(setup, remote.webrtc.setup) == "server"
    again = read_audio(body)  # Parley reads its own answer back (the test browser does)
    assert again.webrtc is not None
    assert again.webrtc.fingerprints == (("sha-256", "AA:" * 31 + "AA"),)


def test_setup_roles() -> None:
    assert answer_setup("actpass") == "passive"
    assert answer_setup("active") == "passive"
    assert answer_setup("passive") == "active"
    assert dtls_role("actpass", "active") == "server"
    assert dtls_role("actpass", "passive") == "client"
    assert dtls_role("active", "actpass") == "client"


def test_firefox_offer_with_session_level_fingerprint_and_mdns_candidates() -> None:
    """Firefox ESR writes the fingerprint at session level and hides host addresses in mDNS."""
    remote = read_audio(FIREFOX)
    assert remote.webrtc is not None
    assert remote.webrtc.fingerprints[0][0] == "sha-256"
    assert remote.webrtc.fingerprints[0][1].startswith("6B:F8:A5:E0")
    assert remote.webrtc.ice_ufrag == "b69a30b7"
    assert remote.webrtc.ice_pwd == "fd83e0c51f211d9eca7d0894af33ec4d"
    assert remote.webrtc.setup == "actpass"
    assert remote.webrtc.mid == "0"
    assert remote.webrtc.bundle
    assert remote.codec.name == "PCMU"
    assert remote.dtmf_payload_type == 101


def test_answer_to_firefox_is_passive_pcmu_with_its_mid() -> None:
    remote = read_audio(FIREFOX)
    assert remote.webrtc is not None
    setup = answer_setup(remote.webrtc.setup)
    local = LocalWebRtc("abcd1234", "p" * 24, "AA:" * 31 + "AA", setup, remote.webrtc.mid)
    answer = SessionDescription.parse(build_sdp(
        "203.0.113.5", 20000, (PCMU,), session_id=1, version=1,
        dtmf_payload_type=remote.dtmf_payload_type, webrtc=local))
    assert answer.audio is not None
    assert answer.audio.formats == ("0", "101")
    assert answer.audio.attribute("setup") == "passive"
    assert answer.audio.attribute("mid") == "0"


@pytest.mark.parametrize(("remove", "named"), [
    ("a=ice-ufrag:spKN\n", "a=ice-ufrag"),
    ("a=ice-pwd:2qVhEiZVn52knKPapcDKx5ck\n", "a=ice-pwd"),
])
def test_missing_ice_attribute_is_named(remove: str, named: str) -> None:
    text = CHROMIUM.decode().replace("\r\n", "\n").replace(remove, "")
    with pytest.raises(MediaNegotiationError, match=named):
        read_audio(text.encode())


def test_missing_fingerprint_is_named() -> None:
    text = "\n".join(line for line in CHROMIUM.decode().splitlines()
                     if not line.startswith("a=fingerprint"))
    with pytest.raises(MediaNegotiationError, match="a=fingerprint"):
        read_audio(text.encode())


def test_sdes_srtp_is_refused_with_a_reason() -> None:
    offer = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
             b"m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n")
    with pytest.raises(MediaNegotiationError, match="a=crypto"):
        read_audio(offer)
