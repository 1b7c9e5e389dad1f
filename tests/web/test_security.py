"""The web's locks against guessing, against a real API server: failed logins are delayed per
name *and* address with a growing delay (the admin still signs in while an attacker fails
from elsewhere), a trusted proxy's forwarded client address is used (and a forged one from
anyone else ignored), trusted networks are never delayed, the SIP ban list is visible to
admins and can be lifted, security events reach the audit log and webhooks, and CSRF holds
in every variant tried."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import httpx
import pytest

from parley.store.specs import WebhookSpec
from parley.testing.api import ApiServer

from .conftest import Api

ATTACKER = "203.0.113.9"
ADMIN_HOME = "198.51.100.7"


def _login(url: str, username: str, password: str, *,
           forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with httpx.Client(base_url=url, timeout=30) as client:
        return client.post("/api/auth/login", json={"username": username, "password": password},
                           headers=headers)


def _proxied_server(database_url: str, base_delay_s: float) -> ApiServer:
    """An API server behind a trusted proxy on loopback (its X-Forwarded-For is believed),
    with 10.9.0.0/16 a trusted network."""
    return ApiServer(database_url, trusted_proxies=("127.0.0.1",),
                     trusted_networks=("10.9.0.0/16",), login_base_delay_s=base_delay_s)


@pytest.fixture
def proxied(database_url: str) -> Iterator[ApiServer]:
    """A proxied server whose first delay (a minute) outlasts any pause of a busy machine
    between two attempts, so whether an attempt is delayed never depends on timing."""
    with _proxied_server(database_url, 60.0) as server:
        server.add_user("admin1", ["admin"])
        yield server


def test_the_admin_signs_in_while_an_attacker_fails_from_another_address(
        proxied: ApiServer) -> None:
    statuses = [_login(proxied.url, "admin1", f"guess-{n}", forwarded_for=ATTACKER).status_code
                for n in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    assert _login(proxied.url, "admin1", "password-123",
                  forwarded_for=f"{ATTACKER}, 127.0.0.1").status_code == 429
    # The admin, from home, is not delayed at all.
    assert _login(proxied.url, "admin1", "password-123",
                  forwarded_for=ADMIN_HOME).status_code == 200
    # A client-written hop to the left of the proxy's entry proves nothing.
    spoofed = _login(proxied.url, "admin1", "guess", forwarded_for=f"{ADMIN_HOME}, {ATTACKER}")
    assert spoofed.status_code == 429


def test_the_delay_grows_instead_of_locking_out(database_url: str) -> None:
    # A first delay of 3 s: a busy machine's pause between two attempts cannot outlast it.
    with _proxied_server(database_url, 3.0) as proxied:
        proxied.add_user("admin1", ["admin"])
        for n in range(5):
            assert _login(proxied.url, "admin1", f"g{n}",
                          forwarded_for=ATTACKER).status_code == 401
        first = _login(proxied.url, "admin1", "g", forwarded_for=ATTACKER)
        assert first.status_code == 429
        assert first.headers["Retry-After"] == "3"
        time.sleep(3.1)
        assert _login(proxied.url, "admin1", "g6", forwarded_for=ATTACKER).status_code == 401
        second = _login(proxied.url, "admin1", "g", forwarded_for=ATTACKER)
        assert second.status_code == 429
        assert second.headers["Retry-After"] == "6"
        time.sleep(6.1)
        assert _login(proxied.url, "admin1", "password-123",
                      forwarded_for=ATTACKER).status_code == 200  # a delay, never a lockout


def test_trusted_networks_are_never_delayed(proxied: ApiServer) -> None:
    statuses = [_login(proxied.url, "admin1", f"typo-{n}", forwarded_for="10.9.4.4").status_code
                for n in range(12)]
    assert statuses == [401] * 12
    assert _login(proxied.url, "admin1", "password-123",
                  forwarded_for="10.9.4.4").status_code == 200


def test_forwarded_addresses_from_an_untrusted_peer_are_ignored(database_url: str) -> None:
    """Without a trusted proxy, X-Forwarded-For cannot be used to dodge the limit."""
    with ApiServer(database_url, trusted_proxies=(), login_base_delay_s=60.0) as server:
        server.add_user("admin1", ["admin"])
        statuses = [_login(server.url, "admin1", f"g{n}",
                           forwarded_for=f"192.0.2.{n}").status_code for n in range(6)]
    assert statuses == [401] * 5 + [429]


def test_throttled_logins_are_in_the_audit_log(proxied: ApiServer) -> None:
    for n in range(5):
        _login(proxied.url, "admin1", f"g{n}", forwarded_for=ATTACKER)
    store = proxied.store
    assert store is not None
    for _ in range(50):
        page = proxied.call(lambda: store.audit.list(target_type="security"))
        if page.items:
            break
        time.sleep(0.1)
    [entry] = page.items
    assert (entry.actor, entry.action, entry.target) == ("security", "login_throttled",
                                                         ATTACKER)
    assert entry.detail["user"] == "admin1"
    assert entry.detail["failures"] == 5


# --- the SIP ban list ---------------------------------------------------------------------


def _ban(api: Api, address: str) -> None:
    def guess() -> None:
        for _ in range(api.guard.settings.address_failures):
            api.guard.failed(address, "1001", "wrong password")

    async def run() -> None:
        guess()

    api.server.call(run)


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_admins_see_and_lift_sip_bans_and_sites_are_told(api: Api) -> None:
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.bodies = []
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        store = api.server.store
        assert store is not None
        hook = WebhookSpec(name="alerts", url=f"http://127.0.0.1:{receiver.server_port}/hook",
                           events=["security.alert"], secret="s" * 20)
        api.server.call(lambda: store.config.put("webhooks", hook))
        _ban(api, ATTACKER)
        with closing(api.client("admin")) as admin, closing(api.client("agent")) as agent, \
                closing(api.client("supervisor")) as supervisor:
            assert agent.get("/api/security/bans").status_code == 403
            assert supervisor.get("/api/security/bans").status_code == 403
            [ban] = admin.get("/api/security/bans").json()
            assert (ban["kind"], ban["subject"], ban["failures"]) == ("address", ATTACKER, 10)
            assert "wrong answers" in ban["reason"]
            assert ban["until"] > ban["since"]
            assert agent.delete(f"/api/security/bans/address/{ATTACKER}").status_code == 403
            assert admin.delete(f"/api/security/bans/address/{ATTACKER}").status_code == 204
            assert admin.get("/api/security/bans").json() == []
            assert admin.delete(f"/api/security/bans/address/{ATTACKER}").status_code == 404
            assert admin.delete("/api/security/bans/router/x").status_code == 422
            for _ in range(100):
                kinds = [body["data"]["kind"] for body in _Receiver.bodies]  # type: ignore[index]
                if len(kinds) >= 2:
                    break
                time.sleep(0.05)
            assert kinds == ["ban", "ban_lifted"]
            assert all(body["event"] == "security.alert" for body in _Receiver.bodies)
            for _ in range(100):  # the event's entry comes with the recorder's next write
                audit = admin.get("/api/audit", params={"target_type": "security"}).json()
                actions = sorted(item["action"] for item in audit["items"])
                if len(actions) >= 3:
                    break
                time.sleep(0.05)
            assert actions == ["ban", "ban_lifted", "ban_lifted"]  # the event and the admin
    finally:
        receiver.shutdown()


# --- CSRF: every variant tried is refused ---------------------------------------------------


def test_csrf_is_refused_in_every_variant(api: Api) -> None:
    other = httpx.Client(base_url=api.url, timeout=30)
    other_csrf = other.post("/api/auth/login", json={"username": "super1",
                                                     "password": "password-123"}
                            ).json()["csrf_token"]
    client = httpx.Client(base_url=api.url, timeout=30)
    with closing(client), closing(other):
        csrf = client.post("/api/auth/login", json={"username": "admin1",
                                                    "password": "password-123"}
                           ).json()["csrf_token"]
        body = {"name": "csrf-probe"}
        variants: dict[str, dict[str, object]] = {
            "none": {},
            "empty header": {"headers": {"X-CSRF-Token": ""}},
            "wrong": {"headers": {"X-CSRF-Token": "x" * len(csrf)}},
            "another session's": {"headers": {"X-CSRF-Token": other_csrf}},
            "in the query string": {"params": {"csrf_token": csrf}},
            "cookie echoed as header name": {"headers": {"X-CSRF": csrf}},
            "truncated": {"headers": {"X-CSRF-Token": csrf[:-1]}},
            "with a suffix": {"headers": {"X-CSRF-Token": csrf + "a"}},
            "case changed": {"headers": {"X-CSRF-Token": csrf.swapcase()}},
        }
        for name, extra in variants.items():
            for method in ("POST", "PUT", "DELETE"):
                path = "/api/skills" if method == "POST" else "/api/skills/csrf-probe"
                response = client.request(method, path, json=body if method != "DELETE"
                                           else None, **extra)  # type: ignore[arg-type]
                assert response.status_code == 403, (name, method, response.status_code)
        # A form post with a wrong csrf_token field, and a JSON body claiming to be a form.
        form = client.post("/api/skills", data={"name": "csrf-probe", "csrf_token": "nope"})
        assert form.status_code == 403
        sneaky = client.post("/api/skills", content=json.dumps(body),
                             headers={"Content-Type": "text/plain"})
        assert sneaky.status_code == 403
        assert client.get("/api/skills/csrf-probe").status_code == 404  # nothing got through
        ok = client.post("/api/skills", json=body, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 201


# --- path traversal on the download routes -----------------------------------------------


def test_download_routes_never_serve_a_file_outside_the_recordings_folder(api: Api) -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    from parley.store.records import RecordingRecord, VoicemailRecord

    folder = api.server.recordings_dir
    store = api.server.store
    assert folder is not None
    assert store is not None
    Path(folder).mkdir(parents=True, exist_ok=True)  # a node makes it on its first recording
    secret = Path(folder).parent / "secret.wav"
    secret.write_bytes(b"RIFF-the-secret")
    (Path(folder) / "link.wav").symlink_to(secret)
    now = datetime.now(UTC)
    for record_id, path in (("dotdot", f"{folder}/../secret.wav"),
                            ("link", f"{folder}/link.wav"), ("absolute", str(secret))):
        api.server.call(lambda record_id=record_id, path=path: store.recordings.add(
            RecordingRecord(record_id, None, path, "audio/wav", now, 1.0)))
        api.server.call(lambda record_id=record_id, path=path: store.voicemails.add(
            VoicemailRecord(f"vm-{record_id}", "sales", "5550100", now, path, 1.0, False)))
    ids = ["dotdot", "link", "absolute", "..%2Fsecret.wav", "%2e%2e%2f%2e%2e%2fsecret.wav",
           "..%252Fsecret.wav", "%2Fetc%2Fpasswd", "....%2F%2Fsecret.wav", "%00secret"]
    with api.client("admin") as admin:
        for route in ("recordings", "voicemails"):
            for record_id in ids:
                name = f"vm-{record_id}" if route == "voicemails" and record_id in (
                    "dotdot", "link", "absolute") else record_id
                response = admin.get(f"/api/{route}/{name}/audio")
                assert response.status_code in (404, 422), (route, name, response.status_code)
                assert b"the-secret" not in response.content
