"""Who may register and be called: the user directory seam.

The call-control code asks a :class:`UserDirectory` for a user by name and gets the digest HA1
hashes (one per algorithm, for the realm; never the plaintext password) and an optional static
contact (a desk phone or gateway at a fixed address that does not register). The demo builds a
:class:`MemoryDirectory` from a list; the store backs the same protocol with the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from parley.sip.auth import compute_ha1

DIGEST_ALGORITHMS = ("SHA-256", "MD5")


@dataclass(frozen=True)
class SipUser:
    """One SIP user (an extension): its HA1 hashes per algorithm and an optional static contact.

    ``static_contact`` is a SIP URI such as ``sip:2000@127.0.0.1:5070``; calls to the user go
    there instead of to registered contacts.
    """

    name: str
    ha1: dict[str, str] = field(default_factory=dict)
    static_contact: str | None = None
    display_name: str = ""


class UserDirectory(Protocol):
    """Look-up of SIP users by user name (the extension)."""

    def lookup(self, name: str) -> SipUser | None:
        """The user called ``name``, or None when there is none."""
        ...


class MemoryDirectory:
    """A :class:`UserDirectory` held in memory (the demo, tests, small static setups)."""

    def __init__(self, users: Iterable[SipUser] = ()) -> None:
        self._users = {user.name: user for user in users}

    def lookup(self, name: str) -> SipUser | None:
        return self._users.get(name)

    def add(self, user: SipUser) -> None:
        self._users[user.name] = user

    def replace(self, users: Iterable[SipUser]) -> None:
        """Swap in a whole new set of users at once (a reload from the store)."""
        self._users = {user.name: user for user in users}

    def __len__(self) -> int:
        return len(self._users)


def user_with_password(name: str, password: str, realm: str, *,
                       static_contact: str | None = None) -> SipUser:
    """A :class:`SipUser` whose HA1s are computed from ``password`` (which is then dropped)."""
    hashes = {algorithm: compute_ha1(name, realm, password, algorithm)
              for algorithm in DIGEST_ALGORITHMS}
    return SipUser(name=name, ha1=hashes, static_contact=static_contact)


def demo_directory(realm: str) -> MemoryDirectory:
    """Users 1001-1010 whose SIP password is ``pw`` followed by the extension (``pw1001``)."""
    return MemoryDirectory(user_with_password(str(ext), f"pw{ext}", realm)
                           for ext in range(1001, 1011))
