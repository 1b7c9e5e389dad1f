"""Sign-in through a directory, against a real OpenLDAP (Debian's slapd on a free loopback
port, started by the test) and a real Parley web server over HTTP: directory users land with
the roles and teams their groups map to, wrong passwords and users in no mapped group are
refused, and with the directory down local accounts still sign in. The admin pages for the
directory and for recording retention are checked on the same server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from parley.directory import DirectoryError, authenticate_blocking, check_blocking
from parley.store.records import RecordingRecord
from parley.testing.api import ApiServer
from parley.testing.needs import SLAPD, require
from parley.testing.slapd import Slapd

WRONG = "Wrong user name or password."


@pytest.fixture
def slapd() -> Iterator[Slapd]:
    require(SLAPD)
    with Slapd() as server:
        yield server


CLIENTS: list[httpx.Client] = []


@contextlib.contextmanager
def _clients() -> Iterator[None]:
    """Close the test's clients before its server stops (an open keep-alive connection
    would hold the server's shutdown)."""
    try:
        yield
    finally:
        while CLIENTS:
            CLIENTS.pop().close()


def _sign_in(url: str, username: str, password: str) -> tuple[httpx.Client, httpx.Response]:
    """Sign in at /login in a browser-like client of its own (closed after the test)."""
    client = httpx.Client(base_url=url, timeout=30)
    CLIENTS.append(client)
    return client, client.post("/login", data={"username": username, "password": password})


def test_directory_users_sign_in_with_their_groups_roles_and_teams(
        slapd: Slapd, tmp_path: Path) -> None:
    server = ApiServer(f"sqlite+aiosqlite:///{tmp_path / 'parley.sqlite3'}",
                       data_dir=tmp_path / "data", directory=slapd.settings())
    with server, _clients():
        admin_token = server.add_user("admin", ["admin"], "admin-password")
        api = httpx.Client(base_url=server.url, timeout=30,
                           headers={"Authorization": f"Bearer {admin_token}"})
        CLIENTS.append(api)

        # alice is in "agents": agent in team sales, lands at the desk
        alice, signed = _sign_in(server.url, "alice", "alice-secret")
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"] == "/desk"
        me = alice.get("/api/auth/me").json()
        assert (me["roles"], me["display_name"]) == (["agent"], "Alice Archer")
        user = api.get("/api/users/alice").json()
        assert (user["roles"], user["teams"]) == (["agent"], ["sales"])
        stored = server.call(lambda: server.store.accounts.login_user("alice"))  # type: ignore[union-attr]
        assert stored is not None
        assert stored.directory
        assert stored.password_hash is None

        # bob is in "supervisors": a supervisor of sales and support, lands on the console
        bob, signed = _sign_in(server.url, "bob", "bob-secret")
        assert signed.headers["location"] == "/supervisor"
        assert api.get("/api/users/bob").json()["teams"] == ["sales", "support"]
        assert api.get("/api/teams/support").status_code == 200  # made for the mapping
        assert bob.post("/api/auth/login", json={"username": "bob", "password": "bob-secret"}
                        ).json()["roles"] == ["supervisor"]

        # carol's password is right, but none of her groups is mapped
        carol, refused = _sign_in(server.url, "carol", "carol-secret")
        assert refused.status_code == 403
        assert "in no group that gives access to Parley" in refused.text
        assert api.get("/api/users/carol").status_code == 404
        in_russian = carol.post("/login", data={"username": "carol", "password": "carol-secret"},
                                headers={"Accept-Language": "ru"})
        assert "не входит ни в одну группу с доступом к Parley" in in_russian.text

        # a wrong password: the local refusal, counted by the sign-in throttling
        for _attempt in range(5):
            _client, wrong = _sign_in(server.url, "alice", "not-her-password")
            assert (wrong.status_code, WRONG in wrong.text) == (401, True)
        _client, throttled = _sign_in(server.url, "alice", "alice-secret")
        assert throttled.status_code == 429
        security = api.get("/api/audit", params={"target_type": "security"}).json()["items"]
        assert any(item["action"] == "login_throttled" and item["detail"]["user"] == "alice"
                   for item in security)

        # the admin page shows the settings and tests the connection
        admin, signed = _sign_in(server.url, "admin", "admin-password")
        page = admin.get("/admin/directory")
        assert page.status_code == 200
        assert slapd.url in page.text
        assert "cn=agents,ou=groups,dc=example,dc=org" in page.text
        assert "reader-secret" not in page.text
        csrf = admin.cookies["parley_csrf"]
        tested = admin.post("/admin/directory/test", data={"csrf_token": csrf})
        assert f"Connected to {slapd.url}" in tested.text
        assert api.get("/api/directory").json()["bind_dn"] == "cn=reader,dc=example,dc=org"
        # the users page marks who signs in through the directory, and alice's page says so
        assert "Active · directory" in admin.get("/admin/users").text
        assert "Signs in through the directory" in admin.get("/admin/users/alice").text
        assert "Signs in through the directory" not in admin.get("/admin/users/admin").text

        # the directory goes down: local accounts sign in, directory users are told why
        slapd.stop()
        admin, local = _sign_in(server.url, "admin", "admin-password")
        assert local.status_code == 303
        csrf = admin.cookies["parley_csrf"]
        _client, down = _sign_in(server.url, "bob", "bob-secret")
        assert down.status_code == 503
        assert "The directory cannot be reached" in down.text
        assert "Local accounts still can" in down.text
        tested = admin.post("/admin/directory/test", data={"csrf_token": csrf})
        assert "No connection: no directory server answered" in tested.text
        result = api.post("/api/directory/test").json()
        assert result["ok"] is False
        assert "Connection refused" in result["message"]


def test_retention_is_set_on_its_admin_page_and_checked_by_the_api(tmp_path: Path) -> None:
    server = ApiServer(f"sqlite+aiosqlite:///{tmp_path / 'parley.sqlite3'}",
                       data_dir=tmp_path / "data")
    with server, _clients():
        admin_token = server.add_user("admin", ["admin"], "admin-password")
        api = httpx.Client(base_url=server.url, timeout=30,
                           headers={"Authorization": f"Bearer {admin_token}"})
        CLIENTS.append(api)
        assert api.post("/api/queues", json={"name": "sales"}).status_code == 201
        admin, _signed = _sign_in(server.url, "admin", "admin-password")
        page = admin.get("/admin/retention")
        assert "Days to keep recordings, site-wide" in page.text
        assert "sales" in page.text
        csrf = admin.cookies["parley_csrf"]
        bad = admin.post("/admin/retention", data={"csrf_token": csrf, "site_days": "90",
                                                   "queue:sales": "soon"})
        assert bad.status_code == 422
        assert 'aria-invalid="true"' in bad.text
        assert "Enter whole days" in bad.text
        saved = admin.post("/admin/retention", data={"csrf_token": csrf, "site_days": "90",
                                                     "queue:sales": "365"})
        assert saved.headers["location"] == "/admin/retention?saved=1"
        policy = api.get("/api/retention").json()
        assert policy["site_days"] == 90
        assert [(q["queue"], q["keep_days"], q["updated_by"]) for q in policy["queues"]] \
            == [("sales", 365, "admin")]
        unknown = api.put("/api/retention", json={"queues": {"nosuch": 5}})
        assert unknown.status_code == 422
        assert unknown.json()["detail"] == "queues.nosuch: no queue named 'nosuch'"
        assert api.put("/api/retention", json={"site_days": 0}).status_code == 422
        # a 100-day-old recording on disk: the sweep deletes its file, its audio is gone
        assert server.recordings_dir is not None
        path = server.recordings_dir / "2026-08-01" / "rec-1.wav"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"RIFF" + bytes(100))
        started = datetime.now(UTC) - timedelta(days=100)

        async def record() -> None:
            assert server.store is not None
            await server.store.interactions.open("call-1", direction="inbound", caller="+1",
                                                 called="600", started_at=started)
            await server.store.recordings.add(RecordingRecord(
                "rec-1", "call-1", str(path), "audio/wav", started, 1.0))

        server.call(record)
        assert api.get("/api/recordings/rec-1/audio").status_code == 200
        swept = admin.post("/admin/retention/sweep", data={"csrf_token": csrf})
        assert "1 recordings deleted, 0 already gone" in swept.text
        assert not path.exists()
        gone = api.get("/api/recordings/rec-1/audio")
        assert gone.status_code == 410
        assert "after its retention period" in gone.json()["detail"]
        assert api.get("/api/recordings").json()["items"][0]["deleted_at"] is not None
        changed = api.get("/api/audit", params={"action": "retention_changed"}).json()
        assert changed["items"][0]["detail"]["keep_days"] == {"site": 90,
                                                              "queue:sales": 365}


def test_starttls_and_ldaps_check_the_servers_certificate() -> None:
    require(SLAPD)
    with Slapd(tls=True) as slapd:
        for settings in (slapd.settings(start_tls=True, ca_file=slapd.certificate),
                         slapd.settings(urls=[slapd.tls_url], ca_file=slapd.certificate)):
            account = authenticate_blocking(settings, "bob", "bob-secret")
            assert account is not None
            assert account.roles == ("supervisor",)
            assert authenticate_blocking(settings, "bob", "wrong") is None
        # a certificate nobody said to trust: the directory counts as unreachable
        for settings in (slapd.settings(start_tls=True), slapd.settings(urls=[slapd.tls_url])):
            with pytest.raises(DirectoryError, match="CERTIFICATE_VERIFY_FAILED"):
                authenticate_blocking(settings, "bob", "bob-secret")
            assert not check_blocking(settings).ok
        unchecked = slapd.settings(urls=[slapd.tls_url], verify_certificate=False)
        assert check_blocking(unchecked).ok
