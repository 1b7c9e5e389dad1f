"""A custom report built in a real Chromium: a supervisor opens the builder from the reports
page, is told next to the figures that a report needs one, picks the queue and the
15-minute interval, five figures, two filters picked from lists (the queue, and an operator:
a dimension it does not group by), fixed dates, a sort and sharing, saves, sees the table,
and exports XLSX through the page's link; the file read back with openpyxl holds the API's
rows and the figures of the raw calls the filters keep. A schedule that failed shows its
error on the page; an admin adds a weekly schedule to a folder (a folder that is not there
is refused next to its field). axe-core finds nothing; a 1366x768 screenshot goes to docs/images for
docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from parley.store.specs import QueueSpec, UserSpec
from parley.testing.api import ApiServer

from ..web.test_reports_api import seed_calls
from .conftest import CHROMIUM, chromium_path
from .test_admin import PASSWORD, SHOTS, _signed_in
from .test_phone_page import axe_violations

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    chromium_path(axe=True)
    with ApiServer(f"sqlite+aiosqlite:///{tmp_path / 'site.sqlite3'}") as running:
        running.add_user("boss1", ["supervisor"], PASSWORD)
        running.add_user("admin1", ["admin"], PASSWORD)
        store = running.store
        assert store is not None

        async def seed() -> None:
            await store.config.put("queues", QueueSpec(name="support"))
            await store.config.put("queues", QueueSpec(name="sales"))
            await store.config.put("users", UserSpec(username="anna"))
            await seed_calls(store, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))

        running.call(seed)
        yield running


async def test_a_supervisor_builds_saves_and_exports_a_custom_report(
        server: ApiServer, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = await _signed_in(browser, server.url, "boss1")
            await page.goto(f"{server.url}/reports")
            await page.get_by_role("link", name="Custom reports").click()
            await expect(page).to_have_url(f"{server.url}/reports/custom")

            await page.get_by_label("Name").fill("Support by interval")
            await page.get_by_label("Group by").select_option("queue")
            await page.get_by_role("button", name="Save").click()
            await expect(page.locator("#measures-error")).to_have_text(
                "measures: choose at least one figure")

            await page.get_by_label("And by time").select_option("interval")
            for figure in ("Offered", "Answered", "Abandoned", "Service level", "ASA, s"):
                await page.get_by_role("checkbox", name=figure, exact=True).check()
            for place, (dimension, value) in enumerate((("queue", "support"),
                                                         ("operator", "anna")), start=1):
                await page.get_by_role("button", name="Add a filter").click()
                row = page.get_by_role("group", name=f"Filter {place}")
                await row.get_by_label("Filter by").select_option(dimension)
                await row.get_by_label("Only").select_option([value])
            await page.get_by_label("Period").select_option("fixed")
            await page.get_by_label("From").fill("2026-12-01T09:00")
            await page.get_by_label("To", exact=True).fill("2026-12-01T10:00")
            await page.get_by_label("Sort by").select_option("offered")
            await page.get_by_label("Largest first").check()
            await page.get_by_label("Share with").select_option("supervisor")
            await page.get_by_role("button", name="Save").click()
            await expect(page).to_have_url(f"{server.url}/reports/custom?id=1")
            await expect(page.get_by_role("link", name="Support by interval")).to_have_attribute(
                "aria-current", "page")

            await expect(page.get_by_role("group", name="Filter 2").get_by_label(
                "Only")).to_have_values(["anna"])
            await expect(page.get_by_label("And by time")).to_have_value("interval")
            await expect(page.get_by_role("checkbox", name="ASA, s", exact=True)).to_be_checked()
            table = page.get_by_role("table", name="Support by interval · 2026-12-01 09:00 – "
                                     "2026-12-01 10:00")
            rows = table.locator("tbody tr")
            await expect(rows).to_have_count(1)
            first = {figure: await rows.nth(0).locator(f'td[data-figure="{figure}"]')
                     .inner_text() for figure in ("interval", "offered", "answered",
                                                  "service_level")}
            assert first == {"interval": "2026-12-01 09:00", "offered": "2", "answered": "2",
                             "service_level": "50%"}

            # a delivery that failed is shown with its error
            store = server.store
            assert store is not None

            async def failing_schedule() -> None:
                schedule = await store.custom_reports.add_schedule(1, {
                    "every": "daily", "at": "06:00", "format": "csv", "to": "webhook",
                    "url": "http://127.0.0.1:9/in"}, datetime(2026, 12, 2, 6, tzinfo=UTC))
                await store.custom_reports.finish(
                    schedule.id, last_status="retrying", failures=1,
                    last_error="ConnectError: connection refused",
                    retry_at=datetime(2026, 12, 2, 6, 1, tzinfo=UTC),
                    last_run_at=datetime(2026, 12, 2, 6, tzinfo=UTC))

            server.call(failing_schedule)
            await page.reload()
            await expect(page.get_by_role("table", name="Scheduled exports")).to_contain_text(
                "Failed, retrying: ConnectError: connection refused")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "reports-custom.png"))

            async with page.expect_download() as waiting:
                await page.get_by_role("link", name="Export XLSX").click()
            download = await waiting.value
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            assert saved.name == "Support_by_interval-20261201T0900-20261201T1000.xlsx"
            sheet = load_workbook(saved)["Support by interval"]
            read = list(sheet.iter_rows(values_only=True))
            api = await page.request.get(f"{server.url}/api/reports/custom/1", params={
                "from": "2026-12-01T09:00:00Z", "to": "2026-12-01T10:00:00Z"})
            answer = await api.json()
            assert read[0] == tuple(answer["columns"])
            assert [row[2:] for row in read[1:]] == [
                tuple(row[column] for column in answer["columns"][2:])
                for row in answer["rows"]]
            # the raw calls anna answered: 09:00 and 09:05, after 4 s and 30 s (the calls
            # abandoned at 09:10 and 09:15 had no operator)
            assert read[1:] == [("support", datetime(2026, 12, 1, 9, 0), 2, 2, 0, 0.5, 17.0)]
            notes = {row[0]: row[1] for row in load_workbook(saved)["Definitions"].iter_rows(
                values_only=True) if row[0]}
            assert (notes["Only queue"], notes["Only operator"]) == ("support", "anna")
            assert sheet["F2"].number_format == "0.0%"
            assert sheet["B2"].number_format == "yyyy-mm-dd hh:mm"
            assert page.errors == []

            # an admin adds a scheduled export to a folder; a folder that is not there is
            # refused next to its field
            admin = await _signed_in(browser, server.url, "admin1")
            await admin.goto(f"{server.url}/reports/custom?id=1")
            await expect(admin.get_by_label("Address")).to_be_hidden()
            await admin.get_by_label("Every", exact=True).select_option("weekly")
            await admin.get_by_label("Weekday").select_option("friday")
            await admin.get_by_label("At (site time)").fill("07:30")
            await admin.get_by_label("Folder", exact=True).fill(str(tmp_path / "missing"))
            await admin.get_by_role("button", name="Add", exact=True).click()
            await expect(admin.locator("#s-folder-error")).to_have_text(
                f"folder: {tmp_path / 'missing'} is not a directory on the node")
            await admin.get_by_label("Folder", exact=True).fill(str(tmp_path))
            await admin.get_by_role("button", name="Add", exact=True).click()
            schedules = admin.get_by_role("table", name="Scheduled exports")
            await expect(schedules.locator("tbody tr")).to_have_count(2)
            await expect(schedules.locator("tbody tr").nth(1)).to_contain_text(
                f"weekly friday 07:30 xlsx {tmp_path} ")
            await expect(schedules.locator("tbody tr").nth(1)).to_contain_text("Not run yet")
            assert await axe_violations(admin) == []
            assert admin.errors == []
        finally:
            await browser.close()
