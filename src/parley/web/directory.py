"""The directory (LDAP, Active Directory) sign-in settings for admins: ``/api/directory``,
a connection test, and the ``/admin/directory`` page. The sign-in itself is
:mod:`parley.web.directory_login`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from parley.config import DirectorySettings
from parley.directory import ConnectionCheck, Directory
from parley.store.records import Principal
from parley.web.admin import admin_page, admin_viewer
from parley.web.auth import SESSION_COOKIE, Admin, Ctx, WebContext
from parley.web.config_routes import audit

router = APIRouter()

# --- the API --------------------------------------------------------------------------------


class DirectoryGroupOut(BaseModel):
    group: str
    roles: list[str]
    teams: list[str]


class DirectoryOut(BaseModel):
    """The directory settings (the look-up password is never shown)."""

    enabled: bool
    urls: list[str]
    start_tls: bool
    verify_certificate: bool
    ca_file: str | None
    timeout_s: float
    bind_dn: str | None
    user_dn_template: str | None
    user_search_base: str
    user_filter: str
    username_attribute: str
    display_name_attribute: str
    group_search_base: str | None
    group_filter: str
    group_attribute: str
    groups: list[DirectoryGroupOut]


class ConnectionCheckOut(BaseModel):
    ok: bool
    server: str
    message: str
    seconds: float


def directory_out(directory: Directory | None) -> DirectoryOut:
    settings = directory.settings if directory is not None else DirectorySettings()
    return DirectoryOut(
        enabled=directory is not None, urls=settings.urls, start_tls=settings.start_tls,
        verify_certificate=settings.verify_certificate,
        ca_file=str(settings.ca_file) if settings.ca_file else None,
        timeout_s=settings.timeout_s, bind_dn=settings.bind_dn,
        user_dn_template=settings.user_dn_template,
        user_search_base=settings.user_search_base, user_filter=settings.user_filter,
        username_attribute=settings.username_attribute,
        display_name_attribute=settings.display_name_attribute,
        group_search_base=settings.group_search_base, group_filter=settings.group_filter,
        group_attribute=settings.group_attribute,
        groups=[DirectoryGroupOut(group=dn, roles=list(group.roles), teams=group.teams)
                for dn, group in settings.groups.items()])


async def check_connection(ctx: WebContext, principal: Principal) -> ConnectionCheck:
    """Test the directory connection now (audited)."""
    if ctx.directory is None:
        return ConnectionCheck(False, "", "no directory is configured", 0.0)
    result = await ctx.directory.check()
    await audit(ctx, principal, "directory_tested", "directory", result.server or "*",
                {"ok": result.ok, "message": result.message[:500]})
    return result


@router.get("/api/directory", response_model=DirectoryOut, tags=["admin"],
            summary="The directory (LDAP) sign-in settings; the look-up password is not shown")
async def directory_settings(ctx: Ctx, _p: Admin) -> DirectoryOut:
    return directory_out(ctx.directory)


@router.post("/api/directory/test", response_model=ConnectionCheckOut, tags=["admin"],
             summary="Connect to the directory (and bind as the look-up account) now")
async def directory_test(ctx: Ctx, principal: Admin) -> ConnectionCheckOut:
    result = await check_connection(ctx, principal)
    return ConnectionCheckOut(ok=result.ok, server=result.server, message=result.message,
                              seconds=round(result.seconds, 3))


# --- the admin page -------------------------------------------------------------------------


async def csrf_of(request: Request, ctx: WebContext) -> str:
    session = await ctx.store.accounts.session(request.cookies.get(SESSION_COOKIE, ""),
                                               ctx.clock.utcnow())
    return session.csrf_token if session is not None else ""


async def _directory_page(request: Request, ctx: WebContext,
                          tested: ConnectionCheck | None = None) -> Response:
    found = await admin_viewer(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    values: dict[str, Any] = {"directory": directory_out(ctx.directory), "tested": tested,
                              "csrf_token": await csrf_of(request, ctx)}
    return admin_page("admin_directory.html", locale, principal, "directory", **values)


@router.get("/admin/directory", response_class=HTMLResponse, include_in_schema=False)
async def directory_page(request: Request, ctx: Ctx) -> Response:
    """The directory sign-in settings as this node runs them, and "Test connection"."""
    return await _directory_page(request, ctx)


@router.post("/admin/directory/test", response_class=HTMLResponse, include_in_schema=False)
async def directory_page_test(request: Request, ctx: Ctx, principal: Admin) -> Response:
    """The page again with the outcome of a connection test."""
    return await _directory_page(request, ctx, await check_connection(ctx, principal))
