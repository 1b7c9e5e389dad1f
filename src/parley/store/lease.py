"""The active/standby lease in PostgreSQL, and the fence that makes a node's live-state
writes conditional on still holding it (docs/deployment.md, "Hot standby").

One row of ``ha_lease`` per cluster. Every decision about time is the database's (``now()``),
never a node's clock, and each acquisition or renewal is one ``UPDATE … WHERE`` on that row:
PostgreSQL locks the row and evaluates the condition again on the newest version, so two
nodes can never both win. An acquisition raises the fencing token.

:class:`LeaseConnection` talks to PostgreSQL over one asyncpg connection of its own (not the
store's pool, which the recorders may keep busy): a statement that does not answer in time is
abandoned by closing the socket (:meth:`LeaseConnection.terminate`), which never waits on the
network, so a node cut off from the database knows it within its deadline.

:class:`Fence` is checked inside the store's own write transactions
(:meth:`Fence.check`): ``SELECT … FOR KEY SHARE`` of the lease row with the writer's
token. A node whose token is no longer the row's is refused (:class:`Fenced`) and its
transaction rolls back; a write in flight holds the row, so an acquisition (which locks it
``FOR UPDATE``) waits for it to commit and every write accepted from the old holder
comes before the new token. The holder's renewals do not wait for its writes: after a
takeover the new node writes a backlog in long transactions, and its lease must not lapse
behind them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from parley.store.database import StoreError


class Fenced(StoreError):
    """A write of live state from a node that does not hold the lease (any more)."""


@dataclass(frozen=True, slots=True)
class LeaseView:
    """The lease row as the database saw it at ``now`` (its own clock)."""

    cluster: str
    holder: str
    token: int
    acquired_at: datetime | None
    renewed_at: datetime | None
    expires_at: datetime
    previous_holder: str | None
    previous_renewed_at: datetime | None
    now: datetime

    @property
    def held(self) -> bool:
        """Whether someone holds it now (it has not lapsed)."""
        return bool(self.holder) and self.expires_at > self.now

    @property
    def age_s(self) -> float | None:
        """Seconds since its holder last renewed it."""
        if self.renewed_at is None:
            return None
        return max(0.0, (self.now - self.renewed_at).total_seconds())


_ENSURE = ("INSERT INTO ha_lease (cluster, holder, token, expires_at) "
           "VALUES ($1, '', 0, to_timestamp(0)) ON CONFLICT (cluster) DO NOTHING")

# FOR UPDATE first: it waits for the writes in flight under the old token (their fence holds
# the row FOR KEY SHARE), which a plain UPDATE of these columns would not
_ACQUIRE = (
    "WITH held AS (SELECT cluster FROM ha_lease WHERE cluster = $1 FOR UPDATE) "
    "UPDATE ha_lease SET holder = $2, token = token + 1, acquired_at = now(), "
    "renewed_at = now(), expires_at = now() + make_interval(secs => $3), "
    "previous_holder = NULLIF(holder, ''), previous_renewed_at = renewed_at FROM held "
    "WHERE ha_lease.cluster = held.cluster AND expires_at <= now() RETURNING "
    "ha_lease.cluster, holder, token, acquired_at, renewed_at, expires_at, previous_holder, "
    "previous_renewed_at, now() AS now")

_RENEW = (
    "UPDATE ha_lease SET renewed_at = now(), expires_at = now() + make_interval(secs => $4) "
    "WHERE cluster = $1 AND holder = $2 AND token = $3 AND expires_at > now() "
    "RETURNING cluster, holder, token, acquired_at, renewed_at, expires_at, previous_holder, "
    "previous_renewed_at, now() AS now")

_RELEASE = ("UPDATE ha_lease SET expires_at = now() "
            "WHERE cluster = $1 AND holder = $2 AND token = $3 AND expires_at > now()")

_READ = ("SELECT cluster, holder, token, acquired_at, renewed_at, expires_at, previous_holder, "
         "previous_renewed_at, now() AS now FROM ha_lease WHERE cluster = $1")


_CHECK_IN = ("INSERT INTO ha_nodes (cluster, node, seen_at) VALUES ($1, $2, now()) "
             "ON CONFLICT (cluster, node) DO UPDATE SET seen_at = now()")

_STANDBYS = ("SELECT node, EXTRACT(EPOCH FROM now() - seen_at) AS age_s FROM ha_nodes "
             "WHERE cluster = $1 AND node <> $2 ORDER BY seen_at DESC")


def _view(row: Any) -> LeaseView:
    return LeaseView(cluster=row["cluster"], holder=row["holder"], token=int(row["token"]),
                     acquired_at=row["acquired_at"], renewed_at=row["renewed_at"],
                     expires_at=row["expires_at"], previous_holder=row["previous_holder"],
                     previous_renewed_at=row["previous_renewed_at"], now=row["now"])


def plain_postgres_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (``postgresql+asyncpg://``) as asyncpg takes it."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


class LeaseConnection:
    """The lease statements over one asyncpg connection, opened on first use and again after
    :meth:`terminate`. Each call is one statement in its own transaction; callers bound
    them in time (``asyncio.timeout``) and call :meth:`terminate` when one overran."""

    def __init__(self, url: str, cluster: str) -> None:
        self.url = plain_postgres_url(url)
        self.cluster = cluster
        self._connection: Any = None

    async def _open(self) -> Any:
        import asyncpg  # type: ignore[import-untyped]

        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(self.url)
            await self._connection.execute(_ENSURE, self.cluster)
        return self._connection

    async def connect(self) -> None:
        """Open the connection now (and make the cluster's row if it is missing)."""
        await self._open()

    async def acquire(self, node: str, lapse_s: float) -> LeaseView | None:
        """Take the lease for ``node`` if it has lapsed (a new, higher token); None when it
        is held."""
        connection = await self._open()
        row = await connection.fetchrow(_ACQUIRE, self.cluster, node, lapse_s)
        return None if row is None else _view(row)

    async def renew(self, node: str, token: int, lapse_s: float) -> LeaseView | None:
        """Push the lapse ``lapse_s`` past the database's now; None when ``node`` with
        ``token`` no longer holds it (it lapsed, or another node took it)."""
        connection = await self._open()
        row = await connection.fetchrow(_RENEW, self.cluster, node, token, lapse_s)
        return None if row is None else _view(row)

    async def release(self, node: str, token: int) -> None:
        """Let the lease lapse now (an orderly stop: the standby need not wait)."""
        connection = await self._open()
        await connection.execute(_RELEASE, self.cluster, node, token)

    async def check_in(self, node: str) -> None:
        """``node`` stands by (a row of its own: the lease row is left to the holder)."""
        connection = await self._open()
        await connection.execute(_CHECK_IN, self.cluster, node)

    async def standbys(self, node: str) -> list[tuple[str, float]]:
        """The other nodes that checked in as the standby: (name, seconds since), the most
        recent first. Asked on a connection of its own: the lease's is the keeper loop's."""
        import asyncpg

        connection = await asyncpg.connect(self.url)
        try:
            rows = await connection.fetch(_STANDBYS, self.cluster, node)
        finally:
            await connection.close()
        return [(str(row["node"]), float(row["age_s"])) for row in rows]

    async def read(self) -> LeaseView | None:
        connection = await self._open()
        row = await connection.fetchrow(_READ, self.cluster)
        return None if row is None else _view(row)

    def terminate(self) -> None:
        """Drop the connection at once, without a word to the server (it may be
        unreachable); the next call opens a new one."""
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()
        self._connection = None


@dataclass
class Fence:
    """The writer's side of the lease: the cluster, this node and the token it holds (None:
    it holds none). A store without a fence (``cluster`` None: a single node) writes
    freely."""

    cluster: str | None = None
    node: str = ""
    token: int | None = None

    @property
    def enabled(self) -> bool:
        return self.cluster is not None

    async def check(self, connection: AsyncConnection) -> None:
        """Inside the writer's transaction: go on only while this node's token is the lease
        row's (the row stays locked against an acquisition until the transaction ends, not
        against its holder's renewals: a long write must not cost the lease); else
        :class:`Fenced`, and the transaction rolls back."""
        if self.cluster is None:
            return
        token = self.token
        if token is None:
            raise Fenced(f"node {self.node!r} is the standby of cluster {self.cluster!r}: "
                         "it writes no live state")
        held = await connection.scalar(text(
            "SELECT token FROM ha_lease WHERE cluster = :cluster AND holder = :node "
            "AND token = :token FOR KEY SHARE"),
            {"cluster": self.cluster, "node": self.node, "token": token})
        if held is None:
            raise Fenced(f"node {self.node!r} lost the lease of cluster {self.cluster!r} "
                         f"(its fencing token {token} is stale): write refused")

    @asynccontextmanager
    async def transaction(self, sessions: async_sessionmaker[AsyncSession]
                          ) -> AsyncIterator[AsyncSession]:
        """A session in a transaction of its own, :meth:`check`-ed before anything is
        written (the repositories' writes of live state)."""
        async with sessions() as session, session.begin():
            await self.check(await session.connection())
            yield session
