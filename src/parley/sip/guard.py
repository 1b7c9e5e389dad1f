"""Limits against SIP password guessing and extension scanning: pure, clock-injected.

:class:`AuthGuard` counts wrong digest answers per source address and per user name in a
sliding window:

- an address that gave ``address_failures`` wrong answers within ``window_s`` is *banned*:
  everything it sends that needs authentication is refused with ``403 Forbidden`` without
  checking, for ``ban_s`` (doubled for each repeat offence, up to ``max_ban_s``);
- a user name that drew ``user_failures`` wrong answers within ``window_s`` (guessing spread
  over many addresses) is *locked* for ``lock_s``: only addresses that authenticated as that
  user within ``known_good_s`` (its own phones) may still try, so the attack cannot lock the
  phone out;
- addresses in the trusted networks are never counted, banned or refused.

Each ban or lock is logged once (a summary line with the count) and reported as a
:class:`parley.events.SecurityEvent` through ``on_event``; refused attempts are only counted.
:class:`AuthGate` puts the guard in front of :class:`parley.sip.auth.DigestAuthenticator` and
returns the answer the shell sends: the same ``403 Forbidden`` for every refusal, whatever the
reason (which goes to the log only), so a scanner cannot tell known user names from unknown.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from parley.clock import Clock
from parley.events import SecurityEvent
from parley.sip.auth import AuthOutcome, DigestAuthenticator, HA1Lookup, claimed_username
from parley.sip.message import SipRequest
from parley.trust import TrustedNetworks

log = structlog.get_logger("parley.sip.guard")

ADDRESS = "address"
USER = "user"


@dataclass(frozen=True)
class GuardSettings:
    """Thresholds of :class:`AuthGuard` (docs/sip.md, "Security")."""

    enabled: bool = True
    address_failures: int = 10  # wrong answers from one address within the window: ban
    user_failures: int = 20  # wrong answers for one user within the window: lock
    window_s: float = 60.0
    ban_s: float = 600.0  # first ban; each repeat offence doubles it
    max_ban_s: float = 86_400.0
    lock_s: float = 600.0
    known_good_s: float = 86_400.0  # an address that authenticated as the user stays allowed
    trusted_networks: tuple[str, ...] = ()
    max_tracked: int = 50_000  # addresses and users remembered at most (memory bound)

    def __post_init__(self) -> None:
        for name in ("address_failures", "user_failures"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("window_s", "ban_s", "max_ban_s", "lock_s", "known_good_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True)
class Ban:
    """An address banned or a user locked: ``until`` and ``since`` on the monotonic clock."""

    kind: str  # ADDRESS or USER
    subject: str
    reason: str
    since: float
    until: float
    failures: int


@dataclass(frozen=True)
class BanInfo:
    """A ban as admins see it (UTC times)."""

    kind: str
    subject: str
    reason: str
    since: datetime
    until: datetime
    failures: int


@dataclass
class _Bounded:
    """Per-key failure times within a window, bounded in number of keys."""

    limit: int
    times: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def add(self, key: str, now: float, window: float) -> int:
        found = self.times.get(key)
        if found is None:
            found = self.times[key] = deque()
        else:
            self.times.move_to_end(key)
        horizon = now - window
        while found and found[0] <= horizon:
            found.popleft()
        found.append(now)
        while len(self.times) > self.limit:
            self.times.popitem(last=False)
        return len(found)

    def clear(self, key: str) -> None:
        self.times.pop(key, None)


class AuthGuard:
    """Failure counting, bans and locks (see the module docstring). Not thread-safe: call it
    from the event loop that serves SIP."""

    def __init__(self, settings: GuardSettings, clock: Clock, *,
                 on_event: Callable[[SecurityEvent], object] | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.trusted = TrustedNetworks(settings.trusted_networks)
        self.on_event = on_event
        self._address_failures = _Bounded(settings.max_tracked)
        self._user_failures = _Bounded(settings.max_tracked)
        self._bans: dict[tuple[str, str], Ban] = {}
        self._offences: OrderedDict[str, int] = OrderedDict()
        self._known_good: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._fraud_reported: OrderedDict[str, float] = OrderedDict()
        #: Figures for metrics: wrong answers seen, attempts refused unchecked, bans and locks.
        self.failures_total = 0
        self.refused_total = 0
        self.bans_total = 0
        self.locks_total = 0
        self.toll_fraud_total = 0

    # --- decisions ---------------------------------------------------------------------------

    def admit(self, address: str, user: Callable[[], str | None] | str | None = None
              ) -> str | None:
        """None when ``address`` may try to authenticate (as ``user``); otherwise the reason
        for refusing it unchecked (for the log). ``user`` may be a function, called only
        while some user is locked (parsing credentials costs)."""
        if not self.settings.enabled or address in self.trusted:
            return None
        if not self._bans:
            return None
        now = self.clock.monotonic()
        ban = self._active((ADDRESS, address), now)
        if ban is not None:
            self.refused_total += 1
            return f"address banned until +{ban.until - now:.0f}s ({ban.reason})"
        if any(kind == USER for kind, _ in self._bans):
            name = user() if callable(user) else user
            if name:
                lock = self._active((USER, name), now)
                if lock is not None and not self._is_known_good(name, address, now):
                    self.refused_total += 1
                    return f"user {name} locked until +{lock.until - now:.0f}s ({lock.reason})"
        return None

    def failed(self, address: str, user: str | None, reason: str) -> None:
        """A wrong answer (or an unknown user) from ``address``: count it; ban or lock past
        the thresholds."""
        self.failures_total += 1
        settings = self.settings
        if not settings.enabled or address in self.trusted:
            return
        now = self.clock.monotonic()
        count = self._address_failures.add(address, now, settings.window_s)
        if count >= settings.address_failures and self._active((ADDRESS, address), now) is None:
            offences = self._offences.pop(address, 0) + 1
            self._offences[address] = offences
            while len(self._offences) > settings.max_tracked:
                self._offences.popitem(last=False)
            duration = min(settings.max_ban_s, settings.ban_s * 2 ** (offences - 1))
            summary = (f"{count} wrong answers in {settings.window_s:.0f} s"
                       + (f" (last: {reason})" if reason else ""))
            self._ban(Ban(ADDRESS, address, summary, now, now + duration, count), user or "")
            self._address_failures.clear(address)
        if user:
            count = self._user_failures.add(user, now, settings.window_s)
            if count >= settings.user_failures and self._active((USER, user), now) is None:
                summary = f"{count} wrong answers for this user in {settings.window_s:.0f} s"
                self._ban(Ban(USER, user, summary, now, now + settings.lock_s, count), address)
                self._user_failures.clear(user)

    def succeeded(self, address: str, user: str) -> None:
        """``address`` authenticated as ``user``: it stays allowed while the user is locked."""
        key = (user, address)
        self._known_good.pop(key, None)
        self._known_good[key] = self.clock.monotonic()
        while len(self._known_good) > self.settings.max_tracked:
            self._known_good.popitem(last=False)

    def refused_call(self, address: str, user: str | None, number: str) -> None:
        """A call to a number the caller may not reach (toll fraud attempt): counted as a
        failure of the address; reported at most once per window per address."""
        self.toll_fraud_total += 1
        if address in self.trusted:
            return
        self.failed(address, None, f"call to {number} refused")
        now = self.clock.monotonic()
        last = self._fraud_reported.get(address)
        if last is not None and now - last < self.settings.window_s:
            return
        self._fraud_reported.pop(address, None)
        self._fraud_reported[address] = now
        while len(self._fraud_reported) > self.settings.max_tracked:
            self._fraud_reported.popitem(last=False)
        log.warning("toll_fraud_refused", source=address, user=user or "", number=number)
        self._emit("toll_fraud", address, user or "", f"call to {number} refused", None,
                   {"number": number})

    # --- the ban list ------------------------------------------------------------------------

    def bans(self) -> list[BanInfo]:
        """Every ban and lock in force, soonest to end first."""
        now = self.clock.monotonic()
        current = [ban for key in list(self._bans)
                   if (ban := self._active(key, now)) is not None]
        return [self._info(ban, now) for ban in sorted(current, key=lambda b: b.until)]

    @property
    def active_bans(self) -> int:
        """How many addresses are banned now (metrics)."""
        return sum(1 for ban in self.bans() if ban.kind == ADDRESS)

    @property
    def active_locks(self) -> int:
        """How many users are locked now (metrics)."""
        return sum(1 for ban in self.bans() if ban.kind == USER)

    def lift(self, kind: str, subject: str, *, by: str = "") -> bool:
        """End a ban (``kind`` "address") or lock ("user") now; False when none is in force."""
        now = self.clock.monotonic()
        ban = self._active((kind, subject), now)
        if ban is None:
            return False
        del self._bans[(kind, subject)]
        if kind == ADDRESS:
            self._address_failures.clear(subject)
        else:
            self._user_failures.clear(subject)
        log.warning("ban_lifted", kind=kind, subject=subject, by=by)
        self._emit("ban_lifted", subject if kind == ADDRESS else "",
                   subject if kind == USER else "", f"lifted by {by}" if by else "lifted",
                   None, {"kind": kind})
        return True

    # --- internals ---------------------------------------------------------------------------

    def _active(self, key: tuple[str, str], now: float) -> Ban | None:
        ban = self._bans.get(key)
        if ban is None:
            return None
        if ban.until <= now:
            del self._bans[key]
            return None
        return ban

    def _is_known_good(self, user: str, address: str, now: float) -> bool:
        seen = self._known_good.get((user, address))
        return seen is not None and now - seen <= self.settings.known_good_s

    def _ban(self, ban: Ban, other: str) -> None:
        self._bans[(ban.kind, ban.subject)] = ban
        seconds = ban.until - ban.since
        if ban.kind == ADDRESS:
            self.bans_total += 1
            log.warning("sip_address_banned", source=ban.subject, seconds=round(seconds),
                        reason=ban.reason, last_user=other)
            self._emit("ban", ban.subject, other, ban.reason, ban,
                       {"failures": ban.failures, "seconds": round(seconds)})
        else:
            self.locks_total += 1
            log.warning("sip_user_locked", user=ban.subject, seconds=round(seconds),
                        reason=ban.reason, last_source=other)
            self._emit("user_locked", other, ban.subject, ban.reason, ban,
                       {"failures": ban.failures, "seconds": round(seconds)})

    def _info(self, ban: Ban, now: float) -> BanInfo:
        wall = self.clock.utcnow()
        return BanInfo(ban.kind, ban.subject, ban.reason,
                       wall - timedelta(seconds=now - ban.since),
                       wall + timedelta(seconds=ban.until - now), ban.failures)

    def _emit(self, kind: str, source: str, user: str, reason: str, ban: Ban | None,
              detail: dict[str, object]) -> None:
        if self.on_event is None:
            return
        until = None
        if ban is not None:
            until = self._info(ban, self.clock.monotonic()).until
        self.on_event(SecurityEvent(kind, source, user, reason, self.clock.utcnow(), until,
                                    detail))


@dataclass(frozen=True)
class GateAnswer:
    """What to answer a request that needs authentication: ``user`` set when it may go on;
    otherwise ``status`` (401 or 403), ``reason`` phrase and ``headers`` for the response,
    and ``why`` for the log only. ``unchecked``: refused by a ban or lock without checking
    (the ban was logged once; do not log each attempt)."""

    user: str | None
    status: int = 0
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    why: str = ""
    unchecked: bool = False
    claimed: str | None = None  # the user name the credentials claimed (for the log)


FORBIDDEN = "Forbidden"


class AuthGate:
    """Digest authentication behind the guard: the one call the SIP engine makes."""

    def __init__(self, auth: DigestAuthenticator, guard: AuthGuard | None = None) -> None:
        self.auth = auth
        self.guard = guard

    def check(self, request: SipRequest, address: str, now: float,
              lookup: HA1Lookup) -> GateAnswer:
        """Admit, challenge or refuse ``request`` from ``address`` (see the module docstring)."""
        guard = self.guard
        if guard is not None:
            refusal = guard.admit(address, lambda: claimed_username(request, self.auth.realm))
            if refusal is not None:
                return GateAnswer(None, 403, FORBIDDEN, why=refusal, unchecked=True)
        result = self.auth.verify(request, now, lookup)
        if result.ok:
            if guard is not None and result.username:
                guard.succeeded(address, result.username)
            return GateAnswer(result.username)
        if result.outcome is AuthOutcome.FORBIDDEN:
            if guard is not None:
                guard.failed(address, result.username, result.reason)
            return GateAnswer(None, 403, FORBIDDEN, why=result.reason, claimed=result.username)
        return GateAnswer(None, 401, None, tuple(self.auth.challenge(now, stale=result.stale)),
                          why=result.reason)
