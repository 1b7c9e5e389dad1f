"""The wrap-up of a call: its dialog script's answers, the result code, notes and a callback
time (docs/scripts.md), and the script form as a page for admins to try a script.

Which script and which result codes a call gets: the interaction's own variables first
(``script``, ``result_codes``: a campaign's calls carry them), then its campaign's, then its
queue's; with no list named, the built-in codes (one per disposition). The form partial
(``templates/script_form.html``) is the desk's; ``/desk/script-preview/{name}`` shows it
alone.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, date
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from parley.center.ports import InvalidRequest, LiveError
from parley.dialer.contacts import number_time_zones
from parley.errors import ParleyError
from parley.events import CallbackRequested, WrapUpDone, WrapupSaved
from parley.numbering import to_e164
from parley.qa.service import score_call
from parley.scripts import Condition, Script, evaluate
from parley.store import NotFound
from parley.store.records import (
    AnswerRecord,
    CallbackRecord,
    InteractionRecord,
    Principal,
    ScriptDraftRecord,
    WrapupRecord,
)
from parley.store.specs import (
    DEFAULT_RESULT_CODES,
    KINDS,
    QueueSpec,
    ResultCode,
    ResultCodesSpec,
    Role,
    ScriptSpec,
    UserSpec,
)
from parley.web.auth import Admin, Agent, Ctx, WebContext, has_role
from parley.web.config_routes import site_ranges
from parley.web.locale import PageLocale, page_language

log = structlog.get_logger(__name__)
router = APIRouter()

STATIC_PREFIX = "/static/parley"
templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]),
                        extensions=["jinja2.ext.i18n"])


class WrapupRequest(BaseModel):
    """What the operator sends with ``Save and close``."""

    model_config = ConfigDict(extra="forbid")
    answers: dict[str, Any] = Field(default_factory=dict)
    result: Annotated[str, Field(min_length=1, max_length=64)]
    notes: Annotated[str, Field(max_length=4000)] = ""
    callback_at: AwareDatetime | None = None


class DraftRequest(BaseModel):
    """The script answers and notes a call is handed on with (nothing required yet)."""

    model_config = ConfigDict(extra="forbid")
    answers: dict[str, Any] = Field(default_factory=dict)
    notes: Annotated[str, Field(max_length=4000)] = ""


class AnswerOut(BaseModel):
    block: str
    field: str
    type: str
    value: str | float | date


class WrapupOut(BaseModel):
    """A stored wrap-up: ``answers`` as the form sends them, ``rows`` typed per answer."""

    interaction_id: str
    script: str | None
    result: str
    disposition: str
    notes: str
    callback_at: AwareDatetime | None
    answers: dict[str, Any]
    saved_by: str
    saved_at: AwareDatetime
    saves: int
    rows: list[AnswerOut]


class WrapupFormOut(BaseModel):
    """What closing this call takes: its script (None: none), the result codes to choose
    from, and the wrap-up saved so far (None: not yet)."""

    script: ScriptSpec | None
    result_codes: list[ResultCode]
    saved: WrapupOut | None


def _out(record: WrapupRecord) -> WrapupOut:
    return WrapupOut(
        interaction_id=record.interaction_id, script=record.script, result=record.result,
        disposition=record.disposition, notes=record.notes, callback_at=record.callback_at,
        answers=record.answers, saved_by=record.saved_by, saved_at=record.saved_at,
        saves=record.saves,
        rows=[AnswerOut(block=r.block, field=r.field, type=r.type, value=r.value)
              for r in record.rows])


async def _call_of(ctx: WebContext, interaction_id: str,
                   principal: Principal) -> InteractionRecord:
    """The interaction, if ``principal`` may close it: its operator, or a supervisor."""
    record = await ctx.store.interactions.get(interaction_id)
    if record.operator != principal.username and not has_role(principal, Role.SUPERVISOR):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no interaction {interaction_id!r}")
    return record


async def closing_of(ctx: WebContext, record: InteractionRecord
                     ) -> tuple[ScriptSpec | None, list[ResultCode]]:
    """The script and result codes of a call (see the module's docstring for the order)."""
    script_name = record.variables.get("script")
    codes_name = record.variables.get("result_codes")
    campaign = record.variables.get("campaign")
    if isinstance(campaign, str) and "campaigns" in KINDS:
        spec = await ctx.store.config.get("campaigns", campaign)
        script_name = script_name or getattr(spec, "script", None)
        codes_name = codes_name or getattr(spec, "result_codes", None)
    if record.queue:
        queue = await ctx.store.config.get("queues", record.queue)
        if isinstance(queue, QueueSpec):
            script_name = script_name or queue.script
            codes_name = codes_name or queue.result_codes
    script = None
    if isinstance(script_name, str) and script_name:
        found = await ctx.store.config.get("scripts", script_name)
        script = found if isinstance(found, ScriptSpec) else None
    codes = list(DEFAULT_RESULT_CODES)
    if isinstance(codes_name, str) and codes_name:
        listed = await ctx.store.config.get("result_codes", codes_name)
        if isinstance(listed, ResultCodesSpec):
            codes = listed.codes
    return script, codes


def _issue(field: str, code: str, message: str, block: str | None = None,
           where: str = "answers") -> dict[str, Any]:
    loc: list[str] = ["body", where, field] if where == "answers" else ["body", field]
    return {"loc": loc, "msg": f"{field}: {message}", "type": code, "field": field,
            "block": block}


@router.get("/api/interactions/{interaction_id}/wrapup", response_model=WrapupFormOut,
            tags=["call records"],
            summary="What closing a call takes: its script, result codes and the wrap-up "
                    "saved so far (operators: their own calls)")
async def wrapup_form(interaction_id: str, ctx: Ctx, principal: Agent) -> WrapupFormOut:
    record = await _call_of(ctx, interaction_id, principal)
    script, codes = await closing_of(ctx, record)
    saved = await ctx.store.wrapups.find(interaction_id)
    return WrapupFormOut(script=script, result_codes=codes,
                         saved=None if saved is None else _out(saved))


@router.post("/api/interactions/{interaction_id}/wrapup", response_model=WrapupOut,
             tags=["call records"],
             summary="Close a call: script answers, result code, notes, callback time "
                     "(a later save replaces an earlier one)",
             responses={422: {"description": "each missing or wrong field, named"}})
async def save_wrapup(interaction_id: str, body: WrapupRequest, ctx: Ctx,
                      principal: Agent) -> WrapupOut | JSONResponse:
    record = await _call_of(ctx, interaction_id, principal)
    spec, codes = await closing_of(ctx, record)
    issues: list[dict[str, Any]] = []
    rows: list[AnswerRecord] = []
    answers: dict[str, Any] = {}
    if spec is None:
        issues += [_issue(name, "unknown-field", "this call has no script")
                   for name in body.answers]
    else:
        script = spec.script()
        evaluation = evaluate(script, body.answers)
        issues += [_issue(i.field or "?", i.code, i.message, i.block)
                   for i in evaluation.issues]
        rows = _rows(script, evaluation.answers)
        answers = {name: value.isoformat() if isinstance(value, date) else value
                   for name, value in evaluation.answers.items()}
    chosen = next((code for code in codes if code.code == body.result), None)
    if chosen is None:
        issues.append(_issue("result", "not-an-option", "must be one of: "
                             + ", ".join(code.code for code in codes), where="body"))
    elif chosen.disposition == "callback" and body.callback_at is None:
        issues.append(_issue("callback_at", "required",
                             "a callback result needs the time to call back", where="body"))
    elif chosen.disposition != "callback" and body.callback_at is not None:
        issues.append(_issue("callback_at", "not-used",
                             "only a callback result takes a time", where="body"))
    if issues or chosen is None:
        return JSONResponse({"detail": issues}, status_code=422)
    saved = await ctx.store.wrapups.save(WrapupRecord(
        interaction_id=record.id, script=None if spec is None else spec.name,
        result=chosen.code, disposition=str(chosen.disposition), notes=body.notes.strip(),
        callback_at=None if body.callback_at is None else body.callback_at.astimezone(UTC),
        answers=answers, saved_by=principal.username, saved_at=ctx.clock.utcnow(),
        rows=tuple(rows)))
    try:  # the call's automatic quality scores follow its answers (docs/quality.md)
        await score_call(ctx.store, saved.interaction_id, ctx.clock.utcnow())
    except ParleyError as exc:  # the wrap-up stands; the scores can be recomputed
        log.warning("quality_not_scored", interaction=saved.interaction_id, reason=str(exc))
    ctx.bus.publish(WrapupSaved(
        saved.interaction_id, saved.result, saved.disposition, saved.saved_by,
        operator=record.operator or "", queue=record.queue or "", script=saved.script or "",
        callback_at=saved.callback_at, saves=saved.saves))
    if principal.username == record.operator and saved.saves == 1:
        # a campaign conversation: the result tells the dialer what comes next for the contact
        # (first save only: the dialer acts on it at once, a correction is the store's)
        campaign = False
        try:
            campaign = ctx.campaigns.conversation_closed(
                record.id, operator=principal.username, disposition=saved.disposition,
                callback_at=saved.callback_at)
        except InvalidRequest as exc:  # stored all the same: the contact is left as it was
            campaign = True
            log.warning("disposition_refused", interaction=record.id, reason=str(exc))
        if not campaign and saved.callback_at is not None:
            await _schedule_callback(ctx, record, saved, principal)
    if principal.username == record.operator:  # "Save and close" ends the after-call work
        with contextlib.suppress(LiveError):  # not in wrap-up (any more), or no ACD here
            await ctx.center.operator_event(WrapUpDone(principal.username))
    return _out(saved)


@router.put("/api/interactions/{interaction_id}/wrapup/draft", status_code=204,
            tags=["call records"],
            summary="Keep the script answers and notes so far, for the operator the call is "
                    "handed to (a transfer or consultation; the wrap-up closes the call)",
            responses={422: {"description": "each answer the script does not accept, named"}})
async def save_draft(interaction_id: str, body: DraftRequest, ctx: Ctx,
                     principal: Agent) -> Response:
    record = await _call_of(ctx, interaction_id, principal)
    spec, _codes = await closing_of(ctx, record)
    answers: dict[str, Any] = {}
    if spec is not None:
        evaluation = evaluate(spec.script(), body.answers)
        wrong = [_issue(i.field or "?", i.code, i.message, i.block)
                 for i in evaluation.issues if i.code != "required"]
        if wrong:
            return JSONResponse({"detail": wrong}, status_code=422)
        answers = {name: value.isoformat() if isinstance(value, date) else value
                   for name, value in evaluation.answers.items()}
    elif body.answers:
        return JSONResponse({"detail": [_issue(name, "unknown-field", "this call has no script")
                                        for name in body.answers]}, status_code=422)
    await ctx.store.wrapups.save_draft(ScriptDraftRecord(
        record.id, answers, body.notes.strip(), principal.username, ctx.clock.utcnow()))
    return Response(status_code=204)


def _rows(script: Script, answers: dict[str, Any]) -> list[AnswerRecord]:
    rows: list[AnswerRecord] = []
    for block in script.blocks:
        for item in block.fields:
            value = answers.get(item.id)
            if value is None:
                continue
            values = value if isinstance(value, list) else [value]
            rows += [AnswerRecord(script.name, block.id, item.id, item.type.value, one)
                     for one in values]
    return rows


# --- the form ---------------------------------------------------------------------------------


async def _schedule_callback(ctx: WebContext, record: InteractionRecord, saved: WrapupRecord,
                             principal: Principal) -> None:
    """A callback result on a call that is no campaign's: the customer goes on the queue's
    callback list at the chosen time (the ACD rings an operator, then the customer)."""
    number = record.caller if record.direction == "inbound" else record.called
    if not record.queue or to_e164(number, None) is None:
        log.warning("callback_not_scheduled", interaction=record.id, number=number,
                    queue=record.queue, reason="no queue or no phone number to call")
        return
    assert saved.callback_at is not None  # noqa: S101 - checked by the caller
    callback = CallbackRecord(id=uuid.uuid4().hex, number=number, queue=record.queue,
                              requested_at=ctx.clock.utcnow(), due_at=saved.callback_at,
                              status="pending", attempts=0, requested_by=principal.username,
                              note=saved.notes, interaction_id=record.id)
    try:
        await ctx.store.callbacks.request(callback)
    except NotFound as exc:
        log.warning("callback_not_scheduled", interaction=record.id, reason=str(exc))
        return
    ctx.bus.publish(CallbackRequested(callback.id, callback.queue, callback.number,
                                      callback.due_at, principal.username))


async def customer_zone(ctx: WebContext, record: InteractionRecord) -> str:
    """The customer's time zone for scheduling: their number's zone by the site's number-range
    table, else the one zone the number has (a fixed line, or a country with one zone), else
    the site's (the same rule as the dialer's contact loads)."""
    site = await ctx.store.config.site()
    number = record.caller if record.direction == "inbound" else record.called
    e164 = to_e164(number, site.default_region)
    if e164 is None:
        return site.time_zone
    return number_time_zones(e164, None, site.time_zone, await site_ranges(ctx))[0]


def condition_data(condition: Condition | None) -> dict[str, Any] | None:
    """A ``show_if`` as the form's script reads it (``data-show-if``)."""
    if condition is None:
        return None
    data: dict[str, Any] = {"field": condition.field}
    if condition.answered is not None:
        data["answered"] = condition.answered
    elif condition.includes is not None:
        data["includes"] = condition.includes
    elif condition.one_of:
        data["one_of"] = list(condition.one_of)
    else:
        data["equals"] = condition.equals
    return data


def result_choices(codes: list[ResultCode], locale: PageLocale) -> list[dict[str, str]]:
    """The result codes for the ``Result`` select; the built-in codes' labels translated."""
    return [{"code": code.code, "disposition": str(code.disposition),
             "label": locale.gettext(code.label) if code in DEFAULT_RESULT_CODES
             else code.label} for code in codes]


def render_script_form(script: Script | None, codes: list[ResultCode], locale: PageLocale, *,
                       interaction_id: str = "",
                       saved: WrapupRecord | ScriptDraftRecord | None = None,
                       customer_zone: str = "") -> str:
    """The script form partial (for the desk to place in its page); ``customer_zone``: the
    zone a callback time is written in (none: the operator's own)."""
    template = templates.get_template("script_form.html")
    return template.render(script=script, results=result_choices(codes, locale),
                           interaction_id=interaction_id, saved=saved, show_if=condition_data,
                           customer_zone=customer_zone, **_i18n(locale))


def _i18n(locale: PageLocale) -> dict[str, Any]:
    return {"_": locale.gettext, "gettext": locale.gettext, "lang": locale.language}


async def _viewer_locale(ctx: WebContext, principal: Principal,
                         lang: str | None) -> PageLocale:
    user = await ctx.store.config.get("users", principal.username)
    own = user.language if isinstance(user, UserSpec) else None
    return PageLocale(page_language(lang or own))


@router.get("/desk/script/{interaction_id}", response_class=HTMLResponse,
            include_in_schema=False)
async def script_fragment(interaction_id: str, ctx: Ctx, principal: Agent,
                          lang: Annotated[str | None, Query(max_length=8)] = None
                          ) -> HTMLResponse:
    """The script form of one call, as a fragment for the desk to swap in (htmx) when the
    call arrives; the desk's runtime then attaches ``ScriptForm`` to ``#script-form``."""
    record = await _call_of(ctx, interaction_id, principal)
    spec, codes = await closing_of(ctx, record)
    saved: WrapupRecord | ScriptDraftRecord | None = await ctx.store.wrapups.find(interaction_id)
    if saved is None:  # handed on before anyone closed it: the answers so far
        saved = await ctx.store.wrapups.find_draft(interaction_id)
    form = render_script_form(None if spec is None else spec.script(), codes,
                              await _viewer_locale(ctx, principal, lang),
                              interaction_id=interaction_id, saved=saved,
                              customer_zone=await customer_zone(ctx, record))
    return HTMLResponse(form, headers={"Cache-Control": "no-store"})


@router.get("/desk/script-preview/{name}", response_class=HTMLResponse,
            include_in_schema=False)
async def script_preview(name: str, request: Request, ctx: Ctx, principal: Admin,
                         interaction: Annotated[str | None, Query(max_length=64)] = None,
                         lang: Annotated[str | None, Query(max_length=8)] = None
                         ) -> HTMLResponse:
    """The script form alone, for an admin to try a script; with ``?interaction=<id>`` its
    ``Save and close`` closes that call."""
    spec = await ctx.store.config.get("scripts", name)
    if not isinstance(spec, ScriptSpec):
        raise NotFound(f"no script named {name!r}")
    locale = await _viewer_locale(ctx, principal, lang)
    codes = list(DEFAULT_RESULT_CODES)
    saved = None
    zone = ""
    if interaction:
        record = await _call_of(ctx, interaction, principal)
        _, codes = await closing_of(ctx, record)
        saved = await ctx.store.wrapups.find(interaction)
        zone = await customer_zone(ctx, record)
    form = render_script_form(spec.script(), codes, locale, interaction_id=interaction or "",
                              saved=saved, customer_zone=zone)
    html = templates.get_template("script_preview.html").render(
        form=form, title=spec.title or spec.name, static=STATIC_PREFIX, **_i18n(locale))
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
