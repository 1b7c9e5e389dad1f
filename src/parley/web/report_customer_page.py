"""The call history of one customer, as a page (``/reports/customer``): a form for a number
(as typed) or a customer's id and an optional period, then one line a call, newest first
(time, direction, number, queue or campaign, operator, outcome, result code, wait, talk,
transfers). Choosing a call shows its timeline and plays its recordings below the list, as
the calls behind a figure do. The same answer as ``/api/reports/customer``, scoped to the
supervisor's teams. Supervisors and admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from parley.store.specs import Role
from parley.web.auth import Ctx
from parley.web.desk import render
from parley.web.locale import PageLocale
from parley.web.report_customer_routes import history
from parley.web.report_drill_page import _call_detail
from parley.web.supervisor import _signed_in

router = APIRouter()

FIELDS = ("number", "customer", "from", "to")


def _seconds(locale: PageLocale, value: float | None) -> str:
    return "–" if value is None else locale.number(round(value, 1))


def _moment(text: str, zone: ZoneInfo) -> datetime | None:
    """A form's date and time (the site's zone unless it names its offset); None if empty."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


@router.get("/reports/customer", response_class=HTMLResponse, include_in_schema=False)
async def customer_page(request: Request, ctx: Ctx) -> Response:
    """The form, and when it names a number or a customer, their calls."""
    signed = await _signed_in(request, ctx, Role.SUPERVISOR)
    if isinstance(signed, Response):
        return signed
    principal, locale = signed
    query = request.query_params
    form = {name: query.get(name, "") for name in FIELDS}
    zone = ZoneInfo(locale.time_zone)
    error = ""
    answer: dict[str, Any] | None = None
    if form["number"] or form["customer"]:
        try:
            since, until = _moment(form["from"], zone), _moment(form["to"], zone)
            answer = await history(ctx, principal, form["number"] or None,
                                   form["customer"] or None, since, until)
        except ValueError:
            error = locale.gettext("{field}: not a date and time").format(field="from, to")
        except HTTPException as exc:
            error = str(exc.detail)
    base = {name: value for name, value in form.items() if value}
    directions = {"inbound": locale.gettext("inbound"),
                  "outbound": locale.gettext("outbound")}
    lines = []
    for call in (answer or {}).get("calls", []):
        link = f"/reports/customer?{urlencode({**base, 'call': call['id']})}#call" \
            if call["id"] else ""
        lines.append({
            "id": call["id"] or call["attempt"], "link": link,
            "when": locale.moment(datetime.fromisoformat(call["started_at"]), "short"),
            "direction": directions.get(call["direction"], call["direction"]),
            "number": call["number"],
            "where": call["queue"] or call["campaign"] or "",
            "operator": call["operator"] or "", "outcome": call["outcome"] or "",
            "result": call["result"] or "", "wait": _seconds(locale, call["wait_s"]),
            "talk": _seconds(locale, call["talk_s"]), "transfers": call["transfers"],
            "recorded": bool(call["recordings"])})
    chosen = query.get("call", "")
    detail = None
    if answer and chosen and any(call["id"] == chosen for call in answer["calls"]):
        detail = await _call_detail(ctx, locale, chosen)
    csv_link = "/api/reports/customer.csv?" + urlencode(
        {**{k: v for k, v in base.items() if k in ("number", "customer")},
         "from": answer["from"], "to": answer["to"]}) if answer else ""
    return render("reports_customer.html", locale, principal=principal, form=form,
                  answer=answer, lines=lines, detail=detail, error=error, csv_link=csv_link,
                  time_zone=locale.time_zone)
