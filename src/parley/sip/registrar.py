"""A pure SIP registrar (RFC 3261 §10.3): bindings of contacts to addresses of record.

:meth:`Registrar.register` processes one REGISTER at time ``now`` and returns a
:class:`RegisterResult` (status, headers, current bindings) that the shell turns into the
response with :meth:`RegisterResult.response`. Authentication stays in the shell: it runs
:class:`parley.sip.auth.DigestAuthenticator` first and passes the authenticated user name;
the registrar then decides whether that user may register the address of record
(``may_register``, by default: only its own).

Addresses of record are keys chosen by ``aor_of(uri)``; by default the user part of the To
URI (``1001``), which suits one PBX domain reached under several host names or addresses.
Static contacts (a desk phone or gateway at a fixed address) are configured with
:meth:`Registrar.set_static` and returned by :meth:`Registrar.lookup` like registered ones.
Nothing here reads the clock: every call takes ``now`` (seconds, monotonic clock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from parley.sip.headers import NameAddr
from parley.sip.message import SipRequest, SipResponse, build_response
from parley.sip.uri import SipUri

Address = tuple[str, int]


def default_aor_of(uri: SipUri) -> str:
    """The registration key for a To/Request URI: its user part, else its host."""
    return uri.user if uri.user else uri.host.lower()


def _contact_key(contact: NameAddr) -> str:
    instance = contact.param("+sip.instance")
    if instance:
        return "instance:" + instance.strip('"')
    uri = contact.uri
    return f"{uri.scheme}:{uri.user or ''}@{uri.host.lower()}:{uri.port or ''}"


@dataclass(frozen=True)
class Binding:
    """One contact bound to an address of record, until ``expires_at`` (None: static)."""

    aor: str
    contact: NameAddr
    expires_at: float | None
    q: float = 1.0
    call_id: str = ""
    cseq: int = 0
    registered_at: float = 0.0
    source: Address | None = None
    transport: str | None = None

    @property
    def uri(self) -> SipUri:
        return self.contact.uri

    @property
    def static(self) -> bool:
        return self.expires_at is None

    @property
    def key(self) -> str:
        return _contact_key(self.contact)

    def remaining(self, now: float) -> int:
        """Whole seconds left (0 once expired); static bindings report 0."""
        if self.expires_at is None:
            return 0
        return max(0, int(self.expires_at - now + 0.5))

    def live(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class RegisterResult:
    """The outcome of one REGISTER; ``added``/``removed`` say what changed (for the store)."""

    status: int
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    bindings: tuple[Binding, ...] = ()
    added: tuple[Binding, ...] = ()
    removed: tuple[Binding, ...] = ()
    aor: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def response(self, request: SipRequest, to_tag: str) -> SipResponse:
        return build_response(request, self.status, self.reason or None, to_tag=to_tag,
                              headers=self.headers)


@dataclass
class Registrar:
    """Bindings per address of record, with expiry limits.

    ``min_expires``: shorter non-zero requests get 423 Interval Too Brief with Min-Expires.
    ``max_expires``: longer requests are shortened. ``default_expires``: when neither the
    contact nor the request says. ``max_contacts``: per address of record (403 beyond).
    ``require_auth``: REGISTER without an authenticated user gets 401 (the shell challenges).
    """

    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts: int = 10
    require_auth: bool = True
    aor_of: Callable[[SipUri], str] = default_aor_of
    may_register: Callable[[str, str], bool] = field(default=lambda user, aor: user == aor)
    _bindings: dict[str, dict[str, Binding]] = field(default_factory=dict, repr=False)
    _static: dict[str, tuple[Binding, ...]] = field(default_factory=dict, repr=False)

    def register(
        self,
        request: SipRequest,
        now: float,
        *,
        authenticated_user: str | None = None,
        source: Address | None = None,
        transport: str | None = None,
    ) -> RegisterResult:
        """Apply a REGISTER (RFC 3261 §10.3 steps 5-8)."""
        if request.method != "REGISTER":
            return RegisterResult(405, headers=(("Allow", "REGISTER"),))
        aor = self.aor_of(request.to.uri)
        if self.require_auth:
            if authenticated_user is None:
                return RegisterResult(401, aor=aor)
            if not self.may_register(authenticated_user, aor):
                return RegisterResult(403, f"{authenticated_user} may not register {aor}",
                                      aor=aor)
        current = self._bindings.setdefault(aor, {})
        self._expire(aor, now)
        header_expires = request.expires
        if request.is_star_contact:
            if header_expires != 0 or len(request.headers.values("Contact")) != 1:
                return RegisterResult(400, "Contact: * needs Expires: 0 and no other contact",
                                      aor=aor)
            for binding in current.values():
                if binding.call_id == request.call_id and request.cseq.seq <= binding.cseq:
                    return RegisterResult(500, "CSeq out of order", aor=aor)
            cleared = tuple(current.values())
            current.clear()
            return self._ok(aor, now, removed=cleared)
        updates: list[tuple[NameAddr, int]] = []
        for contact in request.contacts:
            expires = contact.expires
            if expires is None:
                expires = header_expires if header_expires is not None else self.default_expires
            if 0 < expires < self.min_expires:
                return RegisterResult(423, headers=(("Min-Expires", str(self.min_expires)),),
                                      aor=aor)
            updates.append((contact, min(expires, self.max_expires)))
        added: list[Binding] = []
        removed: list[Binding] = []
        staged = dict(current)
        for contact, expires in updates:
            key = _contact_key(contact)
            old = staged.get(key)
            if old is not None and old.call_id == request.call_id \
                    and request.cseq.seq <= old.cseq:
                return RegisterResult(500, "CSeq out of order", aor=aor)
            if expires == 0:
                if old is not None:
                    removed.append(staged.pop(key))
                continue
            binding = Binding(aor, _bare(contact), now + expires, contact.q, request.call_id,
                              request.cseq.seq, now, source, transport)
            staged[key] = binding
            added.append(binding)
        if len(staged) > self.max_contacts:
            return RegisterResult(403, f"more than {self.max_contacts} contacts for {aor}",
                                  aor=aor)
        self._bindings[aor] = staged
        return self._ok(aor, now, added=tuple(added), removed=tuple(removed))

    def _ok(self, aor: str, now: float, *, added: tuple[Binding, ...] = (),
            removed: tuple[Binding, ...] = ()) -> RegisterResult:
        bindings = tuple(self._ordered(self._bindings.get(aor, {}).values(), now))
        headers = tuple(("Contact", str(b.contact.with_param("expires", str(b.remaining(now)))))
                        for b in bindings)
        if not self._bindings.get(aor):
            self._bindings.pop(aor, None)
        return RegisterResult(200, headers=headers, bindings=bindings, added=added,
                              removed=removed, aor=aor)

    @staticmethod
    def _ordered(bindings: Iterable[Binding], now: float) -> list[Binding]:
        live = [b for b in bindings if b.live(now)]
        return sorted(live, key=lambda b: (-b.q, -b.registered_at))

    def _expire(self, aor: str, now: float) -> list[Binding]:
        current = self._bindings.get(aor, {})
        gone = [b for b in current.values() if not b.live(now)]
        for binding in gone:
            del current[binding.key]
        return gone

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Where to reach ``aor`` now: live registered and static contacts, best q first
        (ties: most recently registered first)."""
        registered = self._bindings.get(aor, {}).values()
        return self._ordered([*registered, *self._static.get(aor, ())], now)

    def sweep(self, now: float) -> list[Binding]:
        """Remove every expired binding; returns them (for the store and the logs)."""
        gone: list[Binding] = []
        for aor in list(self._bindings):
            gone += self._expire(aor, now)
            if not self._bindings[aor]:
                del self._bindings[aor]
        return gone

    def remove_source(self, source: Address, transport: str, *,
                      aor: str | None = None) -> list[Binding]:
        """Remove every binding (of ``aor``, or of any) registered from ``source`` over
        ``transport`` (a browser's WebSocket closed: nothing can reach those contacts any
        more); returns them."""
        gone: list[Binding] = []
        aors = list(self._bindings) if aor is None else [aor]
        for name in aors:
            current = self._bindings.get(name)
            if current is None:
                continue
            for key, binding in list(current.items()):
                if binding.source == source and binding.transport == transport:
                    gone.append(current.pop(key))
            if not current:
                del self._bindings[name]
        return gone

    def next_expiry(self) -> float | None:
        """When the next registered binding expires (to schedule the next sweep)."""
        times = [b.expires_at for group in self._bindings.values() for b in group.values()
                 if b.expires_at is not None]
        return min(times) if times else None

    def set_static(self, aor: str, contacts: Iterable[SipUri | str], q: float = 1.0) -> None:
        """Give ``aor`` fixed contacts (replacing earlier static ones); empty removes them."""
        bindings = tuple(
            Binding(aor, NameAddr(c if isinstance(c, SipUri) else SipUri.parse(c)), None, q)
            for c in contacts)
        if bindings:
            self._static[aor] = bindings
        else:
            self._static.pop(aor, None)

    def restore(self, bindings: Iterable[Binding], now: float) -> int:
        """Load bindings kept in the store (after a restart); expired ones are skipped, and
        so is a contact registered again already (its own REGISTER is newer)."""
        count = 0
        for binding in bindings:
            if binding.static or not binding.live(now):
                continue
            current = self._bindings.setdefault(binding.aor, {})
            if binding.key not in current:
                current[binding.key] = binding
                count += 1
        return count

    def aors(self) -> list[str]:
        return sorted(set(self._bindings) | set(self._static))


def _bare(contact: NameAddr) -> NameAddr:
    """The contact as stored: its URI, display name and params except expires and q."""
    params = tuple((k, v) for k, v in contact.params if k.lower() not in ("expires", "q"))
    return replace(contact, params=params)
