"""Password and SIP digest hashing: argon2 for logins, HA1 digests for SIP devices."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Argon2id hashing of login passwords, off the event loop (a hash takes tens of
    milliseconds on purpose, and calls and media must not wait for it).

    The default cost is RFC 9106's second recommendation (t=3, 64 MiB, p=4). Verification
    reads the cost from the stored hash, so raising the cost later keeps old hashes valid.
    """

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536,
                 parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                      parallelism=parallelism)

    @classmethod
    def cheap(cls) -> Passwords:
        """The lowest cost argon2 allows; for tests and benchmarks only."""
        return cls(time_cost=1, memory_kib=8, parallelism=1)

    async def hash(self, password: str) -> str:
        """An argon2id hash (salted: two calls give different strings)."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches the stored argon2 hash."""
        return await asyncio.to_thread(verify_password, password_hash, password)


def hash_password(password: str) -> str:
    """An argon2id hash with the default cost (blocking; prefer :class:`Passwords`)."""
    return PasswordHasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches the stored argon2 hash (blocking)."""
    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    """The stored form of a random bearer or session token (SHA-256: tokens are high-entropy)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    """A fresh random token such as ``pk_…`` (256 bits)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"
