"""SRTP sessions for the relay's packet path, keyed by DTLS (WebRTC) or by SDES (trunks).

The keys differ in origin only: :class:`parley.media.dtls.DtlsSrtp` exports them from its
handshake, :class:`SdesSrtp` takes them from the ``a=crypto`` lines of the offer and answer
(RFC 4568: each side sends with the key it wrote in its own SDP). Both make the same pair of
pylibsrtp sessions (:func:`srtp_sessions`) and hand the relay the same per-packet functions
(:func:`packet_functions`): one libsrtp call on the session's buffer, b"" for a packet SRTP
refuses. Keys are secrets: nothing here puts them in a ``repr`` or a log line.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import pylibsrtp

from parley.media import MediaError

SRTP_TRAILER = 16 + 128  # room libsrtp may add: tag plus MKI (SRTP_MAX_TRAILER_LEN)

_Policy = pylibsrtp.Policy
#: SDES crypto suites (RFC 4568 §6.2, RFC 6188, RFC 7714) Parley speaks, in its order of
#: preference for an offer: (pylibsrtp profile, key length, salt length).
SDES_SUITES: dict[str, tuple[int, int, int]] = {
    "AEAD_AES_256_GCM": (_Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 32, 12),
    "AEAD_AES_128_GCM": (_Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 16, 12),
    "AES_CM_128_HMAC_SHA1_80": (_Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 16, 14),
    "AES_CM_128_HMAC_SHA1_32": (_Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 16, 14),
}
#: What Parley offers a carrier: the suite every SDES carrier speaks first (RFC 4568 makes it
#: mandatory), then the GCM ones.
OFFERED_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM", "AEAD_AES_256_GCM")


class SrtpError(MediaError):
    """An ``a=crypto`` line that cannot be used (the message names the part at fault)."""


@dataclass(frozen=True)
class SrtpKeys:
    """One leg's SRTP master keys (key then salt) each way and the libsrtp profile: what a
    node taking the call over needs to go on encrypting and decrypting. Never in a repr."""

    tx: bytes = field(repr=False)
    rx: bytes = field(repr=False)
    profile: int

    def sessions(self) -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
        """(outbound, inbound) sessions, fresh: :func:`advance_outbound`,
        :func:`advance_inbound` bring them to where the call was."""
        return srtp_sessions(self.tx, self.rx, self.profile)


def srtp_sessions(tx_key: bytes, rx_key: bytes, profile: int
                  ) -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    """(outbound, inbound) sessions; the key is key then salt, as libsrtp wants it."""
    tx_policy = pylibsrtp.Policy(key=tx_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                                 srtp_profile=profile)
    tx_policy.allow_repeat_tx = True  # a packet sent again (a relay source change) is no
    tx = pylibsrtp.Session(tx_policy)  # error on our own side
    rx = pylibsrtp.Session(pylibsrtp.Policy(
        key=rx_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
    return tx, rx


def _direct(session: pylibsrtp.Session, name: str, trailer: int
            ) -> Callable[[bytes], bytes]:
    """One libsrtp call per packet on ``session``'s buffer; the public method if pylibsrtp's
    internals are not the ones this was written against."""
    method = session.protect if name == "srtp_protect" else session.unprotect
    try:
        from pylibsrtp._binding import ffi, lib  # type: ignore[import-not-found]

        cdata = session._cdata
        buffer = session._buffer
        srtp = session._srtp[0]
        function = getattr(lib, name)
        limit = len(buffer) - trailer
        length = ffi.new("int *")
    except (ImportError, AttributeError):  # pragma: no cover - another pylibsrtp
        def safe(packet: bytes) -> bytes:
            try:
                return method(packet)
            except pylibsrtp.Error:
                return b""
        return safe

    def direct(packet: bytes, _session: pylibsrtp.Session = session) -> bytes:
        # the default argument keeps the session (which frees its C state) alive as long
        # as the function is in use
        size = len(packet)
        if size > limit:
            return b""
        length[0] = size
        buffer[0:size] = packet
        if function(srtp, cdata, length):
            return b""
        return buffer[0:length[0]]  # type: ignore[no-any-return]

    return direct


def packet_functions(tx: pylibsrtp.Session, rx: pylibsrtp.Session
                     ) -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
    """(protect, unprotect) for the relay's packet path: each returns b"" for a packet SRTP
    refuses (a replay, a bad tag) instead of raising, and calls libsrtp straight on the
    session's own buffer (packets come from ``recvfrom`` of at most 1500 bytes)."""
    return _direct(tx, "srtp_protect", SRTP_TRAILER), _direct(rx, "srtp_unprotect", 0)


#: the largest step forward libsrtp takes for "ahead" when it guesses a packet's index
#: from its sequence number (RFC 3711 §3.3.1: the nearest index wins)
_STEP = 0x7FFF
_SEQ_TS_SSRC = struct.Struct("!HII")


def nearest_index(reference: int, seq: int) -> int:
    """The packet index (rollover counter and sequence number, RFC 3711 §3.3.1) nearest
    ``reference`` whose low 16 bits are ``seq``: how a receiver places a packet."""
    index = (reference & ~0xFFFF) | seq
    if index - reference > 0x8000:
        index -= 0x10000
    elif reference - index > 0x8000:
        index += 0x10000
    return max(index, seq)


def _walk(index: int) -> list[int]:
    """Indexes from one below 2^15 up to ``index`` in steps libsrtp takes as "ahead"."""
    steps = [index % _STEP]
    while steps[-1] < index:
        steps.append(steps[-1] + _STEP)
    return steps


def _dummy(ssrc: int, index: int) -> bytes:
    return b"\x80\x00" + _SEQ_TS_SSRC.pack(index & 0xFFFF, 0, ssrc) + bytes(4)


def advance_outbound(tx: pylibsrtp.Session, ssrc: int, index: int) -> None:
    """Bring a fresh outbound session's stream ``ssrc`` to packet index ``index`` (its
    rollover counter with it), as if it had sent up to there: a call carried over to
    another node goes on with the keys of its first, and the phone's receiver expects the
    rollover counter it has counted. Nothing is sent."""
    for step in _walk(index):
        tx.protect(_dummy(ssrc, step))


def advance_inbound(rx: pylibsrtp.Session, key: bytes, profile: int, ssrc: int,
                    index: int) -> None:
    """Bring a fresh inbound session's stream ``ssrc`` to packet index ``index`` by feeding
    it packets protected with the sender's own key (which the receiver holds): the next
    packet the phone sends, past ``index``, is accepted with its rollover counter."""
    sender = pylibsrtp.Session(pylibsrtp.Policy(
        key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    for step in _walk(index):
        rx.unprotect(sender.protect(_dummy(ssrc, step)))


def resumed_unprotect(unprotect: Callable[[bytes], bytes], rx: pylibsrtp.Session,
                      keys: SrtpKeys, received: int,
                      placed: Callable[[int, int], None] | None = None
                      ) -> Callable[[bytes], bytes]:
    """``unprotect`` (on ``rx``) for a leg carried over from another node: the first packet
    from the phone says where its stream is now (the index nearest ``received``, the last
    that node saw), and ``rx`` is brought just before it (:func:`advance_inbound`);
    ``placed(index, sequence number)`` is told where that packet was placed."""
    started = False

    def first(packet: bytes) -> bytes:
        nonlocal started
        if not started and len(packet) >= 12:
            started = True
            seq = (packet[2] << 8) | packet[3]
            index = nearest_index(received, seq)
            if placed is not None:
                placed(index, seq)
            if index > 0:
                with contextlib.suppress(pylibsrtp.Error):
                    advance_inbound(rx, keys.rx, keys.profile,
                                    int.from_bytes(packet[8:12], "big"), index - 1)
        return unprotect(packet)

    return first


_CRYPTO = re.compile(r"^(\d{1,9})\s+(\S+)\s+inline:(\S+)(?:\s+(.*))?$")


@dataclass(frozen=True)
class Crypto:
    """One ``a=crypto`` attribute: tag, suite and master key+salt (never shown in a repr)."""

    tag: int
    suite: str
    key: bytes = field(repr=False)

    @classmethod
    def parse(cls, value: str) -> Crypto:
        """``1 AES_CM_128_HMAC_SHA1_80 inline:<base64>[|lifetime][|MKI:len] [params]``;
        raises :class:`SrtpError` (the key itself is never quoted back)."""
        match = _CRYPTO.match(value.strip())
        if match is None:
            raise SrtpError("a=crypto is not '<tag> <suite> inline:<key>' (RFC 4568)")
        tag, suite, key_params, params = match.groups()
        if suite not in SDES_SUITES:
            raise SrtpError(f"a=crypto suite {suite} is not one Parley speaks "
                            f"({', '.join(SDES_SUITES)})")
        if ";" in key_params:
            raise SrtpError(f"a=crypto:{tag} gives several keys, which Parley does not support")
        encoded, *extra = key_params.split("|")
        if any(":" in part for part in extra):
            raise SrtpError(f"a=crypto:{tag} uses an MKI, which Parley does not support")
        if params and params.strip():
            raise SrtpError(f"a=crypto:{tag} has session parameters "
                            f"({params.split()[0]}), which Parley does not support")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise SrtpError(f"a=crypto:{tag} key is not base64") from None
        _profile, key_length, salt_length = SDES_SUITES[suite]
        if len(key) != key_length + salt_length:
            raise SrtpError(f"a=crypto:{tag} {suite} key is {len(key)} bytes, not "
                            f"{key_length + salt_length}")
        return cls(int(tag), suite, key)

    @classmethod
    def fresh(cls, tag: int, suite: str) -> Crypto:
        """A new random master key and salt for ``suite`` (our side of one call)."""
        _profile, key_length, salt_length = SDES_SUITES[suite]
        return cls(tag, suite, os.urandom(key_length + salt_length))

    def attribute(self) -> str:
        """The value of our ``a=crypto`` line."""
        return f"{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"


@dataclass(eq=False)
class SdesSrtp:
    """One leg's SRTP keyed by SDES: we send with ``local``'s key, receive with ``remote``'s."""

    local: Crypto
    remote: Crypto

    def __post_init__(self) -> None:
        if self.local.suite != self.remote.suite:
            raise SrtpError(f"a=crypto suites differ: ours {self.local.suite}, theirs "
                            f"{self.remote.suite}")
        profile = SDES_SUITES[self.local.suite][0]
        self.tx, self.rx = srtp_sessions(self.local.key, self.remote.key, profile)

    def packet_functions(self) -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
        return packet_functions(self.tx, self.rx)
