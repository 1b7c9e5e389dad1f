"""The admin pages for calling out and for prompts in a real Chromium, one session: the admin
creates a trunk (a bad host first: refused beside that field; the password is then only said
to be set), a route over it and asks which trunk would dial a number, deletes the trunk
(refused: the route uses it) and the route, a campaign whose
contact CSV has one bad row (reported by its line, the rest loaded) and starts it, a
do-not-call list with a customer's opt-out added and lifted, and a
prompt typed as text, which espeak-ng speaks and the page plays. axe-core finds nothing on
any page; screenshots at 1366x768 go to docs/images for docs/admin.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.store.specs import CampaignSpec, DoNotCallSpec, QueueSpec, RouteSpec, TrunkSpec
from parley.testing.api import ApiServer
from parley.testing.needs import ESPEAK, require

from .conftest import CHROMIUM, chromium_path
from .test_admin import PASSWORD, SHOTS, _signed_in
from .test_phone_page import axe_violations

pytestmark = pytest.mark.browser

CONTACTS_CSV = b"mobile,name\n+79161234567,Anna\nnot a number,Boris\n+79161234568,Vera\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    chromium_path(axe=True)
    require(ESPEAK)
    with ApiServer(f"sqlite+aiosqlite:///{tmp_path / 'site.sqlite3'}",
                   data_dir=tmp_path / "data") as running:
        running.add_user("admin1", ["admin"], PASSWORD)
        store = running.store
        assert store is not None
        running.call(lambda: store.config.put("queues", QueueSpec(name="sales")))
        yield running


async def test_an_admin_sets_up_a_trunk_a_route_a_campaign_and_a_prompt(
        server: ApiServer) -> None:
    from playwright.async_api import async_playwright, expect

    store = server.store
    assert store is not None
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = await _signed_in(browser, server.url, "admin1")
            sections = page.get_by_role("navigation", name="Sections")

            # a trunk: a bad host is refused beside it; the password is never shown back
            await page.goto(f"{server.url}/admin/trunks")
            await page.get_by_role("link", name="New trunk").click()
            await page.get_by_role("textbox", name="Name", exact=True).fill("carrier")
            host = page.get_by_role("textbox", name="Host")
            await host.fill("sip carrier!")
            await page.get_by_role("textbox", name="Account user name").fill("acct")
            await page.get_by_label("Account password").fill("carrier-secret")
            await page.get_by_role("button", name="Save trunk").click()
            await expect(host).to_have_attribute("aria-invalid", "true")
            await expect(page.locator("#f-host-error")).to_contain_text("pattern")
            await host.fill("sip.carrier.example")
            await page.get_by_role("spinbutton", name="Most calls at once").fill("20")
            await page.get_by_role("textbox", name="Pattern, rule 1").fill(r"^\+7(\d+)$")
            await page.get_by_role("textbox", name="Replacement, rule 1").fill(r"8\1")
            await page.get_by_role("button", name="Save trunk").click()
            await expect(page).to_have_url(f"{server.url}/admin/trunks/carrier?saved=1")
            await expect(page.locator("#f-password-hint")).to_have_text(
                "A password is set; leave this empty to keep it.")
            assert "carrier-secret" not in await page.content()
            trunk = server.call(lambda: store.config.get("trunks", "carrier"))
            assert isinstance(trunk, TrunkSpec)
            assert (trunk.password, trunk.max_channels, trunk.caller_id_rules[0].replace) == (
                "carrier-secret", 20, r"8\1")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-trunk.png"), full_page=True)

            # a route over it, then which trunk would dial a number
            await sections.get_by_role("link", name="Outbound routes").click()
            await page.get_by_role("link", name="New route").click()
            await page.get_by_role("textbox", name="Name", exact=True).fill("russia")
            await page.get_by_role("textbox", name="Numbers it takes").fill("^[+]7")
            await page.get_by_role("combobox", name="First trunk").select_option("carrier")
            await page.get_by_role("button", name="Save route").click()
            await expect(page).to_have_url(f"{server.url}/admin/routes/russia?saved=1")
            route = server.call(lambda: store.config.get("routes", "russia"))
            assert isinstance(route, RouteSpec)
            assert route.trunks == ["carrier"]
            await page.get_by_role("link", name="Outbound routes").first.click()
            await page.get_by_role("textbox", name="Number").fill("+7 916 123-45-67")
            await page.get_by_role("button", name="Check").click()
            await expect(page.get_by_role("status")).to_contain_text(
                "Route russia (international): carrier dials +79161234567")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-routes.png"))

            # deleting asks first; a trunk a route still uses stays, and the page says why
            page.on("dialog", lambda dialog: dialog.accept())
            await page.goto(f"{server.url}/admin/trunks/carrier")
            await page.get_by_role("button", name="Delete trunk carrier").click()
            await expect(page.locator("form.record .form-status")).to_have_text(
                "Not deleted: trunk 'carrier' is still in use by route 'russia'")
            await page.goto(f"{server.url}/admin/routes/russia")
            await page.get_by_role("button", name="Delete route russia").click()
            await expect(page).to_have_url(f"{server.url}/admin/routes")
            await expect(page.get_by_role("link", name="russia")).to_have_count(0)
            assert server.call(lambda: store.config.get("routes", "russia")) is None

            # a campaign, its contacts from a CSV with one bad row, started
            await sections.get_by_role("link", name="Campaigns").click()
            await page.get_by_role("link", name="New campaign").click()
            await page.get_by_role("textbox", name="Name", exact=True).fill("spring")
            await page.get_by_role("combobox", name="Queue").select_option("sales")
            await page.get_by_role("textbox", name="Caller ID").fill("+74950000000")
            await page.get_by_role("textbox", name="Call windows").fill("09:00-20:00")
            await page.get_by_role("textbox", name="Mobile numbers").fill("10:00-19:00")
            await page.get_by_role("textbox", name="Busy").fill("30m")
            await page.get_by_role("button", name="Save campaign").click()
            await expect(page).to_have_url(f"{server.url}/admin/campaigns/spring?saved=1")
            campaign = server.call(lambda: store.config.get("campaigns", "spring"))
            assert isinstance(campaign, CampaignSpec)
            assert (campaign.mode, campaign.queue, campaign.retry) == (
                "progressive", "sales", {"busy": "30m"})
            assert campaign.call_window == {  # the other types keep the general windows
                "mobile": "10:00-19:00", "home": "09:00-20:00", "work": "09:00-20:00"}
            await expect(page.get_by_role("textbox", name="Mobile numbers")).to_have_value(
                "10:00-19:00")
            await page.get_by_label("CSV file").set_input_files(files=[{
                "name": "contacts.csv", "mimeType": "text/csv", "buffer": CONTACTS_CSV}])
            await page.get_by_role("button", name="Import").click()
            await expect(page.locator("form.csv-import .form-status")).to_have_text(
                "2 added, rows not loaded: 1.")
            report = page.get_by_role("table", name="Rows not imported")
            await expect(report.get_by_role("row")).to_have_count(2)
            await expect(report.get_by_role("row").nth(1)).to_contain_text("3")
            await expect(page.locator("[data-live=pending]")).to_have_text("2")
            await page.get_by_role("button", name="Start").click()
            await expect(page.locator(".control-status")).to_contain_text("Status now: Running.")
            await expect(page.locator("[data-live=status]")).to_have_text("Running")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-campaign.png"), full_page=True)

            # a do-not-call list from a client's file, then a customer's opt-out added and
            # lifted; a number without its country code is refused, saying which
            await sections.get_by_role("link", name="Do not call").click()
            await page.get_by_role("link", name="New do-not-call list").click()
            await page.get_by_role("textbox", name="Name", exact=True).fill("client-file")
            await page.get_by_role("textbox", name="Numbers, one a line").fill(
                "+79160000001\n+79160000002")
            await page.get_by_role("button", name="Save do-not-call list").click()
            await expect(page).to_have_url(f"{server.url}/admin/dnc/client-file?saved=1")
            added = page.get_by_role("textbox", name="Add opt-outs, one number a line")
            await added.fill("+7 916 000-00-03\n12")
            await page.get_by_role("button", name="Add opt-outs").click()
            await expect(page.locator("form.optout-add .form-status")).to_contain_text(
                "Not done: numbers.1:")
            await added.fill("+7 916 000-00-03\n+79160000004")
            await page.get_by_role("button", name="Add opt-outs").click()
            await expect(page.locator("form.optout-add .form-status")).to_have_text(
                "Added: 2 (the others were on the list already).")
            await expect(page.get_by_role("list", name="Opt-outs")).to_contain_text(
                "+79160000003")
            await page.get_by_role("textbox", name="Number to call again").fill("+79160000004")
            await page.get_by_role("button", name="Lift opt-out").click()
            await expect(page.locator("form.optout-lift .form-status")).to_have_text(
                "+79160000004 may be called again.")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-dnc.png"), full_page=True)
            listed = server.call(lambda: store.config.get("do_not_call", "client-file"))
            assert isinstance(listed, DoNotCallSpec)
            assert (listed.numbers, listed.opt_outs) == (
                ["+79160000001", "+79160000002"], ["+79160000003"])

            # a prompt typed as text, spoken, and played in the page
            await sections.get_by_role("link", name="Prompts").click()
            typed = page.get_by_role("region", name="Type text for speech")
            await typed.get_by_role("textbox", name="Name").fill("Welcome!")
            await typed.get_by_role("textbox", name="Text to speak").fill(
                "Welcome to Parley.")
            await typed.get_by_role("button", name="Speak and save").click()
            name_error = typed.locator("[data-error=name]")
            await expect(name_error).to_contain_text("is not a prompt name")
            await typed.get_by_role("textbox", name="Name").fill("welcome")
            await typed.get_by_role("button", name="Speak and save").click()
            await expect(page).to_have_url(f"{server.url}/admin/prompts?saved=1")
            english = page.get_by_role("table", name="Prompts in English")
            await expect(english).to_contain_text("Welcome to Parley.")
            played = await page.evaluate("""async () => {
                const audio = document.querySelector('audio[aria-label="Play welcome"]');
                audio.muted = true;
                await audio.play();
                await new Promise((done) => setTimeout(done, 400));
                return [audio.duration, audio.currentTime];
            }""")
            duration, position = played
            assert duration > 0.5, played
            assert position > 0, played
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-prompts.png"))
            assert page.errors == []
        finally:
            await browser.close()
