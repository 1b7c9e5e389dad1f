"""The web half of a node as the composition root runs it: built from settings, serving the
demo configuration, stopped by cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from parley.clock import MonotonicClock
from parley.config import Settings
from parley.store import open_store
from parley.store.credentials import Passwords
from parley.testing.ports import free_port
from parley.web.node import build_web_node


async def test_demo_node_serves_the_demo_logins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http_port=free_port())
    clock = MonotonicClock()
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'parley.sqlite3'}", clock=clock,
                             passwords=Passwords.cheap())
    node = await build_web_node(settings, clock, store=store, demo=True)
    assert node.demo_login is not None
    running = asyncio.create_task(node.run())
    try:
        await asyncio.wait_for(node.server.ready.wait(), 30)
        async with httpx.AsyncClient(base_url=node.url) as client:
            admin = await client.post("/api/auth/login", json={
                "username": node.demo_login.username, "password": node.demo_login.password})
            assert admin.status_code == 200
            assert admin.json()["roles"] == ["admin"]
            queues = (await client.get("/api/queues")).json()
            assert {q["name"]: q["members"] for q in queues}["sales"] == [
                "1006", "1007", "1008", "1009", "1010"]
        async with httpx.AsyncClient(base_url=node.url) as operator:
            login = await operator.post("/api/auth/login",
                                        json={"username": "1003", "password": "pw1003"})
            assert login.status_code == 200
            assert login.json()["roles"] == ["agent"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert running.cancelled()
