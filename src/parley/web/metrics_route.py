"""``GET /metrics``: the node's Prometheus registry, rendered (parley.metrics builds it).

A scraper sends an API token (``Authorization: Bearer …``, any user's); a browser session
needs the admin role.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from parley.store.records import Principal
from parley.store.specs import Role
from parley.web.auth import authenticate, has_role


async def scraper(request: Request) -> Principal:
    """A valid bearer token, or a session of an admin."""
    principal = await authenticate(request)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "send a bearer token or log in",
                            headers={"WWW-Authenticate": "Bearer"})
    if not request.headers.get("authorization") and not has_role(principal, Role.ADMIN):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "metrics need an API token or the admin role")
    return principal


def metrics_router(registry: CollectorRegistry) -> APIRouter:
    """The route over ``registry``."""
    router = APIRouter()

    @router.get("/metrics", tags=["admin"], response_class=Response,
                summary="Prometheus metrics (API token, or an admin's session)",
                responses={200: {"content": {CONTENT_TYPE_LATEST: {}}},
                           401: {"description": "no token and no session"},
                           403: {"description": "a session without the admin role"}})
    async def metrics(_p: Annotated[Principal, Depends(scraper)]) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
