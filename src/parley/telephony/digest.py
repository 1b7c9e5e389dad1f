"""Digest authentication of REGISTER and INVITE (RFC 3261 §22, RFC 7616, RFC 8760).

The server side only, checked against HA1 hashes from the :class:`UserDirectory` (no plaintext
password is needed). Nonces are stateless: a timestamp signed with a per-node secret, so any
nonce older than ``nonce_lifetime`` is refused as stale (the phone retries at once with a fresh
one) and a forged nonce is refused outright.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import Enum

from parley.telephony.users import DIGEST_ALGORITHMS, UserDirectory

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)\s*,?')


def _hash(algorithm: str, text: str) -> str:
    if algorithm == "SHA-256":
        return hashlib.sha256(text.encode()).hexdigest()
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_credentials(value: str) -> dict[str, str]:
    """The parameters of an ``Authorization: Digest k="v", ...`` header value (names lowered)."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    params: dict[str, str] = {}
    for match in _PARAM.finditer(rest):
        raw = match.group(2)
        if raw.startswith('"'):
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[match.group(1).lower()] = raw
    return params


class Verdict(Enum):
    """The outcome of checking a request's credentials."""

    MISSING = "missing"  # no credentials for this realm: challenge (401)
    STALE = "stale"  # right password, expired nonce: challenge again with stale=true
    OK = "ok"
    REFUSED = "refused"  # wrong password, unknown user or forged nonce: 403


@dataclass(frozen=True)
class AuthResult:
    verdict: Verdict
    username: str | None = None
    reason: str = ""


class DigestAuthenticator:
    """Issues challenges and checks answers for one realm against a user directory."""

    def __init__(self, realm: str, users: UserDirectory, *, nonce_lifetime: float = 300.0,
                 secret: bytes | None = None,
                 algorithms: tuple[str, ...] = ("MD5",)) -> None:
        unknown = [name for name in algorithms if name not in DIGEST_ALGORITHMS]
        if unknown or not algorithms:
            raise ValueError(f"digest algorithms must be among {DIGEST_ALGORITHMS}: {unknown}")
        self.algorithms = algorithms
        self.realm = realm
        self.users = users
        self.nonce_lifetime = nonce_lifetime
        self._secret = secret or secrets.token_bytes(32)

    def _nonce(self, now: float) -> str:
        stamp = f"{now:.3f}"
        signature = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{stamp}.{signature}"

    def _nonce_age(self, nonce: str, now: float) -> float | None:
        stamp, _, signature = nonce.rpartition(".")
        expected = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        if not stamp or not hmac.compare_digest(signature, expected):
            return None
        try:
            return now - float(stamp)
        except ValueError:
            return None

    def challenges(self, now: float, *, stale: bool = False) -> list[str]:
        """``WWW-Authenticate`` values, one per algorithm (RFC 8760 §2.4).

        ``algorithms`` (the constructor's) says which challenges are sent. The default offers
        MD5 only: deployed phones such as baresip 1.0 refuse to register at all when any
        challenge names an algorithm they do not know. Add "SHA-256" where every phone supports
        it. Answers in either algorithm are checked whenever the user has that HA1.
        """
        nonce = self._nonce(now)
        extra = ", stale=true" if stale else ""
        return [f'Digest realm="{self.realm}", nonce="{nonce}", algorithm={algorithm}, '
                f'qop="auth"{extra}' for algorithm in self.algorithms]

    def check(self, method: str, authorization: str | None, now: float) -> AuthResult:
        """Check the credentials in an ``Authorization`` header value for ``method``."""
        if not authorization:
            return AuthResult(Verdict.MISSING)
        params = parse_credentials(authorization)
        if params.get("realm") != self.realm:
            return AuthResult(Verdict.MISSING, reason="credentials for another realm")
        username = params.get("username", "")
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in DIGEST_ALGORITHMS:
            return AuthResult(Verdict.REFUSED, username, f"unsupported algorithm {algorithm}")
        user = self.users.lookup(username)
        if user is None or algorithm not in user.ha1:
            return AuthResult(Verdict.REFUSED, username, "unknown user")
        nonce = params.get("nonce", "")
        age = self._nonce_age(nonce, now)
        if age is None or age < -5:
            return AuthResult(Verdict.REFUSED, username, "nonce not issued here")
        ha2 = _hash(algorithm, f"{method}:{params.get('uri', '')}")
        qop = params.get("qop")
        if qop:
            if qop != "auth":
                return AuthResult(Verdict.REFUSED, username, f"unsupported qop {qop}")
            expected = _hash(algorithm, f"{user.ha1[algorithm]}:{nonce}:{params.get('nc', '')}:"
                                        f"{params.get('cnonce', '')}:auth:{ha2}")
        else:
            expected = _hash(algorithm, f"{user.ha1[algorithm]}:{nonce}:{ha2}")
        if not hmac.compare_digest(expected, params.get("response", "").lower()):
            return AuthResult(Verdict.REFUSED, username, "wrong password")
        if age > self.nonce_lifetime:
            return AuthResult(Verdict.STALE, username, "nonce expired")
        return AuthResult(Verdict.OK, username)
