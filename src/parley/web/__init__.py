"""The web layer: REST API, live events over WebSocket, webhooks, authentication.

Entry points: :func:`build_web_app` (the FastAPI application over a store and a live bus),
:class:`WebServer` (uvicorn in Parley's loop), :class:`LiveBus`, :class:`WebhookDispatcher`,
and the telephony/ACD seams in :mod:`parley.web.live`.
"""

from __future__ import annotations

from parley.web.app import build_web_app
from parley.web.bus import LiveBus
from parley.web.server import WebServer, serve_web
from parley.web.webhooks import WebhookDispatcher

__all__ = ["LiveBus", "WebServer", "WebhookDispatcher", "build_web_app", "serve_web"]
