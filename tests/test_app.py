"""The composition root: one node whose SIP users follow the store's devices."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import httpx

from parley import app as composition
from parley.config import PortRange, Settings
from parley.testing.ports import free_port, free_port_block


async def _until(condition: object, within: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


async def test_devices_added_and_removed_over_the_api_reach_the_sip_directory(
        tmp_path: Path) -> None:
    rtp = free_port_block(20)
    settings = Settings(sip_port=free_port(), http_port=free_port(), data_dir=tmp_path,
                        rtp_ports=PortRange(first=rtp, last=rtp + 19))
    services = await composition.build(settings, demo=True)
    ready = asyncio.Event()
    node = asyncio.create_task(composition.serve(services, ready=lambda _s: ready.set()))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        telephony = services.telephony
        users = telephony.users
        assert users.lookup("1001") is not None  # the demo's devices, from demo.yaml
        assert users.lookup("2001") is None
        login = re.search(r"Admin login: user (\S+), password (\S+)", "\n".join(services.banner))
        assert login
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}") as web:
            answer = await web.post("/api/auth/login", json={
                "username": login.group(1), "password": login.group(2)})
            csrf = {"X-CSRF-Token": answer.json()["csrf_token"]}
            created = await web.post("/api/devices", headers=csrf,
                                     json={"name": "2001", "sip_password": "secret-2001"})
            assert created.status_code in (200, 201), created.text
            assert await _until(lambda: users.lookup("2001") is not None)
            device = users.lookup("2001")
            assert device is not None
            assert set(device.ha1) == {"MD5", "SHA-256"}
            removed = await web.delete("/api/devices/2001", headers=csrf)
            assert removed.status_code in (200, 204), removed.text
            assert await _until(lambda: users.lookup("2001") is None)
    finally:
        node.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await node


async def test_the_demo_node_serves_the_demo_logins_and_stops_when_cancelled(
        tmp_path: Path) -> None:
    rtp = free_port_block(20)
    settings = Settings(sip_port=free_port(), http_port=free_port(), data_dir=tmp_path,
                        rtp_ports=PortRange(first=rtp, last=rtp + 19))
    node = await composition.build(settings, demo=True)
    assert node.demo_login is not None
    ready = asyncio.Event()
    running = asyncio.create_task(composition.serve(node, ready=lambda _n: ready.set()))
    try:
        await asyncio.wait_for(ready.wait(), 30)
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
