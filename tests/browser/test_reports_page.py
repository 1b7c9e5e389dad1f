"""The reports page in a real Chromium: a supervisor opens /reports for a period with stored
calls (written through the store as the call recorder writes them), sees the queue's row with
its figures and each column's definition, the chart drawn, switches the chart's figure,
downloads the CSV and finds the same figures in it; drills from the abandoned count to the
calls behind it (/reports/calls) and opens one call's timeline; the period shortcuts give the
site's days; the campaigns report shows each campaign's abandon rate per regulatory window
as a table and a chart; an operator is refused; the call history of one customer lists
their calls and shows a call's timeline. axe-core finds nothing on any of the pages; screenshots at
1366x768 go to docs/images for docs/reports.md.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parley.store.specs import QueueSpec
from parley.testing.api import ApiServer

from ..web.test_reports_api import seed_calls, seed_campaign_attempts
from .conftest import CHROMIUM, chromium_path
from .test_admin import PASSWORD, SHOTS, _signed_in
from .test_phone_page import axe_violations

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    chromium_path(axe=True)
    with ApiServer(f"sqlite+aiosqlite:///{tmp_path / 'site.sqlite3'}") as running:
        running.add_user("boss1", ["supervisor"], PASSWORD)
        running.add_user("agent1", ["agent"], PASSWORD)
        store = running.store
        assert store is not None

        async def seed() -> None:
            await store.config.put("queues", QueueSpec(name="support"))
            await seed_calls(store, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
            await seed_campaign_attempts(store, datetime.now(UTC))

        running.call(seed)
        yield running


async def test_a_supervisor_reads_a_queue_report_charts_it_and_exports_it(
        server: ApiServer, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            operator = await _signed_in(browser, server.url, "agent1")
            refused = await operator.goto(f"{server.url}/reports")
            assert refused is not None
            assert refused.status == 403
            await expect(operator.get_by_role("alert")).to_contain_text("for supervisors")

            page = await _signed_in(browser, server.url, "boss1")
            await page.goto(f"{server.url}/reports")
            await page.get_by_label("Report", exact=True).select_option("queues")
            await page.get_by_label("From").fill("2026-12-01T09:00")
            await page.get_by_label("To", exact=True).fill("2026-12-01T10:00")
            await page.get_by_role("button", name="Show").click()
            await expect(page).to_have_url(f"{server.url}/reports?report=queues&"
                                           "from=2026-12-01T09%3A00&to=2026-12-01T10%3A00")
            table = page.get_by_role("table", name="Queues · 2026-12-01 09:00 – "
                                     "2026-12-01 10:00")
            row = table.get_by_role("row", name="support")
            shown = {figure: (await row.locator(f'td[data-figure="{figure}"]').inner_text())
                     for figure in ("offered", "answered", "abandoned", "abandoned_short",
                                    "service_level", "asa_s")}
            assert shown == {"offered": "4", "answered": "2", "abandoned": "2",
                             "abandoned_short": "1", "service_level": "50%", "asa_s": "17"}
            heading = table.locator('th[data-figure="offered"] abbr')
            assert "waited in the queue" in (await heading.get_attribute("title") or "")
            await expect(page.get_by_role("definition").first).to_contain_text(
                "waited in the queue")

            chart = page.locator("#chart")
            await expect(chart).to_have_attribute("data-drawn", "1")
            await expect(chart.locator("canvas")).to_have_count(1)
            await expect(chart).to_contain_text("Offered per row")
            await page.get_by_label("Figure", exact=True).select_option("answered")
            await expect(chart).to_have_attribute("data-measure", "answered")
            await expect(chart).to_contain_text("Answered per row")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "reports-queues.png"))
            assert page.errors == []

            async with page.expect_download() as waiting:
                await page.get_by_role("link", name="Export CSV").click()
            download = await waiting.value
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            assert saved.name == "queues-20261201T0900-20261201T1000.csv"
            with saved.open(newline="") as handle:
                line = next(csv.DictReader(handle))
            assert (line["queue"], line["offered"], line["answered"], line["abandoned"],
                    line["abandoned_short"], line["service_level"], line["asa_s"]) == \
                ("support", shown["offered"], shown["answered"], shown["abandoned"],
                 shown["abandoned_short"], "0.5", "17.0")

            # from the abandoned count to its calls, and one call's timeline
            await row.locator('td[data-figure="abandoned"] a').click()
            await expect(page).to_have_url(re.compile(r"/reports/calls\?report=queues&"
                                                      r"key=support&measure=abandoned"))
            await expect(page.locator("#calls-total")).to_contain_text(
                "Calls behind this figure: 2")
            calls = page.locator("#calls-table tbody tr")
            assert [await line.get_attribute("data-call") for line in await calls.all()] \
                == ["c3", "c4"]
            await calls.first.get_by_role("link").click()
            detail = page.locator("#call")
            await expect(detail).to_be_visible()
            await expect(detail.get_by_role("list", name="Timeline")).to_contain_text(
                "started")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "reports-calls.png"))
            assert page.errors == []
            await page.get_by_role("link", name="Back to the report").click()
            await expect(page.get_by_role("table", name="Queues · 2026-12-01 09:00 – "
                                          "2026-12-01 10:00")).to_be_visible()

            # working time, and the abandoned calls with whether they were reached again
            await page.get_by_label("Report", exact=True).select_option("working_time")
            await page.get_by_role("button", name="Show").click()
            anna = page.get_by_role("table", name="Working time · 2026-12-01 09:00 – "
                                    "2026-12-01 10:00").get_by_role("row", name="anna")
            await expect(anna.locator('td[data-figure="on_calls_s"]')).to_have_text("1,140")
            await expect(anna.locator('td[data-figure="location"]')).to_have_text("-")
            await expect(page.get_by_role("row", name="* -")).to_have_count(1)
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "reports-working-time.png"))
            await page.get_by_label("Report", exact=True).select_option("abandoned")
            await page.get_by_role("button", name="Show").click()
            abandoned = page.get_by_role("table", name="Abandoned calls and callbacks · "
                                         "2026-12-01 09:00 – 2026-12-01 10:00")
            await expect(abandoned.locator('td[data-figure="reached"]')).to_have_text(
                ["no", "no"])
            assert await axe_violations(page) == []
            assert page.errors == []

            # the shortcuts are the site's days (UTC here)
            await page.get_by_role("button", name="Yesterday").click()
            today = datetime.now(UTC).date()
            await expect(page.get_by_label("From")).to_have_value(
                f"{today - timedelta(days=1)}T00:00")
            await expect(page.get_by_label("To", exact=True)).to_have_value(f"{today}T00:00")
            await expect(page.get_by_label("Report", exact=True)).to_have_value("abandoned")

            # the campaigns' abandon rate per regulatory window: the table, the chart
            await page.goto(f"{server.url}/reports?report=campaigns&from=2025-12-01T00:00&"
                            "to=2025-12-03T00:00")
            windows = page.get_by_role("table", name="Abandon rate per regulatory window")
            await expect(windows.locator("tbody tr")).to_have_count(3)
            await expect(windows.locator('td[data-figure="abandon_rate"]')).to_have_text(
                ["10%", "2.5%", "16.67%"])
            await expect(windows.locator('td[data-figure="over_cap"]')).to_have_text(
                ["yes", "no", "yes"])
            await expect(page.locator("#window-rules")).to_contain_text(
                "no operator took the call within 2 s")
            await expect(page.locator("#windows-chart")).to_have_attribute("data-drawn", "3")
            await page.locator("#windows-chart").scroll_into_view_if_needed()
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "reports-abandon-windows.png"))
            assert page.errors == []

            # the call history of one customer, from the link on /reports
            await page.get_by_role("link", name="Customer's calls").click()
            await page.get_by_label("Number", exact=True).fill("+1 555 0001")
            await page.get_by_label("From").fill("2026-12-01T09:00")
            await page.get_by_label("To", exact=True).fill("2026-12-01T10:00")
            await page.get_by_role("button", name="Show").click()
            history = page.get_by_role("table", name="Customer's calls")
            await expect(history.locator("tbody tr")).to_have_count(4)
            await expect(history.locator("tbody tr").first).to_have_attribute(
                "data-call", "c4")
            await history.get_by_role("link").first.click()
            await expect(page.locator("#call")).to_contain_text("+15550001")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "reports-customer.png"))
            assert page.errors == []
        finally:
            await browser.close()
