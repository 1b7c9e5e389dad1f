"""``/sip``: SIP over WebSocket (RFC 7118) for browser phones, on the node's web server.

The route only moves frames: it accepts a WebSocket that offers the ``sip`` subprotocol,
opens a :class:`parley.net.websocket.WsConnection` with the SIP transport (which checks each
frame against the limits, parses it and hands it to the SIP engine), and writes out what the
engine sends back. The browser authenticates in SIP (digest), exactly like a desk phone; a
page that signed in to the web app gets credentials for that from ``/api/phone/credentials``.
A closed socket unregisters what was registered over it.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from parley.net.websocket import CLOSE_GOING_AWAY, WsClosed, WsConnection, WsConnections
from parley.web.auth import WebContext

router = APIRouter()
log = structlog.get_logger("parley.web.sip_ws")

SUBPROTOCOL = "sip"
SIP_WS_PATH = "/sip"


@router.websocket(SIP_WS_PATH)
async def sip_over_websocket(socket: WebSocket) -> None:
    ctx: WebContext = socket.app.state.parley
    connections = ctx.sip_ws
    offered = [p.strip().lower() for p in
               socket.headers.get("sec-websocket-protocol", "").split(",")]
    if connections is None or SUBPROTOCOL not in offered:
        log.info("ws_refused", reason="no SIP server on this node" if connections is None
                 else "the sip subprotocol was not offered", offered=offered)
        await socket.close(code=1008)  # before accepting: the handshake is refused (403)
        return
    client = socket.client
    host, port = (client.host, client.port) if client else ("unknown", 0)
    transport = "WSS" if socket.url.scheme == "wss" else "WS"
    outbox: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue()
    try:
        connection = connections.open(host, port, transport, outbox.put_nowait,
                                      ctx.clock.monotonic())
    except WsClosed as refused:
        log.warning("ws_refused", peer=f"{host}:{port}", reason=refused.reason)
        await socket.close(code=refused.code)
        return
    connection.closer = lambda code, why: outbox.put_nowait((code, why))
    await socket.accept(subprotocol=SUBPROTOCOL)
    reason = "closed by the browser"
    try:
        async with asyncio.TaskGroup() as group:
            writer = group.create_task(_write(socket, outbox))
            reason = await _read(socket, connections, connection, ctx)
            writer.cancel()
    finally:
        connections.close(connection, reason)


async def _read(socket: WebSocket, connections: WsConnections, connection: WsConnection,
                ctx: WebContext) -> str:
    """Hand each frame to the transport until the socket closes; returns why it closed."""
    idle = connections.limits.idle_s
    while True:
        try:
            async with asyncio.timeout(idle):
                message = await socket.receive()
        except TimeoutError:
            await _close(socket, CLOSE_GOING_AWAY, "idle")
            return f"idle for {idle:g} s"
        except (WebSocketDisconnect, RuntimeError, OSError):
            return "closed by the browser"
        if message["type"] == "websocket.disconnect":
            return "closed by the browser"
        data = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        try:
            connections.received(connection, data, ctx.clock.monotonic())
        except WsClosed as closing:
            await _close(socket, closing.code, closing.reason)
            return closing.reason


async def _write(socket: WebSocket, outbox: asyncio.Queue[str | tuple[int, str]]) -> None:
    """Send what the SIP engine queued, one message per text frame; a (code, reason) in
    the queue closes the socket (Parley's side ends the connection)."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        while True:
            item = await outbox.get()
            if isinstance(item, tuple):
                log.info("ws_closing", code=item[0], reason=item[1])
                await socket.close(code=item[0], reason=item[1][:120])
                return
            await socket.send_text(item)


async def _close(socket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await socket.close(code=code, reason=reason[:120])
