"""The composition root: one node whose SIP users follow the store's devices."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import weakref
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from parley import app as composition
from parley.center.config import CenterConfig
from parley.config import ConfigError, PortRange, Settings, recordings_dir
from parley.events import ConfigurationChanged
from parley.store import Store
from parley.store.specs import UserSpec
from parley.testing import node as nodes
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


async def test_a_burst_of_configuration_changes_is_taken_in_one_reload(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import changes record after record, each announced; the contact center reloads
    the whole configuration on a change, so changes that arrive together are taken in one
    reload (one per change took minutes of the node's time for an import of 1,400 users),
    and the last of them is in."""
    loaded: list[set[str]] = []
    real = composition.load_center_config

    async def counted(store: Store) -> CenterConfig:
        config = await real(store)
        loaded.append({user.username for user in config.users})
        return config

    monkeypatch.setattr(composition, "load_center_config", counted)
    async with nodes.demo_node(tmp_path) as node:
        await asyncio.sleep(0.2)  # the start's own loads
        loaded.clear()
        names = [f"burst{n}" for n in range(40)]
        for name in names:
            await node.store.config.put("users", UserSpec(username=name, roles=["agent"]))
        for name in names:  # as a burst of rows announced together
            node.bus.publish(ConfigurationChanged("users", name, "create"))
        assert await _until(lambda: bool(loaded) and set(names) <= loaded[-1])
        await asyncio.sleep(0.3)  # no further reload queued behind it
    assert len(loaded) == 1


async def test_a_change_made_by_the_test_helpers_is_in_once_they_return(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests change a node's configuration with ``change()``, which returns once the
    node's reloaders are done with it, however long a reload takes (a fixed wait let tests
    go on with the old configuration on a busy machine)."""
    loaded: list[set[str]] = []
    real = composition.load_center_config

    async def slow(store: Store) -> CenterConfig:
        config = await real(store)
        await asyncio.sleep(0.5)  # a slow reload
        loaded.append({user.username for user in config.users})
        return config

    monkeypatch.setattr(composition, "load_center_config", slow)
    async with nodes.demo_node(tmp_path) as node:
        await nodes.change(node, "users", UserSpec(username="late", roles=["agent"]))
        assert "late" in loaded[-1]


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


def _challenge_realm(port: int, user: str) -> str:
    """Send a REGISTER over UDP and return the realm of the digest challenge answering it."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        request = (f"REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-realm-{local}\r\n"
                   "Max-Forwards: 70\r\n"
                   f"From: <sip:{user}@127.0.0.1>;tag=realm\r\n"
                   f"To: <sip:{user}@127.0.0.1>\r\n"
                   f"Call-ID: realm-{local}@127.0.0.1\r\n"
                   "CSeq: 1 REGISTER\r\n"
                   f"Contact: <sip:{user}@127.0.0.1:{local}>\r\n"
                   "Expires: 60\r\nContent-Length: 0\r\n\r\n")
        sock.sendto(request.encode(), ("127.0.0.1", port))
        answer = sock.recv(4096).decode()
    assert answer.startswith("SIP/2.0 401"), answer
    match = re.search(r'realm="([^"]+)"', answer)
    assert match, answer
    return match.group(1)


async def test_the_sip_realm_follows_the_site(tmp_path: Path) -> None:
    from parley.store import build_store
    from parley.store.specs import DeviceSpec, Role, SiteSpec, UserSpec

    rtp = free_port_block(20)
    settings = Settings(sip_port=free_port(), http_port=free_port(), data_dir=tmp_path,
                        rtp_ports=PortRange(first=rtp, last=rtp + 19))
    store = await build_store(settings)
    await store.config.put_site(SiteSpec(sip_realm="hq.example"))
    await store.config.put("users", UserSpec(username="boss", roles=[Role.ADMIN],
                                             password="boss-password"))
    await store.config.put("devices", DeviceSpec(name="3001", sip_password="pw3001"))
    await store.close()
    node = await composition.build(settings)
    ready = asyncio.Event()
    running = asyncio.create_task(composition.serve(node, ready=lambda _n: ready.set()))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        users = node.telephony.users
        assert users.lookup("3001") is not None  # its digests are for the site's realm
        port = node.telephony.sip_port
        assert await asyncio.to_thread(_challenge_realm, port, "3001") == "hq.example"
        async with httpx.AsyncClient(base_url=node.url) as web:
            login = await web.post("/api/auth/login", json={"username": "boss",
                                                            "password": "boss-password"})
            csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
            site = (await web.get("/api/site")).json()
            changed = await web.put("/api/site", headers=csrf,
                                    json={**site, "sip_realm": "branch.example"})
            assert changed.status_code == 200, changed.text
            assert await _until(lambda: node.telephony.realm == "branch.example")
            assert await _until(lambda: users.lookup("3001") is None)  # old digests
            assert await asyncio.to_thread(_challenge_realm, port, "3001") == "branch.example"
            again = await web.put("/api/devices/3001", headers=csrf,
                                  json={"name": "3001", "sip_password": "pw3001"})
            assert again.status_code == 200, again.text
            assert await _until(lambda: users.lookup("3001") is not None)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def test_hot_standby_needs_postgresql_and_a_renewal_well_within_the_lapse(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_HA__NODE_NAME", "a")
    with pytest.raises(ConfigError, match="hot standby needs PostgreSQL") as refused:
        Settings()
    assert refused.value.field == "ha"
    monkeypatch.setenv("PARLEY_DATABASE_URL", "postgresql://parley@db/parley")
    ha = Settings().ha
    assert ha is not None
    assert (ha.node_name, ha.cluster, ha.renew_interval_s, ha.lapse_s, ha.stop_after_s) == \
        ("a", "default", 1.0, 3.0, 2.0)
    monkeypatch.setenv("PARLEY_HA__RENEW_INTERVAL_S", "2")
    with pytest.raises(ValidationError, match=r"renew_interval_s \(2.0\) must be at most half"):
        Settings()


def test_a_floating_address_needs_its_prefix_and_a_device(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_DATABASE_URL", "postgresql://parley@db/parley")
    monkeypatch.setenv("PARLEY_HA__NODE_NAME", "a")
    monkeypatch.setenv("PARLEY_HA__FLOATING_IP", "192.0.2.10/24")
    with pytest.raises(ValidationError, match=r"ha.interface is required with ha.floating_ip"):
        Settings()
    monkeypatch.setenv("PARLEY_HA__INTERFACE", "eth0")
    ha = Settings().ha
    assert ha is not None
    assert (str(ha.floating_ip), ha.interface) == ("192.0.2.10/24", "eth0")
    for wrong, said in (("192.0.2.10", "with its prefix length"),
                        ("192.0.2.0/24", "not an address a host can hold"),
                        ("127.0.0.5/8", "not an address a host can hold"),
                        ("192.0.2.300/24", "floating_ip")):
        monkeypatch.setenv("PARLEY_HA__FLOATING_IP", wrong)
        with pytest.raises(ValidationError, match=said):
            Settings()
    monkeypatch.delenv("PARLEY_HA__FLOATING_IP")
    with pytest.raises(ValidationError, match=r"ha\.floating_ip is not"):
        Settings()


def test_the_node_address_is_the_nodes_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_DATABASE_URL", "postgresql://parley@db/parley")
    monkeypatch.setenv("PARLEY_HA__NODE_NAME", "a")
    monkeypatch.setenv("PARLEY_HA__FLOATING_IP", "192.0.2.10/24")
    monkeypatch.setenv("PARLEY_HA__INTERFACE", "eth0")
    monkeypatch.setenv("PARLEY_HA__NODE_ADDRESS", "192.0.2.11")
    ha = Settings().ha
    assert ha is not None
    assert str(ha.node_address) == "192.0.2.11"
    monkeypatch.setenv("PARLEY_HA__NODE_ADDRESS", "192.0.2.10")
    with pytest.raises(ValidationError, match=r"ha.node_address \(192.0.2.10\) is the "
                       r"floating address: give this node's own address"):
        Settings()
    monkeypatch.setenv("PARLEY_HA__NODE_ADDRESS", "pbx-a.example.net")
    with pytest.raises(ValidationError, match="node_address"):
        Settings()


def test_shared_recordings_name_their_folder(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("PARLEY_MEDIA__RECORDINGS_SHARED", "true")
    with pytest.raises(ValidationError, match=r"media.recordings_shared: set "
                       r"media.recordings_dir to the shared folder"):
        Settings()
    monkeypatch.setenv("PARLEY_MEDIA__RECORDINGS_DIR", str(tmp_path / "shared"))
    settings = Settings(data_dir=tmp_path / "own")
    assert recordings_dir(settings.data_dir, settings.media) == tmp_path / "shared"
    assert settings.media.recordings_shared
    monkeypatch.delenv("PARLEY_MEDIA__RECORDINGS_DIR")
    monkeypatch.delenv("PARLEY_MEDIA__RECORDINGS_SHARED")
    plain = Settings(data_dir=tmp_path / "own")
    assert recordings_dir(plain.data_dir, plain.media) == tmp_path / "own" / "recordings"


async def test_nodes_started_in_one_process_are_let_go_once_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node freezes its process's objects out of the collector's scans as it starts; a
    process that starts node after node (the test suite's hundreds) must still get the
    stopped ones back, or it keeps about 30 MB for each: here every second stopped node."""
    monkeypatch.setattr(nodes, "LET_GO_EVERY", 2)
    monkeypatch.setattr(nodes, "_stopped", [0])
    async with nodes.demo_node(tmp_path / "first") as first:
        stopped_first = weakref.ref(first)
        assert gc.get_freeze_count() > 0  # the running node keeps its objects out of scans
    del first
    await asyncio.sleep(0.05)  # the loop lets go of the node's last finished tasks
    gc.collect()
    assert stopped_first() is not None  # frozen: a collection does not see it
    async with nodes.demo_node(tmp_path / "second") as second:
        stopped_second = weakref.ref(second)
    assert stopped_first() is None  # let go as the second stopped
    del second
    await asyncio.sleep(0.05)
    nodes.let_stopped_nodes_go(every=1)  # the second's last tasks are gone only now
    assert stopped_second() is None
    assert gc.get_freeze_count() > 0  # what lives on stays out of the scans
