"""The operator's preview of a campaign contact (preview mode): the card of the contact the
dialer holds for them, and their decision: dial (one of its numbers), skip, or reschedule to a
time in the customer's zone.

Two faces over the same :class:`~parley.center.ports.CampaignControl` seam: the JSON API
(``/api/operators/me/preview``) and the desk's server-rendered fragment (``/desk/preview``),
which the desk runtime draws when the dialer shows the operator a contact (``ShowPreview``
on the ``operator`` topic of ``/api/events``). An operator acts on their own preview only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime, format_time
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from parley.center.ports import InvalidRequest, NotRunning, OperatorPreview, PreviewAction
from parley.scripts import Script
from parley.store.specs import ScriptSpec
from parley.web import schemas as s
from parley.web.auth import Agent, Ctx, WebContext
from parley.web.desk import render
from parley.web.locale import PageLocale, page_locale

router = APIRouter()

NO_PREVIEW = "no preview: the dialer shows you a contact when a preview campaign has one"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _current(ctx: WebContext, operator: str) -> OperatorPreview | None:
    try:
        return ctx.campaigns.preview_of(operator)
    except NotRunning:
        return None


def _out(ctx: WebContext, shown: OperatorPreview, operator_zone: str) -> s.PreviewOut:
    now = ctx.clock.utcnow()
    return s.PreviewOut(
        campaign=shown.campaign, contact_id=shown.contact_id, script=shown.script,
        fields=dict(shown.fields),
        numbers=[s.PreviewNumberOut(number=n.number, type=n.type, time_zone=n.time_zone,
                                    local_time=now.astimezone(_zone(n.time_zone)),
                                    proposed=n.proposed) for n in shown.numbers],
        time_zone=shown.time_zone, customer_time=now.astimezone(_zone(shown.time_zone)),
        operator_time_zone=operator_zone, operator_time=now.astimezone(_zone(operator_zone)))


# --- the API --------------------------------------------------------------------------------


@router.get("/api/operators/me/preview", response_model=s.MyPreview, tags=["operators"],
            summary="The campaign contact I am previewing now (preview: null when none)")
async def my_preview(request: Request, ctx: Ctx, principal: Agent) -> s.MyPreview:
    shown = _current(ctx, principal.username)
    if shown is None:
        return s.MyPreview(preview=None, detail=NO_PREVIEW)
    locale = await page_locale(ctx, request, principal)
    return s.MyPreview(preview=_out(ctx, shown, locale.time_zone))


@router.post("/api/operators/me/preview", response_model=s.PreviewDecided, tags=["operators"],
             responses=s.LIVE_ERRORS,
             summary="Decide on my preview: dial (a number), skip, or reschedule (at, with "
                     "its offset)")
async def decide_preview(body: s.PreviewDecisionIn, ctx: Ctx,
                         principal: Agent) -> s.PreviewDecided:
    ctx.campaigns.preview_decided(principal.username, body.contact_id, body.action,
                                  number=body.number or "", at=body.at)
    await ctx.store.audit.record(ctx.clock.utcnow(), principal.username, "preview_" +
                                 body.action, "contact", body.contact_id,
                                 {"number": body.number,
                                  "at": body.at.isoformat() if body.at else None})
    return s.PreviewDecided(contact_id=body.contact_id, action=body.action,
                            number=body.number,
                            at=body.at.astimezone(UTC) if body.at is not None else None)


# --- the desk's fragment ----------------------------------------------------------------------


async def _script(ctx: WebContext, name: str) -> Script | None:
    """The campaign's dialog script, for the operator to read before dialling (None when the
    campaign has none or it is not stored)."""
    if not name:
        return None
    spec = await ctx.store.config.get("scripts", name)
    return spec.script() if isinstance(spec, ScriptSpec) else None


async def _fragment(ctx: WebContext, locale: PageLocale, shown: OperatorPreview | None, *,
                    status_code: int = 200, done: str = "",
                    errors: dict[str, str] | None = None, at_local: str = "") -> HTMLResponse:
    values: dict[str, Any] = {"preview": None, "done": done, "errors": errors or {},
                              "at_local": at_local, "script": None}
    if shown is not None:
        values["script"] = await _script(ctx, shown.script)
        now = ctx.clock.utcnow()
        values.update(
            preview=shown, customer_zone=shown.time_zone, operator_zone=locale.time_zone,
            customer_time=_in_zone(locale, now, shown.time_zone),
            operator_time=_in_zone(locale, now, locale.time_zone),
            min_local=now.astimezone(_zone(shown.time_zone)).strftime("%Y-%m-%dT%H:%M"),
            number_times={n.number: _in_zone(locale, now, n.time_zone)
                          for n in shown.numbers})
    return render("desk_preview.html", locale, status_code, **values)


def _in_zone(locale: PageLocale, moment: datetime, zone: str, *, day: bool = False) -> str:
    """``moment`` as the clock shows it in ``zone`` (the customer's or the operator's)."""
    if day:
        return format_datetime(moment, "short", tzinfo=_zone(zone), locale=locale.locale)
    return format_time(moment, "short", tzinfo=_zone(zone), locale=locale.locale)


@router.get("/desk/preview", response_class=HTMLResponse, include_in_schema=False)
async def preview_fragment(request: Request, ctx: Ctx, principal: Agent) -> HTMLResponse:
    """The preview card (or nothing to preview) for the desk's Preview region."""
    locale = await page_locale(ctx, request, principal)
    return await _fragment(ctx, locale, _current(ctx, principal.username))


@router.post("/desk/preview", response_class=HTMLResponse, include_in_schema=False)
async def preview_form(request: Request, ctx: Ctx, principal: Agent) -> HTMLResponse:
    """The card's buttons: Dial (a number), Skip, Reschedule (``at_local``: a date and time in
    the customer's zone). The card again, with the error next to the field at fault."""
    locale = await page_locale(ctx, request, principal)
    form = await request.form()

    def text(name: str, limit: int) -> str:
        value = form.get(name)
        return value.strip()[:limit] if isinstance(value, str) else ""

    contact_id, action = text("contact_id", 128), text("action", 16)
    number, at_local = text("number", 40), text("at_local", 32)
    shown = _current(ctx, principal.username)
    if shown is None or shown.contact_id != contact_id:
        return await _fragment(ctx, locale, shown, status_code=409,
                         errors={"form": locale.gettext(
                             "This preview is no longer yours: the dialer withdrew it.")})
    at: datetime | None = None
    if action == "reschedule":
        try:
            at = datetime.fromisoformat(at_local).replace(tzinfo=_zone(shown.time_zone))
        except ValueError:
            return await _fragment(ctx, locale, shown, status_code=422, at_local=at_local,
                             errors={"at": locale.gettext(
                                 "Choose the date and time to call again.")})
        if at <= ctx.clock.utcnow():
            return await _fragment(ctx, locale, shown, status_code=422, at_local=at_local,
                             errors={"at": locale.gettext(
                                 "That time has passed: choose a later one.")})
    chosen: PreviewAction = ("dial" if action == "dial" else
                             "reschedule" if action == "reschedule" else "skip")
    try:
        ctx.campaigns.preview_decided(principal.username, contact_id, chosen, number=number,
                                      at=at)
    except (InvalidRequest, NotRunning) as exc:
        field = str(exc).partition(":")[0]
        return await _fragment(ctx, locale, shown, status_code=422, at_local=at_local,
                         errors={field if field in ("at", "number") else "form": str(exc)})
    await ctx.store.audit.record(ctx.clock.utcnow(), principal.username, "preview_" + chosen,
                                 "contact", contact_id,
                                 {"number": number, "at": at.isoformat() if at else None})
    if chosen == "dial":
        done = locale.gettext("Dialling {number}…").format(
            number=number or next((n.number for n in shown.numbers if n.proposed), ""))
    elif at is not None:
        done = locale.gettext("Rescheduled: {customer} the customer's time ({zone}), "
                              "{mine} yours.").format(
                                  customer=_in_zone(locale, at, shown.time_zone, day=True),
                                  zone=shown.time_zone,
                                  mine=_in_zone(locale, at, locale.time_zone, day=True))
    else:
        done = locale.gettext("Skipped.")
    return await _fragment(ctx, locale, None, done=done)
