"""The web layer, an adapter only: REST API routes, pydantic schemas, live events over
WebSocket, authentication, pages and static files.

Entry points: :func:`build_web_app` (the FastAPI application over the services the
composition root hands it) and :class:`WebServer` (uvicorn in Parley's loop). The machinery it
calls lives elsewhere: the live bus in :mod:`parley.bus`, webhooks in :mod:`parley.webhooks`,
the recorders in :mod:`parley.store.recorders`, the call-control and contact-center ports in
:mod:`parley.center.ports`.
"""

from __future__ import annotations

from parley.web.app import build_web_app
from parley.web.server import WebServer, serve_web

__all__ = ["WebServer", "build_web_app", "serve_web"]
