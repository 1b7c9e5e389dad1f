"""The admin pages in a real Chromium, one session doing what an admin does in a morning: an
operator is refused at /admin; the admin creates a user with a team, a skill, a queue and a
desk phone (a bad user name first: the error appears beside that field), and that user then
signs in at /login; a user CSV and a number CSV, each with one bad row, report that row and
import the rest; a queue gets opening hours (refused beside the hours until a 'closed' rule
says where callers go); a dialog script is previewed as it is typed; a quality scorecard is
built from the scripts' fields, refused beside the bad field, saved and deleted. axe-core
finds nothing on any page; screenshots at 1366x768 go to docs/images for docs/admin.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parley.store.specs import (
    DeviceSpec,
    FlowSpec,
    NumberListSpec,
    NumberSpec,
    QueueSpec,
    ScorecardSpec,
    ScriptSpec,
    SkillSpec,
    TeamSpec,
    UserSpec,
)
from parley.testing.api import ApiServer

from .conftest import CHROMIUM, chromium_path
from .test_phone_page import axe_violations

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
PASSWORD = "password-123"

pytestmark = pytest.mark.browser

USERS_CSV = b"""username,display_name,roles,teams,skills,password
ivanova,Anna Ivanova,agent,sales,sales:80,secret-one
petrov,Pyotr Petrov,agent;boss,sales,,secret-two
sidorov,Semyon Sidorov,agent,sales,sales:60,secret-three
"""
NUMBERS_CSV = b"number\n+7 495 111-22-33\nnot a number\n+74951112234\n"
SURVEY = [{"id": "call", "title": "The call", "fields": [
    {"id": "purpose", "label": "Purpose stated", "type": "choice", "options": ["yes", "no"]},
    {"id": "offers", "label": "Offers made", "type": "checkboxes",
     "options": ["promo", "upgrade"]},
    {"id": "household", "label": "People in the household", "type": "number"}]}]
EVERY_TEST = [  # a stored scorecard with every kind of test, saved again unchanged
    {"id": "no-offers", "label": "Offers left empty", "weight": 5,
     "answer": {"field": "offers", "answered": False}},
    {"id": "promo", "label": "Promo offered", "weight": 15,
     "answer": {"field": "offers", "includes": "promo"}, "when_result": ["success", "callback"]},
    {"id": "purpose", "label": "Purpose", "weight": 10,
     "answer": {"field": "purpose", "one_of": ["yes", "no"]}},
    {"id": "household", "label": "Household", "weight": 2.5,
     "answer": {"field": "household", "one_of": [1, 2]}},
    {"id": "gone", "label": "A field no script has now", "weight": 1,
     "answer": {"field": "gone", "equals": "x"}},
    {"id": "hold", "label": "Short hold", "weight": 10, "hold_s": {"max": 60}},
    {"id": "direct", "label": "Not transferred", "weight": 10, "transferred": False},
    {"id": "sold", "label": "Sold", "weight": 20, "result": ["success"]},
    {"id": "tone", "label": "Tone", "weight": 30, "review": {"scale": 5}}]
SCORECARD = {"name": "calls", "title": "Call quality", "description": "", "queues": ["support"],
             "campaigns": [], "scripts": [], "criteria": [
                 {"id": "purpose-stated", "label": "Purpose stated", "weight": 30,
                  "answer": {"field": "purpose", "equals": "yes"}, "when_result": ["success"]},
                 {"id": "polite", "label": "Polite", "weight": 20, "review": True},
                 {"id": "talk-time", "label": "Talk time", "weight": 10,
                  "talk_s": {"min": 30, "max": 900}}]}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    chromium_path(axe=True)
    with ApiServer(f"sqlite+aiosqlite:///{tmp_path / 'site.sqlite3'}") as running:
        running.add_user("admin1", ["admin"], PASSWORD)
        running.add_user("agent1", ["agent"], PASSWORD)
        store = running.store
        assert store is not None

        async def configure() -> None:
            await store.config.put("teams", TeamSpec(name="sales"))
            await store.config.put("skills", SkillSpec(name="sales"))
            await store.config.put("skills", SkillSpec(name="english"))
            await store.config.put("queues", QueueSpec(name="support", teams=["sales"]))
            await store.config.put("flows", FlowSpec(
                name="main", description="Greeting, then the support queue",
                definition={"start": "queue", "nodes": {"queue": {
                    "type": "queue", "queue": "support"}}}))
            await store.config.put("numbers", NumberSpec(number="+74950000000", flow="main"))
            await store.config.put("number_lists", NumberListSpec(name="blocked"))
            await store.config.put("scripts", ScriptSpec(name="survey", title="Customer survey",
                                                         blocks=SURVEY))
            await store.config.put("scorecards", ScorecardSpec(
                name="every-test", scripts=["survey"], criteria=EVERY_TEST))

        running.call(configure)
        yield running


async def _signed_in(browser: Any, url: str, user: str) -> Any:
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    login = await context.request.post(f"{url}/api/auth/login",
                                       data={"username": user, "password": PASSWORD})
    assert login.ok
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    return page


async def test_an_admin_sets_up_users_queues_and_lists_in_the_browser(
        server: ApiServer) -> None:
    from playwright.async_api import async_playwright, expect

    store = server.store
    assert store is not None
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            operator = await _signed_in(browser, server.url, "agent1")
            refused = await operator.goto(f"{server.url}/admin")
            assert refused is not None
            assert refused.status == 403
            await expect(operator.get_by_role("alert")).to_contain_text("for admins")

            page = await _signed_in(browser, server.url, "admin1")
            await page.goto(f"{server.url}/admin")
            await expect(page).to_have_url(f"{server.url}/admin/users")
            sections = page.get_by_role("navigation", name="Sections")
            await expect(sections.get_by_role("link", name="Users")).to_have_attribute(
                "aria-current", "page")

            # a new user: a bad name first, refused beside its field
            await page.get_by_role("link", name="New user").click()
            name = page.get_by_role("textbox", name="User name", exact=True)
            await name.fill("olga k")
            await page.get_by_label("Password", exact=True).fill("olga-secret")
            await page.get_by_role("button", name="Save user").click()
            await expect(name).to_have_attribute("aria-invalid", "true")
            await expect(name).to_be_focused()
            await expect(page.locator("#f-username-error")).to_contain_text("pattern")
            await expect(page.get_by_role("status")).to_have_text(
                "Not saved: correct the marked fields.")
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-user-error.png"))

            await name.fill("olga")
            await page.get_by_role("textbox", name="Name", exact=True).fill("Olga Kuznetsova")
            await page.get_by_role("group", name="Teams").get_by_role(
                "checkbox", name="sales").check()
            await page.get_by_role("spinbutton", name="sales").fill("70")
            await page.get_by_role("group", name="Queues (as a member)").get_by_role(
                "checkbox", name="support").check()
            await page.get_by_role("textbox", name="Add a device").fill("2001")
            await page.get_by_label("Its SIP password").fill("sip-2001-pw")
            await page.get_by_role("button", name="Save user").click()
            await expect(page).to_have_url(f"{server.url}/admin/users/olga?saved=1")
            await expect(page.get_by_role("status")).to_have_text("Saved.")
            user = server.call(lambda: store.config.get("users", "olga"))
            assert isinstance(user, UserSpec)
            assert (user.display_name, user.teams, user.skills) == (
                "Olga Kuznetsova", ["sales"], {"sales": 70})
            queue = server.call(lambda: store.config.get("queues", "support"))
            assert isinstance(queue, QueueSpec)
            assert queue.members == ["olga"]
            device = server.call(lambda: store.config.get("devices", "2001"))
            assert isinstance(device, DeviceSpec)
            assert (device.user, device.ha1_md5 is not None) == ("olga", True)
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-user.png"))

            # the new user signs in at the desk's sign-in page
            desk = await browser.new_context(viewport={"width": 1366, "height": 768})
            signing = await desk.new_page()
            await signing.goto(f"{server.url}/login")
            await signing.get_by_label("User name").fill("olga")
            await signing.get_by_label("Password").fill("olga-secret")
            await signing.get_by_role("button", name="Sign in").click()
            await signing.wait_for_url(f"{server.url}/desk")
            await desk.close()

            # a CSV with one bad row: that row reported, the others in
            await sections.get_by_role("link", name="Users").click()
            await page.get_by_label("CSV file").set_input_files(files=[{
                "name": "users.csv", "mimeType": "text/csv", "buffer": USERS_CSV}])
            await page.get_by_role("button", name="Import").click()
            await expect(page.get_by_role("status")).to_have_text(
                "2 created, 0 updated, rows not imported: 1.")
            report = page.get_by_role("table", name="Rows not imported")
            await expect(report.get_by_role("row")).to_have_count(2)
            await expect(report.get_by_role("row").nth(1)).to_contain_text("3roles")
            assert server.call(lambda: store.config.get("users", "sidorov")) is not None
            assert server.call(lambda: store.config.get("users", "petrov")) is None
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-users-import.png"))

            # a queue with opening hours needs a 'closed' rule: said beside the hours
            await sections.get_by_role("link", name="Queues").click()
            await page.get_by_role("link", name="support").click()
            await page.get_by_role("textbox", name="Monday").fill("09:00-18:00")
            await page.get_by_role("button", name="Save queue").click()
            await expect(page.locator("#f-hours-error")).to_contain_text("when: closed")
            await page.get_by_role("combobox", name="When, rule 1").select_option("closed")
            await page.get_by_role("textbox", name="Target, rule 1").fill("voicemail")
            await page.get_by_role("spinbutton", name="Service level threshold").fill("15")
            await page.get_by_role("button", name="Save queue").click()
            await expect(page.get_by_role("status")).to_have_text("Saved.")
            queue = server.call(lambda: store.config.get("queues", "support"))
            assert isinstance(queue, QueueSpec)
            assert queue.hours is not None
            assert queue.hours.mon == ["09:00-18:00"]
            assert (queue.service_level_s, queue.members) == (15, ["olga"])
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-queue.png"), full_page=True)

            # numbers and their flows; a block list's CSV with one bad row
            await sections.get_by_role("link", name="Numbers").click()
            await expect(page.get_by_role("table", name="Numbers")).to_contain_text(
                "Greeting, then the support queue")
            assert await axe_violations(page) == []
            await sections.get_by_role("link", name="Number lists").click()
            await page.get_by_role("link", name="blocked").click()
            await page.get_by_label("CSV file").set_input_files(files=[{
                "name": "blocked.csv", "mimeType": "text/csv", "buffer": NUMBERS_CSV}])
            await page.get_by_role("button", name="Import").click()
            await expect(page.get_by_role("status").last).to_have_text(
                "2 added, 0 already listed, rows not imported: 1.")
            await expect(page.get_by_role("table", name="Rows not imported")).to_contain_text(
                "not a number")
            await expect(page.get_by_role("textbox", name="Numbers, one a line")).to_have_value(
                "+74951112233\n+74951112234")
            listed = server.call(lambda: store.config.get("number_lists", "blocked"))
            assert isinstance(listed, NumberListSpec)
            assert listed.numbers == ["+74951112233", "+74951112234"]
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-list.png"))

            # reason codes
            await sections.get_by_role("link", name="Reason codes").click()
            reasons = page.get_by_role("textbox", name="Not-ready reasons")
            await reasons.fill("break\nlunch\ncoaching")
            await page.get_by_role("button", name="Save reason codes").click()
            await expect(page.get_by_role("status")).to_have_text("Saved.")
            site = server.call(store.config.site)
            assert site.reason_codes == ["break", "lunch", "coaching"]
            assert await axe_violations(page) == []

            # a dialog script, previewed live as it is typed
            await sections.get_by_role("link", name="Scripts").click()
            await page.get_by_role("link", name="New script").click()
            await page.get_by_role("textbox", name="Name", exact=True).fill("greeting")
            blocks = page.get_by_role("textbox", name="Blocks (JSON)")
            field = '{"id": "name", "label": "Customer name"%s}'
            block = '[{"id": "who", "title": "Who is calling", "fields": [%s]}]'
            await blocks.fill(block % (field % ', "type": "bogus"'))
            await expect(page.locator("#f-blocks-error")).to_contain_text("type")
            await blocks.fill(block % (field % ""))
            await expect(page.locator("#f-blocks-error")).to_be_hidden()
            preview = page.frame_locator("#script-preview")
            await expect(preview.get_by_role("textbox", name="Customer name")).to_be_visible()
            await page.get_by_role("button", name="Save script").click()
            await expect(page).to_have_url(f"{server.url}/admin/scripts/greeting?saved=1")
            script = server.call(lambda: store.config.get("scripts", "greeting"))
            assert isinstance(script, ScriptSpec)
            assert script.blocks[0]["fields"] == [{"id": "name", "label": "Customer name"}]
            assert await axe_violations(page) == []
            await page.screenshot(path=str(SHOTS / "admin-script.png"))

            await _scorecard(page, server)
            assert (page.errors, operator.errors) == ([], [])
        finally:
            await browser.close()


async def _scorecard(page: Any, server: ApiServer) -> None:
    """A stored scorecard with every kind of test saved again unchanged; a scorecard built in
    its form: a criterion on a script's answer (script, field and value picked from lists,
    limited to a result code), a reviewer's and a talk time's; a negative weight and reversed
    talk-time bounds are each refused beside their field with nothing stored; saved, the API
    returns exactly that scorecard; then it is deleted."""
    from playwright.async_api import expect

    store = server.store
    assert store is not None
    sections = page.get_by_role("navigation", name="Sections")
    await sections.get_by_role("link", name="Scorecards").click()
    # a stored scorecard is shown in the form as it is: saved unchanged, it stays the same
    await page.get_by_role("link", name="every-test").click()
    await expect(page.get_by_role("group", name="Criterion 5").get_by_role(
        "combobox", name="Field")).to_have_value("gone")
    await page.get_by_role("button", name="Save scorecard").click()
    await expect(page).to_have_url(f"{server.url}/admin/scorecards/every-test?saved=1")
    again = await page.request.get(f"{server.url}/api/scorecards/every-test")
    assert (await again.json())["criteria"] == EVERY_TEST

    await sections.get_by_role("link", name="Scorecards").click()
    await page.get_by_role("link", name="New scorecard").click()
    await page.get_by_role("textbox", name="Name", exact=True).fill("calls")
    await page.get_by_role("textbox", name="Title", exact=True).fill("Call quality")
    await page.get_by_role("group", name="Incoming queues").get_by_role(
        "checkbox", name="support").check()

    first = page.get_by_role("group", name="Criterion 1")
    await first.get_by_role("textbox", name="What is checked").fill("Purpose stated")
    await expect(first.get_by_role("textbox", name="Id")).to_have_value("purpose-stated")
    await first.get_by_role("spinbutton", name="Weight (points)").fill("30")
    await first.get_by_role("combobox", name="Script").select_option(label="Customer survey")
    await first.get_by_role("combobox", name="Field").select_option("purpose")
    await first.get_by_role("combobox", name="Passes when the answer").select_option("equals")
    await first.get_by_role("combobox", name="Value").select_option("yes")
    await first.get_by_text("Only on calls closed as").click()
    await first.get_by_role("checkbox", name="Success (success)").check()

    await page.get_by_role("button", name="Add a reviewer criterion").click()
    second = page.get_by_role("group", name="Criterion 2")
    await second.get_by_role("textbox", name="What is checked").fill("Polite")
    weight = second.get_by_role("spinbutton", name="Weight (points)")
    await weight.fill("-10")
    await page.get_by_role("button", name="Save scorecard").click()
    await expect(weight).to_have_attribute("aria-invalid", "true")
    await expect(weight).to_be_focused()
    await expect(weight).to_have_accessible_description(
        "criterion 'polite': weight is a number of points above 0, at most 1000 "
        "A number of points above 0.")
    assert server.call(lambda: store.config.get("scorecards", "calls")) is None
    await weight.fill("20")

    await page.get_by_role("button", name="Add an automatic criterion").click()
    third = page.get_by_role("group", name="Criterion 3")
    await third.get_by_role("textbox", name="What is checked").fill("Talk time")
    await third.get_by_role("spinbutton", name="Weight (points)").fill("10")
    await third.get_by_role("combobox", name="Scored by").select_option("talk_s")
    least = third.get_by_role("spinbutton", name="At least (seconds)")
    await least.fill("600")
    await third.get_by_role("spinbutton", name="At most (seconds)").fill("30")
    await page.get_by_role("button", name="Save scorecard").click()
    await expect(least).to_have_attribute("aria-invalid", "true")
    await expect(third.locator("[data-error='criteria.2.talk_s.min']")).to_have_text(
        "criterion 'talk-time': min is greater than max")
    await expect(weight).not_to_have_attribute("aria-invalid", "true")
    assert server.call(lambda: store.config.get("scorecards", "calls")) is None
    await least.fill("30")
    await third.get_by_role("spinbutton", name="At most (seconds)").fill("900")
    await expect(first.locator("[data-share]")).to_have_text("50% of 60 points")
    await page.get_by_role("button", name="Save scorecard").click()
    await expect(page).to_have_url(f"{server.url}/admin/scorecards/calls?saved=1")
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    stored = await page.request.get(f"{server.url}/api/scorecards/calls")
    assert await stored.json() == SCORECARD
    # the stored scorecard shown again as it was built
    first = page.get_by_role("group", name="Criterion 1")
    await expect(first.get_by_role("combobox", name="Value")).to_have_value("yes")
    await expect(page.get_by_role("group", name="Criterion 2").get_by_role(
        "combobox", name="The reviewer marks")).to_have_value("yes-no")
    assert await axe_violations(page) == []
    await page.screenshot(path=str(SHOTS / "admin-scorecard.png"), full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete scorecard calls").click()
    await expect(page).to_have_url(f"{server.url}/admin/scorecards")
    await expect(page.get_by_role("link", name="calls", exact=True)).to_have_count(0)
    assert server.call(lambda: store.config.get("scorecards", "calls")) is None
    assert await axe_violations(page) == []
