"""The browser phone page in a real Chromium against a running demo node: an operator signs
in at /phone, the page registers as 1001 over ws://…/sip with the session's short-lived
credentials, the operator becomes ready, and the page passes axe-core's checks in English and
Russian at 1366x768 (its screenshot is kept beside this file to look at)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.app import Node

from ..integration.inbound_node import demo_node
from ..integration.test_api_live import acd_state, eventually
from .conftest import AXE, CHROMIUM, chromium_path

SCREENSHOT = Path(__file__).parent / "phone-page.png"

pytestmark = pytest.mark.browser


def chromium_args(wav: Path) -> list[str]:
    """A browser with a fake microphone playing ``wav`` and WebRTC on loopback."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
            "--allow-loopback-in-peer-connection",
            "--autoplay-policy=no-user-gesture-required"]


async def axe_violations(page: object) -> list[str]:
    """axe-core's WCAG 2 A/AA violations on the page, as "rule: first target" lines."""
    await page.add_script_tag(path=str(AXE))  # type: ignore[attr-defined]
    found = await page.evaluate(  # type: ignore[attr-defined]
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations"
        ".map(v => v.id + ': ' + JSON.stringify(v.nodes[0].target))")
    return list(found)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    chromium_path(axe=True)
    async with demo_node(tmp_path) as running:
        yield running


async def test_an_operator_signs_in_at_phone_and_the_browser_registers_as_1001(
        node: Node, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    from parley.testing.peers import noise_signal, write_wav

    wav = write_wav(tmp_path / "microphone.wav", noise_signal(5.0, 3))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=chromium_args(wav))
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{node.url}/phone")
            assert await axe_violations(page) == []
            # by keyboard alone: tab to the fields, type, press Enter
            await page.keyboard.press("Tab")
            await expect(page.get_by_label("User name")).to_be_focused()
            await page.keyboard.type("1001")
            await page.keyboard.press("Tab")
            await page.keyboard.type("pw1001")
            await page.keyboard.press("Enter")
            status = page.get_by_role("status")
            await expect(status).to_have_text("Ready: the phone is registered",
                                              timeout=20_000)
            assert [b.transport for b in node.telephony.engine.contacts_of("1001")] == ["WS"]
            await acd_state(node, "1001", "ready")
            await expect(page.get_by_role("heading", name="Signed in as 1001; extension 1001")
                         ).to_be_visible()
            for name in ("Call", "Answer", "Reject", "Hang up", "Mute", "Hold", "Transfer"):
                await expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
            await expect(page.get_by_role("group", name="Dial pad")
                         .get_by_role("button")).to_have_count(12)
            box = await page.locator("main").bounding_box()
            assert box is not None
            assert box["y"] + box["height"] <= 768  # fits the screen without scrolling
            await page.screenshot(path=SCREENSHOT)
            assert await axe_violations(page) == []
            # the page never holds the device's SIP password
            html = await page.content()
            assert "pw1001" not in html.replace('value="pw1001"', "")

            # closing the tab closes the socket: the registration goes with it
            await page.close()
            await eventually(lambda: _unregistered(node, "1001"), what="1001 unregistered")
            assert errors == []

            russian = await browser.new_page(viewport={"width": 1366, "height": 768})
            await russian.goto(f"{node.url}/phone?lang=ru")
            await expect(russian.get_by_role("heading", name="Телефон Parley")).to_be_visible()
            await expect(russian.get_by_label("Имя пользователя")).to_be_visible()
            assert await axe_violations(russian) == []
        finally:
            await browser.close()


async def _unregistered(node: Node, user: str) -> bool:
    return not node.telephony.engine.contacts_of(user)


async def test_the_browser_phone_registers_again_by_itself_when_the_node_comes_back(
        tmp_path: Path) -> None:
    """A node that restarted (or a standby that took over the address) does not know the
    page's short-lived SIP credentials: the page gets fresh ones and registers again without
    the operator doing anything, and the operator is ready again."""
    from playwright.async_api import async_playwright, expect

    from parley.testing.peers import noise_signal, write_wav
    from parley.testing.ports import free_port

    chromium_path()
    wav = write_wav(tmp_path / "microphone.wav", noise_signal(5.0, 3))
    ports = {"sip_port": free_port(), "http_port": free_port()}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=chromium_args(wav))
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
            status = page.get_by_role("status")
            async with demo_node(tmp_path, **ports) as node:
                await page.goto(f"{node.url}/phone")
                await page.get_by_label("User name").fill("1001")
                await page.get_by_label("Password").fill("pw1001")
                await page.get_by_role("button", name="Sign in").click()
                await expect(status).to_have_text("Ready: the phone is registered",
                                                  timeout=20_000)
            # the node is gone: its socket closed under the page
            await expect(status).not_to_have_text("Ready: the phone is registered",
                                                  timeout=10_000)
            async with demo_node(tmp_path, **ports) as restarted:
                await expect(status).to_have_text("Ready: the phone is registered",
                                                  timeout=30_000)
                assert [b.transport for b in restarted.telephony.engine.contacts_of("1001")] \
                    == ["WS"]
                await acd_state(restarted, "1001", "ready")
        finally:
            await browser.close()
