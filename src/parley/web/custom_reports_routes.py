"""The custom reports API: saved definitions of grouping, filters, measures and sort
(:mod:`parley.reports.custom`), run over a period as the ready-made reports are (the same
``{"from", "to", "rows"}``), as CSV and XLSX, and their scheduled exports
(:mod:`parley.reports.schedules`). Anyone signed in lists and runs the reports they may see
(their own, and those shared with their role or one below it); supervisors and admins save
them; only a report's owner or an admin changes or deletes it. Schedules are added and
removed by admins only: they make the node write files and call out. Every change is
audited.
A bad definition is refused with 422 naming the field (docs/reports.md)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, HTTPException, Path, Query, status
from fastapi.responses import Response

from parley.reports.custom import (
    CustomDefinition,
    CustomReportError,
    parse_definition,
    run,
    visible_to,
)
from parley.reports.exports import CSV_TYPE, check_folder, render
from parley.reports.schedules import ScheduleSpec, next_run, parse_schedule
from parley.reports.xlsx import XLSX_TYPE
from parley.store import NotFound
from parley.store.custom_reports import CustomReportRecord, ScheduleRecord
from parley.store.records import Principal
from parley.web.auth import Admin, Agent, Ctx, Supervisor, WebContext
from parley.web.reports_routes import period

router = APIRouter()

Definition = Annotated[dict[str, Any], Body(description=(
    'The report: {"name", "group_by": ["queue", "day"], "filters": {"queue": ["support"]}, '
    '"period": "last_7_days" or {"from", "to"}, "measures": ["offered", "service_level"], '
    '"sort": {"by", "descending"}, "shared_with": "supervisor" or null}'))]
OptionalFrom = Annotated[datetime | None, Query(alias="from", description=(
    "The period's start (ISO 8601), included; without from and to, the definition's "
    "period"))]
OptionalTo = Annotated[datetime | None, Query(alias="to", description=(
    "The period's end (ISO 8601), excluded"))]
ReportId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The report's id")]
ScheduleId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The schedule's id")]
_SAFE = re.compile(r"[^\w.-]+")


def _unprocessable(exc: CustomReportError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


def _definition(data: Any) -> CustomDefinition:
    try:
        return parse_definition(data)
    except CustomReportError as exc:
        raise _unprocessable(exc) from None


def public(record: CustomReportRecord) -> dict[str, Any]:
    """A saved report as the API answers it."""
    return {"id": record.id, "owner": record.owner, **record.definition,
            "created_at": record.created_at.isoformat(),
            "updated_at": record.updated_at.isoformat()}


def public_schedule(record: ScheduleRecord) -> dict[str, Any]:
    """A schedule as the API answers it (the webhook's secret hidden)."""
    try:
        spec: dict[str, Any] = parse_schedule(record.spec).public()
    except CustomReportError:
        spec = {}
    return {"id": record.id, **spec, "next_run_at": record.next_run_at.isoformat(),
            "retry_at": record.retry_at.isoformat() if record.retry_at else None,
            "last_run_at": record.last_run_at.isoformat() if record.last_run_at else None,
            "last_status": record.last_status, "last_error": record.last_error,
            "last_file": record.last_file}


async def site_zone(ctx: WebContext) -> ZoneInfo:
    return ZoneInfo((await ctx.store.config.site()).time_zone)


async def visible(ctx: WebContext, principal: Principal, report_id: int) -> CustomReportRecord:
    """The report if this user may see it; 404 otherwise (its existence is not told)."""
    try:
        record = await ctx.store.custom_reports.get(report_id)
    except NotFound:
        record = None
    if record is None or not visible_to(record.shared_with, record.owner,
                                        principal.username, principal.roles):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no custom report {report_id}")
    return record


async def owned(ctx: WebContext, principal: Principal, report_id: int) -> CustomReportRecord:
    """The report if this user may change it (its owner or an admin)."""
    record = await visible(ctx, principal, report_id)
    if record.owner != principal.username and "admin" not in principal.roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "only the report's owner or an admin may change it")
    return record


async def _audit(ctx: WebContext, principal: Principal, action: str, report_id: int,
                 detail: dict[str, Any]) -> None:
    await ctx.store.audit.record(ctx.clock.utcnow(), principal.username, action,
                                 "custom_report", str(report_id), detail)


async def report_period(ctx: WebContext, definition: CustomDefinition, since: datetime | None,
                        until: datetime | None, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The period asked for, else the definition's own (a preset: the site's days)."""
    if since is not None or until is not None:
        if since is None or until is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"{'from' if since is None else 'to'}: give both from and "
                                "to, or neither (the report's own period)")
        return period(since, until)
    start, end = definition.period.resolve(ctx.clock.utcnow(), zone)
    return period(start, end)


async def checked(ctx: WebContext, data: Any) -> CustomDefinition:
    """A definition to save: valid, and its team filter naming teams that exist (a team's
    calls are its members'), else 422 naming the filter and the value."""
    definition = _definition(data)
    wanted = definition.filter_map.get("team", ())
    if wanted:
        teams = await ctx.store.reports.teams()
        unknown = [team for team in wanted if team not in teams]
        if unknown:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"filters.team: no team {unknown[0]!r}; teams: "
                                f"{', '.join(sorted(teams)) or 'none'}")
    return definition


@router.get("/api/reports/custom", tags=["reports"],
            summary="The custom reports this user may see")
async def list_custom(ctx: Ctx, principal: Agent) -> dict[str, Any]:
    return {"reports": [public(record) for record in await ctx.store.custom_reports.reports()
                        if visible_to(record.shared_with, record.owner, principal.username,
                                      principal.roles)]}


@router.post("/api/reports/custom", tags=["reports"], status_code=201,
             summary="Save a new custom report (its owner: the caller)")
async def create_custom(ctx: Ctx, principal: Supervisor, body: Definition) -> dict[str, Any]:
    definition = await checked(ctx, body)
    record = await ctx.store.custom_reports.create(principal.username, definition.to_json(),
                                                   ctx.clock.utcnow())
    await _audit(ctx, principal, "custom_report_created", record.id, {"name": record.name})
    return public(record)


async def _file(ctx: WebContext, principal: Principal, report_id: int, since: datetime | None,
                until: datetime | None, kind: str) -> Response:
    record = await visible(ctx, principal, report_id)
    definition = _definition(record.definition)
    zone = await site_zone(ctx)
    start, end = await report_period(ctx, definition, since, until, zone)
    try:
        content, _rows = await render(ctx.store, definition, start, end, zone, kind)
    except CustomReportError as exc:
        raise _unprocessable(exc) from None
    name = _SAFE.sub("_", definition.name).strip("_.") or "report"
    filename = f"{name}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.{kind}"
    return Response(content, media_type=CSV_TYPE if kind == "csv" else XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/api/reports/custom/{report_id}.csv", tags=["reports"],
            summary="A custom report as CSV", responses={200: {"content": {"text/csv": {}}}})
async def custom_csv(ctx: Ctx, principal: Agent, report_id: ReportId, since: OptionalFrom = None,
                     until: OptionalTo = None) -> Response:
    return await _file(ctx, principal, report_id, since, until, "csv")


@router.get("/api/reports/custom/{report_id}.xlsx", tags=["reports"],
            summary="A custom report as an XLSX workbook",
            responses={200: {"content": {XLSX_TYPE: {}}}})
async def custom_xlsx(ctx: Ctx, principal: Agent, report_id: ReportId, since: OptionalFrom = None,
                      until: OptionalTo = None) -> Response:
    return await _file(ctx, principal, report_id, since, until, "xlsx")


@router.get("/api/reports/custom/{report_id}", tags=["reports"],
            summary="Run a custom report over a period (its own period without from/to)")
async def run_custom(ctx: Ctx, principal: Agent, report_id: ReportId, since: OptionalFrom = None,
                     until: OptionalTo = None) -> dict[str, Any]:
    record = await visible(ctx, principal, report_id)
    definition = _definition(record.definition)
    zone = await site_zone(ctx)
    start, end = await report_period(ctx, definition, since, until, zone)
    try:
        rows = await run(definition, ctx.store.reports, start, end, zone,
                         ctx.store.reports)
    except CustomReportError as exc:
        raise _unprocessable(exc) from None
    return {"from": start.isoformat(), "to": end.isoformat(), "report": public(record),
            "columns": definition.columns, "rows": rows}


@router.put("/api/reports/custom/{report_id}", tags=["reports"],
            summary="Change a custom report (its owner or an admin)")
async def update_custom(ctx: Ctx, principal: Supervisor, report_id: ReportId,
                        body: Definition) -> dict[str, Any]:
    await owned(ctx, principal, report_id)
    definition = await checked(ctx, body)
    record = await ctx.store.custom_reports.update(report_id, definition.to_json(),
                                                   ctx.clock.utcnow())
    await _audit(ctx, principal, "custom_report_changed", report_id, {"name": record.name})
    return public(record)


@router.delete("/api/reports/custom/{report_id}", tags=["reports"], status_code=204,
               summary="Delete a custom report and its schedules (its owner or an admin)")
async def delete_custom(ctx: Ctx, principal: Supervisor, report_id: ReportId) -> Response:
    record = await owned(ctx, principal, report_id)
    await ctx.store.custom_reports.delete(report_id)
    await _audit(ctx, principal, "custom_report_deleted", report_id, {"name": record.name})
    return Response(status_code=204)


@router.get("/api/reports/custom/{report_id}/schedules", tags=["reports"],
            summary="A custom report's scheduled exports and how each last went")
async def list_schedules(ctx: Ctx, principal: Supervisor, report_id: ReportId) -> dict[str, Any]:
    await visible(ctx, principal, report_id)
    return {"schedules": [public_schedule(record) for record in
                          await ctx.store.custom_reports.schedules(report_id)]}


@router.post("/api/reports/custom/{report_id}/schedules", tags=["reports"], status_code=201,
             summary="Add a scheduled export: daily, weekly or monthly at a local time, of the "
                     "previous period, as CSV or XLSX, to a folder or a webhook")
async def add_schedule(ctx: Ctx, principal: Admin, report_id: ReportId,
                       body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    await visible(ctx, principal, report_id)
    try:
        spec: ScheduleSpec = parse_schedule(body)
        if spec.to == "folder":
            check_folder(spec.folder)
    except CustomReportError as exc:
        raise _unprocessable(exc) from None
    first = next_run(spec, ctx.clock.utcnow(), await site_zone(ctx))
    record = await ctx.store.custom_reports.add_schedule(report_id, spec.to_json(), first)
    await _audit(ctx, principal, "custom_report_scheduled", report_id,
                 {"schedule": record.id, "every": spec.every, "to": spec.to})
    return public_schedule(record)


@router.delete("/api/reports/custom/{report_id}/schedules/{schedule_id}", tags=["reports"],
               status_code=204, summary="Stop a scheduled export")
async def delete_schedule(ctx: Ctx, principal: Admin, report_id: ReportId,
                          schedule_id: ScheduleId) -> Response:
    await visible(ctx, principal, report_id)
    try:
        await ctx.store.custom_reports.delete_schedule(report_id, schedule_id)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    await _audit(ctx, principal, "custom_report_unscheduled", report_id,
                 {"schedule": schedule_id})
    return Response(status_code=204)
