"""An operator outside the office: the browser phone's media goes through a TURN server
(coturn, started by the test with a shared secret) when the node says so. The page gets
short-lived TURN credentials made with the secret, Chromium is held to relayed candidates
only, and a call to the echo test is heard back through the relay, which coturn's log shows
it carried."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.testing.needs import HOLD_MUSIC, STOCK_PROMPTS, TURNSERVER, needs, require
from parley.testing.ports import free_port, free_port_block

from ..integration.inbound_node import demo_node
from .test_phone_calls import chromium, heard, microphone, signed_in, sounds_like, status_is

pytestmark = [pytest.mark.browser, needs(STOCK_PROMPTS, HOLD_MUSIC)]

SECRET = "a-shared-turn-secret"


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """coturn on loopback with a shared secret; its port and its log."""
    require(TURNSERVER)
    port, relays = free_port(), free_port_block(20)
    log = tmp_path / "turn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
             f"--listening-port={port}", f"--min-port={relays}", f"--max-port={relays + 19}",
             "--use-auth-secret", f"--static-auth-secret={SECRET}", "--realm=parley.test",
             "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint",
             "--log-file=stdout", "--simple-log", "--verbose",
             f"--pidfile={tmp_path / 'turn.pid'}", f"--userdb={tmp_path / 'turn.db'}"],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        yield port, log
    finally:
        server.terminate()
        server.wait(10)


async def test_a_browser_phone_held_to_turn_relays_hears_the_echo_through_coturn(
        tmp_path: Path, coturn: tuple[int, Path]) -> None:
    port, log = coturn
    mine = microphone(tmp_path)
    webrtc = {"ice_servers": [{"urls": [f"turn:127.0.0.1:{port}?transport=udp"]}],
              "turn_secret": SECRET, "ice_transport_policy": "relay"}
    async with demo_node(tmp_path, webrtc=webrtc) as node, chromium(mine) as browser:
        page = await signed_in(browser, node, "1001", "pw1001")
        await page.get_by_label("Number").fill("500")
        await page.get_by_role("button", name="Call").click()
        await status_is(page, "In a call with 500")
        received = await heard(page, tmp_path / "echo.wav", 4.0)
        await page.get_by_role("button", name="Hang up").click()
        await status_is(page, "Call ended (Terminated)")
        # what the page was given (asked again after the call: each answer is a new password)
        given = await page.evaluate("""async () => {
          const csrf = document.cookie.split("; ").find((c) => c.startsWith("parley_csrf="));
          const answer = await fetch("/api/phone/credentials", {method: "POST",
            headers: {"X-CSRF-Token": csrf ? csrf.split("=")[1] : ""}});
          return answer.json();
        }""")
        [server] = given["ice_servers"]
        assert given["ice_transport_policy"] == "relay"
        assert server["username"].endswith(":1001")  # EXPIRY:USER, for the secret
        await asyncio.sleep(0.5)
    assert sounds_like(received, mine) > 0.5
    carried = log.read_text("utf-8", "replace")
    assert "ALLOCATE processed, success" in carried, carried[-3000:]
    assert "CREATE_PERMISSION processed, success" in carried, carried[-3000:]
