"""DTLS-SRTP (RFC 5763/5764) for the WebRTC leg: one handshake, then SRTP per packet.

:class:`DtlsSrtp` is sans-IO: it takes datagrams and the time and returns datagrams to send.
The handshake is pyOpenSSL's over memory BIOs, in either role (``client`` for ``a=setup:active``,
``server`` for ``passive``); the peer's certificate must match the ``a=fingerprint`` of its SDP
or the session fails. Lost flights are sent again on the injected clock (1 s, doubling, given
up after :data:`HANDSHAKE_TIMEOUT`): OpenSSL renumbers the records when its own timer (real
time) agrees, else the last flight goes out as it was, which is what a flight lost on the way
needs (a copy of one that did arrive is dropped by the peer as a replay, and the peer's own
timer resends its answer). Once connected the keys exported from the handshake make
two pylibsrtp sessions, AES_CM_128_HMAC_SHA1_80 or AEAD_AES_128_GCM as negotiated:
:meth:`protect`/:meth:`unprotect` (and the RTCP pair) are then one C call per packet.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import pylibsrtp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

from parley.media import MediaError
from parley.media.srtp import SrtpKeys, packet_functions

HANDSHAKE_TIMEOUT = 30.0
_FIRST_RETRANSMIT = 1.0
_MAX_DATAGRAM = 1500

# (OpenSSL profile name, pylibsrtp profile, key length, salt length)
_PROFILES = {
    b"SRTP_AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 16, 12),
    b"SRTP_AES128_CM_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 16, 14),
}
_OFFERED_PROFILES = b"SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"


class DtlsError(MediaError):
    """The DTLS handshake failed: a bad fingerprint, an alert, or no answer in time."""


def is_dtls(data: bytes) -> bool:
    """RFC 7983 demultiplexing: DTLS records start with a byte in 20-63."""
    return len(data) > 12 and 19 < data[0] < 64


def fingerprint_of(der: bytes) -> str:
    """``AA:BB:…`` SHA-256 of a DER certificate, as ``a=fingerprint:sha-256`` writes it."""
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


@dataclass(frozen=True)
class DtlsCertificate:
    """A self-signed ECDSA P-256 certificate (one per node; browsers check the fingerprint,
    not the issuer)."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, name: str = "parley") -> DtlsCertificate:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                       .public_key(key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(days=1))
                       .not_valid_after(now + datetime.timedelta(days=30))
                       .sign(key, hashes.SHA256()))
        return cls(certificate, key)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.certificate.public_bytes(serialization.Encoding.DER))

    def context(self) -> SSL.Context:
        """A DTLS context with this certificate, asking for the peer's and for SRTP keys."""
        context = SSL.Context(SSL.DTLS_METHOD)
        context.use_certificate(self.certificate)
        context.use_privatekey(self.key)
        # browsers send self-signed certificates: accept any, check the SDP fingerprint after
        context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
                           lambda *_args: True)
        context.set_tlsext_use_srtp(_OFFERED_PROFILES)
        return context


@dataclass(eq=False)
class DtlsSrtp:
    """One leg's DTLS association and, once connected, its SRTP sessions."""

    certificate: DtlsCertificate
    role: str  # "client" (we send the ClientHello) or "server"
    remote_fingerprints: tuple[tuple[str, str], ...] = ()  # (algorithm, AA:BB:…)
    context: SSL.Context | None = None
    connected: bool = False
    failed: str | None = None
    closed: bool = False
    profile: str = ""
    _connection: SSL.Connection = field(init=False)
    #: keyed from the keys of a call carried over (another node did the handshake): only
    #: SRTP goes on; DTLS records that come are not read
    resumed: bool = False
    _tx: pylibsrtp.Session | None = None
    _rx: pylibsrtp.Session | None = None
    _keys: SrtpKeys | None = field(default=None, repr=False)
    _started: float | None = None
    _deadline: float | None = None
    _interval: float = _FIRST_RETRANSMIT
    _last_flight: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.role not in ("client", "server"):
            raise ValueError(f"DTLS role {self.role!r} is not client or server")
        connection = SSL.Connection(self.context or self.certificate.context(), None)
        if self.role == "client":
            connection.set_connect_state()
        else:
            connection.set_accept_state()
        self._connection = connection

    # --- the handshake ------------------------------------------------------------------------
    def start(self, now: float) -> list[bytes]:
        """Begin (the client's ClientHello); a server just starts its clock."""
        if self._started is None:
            self._started = now
        if self.role == "client" and not self.connected:
            return self._handshake(now)
        return []

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """A DTLS datagram from the peer; returns what to send back (flights, alerts)."""
        connection = self._connection
        if self.failed or self.closed or self.resumed:
            return []
        if self._started is None:
            self._started = now
        connection.bio_write(data)
        if not self.connected:
            return self._handshake(now)
        try:  # after the handshake: alerts (close_notify), retransmitted flights
            connection.recv(_MAX_DATAGRAM)
        except SSL.WantReadError:
            pass
        except SSL.ZeroReturnError:
            self.closed = True
        except SSL.Error as exc:
            self.failed = f"DTLS error after the handshake: {exc}"
        return self._outgoing()

    def _handshake(self, now: float) -> list[bytes]:
        connection = self._connection
        try:
            connection.do_handshake()
        except SSL.WantReadError:
            pass
        except SSL.Error as exc:
            self.failed = f"DTLS handshake failed: {exc}"
            return self._outgoing()
        else:
            self._connected()
        flight = self._outgoing()
        if flight:
            self._last_flight = flight
            self._interval = _FIRST_RETRANSMIT
        if self.connected or self.failed:
            self._deadline = None
        elif flight:
            self._deadline = now + self._interval
        return flight

    def _outgoing(self) -> list[bytes]:
        connection = self._connection
        out: list[bytes] = []
        while True:
            try:
                data = connection.bio_read(_MAX_DATAGRAM)
            except SSL.WantReadError:
                break
            if not data:
                break
            out.append(data)
        return out

    def poll(self, now: float) -> list[bytes]:
        """Time passes: resend the last flight when its answer is overdue; fail the handshake
        after :data:`HANDSHAKE_TIMEOUT`."""
        if self.connected or self.failed or self._deadline is None or now < self._deadline:
            if (not self.connected and not self.failed and self._started is not None
                    and now - self._started > HANDSHAKE_TIMEOUT):
                self.failed = f"DTLS handshake not done in {HANDSHAKE_TIMEOUT:g} s"
            return []
        connection = self._connection
        flight: list[bytes] = []
        try:  # OpenSSL's own timer (real time) renumbers the records when it has expired
            connection.DTLSv1_handle_timeout()
            flight = self._outgoing()
        except SSL.Error:
            flight = []
        if not flight:
            flight = list(self._last_flight)
        self._interval = min(self._interval * 2, 8.0)
        self._deadline = now + self._interval
        return flight

    @property
    def next_timeout(self) -> float | None:
        return None if self.connected or self.failed else self._deadline

    def _connected(self) -> None:
        connection = self._connection
        peer = connection.get_peer_certificate(as_cryptography=True)
        if peer is None:
            self.failed = "the peer sent no DTLS certificate"
            return
        der = peer.public_bytes(serialization.Encoding.DER)
        if not self._fingerprint_matches(der):
            self.failed = ("the peer's DTLS certificate does not match a=fingerprint of its "
                           "SDP")
            return
        selected = connection.get_selected_srtp_profile()
        if selected not in _PROFILES:
            self.failed = f"no SRTP profile negotiated in DTLS (got {selected!r})"
            return
        srtp_profile, key_length, salt_length = _PROFILES[selected]
        material = connection.export_keying_material(
            b"EXTRACTOR-dtls_srtp", 2 * (key_length + salt_length))
        client_key = material[:key_length]
        server_key = material[key_length:2 * key_length]
        client_salt = material[2 * key_length:2 * key_length + salt_length]
        server_salt = material[2 * key_length + salt_length:]
        if self.role == "client":
            tx_key, rx_key = client_key + client_salt, server_key + server_salt
        else:
            tx_key, rx_key = server_key + server_salt, client_key + client_salt
        self._keys = SrtpKeys(tx_key, rx_key, srtp_profile)
        self._tx, self._rx = self._keys.sessions()
        self.profile = selected.decode()
        self.connected = True

    @classmethod
    def resume(cls, certificate: DtlsCertificate, keys: SrtpKeys, profile: str
               ) -> DtlsSrtp:
        """Connected already, with ``keys`` (a call carried over from another node); its
        sessions are fresh (:attr:`srtp`: the caller brings them to where the call was)."""
        dtls = cls(certificate, "server", resumed=True)
        dtls._keys = keys
        dtls._tx, dtls._rx = keys.sessions()
        dtls.profile = profile
        dtls.connected = True
        return dtls

    @property
    def keys(self) -> SrtpKeys:
        """The SRTP keys the handshake gave; raises before it is done."""
        if self._keys is None:
            raise DtlsError("SRTP is not keyed yet (DTLS handshake not done)")
        return self._keys

    def _fingerprint_matches(self, der: bytes) -> bool:
        if not self.remote_fingerprints:
            return False
        for algorithm, value in self.remote_fingerprints:
            name = algorithm.lower().replace("-", "")
            if name not in hashlib.algorithms_available:
                continue
            digest = hashlib.new(name, der).digest()
            if ":".join(f"{b:02X}" for b in digest) == value.upper():
                return True
        return False

    # --- per packet ---------------------------------------------------------------------------
    def packet_functions(self) -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
        """(protect, unprotect) for the relay's packet path: each returns b"" for a packet
        SRTP refuses (a replay, a bad tag) instead of raising, and calls libsrtp straight on
        the session's own buffer (pylibsrtp's checks are the caller's: packets come from
        ``recvfrom`` of at most 1500 bytes). Raises before the handshake is done."""
        return packet_functions(*self.srtp)

    @property
    def srtp(self) -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
        """(outbound, inbound) SRTP sessions; raises before the handshake is done."""
        if self._tx is None or self._rx is None:
            raise DtlsError("SRTP is not keyed yet (DTLS handshake not done)")
        return self._tx, self._rx

    def protect(self, packet: bytes) -> bytes:
        return self.srtp[0].protect(packet)

    def unprotect(self, packet: bytes) -> bytes:
        return self.srtp[1].unprotect(packet)

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self.srtp[0].protect_rtcp(packet)

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        return self.srtp[1].unprotect_rtcp(packet)

    def close(self) -> list[bytes]:
        """Send close_notify (the peer learns the leg ended before consent would tell it)."""
        connection = self._connection
        if not self.connected or self.closed or self.resumed:
            return []
        self.closed = True
        with contextlib.suppress(SSL.Error):
            connection.shutdown()
        return self._outgoing()
