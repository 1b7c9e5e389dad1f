"""The operator's desk in a real Chromium against a running demo node with real SIP peers:
operator 1001 signs in at /login with the browser phone, becomes ready only by clicking
Ready, a SIPp caller whose number Parley's customers know dials 602, the card shows the
customer as the call rings, the operator answers (audio both ways), pauses and resumes the
recording, edits the card and hangs up, and the call's record holds the edits and the gap.
A second sign-in elsewhere takes the desk over. A preview campaign's contact appears on the
desk with its fields, typed numbers and the customer's time beside the operator's; the
operator reschedules it in the customer's zone and skips the next.
Each page passes axe-core; screenshots at 1366x768 go to docs/images for docs/desk.md.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from parley.config import voicemail_dir
from parley.store.records import VoicemailRecord
from parley.store.specs import QueueSpec
from parley.testing.needs import HOLD_MUSIC, SIPP, STOCK_PROMPTS, needs
from parley.testing.peers import noise_signal, write_wav

from ..integration.inbound_node import call_record, caller_scenario, change, demo_node, dial
from ..integration.test_api_live import acd_state, eventually
from .conftest import chromium_path
from .test_phone_calls import chromium, heard, sounds_like
from .test_phone_page import axe_violations

pytestmark = [pytest.mark.browser, needs(STOCK_PROMPTS, HOLD_MUSIC)]

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
CUSTOMER_NUMBER = "+74951234567"


async def sign_in(browser: Any, url: str, user: str, password: str,
                  lands: str = "/desk") -> Any:
    """A page signed in as ``user`` with the browser phone (its own browser context: its own
    cookies, as on another computer), where sign-in sends them: the desk, or ``lands``
    (``/supervisor`` for supervisors and admins)."""
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    await page.goto(f"{url}/login")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_label("Browser phone").check()
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{url}{lands}")
    return page


async def serious(page: Any) -> list[str]:
    """axe-core's violations (WCAG 2 A/AA) that are serious or critical."""
    return [line for line in await axe_violations(page)
            if not line.startswith(("minor:", "moderate:"))]


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / name))


@needs(SIPP)
async def test_a_known_customer_calls_602_and_the_desk_shows_their_card_as_it_rings(
        tmp_path: Path) -> None:
    from playwright.async_api import expect

    chromium_path(axe=True)
    mine = write_wav(tmp_path / "page-microphone.wav", noise_signal(14.0, 77))
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        customer = await node.store.customers.create(
            name="Anna Petrova", status="gold", fields={"contract": "C-17"},
            numbers=[CUSTOMER_NUMBER])
        # a message waits in 1001's own mailbox (named by the extension)
        message = voicemail_dir(node.settings.data_dir) / "1001" / "vm-1001.wav"
        message.parent.mkdir(parents=True, exist_ok=True)
        write_wav(message, noise_signal(1.0, 3))
        await node.store.voicemails.add(VoicemailRecord(
            "vm-1001", "1001", "+74957770042", datetime.now(UTC), str(message), 1.0, False))
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={"recording": "all"}))
        page = await sign_in(browser, node.url, "1001", "pw1001")
        await expect(page.locator("#phone-state")).to_have_text("Phone: ready", timeout=20_000)
        mailbox = page.get_by_role("region", name="My voicemail")
        await expect(mailbox).to_contain_text("+74957770042")
        book = page.get_by_role("region", name="Address book")
        colleague = book.locator('li[data-user="1002"]')
        await expect(colleague).to_contain_text("Signed out")  # 1002 has no phone up
        # the phone registered (the demo readies operators whose phones register), yet at
        # the desk the operator is ready only by Ready
        await asyncio.sleep(1.0)
        assert str(node.center.shell.acd.agents["1001"].state) == "not_ready"
        state = page.get_by_role("status", name="My state")
        await expect(state).to_contain_text("Not ready")
        await page.get_by_role("button", name="Ready", exact=True).click()
        await acd_state(node, "1001", "ready")
        await expect(state).to_contain_text("Ready")
        await expect(page.locator("#today")).to_contain_text("Calls today")
        assert await serious(page) == []
        await shot(page, "desk-idle.png")

        # the caller talks for 5 s, then waits for the operator's hang-up
        scenario, sent = caller_scenario(tmp_path, talk_s=5.0, ani=CUSTOMER_NUMBER,
                                         parley_hangs_up=True)
        caller = await dial(node, tmp_path, "602", scenario)
        await expect(page.locator("#call-status")).to_have_text(
            f"Incoming call from {CUSTOMER_NUMBER}", timeout=20_000)
        rang = time.monotonic()
        card = page.get_by_role("region", name="Customer card")
        await expect(card.get_by_label("Name")).to_have_value("Anna Petrova", timeout=1_000)
        drawn = time.monotonic() - rang
        await expect(card).to_contain_text(CUSTOMER_NUMBER)
        await expect(page.locator("#call-queue")).to_have_text("support")
        await expect(page.get_by_role("button", name="Answer")).to_be_focused()
        await shot(page, "desk-ringing.png")

        await page.keyboard.press("Alt+A")  # Answer, from the keyboard
        await expect(page.locator("#call-status")).to_have_text(
            f"In a call with {CUSTOMER_NUMBER}", timeout=10_000)
        answered = time.monotonic()
        received = await heard(page, tmp_path / "page-heard.wav", 4.0)
        helped: list[Any] = []
        async with node.bus.subscribe(lambda envelope: envelope.type == "HelpRequested") as help_:
            await page.keyboard.press("Alt+E")  # Help
            helped.append(await asyncio.wait_for(help_.get(), 5))
        await expect(page.locator("#call-note")).to_have_text(
            "Help requested: the supervisors of your teams are told.")
        # the customer reads out a card number: the recording pauses (Alt+P), then resumes
        paused_notice = page.get_by_text("Recording paused", exact=True)
        await expect(paused_notice).to_be_hidden()
        await page.keyboard.press("Alt+P")
        await expect(paused_notice).to_be_visible()
        resume = page.get_by_role("button", name="Resume recording")
        await expect(resume).to_be_focused()
        assert await serious(page) == []
        await shot(page, "desk-recording-paused.png")
        await resume.click()
        await expect(paused_notice).to_be_hidden()
        await expect(page.get_by_role("button", name="Pause recording")).to_be_enabled()
        await card.get_by_label("Status").fill("platinum")
        await card.get_by_label("Notes on this call").fill("Asked about the March bill")
        await expect(page.get_by_role("button", name="Hang up")).to_be_enabled()
        await expect(book.get_by_role("button", name="Transfer to Operator 1002")
                     ).to_be_enabled()
        assert await serious(page) == []
        await shot(page, "desk-in-call.png")
        await asyncio.sleep(max(0.0, answered + 5.5 - time.monotonic()))
        await page.get_by_role("button", name="Hang up").click()
        await expect(page.locator("#call-status")).to_have_text("Call ended", timeout=10_000)
        await expect(state).to_contain_text("Wrap-up")  # with the queue's countdown
        await expect(page.locator("#wrap-up-timer")).to_contain_text("Wrap-up: 0:")
        # closing the call: the queue's result codes in the Script region, then Save and close
        script = page.get_by_role("region", name="Script")
        await script.get_by_role("combobox", name="Result").select_option(label="Success")
        await script.get_by_role("button", name="Save and close").click()
        await expect(state).to_contain_text("Ready", timeout=5_000)  # wrap-up ended
        assert await serious(page) == []
        # the message is heard and deleted in the page
        await mailbox.get_by_role("button", name="Mark the message from +74957770042 heard"
                                  ).click()
        await expect(mailbox.get_by_role("button", name="Mark heard")).to_have_count(0)
        await mailbox.get_by_role("button", name="Delete the message from +74957770042"
                                  ).click()
        await expect(mailbox).to_contain_text("No messages.")
        assert not message.exists()
        result = await caller.wait(within=40)
        assert result.ok, result.log
        record = await call_record(node, number="602")
        saved = None
        for _ in range(50):
            saved = await node.store.customers.card(record.id)
            if saved is not None:
                break
            await asyncio.sleep(0.1)
        changed = await node.store.customers.get(customer.id)
        wrapup = await node.store.wrapups.find(record.id)
        recordings = (await node.store.recordings.list(interaction_id=record.id)).items
        after = str(node.center.shell.acd.agents["1001"].state)
    assert drawn < 1.0
    (help_request,) = [envelope.event for envelope in helped]
    assert (help_request.agent_id, help_request.queue, help_request.teams) == (
        "1001", "support", ("blue",))
    assert help_request.call_id == record.id
    assert sounds_like(received, sent) > 0.5  # the page heard the caller
    assert record.operator == "1001"
    assert saved is not None, "the card was not saved with the call"
    assert saved.card["status"] == "platinum"
    assert saved.card["notes"] == "Asked about the March bill"
    assert saved.customer_id == customer.id
    assert saved.operator == "1001"
    assert changed.status == "platinum"  # the customer record took the edit too
    assert wrapup is not None, "Save and close stored no wrap-up"
    assert wrapup.result == "success"
    assert after == "ready"
    [recording] = recordings  # one gap, marked with who paused
    assert [gap["by"] for gap in recording.pauses] == ["1001"]
    assert 0 < recording.pauses[0]["start_s"] < recording.pauses[0]["end_s"]


async def test_a_second_sign_in_takes_the_desk_over_and_the_first_page_says_why(
        tmp_path: Path) -> None:
    from playwright.async_api import expect

    chromium_path(axe=True)
    mine = write_wav(tmp_path / "page-microphone.wav", noise_signal(3.0, 7))
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        login = await (await browser.new_context(
            viewport={"width": 1366, "height": 768})).new_page()
        await login.goto(f"{node.url}/login")
        assert await serious(login) == []
        await shot(login, "desk-login.png")
        first = await sign_in(browser, node.url, "1002", "pw1002")
        await expect(first.locator("#phone-state")).to_have_text("Phone: ready",
                                                                 timeout=20_000)
        second = await sign_in(browser, node.url, "1002", "pw1002")
        alert = first.get_by_role("alert")
        await expect(alert).to_contain_text("You signed in at another desk", timeout=10_000)
        await expect(first.get_by_role("button", name="Ready", exact=True)).to_be_disabled()
        await expect(second.locator("#phone-state")).to_have_text("Phone: ready",
                                                                  timeout=20_000)
        await second.get_by_role("button", name="Ready", exact=True).click()
        await acd_state(node, "1002", "ready")
        await second.get_by_role("button", name="Not ready").click()
        await acd_state(node, "1002", "not_ready")
        # a network blip: the phone's connection drops and it registers again; at the desk
        # neither the loss nor the new registration changes the operator's state (without
        # the desk, ready_on_register would log 1002 out, then in again, ready)
        for connection in node.telephony.transport.ws.connections():
            connection.close_soon(1001, "network blip")
        await eventually(lambda: _true(not node.telephony.engine.contacts_of("1002")),
                         what="the dropped connection's registration removed")
        await eventually(lambda: _true(bool(node.telephony.engine.contacts_of("1002"))),
                         within=20, what="the page registered again")
        await asyncio.sleep(0.5)
        assert str(node.center.shell.acd.agents["1002"].state) == "not_ready"
        # the first page's session is over: coming back shows the sign-in form
        await first.reload()
        await expect(first.get_by_text("Your session ended: sign in again.")).to_be_visible()


async def _true(value: bool) -> bool:
    return value


async def test_a_preview_card_arrives_and_the_operator_reschedules_then_skips(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from playwright.async_api import expect

    from parley.dialer.contacts import Contact, PhoneNumber
    from parley.dialer.model import NumberType
    from parley.store.specs import CampaignSpec

    from ..integration.inbound_node import change

    chromium_path(axe=True)
    mine = write_wav(tmp_path / "page-microphone.wav", noise_signal(3.0, 11))
    yekaterinburg = ("Asia/Yekaterinburg",)
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        site = await node.store.config.site()
        await node.store.config.put_site(site.model_copy(update={"time_zone": "Europe/Moscow"}))
        page = await sign_in(browser, node.url, "1003", "pw1003")
        await expect(page.locator("#phone-state")).to_have_text("Phone: ready", timeout=20_000)
        await page.get_by_role("button", name="Ready", exact=True).click()
        await acd_state(node, "1003", "ready")
        await change(node, "campaigns", CampaignSpec(
            name="renewals", mode="preview", queue="support", agents=["1003"],
            caller_id="+74951110000", call_window="any", script="demo-sales"))
        ids = await node.store.campaigns.add_contacts("renewals", [
            Contact("r-101", (PhoneNumber("+79031234567", NumberType.MOBILE, yekaterinburg),
                              PhoneNumber("+73432345678", NumberType.WORK, yekaterinburg)),
                    {"name": "Boris Ivanov", "plan": "Family 200", "renewal": "Dec 15"}),
            Contact("r-102", (PhoneNumber("+79037654321", NumberType.MOBILE, yekaterinburg),),
                    {"name": "Vera Orlova"}),
            Contact("r-103", (PhoneNumber("+79035550101", NumberType.MOBILE, yekaterinburg),
                              PhoneNumber("+73435550102", NumberType.WORK, yekaterinburg)),
                    {"name": "Gleb Sokolov"})])
        await node.dialer.contacts_added("renewals", ids)

        preview = page.get_by_role("region", name="Preview")
        await expect(preview).to_contain_text("Boris Ivanov", timeout=10_000)
        await expect(preview).to_contain_text("Asia/Yekaterinburg")
        await expect(preview).to_contain_text("Europe/Moscow")
        # the campaign's script, to read before dialling
        await expect(preview.get_by_text("Script: Sales call")).to_be_visible()
        await expect(preview).to_contain_text("Customer name (required)")
        await expect(preview).to_contain_text("As the customer says it")
        await expect(preview.get_by_role("button", name="Dial +79031234567 (mobile)")
                     ).to_be_focused()  # focus goes where the next action is
        await expect(preview.get_by_role("button", name="Dial +73432345678 (work)")
                     ).to_be_visible()
        # tomorrow 10:00 in the customer's zone (UTC+5) is 08:00 in the operator's (UTC+3)
        zone = ZoneInfo(yekaterinburg[0])
        day = (datetime.now(zone) + timedelta(days=1)).date()
        later = preview.get_by_label("Call again at (the customer's time, Asia/Yekaterinburg)")
        await later.fill(f"{day.isoformat()}T10:00")
        await expect(preview.locator("#preview-at-yours")).to_contain_text("8:00")
        await expect(preview.locator("#preview-at-yours")).to_contain_text("Europe/Moscow")
        assert await serious(page) == []
        await shot(page, "desk-preview.png")
        await preview.get_by_role("button", name="Reschedule").click()
        await expect(preview.get_by_role("status")).to_contain_text("Rescheduled", timeout=5_000)

        # freed, the operator is shown the next contact; Skip from the keyboard
        await expect(preview).to_contain_text("Vera Orlova", timeout=10_000)
        await page.keyboard.press("Alt+I")
        await expect(preview.get_by_role("status")).to_have_text("Skipped.", timeout=5_000)
        # the third: Dial its work number rather than the proposed mobile (the demo has no
        # route to it, so the attempt fails at once and the operator is freed again)
        await expect(preview).to_contain_text("Gleb Sokolov", timeout=10_000)
        await preview.get_by_role("button", name="Dial +73435550102 (work)").click()
        await expect(preview.get_by_role("status")).to_have_text("Dialling +73435550102…",
                                                                 timeout=5_000)
        await acd_state(node, "1003", "ready")
        assert await serious(page) == []
        rows = {p.contact.id: p for p in await node.store.campaigns.load_contacts("renewals")}
        attempts = (await node.store.campaigns.attempts("renewals", limit=10)).items
    wanted = datetime(day.year, day.month, day.day, 10, 0, tzinfo=zone).astimezone(UTC)
    rescheduled = rows["r-101"]
    assert rescheduled.attempts == 0
    assert rescheduled.due_at is not None
    assert abs((rescheduled.due_at.astimezone(UTC) - wanted).total_seconds()) < 1.0
    assert rows["r-102"].attempts == 0
    [dialled] = attempts  # only what the operator chose to dial, on the number they chose
    assert (dialled.contact_id, dialled.number, dialled.number_type) == (
        "r-103", "+73435550102", "work")


@needs(SIPP)
async def test_1001_consults_1002_then_a_conference_then_1002_keeps_the_customer_and_card(
        tmp_path: Path) -> None:
    """Consult from the address book (the customer holds), a three-way conference in which
    1002 hears the customer, then Complete transfer: 1001 leaves, and 1002's desk has the
    card with 1001's edits and the call's script with 1001's answers so far."""
    from playwright.async_api import expect

    chromium_path(axe=True)
    mine = write_wav(tmp_path / "page-microphone.wav", noise_signal(30.0, 78))
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        await node.store.customers.create(name="Anna Petrova", status="gold", fields={},
                                          numbers=[CUSTOMER_NUMBER])
        one = await sign_in(browser, node.url, "1001", "pw1001")
        two = await sign_in(browser, node.url, "1002", "pw1002")
        for page in (one, two):
            await expect(page.locator("#phone-state")).to_have_text("Phone: ready",
                                                                    timeout=20_000)
        await one.get_by_role("button", name="Ready", exact=True).click()
        await acd_state(node, "1001", "ready")
        scenario, sent = caller_scenario(tmp_path, talk_s=25.0, ani=CUSTOMER_NUMBER,
                                         parley_hangs_up=True)
        caller = await dial(node, tmp_path, "602", scenario)
        await expect(one.locator("#call-status")).to_have_text(
            f"Incoming call from {CUSTOMER_NUMBER}", timeout=20_000)
        await one.keyboard.press("Alt+A")
        await expect(one.locator("#call-status")).to_have_text(
            f"In a call with {CUSTOMER_NUMBER}", timeout=10_000)
        card = one.get_by_role("region", name="Customer card")
        await expect(card.get_by_label("Name")).to_have_value("Anna Petrova")
        await card.get_by_label("Status").fill("platinum")
        await card.get_by_label("Notes on this call").fill("Wants a refund")
        # the script's notes, not saved by anyone yet, go with the call too
        mine = one.get_by_role("region", name="Script").get_by_label("Notes", exact=True)
        await mine.fill("Refund of the March bill agreed", timeout=10_000)
        book = one.get_by_role("region", name="Address book")
        await book.get_by_role("button", name="Consult Operator 1002").click()
        # 1002's desk rings with the customer's card: a consultation, not a new customer
        await expect(two.locator("#call-status")).to_have_text(
            f"Consultation request from 1001 about {CUSTOMER_NUMBER}", timeout=10_000)
        theirs = two.get_by_role("region", name="Customer card")
        await expect(theirs.get_by_label("Status")).to_have_value("platinum")
        await two.keyboard.press("Alt+A")
        consulting = one.locator("#consult-state")
        await expect(consulting).to_have_text("Consulting 1002. The customer is on hold.",
                                              timeout=10_000)
        await expect(one.get_by_role("button", name="Complete transfer")).to_be_focused()
        assert await serious(one) == []
        await shot(one, "desk-consulting.png")
        await one.keyboard.press("Alt+F")  # Conference
        await expect(consulting).to_have_text("Conference: you, 1002 and the customer.")
        await expect(two.locator("#call-note")).to_have_text(
            f"Conference with 1001 and the customer {CUSTOMER_NUMBER}.")
        received = await heard(two, tmp_path / "1002-heard.wav", 3.5)
        await one.get_by_role("button", name="Complete transfer").click()  # 1001 leaves
        await expect(one.locator("#call-status")).to_have_text("Call ended", timeout=10_000)
        await expect(two.locator("#call-status")).to_have_text(
            f"In a call with {CUSTOMER_NUMBER}", timeout=10_000)
        await expect(theirs.get_by_label("Notes on this call")).to_have_value("Wants a refund")
        script = two.get_by_role("region", name="Script")
        await expect(script.get_by_role("combobox", name="Result")).to_be_visible(
            timeout=10_000)
        await expect(script.get_by_label("Notes", exact=True)).to_have_value(
            "Refund of the March bill agreed")
        await two.get_by_role("button", name="Hang up").click()
        record = await call_record(node, number="602")  # Parley hung up the customer
        await caller.stop()
    assert sounds_like(received, sent) > 0.3  # in the conference 1002 heard the customer
    assert record.operator == "1002"


@needs(SIPP)
async def test_a_blind_transfer_to_sales_brings_the_card_and_script_notes_to_its_operator(
        tmp_path: Path) -> None:
    """1001 edits the card and the script's notes, then transfers the customer blind to the
    sales queue: sales operator 1006's desk rings with the same card and its edits, and once
    answered shows 1001's notes in the script, nobody having closed the call."""
    from playwright.async_api import expect

    chromium_path(axe=True)
    mine = write_wav(tmp_path / "page-microphone.wav", noise_signal(20.0, 79))
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        await node.store.customers.create(name="Anna Petrova", status="gold", fields={},
                                          numbers=[CUSTOMER_NUMBER])
        one = await sign_in(browser, node.url, "1001", "pw1001")
        six = await sign_in(browser, node.url, "1006", "pw1006")
        for page, user in ((one, "1001"), (six, "1006")):
            await expect(page.locator("#phone-state")).to_have_text("Phone: ready",
                                                                    timeout=20_000)
            await page.get_by_role("button", name="Ready", exact=True).click()
            await acd_state(node, user, "ready")
        scenario, _sent = caller_scenario(tmp_path, talk_s=15.0, ani=CUSTOMER_NUMBER,
                                          parley_hangs_up=True)
        caller = await dial(node, tmp_path, "602", scenario)
        await expect(one.locator("#call-status")).to_have_text(
            f"Incoming call from {CUSTOMER_NUMBER}", timeout=20_000)
        await one.keyboard.press("Alt+A")
        await expect(one.locator("#call-status")).to_have_text(
            f"In a call with {CUSTOMER_NUMBER}", timeout=10_000)
        card = one.get_by_role("region", name="Customer card")
        await card.get_by_label("Status").fill("platinum")
        notes = one.get_by_role("region", name="Script").get_by_label("Notes", exact=True)
        await notes.fill("Wants the family plan", timeout=10_000)
        await one.get_by_label("Transfer to (number, user or queue:name)").fill("queue:sales")
        await one.get_by_role("button", name="Transfer", exact=True).click()
        await expect(six.locator("#call-status")).to_have_text(
            f"Incoming call from {CUSTOMER_NUMBER}", timeout=20_000)
        theirs = six.get_by_role("region", name="Customer card")
        await expect(theirs.get_by_label("Status")).to_have_value("platinum")
        await six.keyboard.press("Alt+A")
        await expect(six.locator("#call-status")).to_have_text(
            f"In a call with {CUSTOMER_NUMBER}", timeout=10_000)
        script = six.get_by_role("region", name="Script")
        await expect(script.get_by_label("Notes", exact=True)).to_have_value(
            "Wants the family plan", timeout=10_000)
        assert await serious(six) == []
        await six.get_by_role("button", name="Hang up").click()
        record = await call_record(node, number="602")
        await caller.stop()
    assert record.operator == "1006"
    assert record.queue == "sales"
