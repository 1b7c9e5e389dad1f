"""SIP digest authentication (RFC 3261 §22, RFC 7616, RFC 8760): server and client side.

Server side: :class:`DigestAuthenticator` issues challenges with stateless nonces (a timestamp
and an HMAC of it under a server secret, so no nonce table is needed and any node holding the
secret can check them) and verifies ``Authorization``/``Proxy-Authorization`` against stored
HA1 values. Passwords are never needed: the store keeps ``HA1 = H(user:realm:password)`` per
algorithm (:func:`compute_ha1`). An expired nonce with an otherwise correct answer yields
``stale=true`` so the phone retries silently with a fresh one.

Client side: :func:`authorization_header` answers a challenge (for registering to trunks);
:func:`authorize_request` returns the re-sent request with the header, a new branch and CSeq+1.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from parley.sip.errors import SipError
from parley.sip.headers import split_list
from parley.sip.message import SipRequest, SipResponse, new_branch

ALGORITHMS: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
}
#: The order challenges are offered in: strongest first (RFC 8760 §2.4).
DEFAULT_ALGORITHMS = ("SHA-256", "MD5")


class AuthError(SipError):
    """A challenge or credentials header that cannot be used."""


def _h(algorithm: str, text: str) -> str:
    try:
        hasher = ALGORITHMS[algorithm.upper()]
    except KeyError:
        raise AuthError(f"digest algorithm {algorithm!r} is not supported "
                        f"(supported: {', '.join(ALGORITHMS)})") from None
    return hasher(text.encode()).hexdigest()


def compute_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """``H(username:realm:password)``, what the credential store keeps instead of passwords."""
    return _h(algorithm, f"{username}:{realm}:{password}")


def digest_response(
    *,
    ha1: str,
    method: str,
    uri: str,
    nonce: str,
    algorithm: str = "MD5",
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1; without qop, RFC 2069 compatibility)."""
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


def parse_digest(value: str) -> dict[str, str]:
    """Parse ``Digest a=b, c="d"`` into a dict with lower-case keys and unquoted values."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise AuthError(f"authentication scheme {scheme!r} is not Digest")
    params: dict[str, str] = {}
    for item in split_list(rest):
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise AuthError(f"digest parameter {item[:40]!r} is not key=value")
        raw = raw.strip()
        if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[key.strip().lower()] = raw
    return params


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- server side -----------------------------------------------------------------------------

class AuthOutcome(Enum):
    """What the shell does next: OK → proceed; CHALLENGE → 401/407 with :meth:`challenge`
    (``stale`` set on :class:`AuthResult` when the nonce merely expired); FORBIDDEN → 403."""

    OK = "ok"
    CHALLENGE = "challenge"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class AuthResult:
    outcome: AuthOutcome
    username: str | None = None
    stale: bool = False
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is AuthOutcome.OK


#: The nonce-count mark of a nonce that saw a wrong answer (no real count reaches it).
_SPENT = -1


def _credentials_for(request: SipRequest, realm: str, proxy: bool = False
                     ) -> dict[str, str] | None:
    """The parsed digest credentials of ``request`` for ``realm``, or None."""
    name = "Proxy-Authorization" if proxy else "Authorization"
    for line in request.headers.lines(name):
        try:
            params = parse_digest(line)
        except AuthError:
            continue
        if params.get("realm") == realm:
            return params
    return None


def claimed_username(request: SipRequest, realm: str, *, proxy: bool = False) -> str | None:
    """The user name the request's credentials for ``realm`` claim (unchecked), or None."""
    credentials = _credentials_for(request, realm, proxy)
    return None if credentials is None else credentials.get("username") or None


#: Look up the stored HA1 for (username, algorithm) in the authenticator's realm.
HA1Lookup = Callable[[str, str], str | None]


class DigestAuthenticator:
    """Challenges and verifies digest credentials for one realm.

    ``secret`` signs nonces; share it between nodes so any of them can check a nonce.
    ``nonce_lifetime`` is in seconds of the ``now`` passed in (the monotonic clock).
    Nonce counts are remembered per nonce (bounded) so that a captured answer cannot be
    replayed with the same or a lower ``nc``. Answers without ``qop`` (RFC 2069 style, from
    old phones) carry no count and can be replayed within the nonce lifetime; set
    ``require_qop`` to refuse them.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        *,
        nonce_lifetime: float = 300.0,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        replay_cache_size: int = 10_000,
        require_qop: bool = False,
    ) -> None:
        for algorithm in algorithms:
            if algorithm.upper() not in ALGORITHMS:
                raise AuthError(f"digest algorithm {algorithm!r} is not supported")
        if len(secret) < 16:
            raise AuthError("the nonce secret must be at least 16 bytes")
        self.realm = realm
        self._secret = secret
        self.nonce_lifetime = nonce_lifetime
        self.algorithms = tuple(a.upper() for a in algorithms)
        self._seen_nc: OrderedDict[str, int] = OrderedDict()
        self._replay_cache_size = replay_cache_size
        self.require_qop = require_qop
        self._decoys: dict[str, str] = {}

    def make_nonce(self, now: float) -> str:
        stamp = f"{now:.3f}"
        salt = secrets.token_hex(4)
        return f"{stamp}.{salt}.{self._sign(stamp, salt)}"

    def _sign(self, stamp: str, salt: str) -> str:
        mac = hmac.new(self._secret, f"{self.realm}:{stamp}:{salt}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def nonce_age(self, nonce: str, now: float) -> float | None:
        """How old a nonce we issued is, or None when it is not ours (forged or garbled)."""
        parts = nonce.split(".")
        if len(parts) != 4:
            return None
        stamp, salt, mac = f"{parts[0]}.{parts[1]}", parts[2], parts[3]
        if not hmac.compare_digest(mac, self._sign(stamp, salt)):
            return None
        try:
            return now - float(stamp)
        except ValueError:
            return None

    def challenge(self, now: float, *, stale: bool = False, proxy: bool = False
                  ) -> list[tuple[str, str]]:
        """Header lines for a 401 (or 407 with ``proxy``): one challenge per algorithm."""
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        nonce = self.make_nonce(now)
        lines = []
        for algorithm in self.algorithms:
            value = (f'Digest realm={_quote(self.realm)}, nonce={_quote(nonce)}, '
                     f'algorithm={algorithm}, qop="auth"')
            if stale:
                value += ", stale=true"
            lines.append((name, value))
        return lines

    def verify(self, request: SipRequest, now: float, lookup: HA1Lookup, *,
               proxy: bool = False) -> AuthResult:
        """Check the request's credentials for this realm.

        ``lookup(username, algorithm)`` returns the stored HA1 or None for an unknown user.
        An unknown user is checked against a decoy HA1, so both paths cost the same and give
        the same outcome (FORBIDDEN; only ``reason`` differs, for the log). A nonce that saw
        a wrong answer is spent: the next answer with it is challenged afresh.
        """
        credentials = self._credentials(request, proxy)
        if credentials is None:
            name = "Proxy-Authorization" if proxy else "Authorization"
            return AuthResult(AuthOutcome.CHALLENGE, reason=f"no {name} for this realm")
        username = credentials.get("username", "")
        algorithm = credentials.get("algorithm", "MD5").upper()
        if algorithm not in self.algorithms:
            return AuthResult(AuthOutcome.CHALLENGE, username,
                              reason=f"algorithm {algorithm} not offered")
        nonce = credentials.get("nonce", "")
        age = self.nonce_age(nonce, now)
        if age is None or age < -1.0:
            return AuthResult(AuthOutcome.CHALLENGE, username, reason="nonce not issued here")
        if self._seen_nc.get(nonce) == _SPENT:
            return AuthResult(AuthOutcome.CHALLENGE, username,
                              reason="nonce spent by a wrong answer")
        ha1 = lookup(username, algorithm)
        known = ha1 is not None
        if ha1 is None:
            ha1 = self._decoy_ha1(algorithm)
        qop = credentials.get("qop")
        if qop is not None and qop.lower() != "auth":
            return AuthResult(AuthOutcome.FORBIDDEN, username, reason=f"qop {qop} unsupported")
        if qop is None and self.require_qop:
            return AuthResult(AuthOutcome.FORBIDDEN, username, reason="qop=auth required")
        nc = credentials.get("nc")
        if qop and (nc is None or "cnonce" not in credentials):
            return AuthResult(AuthOutcome.FORBIDDEN, username, reason="qop without nc/cnonce")
        expected = digest_response(
            ha1=ha1, method=request.method, uri=credentials.get("uri", ""), nonce=nonce,
            algorithm=algorithm, qop=qop, nc=nc, cnonce=credentials.get("cnonce"))
        matches = hmac.compare_digest(expected, credentials.get("response", "").lower())
        if not known or not matches:
            self._spend(nonce)
            return AuthResult(AuthOutcome.FORBIDDEN, username,
                              reason="unknown user" if not known else "wrong password")
        if age > self.nonce_lifetime:
            return AuthResult(AuthOutcome.CHALLENGE, username, stale=True,
                              reason="nonce expired")
        if qop and nc is not None and not self._fresh_count(nonce, nc):
            return AuthResult(AuthOutcome.CHALLENGE, username, stale=True,
                              reason="nonce count replayed")
        return AuthResult(AuthOutcome.OK, username)

    def _credentials(self, request: SipRequest, proxy: bool) -> dict[str, str] | None:
        return _credentials_for(request, self.realm, proxy)

    def _decoy_ha1(self, algorithm: str) -> str:
        """A fixed random HA1 per algorithm that no password matches (unknown users)."""
        decoy = self._decoys.get(algorithm)
        if decoy is None:
            decoy = self._decoys[algorithm] = _h(algorithm, secrets.token_hex(16))
        return decoy

    def _spend(self, nonce: str) -> None:
        self._seen_nc[nonce] = _SPENT
        self._seen_nc.move_to_end(nonce)
        while len(self._seen_nc) > self._replay_cache_size:
            self._seen_nc.popitem(last=False)

    def _fresh_count(self, nonce: str, nc: str) -> bool:
        try:
            count = int(nc, 16)
        except ValueError:
            return False
        last = self._seen_nc.get(nonce)
        if last is not None and (last == _SPENT or count <= last):
            return False
        self._seen_nc[nonce] = count
        self._seen_nc.move_to_end(nonce)
        while len(self._seen_nc) > self._replay_cache_size:
            self._seen_nc.popitem(last=False)
        return True


# --- client side -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Challenge:
    """One parsed ``WWW-Authenticate``/``Proxy-Authenticate`` challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    proxy: bool = False

    @classmethod
    def parse(cls, value: str, *, proxy: bool = False) -> Challenge:
        params = parse_digest(value)
        if "realm" not in params or "nonce" not in params:
            raise AuthError("digest challenge without realm or nonce")
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        return cls(params["realm"], params["nonce"], params.get("algorithm", "MD5").upper(),
                   qop, params.get("opaque"), params.get("stale", "").lower() == "true", proxy)


def challenges(response: SipResponse) -> list[Challenge]:
    """Every usable digest challenge in a 401/407, strongest algorithm first."""
    found: list[Challenge] = []
    for name, proxy in (("WWW-Authenticate", False), ("Proxy-Authenticate", True)):
        for line in response.headers.lines(name):
            try:
                challenge = Challenge.parse(line, proxy=proxy)
            except AuthError:
                continue
            if challenge.algorithm in ALGORITHMS:
                found.append(challenge)
    rank = {name: i for i, name in enumerate(DEFAULT_ALGORITHMS)}
    return sorted(found, key=lambda c: rank.get(c.algorithm, 99))


def authorization_header(
    challenge: Challenge | str,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
    nc: int = 1,
) -> str:
    """The ``Authorization`` (or ``Proxy-Authorization``) value answering ``challenge``."""
    if isinstance(challenge, str):
        challenge = Challenge.parse(challenge)
    ha1 = compute_ha1(username, challenge.realm, password, challenge.algorithm)
    qop = "auth" if "auth" in challenge.qop else None
    if challenge.qop and qop is None:
        raise AuthError(f"challenge asks for qop {','.join(challenge.qop)}; only auth is "
                        "supported")
    nc_text = f"{nc:08x}"
    cnonce = cnonce or secrets.token_hex(8)
    response = digest_response(ha1=ha1, method=method, uri=uri, nonce=challenge.nonce,
                               algorithm=challenge.algorithm, qop=qop, nc=nc_text,
                               cnonce=cnonce)
    parts = [f"username={_quote(username)}", f"realm={_quote(challenge.realm)}",
             f"nonce={_quote(challenge.nonce)}", f"uri={_quote(uri)}",
             f"response={_quote(response)}", f"algorithm={challenge.algorithm}"]
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}", f"cnonce={_quote(cnonce)}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)


def authorize_request(
    request: SipRequest, response: SipResponse, *, username: str, password: str,
    cnonce: str | None = None,
) -> SipRequest:
    """The request to re-send after a 401/407: credentials added, CSeq+1, a new branch."""
    found = challenges(response)
    if not found:
        raise AuthError(f"{response.status} response carries no usable digest challenge")
    challenge = found[0]
    header = "Proxy-Authorization" if challenge.proxy else "Authorization"
    value = authorization_header(challenge, method=request.method, uri=str(request.uri),
                                 username=username, password=password, cnonce=cnonce)
    via = request.via.with_param("branch", new_branch())
    headers = request.headers.replace_values("Via", [str(via), *request.headers.values("Via")[1:]])
    headers = headers.set("CSeq", f"{request.cseq.seq + 1} {request.method}")
    headers = headers.remove(header).add(header, value)
    return replace(request, headers=headers)
