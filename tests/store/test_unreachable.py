"""Which database errors mean "away, try again" (the records wait in the journal) and which
mean "this row cannot be written" (skipped, the rest written): an outage must never be
taken for a bad row."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from parley.store.database import unreachable


class ConnectionDoesNotExistError(Exception):
    """Named as asyncpg names the error of a connection closed under a statement."""


def wrapped(cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise RuntimeError("while writing") from inner
    except RuntimeError as outer:
        return outer


def test_an_outage_is_unreachable_and_a_bad_row_is_not() -> None:
    assert unreachable(OperationalError("SELECT 1", {}, Exception("database is locked")))
    assert unreachable(InterfaceError("SELECT 1", {}, Exception("connection is closed"),
                                      connection_invalidated=True))
    assert unreachable(ConnectionRefusedError(111, "Connect call failed"))
    assert unreachable(wrapped(ConnectionRefusedError(111, "Connect call failed")))
    assert unreachable(TimeoutError())
    assert unreachable(DBAPIError("INSERT", {}, ConnectionDoesNotExistError(
        "connection was closed in the middle of operation")))
    assert unreachable(DBAPIError("INSERT", {}, Exception("gone"),
                                  connection_invalidated=True))
    assert not unreachable(IntegrityError("INSERT", {}, Exception("violates foreign key")))
    assert not unreachable(ValueError("not a date"))
    assert not unreachable(DBAPIError("INSERT", {}, Exception("bad value")))
    assert not unreachable(InterfaceError("INSERT", {}, Exception(
        "another operation is in progress")))  # a misuse: it would fail again for ever
