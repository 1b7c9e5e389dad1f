"""A real Chromium against Parley's WebRTC leg, without the page's SIP: the test carries the
browser's offer to Parley in a SIP INVITE over UDP and the answer back to the page.

Chromium (fake microphone fed a known WAV, PCMU chosen with ``setCodecPreferences``) reaches
ICE and DTLS "connected" against Parley's ICE-lite answer, its audio is in Parley's recording,
it hears Parley's echo, its RTCDTMFSender key press arrives as a digit, and closing the tab
ends the call within the consent timeout as CONSENT_EXPIRED by the remote side."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from parley.clock import MonotonicClock
from parley.events import Dtmf, HangupCause
from parley.media.analysis import find
from parley.media.audio import decode_wav
from parley.net.webrtc import WebRtcEndpoint
from parley.telephony.channel import Channel
from parley.telephony.media import CallRecording
from parley.telephony.server import Telephony, TelephonySettings
from parley.telephony.users import demo_directory
from parley.testing.peers import noise_signal, write_wav
from parley.testing.ports import free_port, free_port_block
from parley.testing.webrtc import SipCaller

CONSENT_TIMEOUT = 3.0

pytestmark = pytest.mark.browser

OFFER = """async () => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: {
      echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
  const pc = new RTCPeerConnection();
  window.pc = pc;
  const transceiver = pc.addTransceiver(stream.getAudioTracks()[0], {direction: 'sendrecv'});
  transceiver.setCodecPreferences(RTCRtpReceiver.getCapabilities('audio').codecs.filter(
      c => c.mimeType === 'audio/PCMU' || c.mimeType === 'audio/telephone-event'));
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => {
    if (pc.iceGatheringState === 'complete') done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
  });
  return pc.localDescription.sdp;
}"""

STATS = """async () => {
  const out = {};
  (await window.pc.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp') out.received = s.packetsReceived;
    if (s.type === 'outbound-rtp') out.sent = s.packetsSent;
    if (s.type === 'transport') { out.cipher = s.srtpCipher; out.dtls = s.dtlsState; }
    if (s.type === 'codec') out.codec = s.mimeType;
  });
  out.state = window.pc.connectionState;
  return out;
}"""


@pytest.fixture
async def parley(tmp_path: Path) -> AsyncIterator[Telephony]:
    rtp_first = free_port_block(40)
    settings = TelephonySettings(host="127.0.0.1", sip_port=free_port(),
                                 rtp_ports=(rtp_first, rtp_first + 39), realm="parley.test",
                                 data_dir=tmp_path / "data",
                                 webrtc_consent_timeout=CONSENT_TIMEOUT)
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with telephony:
        yield telephony


async def test_chromium_connects_is_heard_recorded_keys_and_tab_close_ends_the_call(
        chromium: str, parley: Telephony, tmp_path: Path) -> None:
    from playwright.async_api import Route, async_playwright

    source = noise_signal(2.0, seed=21)
    known = write_wav(tmp_path / "known.wav", source)
    recordings: list[CallRecording] = []

    async def echo_line(channel: Channel) -> None:
        channel.answer()
        recordings.append(channel.record())
        channel.echo()
        await channel.wait_ended()

    parley.route("1990", echo_line, public=False)
    sip = await SipCaller(("127.0.0.1", parley.sip_port), "1001", "pw1001").open()

    async def page_html(route: Route) -> None:
        await route.fulfill(body="<html><body>phone</body></html>", content_type="text/html")

    stats: dict[str, Any] = {}
    async with parley.events() as events, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True,
            args=["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                  f"--use-file-for-fake-audio-capture={known}",
                  "--allow-loopback-in-peer-connection"])
        try:
            page = await browser.new_page()
            await page.route("http://localhost/phone", page_html)  # a secure context
            await page.goto("http://localhost/phone")
            offer = await page.evaluate(OFFER)
            answer = await sip.invite("1990", offer.replace("\r\n", "\n")
                                      .replace("\n", "\r\n").encode())
            assert answer.status == 200
            await page.evaluate("sdp => window.pc.setRemoteDescription({type: 'answer', sdp})",
                                answer.body.decode())
            for _ in range(50):
                stats = await page.evaluate(STATS)
                if stats["state"] in ("connected", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert stats["state"] == "connected"
            await asyncio.sleep(3.0)
            await page.evaluate("() => window.pc.getSenders()[0].dtmf.insertDTMF('5', 120)")
            await asyncio.sleep(0.6)
            stats = await page.evaluate(STATS)
            channel = next(c for c in parley.engine.active_channels
                           if isinstance(c.media, WebRtcEndpoint))
            await page.close()  # the tab is closed: no BYE, no more consent
            await asyncio.wait_for(sip.bye_received.wait(), CONSENT_TIMEOUT + 3)
        finally:
            await browser.close()
            sip.close()
        seen = [events.get_nowait() for _ in range(events.qsize())]
    assert stats["codec"] == "audio/PCMU"
    assert stats["dtls"] == "connected"
    assert stats["cipher"] == "SRTP_AEAD_AES_128_GCM"
    assert stats["received"] > 100  # Parley's echo reached the page
    assert stats["sent"] > 100
    assert [e.digit for e in seen if isinstance(e, Dtmf)] == ["5"]
    assert channel.hangup_cause is HangupCause.CONSENT_EXPIRED
    assert channel.hangup_by == "remote"
    metadata = recordings[0].metadata
    assert metadata is not None
    recorded = decode_wav(recordings[0].path.read_bytes(), str(recordings[0].path))
    browser_side = np.rint(recorded.samples[:, 0] * 32768).astype(np.int16)
    looped = np.tile(source, 3)
    # the WAV, via Chromium: four quarter-second windows each found on their own (the fake
    # microphone drops a frame when the machine is busy, which splits one long window)
    found = [find(browser_side[start:start + 2000], looped).correlation
             for start in range(8000, 16000, 2000)]
    assert float(np.median(found)) > 0.8, found
