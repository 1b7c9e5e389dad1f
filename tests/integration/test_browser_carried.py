"""An operator answering in the browser keeps talking through a takeover: Chromium (in the
peers' namespace, its microphone a fake device) signs in to /phone at the floating address
of a two-node cluster and answers a caller from the queue; the active node is killed, or
hands its calls over in a planned switch-over. The
node taking over goes on with both legs: the caller's (plain RTP) and the browser's (the same
ICE credentials and SRTP keys, from where each stream was), so audio comes back both ways
within the limit without a new offer, the page's call stays up while it connects and
registers again, and the caller's BYE reaches the page over its new connection."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from parley.store import open_store
from parley.store.database import database_url
from parley.testing.needs import CHROMIUM as CHROMIUM_NEED
from parley.testing.needs import needs
from parley.testing.netns import NETNS, Host, Lan
from parley.testing.netns import lan as lan
from parley.testing.peers import noise_signal, write_wav
from parley.testing.postgres import (  # noqa: F401 - fixtures
    postgres_database,
    postgres_server_url,
    postgres_template,
)
from parley.testing.standby import HTTP_PORT, QUEUE_NUMBER, TalkingCaller

from ..browser.conftest import CHROMIUM
from ..browser.test_phone_page import chromium_args
from .test_call_carried import (
    TAKEOVER_LIMIT_S,
    ann_site,
    closed_records,
    cluster,
    fail_over,
    heard_again,
    kept_whole,
)

pytestmark = [needs(NETNS, CHROMIUM_NEED), pytest.mark.browser]

#: every RTCPeerConnection the page makes, for its statistics
KEEP_CONNECTIONS = """(() => {
  const Original = window.RTCPeerConnection;
  window.parleyConnections = [];
  window.RTCPeerConnection = function (...args) {
    const connection = new Original(...args);
    window.parleyConnections.push(connection);
    return connection;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
})();"""
#: RTP packets the page's calls received (decrypted: SRTP refused is not counted)
PACKETS_RECEIVED = """async () => {
  let packets = 0;
  for (const connection of window.parleyConnections) {
    (await connection.getStats()).forEach((report) => {
      if (report.type === "inbound-rtp" && report.kind === "audio") {
        packets += report.packetsReceived;
      }
    });
  }
  return packets;
}"""


@contextlib.asynccontextmanager
async def chromium_on(host: Host, tmp_path: Path, origin: str) -> AsyncIterator[Any]:
    """Chromium running in ``host``'s namespace (Playwright drives it over a pipe), taking
    ``origin`` (plain HTTP on the LAN) as secure, as a site behind TLS would be."""
    from playwright.async_api import async_playwright

    wrapper = tmp_path / "chromium-in-namespace"
    wrapper.write_text("#!/bin/sh\nexec " + shlex.join(host.command(CHROMIUM)) + ' "$@"\n')
    wrapper.chmod(0o755)
    microphone = write_wav(tmp_path / "page-microphone.wav", noise_signal(30.0, 77))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(wrapper), headless=True,
            args=[*chromium_args(microphone),
                  f"--unsafely-treat-insecure-origin-as-secure={origin}"])
        try:
            yield browser
        finally:
            await browser.close()


async def packets_received(page: Any) -> int:
    return int(await page.evaluate(PACKETS_RECEIVED))


@pytest.mark.parametrize("how", ["killed", "switched over"])
async def test_an_operator_in_the_browser_keeps_talking_through_a_takeover(
        tmp_path: Path, lan: Lan, postgres_database: tuple[str, str],  # noqa: F811
        how: str) -> None:
    """``how`` the active node goes: SIGKILL (its host resets the page's connection), or a
    planned switch-over (the old node must close the page's WebSocket while it still has
    the address, and not say goodbye to the browser's DTLS)."""
    from playwright.async_api import expect

    async with cluster(tmp_path, lan, postgres_database, lambda _peers: ann_site(tmp_path)) \
            as c:
        origin = f"http://{c.address}:{HTTP_PORT}"
        caller = TalkingCaller(c.peers, c.address, "555001", "", QUEUE_NUMBER)
        async with chromium_on(c.peers, tmp_path, origin) as browser:
            try:
                standby = c.standby
                page = await browser.new_page(viewport={"width": 1366, "height": 768})
                await page.add_init_script(KEEP_CONNECTIONS)
                await page.goto(f"{origin}/phone")
                await page.get_by_label("User name").fill("ann")
                await page.get_by_label("Password").fill("secret-2101-web")
                await page.get_by_role("button", name="Sign in").click()
                status = page.get_by_role("status")
                await expect(status).to_have_text("Ready: the phone is registered",
                                                  timeout=20_000)
                await asyncio.sleep(0.5)  # ann ready on registering
                assert (await caller.call()).status == 200
                await expect(status).to_have_text("Incoming call from 555001", timeout=10_000)
                await page.get_by_role("button", name="Answer").click()
                await expect(status).to_have_text("In a call with 555001", timeout=10_000)
                await asyncio.sleep(2.0)  # talking
                await kept_whole(c, tmp_path)  # once the browser's DTLS is done
                now = time.monotonic()
                assert caller.heard_between(now - 1.0, now) >= 40  # the page's microphone
                assert await packets_received(page) > 50  # the caller, in the page

                killed = await fail_over(c, how, b"hands 1 answered call(s)")
                resumed_after = await heard_again(caller, killed, within_s=TAKEOVER_LIMIT_S)
                assert resumed_after <= TAKEOVER_LIMIT_S, (
                    resumed_after, standby.output.decode(errors="replace")[-4000:])
                # the page hears the caller again within the same limit
                start = await packets_received(page)
                while await packets_received(page) < start + 10:
                    assert time.monotonic() - killed <= TAKEOVER_LIMIT_S, (
                        "the page hears nothing again",
                        standby.output.decode(errors="replace")[-4000:])
                    await asyncio.sleep(0.1)
                assert b"call_carried_over" in standby.output
                # the page reconnects and registers again; its call stays up meanwhile
                for _ in range(150):
                    if b"call_reattached" in standby.output:
                        break
                    await asyncio.sleep(0.1)
                assert b"call_reattached" in standby.output, \
                    standby.output.decode(errors="replace")[-4000:]
                await expect(status).to_have_text("In a call with 555001")
                before = await packets_received(page)
                await asyncio.sleep(1.0)
                assert await packets_received(page) - before >= 40  # 50 a second
                now = time.monotonic()
                assert caller.heard_between(now - 1.0, now) >= 40
                await page.screenshot(path=str(tmp_path / "after-takeover.png"))

                assert (await caller.hang_up()).status == 200  # reaches the page
                await expect(status).to_have_text("Call ended (Terminated)", timeout=10_000)
            finally:
                await caller.close()
        store = await open_store(database_url(c.server_url, tmp_path), run_migrations=False)
        try:
            (record,) = await closed_records(store, 1)
            assert (record.outcome, record.operator) == ("answered", "ann")
            kinds = [entry.kind for entry in record.timeline]
            assert "carried over" in kinds, kinds
            assert "back in line" not in kinds, kinds  # carried whole, not re-queued
        finally:
            await store.close()
