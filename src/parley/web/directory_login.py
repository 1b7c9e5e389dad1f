"""Sign-in through the directory (LDAP, Active Directory) at ``/login`` and
``/api/auth/login``, through :func:`parley.web.operations.start_session`.

A name that is no local account, or one marked as a directory user, is checked by the
directory: a bind as that user. On success the user's roles and teams are set from the mapped
directory groups at that moment (created or updated locally, with no password kept). A wrong
password is refused like a local one and counted by the same sign-in throttling; a user in no
mapped group, and a directory that cannot be reached, are refused with their own clear
message, and local accounts keep signing in either way.
"""

from __future__ import annotations

import structlog
from fastapi import HTTPException, status

from parley.directory import DirectoryError
from parley.events import ConfigurationChanged
from parley.store.directory_users import sync_directory_user
from parley.store.records import LoginUser
from parley.web.auth import WebContext

log = structlog.get_logger("parley.web.directory")

UNREACHABLE = ("The directory cannot be reached, so directory accounts cannot sign in now. "
               "Local accounts still can; try again later or tell an admin.")
NO_GROUP = ("Your directory account is in no group that gives access to Parley: ask an "
            "admin to add you to one.")


class DirectoryRefusal(HTTPException):
    """A directory sign-in refused for a reason of its own (no mapped group, directory
    down): ``message`` is the catalog text the sign-in page shows."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(status_code, message)
        self.message = message


def uses_directory(ctx: WebContext, user: LoginUser | None) -> bool:
    """Whether this sign-in goes to the directory: one is configured and the name is no
    local account (or is a directory user's)."""
    return ctx.directory is not None and (user is None or user.directory)


async def directory_sign_in(ctx: WebContext, username: str, password: str, address: str,
                            local: LoginUser | None) -> LoginUser:
    """Check ``username`` and ``password`` with the directory and bring the local user up to
    date from its groups. Raises 401 (wrong name or password, counted by the limiter), 403
    (no mapped group) or 503 (directory unreachable)."""
    directory = ctx.directory
    assert directory is not None  # noqa: S101 - uses_directory() said so
    try:
        account = await directory.authenticate(username, password)
    except DirectoryError as exc:
        log.warning("directory_unreachable", username=username, reason=str(exc))
        await ctx.store.audit.record(ctx.clock.utcnow(), username, "login_directory_failed",
                                     "session", username, {"address": address,
                                                           "reason": str(exc)[:500]})
        raise DirectoryRefusal(status.HTTP_503_SERVICE_UNAVAILABLE, UNREACHABLE) from exc
    if account is None or (local is not None and not local.active):
        ctx.limiter.failed(username, address)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    if not account.roles:
        log.info("directory_user_in_no_group", username=username, groups=account.groups)
        await ctx.store.audit.record(ctx.clock.utcnow(), account.username, "login_refused",
                                     "session", account.username,
                                     {"address": address, "reason": "no mapped group",
                                      "groups": list(account.groups)[:50]})
        raise DirectoryRefusal(status.HTTP_403_FORBIDDEN, NO_GROUP)
    if account.username != username:  # the directory's spelling of the name
        other = await ctx.store.accounts.login_user(account.username)
        if other is not None and not other.directory:
            ctx.limiter.failed(username, address)  # never take over a local account
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
        if other is not None and not other.active:
            ctx.limiter.failed(username, address)
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    changed = await sync_directory_user(ctx.store, account.username, account.display_name,
                                        account.roles, account.teams)
    if changed:
        await ctx.store.audit.record(ctx.clock.utcnow(), "directory", "user_from_directory",
                                     "users", account.username,
                                     {"roles": list(account.roles),
                                      "teams": list(account.teams), "dn": account.dn})
        ctx.bus.publish(ConfigurationChanged("users", account.username, "updated"))
    user = await ctx.store.accounts.login_user(account.username)
    assert user is not None  # noqa: S101 - just stored
    return user
