"""Registering at a carrier (RFC 3261 §10.2) as a client: sans-IO, one account each.

A :class:`RegistrationClient` keeps one binding of Parley's contact at a registrar (a
carrier's trunk account). It takes events and returns commands, like the transaction layer:

- :meth:`~RegistrationClient.start` (and :meth:`~RegistrationClient.timer_fired` for the timer
  it asked for) sends a REGISTER;
- :meth:`~RegistrationClient.receive_response` takes the final response to it: a 401/407
  is answered once with digest credentials (again only for a ``stale`` nonce), a 423 is
  retried with the registrar's ``Min-Expires``, a 2xx registers the contact for the expiry
  the registrar granted and asks to be woken before it runs out, anything else fails;
- :meth:`~RegistrationClient.request_failed` (no response: timeout, transport error) fails;
- :meth:`~RegistrationClient.stop` removes the binding (``Expires: 0``) when registered.

Commands: :class:`SendRegister` (send in a client transaction, feed the answer back),
:class:`WakeAfter` (call ``timer_fired`` after that many seconds, replacing the last one) and
:class:`StatusChanged` (the state and the last response, for the trunk's status). A failure is
retried after a back-off that doubles from ``retry_min`` to ``retry_max`` (a 503's
``Retry-After`` is honoured within those bounds); a success resets it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from parley.sip.auth import AuthError, authorization_header, challenges
from parley.sip.headers import NameAddr, Via
from parley.sip.message import REASON_PHRASES, SipRequest, SipResponse, build_request, new_branch
from parley.sip.uri import SipUri


class RegistrationState(StrEnum):
    """Where an account's registration stands."""

    UNREGISTERED = "unregistered"  # not started, or removed
    REGISTERING = "registering"  # a REGISTER is in flight (first time or after a failure)
    REGISTERED = "registered"  # bound; refreshed before expiry
    FAILED = "failed"  # the last attempt failed; retried after a back-off


@dataclass(frozen=True)
class SendRegister:
    """Send ``request`` in a client transaction; its final response (or its failure) comes
    back to receive_response (or request_failed)."""

    request: SipRequest


@dataclass(frozen=True)
class WakeAfter:
    """Call timer_fired after ``delay`` seconds (replacing the wake-up asked for before)."""

    delay: float


@dataclass(frozen=True)
class StatusChanged:
    """The registration's state changed or its last response did (``reason`` says what the
    registrar answered, e.g. ``403 Forbidden``, or why no answer came)."""

    state: RegistrationState
    reason: str
    expires: int | None = None


RegistrationCommand = SendRegister | WakeAfter | StatusChanged


@dataclass(frozen=True)
class RegistrationConfig:
    """One account at one registrar. ``registrar`` is the Request-URI (``sip:carrier``),
    ``aor`` the account's address (``sip:acct17@carrier``), ``contact`` where calls for it
    go (Parley's address), ``transport`` the Via transport (UDP, TCP, TLS)."""

    registrar: SipUri
    aor: SipUri
    contact: SipUri
    username: str
    password: str
    local_host: str
    local_port: int
    transport: str = "UDP"
    expires: int = 600
    retry_min: float = 5.0
    retry_max: float = 300.0


def refresh_delay(expires: int) -> float:
    """When to refresh a binding granted for ``expires`` seconds: half-way for short
    expiries, a minute ahead for long ones (never less than one second)."""
    if expires <= 120:
        return max(1.0, expires / 2)
    return float(expires - 60)


@dataclass
class RegistrationClient:
    """One account's registration (module docstring). Not thread-safe; pure."""

    config: RegistrationConfig
    state: RegistrationState = RegistrationState.UNREGISTERED
    reason: str = "not started"
    expires: int | None = None  # granted by the registrar on the last success
    failures: int = 0  # consecutive failures: the back-off grows with them
    call_id: str = field(default_factory=lambda: secrets.token_hex(12) + "@parley")
    from_tag: str = field(default_factory=lambda: secrets.token_hex(6))
    cseq: int = 0
    requested: int = 0  # the expiry asked for in the REGISTER in flight
    credentials_sent: bool = False  # the REGISTER in flight answered a challenge
    in_flight: bool = False
    stopping: bool = False

    # --- inputs -------------------------------------------------------------------------------

    def start(self) -> list[RegistrationCommand]:
        """Register now (first time, or again after a change)."""
        self.stopping = False
        return self._register(self.config.expires)

    def stop(self) -> list[RegistrationCommand]:
        """Remove the binding (``Expires: 0``) when there is one; then stay unregistered."""
        self.stopping = True
        if self.state is RegistrationState.REGISTERED:
            return self._register(0)
        return self._status(RegistrationState.UNREGISTERED, "stopped")

    def timer_fired(self) -> list[RegistrationCommand]:
        """The wake-up asked for: refresh before expiry, or retry after a failure."""
        if self.stopping or self.in_flight:
            return []
        return self._register(self.config.expires)

    def receive_response(self, response: SipResponse) -> list[RegistrationCommand]:
        """The final response to our REGISTER (provisional ones are ignored)."""
        if response.status < 200 or response.call_id != self.call_id \
                or response.cseq.seq != self.cseq:
            return []
        self.in_flight = False
        status = response.status
        if status in (401, 407):
            return self._challenged(response)
        if status == 423:
            minimum = response.header("Min-Expires")
            if minimum is not None and minimum.strip().isdigit() \
                    and int(minimum) > self.requested and self.requested:
                return self._register(int(minimum))
            return self._failed(describe(response))
        if 200 <= status < 300:
            return self._registered(response)
        return self._failed(describe(response), retry_after=_retry_after(response))

    def request_failed(self, why: str = "no response") -> list[RegistrationCommand]:
        """The REGISTER got no final response (timer F, a TCP connection refused...)."""
        if not self.in_flight:
            return []
        self.in_flight = False
        return self._failed(why)

    # --- steps --------------------------------------------------------------------------------

    def _register(self, expires: int, authorization: tuple[str, str] | None = None
                  ) -> list[RegistrationCommand]:
        config = self.config
        self.cseq += 1
        self.requested = expires
        self.in_flight = True
        self.credentials_sent = authorization is not None
        via = Via(config.transport, config.local_host, config.local_port,
                  (("branch", new_branch()), ("rport", None)))
        headers: list[tuple[str, str]] = [("Expires", str(expires)),
                                          ("User-Agent", "Parley")]
        if authorization is not None:
            headers.append(authorization)
        request = build_request(
            "REGISTER", config.registrar, from_=NameAddr(config.aor).with_tag(self.from_tag),
            to=NameAddr(config.aor), call_id=self.call_id, cseq=self.cseq, via=via,
            contact=NameAddr(config.contact), headers=headers)
        out: list[RegistrationCommand] = [SendRegister(request)]
        if self.state is RegistrationState.UNREGISTERED:  # a failure shows until answered
            out += self._status(RegistrationState.REGISTERING, self.reason)
        return out

    def _challenged(self, response: SipResponse) -> list[RegistrationCommand]:
        found = challenges(response)
        if not found:
            return self._failed(f"{describe(response)} without a usable digest challenge")
        challenge = found[0]
        if self.credentials_sent and not challenge.stale:
            return self._failed(f"{describe(response)} (credentials refused)")
        try:
            value = authorization_header(challenge, method="REGISTER",
                                         uri=str(self.config.registrar),
                                         username=self.config.username,
                                         password=self.config.password)
        except AuthError as exc:
            return self._failed(f"{describe(response)} ({exc})")
        header = "Proxy-Authorization" if challenge.proxy else "Authorization"
        return self._register(self.requested, (header, value))

    def _registered(self, response: SipResponse) -> list[RegistrationCommand]:
        self.failures = 0
        if self.requested == 0:
            self.expires = None
            return self._status(RegistrationState.UNREGISTERED, describe(response))
        granted = _granted(response, self.config.contact, self.requested)
        self.expires = granted
        out = self._status(RegistrationState.REGISTERED, describe(response), granted)
        return [*out, WakeAfter(refresh_delay(granted))]

    def _failed(self, reason: str, retry_after: float | None = None
                ) -> list[RegistrationCommand]:
        self.failures += 1
        self.expires = None
        if self.stopping:
            return self._status(RegistrationState.UNREGISTERED, reason)
        config = self.config
        delay = min(config.retry_max, config.retry_min * 2 ** (self.failures - 1))
        if retry_after is not None:
            delay = min(config.retry_max, max(delay, retry_after))
        return [*self._status(RegistrationState.FAILED, reason), WakeAfter(delay)]

    def _status(self, state: RegistrationState, reason: str,
                expires: int | None = None) -> list[RegistrationCommand]:
        self.state = state
        self.reason = reason
        return [StatusChanged(state, reason, expires)]


def describe(response: SipResponse) -> str:
    """``403 Forbidden``: the status and its reason phrase, as the registrar wrote it."""
    phrase = response.reason or REASON_PHRASES.get(response.status, "")
    return f"{response.status} {phrase}".strip()


def _retry_after(response: SipResponse) -> float | None:
    value = response.header("Retry-After")
    if value is None:
        return None
    head = value.split(";", 1)[0].split("(", 1)[0].strip()
    return float(head) if head.isdigit() else None


def _granted(response: SipResponse, contact: SipUri, requested: int) -> int:
    """The expiry the registrar granted our contact: its ``expires`` parameter in the 2xx's
    Contact list, else the Expires header, else what we asked for."""
    for bound in response.contacts:
        if bound.uri.host == contact.host and bound.uri.user == contact.user \
                and (bound.uri.port or 5060) == (contact.port or 5060) \
                and bound.expires is not None:
            return bound.expires
    if response.expires is not None:
        return response.expires
    return requested
