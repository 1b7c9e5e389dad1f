"""Password and SIP digest hashing: argon2 for logins, HA1 digests for SIP devices."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of a login password (salted: two calls give different strings)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches the stored argon2 hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """The digest HA1 (RFC 7616 §3.4.2): H(username ":" realm ":" password)."""
    text = f"{username}:{realm}:{password}".encode()
    if algorithm.upper() == "MD5":
        return hashlib.md5(text, usedforsecurity=False).hexdigest()
    if algorithm.upper() == "SHA-256":
        return hashlib.sha256(text).hexdigest()
    raise ValueError(f"unsupported digest algorithm {algorithm!r}")


def token_hash(token: str) -> str:
    """The stored form of a random bearer or session token (SHA-256: tokens are high-entropy)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    """A fresh random token such as ``pk_…`` (256 bits)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"
