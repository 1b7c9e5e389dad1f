"""Quality review in a real Chromium against the demo node with a real SIPp caller: sales
operator 1006 answers a call to 601 at the desk, fills the dialog script (name and interest
answered, household size left empty) and saves the wrap-up; on /quality the supervisor finds
the call, whose scorecard shows the three criteria computed from those answers (yes, yes, no)
beside the call's own facts and the total, marks the reviewer criterion and the total moves.
Both pages pass axe-core; the review page's screenshot at 1366x768 is in docs/quality.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from parley.store.specs import QueueSpec
from parley.testing.needs import HOLD_MUSIC, SIPP, STOCK_PROMPTS, needs
from parley.testing.peers import noise_signal, write_wav

from ..integration.inbound_node import call_record, caller_scenario, change, demo_node, dial
from ..integration.test_api_live import acd_state
from .conftest import chromium_path
from .test_desk import serious, shot, sign_in
from .test_phone_calls import chromium

pytestmark = [pytest.mark.browser, needs(STOCK_PROMPTS, HOLD_MUSIC)]


async def _scores(page: Any) -> dict[str, str]:
    """Each criterion's shown score on the review page, by criterion id."""
    rows = page.locator("table.criteria tbody tr")
    found: dict[str, str] = {}
    for index in range(await rows.count()):
        row = rows.nth(index)
        found[str(await row.get_attribute("data-criterion"))] = \
            (await row.locator("[data-score]").inner_text()).strip()
    return found


@needs(SIPP)
async def test_a_desk_wrapup_scores_the_call_and_a_review_moves_its_total(
        tmp_path: Path) -> None:
    from playwright.async_api import expect

    chromium_path(axe=True)
    mine = write_wav(tmp_path / "page-microphone.wav", noise_signal(10.0, 81))
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        sales = await node.store.config.get("queues", "sales")
        assert isinstance(sales, QueueSpec)
        await change(node, "queues", sales.model_copy(update={"recording": "all"}))
        six = await sign_in(browser, node.url, "1006", "pw1006")
        await expect(six.locator("#phone-state")).to_have_text("Phone: ready", timeout=20_000)
        await six.get_by_role("button", name="Ready", exact=True).click()
        await acd_state(node, "1006", "ready")
        scenario, _sent = caller_scenario(tmp_path, talk_s=1.0, ani="+74951234500",
                                          parley_hangs_up=True)
        caller = await dial(node, tmp_path, "601", scenario)
        await expect(six.locator("#call-status")).to_have_text(
            "Incoming call from +74951234500", timeout=20_000)
        await six.keyboard.press("Alt+A")
        answered = time.monotonic()
        await expect(six.locator("#call-status")).to_have_text(
            "In a call with +74951234500", timeout=10_000)
        script = six.get_by_role("region", name="Script", exact=True)
        await script.get_by_role("textbox", name="Customer name").fill("Anna Petrova")
        await script.get_by_role("radio", name="Yes").check()
        await script.get_by_role("combobox", name="Result").select_option(label="Sold")
        while time.monotonic() < answered + 1.5:  # the caller talks 1 s, then waits
            await six.wait_for_timeout(200)
        await six.get_by_role("button", name="Hang up").click()
        await expect(six.locator("#call-status")).to_have_text("Call ended", timeout=10_000)
        await script.get_by_role("button", name="Save and close").click()
        await expect(six.get_by_role("status", name="My state")).to_contain_text(
            "Ready", timeout=5_000)
        record = await call_record(node, number="601")
        result = await caller.wait(within=20)
        assert result.ok, result.log

        boss = await sign_in(browser, node.url, "supervisor", "pw-supervisor",
                             lands="/supervisor")
        await boss.goto(f"{node.url}/quality")
        calls = boss.get_by_role("region", name="Calls to review")
        row = calls.locator(f'tr[data-call="{record.id}"]')
        await expect(row).to_contain_text("1006")
        await expect(row.locator('[data-figure="percent"]')).to_have_text("50%")
        balanced = boss.locator("#balanced")
        await expect(balanced).to_contain_text("Incoming calls")
        await expect(boss.locator("#criteria")).to_contain_text(
            "script field household answered")
        assert await serious(boss) == []
        await shot(boss, "quality-list.png")

        await row.get_by_role("link").click()
        await boss.wait_for_url(f"{node.url}/quality/calls/{record.id}")
        answers = boss.get_by_role("region", name="Script answers")
        await expect(answers.locator('[data-field="name"]')).to_have_text("Anna Petrova")
        card = boss.get_by_role("region", name="Sales call quality")
        # the three criteria from the script's answers, then the call's facts, then the
        # reviewer's: 20 + 20 + 0 (household left empty) + 0 (talk under 30 s) + 10 of 100
        assert await _scores(boss) == {"name": "yes", "offer": "yes", "household": "no",
                                       "talk": "no", "direct": "yes", "polite": "pending"}
        await expect(card.locator("[data-total]")).to_have_text("50%")
        await expect(card).to_contain_text("50 of 100 points; criteria pending: 1")
        await expect(boss.locator("#recording")).to_be_attached()
        await expect(boss.get_by_role("region", name="Timeline")).to_contain_text("answered")
        assert await serious(boss) == []
        await shot(boss, "quality-review.png")

        await card.get_by_label("Your mark for Polite and clear").select_option(label="yes")
        await card.get_by_label("Your note").fill("Friendly, clear offer")
        await card.get_by_role("button", name="Save review").click()
        card = boss.get_by_role("region", name="Sales call quality")
        await expect(card.locator("[data-total]")).to_have_text("80%", timeout=5_000)
        assert (await _scores(boss))["polite"] == "yes"
        await expect(card).to_contain_text("Friendly, clear offer")
        assert await serious(boss) == []
        stored = await node.store.quality.of_call(record.id)
    [scored] = stored
    assert {m.criterion: m.score for m in scored.automatic} == {
        "name": 1.0, "offer": 1.0, "household": 0.0, "talk": 0.0, "direct": 1.0}
    assert [(r.reviewer, [(m.criterion, m.score) for m in r.marks]) for r in scored.reviews] \
        == [("supervisor", [("polite", 1.0)])]
