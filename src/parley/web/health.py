"""``GET /api/health``: the node's role in its hot-standby cluster, and whether it serves;
and the gate that answers 503 on a node that does not serve (docs/deployment.md, "Hot
standby").

The route needs no login (load balancers and keepalived checks have none): 200 while the
node serves, 503 otherwise, the same JSON either way. It shows no user's data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from parley.ha import NodeStatus
from parley.web.auth import context

router = APIRouter()

#: What a node that does not serve still answers: its health, its metrics, and the event
#: stream (which tells watchers when its role changes).
UNGATED = ("/api/health", "/metrics", "/api/events")
RETRY_AFTER_S = 5


def status_json(status: NodeStatus) -> dict[str, Any]:
    takeover = status.last_takeover
    return {
        "node": status.node, "role": str(status.role), "serving": status.serving,
        "reason": status.reason or None, "ha": status.ha, "cluster": status.cluster or None,
        "active_node": status.active_node or (status.node if status.serving else None),
        "fencing_token": status.fencing_token, "lease_age_s": status.lease_age_s,
        "lease_checked_s": status.lease_checked_s, "takeovers": status.takeovers,
        "last_takeover": None if takeover is None else {
            "at": takeover.at.isoformat(), "previous_node": takeover.previous_node or None,
            "duration_s": takeover.duration_s},
    }


@router.get("/api/health", tags=["health"],
            summary="This node's role (active or standby) and lease; 200 while it serves, "
                    "503 when it does not (no login needed)",
            responses={503: {"description": "the node does not serve (standby, or it lost "
                                            "its lease); same body"}})
async def health(request: Request) -> JSONResponse:
    ctx = context(request)
    status = ctx.health()
    return JSONResponse(status_json(status), status_code=200 if status.serving else 503)


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
