"""The active/standby lease in PostgreSQL, and the fence that makes a node's live-state
writes conditional on still holding it (docs/deployment.md, "Hot standby").

One row of ``ha_lease`` per cluster; each acquisition or renewal is one ``UPDATE … WHERE`` on
that row: PostgreSQL locks the row and evaluates the condition again on the newest version,
so two nodes can never both win. An acquisition raises the fencing token. No wall clock
decides when a lease has lapsed, neither the nodes' nor the database's (a clock stepped
forward, by NTP or after a virtual machine's pause, would hand the lease over while its
holder still serves): the standby times it on its own monotonic clock. It takes the lease
only once the version it saw (the token and the holder's last renewal) has stood unchanged
for a whole lapse, naming that version in its ``UPDATE``, which the database grants only
while it is still the row's. A lease never held, or let go by its holder (an orderly stop
sets its lapse back to its last renewal), is free at once.

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
    def released(self) -> bool:
        """Whether its holder let it go (its lapse set back to its last renewal)."""
        return self.renewed_at is not None and self.expires_at <= self.renewed_at

    @property
    def held(self) -> bool:
        """Whether a node holds it (it was taken and not let go); whether that node still
        renews it, only a watch over time can tell (:class:`parley.ha.LeaseKeeper`)."""
        return bool(self.holder) and not self.released

    @property
    def age_s(self) -> float | None:
        """Seconds since its holder last renewed it."""
        if self.renewed_at is None:
            return None
        return max(0.0, (self.now - self.renewed_at).total_seconds())


_ENSURE = ("INSERT INTO ha_lease (cluster, holder, token, expires_at) "
           "VALUES ($1, '', 0, to_timestamp(0)) ON CONFLICT (cluster) DO NOTHING")

# FOR UPDATE first: it waits for the writes in flight under the old token (their fence holds
# the row FOR KEY SHARE), which a plain UPDATE of these columns would not. Free: never held,
# let go, or still at the version ($4, $5) the standby saw stand for a lapse (NULLs: none)
_ACQUIRE = (
    "WITH held AS (SELECT cluster FROM ha_lease WHERE cluster = $1 FOR UPDATE) "
    "UPDATE ha_lease SET holder = $2, token = token + 1, acquired_at = now(), "
    "renewed_at = now(), expires_at = now() + make_interval(secs => $3), "
    "previous_holder = NULLIF(holder, ''), previous_renewed_at = renewed_at FROM held "
    "WHERE ha_lease.cluster = held.cluster AND (holder = '' OR expires_at <= renewed_at "
    "OR (token = $4 AND renewed_at = $5)) RETURNING "
    "ha_lease.cluster, holder, token, acquired_at, renewed_at, expires_at, previous_holder, "
    "previous_renewed_at, now() AS now")

_RENEW = (
    "UPDATE ha_lease SET renewed_at = now(), expires_at = now() + make_interval(secs => $4) "
    "WHERE cluster = $1 AND holder = $2 AND token = $3 AND expires_at > renewed_at "
    "RETURNING cluster, holder, token, acquired_at, renewed_at, expires_at, previous_holder, "
    "previous_renewed_at, now() AS now")

_RELEASE = ("UPDATE ha_lease SET expires_at = renewed_at "
            "WHERE cluster = $1 AND holder = $2 AND token = $3")

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

    async def acquire(self, node: str, lapse_s: float,
                      lapsed: tuple[int, datetime] | None = None) -> LeaseView | None:
        """Take the lease for ``node`` (a new, higher token) if it is free: never held, let
        go, or still at ``lapsed``, the version (token, last renewal) that the caller saw
        stand unchanged for a whole lapse; None when it is held."""
        token, renewed_at = lapsed if lapsed is not None else (None, None)
        connection = await self._open()
        row = await connection.fetchrow(_ACQUIRE, self.cluster, node, lapse_s, token,
                                        renewed_at)
        return None if row is None else _view(row)

    async def renew(self, node: str, token: int, lapse_s: float) -> LeaseView | None:
        """A new version of the lease (its last renewal now, its lapse ``lapse_s`` past
        it); None when ``node`` with ``token`` no longer holds it (another node took it, or
        it was let go)."""
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
