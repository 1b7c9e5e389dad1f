"""Repositories for who may do what: logins, browser sessions, API tokens, the audit log,
the SIP device directory and the webhook delivery log."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from parley.store import models as m
from parley.store.credentials import Passwords, new_token, token_hash
from parley.store.database import NotFound
from parley.store.lease import Fence
from parley.store.records import (
    AuditRecord,
    DeliveryRecord,
    LoginUser,
    Page,
    PendingDelivery,
    Principal,
    SessionRecord,
    SipCredentials,
    TokenRecord,
)


def _principal(user: m.User) -> Principal:
    return Principal(user.id, user.username, tuple(user.roles), user.display_name)


class AccountRepository:
    """Users as login principals, browser sessions and bearer tokens."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], passwords: Passwords) -> None:
        self._sessions = sessions
        self.passwords = passwords

    async def login_user(self, username: str) -> LoginUser | None:
        async with self._sessions() as session:
            user = await session.scalar(select(m.User).where(m.User.username == username))
            if user is None:
                return None
            return LoginUser(user.id, user.username, tuple(user.roles), user.password_hash,
                             user.active, user.display_name, user.directory)

    async def set_password(self, username: str, password: str) -> None:
        password_hash = await self.passwords.hash(password)
        async with self._sessions() as session, session.begin():
            user = await session.scalar(select(m.User).where(m.User.username == username))
            if user is None:
                raise NotFound(f"no user named {username!r}")
            user.password_hash = password_hash

    async def create_session(self, user_id: int, now: datetime,
                             lifetime: timedelta) -> tuple[str, str]:
        """A new browser session: returns (cookie token, CSRF token)."""
        token = new_token("ps")
        csrf = secrets.token_urlsafe(32)
        async with self._sessions() as session, session.begin():
            await session.execute(delete(m.WebSession).where(m.WebSession.expires_at <= now))
            session.add(m.WebSession(token_hash=token_hash(token), user_id=user_id,
                                     csrf_token=csrf, created_at=now,
                                     expires_at=now + lifetime))
        return token, csrf

    async def session(self, token: str, now: datetime) -> SessionRecord | None:
        async with self._sessions() as session:
            row = await session.scalar(select(m.WebSession).where(
                m.WebSession.token_hash == token_hash(token)))
            if row is None or row.expires_at <= now:
                return None
            user = await session.get(m.User, row.user_id)
            if user is None or not user.active:
                return None
            return SessionRecord(_principal(user), row.csrf_token, row.expires_at)

    async def end_session(self, token: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(delete(m.WebSession).where(
                m.WebSession.token_hash == token_hash(token)))

    async def create_token(self, username: str, name: str, now: datetime) -> tuple[str, int]:
        """A new bearer token for ``username``; the token itself is returned only here."""
        token = new_token("pk")
        async with self._sessions() as session, session.begin():
            user = await session.scalar(select(m.User).where(m.User.username == username))
            if user is None:
                raise NotFound(f"username: no user named {username!r}")
            row = m.ApiToken(name=name, user_id=user.id, token_hash=token_hash(token),
                             created_at=now, last_used_at=None, revoked=False)
            session.add(row)
            await session.flush()
            return token, row.id

    async def token_principal(self, token: str, now: datetime) -> Principal | None:
        async with self._sessions() as session, session.begin():
            row = await session.scalar(select(m.ApiToken).where(
                m.ApiToken.token_hash == token_hash(token)))
            if row is None or row.revoked:
                return None
            user = await session.get(m.User, row.user_id)
            if user is None or not user.active:
                return None
            if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
                row.last_used_at = now
            return _principal(user)

    async def tokens(self) -> list[TokenRecord]:
        async with self._sessions() as session:
            rows = (await session.execute(select(m.ApiToken, m.User.username).join(
                m.User, m.User.id == m.ApiToken.user_id).order_by(m.ApiToken.id))).all()
            return [TokenRecord(t.id, t.name, username, t.created_at, t.last_used_at,
                                t.revoked) for t, username in rows]

    async def revoke_token(self, token_id: int) -> None:
        async with self._sessions() as session, session.begin():
            row = await session.get(m.ApiToken, token_id)
            if row is None:
                raise NotFound(f"no API token {token_id}")
            row.revoked = True


class AuditRepository:
    """Who did what, when: every admin change and every access to a recording."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(self, at: datetime, actor: str, action: str, target_type: str,
                     target: str, detail: dict[str, Any] | None = None) -> None:
        async with self._sessions() as session, session.begin():
            session.add(m.AuditEntry(at=at, actor=actor, action=action,
                                     target_type=target_type, target=target[:200],
                                     detail=detail or {}))

    async def list(self, *, action: str | None = None, target_type: str | None = None,
                   offset: int = 0, limit: int = 100) -> Page[AuditRecord]:
        query = select(m.AuditEntry)
        if action:
            query = query.where(m.AuditEntry.action == action)
        if target_type:
            query = query.where(m.AuditEntry.target_type == target_type)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = (await session.scalars(query.order_by(m.AuditEntry.id.desc())
                                          .offset(offset).limit(limit))).all()
            return Page(tuple(AuditRecord(r.at, r.actor, r.action, r.target_type, r.target,
                                          dict(r.detail)) for r in rows),
                        int(total or 0), offset, limit)


class DirectoryRepository:
    """The SIP user directory the registrar consults to challenge and locate devices."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def sip_credentials(self, username: str) -> SipCredentials | None:
        """HA1 digests (MD5 and SHA-256) and static contact of device ``username``."""
        found = await self._load(m.Device.name == username)
        return found[0] if found else None

    async def devices(self) -> list[SipCredentials]:
        """Every device, by name: what a SIP registrar loads into its in-memory directory."""
        return await self._load()

    async def static_contacts(self) -> list[SipCredentials]:
        """Every device with a static contact (reachable without registering)."""
        return await self._load(m.Device.static_contact.is_not(None))

    async def devices_of(self, username: str) -> list[str]:
        """The device names (SIP usernames) belonging to user ``username``."""
        async with self._sessions() as session:
            return list((await session.scalars(select(m.Device.name).join(
                m.User, m.User.id == m.Device.user_id).where(m.User.username == username)
                .order_by(m.Device.name))).all())

    async def _load(self, *where: ColumnElement[bool]) -> list[SipCredentials]:
        """The devices matching ``where``, by name, each with its user's name, in one query
        (one look-up per device cost ~2 s at 1,400 devices, at every configuration change)."""
        query = (select(m.Device.name, m.Device.realm, m.Device.ha1_md5, m.Device.ha1_sha256,
                        m.Device.static_contact, m.User.username)
                 .outerjoin(m.User, m.User.id == m.Device.user_id)
                 .where(*where).order_by(m.Device.name))
        async with self._sessions() as session:
            return [SipCredentials(*row) for row in (await session.execute(query)).all()]


class DeliveryRepository:
    """The webhook delivery log (one row per attempt) and the outbox of unfinished
    deliveries. Every write checks the node's ``fence``: an attempt is counted before it is
    sent, so a node that lost its lease sends nothing the new active node will send too."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 fence: Fence | None = None) -> None:
        self._sessions = sessions
        self._fence = fence or Fence()

    async def record(self, record: DeliveryRecord) -> None:
        async with self._fence.transaction(self._sessions) as session:
            session.add(m.WebhookDelivery(
                webhook=record.webhook, event_id=record.event_id, event_type=record.event_type,
                attempt=record.attempt, at=record.at, status_code=record.status_code,
                error=record.error[:500], delivered=record.delivered,
                duration_ms=record.duration_ms))

    async def log(self, webhook: str | None = None, limit: int = 100) -> list[DeliveryRecord]:
        query = select(m.WebhookDelivery).order_by(m.WebhookDelivery.id.desc()).limit(limit)
        if webhook:
            query = query.where(m.WebhookDelivery.webhook == webhook)
        async with self._sessions() as session:
            return [DeliveryRecord(r.webhook, r.event_id, r.event_type, r.attempt, r.at,
                                   r.status_code, r.error, r.delivered, r.duration_ms)
                    for r in (await session.scalars(query)).all()]

    async def enqueue(self, webhook: str, event_id: str, event_type: str, body: str,
                      at: datetime) -> int:
        """Keep a delivery in the outbox until :meth:`finish`; returns its id."""
        async with self._fence.transaction(self._sessions) as session:
            row = m.WebhookOutbox(webhook=webhook, event_id=event_id, event_type=event_type,
                                  body=body, attempts=0, next_attempt_at=at)
            session.add(row)
            await session.flush()
            return row.id

    async def retry_later(self, outbox_id: int, attempts: int, at: datetime) -> None:
        async with self._fence.transaction(self._sessions) as session:
            row = await session.get(m.WebhookOutbox, outbox_id)
            if row is not None:
                row.attempts = attempts
                row.next_attempt_at = at

    async def finish(self, outbox_id: int) -> None:
        """The delivery succeeded or was given up: drop it from the outbox."""
        async with self._fence.transaction(self._sessions) as session:
            await session.execute(delete(m.WebhookOutbox).where(m.WebhookOutbox.id == outbox_id))

    async def pending(self) -> list[PendingDelivery]:
        """Unfinished deliveries, soonest first (resumed at start)."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(m.WebhookOutbox).order_by(
                m.WebhookOutbox.next_attempt_at, m.WebhookOutbox.id))).all()
            return [PendingDelivery(r.id, r.webhook, r.event_id, r.event_type, r.body,
                                    r.attempts, r.next_attempt_at) for r in rows]
