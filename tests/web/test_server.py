"""The web server listens on the node's address and on the same port of each further one
(hot standby: the node's own address beside the floating one), and says which address it
cannot take."""

from __future__ import annotations

import asyncio
import contextlib
import socket

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


async def test_a_port_another_program_holds_is_named() -> None:
    """A taken port stops the node with an error naming it (uvicorn's own bind would log it
    and raise SystemExit from inside the node)."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        server = WebServer(app(), "127.0.0.1", port)
        with pytest.raises(ListenError, match=rf"the web server cannot listen on 127\.0\.0\.1 "
                           rf"port {port}: Address already in use"):
            await asyncio.wait_for(server.run(), 10)


async def test_a_stop_answers_the_request_in_flight_and_takes_no_new_one() -> None:
    """A node that stops (or hands over to the standby) finishes what it was answering: an
    operator's save in flight is answered, then the port is closed."""
    served = app()
    entered, go_on = asyncio.Event(), asyncio.Event()

    @served.post("/api/save")
    async def save() -> dict[str, str]:
        entered.set()
        await go_on.wait()
        return {"saved": "yes"}

    server = WebServer(served, "127.0.0.1", 0)
    running = asyncio.create_task(server.run())
    await asyncio.wait_for(server.ready.wait(), 10)
    async with httpx.AsyncClient(timeout=5) as client:
        saving = asyncio.create_task(client.post(f"{server.url}/api/save"))
        await asyncio.wait_for(entered.wait(), 5)
        running.cancel()
        await asyncio.sleep(0.2)
        assert not running.done()  # it waits for the request in flight
        async with httpx.AsyncClient(timeout=5) as another:
            with pytest.raises(httpx.ConnectError):  # and takes no new connection
                await another.get(f"{server.url}/api/health")
        go_on.set()
        answer = await saving
        assert (answer.status_code, answer.json()) == (200, {"saved": "yes"})
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 5)
