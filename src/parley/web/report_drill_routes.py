"""The intervals report (``/api/reports/intervals``, also as CSV), the abandoned calls and
their callbacks (``/api/reports/abandoned``), working time (``/api/reports/working_time``;
both also as CSV) and the calls behind a
report's figure (``/api/reports/calls``): from a total to its calls, each with its id for
the call record (``/api/interactions/{id}``: legs and timeline) and its recordings
(``/api/recordings/{id}/audio``). Supervisors and admins; a supervisor of some teams sees
the calls of their teams' operators and queues only (docs/reports.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from parley.reports.abandoned import abandoned_rows
from parley.reports.drill import DRILL_DIMENSIONS, DRILL_MEASURES, DrillError, intervals
from parley.reports.intervals import INTERVAL, interval_start
from parley.reports.tables import flat
from parley.reports.working_time import working_time
from parley.reports.xlsx import XLSX_TYPE, workbook
from parley.store.report_rows import CallLine
from parley.web.auth import Ctx, Supervisor
from parley.web.reports_routes import From, To, csv_text, period
from parley.web.scope import Scope, scope_of

router = APIRouter()

QueueFilter = Annotated[str | None, Query(max_length=64, description=(
    "One queue's figures only (default: every queue)"))]


@router.get("/api/reports/intervals", tags=["reports"],
            summary="The intervals report: one row per 15-minute interval of the period "
                    "(figures defined at /api/reports/definitions)")
async def intervals_report(ctx: Ctx, _p: Supervisor, since: From, until: To,
                           queue: QueueFilter = None) -> dict[str, Any]:
    start, end = period(since, until)
    return {"from": start.isoformat(), "to": end.isoformat(),
            "rows": await intervals(ctx.store.report_rows, start, end, queue)}


@router.get("/api/reports/intervals.csv", tags=["reports"],
            summary="The intervals report as CSV (the same rows)",
            responses={200: {"content": {"text/csv": {}}}})
async def intervals_csv(ctx: Ctx, _p: Supervisor, since: From, until: To,
                        queue: QueueFilter = None) -> Response:
    start, end = period(since, until)
    rows = await intervals(ctx.store.report_rows, start, end, queue)
    filename = f"intervals-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
    return Response(csv_text(rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/api/reports/intervals.xlsx", tags=["reports"],
            summary="The intervals report as an XLSX workbook (the same rows, typed)",
            responses={200: {"content": {XLSX_TYPE: {}}}})
async def intervals_xlsx(ctx: Ctx, _p: Supervisor, since: From, until: To,
                         queue: QueueFilter = None) -> Response:
    start, end = period(since, until)
    columns, lines = flat(await intervals(ctx.store.report_rows, start, end, queue))
    zone = (await ctx.store.config.site()).time_zone
    filename = f"intervals-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.xlsx"
    return Response(workbook("Intervals", columns, lines, since=start, until=end,
                             time_zone=zone, notes=[("Queue", queue)] if queue else ()),
                    media_type=XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def drill_url(report: str, key: str, measure: str, since: datetime, until: datetime,
              queue: str | None = None) -> str | None:
    """The link from one figure of a report row to its calls (None: not a count of calls)."""
    if report not in DRILL_DIMENSIONS or measure not in DRILL_MEASURES:
        return None
    query = {"report": report, "key": key, "measure": measure, "from": since.isoformat(),
             "to": until.isoformat(), **({"queue": queue} if queue else {})}
    return f"/reports/calls?{urlencode(query)}"


def _line(line: CallLine) -> dict[str, Any]:
    values = asdict(line)
    for name in ("started_at", "answered_at", "ended_at"):
        if values[name] is not None:
            values[name] = values[name].isoformat()
    return values


def _visible(scope: Scope, line: CallLine) -> bool:
    """A call is in a supervisor's scope by its operator; a call nobody answered by its
    queue."""
    return scope.sees_operator(line.operator) if line.operator else scope.sees_queue(line.queue)


async def drill(ctx: Ctx, principal: Any, report: str, key: str, measure: str,
                since: datetime, until: datetime, queue: str | None = None
                ) -> dict[str, Any]:
    """The calls behind ``measure`` in the row ``key`` of ``report`` (the route's and the
    page's answer); 422 naming the parameter at fault, 403 for a row outside the
    supervisor's teams."""
    start, end = period(since, until)
    dimension = DRILL_DIMENSIONS.get(report)
    if dimension is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"report: {report!r} has no calls behind its figures; one of "
                            f"{', '.join(DRILL_DIMENSIONS)}")
    if measure not in DRILL_MEASURES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"measure: {measure!r} does not count calls; one of "
                            f"{', '.join(DRILL_MEASURES)}")
    scope = await scope_of(ctx, principal)
    keys: list[str] | None = [key]
    if dimension == "team":
        members = (await ctx.store.reports.teams()).get(key)
        if members is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"key: no team {key!r}")
        dimension, keys = "operator", members
    elif dimension == "interval":
        try:
            moment = datetime.fromisoformat(key)
        except ValueError:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                "key: an interval's start (ISO 8601)") from None
        moment = period(moment, moment + INTERVAL)[0]
        if interval_start(moment) != moment:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                "key: an interval starts on the quarter hour")
        start, end = max(start, moment), min(end, moment + INTERVAL)
        dimension, keys = "queue", ([queue] if queue else None)
    checks: dict[str, Callable[[str | None], bool]] = {
        "queue": scope.sees_queue, "operator": scope.sees_operator}
    allowed = checks.get(dimension or "")
    if not scope.site_wide and report != "teams" and allowed is not None \
            and keys is not None and not all(allowed(k) for k in keys):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"key: {key!r} is outside your teams")
    if report == "teams" and not scope.site_wide and key not in scope.teams:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"key: team {key!r} is not yours")
    calls: list[CallLine] = []
    total = 0
    if start < end:
        try:
            total, calls = await ctx.store.report_rows.calls_behind(
                measure, start, end, dimension=dimension, keys=keys)
        except DrillError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    shown = [line for line in calls if _visible(scope, line)]
    return {"from": start.isoformat(), "to": end.isoformat(), "report": report, "key": key,
            "measure": measure, "total": total, "outside_scope": len(calls) - len(shown),
            "calls": [_line(line) for line in shown]}


@router.get("/api/reports/calls", tags=["reports"],
            summary="The calls behind a report's figure: the row (report and key) and the "
                    "figure (measure) of the period")
async def calls_behind(
        ctx: Ctx, principal: Supervisor, since: From, until: To,
        report: Annotated[str, Query(max_length=32, description=(
            "The report: queues, operators, teams, trunks, numbers or intervals"))],
        key: Annotated[str, Query(max_length=64, description=(
            "The row's key: a queue, operator, team, trunk, number, or an interval's start"))],
        measure: Annotated[str, Query(max_length=32, description=(
            "The figure: a count of calls (offered, answered, abandoned, …)"))],
        queue: QueueFilter = None) -> dict[str, Any]:
    """``total`` counts every call behind the figure (as the report does); ``calls`` lists
    the first 1,000 in the supervisor's scope, oldest first, and ``outside_scope`` how many
    of those were left out."""
    return await drill(ctx, principal, report, key, measure, since, until, queue)


async def abandoned(ctx: Ctx, principal: Any, since: datetime, until: datetime,
                    queue: str | None = None) -> list[dict[str, Any]]:
    """The abandoned calls of the period (one queue's, or every queue's) in the supervisor's
    scope (by queue), each with whether and when the customer was reached again."""
    start, end = period(since, until)
    scope = await scope_of(ctx, principal)
    calls, contacts, requests = await ctx.store.report_rows.abandoned(start, end)
    return [row for row in abandoned_rows(calls, contacts, requests)
            if scope.sees_queue(row["queue"]) and (queue is None or row["queue"] == queue)]


@router.get("/api/reports/abandoned", tags=["reports"],
            summary="The abandoned calls and their callbacks: each caller who hung up "
                    "waiting, and whether and when they were reached again")
async def abandoned_report(ctx: Ctx, principal: Supervisor, since: From, until: To,
                           queue: QueueFilter = None) -> dict[str, Any]:
    """``reached_by`` is ``callback`` (a completed callback), ``inbound`` (a later call
    from the number answered) or ``outbound`` (a call or campaign attempt to it answered);
    ``delay_s`` runs from the abandoned call's end to that answer."""
    start, end = period(since, until)
    return {"from": start.isoformat(), "to": end.isoformat(),
            "rows": await abandoned(ctx, principal, start, end, queue)}


@router.get("/api/reports/abandoned.csv", tags=["reports"],
            summary="The abandoned calls and their callbacks as CSV (the same rows)",
            responses={200: {"content": {"text/csv": {}}}})
async def abandoned_csv(ctx: Ctx, principal: Supervisor, since: From, until: To,
                        queue: QueueFilter = None) -> Response:
    start, end = period(since, until)
    rows = await abandoned(ctx, principal, start, end, queue)
    filename = f"abandoned-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
    return Response(csv_text(rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


TOTAL = "*"
"""The operator (and location) of a working-time line that sums several operators."""


async def working_time_report(ctx: Ctx, principal: Any, since: datetime, until: datetime,
                              team: str | None = None, operator: str | None = None
                              ) -> dict[str, Any]:
    """The working time of the period's operators in the supervisor's scope (one team's or
    one operator's with ``team``/``operator``); 404 naming a team that does not exist."""
    start, end = period(since, until)
    scope = await scope_of(ctx, principal)
    wanted: set[str] | None = None
    if team is not None:
        members = (await ctx.store.reports.teams()).get(team)
        if members is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"team: no team {team!r}")
        wanted = set(members)
    if operator is not None:
        wanted = {operator} & wanted if wanted is not None else {operator}
    seconds = await ctx.store.reports.state_seconds(start, end)
    visible = {name for name, _state, _reason in seconds if scope.sees_operator(name)}
    report = working_time(seconds, await ctx.store.report_rows.locations(),
                          visible if wanted is None else visible & wanted)
    return {"from": start.isoformat(), "to": end.isoformat(), **report}


def working_time_lines(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report as one table: the operators, then each location's total and the total of
    all (operator ``*``; the total's location ``*``)."""
    return [*report["rows"],
            *({"operator": TOTAL, **row} for row in report["locations"]),
            {"operator": TOTAL, "location": TOTAL, **report["total"]}]


TeamFilter = Annotated[str | None, Query(max_length=64, description=(
    "One team's operators only (its members as they are now)"))]
OperatorFilter = Annotated[str | None, Query(max_length=64, description=(
    "One operator only"))]


@router.get("/api/reports/working_time", tags=["reports"],
            summary="Working time: per operator the time signed in, ready, on calls, in "
                    "wrap-up and not ready by reason, per location and in all")
async def working_time_api(ctx: Ctx, principal: Supervisor, since: From, until: To,
                           team: TeamFilter = None,
                           operator: OperatorFilter = None) -> dict[str, Any]:
    """``rows`` per operator (with their ``location``), ``locations`` the same per location,
    ``total`` all the operators shown (a team's total with ``team=``); occupancy and
    utilisation as /api/reports/definitions defines them."""
    return await working_time_report(ctx, principal, since, until, team, operator)


@router.get("/api/reports/working_time.csv", tags=["reports"],
            summary="Working time as CSV: the operators, then each location's and the "
                    "total line (operator *)", responses={200: {"content": {"text/csv": {}}}})
async def working_time_csv(ctx: Ctx, principal: Supervisor, since: From, until: To,
                           team: TeamFilter = None,
                           operator: OperatorFilter = None) -> Response:
    report = await working_time_report(ctx, principal, since, until, team, operator)
    start, end = period(since, until)
    filename = f"working_time-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
    return Response(csv_text(working_time_lines(report)),
                    media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def _workbook(ctx: Ctx, title: str, name: str, rows: list[dict[str, Any]],
                    start: datetime, end: datetime, notes: list[tuple[str, str]]) -> Response:
    columns, lines = flat(rows)
    zone = (await ctx.store.config.site()).time_zone
    filename = f"{name}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.xlsx"
    return Response(workbook(title, columns, lines, since=start, until=end, time_zone=zone,
                             notes=notes),
                    media_type=XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/api/reports/abandoned.xlsx", tags=["reports"],
            summary="The abandoned calls and their callbacks as an XLSX workbook",
            responses={200: {"content": {XLSX_TYPE: {}}}})
async def abandoned_xlsx(ctx: Ctx, principal: Supervisor, since: From, until: To,
                         queue: QueueFilter = None) -> Response:
    start, end = period(since, until)
    return await _workbook(ctx, "Abandoned calls", "abandoned",
                           await abandoned(ctx, principal, start, end, queue), start, end,
                           [("Queue", queue)] if queue else [])


@router.get("/api/reports/working_time.xlsx", tags=["reports"],
            summary="Working time as an XLSX workbook: the operators, then each location's "
                    "and the total line (operator *)",
            responses={200: {"content": {XLSX_TYPE: {}}}})
async def working_time_xlsx(ctx: Ctx, principal: Supervisor, since: From, until: To,
                            team: TeamFilter = None,
                            operator: OperatorFilter = None) -> Response:
    report = await working_time_report(ctx, principal, since, until, team, operator)
    start, end = period(since, until)
    notes = [(label, value) for label, value in (("Team", team), ("Operator", operator))
             if value]
    return await _workbook(ctx, "Working time", "working_time", working_time_lines(report),
                           start, end, notes)
