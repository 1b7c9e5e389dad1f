"""The `parley` command as an operator uses it: user add, import, export, migrate, and serve
answering real HTTP until Ctrl-C; on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from parley.testing.ports import free_port, free_port_block
from parley.testing.postgres import (  # noqa: F401
    database_backend,
    database_url,
    postgres_server_url,
    postgres_template,
)

#: On both cores with the tests that need no peer: commands and a node answering HTTP, with
#: no call and no check on timing.
pytestmark = pytest.mark.beside_others

SITE = """\
site:
  name: Test site
  time_zone: Europe/Berlin
  sip_realm: test.example
skills:
  - name: german
users:
  - username: "1001"
    roles: [agent]
    password: pw-for-1001
    skills: {german: 3}
devices:
  - name: "1001"
    user: "1001"
    sip_password: pw1001
queues:
  - name: support
    members: ["1001"]
"""


PARLEY = str(Path(sys.executable).with_name("parley"))  # the installed console script


def parley(*args: str, url: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PARLEY, *args, "--database-url", url, "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_user_add_import_export_and_serve(database_url: str,  # noqa: F811
                                          tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert parley("migrate", url=database_url, data=data).stdout.startswith(
        "database schema at revision")
    added = parley("user", "add", "boss", "--role", "admin", "--password", "boss-password",
                   "--token", url=database_url, data=data)
    assert added.returncode == 0, added.stderr
    token = added.stdout.split("API token (shown once): ")[1].strip()

    site = tmp_path / "site.yaml"
    site.write_text(SITE)
    imported = parley("import", str(site), url=database_url, data=data)
    assert imported.returncode == 0, imported.stderr
    assert "1 users" in imported.stdout
    exported = tmp_path / "export.yaml"
    assert parley("export", "-o", str(exported), url=database_url, data=data).returncode == 0
    assert "pw1001" not in exported.read_text()
    again = parley("import", str(exported), url=database_url, data=data)
    assert again.stdout.strip().endswith("nothing changed"), again.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text("queues:\n  - name: q\n    members: [nobody]\n")
    refused = parley("import", str(bad), url=database_url, data=data)
    assert refused.returncode == 2
    assert f"{bad}:3:" in refused.stderr
    assert "nobody" in refused.stderr

    port = free_port()
    rtp_first = free_port_block(20)
    server = subprocess.Popen(
        [PARLEY, "serve", "--http-port", str(port), "--database-url", database_url,
         "--sip-port", str(free_port()), "--rtp-ports", f"{rtp_first}-{rtp_first + 19}",
         "--data-dir", str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("parley serve did not start") from None
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        users = httpx.get(f"{base}/api/users", headers=headers).json()
        assert [u["username"] for u in users] == ["1001", "boss"]
        assert httpx.get(f"{base}/api/site", headers=headers).json()["time_zone"] == \
            "Europe/Berlin"
        login = httpx.post(f"{base}/api/auth/login",
                           json={"username": "1001", "password": "pw-for-1001"})
        assert login.status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "Parley stopped." in out
