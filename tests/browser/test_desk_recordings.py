"""Recordings at the desk in a real Chromium against the demo node with SIPp callers: on a
queue that records on demand the operator presses Record (Alt+B) and the desk says the call
is recorded; the recording lands in the store. When the customer calls again, the contact
history plays it in the page; another operator, who did not handle that call, gets 403 from
the route that streams it, and a supervisor is served. Every listening is audited.
"""

from __future__ import annotations

import asyncio
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

pytestmark = [pytest.mark.browser, needs(STOCK_PROMPTS, HOLD_MUSIC, SIPP)]

NUMBER = "+74957654321"


async def status_of(browser: Any, url: str, user: str, password: str, path: str) -> int:
    """The status ``user`` (signed in over the API, in a context of their own) gets for
    ``path``."""
    context = await browser.new_context()
    try:
        signed = await context.request.post(f"{url}/api/auth/login",
                                            data={"username": user, "password": password})
        assert signed.ok, await signed.text()
        return int((await context.request.get(f"{url}{path}")).status)
    finally:
        await context.close()


async def test_the_operator_records_on_demand_and_hears_it_in_the_contact_history(
        tmp_path: Path) -> None:
    from playwright.async_api import expect

    chromium_path(axe=True)
    mine = write_wav(tmp_path / "page-microphone.wav", noise_signal(10.0, 21))
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={"recording": "on_demand",
                                                               "wrap_up_s": 0}))
        page = await sign_in(browser, node.url, "1001", "pw1001")
        await expect(page.locator("#phone-state")).to_have_text("Phone: ready", timeout=20_000)
        await page.get_by_role("button", name="Ready", exact=True).click()
        await acd_state(node, "1001", "ready")

        # the first call: answered, recorded on demand, ended by the operator
        first_dir, second_dir = tmp_path / "first", tmp_path / "second"
        first_dir.mkdir()
        second_dir.mkdir()
        scenario, _sent = caller_scenario(first_dir, talk_s=2.0, ani=NUMBER,
                                          parley_hangs_up=True)
        caller = await dial(node, first_dir, "602", scenario)
        await expect(page.locator("#call-status")).to_have_text(
            f"Incoming call from {NUMBER}", timeout=20_000)
        record = page.get_by_role("button", name="Record", exact=True)
        await expect(record).to_be_disabled()  # nothing to record before the answer
        await page.keyboard.press("Alt+A")
        await expect(page.locator("#call-status")).to_have_text(
            f"In a call with {NUMBER}", timeout=10_000)
        await expect(record).to_be_enabled()
        on_air = page.get_by_role("status").filter(has_text="Recording in progress")
        await expect(page.locator("#recording-on")).to_be_hidden()
        await page.keyboard.press("Alt+B")
        await expect(page.locator("#recording-on")).to_be_visible()
        await expect(on_air.first).to_be_visible()
        await expect(record).to_be_disabled()  # recorded once; Pause recording is next
        await expect(page.get_by_role("button", name="Pause recording")).to_be_focused()
        await expect(page.locator("#call-note")).to_have_text("Recording started.")
        assert await serious(page) == []
        await shot(page, "desk-recording-on-demand.png")
        await asyncio.sleep(2.0)  # something to record
        await page.keyboard.press("Alt+H")
        await expect(page.locator("#call-status")).to_have_text("Call ended", timeout=15_000)
        await expect(page.locator("#recording-on")).to_be_hidden()
        assert (await caller.wait(within=20)).ok
        first = await call_record(node, number=NUMBER)
        recordings: tuple[Any, ...] = ()
        for _ in range(50):
            recordings = (await node.store.recordings.list(interaction_id=first.id)).items
            if recordings:
                break
            await asyncio.sleep(0.1)
        [stored] = recordings
        assert stored.duration_s > 1.5
        await node.recording_files.settled()  # the history plays the compressed file
        assert (await node.store.recordings.get(stored.id)).media_type == "audio/flac"
        audio_path = f"/api/recordings/{stored.id}/audio"
        script = page.get_by_role("region", name="Script")
        await script.get_by_role("combobox", name="Result").select_option(label="Success")
        await script.get_by_role("button", name="Save and close").click()
        await acd_state(node, "1001", "ready")

        # the customer calls again: the card's history plays the recording of the first call
        scenario, _sent = caller_scenario(second_dir, talk_s=1.0, ani=NUMBER, seed=6,
                                          parley_hangs_up=True)
        again = await dial(node, second_dir, "602", scenario)
        await expect(page.locator("#call-status")).to_have_text(
            f"Incoming call from {NUMBER}", timeout=20_000)
        history = page.get_by_role("region", name="Contact history")
        player = history.get_by_label("Recording of the call of")
        await expect(player).to_have_count(1, timeout=5_000)
        await expect(player).to_have_attribute("src", audio_path)
        await page.keyboard.press("Alt+A")
        played = await player.evaluate(
            """async (audio) => {
                 audio.muted = true;
                 await audio.play();
                 const until = Date.now() + 5000;
                 while (audio.currentTime < 0.5 && Date.now() < until) {
                   await new Promise((done) => setTimeout(done, 50));
                 }
                 audio.pause();
                 return audio.currentTime;
               }""")
        assert played >= 0.5, "the recording did not play in the page"
        assert await serious(page) == []
        await shot(page, "desk-history-recording.png")
        await asyncio.sleep(1.0)
        await page.keyboard.press("Alt+H")
        assert (await again.wait(within=20)).ok

        # the route decides: 1002 did not handle the call, the supervisor hears everything
        assert await status_of(browser, node.url, "1002", "pw1002", audio_path) == 403
        assert await status_of(browser, node.url, "supervisor", "pw-supervisor",
                               audio_path) == 200
        audit = await node.store.audit.list(target_type="recordings", limit=20)
    heard = [(entry.actor, entry.action) for entry in audit.items
             if entry.target == stored.id]
    assert ("1001", "recording_download") in heard
    assert ("1002", "recording_refused") in heard
    assert ("supervisor", "recording_download") in heard
