"""Who is calling and what they may do: bearer tokens, session cookies with CSRF protection,
roles on every route, and rate-limited logins.

A request authenticates with ``Authorization: Bearer <token>`` (integrations) or with the
``parley_session`` cookie set by ``POST /api/auth/login`` (the web UI). A cookie-authenticated
request that changes state (anything but GET, HEAD, OPTIONS) must also carry the session's
CSRF token, in the ``X-CSRF-Token`` header or a ``csrf_token`` form field.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import RedirectResponse

from parley.bus import LiveBus
from parley.center.ports import (
    CallControl,
    CampaignControl,
    ContactCenter,
    FlowTrialLines,
    NoCampaignControl,
    SecurityControl,
)
from parley.clock import Clock
from parley.config import WebRtcSettings
from parley.directory import Directory
from parley.events import SecurityEvent
from parley.ha import NodeStatus, single_status
from parley.store import Store
from parley.store.records import Principal
from parley.store.specs import ROLE_ORDER, Role
from parley.trust import TrustedNetworks

if TYPE_CHECKING:
    from parley.net.websocket import WsConnections
    from parley.telephony.prompts import PromptLibrary
    from parley.telephony.session_devices import SessionDevices
    from parley.telephony.trunks import TrunkStatus

SESSION_COOKIE = "parley_session"
CSRF_COOKIE = "parley_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginLimiter:
    """Failed logins counted per user name *and* client address together, plus per address
    across names (password spraying). Past ``free_attempts`` failures of one name from one
    address (or ``address_attempts`` from one address), each further attempt must wait a
    delay that doubles from ``base_delay_s`` up to ``max_delay_s``: a growing delay, never a
    lockout, and one that only the failing address suffers, so an attacker elsewhere cannot
    keep the admin out. Failures are forgotten after ``forget_s`` without one. Addresses in
    ``trusted`` are never delayed. Pure: time comes from the injected clock.
    """

    max_keys = 10_000

    def __init__(self, clock: Clock, *, free_attempts: int = 5, address_attempts: int = 50,
                 base_delay_s: float = 1.0, max_delay_s: float = 300.0, forget_s: float = 900.0,
                 trusted: TrustedNetworks | None = None,
                 on_event: Callable[[SecurityEvent], object] | None = None) -> None:
        self._clock = clock
        self.free_attempts = free_attempts
        self.address_attempts = address_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.forget_s = forget_s
        self.trusted = trusted or TrustedNetworks()
        self.on_event = on_event
        self._failures: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        #: Figures for metrics: failed logins, attempts answered 429.
        self.failures_total = 0
        self.throttled_total = 0

    def _keys(self, name: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return (name, address), ("", address)

    def _wait(self, key: tuple[str, str], free: int, now: float) -> float:
        found = self._failures.get(key)
        if found is None:
            return 0.0
        count, last = found
        if now - last > self.forget_s:
            del self._failures[key]
            return 0.0
        if count < free:
            return 0.0
        delay = min(self.max_delay_s, self.base_delay_s * 2.0 ** (count - free))
        return max(0.0, last + delay - now)

    def retry_after(self, name: str, address: str) -> float:
        """Seconds until ``name`` may try again from ``address``; 0 when it may now."""
        if address in self.trusted:
            return 0.0
        now = self._clock.monotonic()
        pair, whole = self._keys(name, address)
        wait = max(self._wait(pair, self.free_attempts, now),
                   self._wait(whole, self.address_attempts, now))
        if wait > 0:
            self.throttled_total += 1
        return wait

    def failed(self, name: str, address: str) -> None:
        """A wrong password (or unknown name) for ``name`` from ``address``."""
        self.failures_total += 1
        if address in self.trusted:
            return
        now = self._clock.monotonic()
        for key, free in zip(self._keys(name, address),
                             (self.free_attempts, self.address_attempts), strict=True):
            count, last = self._failures.pop(key, (0, now))
            if now - last > self.forget_s:
                count = 0
            count += 1
            self._failures[key] = (count, now)
            if count == free and self.on_event is not None:
                delay = min(self.max_delay_s, self.base_delay_s)
                self.on_event(SecurityEvent(
                    "login_throttled", address, key[0],
                    f"{count} failed logins" + (f" for {key[0]!r}" if key[0] else
                                                " for several names"),
                    self._clock.utcnow(), self._clock.utcnow() + timedelta(seconds=delay),
                    {"failures": count}))
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, name: str, address: str) -> None:
        """A login that worked: the name's failures from this address are forgotten."""
        self._failures.pop((name, address), None)


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
    security: SecurityControl | None = None  # the SIP ban list; None: not on this server
    voicemail_dir: Path | None = None
    secure_cookies: bool = False
    session_lifetime: timedelta = timedelta(hours=12)
    #: the carriers' trunks' states (parley.telephony.trunks); None: not on this server
    trunks: Callable[[], list[TrunkStatus]] | None = None
    #: browsers' SIP over WebSocket (``/sip``) and their session credentials; None: this
    #: web server has no SIP server beside it
    sip_ws: WsConnections | None = None
    phones: SessionDevices | None = None
    #: the live dialer (start, pause, stop, new contacts, figures); its absence answers 503
    campaigns: CampaignControl = field(default_factory=NoCampaignControl)
    #: the prompt library, whose uploads folder the prompts API writes; None: not here
    prompts: PromptLibrary | None = None
    #: sign-in through LDAP / Active Directory (parley.web.directory); None: local only
    directory: Directory | None = None
    #: test calls to a flow's draft (the web editor's); None: no telephony on this node
    flow_trials: FlowTrialLines | None = None
    #: the STUN/TURN servers given to browser phones (parley.config.WebRtcSettings)
    webrtc: WebRtcSettings = field(default_factory=WebRtcSettings)
    #: the node's role and lease for ``/api/health`` (parley.ha); default: a single node
    health: Callable[[], NodeStatus] = field(default_factory=lambda: _single_node)
    #: a planned switch-over to the standby (the node's; None: not possible here)
    switch_over: Callable[[], Awaitable[str]] | None = None
    extra: dict[str, object] = field(default_factory=dict)


def _single_node() -> NodeStatus:
    return single_status("parley")


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


def to_sign_in(request: Request) -> RedirectResponse:
    """A page's answer to someone not signed in: the sign-in form, saying so when the
    session they had has ended."""
    return RedirectResponse("/login?why=ended" if request.cookies.get(SESSION_COOKIE)
                            else "/login", status_code=status.HTTP_303_SEE_OTHER)


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
    """The client's address: the TCP peer, or, when the peer is one of the configured trusted
    proxies, the right-most ``X-Forwarded-For`` entry that is not a trusted proxy (the web
    server resolves it: :class:`parley.web.server.WebServer`)."""
    return request.client.host if request.client else "unknown"
