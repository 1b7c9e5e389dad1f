"""Short-lived SIP credentials for the browser phone of a signed-in web session.

An operator signed in to the web app should not type SIP credentials again, and the page must
never hold the device's SIP password. :class:`SessionDevices` issues, per web session, a
generated authentication name (``web-…``) and a random password that stand for one SIP user:
the operator's own device, or, for someone without a desk phone (a supervisor, the admin), a
device named after the web user that lives as long as the session. Credentials expire after
``lifetime_s`` (the page asks again before that: same name, new password) and are revoked
when the session signs out.

It is also the :class:`~parley.telephony.users.UserDirectory` the SIP engine looks users up
in: the site's directory first, then the session credentials (a look-up of ``web-…`` returns
the user it stands for, with the digest of the session password), then the session-only
devices (so that they can be called). The password itself is kept only as digests.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from parley.clock import Clock
from parley.telephony.users import DIGEST_ALGORITHMS, SipUser, UserDirectory

PREFIX = "web-"


@dataclass(frozen=True)
class IssuedCredentials:
    """What the page gets: the SIP user (address of record), the authentication name and
    password for digest, and when they stop working (monotonic seconds)."""

    user: str
    auth_name: str
    password: str
    expires_at: float
    session_device: bool


@dataclass
class _Grant:
    user: str
    auth_name: str
    ha1: dict[str, str]
    expires_at: float
    session_device: bool


def session_key(token: str) -> str:
    """A key for a web session that does not reveal its cookie."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionDevices:
    """Session credentials and session-only devices over the site's directory."""

    def __init__(self, base: UserDirectory, clock: Clock, realm: Callable[[], str], *,
                 lifetime_s: float = 3600.0) -> None:
        if lifetime_s <= 0:
            raise ValueError("session credential lifetime must be positive")
        self.base = base
        self.clock = clock
        self.realm = realm
        self.lifetime_s = lifetime_s
        self._by_session: dict[str, _Grant] = {}
        self._by_name: dict[str, _Grant] = {}
        #: Told the authentication name of each revoked grant (the engine ends what it
        #: registered).
        self.on_revoked: Callable[[str, str], None] | None = None

    # --- the directory ---------------------------------------------------------------------

    def lookup(self, name: str) -> SipUser | None:
        user = self.base.lookup(name)
        if user is not None:
            return user
        grant = self._by_name.get(name)
        now = self.clock.monotonic()
        if grant is not None:
            if grant.expires_at <= now:
                return None
            return SipUser(name=grant.user, ha1=dict(grant.ha1))
        for grant in self._by_session.values():  # a session-only device can be called
            if grant.session_device and grant.user == name and grant.expires_at > now:
                return SipUser(name=grant.user)
        return None

    # --- issuing ---------------------------------------------------------------------------

    def issue(self, session: str, user: str, *, session_device: bool,
              session_ends_at: float | None = None) -> IssuedCredentials:
        """Credentials for ``user`` bound to ``session`` (a :func:`session_key`): the same
        authentication name as before for this session, a new password, a new expiry (never
        past ``session_ends_at``)."""
        from parley.sip.auth import compute_ha1

        now = self.clock.monotonic()
        old = self._by_session.get(session)
        if old is not None and old.user != user:
            self.revoke(session)
            old = None
        auth_name = old.auth_name if old is not None else PREFIX + secrets.token_hex(8)
        password = secrets.token_urlsafe(24)
        realm = self.realm()
        ha1 = {algorithm: compute_ha1(auth_name, realm, password, algorithm)
               for algorithm in DIGEST_ALGORITHMS}
        expires_at = now + self.lifetime_s
        if session_ends_at is not None:
            expires_at = min(expires_at, session_ends_at)
        grant = _Grant(user, auth_name, ha1, expires_at, session_device)
        self._by_session[session] = grant
        self._by_name[auth_name] = grant
        self._prune(now)
        return IssuedCredentials(user, auth_name, password, expires_at, session_device)

    def revoke(self, session: str) -> bool:
        """The session signed out: its credentials stop working at once."""
        grant = self._by_session.pop(session, None)
        if grant is None:
            return False
        self._by_name.pop(grant.auth_name, None)
        if self.on_revoked is not None:
            self.on_revoked(grant.user, grant.auth_name)
        return True

    def _prune(self, now: float) -> None:
        for session, grant in list(self._by_session.items()):
            if grant.expires_at <= now:
                del self._by_session[session]
                self._by_name.pop(grant.auth_name, None)

    def __len__(self) -> int:
        return len(self._by_session)
