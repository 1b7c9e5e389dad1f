"""Users who sign in through the directory (LDAP): their local record is created or updated
from the directory at each sign-in, and holds no password."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from parley.store import Store
from parley.store import models as m
from parley.store.specs import TeamSpec, UserSpec


async def directory_usernames(store: Store) -> set[str]:
    """The users who sign in through the directory (their roles and teams are its groups')."""
    async with store.sessions() as session:
        return set((await session.scalars(
            select(m.User.username).where(m.User.directory.is_(True)))).all())


async def sync_directory_user(store: Store, username: str, display_name: str,
                              roles: tuple[str, ...], teams: tuple[str, ...]) -> bool:
    """Create or update ``username`` as a directory user with exactly ``roles`` and
    ``teams`` (teams that do not exist yet are created); what the directory does not say
    (extension, skills, language, outside line) is kept. Returns whether anything changed.
    """
    async with store.config.transaction() as config:
        changed = False
        for team in teams:
            if await config.get("teams", team) is None:
                await config.put("teams", TeamSpec(name=team,
                                                   description="from the directory"))
                changed = True
        existing = await config.get("users", username)
        values: dict[str, Any] = existing.model_dump(exclude={"password", "password_hash"}) \
            if isinstance(existing, UserSpec) else {"username": username}
        values.update(display_name=display_name or values.get("display_name", ""),
                      roles=list(roles), teams=list(teams), active=True)
        changed = await config.put("users", UserSpec.model_validate(values)) or changed
        row = await config.session.scalar(select(m.User).where(m.User.username == username))
        assert row is not None  # noqa: S101 - put above
        if not row.directory or row.password_hash is not None:
            row.directory = True
            row.password_hash = None  # a directory user's password is the directory's
            changed = True
    return changed

