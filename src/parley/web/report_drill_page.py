"""The calls behind a report's figure, as a page (``/reports/calls``): the reports page links
each count to it. One line a call (time, caller, queue, operator, outcome, wait, talk,
duration); choosing a call shows its timeline and plays its recordings below the list (the
call record's and the recordings' own routes, as the desk's history plays them). The same
answer as ``/api/reports/calls``, scoped to the supervisor's teams. Supervisors and admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from parley.store import NotFound
from parley.store.specs import Role
from parley.web.auth import Ctx
from parley.web.desk import render
from parley.web.locale import PageLocale
from parley.web.report_drill_routes import drill
from parley.web.reports_page import LABELS
from parley.web.supervisor import _signed_in

router = APIRouter()


def _seconds(locale: PageLocale, value: float | None) -> str:
    return "–" if value is None else locale.number(round(value, 1))


async def _call_detail(ctx: Ctx, locale: PageLocale, call_id: str) -> dict[str, Any] | None:
    """The chosen call's timeline (each entry at its time, in the site's zone) and
    recordings."""
    try:
        record = await ctx.store.interactions.get(call_id)
    except NotFound:
        return None
    recordings = (await ctx.store.recordings.of_interactions([call_id])).get(call_id, ())
    return {"id": record.id, "caller": record.caller, "called": record.called,
            "timeline": [{"at": locale.time(entry.at, "medium"), "kind": entry.kind,
                          "detail": ", ".join(f"{k}: {v}" for k, v in entry.detail.items())}
                         for entry in record.timeline],
            "recordings": [{"id": rec.id, "length": locale.number(round(rec.duration_s, 1))}
                           for rec in recordings]}


@router.get("/reports/calls", response_class=HTMLResponse, include_in_schema=False)
async def calls_page(request: Request, ctx: Ctx) -> Response:
    """The calls behind one figure of a report row; a chosen call's timeline and recording."""
    signed = await _signed_in(request, ctx, Role.SUPERVISOR)
    if isinstance(signed, Response):
        return signed
    principal, locale = signed
    query = request.query_params
    report, key, measure = (query.get("report", ""), query.get("key", ""),
                            query.get("measure", ""))
    error = ""
    answer: dict[str, Any] = {"calls": [], "total": 0, "outside_scope": 0}
    try:
        since = datetime.fromisoformat(query.get("from", ""))
        until = datetime.fromisoformat(query.get("to", ""))
        answer = await drill(ctx, principal, report, key, measure, since, until,
                             query.get("queue") or None)
    except ValueError:
        error = locale.gettext("{field}: not a date and time").format(field="from, to")
    except HTTPException as exc:
        error = str(exc.detail)
    zone = ZoneInfo(locale.time_zone)
    base = {name: query[name] for name in ("report", "key", "measure", "from", "to", "queue")
            if query.get(name)}
    lines = [{"id": call["id"],
              "when": locale.moment(datetime.fromisoformat(call["started_at"]), "short"),
              "caller": call["caller"], "queue": call["queue"] or "",
              "operator": call["operator"] or "", "outcome": call["outcome"] or "",
              "wait": _seconds(locale, call["wait_s"]), "talk": _seconds(locale, call["talk_s"]),
              "duration": _seconds(locale, call["duration_s"]),
              "transfers": call["transfers"],
              "link": f"/reports/calls?{urlencode({**base, 'call': call['id']})}#call"}
             for call in answer["calls"]]
    chosen = query.get("call", "")
    detail = None
    if chosen and any(call["id"] == chosen for call in answer["calls"]):
        detail = await _call_detail(ctx, locale, chosen)
    key_shown = key
    if report == "intervals" and key:
        try:
            key_shown = datetime.fromisoformat(key).astimezone(zone).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            key_shown = key
    title = locale.gettext("{figure} · {key}").format(
        figure=locale.gettext(LABELS.get(measure, measure)), key=key_shown)
    back = "/reports?" + urlencode({"report": report, "from": query.get("from", ""),
                                    "to": query.get("to", "")})
    return render("reports_calls.html", locale, principal=principal, title=title,
                  lines=lines, total=answer["total"], outside=answer["outside_scope"],
                  detail=detail, error=error, back=back, time_zone=locale.time_zone)
