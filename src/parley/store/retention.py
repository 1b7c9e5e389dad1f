"""How long call recordings are kept, and the sweep that deletes the expired ones.

A site-wide number of days applies to every recording; a queue may have its own (longer or
shorter) for its calls. No policy: recordings are kept for ever. The sweep deletes an expired
recording's file, keeps its record marked ``deleted_at`` (the call's history still says a
recording existed), and writes one audit row per recording (actor ``retention``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.clock import Clock
from parley.store import Store
from parley.store import models as m

log = structlog.get_logger("parley.store.retention")

SITE = ""
"""The scope of the site-wide policy."""
ACTOR = "retention"
MAX_KEEP_DAYS = 36_500


def queue_scope(queue: str) -> str:
    return f"queue:{queue}"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Keep recordings of ``scope`` ("" for the site, ``queue:<name>``) ``keep_days`` days."""

    scope: str
    keep_days: int
    updated_at: datetime
    updated_by: str

    @property
    def queue(self) -> str | None:
        return self.scope.removeprefix("queue:") if self.scope.startswith("queue:") else None


@dataclass(frozen=True, slots=True)
class ExpiredRecording:
    id: str
    path: str
    started_at: datetime
    scope: str
    keep_days: int


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one sweep did: files deleted, records whose file was already gone, and files
    that could not be deleted (kept for the next sweep)."""

    deleted: int = 0
    already_gone: int = 0
    failed: int = 0


class RetentionRepository:
    """The retention policies and the recordings they expire."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def policies(self) -> list[RetentionPolicy]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(m.RecordingRetention)
                                          .order_by(m.RecordingRetention.scope))).all()
            return [RetentionPolicy(r.scope, r.keep_days, r.updated_at, r.updated_by)
                    for r in rows]

    async def set(self, scope: str, keep_days: int | None, by: str, at: datetime) -> bool:
        """Keep ``scope``'s recordings ``keep_days`` days (None: no policy of its own).
        Returns whether anything changed."""
        async with self._sessions() as session, session.begin():
            row = await session.get(m.RecordingRetention, scope)
            if keep_days is None:
                if row is None:
                    return False
                await session.execute(delete(m.RecordingRetention)
                                      .where(m.RecordingRetention.scope == scope))
                return True
            if row is not None and row.keep_days == keep_days:
                return False
            if row is None:
                session.add(m.RecordingRetention(scope=scope, keep_days=keep_days,
                                                 updated_at=at, updated_by=by))
            else:
                row.keep_days, row.updated_at, row.updated_by = keep_days, at, by
            return True

    async def expired(self, now: datetime, limit: int = 500) -> list[ExpiredRecording]:
        """Recordings past their policy's days and not yet deleted, oldest first."""
        policies = await self.policies()
        queues = {p.queue: p for p in policies if p.queue is not None}
        site = next((p for p in policies if p.scope == SITE), None)
        conditions = []
        for name, policy in queues.items():
            conditions.append(and_(m.Interaction.queue == name, m.Recording.started_at
                                   < now - timedelta(days=policy.keep_days)))
        if site is not None:
            too_old = m.Recording.started_at < now - timedelta(days=site.keep_days)
            if queues:  # recordings of no call or of no such queue: the site's policy
                conditions.append(and_(or_(m.Interaction.queue.is_(None),
                                           m.Interaction.queue.not_in(list(queues))), too_old))
            else:
                conditions.append(too_old)
        if not conditions:
            return []
        query = (select(m.Recording, m.Interaction.queue)
                 .outerjoin(m.Interaction, m.Interaction.id == m.Recording.interaction_id)
                 .where(m.Recording.deleted_at.is_(None), or_(*conditions))
                 .order_by(m.Recording.started_at, m.Recording.id).limit(limit))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        out = []
        for recording, queue in rows:
            chosen = queues.get(queue) if queue is not None else None
            chosen = chosen or site
            assert chosen is not None  # noqa: S101 - only rows a policy selected
            out.append(ExpiredRecording(recording.id, recording.path, recording.started_at,
                                        chosen.scope, chosen.keep_days))
        return out

    async def mark_deleted(self, recording_id: str, at: datetime) -> None:
        async with self._sessions() as session, session.begin():
            row = await session.get(m.Recording, recording_id)
            if row is not None:
                row.deleted_at = at


def _delete_file(path: Path, folder: Path | None) -> str:
    """Delete one recording file: "deleted", "gone" (no such file) or "failed" (outside the
    recordings folder, or the system refused)."""
    if folder is None or not path.resolve().is_relative_to(folder.resolve()):
        return "failed"
    try:
        path.unlink()
    except FileNotFoundError:
        return "gone"
    except OSError:
        return "failed"
    with contextlib.suppress(OSError):  # an emptied day folder goes too
        path.parent.rmdir()
    return "deleted"


async def sweep_recordings(store: Store, recordings_dir: Path | None,
                           now: datetime) -> SweepResult:
    """Delete every expired recording's file (only inside ``recordings_dir``), mark its
    record and audit it. A file that cannot be deleted is logged and left for the next
    sweep; its record stays unmarked."""
    retention = RetentionRepository(store.sessions)
    counts = {"deleted": 0, "gone": 0, "failed": 0}
    failed_ids: set[str] = set()
    while True:
        batch = [item for item in await retention.expired(now) if item.id not in failed_ids]
        if not batch:
            break
        for item in batch:
            outcome = await asyncio.to_thread(_delete_file, Path(item.path), recordings_dir)
            counts[outcome] += 1
            if outcome == "failed":
                failed_ids.add(item.id)
                log.warning("recording_not_deleted", recording_id=item.id, path=item.path)
                continue
            await retention.mark_deleted(item.id, now)
            await store.audit.record(now, ACTOR, "recording_deleted", "recordings", item.id, {
                "scope": item.scope or "site", "keep_days": item.keep_days,
                "started_at": item.started_at.isoformat(), "file_missing": outcome == "gone"})
    if any(counts.values()):
        log.info("recordings_swept", **counts)
    return SweepResult(counts["deleted"], counts["gone"], counts["failed"])


class RetentionSweeper:
    """Runs :func:`sweep_recordings` at start and then every ``interval_s`` seconds."""

    def __init__(self, store: Store, recordings_dir: Path, clock: Clock,
                 interval_s: float = 3600.0) -> None:
        self._store = store
        self._recordings_dir = recordings_dir
        self._clock = clock
        self.interval_s = interval_s

    async def run(self) -> None:
        while True:
            try:
                await sweep_recordings(self._store, self._recordings_dir, self._clock.utcnow())
            except Exception:
                log.exception("retention_sweep_failed")
            await self._clock.sleep(self.interval_s)
