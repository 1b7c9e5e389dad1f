"""The custom reports page (``/reports/custom``): build a report in the page (grouping, time
grouping, figures, filters, period, sort, sharing), save it, run it, export it as CSV or
XLSX, and see its scheduled exports and how each last went.

The server renders the saved reports, the chosen report's table (the same rows as
``GET /api/reports/custom/{id}``) and its schedules; the page's script
(static/reports/custom.js) only turns the form into the API's JSON, saves it through the API
and shows the API's validation message next to the field it names. Supervisors and admins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from parley.kpi import DEFINITIONS
from parley.reports.custom import (
    DIMENSIONS,
    MEASURES,
    TIME_GROUPS,
    CustomDefinition,
    CustomReportError,
    parse_definition,
    run,
    visible_to,
)
from parley.store import NotFound
from parley.store.custom_reports import CustomReportRecord
from parley.store.specs import ResultCodesSpec, Role
from parley.web.auth import Ctx, WebContext
from parley.web.custom_reports_routes import public_schedule
from parley.web.desk import render
from parley.web.locale import PageLocale
from parley.web.reports_page import INPUT_FORMAT, LABELS, cell
from parley.web.reports_routes import period
from parley.web.supervisor import _signed_in

router = APIRouter()

#: The groupings as shown.
DIMENSION_NAMES = {"queue": "Queue", "operator": "Operator", "team": "Team", "trunk": "Trunk",
                   "number": "Number dialled", "campaign": "Campaign", "result": "Result code"}
TIME_NAMES = {"": "No time grouping", "interval": "15-minute interval", "day": "Day",
              "week": "Week"}
PRESET_NAMES = {"today": "Today", "yesterday": "Yesterday", "this_week": "This week",
                "last_week": "Last week", "this_month": "This month",
                "last_month": "Last month", "last_7_days": "Last 7 days",
                "last_30_days": "Last 30 days", "fixed": "Fixed dates"}
SHARE_NAMES = {"": "Only me", "agent": "Everyone signed in",
               "supervisor": "Supervisors and admins", "admin": "Admins"}
EVERY_NAMES = {"daily": "Every day (the day before)", "weekly": "Every week (the week before)",
               "monthly": "Every month (the month before)"}
WEEKDAY_NAMES = {"monday": "Monday", "tuesday": "Tuesday", "wednesday": "Wednesday",
                 "thursday": "Thursday", "friday": "Friday", "saturday": "Saturday",
                 "sunday": "Sunday"}
STATUS_NAMES = {"": "Not run yet", "ok": "Delivered", "retrying": "Failed, retrying",
                "failed": "Failed"}
EXTRA_LABELS = {"number": "Number dialled", "interval": "15-minute interval", "day": "Day",
                "week": "Week", "amd.human": "AMD: human", "amd.machine": "AMD: machine",
                "amd.unknown": "AMD: unknown", "state_s.ready": "Ready, s",
                "state_s.not_ready": "Not ready, s", "state_s.reserved": "Reserved, s",
                "state_s.ringing": "Ringing, s", "state_s.on_call": "On a call, s",
                "state_s.on_hold": "On hold, s", "state_s.wrap_up": "Wrap-up, s"}


def label(locale: PageLocale, column: str) -> str:
    """A column's heading in the viewer's language (the figure's name when it has none)."""
    if column in EXTRA_LABELS:
        return locale.gettext(EXTRA_LABELS[column])
    if column in LABELS:
        return locale.gettext(LABELS[column])
    return column


def _form(definition: CustomDefinition | None, zone: ZoneInfo) -> dict[str, Any]:
    """The builder's fields for a saved definition (a new report's defaults otherwise)."""
    if definition is None:
        return {"name": "", "dimension": "queue", "time_group": "", "measures": [],
                "filters": [], "period": "today", "from": "", "to": "", "sort_by": "",
                "descending": False, "shared_with": ""}
    fixed = definition.period.fixed
    return {"name": definition.name, "dimension": definition.dimension,
            "time_group": definition.time_group or "", "measures": list(definition.measures),
            "filters": [(name, list(keys)) for name, keys in definition.filters],
            "period": definition.period.preset or "fixed",
            "from": fixed[0].astimezone(zone).strftime(INPUT_FORMAT) if fixed else "",
            "to": fixed[1].astimezone(zone).strftime(INPUT_FORMAT) if fixed else "",
            "sort_by": definition.sort.by if definition.sort else "",
            "descending": bool(definition.sort and definition.sort.descending),
            "shared_with": definition.shared_with or ""}


#: Where the values a filter offers come from: the configuration's kind of each dimension.
FILTER_KINDS = {"queue": "queues", "operator": "users", "team": "teams", "trunk": "trunks",
                "number": "numbers", "campaign": "campaigns"}


async def filter_values(ctx: WebContext) -> dict[str, list[str]]:
    """The values each filter offers: the queues, users, teams, trunks, numbers and
    campaigns configured, and the codes of every result code list."""
    values = {dimension: sorted(spec.key for spec in await ctx.store.config.records(kind))
              for dimension, kind in FILTER_KINDS.items()}
    values["result"] = sorted({code.code for spec in await ctx.store.config.records(
        "result_codes") if isinstance(spec, ResultCodesSpec) for code in spec.codes})
    return values


def _moment(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def shown(locale: PageLocale, column: str, value: Any, zone: ZoneInfo) -> str:
    """One cell as shown: a 15-minute interval as its local start, figures as on the
    ready-made reports."""
    if column == "interval" and isinstance(value, str):
        return _moment(datetime.fromisoformat(value), zone)
    return cell(locale, column, value)


def _local(value: str, zone: ZoneInfo, name: str, locale: PageLocale) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, locale.gettext("{field}: not a date and time").format(
            field=name)) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


@router.get("/reports/custom", response_class=HTMLResponse, include_in_schema=False)
async def custom_page(request: Request, ctx: Ctx) -> Response:
    """The builder, the saved reports, and the chosen report's table and schedules."""
    signed = await _signed_in(request, ctx, Role.SUPERVISOR)
    if isinstance(signed, Response):
        return signed
    principal, locale = signed
    zone = ZoneInfo(locale.time_zone)
    saved = [record for record in await ctx.store.custom_reports.reports()
             if visible_to(record.shared_with, record.owner, principal.username,
                           principal.roles)]
    chosen: CustomReportRecord | None = None
    raw_id = request.query_params.get("id", "")
    if raw_id.isdigit():
        try:
            chosen = await ctx.store.custom_reports.get(int(raw_id))
        except NotFound:
            chosen = None
        if chosen is not None and chosen not in saved:
            chosen = None
    error = ""
    definition: CustomDefinition | None = None
    if chosen is not None:
        try:
            definition = parse_definition(chosen.definition)
        except CustomReportError as exc:  # saved by an older version: say what to fix
            error = str(exc)
    columns: list[str] = []
    rows: list[dict[str, str]] = []
    since_text = until_text = ""
    export: dict[str, str] = {}
    schedules: list[dict[str, Any]] = []
    if chosen is not None and definition is not None:
        start, end = definition.period.resolve(ctx.clock.utcnow(), zone)
        query = request.query_params
        if query.get("from") and query.get("to"):
            try:
                start = _local(query["from"], zone, locale.gettext("From"), locale)
                end = _local(query["to"], zone, locale.gettext("To"), locale)
                period(start, end)
            except HTTPException as exc:
                error = str(exc.detail)
                start, end = definition.period.resolve(ctx.clock.utcnow(), zone)
        try:
            start, end = period(start, end)
            found = await run(definition, ctx.store.reports, start, end, zone,
                              ctx.store.reports)
        except (HTTPException, CustomReportError) as exc:
            error = str(exc.detail if isinstance(exc, HTTPException) else exc)
            found = []
        columns = definition.columns
        rows = [{column: shown(locale, column, row.get(column), zone) for column in columns}
                for row in found]
        since_text = start.astimezone(zone).strftime(INPUT_FORMAT)
        until_text = end.astimezone(zone).strftime(INPUT_FORMAT)
        api_query = f"from={start.isoformat()}&to={end.isoformat()}".replace("+", "%2B")
        export = {kind: f"/api/reports/custom/{chosen.id}.{kind}?{api_query}"
                  for kind in ("csv", "xlsx")}
        schedules = [public_schedule(record) | {"next_run": _moment(record.next_run_at, zone)}
                     for record in await ctx.store.custom_reports.schedules(chosen.id)]
    measures = {dimension: [(name, label(locale, name), DEFINITIONS.get(
        name.split(".")[0], "")) for name in names] for dimension, names in MEASURES.items()}
    values = await filter_values(ctx)
    config = {"id": chosen.id if chosen else None, "values": values,
              "labels": {name: label(locale, name) for names in MEASURES.values()
                         for name in names} | {name: label(locale, name)
                                               for name in (*DIMENSIONS, *TIME_GROUPS)},
              "strings": {"saved": locale.gettext("Saved."),
                          "deleted": locale.gettext("Deleted."),
                          "groups": locale.gettext("The groups"),
                          "filter": locale.gettext("Filter"),
                          "delete?": locale.gettext(
                              "Delete this report and its scheduled exports?")}}
    may_change = chosen is not None and (chosen.owner == principal.username
                                         or "admin" in principal.roles)
    return render(
        "reports_custom.html", locale, principal=principal, saved=saved, chosen=chosen,
        form=_form(definition, zone), dimensions=DIMENSION_NAMES, times=TIME_NAMES,
        presets=PRESET_NAMES, shares=SHARE_NAMES, measures=measures, columns=columns,
        headings={column: label(locale, column) for column in columns},
        definitions={column: DEFINITIONS.get(column.split(".")[0], "") for column in columns},
        rows=rows, since=since_text, until=until_text, time_zone=locale.time_zone,
        export=export, schedules=schedules, statuses=STATUS_NAMES, error=error,
        may_change=may_change, config=config, is_admin="admin" in principal.roles,
        every=EVERY_NAMES, weekdays=WEEKDAY_NAMES, filter_values=values)
