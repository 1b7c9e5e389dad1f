"""The API docs page renders in Chromium with every other host unreachable, as on a site
without internet access."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from parley.testing.api import ApiServer

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    with ApiServer(f"sqlite+aiosqlite:///{tmp_path / 'parley.sqlite3'}") as server:
        yield server


def test_the_docs_page_lists_the_operations_with_other_hosts_blocked(
        chromium: str, server: ApiServer, tmp_path: Path) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    origin = urlsplit(server.url).netloc
    blocked: list[str] = []

    def only_the_node(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.route("**/*", only_the_node)
            page.goto(f"{server.url}/api/docs")
            expect(page.get_by_role("heading", name="Parley")).to_be_visible(timeout=20_000)
            page.screenshot(path=tmp_path / "api-docs.png")  # to look at, as an operator would
            operation = page.get_by_role(
                "button",
                name="GET /api/voicemails/{voicemail_id}/audio Download a voicemail message")
            # Swagger UI draws the sections near the viewport only (and drops those scrolled
            # past): steps shorter than the screen, so that no section is jumped over
            for _ in range(300):
                if operation.count():
                    break
                page.mouse.wheel(0, 500)
                page.wait_for_timeout(100)
            expect(operation).to_be_visible()  # far down the page: the operations are drawn
            operation.click()  # the script works too: the operation opens with its parameters
            expect(operation).to_have_attribute("aria-expanded", "true")
            expect(page.get_by_role("button", name="Try it out")).to_be_visible()
            expect(page.get_by_text("voicemail_id").first).to_be_visible()
        finally:
            browser.close()
    assert blocked == []
