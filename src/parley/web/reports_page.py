"""The reports page (``/reports``): one ready-made report over a period as a table, each
column's definition beside it, a bar chart of one figure per row, and the same rows as CSV.

The rows are the API's (:mod:`parley.reports.tables`, the same builders as
``/api/reports/{name}``), built here for the period the form names. The form's times are the
site's time zone; the shortcuts (today, yesterday, this week) are that zone's days. The page's
script (static/reports/reports.js) only draws the chart of the figure chosen; the table works
without it. Supervisors and admins, like the console.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_percent
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from parley.kpi import DEFINITIONS
from parley.reports.abandon_windows import DENOMINATORS
from parley.reports.drill import intervals
from parley.reports.tables import BUILDERS, flat
from parley.store.specs import Role
from parley.web.auth import Ctx, WebContext
from parley.web.desk import render
from parley.web.locale import PageLocale
from parley.web.report_drill_routes import (
    TOTAL,
    abandoned,
    drill_url,
    working_time_lines,
    working_time_report,
)
from parley.web.reports_routes import period, window_report
from parley.web.supervisor import _signed_in

router = APIRouter()

#: The reports the page offers, with their names as shown.
KINDS = {"queues": "Queues", "operators": "Operators", "teams": "Teams", "trunks": "Trunks",
         "campaigns": "Campaigns", "results": "Result codes", "intervals": "Intervals",
         "working_time": "Working time", "abandoned": "Abandoned calls and callbacks"}
SHORTCUTS = ("today", "yesterday", "week")
#: Figures that are shares (shown as percentages).
RATES = {"service_level", "service_level_offered", "abandon_rate", "occupancy", "utilisation",
         "contact_rate", "outbound_abandon_rate"}
#: Column headings (the figure's name stays in the CSV and the definitions).
LABELS = {
    "queue": "Queue", "interval": "Interval", "operator": "Operator", "team": "Team",
    "trunk": "Trunk",
    "campaign": "Campaign", "result": "Result code", "offered": "Offered",
    "answered": "Answered", "abandoned": "Abandoned", "abandoned_short": "Short abandons",
    "service_level": "Service level", "abandon_rate": "Abandon rate", "asa_s": "ASA, s",
    "aht_s": "AHT, s", "talk_s": "Talk, s", "transfers": "Transfers", "calls": "Calls",
    "operators": "Operators", "attempts": "Attempts", "contact_rate": "Contact rate",
    "occupancy": "Occupancy", "utilisation": "Utilisation", "logged_in_s": "Signed in, s",
    "answered_within": "Answered within T",
    "abandoned_within": "Abandoned within T",
    "overflowed": "Overflowed",
    "service_level_offered": "Service level (offered)",
    "callbacks_requested": "Callbacks requested",
    "callbacks_completed": "Callbacks completed",
    "duration_s": "Duration, s",
    "inbound": "Inbound",
    "outbound": "Outbound",
    "erlangs": "Erlangs",
    "live_answers": "Live answers",
    "machines": "Answering machines",
    "outbound_abandon_rate": "Outbound abandon rate",
    "call": "Call", "started_at": "Started", "caller": "Caller", "wait_s": "Wait, s",
    "callback_requested": "Callback requested", "reached": "Reached again",
    "reached_at": "Reached at", "reached_by": "Reached by", "reached_call": "By call",
    "delay_s": "Delay, s", "location": "Location", "ready_s": "Ready, s",
    "on_calls_s": "On calls, s", "wrap_up_s": "Wrap-up, s", "not_ready_s": "Not ready, s",
}
#: The abandoned calls report's moments, shown in the site's time zone.
MOMENTS = ("started_at", "reached_at")
INPUT_FORMAT = "%Y-%m-%dT%H:%M"


def shortcut(name: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Today, yesterday or this week (from Monday) as days of the site's time zone."""
    today = datetime.combine(now.astimezone(zone).date(), time(), zone)
    if name == "yesterday":
        return today - timedelta(days=1), today
    if name == "week":
        return today - timedelta(days=today.weekday()), today + timedelta(days=1)
    return today, today + timedelta(days=1)


def _local(value: str, zone: ZoneInfo, field: str, locale: PageLocale) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, locale.gettext("{field}: not a date and time").format(
            field=field)) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


WINDOW_TEXT = ("Abandoned: a person answered and no operator took the call within {grace} s "
               "(the compliance message played), or the person hung up before that. Rate: "
               "abandoned / {denominator} (definition '{definition}'), per {window} window, "
               "capped at {cap}. Windows start at midnight ({time_zone}) of the day of the "
               "campaign's first call.")


def _share(locale: PageLocale, value: float) -> str:
    """A rate next to its cap: to a tenth of a percent where it has one (2.5%, not 3%)."""
    return format_percent(value, "#,##0.##%", locale=locale.locale)


def _window_time(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")


async def abandon_windows_view(ctx: WebContext, locale: PageLocale, since: datetime,
                               until: datetime) -> dict[str, Any]:
    """The campaigns' regulatory windows as the page shows them: each campaign's rule in
    words with its current rolling window, and one line per window (its local times)."""
    try:
        found = await window_report(ctx, since, until)
    except HTTPException as exc:  # too many windows for the period: said in the section
        return {"rules": [], "rows": [], "chart": None, "error": str(exc.detail)}
    rules = []
    for rule in found["campaigns"]:
        current = rule["current"]
        rules.append({
            "campaign": rule["campaign"], "over_cap": current["over_cap"],
            "text": locale.gettext(WINDOW_TEXT).format(
                grace=locale.number(rule["grace_s"]),
                denominator=locale.gettext(DENOMINATORS[rule["definition"]]),
                definition=rule["definition"], window=rule["window"],
                cap=_share(locale, rule["cap"]), time_zone=rule["time_zone"]),
            "current": locale.gettext("The last {window}: {rate} ({abandoned} of {of})")
            .format(window=rule["window"], rate=_share(locale, current["abandon_rate"]),
                    abandoned=locale.number(current["abandoned"]),
                    of=locale.number(current["denominator"]))})
    lines = [{"campaign": row["campaign"],
              "window": f"{_window_time(row['window_start'])} – "
                        f"{_window_time(row['window_end'])}",
              "attempts": locale.number(row["attempts"]),
              "live_answers": locale.number(row["live_answers"]),
              "machines": locale.number(row["machines"]),
              "abandoned": locale.number(row["abandoned"]),
              "denominator": locale.number(row["denominator"]),
              "abandon_rate": _share(locale, row["abandon_rate"]),
              "cap": _share(locale, row["cap"]), "over_cap": row["over_cap"],
              "complete": row["complete"]} for row in found["rows"]]
    chart = {"labels": [f"{row['campaign']} {row['window_start'][:10]}"
                        for row in found["rows"]],
             "rates": [row["abandon_rate"] for row in found["rows"]],
             "caps": [row["cap"] for row in found["rows"]]}
    return {"rules": rules, "rows": lines, "chart": chart, "error": ""}


def cell(locale: PageLocale, column: str, value: Any) -> str:
    """One figure as shown: shares as percentages, numbers in the viewer's format."""
    if isinstance(value, bool):
        return locale.gettext("yes" if value else "no")
    if not isinstance(value, int | float):
        return "–" if value is None else str(value)
    if column in RATES:
        return locale.percent(value)
    return locale.number(value)


@router.get("/reports", response_class=HTMLResponse, include_in_schema=False)
async def reports_page(request: Request, ctx: Ctx) -> Response:
    """A report over a period: table, definitions, chart and CSV export."""
    signed = await _signed_in(request, ctx, Role.SUPERVISOR)
    if isinstance(signed, Response):
        return signed
    principal, locale = signed
    zone = ZoneInfo(locale.time_zone)
    query = request.query_params
    kind = query.get("report", "queues")
    if kind not in KINDS:
        kind = "queues"
    chosen = query.get("period", "")
    error = ""
    if chosen in SHORTCUTS or not (query.get("from") and query.get("to")):
        since, until = shortcut(chosen or "today", ctx.clock.utcnow(), zone)
    else:
        try:
            since = _local(query["from"], zone, locale.gettext("From"), locale)
            until = _local(query["to"], zone, locale.gettext("To"), locale)
            period(since, until)
        except HTTPException as exc:
            error = str(exc.detail)
            since, until = shortcut("today", ctx.clock.utcnow(), zone)
    start, end = period(since, until)
    if kind == "abandoned":
        columns, rows = flat(await abandoned(ctx, principal, start, end))
        for row in rows:
            for moment in MOMENTS:
                if row.get(moment):
                    row[moment] = datetime.fromisoformat(row[moment]).astimezone(
                        zone).strftime("%Y-%m-%d %H:%M:%S")
    elif kind == "working_time":
        columns, rows = flat(working_time_lines(
            await working_time_report(ctx, principal, start, end)))
        # the states are already the columns ready, on calls, wrap-up and not ready
        columns = [column for column in columns if not column.startswith("state_s.")]
        for row in rows:  # a location's line is named by it on the page (and in the chart)
            if row["operator"] == TOTAL and row["location"] != TOTAL:
                row["operator"] = f"{TOTAL} {row['location']}"
    else:
        columns, rows = flat(await intervals(ctx.store.report_rows, start, end)
                             if kind == "intervals" else
                             await BUILDERS[kind](ctx.store.reports, start, end))
    key = columns[0] if columns else ""
    links = [{column: drill_url(kind, str(row.get(key)), column, start, end)
              for column in columns[1:] if row.get(column)} for row in rows]
    if kind == "intervals":  # an interval by its start in the site's time zone
        for row in rows:
            row[key] = datetime.fromisoformat(row[key]).astimezone(zone).strftime(
                "%Y-%m-%d %H:%M")
    measures = [column for column in columns[1:]
                if all(isinstance(row.get(column), int | float)
                       and not isinstance(row.get(column), bool) for row in rows)]
    headings = {column: locale.gettext(LABELS[column]) if column in LABELS else column
                for column in columns}
    definitions = {column: DEFINITIONS.get(column.split(".")[0], "") for column in columns}
    shown = [{column: cell(locale, column, row.get(column)) for column in columns}
             for row in rows]
    api_query = f"from={start.isoformat()}&to={end.isoformat()}".replace("+", "%2B")
    windows = await abandon_windows_view(ctx, locale, start, end) \
        if kind == "campaigns" else None
    config = {"rows": [{"key": row.get(key), **{m: row.get(m) for m in measures}}
                       for row in rows],
              "headings": {m: headings[m] for m in measures},
              "windows": windows["chart"] if windows else None,
              "strings": {"chart": locale.gettext("{measure} per row"),
                          "rate": locale.gettext("Abandon rate"),
                          "cap": locale.gettext("Cap"),
                          "windows": locale.gettext("Abandon rate per window, and the cap")}}
    return render("reports.html", locale, principal=principal, kind=kind, kinds=KINDS,
                  since=since.astimezone(zone).strftime(INPUT_FORMAT),
                  until=until.astimezone(zone).strftime(INPUT_FORMAT),
                  time_zone=locale.time_zone, columns=columns, headings=headings,
                  definitions=definitions, rows=shown, measures=measures,
                  default_measure=next((m for m in ("offered", "answered", "calls",
                                                    "attempts") if m in measures),
                                       measures[0] if measures else ""),
                  csv_url=f"/api/reports/{kind}.csv?{api_query}", config=config,
                  error=error, key=key, links=links, windows=windows,
                  windows_url=f"/api/reports/campaigns/windows?{api_query}")
