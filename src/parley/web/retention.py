"""How long call recordings are kept: ``/api/retention`` and the ``/admin/retention`` page.

The site keeps recordings a number of days (none: for ever); a queue may keep its calls'
recordings longer or shorter. The node's sweep (parley.store.retention) deletes expired
files hourly; admins may run it at once. Every change and every deletion is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from parley.store.records import Principal
from parley.store.retention import (
    MAX_KEEP_DAYS,
    SITE,
    RetentionPolicy,
    RetentionRepository,
    SweepResult,
    queue_scope,
    sweep_recordings,
)
from parley.store.specs import Name, QueueSpec
from parley.web.admin import admin_page, admin_viewer
from parley.web.auth import Admin, Ctx, WebContext
from parley.web.config_routes import audit
from parley.web.directory import csrf_of

router = APIRouter()
KeepDays = Annotated[int, Field(ge=1, le=MAX_KEEP_DAYS)]


class QueueRetentionOut(BaseModel):
    queue: str
    keep_days: int
    updated_at: datetime
    updated_by: str


class RetentionOut(BaseModel):
    """Days recordings are kept: site-wide (null: for ever) and per queue (queues not
    listed follow the site)."""

    site_days: int | None
    site_updated_at: datetime | None = None
    site_updated_by: str | None = None
    queues: list[QueueRetentionOut]


class RetentionIn(BaseModel):
    """``site_days``: null keeps recordings for ever; ``queues``: a queue's own days, null to
    follow the site's again. Queues left out are not changed."""

    model_config = {"extra": "forbid"}
    site_days: KeepDays | None = None
    queues: dict[Name, KeepDays | None] = Field(default_factory=dict)


class SweepOut(BaseModel):
    deleted: int
    already_gone: int
    failed: int


def _repository(ctx: WebContext) -> RetentionRepository:
    return RetentionRepository(ctx.store.sessions)


def retention_out(policies: list[RetentionPolicy]) -> RetentionOut:
    site = next((p for p in policies if p.scope == SITE), None)
    return RetentionOut(
        site_days=site.keep_days if site else None,
        site_updated_at=site.updated_at if site else None,
        site_updated_by=site.updated_by if site else None,
        queues=[QueueRetentionOut(queue=p.queue, keep_days=p.keep_days, updated_at=p.updated_at,
                                  updated_by=p.updated_by)
                for p in policies if p.queue is not None])


async def save_retention(ctx: WebContext, principal: Principal, body: RetentionIn) -> None:
    """Store the policies (unknown queues refused naming the field), audited."""
    known = {record.key for record in await ctx.store.config.records("queues")
             if isinstance(record, QueueSpec)}
    for name in body.queues:
        if name not in known:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"queues.{name}: no queue named {name!r}")
    repository, now = _repository(ctx), ctx.clock.utcnow()
    changes: dict[str, int | None] = {}
    if await repository.set(SITE, body.site_days, principal.username, now):
        changes["site"] = body.site_days
    for name, days in body.queues.items():
        if await repository.set(queue_scope(name), days, principal.username, now):
            changes[queue_scope(name)] = days
    if changes:
        await audit(ctx, principal, "retention_changed", "recordings", "retention",
                    {"keep_days": changes})


async def sweep_now(ctx: WebContext, principal: Principal) -> SweepResult:
    if ctx.recordings_dir is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "this server keeps no recordings folder")
    result = await sweep_recordings(ctx.store, ctx.recordings_dir, ctx.clock.utcnow())
    await audit(ctx, principal, "retention_swept", "recordings", "retention",
                {"deleted": result.deleted, "already_gone": result.already_gone,
                 "failed": result.failed})
    return result


@router.get("/api/retention", response_model=RetentionOut, tags=["recordings"],
            summary="How many days call recordings are kept, site-wide and per queue")
async def get_retention(ctx: Ctx, _p: Admin) -> RetentionOut:
    return retention_out(await _repository(ctx).policies())


@router.put("/api/retention", response_model=RetentionOut, tags=["recordings"],
            summary="Set how many days call recordings are kept (audited)")
async def put_retention(body: RetentionIn, ctx: Ctx, principal: Admin) -> RetentionOut:
    await save_retention(ctx, principal, body)
    return retention_out(await _repository(ctx).policies())


@router.post("/api/retention/sweep", response_model=SweepOut, tags=["recordings"],
             summary="Delete the expired recordings' files now (the node does it hourly)")
async def post_sweep(ctx: Ctx, principal: Admin) -> SweepOut:
    result = await sweep_now(ctx, principal)
    return SweepOut(deleted=result.deleted, already_gone=result.already_gone,
                    failed=result.failed)


# --- the admin page -------------------------------------------------------------------------


async def _page(request: Request, ctx: WebContext, *, code: int = 200,
                errors: dict[str, str] | None = None, typed: dict[str, str] | None = None,
                notice: str = "") -> Response:
    found = await admin_viewer(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    current = retention_out(await _repository(ctx).policies())
    own = {item.queue: item.keep_days for item in current.queues}
    queues = sorted((record.key for record in await ctx.store.config.records("queues")
                     if isinstance(record, QueueSpec)), key=str.casefold)
    values: dict[str, Any] = {
        "site_days": current.site_days, "queues": [(name, own.get(name)) for name in queues],
        "errors": errors or {}, "typed": typed, "notice": notice,
        "csrf_token": await csrf_of(request, ctx)}
    return admin_page("admin_retention.html", locale, principal, "retention", code, **values)


@router.get("/admin/retention", response_class=HTMLResponse, include_in_schema=False)
async def retention_page(request: Request, ctx: Ctx) -> Response:
    """The site's and each queue's days, and "Delete expired recordings now"."""
    saved = request.query_params.get("saved")
    found = await admin_viewer(request, ctx)
    if isinstance(found, Response):
        return found
    _principal, locale = found
    return await _page(request, ctx, notice=locale.gettext("Saved.") if saved else "")


def _days(text: str) -> int | None:
    """A form's days: blank is None; otherwise a whole number in range, or ValueError."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_KEEP_DAYS:
        raise ValueError(text)
    return int(text)


@router.post("/admin/retention", response_class=HTMLResponse, include_in_schema=False)
async def retention_save(request: Request, ctx: Ctx, principal: Admin) -> Response:
    """Save the form; the form again with a message beside each field at fault."""
    form = await request.form()
    typed = {str(key): value for key, value in form.items() if isinstance(value, str)}
    locale = (await admin_viewer(request, ctx))
    assert not isinstance(locale, Response)  # noqa: S101 - Admin admitted the request
    gettext = locale[1].gettext
    wrong = gettext("Enter whole days from 1 to {most}, or leave it blank.").format(
        most=MAX_KEEP_DAYS)
    errors: dict[str, str] = {}
    values: dict[str, int | None] = {}
    for key, text in typed.items():
        if key == "site_days" or key.startswith("queue:"):
            try:
                values[key] = _days(text)
            except ValueError:
                errors[key] = wrong
    if errors:
        return await _page(request, ctx, code=422, errors=errors, typed=typed)
    body = RetentionIn(site_days=values.get("site_days"),
                       queues={key.removeprefix("queue:"): days for key, days in values.items()
                               if key.startswith("queue:")})
    try:
        await save_retention(ctx, principal, body)
    except HTTPException as exc:
        field, _, message = str(exc.detail).partition(": ")
        key = "queue:" + field.removeprefix("queues.")
        return await _page(request, ctx, code=422, errors={key: message}, typed=typed)
    return Response(status_code=status.HTTP_303_SEE_OTHER,
                    headers={"Location": "/admin/retention?saved=1"})


@router.post("/admin/retention/sweep", response_class=HTMLResponse, include_in_schema=False)
async def retention_sweep(request: Request, ctx: Ctx, principal: Admin) -> Response:
    """Run the sweep now; the page again saying what it deleted."""
    result = await sweep_now(ctx, principal)
    found = await admin_viewer(request, ctx)
    assert not isinstance(found, Response)  # noqa: S101 - Admin admitted the request
    notice = found[1].gettext(
        "{deleted} recordings deleted, {gone} already gone, {failed} could not be deleted."
    ).format(deleted=result.deleted, gone=result.already_gone, failed=result.failed)
    return await _page(request, ctx, notice=notice)
