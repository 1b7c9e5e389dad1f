"""The SIP ban list for admins: who is banned or locked, why, until when; lift a ban."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Response, status
from fastapi import Path as PathParam

from parley.center.ports import SecurityControl
from parley.web import schemas as s
from parley.web.auth import Admin, Ctx, WebContext
from parley.web.config_routes import audit

router = APIRouter()


def _security(ctx: WebContext) -> SecurityControl:
    if ctx.security is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "no SIP server runs with this API server")
    return ctx.security


@router.get("/api/security/bans", response_model=list[s.BanOut], tags=["admin"],
            summary="SIP addresses banned and users locked for password guessing")
async def bans(ctx: Ctx, _p: Admin) -> list[s.BanOut]:
    return [s.BanOut(kind="user" if ban.kind == "user" else "address", subject=ban.subject,
                     reason=ban.reason, since=ban.since, until=ban.until,
                     failures=ban.failures) for ban in _security(ctx).bans()]


@router.delete("/api/security/bans/{kind}/{subject}", status_code=204, tags=["admin"],
               summary="Lift a ban (kind 'address') or a lock (kind 'user') now",
               responses={404: {"description": "no such ban in force"}})
async def lift(kind: Literal["address", "user"],
               subject: Annotated[str, PathParam(min_length=1, max_length=200)], ctx: Ctx,
               principal: Admin) -> Response:
    if not _security(ctx).lift(kind, subject, by=principal.username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {kind} ban on {subject!r} in force")
    await audit(ctx, principal, "ban_lifted", "security", f"{kind}:{subject}")
    return Response(status_code=204)
