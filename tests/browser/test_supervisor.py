"""The supervisor console and the wallboard in real Chromiums against a running demo node with
real SIP peers. Operator 1001 works at the browser desk; a baresip caller dials 602 and waits
past the queue's threshold (the console's cell turns red with an alert), then 1001 answers,
asks for help, and the supervisor (a second Chromium, signed in at /login with the browser
phone) sees the toast and joins in a whisper: the operator's page hears the supervisor's
microphone, the caller does not. A supervisor of another team is refused the call. After the
call the supervisor forces 1001 not ready, which the desk shows. Both pages pass axe-core;
screenshots at 1366x768 go to docs/images for docs/supervisor.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from parley.store.specs import QueueSpec, QueueThresholds, UserSpec
from parley.testing.needs import BARESIP, HOLD_MUSIC, STOCK_PROMPTS, needs
from parley.testing.peers import Baresip, audio_similarity, noise_signal, read_wav, write_wav

from ..integration.inbound_node import change, demo_node
from ..integration.test_api_live import acd_state, logged_in
from .conftest import chromium_path
from .test_desk import serious, shot, sign_in
from .test_phone_calls import chromium, heard, sounds_like

pytestmark = [pytest.mark.browser, needs(STOCK_PROMPTS, HOLD_MUSIC)]


def syllables(seconds: float, seed: int) -> np.ndarray:
    """Noise in bursts of 150-400 ms with pauses between, like speech: a steady noise is
    what the browser's noise suppression learns to remove within seconds."""
    rng = np.random.default_rng(seed)
    noise = noise_signal(seconds, seed).astype(np.float64)
    envelope = np.zeros(len(noise))
    at = 0
    while at < len(noise):
        burst, pause = int(rng.uniform(0.15, 0.4) * 8000), int(rng.uniform(0.08, 0.25) * 8000)
        envelope[at:at + burst] = rng.uniform(0.5, 1.0)
        at += burst + pause
    ramp = np.hanning(161) / np.hanning(161).sum()
    return np.rint(noise * np.convolve(envelope, ramp, mode="same")).astype(np.int16)


def best_match(received: Path, source: Path, window_s: float = 2.0) -> float:
    """The highest similarity of any ``window_s`` stretch of ``received`` to ``source``."""
    audio, rate = read_wav(received)
    step = int(window_s * rate)
    best = 0.0
    for start in range(0, len(audio) - 2 * step, step // 2):
        piece = write_wav(received.with_suffix(".piece.wav"),
                          audio[start:start + 2 * step].clip(-32768, 32767).astype(np.int16))
        best = max(best, audio_similarity(piece, source, window_s=window_s))
    return best


@needs(BARESIP)
async def test_help_reaches_the_supervisor_who_whispers_to_the_operator_only(
        tmp_path: Path) -> None:
    from playwright.async_api import expect

    chromium_path(axe=True)
    desk_microphone = write_wav(tmp_path / "desk-microphone.wav", syllables(30.0, 77))
    boss_microphone = write_wav(tmp_path / "boss-microphone.wav", syllables(30.0, 91))
    async with demo_node(tmp_path) as node, chromium(desk_microphone) as floor, \
            chromium(boss_microphone) as office:
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={
            "wrap_up_s": 0, "thresholds": QueueThresholds(waiting=0)}))
        await change(node, "users", UserSpec(username="boss-green", roles=["supervisor"],
                                             teams=["green"], password="pw-boss-green"))
        desk = await sign_in(floor, node.url, "1001", "pw1001")
        boss = await sign_in(office, node.url, "supervisor", "pw-supervisor",
                             lands="/supervisor")
        await expect(desk.locator("#phone-state")).to_have_text("Phone: ready", timeout=20_000)
        await expect(boss.locator("#phone-state")).to_have_text("Phone: ready", timeout=20_000)
        operators = boss.get_by_role("table", name="Operators")
        row_1001 = operators.get_by_role("row").filter(has_text="Operator 1001")
        await expect(row_1001).to_contain_text("Not ready")
        await boss.get_by_label("Team").select_option("green")  # the filter hides blue
        await expect(row_1001).to_be_hidden()
        await boss.get_by_label("Team").select_option("")
        await expect(row_1001).to_be_visible()

        caller_voice = write_wav(tmp_path / "caller-voice.wav", syllables(40.0, 5))
        caller = Baresip(tmp_path / "caller", user="caller", server_port=node.telephony.sip_port,
                         register=False, source=caller_voice)
        await caller.start()
        try:
            await caller.dial("602")
            queues = boss.get_by_role("table", name="Queues")
            waiting = queues.get_by_role("row").filter(has_text="support").locator(
                "td[data-cell=waiting]")
            await expect(waiting).to_have_class("over", timeout=20_000)  # 1 waiting, over 0
            await expect(boss.locator("#queue-alert")).to_contain_text(
                "support: 1 calls waiting (threshold 0)")
            assert await serious(boss) == []
            await shot(boss, "supervisor-alert.png")
            # the waiting call's row, drawn from the node's first change for it; from now on
            # the page is sent changes only and patches this row in place
            calls = boss.get_by_role("table", name="Calls")
            drawn = calls.get_by_role("row").filter(has_text="Waiting")
            await expect(drawn).to_have_count(1, timeout=5_000)
            await drawn.evaluate("row => { row.dataset.marked = 'first drawn'; }")
            fetched: list[str] = []
            boss.on("request", lambda request: fetched.append(request.url)
                    if "/supervisor/live" in request.url and "calls" in request.url else None)

            await desk.get_by_role("button", name="Ready", exact=True).click()
            await expect(desk.get_by_role("button", name="Answer")).to_be_enabled(
                timeout=20_000)
            await desk.get_by_role("button", name="Answer").click()
            call_row = calls.get_by_role("row").filter(has_text="Operator 1001")
            await expect(call_row.get_by_role("button", name="Listen")).to_be_enabled(
                timeout=5_000)
            await expect(call_row).to_contain_text("Talking")
            # the same row, patched from Waiting to Talking; the calls were not asked again
            assert await call_row.get_attribute("data-marked") == "first drawn"
            assert fetched == []
            await expect(row_1001).to_contain_text("In a call")
            call_id = await call_row.get_attribute("data-key")
            # a supervisor of another team may not listen to a blue operator's call
            async with logged_in(node, "boss-green", "pw-boss-green") as green:
                refused = await green.post(f"/api/live/calls/{call_id}/monitor",
                                           json={"mode": "listen"})
                assert refused.status_code == 403, refused.text
                assert [c["id"] for c in (await green.get("/api/live/calls")).json()] == []

            await desk.get_by_role("button", name="Help").click()
            toast = boss.locator(".toast").filter(has_text="1001 asks for help")
            await expect(toast).to_be_visible(timeout=5_000)
            for choice in ("Join", "Listen", "Barge", "Take over"):  # how to join is chosen
                await expect(toast.get_by_role("button", name=choice)).to_be_visible()
            assert await serious(boss) == []
            await shot(boss, "supervisor-help.png")
            await toast.get_by_role("button", name="Join").click()
            await expect(desk.locator("#call-note")).to_have_text(
                "Supervisor supervisor is whispering to you (the customer does not hear "
                "them).", timeout=10_000)
            await expect(call_row.get_by_role("button", name="Whisper")).to_have_attribute(
                "aria-pressed", "true")
            await asyncio.sleep(0.5)
            operator_heard = await heard(desk, tmp_path / "desk-heard.wav", 4.0)
            # listening now: the same call, the mode changes without ringing again
            await call_row.get_by_role("button", name="Listen").click()
            await expect(boss.locator("#monitor-state")).to_contain_text("listening")
            assert await serious(boss) == []
            await shot(boss, "supervisor-console.png")
            await call_row.get_by_role("button", name="Leave").click()
            await expect(desk.locator("#call-note")).to_contain_text("has left the call",
                                                                     timeout=5_000)
            # not in the call now: taking over rings the supervisor's browser phone first
            async def confirm(dialog: Any) -> None:
                assert "Take over this call from Operator 1001" in dialog.message
                await dialog.accept()

            boss.once("dialog", confirm)
            await call_row.get_by_role("button", name="Take over").click()
            await expect(desk.locator("#call-note")).to_have_text(
                "Supervisor supervisor has taken over the call.", timeout=10_000)
            taken = calls.locator(f'tr[data-key="{call_id}"]')
            await expect(taken).not_to_contain_text("Operator 1001", timeout=5_000)
            await taken.get_by_role("button", name="Hang up").click()
            await expect(taken).to_have_count(0, timeout=5_000)
        finally:
            await caller.stop()
        await acd_state(node, "1001", "ready")

        # force not ready with a reason: the desk shows it, the audit log names the supervisor
        await row_1001.get_by_role("button", name="Force not ready").click()
        dialog = boss.get_by_role("dialog")
        await dialog.get_by_role("button", name="Confirm").click()
        await expect(dialog.get_by_text("Give a reason.")).to_be_visible()  # next to it
        await dialog.get_by_label("Reason").fill("Coaching")  # not one of the site's
        await dialog.get_by_role("button", name="Confirm").click()
        await expect(dialog.locator("#reason-error")).to_contain_text("unknown not-ready reason")
        await dialog.get_by_label("Reason").fill("training")
        await dialog.get_by_role("button", name="Confirm").click()
        await expect(desk.get_by_role("status", name="My state")).to_contain_text(
            "Not ready · training", timeout=5_000)
        await expect(row_1001).to_contain_text("Not ready · training")
        audit = await node.store.audit.list(action="operator_state")

        wall = await (await office.new_context(viewport={"width": 1366, "height": 768})
                      ).new_page()
        await wall.context.add_cookies(await boss.context.cookies())
        await wall.goto(f"{node.url}/wallboard")
        board = wall.get_by_role("table", name="Queues")
        await expect(board.get_by_role("row").filter(has_text="support")).to_be_visible()
        await expect(board.get_by_role("button")).to_have_count(0)  # nothing to press
        assert await serious(wall) == []
        await shot(wall, "wallboard.png")
        caller_heard = caller.received_wav()
    # whispering, the operator heard the supervisor's microphone; the caller never did,
    # though they heard the operator
    assert sounds_like(operator_heard, boss_microphone) > 0.2  # mixed with the caller
    assert best_match(caller_heard, desk_microphone) > 0.4
    assert best_match(caller_heard, boss_microphone) < 0.15
    [forced] = [entry for entry in audit.items if entry.target == "1001"]
    assert (forced.actor, forced.detail["state"], forced.detail["reason"]) == (
        "supervisor", "not_ready", "training")
