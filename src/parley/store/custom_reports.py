"""Saved custom reports and their scheduled exports (:mod:`parley.reports.custom`,
:mod:`parley.reports.schedules`): the definitions as JSON, and per schedule when it fires
next and how its last delivery went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.store import models as m
from parley.store.database import NotFound


@dataclass(frozen=True, slots=True)
class CustomReportRecord:
    id: int
    name: str
    owner: str
    shared_with: str | None
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    id: int
    report_id: int
    spec: dict[str, Any]
    next_run_at: datetime
    retry_at: datetime | None
    failures: int
    last_run_at: datetime | None
    last_status: str
    last_error: str
    last_file: str


def _report(row: m.CustomReport) -> CustomReportRecord:
    return CustomReportRecord(row.id, row.name, row.owner, row.shared_with,
                              dict(row.definition), row.created_at, row.updated_at)


def _schedule(row: m.CustomReportSchedule) -> ScheduleRecord:
    return ScheduleRecord(row.id, row.report_id, dict(row.spec), row.next_run_at,
                          row.retry_at, row.failures, row.last_run_at, row.last_status,
                          row.last_error, row.last_file)


class CustomReportRepository:
    """Custom report definitions and schedules; each method is one transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def reports(self) -> list[CustomReportRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(select(m.CustomReport).order_by(
                m.CustomReport.name, m.CustomReport.id))
            return [_report(row) for row in rows]

    async def get(self, report_id: int) -> CustomReportRecord:
        async with self._sessions() as session:
            row = await session.get(m.CustomReport, report_id)
            if row is None:
                raise NotFound(f"no custom report {report_id}")
            return _report(row)

    async def create(self, owner: str, definition: dict[str, Any],
                     now: datetime) -> CustomReportRecord:
        async with self._sessions() as session, session.begin():
            row = m.CustomReport(name=definition["name"], owner=owner,
                                 shared_with=definition.get("shared_with"),
                                 definition=definition, created_at=now, updated_at=now)
            session.add(row)
            await session.flush()
            return _report(row)

    async def update(self, report_id: int, definition: dict[str, Any],
                     now: datetime) -> CustomReportRecord:
        async with self._sessions() as session, session.begin():
            row = await session.get(m.CustomReport, report_id)
            if row is None:
                raise NotFound(f"no custom report {report_id}")
            row.name = definition["name"]
            row.shared_with = definition.get("shared_with")
            row.definition = definition
            row.updated_at = now
            return _report(row)

    async def delete(self, report_id: int) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(delete(m.CustomReportSchedule).where(
                m.CustomReportSchedule.report_id == report_id))
            found = await session.execute(delete(m.CustomReport).where(
                m.CustomReport.id == report_id))
            if not getattr(found, "rowcount", 0):
                raise NotFound(f"no custom report {report_id}")

    # --- schedules -------------------------------------------------------------------------

    async def schedules(self, report_id: int | None = None) -> list[ScheduleRecord]:
        """A report's schedules (every report's when ``report_id`` is None)."""
        query = select(m.CustomReportSchedule).order_by(m.CustomReportSchedule.id)
        if report_id is not None:
            query = query.where(m.CustomReportSchedule.report_id == report_id)
        async with self._sessions() as session:
            return [_schedule(row) for row in await session.scalars(query)]

    async def add_schedule(self, report_id: int, spec: dict[str, Any],
                           next_run_at: datetime) -> ScheduleRecord:
        async with self._sessions() as session, session.begin():
            if await session.get(m.CustomReport, report_id) is None:
                raise NotFound(f"no custom report {report_id}")
            row = m.CustomReportSchedule(report_id=report_id, spec=spec,
                                         next_run_at=next_run_at, failures=0,
                                         last_status="", last_error="", last_file="")
            session.add(row)
            await session.flush()
            return _schedule(row)

    async def delete_schedule(self, report_id: int, schedule_id: int) -> None:
        async with self._sessions() as session, session.begin():
            found = await session.execute(delete(m.CustomReportSchedule).where(
                m.CustomReportSchedule.id == schedule_id,
                m.CustomReportSchedule.report_id == report_id))
            if not getattr(found, "rowcount", 0):
                raise NotFound(f"no schedule {schedule_id} of custom report {report_id}")

    async def due(self, now: datetime) -> list[tuple[ScheduleRecord, CustomReportRecord]]:
        """The schedules whose firing (or retry) has come, with their reports."""
        when = func.coalesce(m.CustomReportSchedule.retry_at,
                             m.CustomReportSchedule.next_run_at)
        async with self._sessions() as session:
            rows = (await session.execute(
                select(m.CustomReportSchedule, m.CustomReport)
                .join(m.CustomReport, m.CustomReport.id == m.CustomReportSchedule.report_id)
                .where(or_(m.CustomReportSchedule.retry_at <= now,
                           (m.CustomReportSchedule.retry_at.is_(None))
                           & (m.CustomReportSchedule.next_run_at <= now)))
                .order_by(when, m.CustomReportSchedule.id))).all()
            return [(_schedule(schedule), _report(report)) for schedule, report in rows]

    async def finish(self, schedule_id: int, **changes: Any) -> None:
        """Note how a firing went (``next_run_at``, ``retry_at``, ``failures``,
        ``last_run_at``, ``last_status``, ``last_error``, ``last_file``)."""
        async with self._sessions() as session, session.begin():
            row = await session.get(m.CustomReportSchedule, schedule_id)
            if row is None:
                return  # deleted while it ran
            for name, value in changes.items():
                setattr(row, name, value)
