"""The Directory and Recording retention admin pages in a real Chromium, with a real slapd:
the admin tests the directory connection and sees which server answered; a retention that
is not a number of days is refused beside its field, then saved. axe-core finds nothing on
either page; screenshots at 1366x768 go to docs/images for docs/admin.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.store.specs import QueueSpec
from parley.testing.api import ApiServer
from parley.testing.needs import SLAPD, require
from parley.testing.slapd import Slapd

from .conftest import CHROMIUM, chromium_path
from .test_admin import PASSWORD, SHOTS, _signed_in
from .test_phone_page import axe_violations

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ApiServer, Slapd]]:
    chromium_path(axe=True)
    require(SLAPD)
    with Slapd() as slapd, ApiServer(f"sqlite+aiosqlite:///{tmp_path / 'site.sqlite3'}",
                                     data_dir=tmp_path / "data",
                                     directory=slapd.settings()) as running:
        running.add_user("admin1", ["admin"], PASSWORD)
        store = running.store
        assert store is not None

        async def configure() -> None:
            for name in ("sales", "support"):
                await store.config.put("queues", QueueSpec(name=name))

        running.call(configure)
        yield running, slapd


async def test_an_admin_tests_the_directory_and_sets_recording_retention(
        server: tuple[ApiServer, Slapd]) -> None:
    from playwright.async_api import async_playwright, expect

    api, slapd = server
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = await _signed_in(browser, api.url, "admin1")
            await page.goto(f"{api.url}/admin/directory")
            groups = page.get_by_role("table", name="Directory groups")
            await expect(groups).to_contain_text("cn=supervisors,ou=groups,dc=example,dc=org")
            await page.get_by_role("button", name="Test connection").click()
            await expect(page.get_by_role("status")).to_contain_text(
                f"Connected to {slapd.url}: bound as the look-up account")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-directory.png"))

            await page.get_by_role("link", name="Recording retention").click()
            site = page.get_by_label("Days to keep recordings, site-wide")
            await site.fill("ninety")
            await page.get_by_label("sales").fill("365")
            await page.get_by_role("button", name="Save retention").click()
            site = page.get_by_label("Days to keep recordings, site-wide")
            await expect(site).to_have_attribute("aria-invalid", "true")
            await expect(page.locator("#f-site_days-error")).to_contain_text(
                "Enter whole days from 1 to 36500")
            await site.fill("90")
            await page.get_by_role("button", name="Save retention").click()
            await expect(page.get_by_role("status").first).to_have_text("Saved.")
            await expect(page.get_by_label("sales")).to_have_value("365")
            await expect(page.get_by_label("support")).to_have_value("")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-retention.png"))
            assert page.errors == []
        finally:
            await browser.close()
