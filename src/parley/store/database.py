"""Engine creation and schema migrations for SQLite (default, WAL mode) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from parley.errors import ParleyError

MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(ParleyError):
    """The store cannot do what was asked; the message says which record or field."""


class NotFound(StoreError):
    """The named record does not exist."""


class Conflict(StoreError):
    """The change would break a rule of the stored data (a duplicate, a record in use)."""


class Refused(StoreError):
    """A record of a kind Parley stores but does not use yet; the message says why."""


#: asyncpg's errors that say the server cannot be reached or used for writes right now
#: (starting up, shutting down, in recovery, or no listed host takes writes)
_UNREACHABLE_NAMES = frozenset({
    "ConnectionDoesNotExistError", "CannotConnectNowError", "ConnectionFailureError",
    "ClientCannotConnectError", "TargetServerAttributeNotMatched", "AdminShutdownError",
    "CrashShutdownError", "ReadOnlySQLTransactionError", "ConnectionRejectionError",
    "TooManyConnectionsError"})


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the database could not be reached, or its
    connection broke: a server down, restarting or failing over to its standby, or SQLite's
    lock. Worth trying again later, and never a reason to drop what was being written.
    A misuse of a connection (an interface error that did not invalidate it) is not: tried
    again it would fail again, for ever."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationalError | OSError | TimeoutError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if type(current).__name__ in _UNREACHABLE_NAMES:
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


SQLITE_FILE = "parley.sqlite3"
"""The store's file in the data folder when no database URL is given."""


def database_url(url: str | None, data_dir: Path) -> str:
    """The SQLAlchemy URL to use: the given one, or a SQLite file in the data folder.

    ``postgresql://`` and ``sqlite://`` URLs are given their async drivers.
    """
    if not url:
        data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{data_dir / SQLITE_FILE}"
    for plain, async_driver in (("postgresql://", "postgresql+asyncpg://"),
                                ("postgres://", "postgresql+asyncpg://"),
                                ("sqlite://", "sqlite+aiosqlite://")):
        if url.startswith(plain):
            return async_driver + url[len(plain):]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_engine(url: str, *, idle_in_transaction_s: float | None = None) -> AsyncEngine:
    """An async engine; SQLite connections get WAL mode, enforced foreign keys and a 30 s
    wait for the write lock. (A transaction that read before it writes can still be refused
    at once when another connection wrote in between: WAL cannot upgrade a stale snapshot;
    the recorders try such writes again.)

    ``idle_in_transaction_s`` (PostgreSQL): the server ends a session of this engine that
    leaves a transaction open and silent that long. A hot-standby node sets it: a node cut
    off from the network mid-transaction cannot roll back, and its locks (a fenced write
    shares the lease row) would otherwise block the new active node's renewals until TCP
    gives up, hours later."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, object] = {}
    if idle_in_transaction_s is not None:
        connect_args["server_settings"] = {
            "idle_in_transaction_session_timeout": str(max(1, round(idle_in_transaction_s
                                                                   * 1000)))}
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                               connect_args=connect_args)


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (every migration shipped with Parley by default)."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(_alembic_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)
