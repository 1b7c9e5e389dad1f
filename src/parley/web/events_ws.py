"""The live event stream: ``GET /api/events`` upgraded to a WebSocket.

Clients authenticate with the session cookie (same-origin only) or a bearer token (the
``Authorization`` header, or ``?token=`` where a browser cannot set headers). Filters:
``topics`` (comma-separated: call, operator, queue, config, trunk, campaign, node), ``queue`` and
``operator``. Operators see only events about themselves; supervisors the events of their
teams' operators and queues (and events about no operator or queue, such as channels);
admins and supervisors with no team everything (:mod:`parley.web.scope`); a call row
(``LiveCallChanged``) that moves out of a supervisor's scope reaches them as removed. Each
message is a JSON object ``{"id", "at", "topic", "type", "data"}``; a client that falls
behind receives
``{"type": "dropped", "count": n}`` for the events it lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from parley.bus import Envelope, Subscription
from parley.events import LiveCallChanged
from parley.store.records import Principal
from parley.store.specs import Role
from parley.web.auth import SESSION_COOKIE, WebContext, has_role
from parley.web.scope import SITE_WIDE, Scope, scope_of

router = APIRouter()

TOPICS = frozenset({"call", "operator", "queue", "config", "trunk", "campaign", "node"})
POLICY_VIOLATION = 1008


async def _principal(socket: WebSocket, ctx: WebContext) -> Principal | None:
    now = ctx.clock.utcnow()
    header = socket.headers.get("authorization", "")
    token = header.partition(" ")[2].strip() if header.lower().startswith("bearer ") else ""
    token = token or socket.query_params.get("token", "")
    if token:
        return await ctx.store.accounts.token_principal(token, now)
    cookie = socket.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    origin = socket.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != socket.headers.get("host"):
        return None  # a cookie sent by another site's page: refuse (cross-site hijacking)
    session = await ctx.store.accounts.session(cookie, now)
    return session.principal if session else None


def _sees(principal: Principal, scope: Scope, agent: object, about: object,
          teams: object = None) -> bool:
    """Whether ``principal`` may see an event about operator ``agent`` (or none) and queue
    ``about`` (or none): an operator their own, a supervisor their scope's, an admin all."""
    if agent and agent == principal.username:
        return True
    if not has_role(principal, Role.SUPERVISOR):
        return False
    if scope.site_wide:
        return True
    if agent:
        return scope.sees_operator(str(agent)) or (
            isinstance(teams, list | tuple) and scope.sees_help(str(agent), teams))
    return about is None or scope.sees_queue(str(about))


def _left_view(principal: Principal, scope: Scope, envelope: Envelope) -> bool:
    """A call's row changed so that the viewer no longer sees it (its operator or queue
    moved out of their scope), though they saw it before the change."""
    event = envelope.event
    return isinstance(event, LiveCallChanged) and event.change == "changed" \
        and not _sees(principal, scope, event.operator, event.queue) \
        and _sees(principal, scope, event.was_operator, event.was_queue)


def event_filter(principal: Principal, topics: frozenset[str], queue: str | None,
                 operator: str | None, scope: Scope = SITE_WIDE) -> object:
    """Accept what the client asked for and may see: an operator their own events, a
    supervisor those of their teams' operators and queues (``scope``), an admin all; and a
    call row that has just left the viewer's scope (sent as removed, :func:`view`)."""

    def accept(envelope: Envelope) -> bool:
        if envelope.topic not in topics:
            return False
        if queue is not None and envelope.field("queue") != queue:
            return False
        agent = envelope.field("agent_id") or envelope.field("operator")
        if operator is not None and agent != operator:
            return False
        return _sees(principal, scope, agent, envelope.field("queue"),
                     envelope.field("teams")) or _left_view(principal, scope, envelope)

    return accept


def view(principal: Principal, scope: Scope, envelope: Envelope) -> str:
    """``envelope`` as this client receives it (JSON text, shared by every client that
    receives it as is): a call row that left their scope arrives as removed (they saw it;
    they may not see where it went)."""
    if not _left_view(principal, scope, envelope):
        return envelope.text()
    message = envelope.to_json()
    message["data"]["change"] = "removed"
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


@router.websocket("/api/events")
async def events(socket: WebSocket) -> None:
    ctx: WebContext = socket.app.state.parley
    principal = await _principal(socket, ctx)
    if principal is None or not has_role(principal, Role.AGENT):
        await socket.close(code=POLICY_VIOLATION, reason="log in or send a bearer token")
        return
    wanted = socket.query_params.get("topics", "")
    topics = frozenset(t.strip() for t in wanted.split(",") if t.strip()) or TOPICS
    if not topics <= TOPICS:
        await socket.accept()  # accepted first so that the client reads the reason
        await socket.close(code=POLICY_VIOLATION,
                           reason=f"topics: unknown {sorted(topics - TOPICS)}; use "
                                  "call, operator, queue, config, trunk, campaign, node")
        return
    scope = await scope_of(ctx, principal) if has_role(principal, Role.SUPERVISOR) \
        else SITE_WIDE
    accept = event_filter(principal, topics, socket.query_params.get("queue"),
                          socket.query_params.get("operator"), scope)
    await socket.accept()
    async with ctx.bus.subscribe(accept,  # type: ignore[arg-type]
                                 watching=topics) as subscription:
        await socket.send_json({"type": "subscribed", "topics": sorted(topics),
                                "user": principal.username})

        async with asyncio.TaskGroup() as group:
            closer = group.create_task(_watch_close(socket))
            sender = group.create_task(_forward(
                socket, subscription, closer, lambda envelope: view(principal, scope, envelope)))
            closer.add_done_callback(lambda _done: sender.cancel())


async def _watch_close(socket: WebSocket) -> None:
    """Read (and ignore) client messages until the client goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_text()


async def _forward(socket: WebSocket, subscription: Subscription,
                   closer: asyncio.Task[None],
                   render: Callable[[Envelope], str]) -> None:
    """Send each accepted event until the client goes away."""
    reported = 0
    try:
        async for envelope in subscription:
            if subscription.dropped > reported:
                await socket.send_json({"type": "dropped",
                                        "count": subscription.dropped - reported})
                reported = subscription.dropped
            await socket.send_text(render(envelope))
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client is gone
    finally:
        closer.cancel()
