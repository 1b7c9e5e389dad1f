"""The WebRTC media leg over real sockets: a browser stand-in (ICE, DTLS, SRTP in Python, SIP
over UDP) calls Parley, which answers as ICE-lite with DTLS-SRTP and bridges it like any leg."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from parley.clock import MonotonicClock
from parley.events import Dtmf, Hangup, HangupCause
from parley.media.analysis import find
from parley.media.audio import decode_wav, to_telephony
from parley.net.webrtc import WebRtcEndpoint
from parley.telephony.channel import Channel
from parley.telephony.server import Telephony
from parley.telephony.users import demo_directory
from parley.testing.media import event_stream
from parley.testing.peers import Baresip, noise_signal
from parley.testing.webrtc import SipCaller, WebRtcPhone

from .conftest import needs_baresip, telephony_settings

CONSENT_TIMEOUT = 2.0


@pytest.fixture
async def parley(tmp_path: Path) -> AsyncIterator[Telephony]:
    """Parley with a short consent timeout, an echo line (1990) and an operator line (1991:
    the caller is bridged to 1002 and recorded)."""
    settings = telephony_settings(data_dir=tmp_path / "parley-data",
                                  webrtc_consent_timeout=CONSENT_TIMEOUT)
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock())

    async def echo_line(channel: Channel) -> None:
        channel.answer()
        channel.echo()
        await channel.wait_ended()

    async def operator_line(channel: Channel) -> None:
        operator = telephony.originate("1002", caller_id=channel.caller, timeout=10)
        if not await operator.wait_answered(within=10):
            channel.hangup()
            return
        channel.answer()
        bridge = telephony.bridge(channel, operator)
        bridge.record()
        await channel.wait_ended()
        operator.hangup()
        bridge.destroy()

    telephony.route("1990", echo_line, public=False)
    telephony.route("1991", operator_line, public=False)
    async with telephony:
        yield telephony


async def call(parley: Telephony, number: str) -> tuple[WebRtcPhone, SipCaller]:
    phone = WebRtcPhone().open()
    sip = await SipCaller(("127.0.0.1", parley.sip_port), "1001", "pw1001").open()
    answer = await sip.invite(number, phone.offer())
    assert answer.status == 200
    assert b"a=ice-lite" in answer.body
    assert b"UDP/TLS/RTP/SAVPF 0 126" in answer.body  # PCMU only, with telephone-event
    phone.answered(answer.body)
    await phone.connect()
    return phone, sip


def load_8k(path: Path) -> np.ndarray:
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


def webrtc_channel(parley: Telephony) -> Channel:
    return next(c for c in parley.engine.active_channels if isinstance(c.media, WebRtcEndpoint))


async def test_echo_both_ways_dtmf_and_consent_loss_ends_the_call(parley: Telephony) -> None:
    source = noise_signal(2.0, seed=16)
    async with parley.events() as events:
        phone, sip = await call(parley, "1990")
        try:
            for _offset, packet in event_stream("42", payload_type=126):
                phone.send_rtp(packet)
                await asyncio.sleep(0.02)
            await phone.play(source)
            channel = webrtc_channel(parley)
            channel.echo(False)
            channel.send_dtmf("7")
            await asyncio.sleep(0.5)
            assert channel.media.sent_packets > 50
            phone.stop_consent()  # the tab is gone; media keeps coming, consent does not
            stopped = time.monotonic()
            for sequence in range(20):
                phone.send_rtp(bytes([0x80, 0]) + sequence.to_bytes(2, "big") + bytes(8 + 160))
                await asyncio.sleep(0.02)
            await asyncio.wait_for(sip.bye_received.wait(), CONSENT_TIMEOUT + 3)
            ended_after = time.monotonic() - stopped
        finally:
            await phone.close()
            sip.close()
        seen = [events.get_nowait() for _ in range(events.qsize())]
    heard = phone.heard()
    assert find(source[4000:12000], heard).correlation > 0.95  # its own audio, echoed
    digits = [e.digit for e in seen if isinstance(e, Dtmf) and e.channel_id == channel.id]
    assert digits == ["4", "2"]
    events_to_browser = [p for p in phone.received if p[1] & 0x7F == 126]
    assert events_to_browser
    assert events_to_browser[0][12] == 7  # RFC 4733 event 7, decrypted by the browser
    assert ended_after < CONSENT_TIMEOUT + 2
    hangups = [e for e in seen if isinstance(e, Hangup) and e.channel_id == channel.id]
    assert [(h.cause, h.by) for h in hangups] == [(HangupCause.CONSENT_EXPIRED, "remote")]
    assert channel.hangup_by == "remote"


@needs_baresip
async def test_browser_to_desk_phone_heard_both_ways_and_recorded(parley: Telephony,
                                                                  tmp_path: Path) -> None:
    operator = Baresip(tmp_path / "1002", user="1002", password="pw1002",
                       server_port=parley.sip_port, auto_answer=True)
    source = noise_signal(3.0, seed=7)
    try:
        await operator.start()
        phone, sip = await call(parley, "1991")
        try:
            await phone.play(source)
            bye = await sip.bye()
            assert bye is not None
            assert bye.status == 200
            await operator.wait_event("CALL_CLOSED", within=10)
        finally:
            await phone.close()
            sip.close()
    finally:
        await operator.stop()
    assert operator.source is not None
    desk_pcm = load_8k(operator.source)
    heard_by_desk_pcm = load_8k(operator.received_wav())
    assert find(source[8000:16000], heard_by_desk_pcm).correlation > 0.8
    heard_by_browser = phone.heard()
    assert find(heard_by_browser[8000:16000], desk_pcm).correlation > 0.8
    recordings = sorted((parley.settings.data_dir / "recordings").rglob("*.wav"))
    assert len(recordings) == 1
    stereo = decode_wav(recordings[0].read_bytes(), str(recordings[0]))
    channels = np.rint(stereo.samples * 32768).astype(np.int16)
    assert find(channels[8000:16000, 0], source).correlation > 0.8  # the browser, left
    assert find(channels[8000:16000, 1], desk_pcm).correlation > 0.8  # the operator, right


@pytest.mark.parametrize("browser_setup", ["active", "passive"])
async def test_parley_calls_a_browser_contact_with_a_webrtc_offer(parley: Telephony,
                                                                  browser_setup: str) -> None:
    """A contact registered with ;transport=ws is a browser: Parley offers ICE-lite DTLS-SRTP
    (actpass), and is the DTLS server or client as the browser's answer says."""
    phone = WebRtcPhone().open()
    offers: list[bytes] = []

    def answer(offer: bytes) -> bytes:
        offers.append(offer)
        return phone.answer(offer, setup=browser_setup)

    sip = await SipCaller(("127.0.0.1", parley.sip_port), "1003", "pw1003",
                          answer_with=answer).open()
    source = noise_signal(1.5, seed=3)
    try:
        registered = await sip.register("ws")
        assert registered.status == 200
        assert parley.engine.is_browser("1003")
        channel = parley.originate("1003", caller_id="5000", timeout=5)
        assert await channel.wait_answered(within=5)
        assert b"UDP/TLS/RTP/SAVPF" in offers[0]
        assert b"a=setup:actpass" in offers[0]
        await phone.connect()
        channel.echo()
        await phone.play(source)
        await asyncio.sleep(0.2)
        channel.hangup()
        await asyncio.wait_for(sip.bye_received.wait(), 5)
    finally:
        await phone.close()
        sip.close()
    assert isinstance(channel.media, WebRtcEndpoint)
    assert channel.media.dtls is not None
    assert channel.media.dtls.role == ("server" if browser_setup == "active" else "client")
    assert find(source[4000:8000], phone.heard()).correlation > 0.95
