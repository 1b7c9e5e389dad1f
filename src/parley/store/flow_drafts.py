"""A flow's versions as the web editor sees them: one draft, the live one, the earlier ones.

Every saved definition of a flow is a ``flow_versions`` row; ``flows.current_version`` names
the live one (0: a flow only drafted so far, which no number runs). The draft is the newest
version when it is newer than the live one; saving the draft again rewrites that row, so the
history holds what went live, not every keystroke. Going live points ``current_version`` at
a version (after the caller validated it); rolling back points it at the version before the
live one, and the version left becomes the draft again, to be fixed and sent live later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.clock import Clock
from parley.store import models as m
from parley.store.database import NotFound, Refused

VersionStatus = Literal["draft", "live", "previous", "older"]


@dataclass(frozen=True, slots=True)
class FlowVersionRecord:
    """One saved definition of a flow and what it is now."""

    version: int
    status: VersionStatus
    definition: dict[str, Any]
    saved_at: datetime


@dataclass(frozen=True, slots=True)
class FlowHistory:
    """A flow's name, description and versions, newest first."""

    name: str
    description: str
    live: int  # 0: never live
    versions: tuple[FlowVersionRecord, ...]

    def find(self, status: VersionStatus) -> FlowVersionRecord | None:
        return next((version for version in self.versions if version.status == status), None)


def _status(version: int, live: int, newest: int) -> VersionStatus:
    if version == live:
        return "live"
    if version > live:
        return "draft" if version == newest else "older"
    return "previous" if version == live - 1 else "older"  # versions run 1, 2, 3 …


class FlowDrafts:
    """Drafts, going live and rolling back; each call is its own transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def history(self, name: str) -> FlowHistory:
        """The flow's versions, newest first (NotFound when there is no such flow)."""
        async with self._sessions() as session:
            return await self._history(session, name)

    async def _history(self, session: AsyncSession, name: str) -> FlowHistory:
        row = await session.scalar(select(m.Flow).where(m.Flow.name == name))
        if row is None:
            raise NotFound(f"no flow named {name!r}")
        rows = (await session.scalars(select(m.FlowVersion).where(
            m.FlowVersion.flow_id == row.id).order_by(m.FlowVersion.version.desc()))).all()
        newest = rows[0].version if rows else 0
        return FlowHistory(row.name, row.description, row.current_version, tuple(
            FlowVersionRecord(v.version, _status(v.version, row.current_version, newest),
                              dict(v.definition), v.created_at) for v in rows))

    async def save_draft(self, name: str, description: str, definition: dict[str, Any]
                         ) -> tuple[int, bool]:
        """Keep ``definition`` as the flow's draft (creating the flow, not live, if it is new);
        the draft's version and whether anything changed. The live version is untouched."""
        async with self._sessions() as session, session.begin():
            row = await session.scalar(select(m.Flow).where(m.Flow.name == name))
            if row is None:
                row = m.Flow(name=name, description=description, current_version=0)
                session.add(row)
                await session.flush()
            changed = row.description != description
            row.description = description
            newest = await session.scalar(select(m.FlowVersion).where(
                m.FlowVersion.flow_id == row.id).order_by(m.FlowVersion.version.desc())
                .limit(1))
            if newest is not None and newest.version > row.current_version:
                if newest.definition != definition:
                    newest.definition = definition
                    newest.created_at = self._clock.utcnow()
                    changed = True
                return newest.version, changed
            if newest is not None and newest.version == row.current_version \
                    and newest.definition == definition:
                return newest.version, changed  # the same as live: nothing to draft
            version = (newest.version if newest is not None else 0) + 1
            session.add(m.FlowVersion(flow_id=row.id, version=version, definition=definition,
                                      created_at=self._clock.utcnow()))
            return version, True

    async def make_live(self, name: str, version: int) -> FlowHistory:
        """Point the flow at ``version`` (which the caller validated)."""
        async with self._sessions() as session, session.begin():
            row = await session.scalar(select(m.Flow).where(m.Flow.name == name))
            if row is None:
                raise NotFound(f"no flow named {name!r}")
            exists = await session.scalar(select(m.FlowVersion.id).where(
                m.FlowVersion.flow_id == row.id, m.FlowVersion.version == version))
            if exists is None:
                raise NotFound(f"version: flow {name!r} has no version {version}")
            row.current_version = version
            await session.flush()
            return await self._history(session, name)

    async def previous(self, name: str) -> FlowVersionRecord:
        """The version a rollback makes live (Refused when there is none)."""
        history = await self.history(name)
        found = history.find("previous")
        if found is None:
            raise Refused(f"flow {name!r} has no earlier version to go back to")
        return found
