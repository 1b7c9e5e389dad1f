"""Builds the FastAPI application: REST API, live events, OpenAPI at ``/api/docs``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client.registry import CollectorRegistry
from starlette.routing import BaseRoute

from parley import __version__
from parley.bus import LiveBus
from parley.center.ports import (
    CallControl,
    CampaignControl,
    ContactCenter,
    FlowTrialLines,
    InvalidRequest,
    LiveCallNotFound,
    NoCallControl,
    NoCampaignControl,
    NoContactCenter,
    NotRunning,
    OperationRefused,
    SecurityControl,
)
from parley.clock import Clock
from parley.config import DirectorySettings, WebRtcSettings
from parley.directory import Directory
from parley.ha import NodeStatus
from parley.net.websocket import WsConnections
from parley.store import Conflict, Fenced, NotFound, Store
from parley.telephony.session_devices import SessionDevices
from parley.trust import TrustedNetworks
from parley.web import (
    admin,
    admin_flows,
    admin_outbound,
    admin_prompts,
    admin_scorecards,
    campaigns_routes,
    config_routes,
    custom_reports_page,
    custom_reports_routes,
    customers,
    desk,
    events_ws,
    imports,
    operations,
    phone,
    preview,
    quality,
    report_customer_page,
    report_customer_routes,
    report_drill_page,
    report_drill_routes,
    reports_page,
    reports_routes,
    script_routes,
    security_routes,
    supervisor,
)
from parley.web import directory as directory_routes
from parley.web import health as health_route
from parley.web import retention as retention_routes
from parley.web import sip_ws as sip_ws_route
from parley.web.auth import LoginLimiter, WebContext
from parley.web.health import ServingGate
from parley.web.metrics_route import metrics_router
from parley.web.schemas import ERRORS
from parley.web.vendor import add_api_docs, add_jssip, mount_vendor

if TYPE_CHECKING:
    from parley.telephony.prompts import PromptLibrary
    from parley.telephony.trunks import TrunkStatus

DESCRIPTION = """Parley's REST API. Authenticate with a bearer token
(`Authorization: Bearer pk_…`, created by an admin) or log in at `/api/auth/login` for a
session cookie; cookie requests that change state must send the `X-CSRF-Token` header.
Roles: agent < supervisor < admin. Live events: WebSocket at `/api/events`."""


async def reject_nul(request: Request) -> None:
    """Refuse NUL characters anywhere in a request: no stored text may contain them, and
    PostgreSQL cannot store them at all."""
    for name, value in {**request.path_params, **request.query_params}.items():
        if "\x00" in str(value):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"{name}: NUL characters are not allowed")
    if request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()
        if b"\x00" in body or b"\\u0000" in body:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                "body: NUL characters are not allowed")


@functools.cache
def _api_routes() -> tuple[BaseRoute, ...]:
    """Every node's API, page and WebSocket routes, made once per process and shared by the
    applications :func:`build_web_app` makes: FastAPI prepares a route (its dependencies,
    body and response models) on its first request, about half a second of CPU for all of
    Parley's, and a route shared is prepared once, not once per node (a test suite or a
    benchmark starts hundreds in one process). They hold no node's state: each request
    finds its node through ``request.app.state``."""
    router = APIRouter()
    checked = [Depends(reject_nul)]
    # admin_outbound before the configuration routes: /api/routes/check is not a route
    # named "check"
    for module_router in (operations.router, admin_outbound.router,
                          config_routes.config_router(), security_routes.router, phone.router,
                          campaigns_routes.router, script_routes.router, customers.router,
                          desk.router, imports.router, admin.router):
        router.include_router(module_router, dependencies=checked, responses=ERRORS)
    # recordings are binary (NUL bytes are audio there); names are checked by pattern
    router.include_router(admin_prompts.router, responses=ERRORS)
    for module_router in (admin_flows.router, admin_scorecards.router, supervisor.router,
                          preview.router, reports_routes.router, report_drill_routes.router,
                          report_drill_page.router, report_customer_routes.router,
                          report_customer_page.router, custom_reports_routes.router,
                          custom_reports_page.router, reports_page.router, quality.router,
                          directory_routes.router, retention_routes.router):
        router.include_router(module_router, dependencies=checked, responses=ERRORS)
    for module_router in (events_ws.router, health_route.router, sip_ws_route.router):
        router.include_router(module_router)
    return tuple(router.routes)


def build_web_app(store: Store, bus: LiveBus, *, clock: Clock,
                  calls: CallControl | None = None, center: ContactCenter | None = None,
                  recordings_dir: Path | None = None, voicemail_dir: Path | None = None,
                  node_modules: Path | None = None, metrics: CollectorRegistry | None = None,
                  secure_cookies: bool = False,
                  login_attempts: int = 5, login_address_attempts: int = 50,
                  login_base_delay_s: float = 1.0, login_max_delay_s: float = 300.0,
                  trusted_networks: tuple[str, ...] = (),
                  security: SecurityControl | None = None,
                  session_lifetime: timedelta = timedelta(hours=12),
                  trunks: Callable[[], list[TrunkStatus]] | None = None,
                  sip_ws: WsConnections | None = None,
                  phones: SessionDevices | None = None,
                  campaigns: CampaignControl | None = None,
                  prompts: PromptLibrary | None = None,
                  directory: DirectorySettings | None = None,
                  flow_trials: FlowTrialLines | None = None,
                  webrtc: WebRtcSettings | None = None,
                  health: Callable[[], NodeStatus] | None = None,
                  refusing: Callable[[], str | None] | None = None) -> FastAPI:
    """The web application over ``store``; ``calls`` and ``center`` are the telephony and
    ACD seams (routes needing them answer 503 until they are given), ``security`` the SIP
    ban list. Failed logins are delayed per name and address (``login_*``, see
    :class:`LoginLimiter`), never for ``trusted_networks`` (the client address behind a
    trusted proxy is resolved by :class:`parley.web.server.WebServer`). Recordings and
    voicemail are served only from inside ``recordings_dir`` and ``voicemail_dir``; the
    docs page's assets from ``node_modules`` (default: the checkout's). ``metrics`` is the
    node's Prometheus registry (parley.metrics), served at ``/metrics``; ``trunks`` reads the
    carriers' trunks' states for ``/api/live/trunks``. ``sip_ws`` are the SIP transport's
    WebSocket connections, served at ``/sip`` for browser phones, and ``phones`` the session
    credentials ``/api/phone/credentials`` issues them. ``campaigns`` is the live dialer
    (routes that need it say so when it is not given; what they store is kept). ``prompts``
    is the node's prompt library, whose uploads folder ``/api/prompts`` writes.
    ``directory``: sign-in through LDAP / Active Directory (off when it names no server).
    ``flow_trials`` opens the flow editor's test calls to a draft. ``health`` is the node's
    role and lease for ``/api/health`` (default: a single node, always active); while
    ``refusing()`` gives a reason (a hot-standby node that does not serve), every other
    request is answered 503 with it."""
    app = FastAPI(title="Parley", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.parley = WebContext(
        store=store, bus=bus, clock=clock, calls=calls or NoCallControl(),
        center=center or NoContactCenter(),
        limiter=LoginLimiter(clock, free_attempts=login_attempts,
                             address_attempts=login_address_attempts,
                             base_delay_s=login_base_delay_s, max_delay_s=login_max_delay_s,
                             trusted=TrustedNetworks(trusted_networks), on_event=bus.publish),
        recordings_dir=recordings_dir, voicemail_dir=voicemail_dir,
        secure_cookies=secure_cookies,
        security=security,
        session_lifetime=session_lifetime, trunks=trunks, sip_ws=sip_ws, phones=phones,
        campaigns=campaigns or NoCampaignControl(), prompts=prompts,
        directory=Directory(directory) if directory is not None and directory.enabled
        else None,
        flow_trials=flow_trials, webrtc=webrtc or WebRtcSettings())
    if health is not None:
        app.state.parley.health = health
    if refusing is not None:
        app.add_middleware(ServingGate, refusing=refusing)

    def handler(code: int) -> object:
        async def handle(_request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=code)
        return handle

    for error, code in ((NotFound, 404), (LiveCallNotFound, 404), (Conflict, 409),
                        (OperationRefused, 409), (InvalidRequest, 422), (NotRunning, 503),
                        (Fenced, 503)):
        app.add_exception_handler(error, handler(code))  # type: ignore[arg-type]

    app.router.routes.extend(_api_routes())
    if metrics is not None:
        app.include_router(metrics_router(metrics))
    missing = mount_vendor(app, node_modules)
    add_jssip(app, node_modules)
    app.mount(phone.STATIC_PREFIX, StaticFiles(directory=phone.STATIC_DIR), name="parley-static")
    add_api_docs(app, openapi_url="/api/openapi.json", title=app.title,
                 available="swagger-ui-dist" not in missing)
    return app
