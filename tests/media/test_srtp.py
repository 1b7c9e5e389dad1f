"""SDES keys (RFC 4568 a=crypto) read and written, and SRTP between two sides keyed by them."""

from __future__ import annotations

import base64
import struct

import pytest

from parley.media.srtp import Crypto, SdesSrtp, SrtpError

# RFC 4568 §4's example line
RFC_LINE = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4"
KEY_80 = base64.b64encode(bytes(range(30))).decode()


def rtp(seq: int, payload: bytes = b"\xff" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, 0x1234) + payload


def test_plain_line_with_lifetime_is_read_and_written_back() -> None:
    line = Crypto.parse(f"7 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}|2^31")
    assert (line.tag, line.suite, line.key) == (7, "AES_CM_128_HMAC_SHA1_80", bytes(range(30)))
    assert Crypto.parse(line.attribute()) == Crypto(7, "AES_CM_128_HMAC_SHA1_80",
                                                    bytes(range(30)))


def test_key_never_in_repr() -> None:
    line = Crypto.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}")
    assert KEY_80 not in repr(line)
    assert "key" not in repr(line)


@pytest.mark.parametrize(("value", "names"), [
    (RFC_LINE, "MKI"),
    ("1 F8_128_HMAC_SHA1_80 inline:" + KEY_80, "F8_128_HMAC_SHA1_80"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:AAAA", "3 bytes, not 30"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:" + KEY_80 + " UNENCRYPTED_SRTP", "UNENCRYPTED_SRTP"),
    ("AES_CM_128_HMAC_SHA1_80 inline:" + KEY_80, "RFC 4568"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:" + KEY_80[:-4] + "@@@@", "base64"),
])
def test_unusable_line_is_refused_naming_why(value: str, names: str) -> None:
    with pytest.raises(SrtpError, match=names) as caught:
        Crypto.parse(value)
    assert KEY_80 not in str(caught.value)


@pytest.mark.parametrize("suite", ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32",
                                   "AEAD_AES_128_GCM", "AEAD_AES_256_GCM"])
def test_each_side_sends_with_its_own_key(suite: str) -> None:
    ours, theirs = Crypto.fresh(1, suite), Crypto.fresh(1, suite)
    assert ours.key != theirs.key
    parley, carrier = SdesSrtp(ours, theirs), SdesSrtp(theirs, ours)
    protect, _ = parley.packet_functions()
    _, unprotect = carrier.packet_functions()
    for seq in range(1, 4):
        packet = rtp(seq)
        wire = protect(packet)
        assert wire[:12] == packet[:12]
        assert wire[12:172] != packet[12:]
        assert unprotect(wire) == packet
    assert unprotect(wire) == b""  # a replay is refused, not raised


def test_wrong_key_is_refused_quietly() -> None:
    ours = Crypto.fresh(1, "AES_CM_128_HMAC_SHA1_80")
    protect, _ = SdesSrtp(ours, ours).packet_functions()
    other = Crypto.fresh(1, "AES_CM_128_HMAC_SHA1_80")
    _, unprotect = SdesSrtp(other, other).packet_functions()
    assert unprotect(protect(rtp(1))) == b""


def test_suites_must_agree() -> None:
    with pytest.raises(SrtpError, match="suites differ"):
        SdesSrtp(Crypto.fresh(1, "AES_CM_128_HMAC_SHA1_80"),
                 Crypto.fresh(1, "AEAD_AES_128_GCM"))
