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

#: how often a stopping server looks whether its connections and requests are done
DRAIN_STEP_S = 0.01


class _Server(uvicorn.Server):
    """uvicorn, told to stop by :meth:`request_exit` (at once, not at its next tick, every
    0.1 s) and draining its connections in short steps instead of its fixed 0.1 s ones: a
    node's stop (and each test's) took 0.15-0.19 s here for nothing."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the composition root owns SIGINT/SIGTERM

    def request_exit(self) -> None:
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):  # a tick every 0.1 s, as uvicorn's
                async with asyncio.timeout(0.1):
                    await self._exit.wait()
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """As uvicorn's: stop accepting, ask each connection to close once its request is
        answered, wait for them (within ``timeout_graceful_shutdown``, if set), then for
        the listeners."""
        for server in self.servers:
            server.close()
        for listener in sockets or []:
            listener.close()
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                while (state.connections or state.tasks) \
                        and not self.force_exit:  # noqa: ASYNC110 - uvicorn's state, polled
                    await asyncio.sleep(DRAIN_STEP_S)
        except TimeoutError:
            for task in state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


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
        # listened here, not by uvicorn: a taken port is then a ListenError naming it, where
        # uvicorn logs the error and raises SystemExit from inside the node
        serving = asyncio.ensure_future(self._server.serve(sockets=self._listen()))
        try:
            while not self._server.started:
                if serving.done():
                    await serving  # raises the start-up error (a certificate it cannot load …)
                    raise RuntimeError(f"the web server on {self.url} did not start")
                await asyncio.sleep(0.01)
            if self._server.servers:
                self.port = self._server.servers[0].sockets[0].getsockname()[1]
            self.ready.set()
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            self._server.request_exit()
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
