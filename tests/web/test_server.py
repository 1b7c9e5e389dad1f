"""The web server listens on the node's address and on the same port of each further one
(hot standby: the node's own address beside the floating one), and says which address it
cannot take."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
from fastapi import FastAPI

from parley.web.server import ListenError, WebServer


def app() -> FastAPI:
    served = FastAPI()

    @served.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return served


async def test_the_web_answers_on_every_address_it_is_given() -> None:
    server = WebServer(app(), "127.0.0.1", 0, also=("127.0.0.2",))
    running = asyncio.create_task(server.run())
    try:
        await asyncio.wait_for(server.ready.wait(), 10)
        assert server.port != 0
        async with httpx.AsyncClient(timeout=5) as client:
            for host in ("127.0.0.1", "127.0.0.2"):
                answer = await client.get(f"http://{host}:{server.port}/api/health")
                assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
            with pytest.raises(httpx.ConnectError):  # nothing else listens
                await client.get(f"http://127.0.0.3:{server.port}/api/health")
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_an_address_the_host_does_not_have_is_named() -> None:
    server = WebServer(app(), "127.0.0.1", 0, also=("192.0.2.77",))
    with pytest.raises(ListenError, match=r"the web server cannot listen on 192\.0\.2\.77 port "
                       r"\d+: Cannot assign requested address"):
        await asyncio.wait_for(server.run(), 10)
