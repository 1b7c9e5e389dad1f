"""Media through the real Parley server: baresip and SIPp call numbers served by Parley's
media shell (echo test, prompts, digit collection, recordings, listen/whisper/barge)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from parley.app import DEFAULT_SIP_REALM, DEMO_BANNER, build_telephony
from parley.clock import MonotonicClock
from parley.config import MediaSettings, PortRange, Settings
from parley.events import AmdResult, Direction, Dtmf, PlaybackFinished, RecordingFinished
from parley.ids import IdSource
from parley.media.analysis import find
from parley.media.audio import decode_wav, to_telephony
from parley.media.g711 import Codec as G711
from parley.media.tones import BEEP, dtmf_sequence, render
from parley.telephony.channel import BridgeRole, Channel
from parley.telephony.media import Speech, Tone
from parley.telephony.recording import Recording
from parley.telephony.server import Telephony
from parley.telephony.users import demo_directory
from parley.testing.media import (
    audio_packets,
    event_stream,
    sipp_caller,
    sipp_play,
    sipp_request,
    write_pcap,
)
from parley.testing.needs import STOCK_PROMPTS, needs, stock_sounds
from parley.testing.peers import Baresip, Sipp, audio_similarity, noise_signal, write_wav
from parley.testing.ports import free_port, free_port_block

from .conftest import needs_baresip, needs_sipp, telephony_settings

MEDIA_DATA = Path(__file__).parent.parent / "media" / "data"


def load_8k(path: Path) -> np.ndarray:
    """Any WAV file as 8 kHz mono samples."""
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


def phone(parley: Telephony, tmp_path: Path, user: str, *, auto_answer: bool = False) -> Baresip:
    return Baresip(tmp_path / user, user=user, password=f"pw{user}",
                   server_port=parley.sip_port, auto_answer=auto_answer)


@needs_baresip
async def test_baresip_calls_the_demo_echo_test_at_500_and_hears_itself(tmp_path: Path) -> None:
    # The demo's own wiring (app.build_telephony with demo=True), on free ports.
    rtp_first = free_port_block(40)
    clock = MonotonicClock()
    settings = Settings(sip_port=free_port(), data_dir=tmp_path / "data",
                        rtp_ports=PortRange(first=rtp_first, last=rtp_first + 39))
    parley = build_telephony(settings, demo_directory(DEFAULT_SIP_REALM), clock, IdSource(clock),
                             demo=True)
    assert any("500" in line for line in DEMO_BANNER)
    caller = phone(parley, tmp_path, "1001")
    async with parley:
        try:
            await caller.start()
            await caller.dial("500")
            await caller.wait_event("CALL_ESTABLISHED", within=10)
            await asyncio.sleep(4)
            await caller.hangup()
            await caller.wait_event("CALL_CLOSED", within=10)
        finally:
            await caller.stop()
        assert not parley.engine.active_channels
        assert not parley.media.channels  # nothing of the call is kept after it
        assert not parley.media.digits
        assert not parley.media.playbacks
    assert caller.source is not None
    heard = load_8k(caller.received_wav())
    assert len(heard) > 8000 * 3
    # Two seconds of what came back, found in what the phone sent.
    window = heard[8000:8000 * 3]
    assert np.abs(window).max() > 1000
    echo = find(window, load_8k(caller.source))
    assert echo.correlation > 0.8, echo


@needs_baresip
@needs(STOCK_PROMPTS)
async def test_a_prompt_played_by_parley_reaches_baresip(parley: Telephony,
                                                         tmp_path: Path) -> None:
    reasons: list[str | None] = []

    async def announce(channel: Channel) -> None:
        channel.answer()
        await asyncio.sleep(0.5)  # the phone starts its media (and its recording)
        playback = channel.play("queue-thereare")
        reasons.append(await playback.wait(within=10))
        await asyncio.sleep(0.5)
        channel.hangup()

    parley.route("600", announce, public=False)
    caller = phone(parley, tmp_path, "1001")
    async with parley.events() as events:
        try:
            await caller.start()
            await caller.dial("600")
            await caller.wait_event("CALL_ESTABLISHED", within=10)
            await caller.wait_event("CALL_CLOSED", within=15)  # Parley hangs up after it
        finally:
            await caller.stop()
        seen = [events.get_nowait() for _ in range(events.qsize())]
    assert reasons == ["done"]
    finished = [e for e in seen if isinstance(e, PlaybackFinished)]
    assert [e.reason for e in finished] == ["done"]
    prompt = load_8k(stock_sounds() / "queue-thereare.wav")
    # The whole prompt but its first and last 0.15 s (the phone's jitter buffer swallows the
    # first packets of a stream; the hub sends nothing before and after the prompt).
    match = find(prompt[1200:-1200], load_8k(caller.received_wav()))
    assert match.correlation > 0.9, match
    assert match.offset_s < 1.5


INFO = sipp_request("INFO", 2, "Signal=5\nDuration=160\n", "application/dtmf-relay")


def _uac(tmp_path: Path) -> Path:
    """SIPp calls 700 and sends 1, #, 4, 2 as RFC 4733 events (sipp's own captures and ours),
    9, * as in-band tones, and 5 in a SIP INFO, one after the other."""
    events = write_pcap(tmp_path / "events.pcap", event_stream("42"))
    tones = write_pcap(tmp_path / "tones.pcap",
                       audio_packets(dtmf_sequence("9*", 100, 100), G711.PCMU))
    scenario = tmp_path / "uac_dtmf.xml"
    scenario.write_text(sipp_caller(sipp_play(MEDIA_DATA / "dtmf_2833_1.pcap", 600)
                                    + sipp_play(MEDIA_DATA / "dtmf_2833_pound.pcap", 600)
                                    + sipp_play(events, 1000) + sipp_play(tones, 1000) + INFO,
                                    dtmf=True, requests_before_bye=1))
    return scenario


@needs_sipp
async def test_sipp_digits_are_collected_once_each_in_order(tmp_path: Path) -> None:
    settings = telephony_settings(data_dir=tmp_path / "parley-data",
                                  public_numbers=frozenset({"700"}))
    collected: list[str] = []
    async with Telephony(settings, demo_directory(settings.realm), MonotonicClock()) as server:

        async def collect(channel: Channel) -> None:
            channel.answer()
            collected.append(await channel.collect(max_digits=7, timeout=10,
                                                   inter_digit_timeout=5, terminators=""))
            await channel.wait_ended(within=10)

        server.route("700", collect, public=False)
        caller = Sipp(tmp_path / "uac", _uac(tmp_path), target=f"127.0.0.1:{server.sip_port}",
                      service="700", calls=1)
        async with server.events() as events:
            try:
                await caller.start()
                result = await caller.wait(within=30)
                assert result.ok, result.log
            finally:
                await caller.stop()
            await asyncio.sleep(0.2)
            seen = [events.get_nowait() for _ in range(events.qsize())]
    assert collected == ["1#429*5"]
    digits = [(e.digit, e.method) for e in seen if isinstance(e, Dtmf)]
    assert digits == [("1", "rfc4733"), ("#", "rfc4733"), ("4", "rfc4733"), ("2", "rfc4733"),
                      ("9", "inband"), ("*", "inband"), ("5", "info")]


def read_stereo(path: Path) -> np.ndarray:
    audio = decode_wav(path.read_bytes(), str(path))
    return np.rint(audio.samples * 32768).clip(-32768, 32767).astype(np.int16)


def inbound_of(parley: Telephony) -> Channel:
    return next(c for c in parley.engine.active_channels if c.direction is Direction.INBOUND)


@needs_baresip
async def test_recording_a_call_through_parley_caller_left_callee_right(
        parley: Telephony, tmp_path: Path) -> None:
    caller = phone(parley, tmp_path, "1001")
    callee = phone(parley, tmp_path, "1002", auto_answer=True)
    async with parley.events() as events:
        try:
            await callee.start()
            await caller.start()
            await caller.dial("1002")
            await caller.wait_event("CALL_ESTABLISHED", within=10)
            await callee.wait_event("CALL_ESTABLISHED", within=10)
            bridge = inbound_of(parley).bridge
            assert bridge is not None
            recording = bridge.record()
            inbound_of(parley).play(Tone("beep"))  # "this call is recorded", to the caller
            await asyncio.sleep(2.5)
            recording.pause()  # the caller reads a card number
            await asyncio.sleep(1.0)
            recording.resume()
            await asyncio.sleep(1.5)
            await caller.hangup()  # hanging up ends the recording
            await callee.wait_event("CALL_CLOSED", within=10)
        finally:
            await caller.stop()
            await callee.stop()
        seen = [events.get_nowait() for _ in range(events.qsize())]
    finished = [e for e in seen if isinstance(e, RecordingFinished)]
    assert [e.recording_id for e in finished] == [recording.id]
    assert recording.path.is_relative_to(parley.settings.data_dir / "recordings")
    meta = json.loads(recording.path.with_suffix(".json").read_text())
    assert meta["complete"] is True
    assert 4.5 < meta["duration_s"] < 7
    assert len(meta["pauses"]) == 1
    pause = meta["pauses"][0]
    assert 0.8 < pause["end_s"] - pause["start_s"] < 1.2
    assert caller.source is not None
    assert callee.source is not None
    stereo = read_stereo(recording.path)
    left, right = stereo[4000:18000, 0], stereo[4000:18000, 1]  # before the pause
    sources = {"caller": load_8k(caller.source), "callee": load_8k(callee.source)}
    assert find(left, sources["caller"]).correlation > 0.8
    assert find(right, sources["callee"]).correlation > 0.8
    assert find(left, sources["callee"]).correlation < 0.3
    assert find(right, sources["caller"]).correlation < 0.3
    # silence while paused (the timeline keeps its length), both sides again after it
    paused = stereo[int(pause["start_s"] * 8000):int(pause["end_s"] * 8000)]
    assert len(paused) > 6000
    assert not paused.any()
    after = stereo[int((pause["end_s"] + 0.2) * 8000):int((pause["end_s"] + 1.2) * 8000)]
    assert find(after[:, 0], sources["caller"]).correlation > 0.8
    assert find(after[:, 1], sources["callee"]).correlation > 0.8
    # the phones still heard each other through the relay meanwhile; the caller heard the
    # beep (from the hub) and then the callee again (from the relay)
    assert audio_similarity(callee.received_wav(), caller.source) > 0.8
    heard_by_caller = load_8k(caller.received_wav())
    assert find(render(BEEP)[400:-400], heard_by_caller[:8000 * 2]).correlation > 0.9
    assert find(heard_by_caller[8000 * 2:8000 * 3], sources["callee"]).correlation > 0.8


@needs_baresip
async def test_listen_whisper_barge_with_three_phones(parley: Telephony,
                                                      tmp_path: Path) -> None:
    a = phone(parley, tmp_path, "1001")
    b = phone(parley, tmp_path, "1002", auto_answer=True)
    c = phone(parley, tmp_path, "1003", auto_answer=True)
    loop = asyncio.get_running_loop()
    phase_s = 3.0
    try:
        for p in (b, c, a):
            await p.start()
        await a.dial("1002")
        await a.wait_event("CALL_ESTABLISHED", within=10)
        await b.wait_event("CALL_ESTABLISHED", within=10)
        starts = {"a": loop.time(), "b": loop.time()}
        bridge = inbound_of(parley).bridge
        assert bridge is not None
        supervisor = parley.originate("1003", caller_id="supervisor", timeout=10)
        assert await supervisor.wait_answered(within=10)
        bridge.add(supervisor, BridgeRole.LISTEN)
        starts["c"] = phases = loop.time()
        await asyncio.sleep(phase_s)
        bridge.add(supervisor, BridgeRole.WHISPER)  # to the operator, B
        await asyncio.sleep(phase_s)
        bridge.add(supervisor, BridgeRole.BARGE)
        await asyncio.sleep(phase_s)
        await a.hangup()
        await b.wait_event("CALL_CLOSED", within=10)
        supervisor.hangup()
        await c.wait_event("CALL_CLOSED", within=10)
    finally:
        for p in (a, b, c):
            await p.stop()
    sources = {name: load_8k(p.source) for name, p in (("a", a), ("b", b), ("c", c))
               if p.source is not None}
    heard = {name: load_8k(p.received_wav()) for name, p in (("a", a), ("b", b), ("c", c))}

    def hears(listener: str, phase: int) -> set[str]:
        # the middle second of the phase, on this phone's recording timeline
        begin = phases + phase * phase_s + 1.0 - starts[listener]
        window = heard[listener][int(begin * 8000):int((begin + 1.0) * 8000)]
        assert len(window) == 8000, (listener, phase, len(heard[listener]))
        scores = {talker: find(window, sources[talker]).correlation
                  for talker in sources if talker != listener}
        assert all(score > 0.45 or score < 0.25 for score in scores.values()), scores
        return {talker for talker, score in scores.items() if score > 0.45}

    # Listen: A and B talk, C hears both and is heard by nobody.
    assert [hears(n, 0) for n in "abc"] == [{"b"}, {"a"}, {"a", "b"}]
    # Whisper: B (the operator) hears C, A (the caller) does not.
    assert [hears(n, 1) for n in "abc"] == [{"b"}, {"a", "c"}, {"a", "b"}]
    # Barge: everyone hears everyone.
    assert [hears(n, 2) for n in "abc"] == [{"b", "c"}, {"a", "c"}, {"a", "b"}]


@needs_baresip
@needs(STOCK_PROMPTS)
async def test_speech_tone_and_hold_music_reach_baresip(tmp_path: Path) -> None:
    (tmp_path / "moh").mkdir()
    music = write_wav(tmp_path / "moh" / "music.wav", noise_signal(10, seed=42))
    settings = telephony_settings(data_dir=tmp_path / "parley-data",
                                  media=MediaSettings(moh_dir=music.parent))
    outcome: list[str | None] = []
    wakeups: list[float] = []
    async with Telephony(settings, demo_directory(settings.realm), MonotonicClock()) as server:

        async def hold(channel: Channel) -> None:
            channel.answer()
            await asyncio.sleep(0.5)
            playback = channel.play([Speech("Welcome to Parley"), Tone("beep")])
            outcome.append(await playback.wait(within=15))
            looping = channel.play("queue-thereare", loop=True)
            await asyncio.sleep(1.0)
            looping.stop()
            outcome.append(await looping.wait(within=1))
            shell = server.engine.media
            assert shell is not None
            woke, since = shell.wakeups, time.monotonic()
            channel.start_moh()
            await asyncio.sleep(2.5)
            # one leg in the hub: its phase alone wakes the ticker, 50 times a second
            wakeups.append((shell.wakeups - woke) / (time.monotonic() - since))
            channel.stop_moh()
            await asyncio.sleep(0.3)
            channel.hangup()

        server.route("800", hold, public=False)
        caller = Baresip(tmp_path / "1001", user="1001", password="pw1001",
                         server_port=server.sip_port)
        async with server.events() as events:
            try:
                await caller.start()
                await caller.dial("800")
                await caller.wait_event("CALL_ESTABLISHED", within=10)
                await caller.wait_event("CALL_CLOSED", within=20)
            finally:
                await caller.stop()
            seen = [events.get_nowait() for _ in range(events.qsize())]
        speech = await server.prompts.speak("Welcome to Parley")  # from the cache now
    assert outcome == ["done", "stopped"]
    assert len(wakeups) == 1
    assert 40 <= wakeups[0] <= 60  # not every 2 ms (the hub's ten phases): 500 a second
    assert [e.reason for e in seen if isinstance(e, PlaybackFinished)] == [
        "done", "stopped", "stopped"]  # speech and beep, the stopped prompt, hold music
    heard = load_8k(caller.received_wav())
    assert find(speech.pcm[1200:-1200], heard).correlation > 0.9
    assert find(noise_signal(10, seed=42)[800:8000 * 2], heard).correlation > 0.9
    # the looping prompt was heard for its first second, never past it
    prompt = load_8k(stock_sounds() / "queue-thereare.wav")
    assert find(prompt[800:6400], heard).correlation > 0.9
    assert find(prompt[11200:17600], heard).correlation < 0.5


async def test_recordings_left_open_by_a_crash_are_repaired_at_start(tmp_path: Path) -> None:
    settings = telephony_settings(data_dir=tmp_path / "parley-data")
    path = settings.data_dir / "recordings" / "2026-01-01" / "crashed.wav"
    crashed: Recording[str] = Recording(path, recording_id="crashed", call_id="c1",
                                        started=datetime.now(UTC), caller="a", operator="b",
                                        flush_every_s=0.0)
    for _ in range(100):  # two seconds, never closed: the process "died" here
        crashed.write_tick({"a": np.full(160, 1000, dtype=np.int16)})
    crashed.writer.flush()
    assert json.loads(path.with_suffix(".json").read_text())["complete"] is False
    async with Telephony(settings, demo_directory(settings.realm), MonotonicClock()):
        meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["complete"] is True
    assert meta["repaired"] is True
    assert meta["duration_s"] == 2.0
    assert read_stereo(path).shape == (16000, 2)


@needs_baresip
async def test_collect_ends_when_the_caller_hangs_up(parley: Telephony, tmp_path: Path) -> None:
    results: list[tuple[str, float]] = []

    async def collect(channel: Channel) -> None:
        channel.answer()
        started = asyncio.get_running_loop().time()
        digits = await channel.collect(max_digits=4, timeout=20)
        results.append((digits, asyncio.get_running_loop().time() - started))

    parley.route("701", collect, public=False)
    caller = phone(parley, tmp_path, "1001")
    try:
        await caller.start()
        await caller.dial("701")
        await caller.wait_event("CALL_ESTABLISHED", within=10)
        await asyncio.sleep(1)
        await caller.hangup()
        await caller.wait_event("CALL_CLOSED", within=10)
        for _ in range(50):
            if results:
                break
            await asyncio.sleep(0.1)
    finally:
        await caller.stop()
    assert len(results) == 1
    digits, waited = results[0]
    assert digits == ""
    assert waited < 5  # not the 20 s timeout


@needs_baresip
async def test_answering_machine_detection_on_an_outbound_call(parley: Telephony,
                                                              tmp_path: Path) -> None:
    hello = await parley.prompts.speak("Hello?")
    greeting = await parley.prompts.speak(
        "Hi, you have reached the Miller family. We cannot take your call right now, "
        "please leave a message after the tone and we will call you back.")
    silence = np.zeros(8000 * 4, dtype=np.int16)
    (tmp_path / "src").mkdir()
    sources = {"1002": write_wav(tmp_path / "src" / "person.wav",
                                 np.concatenate([silence[:4000], hello.pcm, silence])),
               "1003": write_wav(tmp_path / "src" / "machine.wav",
                                 np.concatenate([silence[:4000], greeting.pcm, silence]))}
    phones = [Baresip(tmp_path / user, user=user, password=f"pw{user}",
                      server_port=parley.sip_port, auto_answer=True, source=source)
              for user, source in sources.items()]
    verdicts: dict[str, str] = {}
    async with parley.events() as events:
        try:
            for p in phones:
                await p.start()
            channels = {user: parley.originate(user, caller_id="5000", timeout=10)
                        for user in sources}
            for channel in channels.values():
                assert await channel.wait_answered(within=10)
                channel.detect_machine()
            by_id = {channel.id: user for user, channel in channels.items()}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while len(verdicts) < 2 and loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    event = await asyncio.wait_for(events.get(), deadline - loop.time())
                    if isinstance(event, AmdResult):
                        verdicts[by_id[event.channel_id]] = event.result
            for channel in channels.values():
                channel.hangup()
        finally:
            for p in phones:
                await p.stop()
    assert verdicts == {"1002": "human", "1003": "machine"}


@needs_baresip
async def test_a_recording_follows_the_call_to_a_new_operator(parley: Telephony,
                                                             tmp_path: Path) -> None:
    a = phone(parley, tmp_path, "1001")
    b = phone(parley, tmp_path, "1002", auto_answer=True)
    c = phone(parley, tmp_path, "1003", auto_answer=True)
    loop = asyncio.get_running_loop()

    async def operator_line(channel: Channel) -> None:
        """A queue in miniature: the caller is bridged to operator 1002; the call (not the
        operator) decides when it ends, so the operator can hand it over."""
        operator = parley.originate("1002", caller_id=channel.caller, timeout=10)
        if not await operator.wait_answered(within=10):
            channel.hangup()
            return
        channel.answer()
        bridge = parley.bridge(channel, operator)
        await channel.wait_ended()
        for member in list(bridge.members):
            member.hangup()
        bridge.destroy()

    parley.route("1999", operator_line, public=False)
    try:
        for p in (b, c, a):
            await p.start()
        await a.dial("1999")
        await a.wait_event("CALL_ESTABLISHED", within=10)
        await b.wait_event("CALL_ESTABLISHED", within=10)
        caller = inbound_of(parley)
        bridge = caller.bridge
        assert bridge is not None
        first_operator = next(ch for ch in bridge.members if ch is not caller)
        recording = bridge.record()
        started = loop.time()
        await asyncio.sleep(2.0)
        second_operator = parley.originate("1003", caller_id="1001", timeout=10)
        assert await second_operator.wait_answered(within=10)
        bridge.remove(first_operator)  # the transfer: B leaves, C takes the call
        first_operator.hangup()
        bridge.add(second_operator)
        switched = loop.time() - started
        await asyncio.sleep(2.5)
        await a.hangup()
        await c.wait_event("CALL_CLOSED", within=10)
    finally:
        for p in (a, b, c):
            await p.stop()
    assert recording.metadata is not None
    assert recording.metadata["complete"] is True
    sources = {name: load_8k(p.source) for name, p in (("a", a), ("b", b), ("c", c))
               if p.source is not None}
    stereo = read_stereo(recording.path)
    before = stereo[4000:12000]
    after = stereo[int((switched + 0.7) * 8000):int((switched + 1.7) * 8000)]
    assert len(after) == 8000
    assert find(before[:, 0], sources["a"]).correlation > 0.8
    assert find(before[:, 1], sources["b"]).correlation > 0.8
    assert find(after[:, 0], sources["a"]).correlation > 0.8
    assert find(after[:, 1], sources["c"]).correlation > 0.8
    assert find(after[:, 1], sources["b"]).correlation < 0.3


@needs_baresip
async def test_parley_sends_key_presses_into_a_relayed_call(parley: Telephony,
                                                           tmp_path: Path) -> None:
    caller = phone(parley, tmp_path, "1001")
    callee = phone(parley, tmp_path, "1002", auto_answer=True)
    try:
        await callee.start()
        await caller.start()
        await caller.dial("1002")
        await caller.wait_event("CALL_ESTABLISHED", within=10)
        await callee.wait_event("CALL_ESTABLISHED", within=10)
        await asyncio.sleep(1.0)
        inbound = inbound_of(parley)
        assert inbound.bridge is not None
        outbound = next(ch for ch in inbound.bridge.members if ch is not inbound)
        assert outbound.dtmf_payload_type is not None  # baresip offers telephone-event
        outbound.send_dtmf("3#7")  # RFC 4733 to the callee, the relay paused meanwhile
        await asyncio.sleep(2.5)
        await caller.hangup()
        await callee.wait_event("CALL_CLOSED", within=10)
    finally:
        await caller.stop()
        await callee.stop()
    pressed = [event.param for event in callee.events if event.type == "CALL_DTMF_START"]
    assert pressed == ["3", "#", "7"]
    assert caller.source is not None
    heard = load_8k(callee.received_wav())
    # the caller again after the key presses (the relay took the stream back): the last
    # second before the hang-up (baresip records no audio while it receives key presses)
    assert find(heard[-10400:-2400], load_8k(caller.source)).correlation > 0.8
