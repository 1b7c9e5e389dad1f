"""The registrar's registered contacts in the store (table ``sip_bindings``).

The registrar keeps its bindings in memory. :class:`BindingKeeper` is told each change (a
REGISTER, a refresh, an un-REGISTER, an expiry, a closed browser connection) and writes
them here, coalesced per contact, one transaction per ``interval_s``. When the node starts
serving (at start, or when a standby takes the lease) it loads the live ones back: the
phones are reachable at once and their operators come back online, instead of waiting for
each phone's next REGISTER (up to an hour). Writes are fenced like the other live state: a
node that lost the lease cannot overwrite what the active node keeps.

Bindings over UDP and TCP are restored: a phone registered over TCP is reached over its
connection while it lasts, then at the address its Contact names (the engine opens a
connection of its own there). A contact registered over TLS or a WebSocket is reached only
over the connection it registered on, which a new process does not have; such phones and
browser desks register again when their connection drops (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Table, and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.clock import Clock, every
from parley.sip.errors import SipParseError
from parley.sip.headers import NameAddr
from parley.sip.registrar import Binding
from parley.store import models as m
from parley.store.lease import Fence

log = structlog.get_logger("parley.registrations")

_TABLE: Table = m.SipBinding.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class StoredBinding:
    """One registered contact, with wall-clock times (the registrar's own are monotonic)."""

    aor: str
    contact_key: str
    contact: str
    expires_at: datetime
    registered_at: datetime
    q: float = 1.0
    call_id: str = ""
    cseq: int = 0
    source_host: str | None = None
    source_port: int | None = None
    transport: str | None = None


class BindingRepository:
    """Registered contacts: replaced and removed in batches, read back live."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 fence: Fence | None = None) -> None:
        self._sessions = sessions
        self._fence = fence or Fence()

    async def apply(self, kept: Sequence[StoredBinding], gone: Sequence[tuple[str, str]], *,
                    expired_before: datetime | None = None) -> None:
        """In one transaction: store ``kept`` (each replacing the row of its contact), delete
        the ``gone`` (aor, contact key) pairs, and any row that lapsed before
        ``expired_before``."""
        keys = [(b.aor, b.contact_key) for b in kept] + list(gone)
        async with self._fence.transaction(self._sessions) as session:
            connection = await session.connection()
            for start in range(0, len(keys), 200):  # bounded statements on both databases
                chunk = keys[start:start + 200]
                await connection.execute(delete(_TABLE).where(or_(*(
                    and_(_TABLE.c.aor == aor, _TABLE.c.contact_key == key)
                    for aor, key in chunk))))
            if kept:
                await connection.execute(insert(_TABLE), [
                    {"aor": b.aor, "contact_key": b.contact_key, "contact": b.contact,
                     "expires_at": b.expires_at, "registered_at": b.registered_at, "q": b.q,
                     "call_id": b.call_id, "cseq": b.cseq, "source_host": b.source_host,
                     "source_port": b.source_port, "transport": b.transport}
                    for b in kept])
            if expired_before is not None:
                await connection.execute(delete(_TABLE).where(
                    _TABLE.c.expires_at < expired_before))

    async def live(self, now: datetime) -> list[StoredBinding]:
        """The contacts that have not lapsed by ``now``."""
        async with self._sessions() as session:
            rows = (await session.execute(select(_TABLE).where(
                _TABLE.c.expires_at > now).order_by(_TABLE.c.aor,
                                                    _TABLE.c.contact_key))).all()
        return [StoredBinding(r.aor, r.contact_key, r.contact, r.expires_at, r.registered_at,
                              r.q, r.call_id, r.cseq, r.source_host, r.source_port,
                              r.transport) for r in rows]


#: transports whose contacts a new process can reach without the phone's own connection
RESTORED_TRANSPORTS = frozenset({"udp", "tcp"})
#: rows lapsed this long are purged (a late restore never needs them)
_PURGE_AFTER = timedelta(minutes=5)


class BindingKeeper:
    """Copies the registrar's binding changes to the store (:meth:`changed`, the telephony
    engine's hook) and restores them when the node starts serving (``restore``: the engine's
    ``restore_bindings``)."""

    def __init__(self, repository: BindingRepository,
                 restore: Callable[[Sequence[Binding]], int], clock: Clock, *,
                 interval_s: float = 1.0) -> None:
        self._repository = repository
        self._restore = restore
        self._clock = clock
        self._interval_s = interval_s
        #: the latest change per (aor, contact key): the binding kept, or None (gone)
        self._pending: dict[tuple[str, str], Binding | None] = {}
        self._wake = asyncio.Event()

    def changed(self, kept: Sequence[Binding], gone: Sequence[Binding]) -> None:
        """The engine's hook (``SipEngine.bindings_changed``); static contacts are
        configuration, never kept here."""
        for binding in gone:
            if not binding.static:
                self._pending[(binding.aor, binding.key)] = None
        for binding in kept:
            if not binding.static:
                self._pending[(binding.aor, binding.key)] = binding

    async def restore(self) -> int:
        """Load the live bindings from the store into the engine; returns how many."""
        now_wall = self._clock.utcnow()
        now = self._clock.monotonic()
        bindings = []
        for stored in await self._repository.live(now_wall):
            if (stored.transport or "udp").lower() not in RESTORED_TRANSPORTS:
                continue
            try:
                contact = NameAddr.parse(stored.contact, "Contact")
            except SipParseError as exc:
                log.warning("registration_not_restored", user=stored.aor, error=str(exc))
                continue
            source = (None if stored.source_host is None or stored.source_port is None
                      else (stored.source_host, stored.source_port))
            bindings.append(Binding(
                stored.aor, contact,
                now + (stored.expires_at - now_wall).total_seconds(), stored.q,
                stored.call_id, stored.cseq,
                now - (now_wall - stored.registered_at).total_seconds(), source,
                stored.transport))
        return self._restore(bindings)

    async def run(self) -> None:
        """Restore, then write the changes every ``interval_s`` until cancelled; what is
        pending when cancelled is written before returning."""
        await self.restore()
        await every(self._clock, self._interval_s, self.flush)

    async def flush(self) -> None:
        """Write the pending changes in one transaction (kept for the next try on failure)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        now_wall = self._clock.utcnow()
        now = self._clock.monotonic()
        kept = [self._stored(b, now, now_wall) for b in pending.values() if b is not None]
        gone = [key for key, b in pending.items() if b is None]
        try:
            await self._repository.apply(kept, gone, expired_before=now_wall - _PURGE_AFTER)
        except Exception:
            for key, binding in pending.items():  # newer changes win over the failed ones
                self._pending.setdefault(key, binding)
            log.exception("registrations_not_stored", changes=len(pending))

    @staticmethod
    def _stored(binding: Binding, now: float, now_wall: datetime) -> StoredBinding:
        expires_at = binding.expires_at if binding.expires_at is not None else now
        source = binding.source
        return StoredBinding(
            binding.aor, binding.key, str(binding.contact),
            now_wall + timedelta(seconds=expires_at - now),
            now_wall - timedelta(seconds=max(0.0, now - binding.registered_at)),
            binding.q, binding.call_id, binding.cseq,
            None if source is None else str(source[0]),
            None if source is None else int(source[1]), binding.transport)
