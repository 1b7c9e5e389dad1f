"""Who is calling and what they may do: bearer tokens, session cookies with CSRF protection,
roles on every route, and rate-limited logins.

A request authenticates with ``Authorization: Bearer <token>`` (integrations) or with the
``parley_session`` cookie set by ``POST /api/auth/login`` (the web UI). A cookie-authenticated
request that changes state (anything but GET, HEAD, OPTIONS) must also carry the session's
CSRF token, in the ``X-CSRF-Token`` header or a ``csrf_token`` form field.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from parley.bus import LiveBus
from parley.center.ports import CallControl, ContactCenter
from parley.clock import Clock
from parley.store import Store
from parley.store.records import Principal
from parley.store.specs import ROLE_ORDER, Role

SESSION_COOKIE = "parley_session"
CSRF_COOKIE = "parley_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginLimiter:
    """At most ``attempts`` failed logins per ``window_s`` for one user name and for one
    client address; further attempts are refused until the window passes."""

    max_keys = 10_000

    def __init__(self, clock: Clock, *, attempts: int = 5, window_s: float = 60.0) -> None:
        self._clock = clock
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        horizon = self._clock.monotonic() - self.window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def retry_after(self, *keys: str) -> float:
        """Seconds until a login for these keys is allowed again; 0 when allowed now."""
        wait = 0.0
        for key in keys:
            failures = self._recent(key)
            if len(failures) >= self.attempts:
                wait = max(wait, failures[0] + self.window_s - self._clock.monotonic())
        return wait

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._recent(key).append(self._clock.monotonic())
        if len(self._failures) > self.max_keys:  # forget keys whose failures have expired
            for key in list(self._failures):
                if not self._recent(key):
                    del self._failures[key]

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


@dataclass
class WebContext:
    """Everything the routes need, built once by :func:`parley.web.build_web_app`."""

    store: Store
    bus: LiveBus
    clock: Clock
    calls: CallControl
    center: ContactCenter
    limiter: LoginLimiter
    recordings_dir: Path | None = None
    secure_cookies: bool = False
    session_lifetime: timedelta = timedelta(hours=12)
    extra: dict[str, object] = field(default_factory=dict)


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.parley
    return ctx


def rank(principal: Principal) -> int:
    """The principal's highest role, as an index into ``ROLE_ORDER`` (-1: no role)."""
    known = {str(role) for role in Role}
    ranks = [ROLE_ORDER.index(Role(role)) for role in principal.roles if role in known]
    return max(ranks, default=-1)


def has_role(principal: Principal, role: Role) -> bool:
    return rank(principal) >= role.rank


async def authenticate(request: Request) -> Principal | None:
    """The principal behind the request, or None; enforces CSRF for cookie sessions."""
    ctx = context(request)
    now = ctx.clock.utcnow()
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                "Authorization must be 'Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        principal = await ctx.store.accounts.token_principal(token.strip(), now)
        if principal is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked API token",
                                headers={"WWW-Authenticate": "Bearer"})
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    session = await ctx.store.accounts.session(cookie, now)
    if session is None:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else ""
        if not secrets.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"CSRF token missing or wrong: send the {CSRF_HEADER} header "
                                "given at login")
    return session.principal


def require(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits principals holding ``role`` or a higher one."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in or send a bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        if not has_role(principal, role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role")
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


Agent = Annotated[Principal, Depends(require(Role.AGENT))]
Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Ctx = Annotated[WebContext, Depends(context)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
