"""``GET /api/health``: the node's role in its hot-standby cluster, and whether it serves;
the gate that answers 503 on a node that does not serve; and ``POST
/api/cluster/switch-over``, an admin's planned switch-over to the standby (docs/deployment.md,
"Hot standby").

The route needs no login (load balancers and keepalived checks have none): 200 while the
node serves, 503 otherwise, the same JSON either way. It shows no user's data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from parley.ha import NodeStatus, SwitchOverRefused
from parley.web.auth import Admin, Ctx, context
from parley.web.config_routes import audit

router = APIRouter()

#: What a node that does not serve still answers: its health, its metrics, and the event
#: stream (which tells watchers when its role changes).
UNGATED = ("/api/health", "/metrics", "/api/events")
RETRY_AFTER_S = 5


class TakeoverOut(BaseModel):
    at: datetime  # when this node took the lease (the database's time)
    previous_node: str | None  # who held it before (None: nobody had)
    duration_s: float | None  # from the previous holder's last renewal to the takeover


class HealthOut(BaseModel):
    """A node's role in its hot-standby cluster (a single node: always active)."""

    node: str
    role: str = Field(description="active or standby")
    serving: bool
    reason: str | None = Field(description="why the node takes no new work (None: it does)")
    ha: bool = Field(description="whether the node is one of a hot-standby cluster")
    cluster: str | None
    active_node: str | None = Field(description="the node holding the lease, as last seen")
    fencing_token: int | None
    lease_age_s: float | None = Field(description="since the holder last renewed the lease")
    lease_checked_s: float | None = Field(description="since this node last read the lease")
    takeovers: int = Field(description="times this node took the lease since it started")
    last_takeover: TakeoverOut | None
    floating_ip: str | None = Field(
        None, description="the service address the active node holds, with its prefix "
                          "(None: the cluster has none)")
    floating_ip_held: bool = Field(False, description="whether this node holds it now")


def status_out(status: NodeStatus) -> HealthOut:
    takeover = status.last_takeover
    return HealthOut(
        node=status.node, role=str(status.role), serving=status.serving,
        reason=status.reason or None, ha=status.ha, cluster=status.cluster or None,
        active_node=status.active_node or (status.node if status.serving else None),
        fencing_token=status.fencing_token, lease_age_s=status.lease_age_s,
        lease_checked_s=status.lease_checked_s, takeovers=status.takeovers,
        last_takeover=None if takeover is None else TakeoverOut(
            at=takeover.at, previous_node=takeover.previous_node or None,
            duration_s=takeover.duration_s),
        floating_ip=status.floating_ip or None, floating_ip_held=status.floating_ip_held)


@router.get("/api/health", tags=["health"], response_model=HealthOut,
            summary="This node's role (active or standby) and lease; 200 while it serves, "
                    "503 when it does not (no login needed)",
            responses={503: {"model": HealthOut,
                             "description": "the node does not serve (a standby, or it lost "
                                            "its lease); the same body"}})
async def health(request: Request) -> JSONResponse:
    status = context(request).health()
    return JSONResponse(status_out(status).model_dump(mode="json"),
                        status_code=200 if status.serving else 503)


class ServingGate:
    """ASGI middleware: while ``refusing()`` gives a reason, every request but
    :data:`UNGATED` is answered 503 with it (a WebSocket is closed before it opens)."""

    def __init__(self, app: ASGIApp, refusing: Callable[[], str | None]) -> None:
        self.app = app
        self.refusing = refusing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or \
                str(scope.get("path", "")).startswith(UNGATED):
            await self.app(scope, receive, send)
            return
        reason = self.refusing()
        if reason is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013, "reason": reason[:120]})
            return
        body = json.dumps({"detail": reason}).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"),
                                (b"retry-after", str(RETRY_AFTER_S).encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class SwitchOverOut(BaseModel):
    detail: str


@router.post("/api/cluster/switch-over", tags=["health"], status_code=202,
             response_model=SwitchOverOut,
             summary="Planned switch-over: this (active) node hands its answered calls to the "
                     "standby and stops (for an upgrade)",
             responses={409: {"description": "not possible on this node (the reason)"}})
async def switch_over(ctx: Ctx, principal: Admin) -> SwitchOverOut:
    if ctx.switch_over is None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "this node is not one of a hot-standby cluster")
    try:
        detail = await ctx.switch_over()
    except SwitchOverRefused as refused:
        raise HTTPException(status.HTTP_409_CONFLICT, str(refused)) from refused
    await audit(ctx, principal, "switch_over", "node", ctx.health().node, {"detail": detail})
    return SwitchOverOut(detail=detail)
