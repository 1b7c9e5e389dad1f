"""The reports API: ``/api/reports/{queues,operators,teams,trunks,numbers,campaigns}`` over a
period, the same figures the reports page shows (docs/reports.md), each also as CSV at
``/api/reports/{name}.csv``, and each figure's definition at ``/api/reports/definitions``.
Supervisors and admins."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from parley.kpi import DEFINITIONS
from parley.reports.abandon_windows import WindowError, WindowRule, abandon_windows
from parley.reports.tables import BUILDERS, REPORTS, flat
from parley.reports.xlsx import XLSX_TYPE, workbook
from parley.web.auth import Ctx, Supervisor, WebContext

router = APIRouter()

LONGEST = timedelta(days=400)
"""The longest period one report covers."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

From = Annotated[datetime, Query(alias="from", description=(
    "The period's start (ISO 8601; UTC unless it names its offset), included"))]
To = Annotated[datetime, Query(alias="to", description=(
    "The period's end (ISO 8601), excluded"))]


def period(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The period in UTC; 422 naming ``to`` when it does not come after ``from`` or the
    period is longer than :data:`LONGEST`."""
    since, until = _utc("from", since), _utc("to", until)
    if until <= since:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "to: must come after from")
    if until - since > LONGEST:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"to: a report covers at most {LONGEST.days} days")
    return since, until


def _utc(name: str, moment: datetime) -> datetime:
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None \
            else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        moment = EARLIEST - timedelta(days=1)
    if not EARLIEST <= moment <= LATEST:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"{name}: must be between the years {EARLIEST.year} and "
                            f"{LATEST.year}")
    return moment


@router.get("/api/reports/definitions", tags=["reports"],
            summary="Each report figure's definition")
async def definitions(_p: Supervisor) -> dict[str, str]:
    return dict(DEFINITIONS)


async def window_report(ctx: WebContext, since: datetime, until: datetime,
                        campaign: str | None = None) -> dict[str, Any]:
    """Each campaign's abandon rule, its current rolling window and its regulatory windows
    overlapping [since, until) (:mod:`parley.reports.abandon_windows`); one campaign with
    ``campaign`` (404 naming it when there is no such campaign)."""
    site_zone = (await ctx.store.config.site()).time_zone
    rules = {stored.config.campaign_id: WindowRule(
        stored.config.campaign_id, cap=stored.config.abandon_cap,
        window_s=stored.config.abandon_window_s, definition=stored.config.abandon_definition,
        time_zone=stored.config.default_time_zone)
        for stored in await ctx.store.campaigns.load_campaigns()}
    firsts = await ctx.store.reports.campaign_starts()
    for name in firsts.keys() - rules.keys():  # dialled once, no longer configured
        rules[name] = WindowRule(name, time_zone=site_zone, configured=False)
    if campaign is not None:
        if campaign not in rules:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"campaign: no campaign {campaign!r}")
        rules = {campaign: rules[campaign]}
    try:
        return await abandon_windows(ctx.store.reports, rules, firsts, since, until,
                                     ctx.clock.utcnow())
    except WindowError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.get("/api/reports/campaigns/windows", tags=["reports"],
            summary="The abandon rate of each campaign per regulatory window (its cap, window "
                    "and definition; each window overlapping the period, and the current one)")
async def campaign_windows(ctx: Ctx, _p: Supervisor, since: From, until: To,
                           campaign: Annotated[str | None, Query(
                               description="One campaign (default: every one)")] = None
                           ) -> dict[str, Any]:
    start, end = period(since, until)
    return {"from": start.isoformat(), "to": end.isoformat(),
            **await window_report(ctx, start, end, campaign)}


def _report(name: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    build = BUILDERS[name]

    async def report(ctx: Ctx, _p: Supervisor, since: From, until: To) -> dict[str, Any]:
        start, end = period(since, until)
        return {"from": start.isoformat(), "to": end.isoformat(),
                "rows": await build(ctx.store.reports, start, end)}

    report.__doc__ = (build.__doc__ or "").strip()
    return report


for _name in REPORTS:
    router.add_api_route(
        f"/api/reports/{_name}", _report(_name), methods=["GET"], tags=["reports"],
        summary=f"The {_name} report over a period: one row per {_name[:-1]} "
                "(figures defined at /api/reports/definitions)")


def csv_text(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV: a header of figure names (nested ones as ``state_s.ready``), one line
    a row, figures as the JSON has them."""
    columns, lines = flat(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for line in lines:
        writer.writerow(["" if line.get(column) is None else line.get(column)
                         for column in columns])
    return buffer.getvalue()


def _report_csv(name: str) -> Callable[..., Awaitable[Response]]:
    build = BUILDERS[name]

    async def report_csv(ctx: Ctx, _p: Supervisor, since: From, until: To) -> Response:
        start, end = period(since, until)
        rows = await build(ctx.store.reports, start, end)
        filename = f"{name}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
        return Response(csv_text(rows), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{filename}"'})

    return report_csv


for _name in REPORTS:
    router.add_api_route(
        f"/api/reports/{_name}.csv", _report_csv(_name), methods=["GET"], tags=["reports"],
        summary=f"The {_name} report as CSV (the same rows; nested figures as "
                "`state_s.ready`)", responses={200: {"content": {"text/csv": {}}}})


def _report_xlsx(name: str) -> Callable[..., Awaitable[Response]]:
    build = BUILDERS[name]

    async def report_xlsx(ctx: Ctx, _p: Supervisor, since: From, until: To) -> Response:
        start, end = period(since, until)
        columns, lines = flat(await build(ctx.store.reports, start, end))
        zone = (await ctx.store.config.site()).time_zone
        filename = f"{name}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.xlsx"
        return Response(workbook(name.capitalize(), columns, lines, since=start, until=end,
                                 time_zone=zone), media_type=XLSX_TYPE, headers={
            "Content-Disposition": f'attachment; filename="{filename}"'})

    return report_xlsx


for _name in REPORTS:
    router.add_api_route(
        f"/api/reports/{_name}.xlsx", _report_xlsx(_name), methods=["GET"], tags=["reports"],
        summary=f"The {_name} report as an XLSX workbook (the same rows, typed; the period "
                "and each figure's definition on a second sheet)",
        responses={200: {"content": {XLSX_TYPE: {}}}})
