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
    services = composition.build(settings, demo=True)
    ready = asyncio.Event()
    node = asyncio.create_task(composition.serve(services, ready=lambda _s: ready.set()))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        telephony = services.telephony
        assert telephony is not None
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
