"""Serving the web application with uvicorn inside Parley's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import Generator
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the composition root owns SIGINT/SIGTERM


class ListenError(OSError):
    """The web server cannot listen on an address it was given (named in the message)."""


class WebServer:
    """uvicorn on ``host:port`` and on the same port of each of ``also`` (HTTPS and WSS
    when given a ``certificate`` and its ``private_key``); :meth:`run` serves until
    cancelled, then shuts down gracefully (stop accepting, finish requests in flight, close
    WebSockets)."""

    def __init__(self, app: FastAPI, host: str, port: int, *,
                 trusted_proxies: tuple[str, ...] = ("127.0.0.1",),
                 certificate: Path | None = None, private_key: Path | None = None,
                 also: tuple[str, ...] = ()) -> None:
        # X-Forwarded-For/-Proto are believed only from ``trusted_proxies`` (addresses or
        # networks); the client is then the right-most forwarded hop that is not a proxy.
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                lifespan="off", access_log=False, ws="websockets-sansio",
                                proxy_headers=bool(trusted_proxies),
                                forwarded_allow_ips=list(trusted_proxies) or None,
                                ssl_certfile=certificate, ssl_keyfile=private_key)
        self._app = app
        self._server = _Server(config)
        self.host = host
        self.port = port
        self.also = also
        self.ready = asyncio.Event()
        self.scheme = "https" if certificate is not None else "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def _listen(self) -> list[socket.socket]:
        """The listening sockets: ``host`` first (its port may be 0: the others then take
        the port it got), then each of ``also``."""
        sockets: list[socket.socket] = []
        port = self.port
        try:
            for host in (self.host, *self.also):
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                try:
                    listener = socket.create_server((host, port), family=family,
                                                    backlog=self._server.config.backlog)
                except OSError as exc:
                    raise ListenError(exc.errno, f"the web server cannot listen on {host} "
                                      f"port {port}: {exc.strerror}") from exc
                sockets.append(listener)
                port = listener.getsockname()[1]
        except BaseException:
            for listener in sockets:
                listener.close()
            raise
        return sockets

    async def run(self) -> None:
        await warm_up(self._app)
        sockets = self._listen() if self.also else None
        serving = asyncio.ensure_future(self._server.serve(sockets=sockets))
        try:
            while not self._server.started:
                if serving.done():
                    await serving  # raises the start-up error (port taken …)
                    raise RuntimeError(f"the web server on {self.url} did not start")
                await asyncio.sleep(0.01)
            if self._server.servers:
                self.port = self._server.servers[0].sockets[0].getsockname()[1]
            self.ready.set()
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            self._server.should_exit = True
            await serving
            raise


async def warm_up(app: FastAPI) -> None:
    """Answer one request in-process before listening: FastAPI prepares every route on the
    first request (about half a second of CPU for Parley's routes), which would otherwise
    stall the event loop, calls and a hot-standby node's lease renewals included, just as
    the node begins to serve."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 0),
                                    raise_app_exceptions=False)
    collecting = gc.isenabled()
    gc.disable()  # the preparation makes a million objects and almost no garbage
    try:
        async with httpx.AsyncClient(transport=transport,
                                     base_url="http://parley.invalid") as client:
            await client.get("/api/health")
    finally:
        if collecting:
            gc.enable()


async def serve_web(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until cancelled."""
    await WebServer(app, host, port).run()
