"""Calls with the browser phone in a real Chromium, over SIP over WebSocket and the WebRTC
media leg, against a running demo node and real SIP peers. The page's microphone is a fake
device playing a known WAV; what the page hears is captured with Web Audio (the remote stream
stays attached to the page's audio element, which Chromium needs) and found in the known
audio by correlation, as every other call test does.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from parley.app import Node
from parley.events import Dtmf
from parley.media.analysis import find
from parley.media.audio import decode_wav, to_telephony
from parley.store.specs import QueueSpec
from parley.telephony.flac import read_recording
from parley.telephony.prompts import find_stock_sounds
from parley.testing.needs import BARESIP, HOLD_MUSIC, SIPP, STOCK_PROMPTS, needs
from parley.testing.peers import audio_similarity, noise_signal, samples_similarity, write_wav

from ..integration.inbound_node import call_record, caller_scenario, change, demo_node, dial
from ..integration.inbound_node import operator as desk_phone
from ..integration.test_api_live import acd_state, eventually
from .conftest import CHROMIUM, chromium_path
from .test_phone_page import chromium_args

pytestmark = [
    pytest.mark.browser,
    needs(STOCK_PROMPTS, HOLD_MUSIC),
]

#: Records what the page hears for ``seconds``: 8 kHz mono 16-bit samples from the remote
#: stream, as base64. (As a list of numbers, the 32,000 samples took Playwright about 0.5 s
#: to read back, in the event loop the node under test shares: its audio stood still.)
CAPTURE = """async (seconds) => {
  const audio = document.getElementById("remote-audio");
  const stream = audio.srcObject;
  if (!stream) throw new Error("no remote stream");
  const context = new AudioContext({ sampleRate: 8000 });
  const source = context.createMediaStreamSource(stream);
  const recorder = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  recorder.onaudioprocess = (event) => chunks.push(Array.from(event.inputBuffer.getChannelData(0)));
  source.connect(recorder);
  recorder.connect(context.destination);
  await new Promise((done) => setTimeout(done, seconds * 1000));
  recorder.disconnect();
  source.disconnect();
  await context.close();
  const pcm = Int16Array.from(chunks.flat(),
                              (x) => Math.round(Math.max(-1, Math.min(1, x)) * 32767));
  const bytes = new Uint8Array(pcm.buffer);
  let text = "";
  for (let at = 0; at < bytes.length; at += 8192) {
    text += String.fromCharCode(...bytes.subarray(at, at + 8192));
  }
  return btoa(text);
}"""


@asynccontextmanager
async def chromium(microphone: Path) -> AsyncIterator[Any]:
    """Chromium whose microphone plays ``microphone``."""
    from playwright.async_api import async_playwright

    chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=chromium_args(microphone))
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in(browser: Any, node: Node, user: str, password: str) -> Any:
    """A /phone page signed in as ``user`` and registered."""
    from playwright.async_api import expect

    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    await page.goto(f"{node.url}/phone")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("status")).to_have_text("Ready: the phone is registered",
                                                          timeout=20_000)
    return page


async def heard(page: Any, path: Path, seconds: float = 4.0) -> Path:
    """Record what the page hears for ``seconds`` into a WAV at ``path`` (audio_similarity
    needs more than 3 s)."""
    samples = np.frombuffer(base64.b64decode(await page.evaluate(CAPTURE, seconds)), "<i2")
    return write_wav(path, samples)


def sounds_like(received: Path, source: Path) -> float:
    """``audio_similarity`` for audio that went through a browser: four half-second windows,
    the median, since the browser's jitter buffer stretches or drops a few milliseconds when
    packets come late (under a loaded machine) and one splice halves a long window's score."""
    return audio_similarity(received, source, window_s=0.5, pieces=4)


def browser_sent(channel: np.ndarray, source: Path) -> float:
    """:func:`sounds_like` for a recording's channel of what a browser sent: its audio
    processing splices the microphone's audio too (60 ms once in the first 5 s of a call on
    an idle machine, with no packet lost on the way), so one long window may straddle a
    splice. The windows are seconds 2-4 (the middle of seconds 1.5-4.5)."""
    return samples_similarity(channel[8000 * 3 // 2:8000 * 9 // 2], load(source), 8000,
                              window_s=0.5, pieces=4)


async def status_is(page: Any, text: str, within_ms: int = 20_000) -> None:
    from playwright.async_api import expect

    await expect(page.get_by_role("status")).to_have_text(text, timeout=within_ms)


def microphone(tmp_path: Path) -> Path:
    """The page's known audio: 12 s of a stock prompt's unbroken speech (unlike the callers'
    noise). A voice, since the browser's own audio processing (noise suppression, gain
    control, echo cancellation) is made for one: it reshapes noise into scoring about 0.6
    against its source, a voice about 0.8."""
    stock = find_stock_sounds()
    assert stock is not None
    voice = load(stock / "demo-instruct.wav")[:8000 * 12]
    return write_wav(tmp_path / "page-microphone.wav", voice)


def load(path: Path) -> np.ndarray:
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


def read_stereo(path: Path) -> np.ndarray:
    """A stored recording's samples (a FLAC once compressed, else the WAV)."""
    return read_recording(path)[0]


@asynccontextmanager
async def node_with_recording(tmp_path: Path) -> AsyncIterator[Node]:
    async with demo_node(tmp_path) as node:
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={"recording": "all"}))
        yield node


@needs(SIPP)
async def test_a_caller_to_queue_602_is_answered_in_the_browser_audio_both_ways(
        tmp_path: Path) -> None:
    mine = microphone(tmp_path)
    async with node_with_recording(tmp_path) as node, chromium(mine) as browser:
        page = await signed_in(browser, node, "1001", "pw1001")
        await acd_state(node, "1001", "ready")
        scenario, sent = caller_scenario(tmp_path, talk_s=10.0)
        caller = await dial(node, tmp_path, "602", scenario)
        await status_is(page, "Incoming call from sipp")
        await page.get_by_role("button", name="Answer").click()
        await status_is(page, "In a call with sipp")
        received = await heard(page, tmp_path / "page-heard.wav", 4.0)
        result = await caller.wait(within=40)
        assert result.ok, result.log
        await status_is(page, "Call ended (Terminated)")
        record = await call_record(node, number="602")
        await node.recording_files.settled()
        recordings = (await node.store.recordings.list(interaction_id=record.id)).items
    # the browser heard the caller
    assert sounds_like(received, sent) > 0.5
    assert record.operator == "1001"
    assert record.queue == "support"
    assert record.outcome == "answered"
    assert [e.detail["by"] for e in record.timeline if e.kind == "hung up"] == ["caller"]
    # the stereo recording: the caller left, the browser right (what the caller was sent)
    assert len(recordings) == 1
    stereo, sent_pcm = read_stereo(Path(recordings[0].path)), load(sent)
    # (the browser's own audio processing reshapes even a voice more than a G.711 path does:
    # above 0.5 is far from chance, near 0.05)
    assert browser_sent(stereo[:, 1], mine) > 0.5
    assert find(stereo[8000 * 2:8000 * 4, 0], sent_pcm).correlation > 0.8


async def test_the_browser_calls_the_echo_test_and_hears_itself(tmp_path: Path) -> None:
    mine = microphone(tmp_path)
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        page = await signed_in(browser, node, "1001", "pw1001")
        await page.get_by_label("Number").fill("500")
        await page.get_by_role("button", name="Call").click()
        await status_is(page, "In a call with 500")
        received = await heard(page, tmp_path / "echo.wav", 4.0)
        await page.get_by_role("button", name="Hang up").click()
        await status_is(page, "Call ended (Terminated)")
    assert sounds_like(received, mine) > 0.5


@needs(BARESIP)
async def test_the_browser_calls_a_desk_phone_audio_both_ways(tmp_path: Path) -> None:
    mine = microphone(tmp_path)
    desk_audio = write_wav(tmp_path / "desk.wav", noise_signal(12.0, 5))
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        desk = desk_phone(node, tmp_path, "1002", source=desk_audio)
        await desk.start()
        try:
            page = await signed_in(browser, node, "1001", "pw1001")
            await page.get_by_label("Number").fill("1002")
            await page.keyboard.press("Enter")  # Enter in the number field calls
            await desk.wait_event("CALL_ESTABLISHED", within=20)
            await status_is(page, "In a call with 1002")
            received = await heard(page, tmp_path / "page-heard.wav", 4.0)
            await page.get_by_role("button", name="Hang up").click()
            await desk.wait_event("CALL_CLOSED", within=10)
        finally:
            await desk.stop()
    assert sounds_like(received, desk_audio) > 0.5
    assert sounds_like(desk.received_wav(), mine) > 0.5


async def test_key_presses_on_the_page_reach_the_ivr(tmp_path: Path) -> None:
    mine = microphone(tmp_path)
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        digits: list[str] = []
        unsubscribe = node.telephony.subscribe(
            lambda event: digits.append(event.digit) if isinstance(event, Dtmf) else None)
        try:
            page = await signed_in(browser, node, "1001", "pw1001")
            await page.get_by_label("Number").fill("600")
            await page.get_by_role("button", name="Call").click()
            await status_is(page, "In a call with 600")
            await asyncio.sleep(1.0)  # the menu starts
            await page.get_by_role("group", name="Dial pad").get_by_role(
                "button", name="1").click()  # 1: sales
            await eventually(lambda: _true(digits == ["1"]), what="the digit 1 heard")
            await asyncio.sleep(1.0)  # the flow sends the call on to the sales queue
            await page.get_by_role("button", name="Hang up").click()
        finally:
            unsubscribe()
        record = await call_record(node, number="600")
    assert "menu choice" in [entry.kind for entry in record.timeline]
    assert record.queue == "sales"


async def _true(value: bool) -> bool:
    return value


@needs(SIPP, BARESIP)
async def test_a_blind_transfer_from_the_page_reaches_another_phone_in_the_same_record(
        tmp_path: Path) -> None:
    mine = microphone(tmp_path)
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        other = desk_phone(node, tmp_path, "1002")
        try:
            page = await signed_in(browser, node, "1001", "pw1001")
            await acd_state(node, "1001", "ready")
            scenario, _sent = caller_scenario(tmp_path, talk_s=10.0)
            caller = await dial(node, tmp_path, "602", scenario)
            await status_is(page, "Incoming call from sipp")
            await page.get_by_role("button", name="Answer").click()
            await status_is(page, "In a call with sipp")
            await other.start()  # registered only now, so the queue offered the call to 1001
            await page.get_by_label("Transfer to").fill("1002")
            await page.get_by_role("button", name="Transfer").click()
            await other.wait_event("CALL_ESTABLISHED", within=20)
            await status_is(page, "Call ended (Terminated)")
            result = await caller.wait(within=40)
            assert result.ok, result.log
        finally:
            await other.stop()
        record = await call_record(node, number="602")
    endpoints = [leg.endpoint for leg in record.legs]
    assert "1001" in endpoints
    assert "1002" in endpoints  # one record: the transfer kept the interaction id
    assert "transferred" in [entry.kind for entry in record.timeline]


@needs(SIPP)
async def test_closing_the_tab_ends_the_call_and_the_record_says_operator_1001_hung_up(
        tmp_path: Path) -> None:
    mine = microphone(tmp_path)
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        page = await signed_in(browser, node, "1001", "pw1001")
        await acd_state(node, "1001", "ready")
        # the caller talks for 2 s, then waits for Parley's BYE (one that came sooner would
        # be unexpected to SIPp)
        scenario, _sent = caller_scenario(tmp_path, talk_s=2.0, parley_hangs_up=True)
        caller = await dial(node, tmp_path, "602", scenario)
        await status_is(page, "Incoming call from sipp")
        await page.get_by_role("button", name="Answer").click()
        await status_is(page, "In a call with sipp")
        await asyncio.sleep(3.0)
        await page.close(run_before_unload=True)
        result = await caller.wait(within=45)  # BYE at once, or when consent lapses (30 s)
        assert result.ok, result.log
        record = await call_record(node, number="602")
    assert [e.detail["by"] for e in record.timeline if e.kind == "hung up"] == ["1001"]


async def test_after_a_network_blip_the_page_registers_again_and_keeps_its_call(
        tmp_path: Path) -> None:
    mine = microphone(tmp_path)
    async with demo_node(tmp_path) as node, chromium(mine) as browser:
        page = await signed_in(browser, node, "1001", "pw1001")
        await page.get_by_label("Number").fill("500")
        await page.get_by_role("button", name="Call").click()
        await status_is(page, "In a call with 500")
        (channel,) = [c for c in node.telephony.channels() if c.caller == "1001"]
        first = channel.leg.peer
        # the page's WebSocket drops (as in a network blip); media goes on
        (connection,) = node.telephony.transport.ws.connections()
        connection.close_soon(1001, "network blip")
        await eventually(lambda: _true(not node.telephony.engine.contacts_of("1001")),
                         what="the dropped connection's registration removed")
        await eventually(lambda: _true(bool(node.telephony.engine.contacts_of("1001"))),
                         within=20, what="the page registered again")
        assert not channel.ended
        received = await heard(page, tmp_path / "echo-after.wav", 4.0)
        assert sounds_like(received, mine) > 0.5  # the call still carries audio
        assert channel.leg.peer != first  # its requests now go over the new connection
        await page.get_by_role("button", name="Hang up").click()
        await status_is(page, "Call ended (Terminated)")
        await eventually(lambda: _true(channel.ended), what="the call ended in Parley")
