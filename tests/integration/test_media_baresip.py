"""Real phones (baresip) hear the media hub: a stock prompt, their own voice echoed, each
other in a bridge with listen, whisper and barge, and RFC 4733 key presses.

SIPp answers each baresip call with an SDP that points the audio at a UDP socket of this
test; the test moves packets between those sockets and a :class:`MediaHub` on a 20 ms ticker
(the shell's job), and each baresip records what it hears. Recordings are then searched for
the prompt and for what each phone sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from parley.media.analysis import find
from parley.media.audio import decode_wav, to_telephony
from parley.media.g711 import Codec
from parley.media.hub import MediaHub
from parley.media.mixer import Role
from parley.media.player import PcmSource, Player
from parley.media.rtp import RtpPacket
from parley.media.stream import StreamSettings
from parley.telephony.recording import Recording
from parley.testing.media import sipp_answerer
from parley.testing.needs import BARESIP, SIPP, STOCK_PROMPTS, needs, stock_sounds
from parley.testing.peers import Baresip, Sipp
from parley.testing.ports import free_port

pytestmark = [pytest.mark.integration, needs(BARESIP, SIPP, STOCK_PROMPTS)]

def drain(rtp: socket.socket) -> None:
    """Drop what queued up while the other calls were being set up: the media starts now."""
    with contextlib.suppress(BlockingIOError):
        while True:
            rtp.recv(2048)


def read_stereo(path: Path) -> np.ndarray:
    """A stereo recording as int16 samples (n, 2)."""
    audio = decode_wav(path.read_bytes(), str(path))
    return np.rint(audio.samples * 32768).clip(-32768, 32767).astype(np.int16)


def load_8k(path: Path) -> np.ndarray:
    """Any WAV file as 8 kHz mono samples."""
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


async def serve_media(hub: MediaHub[str], rtp: socket.socket, seconds: float,
                      at: dict[float, str]) -> None:
    """The shell: packets from the phone into the hub, every 20 ms the hub's packets out.
    ``at`` maps seconds from the start to an action ("echo")."""
    loop = asyncio.get_running_loop()
    # The phone's RTP address: latched from its first packet (symmetric RTP).
    data, peer = await loop.sock_recvfrom(rtp, 2048)
    hub.receive("phone", RtpPacket.parse(data))
    start = time.monotonic()
    pending = dict(at)
    for tick in range(int(seconds / 0.020)):
        deadline = start + tick * 0.020
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        while True:  # read until the socket is empty
            try:
                data, peer = rtp.recvfrom(2048)
            except BlockingIOError:
                break
            hub.receive("phone", RtpPacket.parse(data))
        for when, action in list(pending.items()):
            if tick * 0.020 >= when:
                del pending[when]
                if action == "echo":
                    hub.echo("phone")
        for _, packet in hub.tick().packets:
            rtp.sendto(packet, peer)


async def test_baresip_hears_a_prompt_then_its_own_echo(tmp_path: Path) -> None:
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp.setblocking(False)
    uas_xml = tmp_path / "uas_media.xml"
    uas_xml.write_text(sipp_answerer(rtp.getsockname()[1]))
    uas_port = free_port()
    answerer = Sipp(tmp_path / "uas", uas_xml, port=uas_port)
    phone = Baresip(tmp_path / "phone", user="2001", server_port=uas_port, register=False)
    prompt = load_8k(stock_sounds() / "queue-thereare.wav")
    hub: MediaHub[str] = MediaHub()
    hub.add_leg("phone", StreamSettings(Codec.PCMU, telephone_event_pt=None), ssrc=0x1234)
    hub.play("phone", Player([PcmSource(prompt, "queue-thereare")], playback_id="p1"))
    try:
        await answerer.start()
        await phone.start()
        await phone.dial(f"sip:500@127.0.0.1:{uas_port}")
        await phone.wait_event("CALL_ESTABLISHED", within=10)
        await serve_media(hub, rtp, seconds=5.0, at={2.5: "echo"})
        await phone.hangup()
        await phone.wait_event("CALL_CLOSED", within=5)
    finally:
        await phone.stop()
        await answerer.stop()
        rtp.close()
    heard = load_8k(phone.received_wav())
    # The prompt, whole, within the first three seconds.
    match = find(prompt, heard[:8000 * 3])
    assert match.correlation > 0.9, match
    assert match.offset_s < 1.0
    # The echo: a second of what was heard after 3 s is found in what baresip sent.
    assert phone.source is not None
    echo_window = heard[8000 * 3:8000 * 4]
    assert np.abs(echo_window).max() > 1000
    echo = find(echo_window, load_8k(phone.source))
    assert echo.correlation > 0.8, echo


async def answered_phone(tmp_path: Path, name: str, user: str,
                         stack: contextlib.AsyncExitStack,
                         dtmf: bool = False) -> tuple[Baresip, socket.socket]:
    """A baresip phone in a call answered by SIPp, its audio pointed at a new UDP socket."""
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp.setblocking(False)
    stack.callback(rtp.close)
    uas_xml = tmp_path / f"uas_{name}.xml"
    uas_xml.write_text(sipp_answerer(rtp.getsockname()[1], dtmf=dtmf))
    uas_port = free_port()
    answerer = Sipp(tmp_path / f"uas-{name}", uas_xml, port=uas_port)
    stack.push_async_callback(answerer.stop)
    await answerer.start()
    phone = Baresip(tmp_path / name, user=user, server_port=uas_port, register=False)
    stack.push_async_callback(phone.stop)
    await phone.start()
    await phone.dial(f"sip:500@127.0.0.1:{uas_port}")
    await phone.wait_event("CALL_ESTABLISHED", within=10)
    return phone, rtp


async def three_phones(hub: MediaHub[str], tmp_path: Path, prefix: str,
                       stack: contextlib.AsyncExitStack,
                       ) -> tuple[dict[str, tuple[Baresip, socket.socket]],
                                  dict[str, tuple[str, int]]]:
    """Phones a, b and c (users ``prefix``1-3) answered and in the hub: a and b talk in
    bridge "call", c listens. Returns the legs and each phone's RTP address."""
    legs = {}
    for index, name in enumerate("abc", start=1):
        legs[name] = await answered_phone(tmp_path, name, f"{prefix}{index}", stack)
        hub.add_leg(name, StreamSettings(Codec.PCMU, telephone_event_pt=None), ssrc=len(legs))
    loop = asyncio.get_running_loop()
    peers = {}
    for name, (_, rtp) in legs.items():
        _, peers[name] = await loop.sock_recvfrom(rtp, 2048)
        drain(rtp)
    hub.join("call", "a")
    hub.join("call", "b")
    hub.join("call", "c", Role.LISTEN)
    return legs, peers


async def test_three_phones_listen_whisper_barge(tmp_path: Path) -> None:
    hub: MediaHub[str] = MediaHub()
    async with contextlib.AsyncExitStack() as stack:
        legs, peers = await three_phones(hub, tmp_path, "300", stack)
        start = time.monotonic()
        for tick in range(300):  # three phases of 2 s
            if tick == 100:
                hub.join("call", "c", Role.WHISPER, whisper_to="b")
            elif tick == 200:
                hub.join("call", "c", Role.BARGE)
            await asyncio.sleep(max(0.0, start + tick * 0.020 - time.monotonic()))
            for name, (_, rtp) in legs.items():
                while True:
                    try:
                        data = rtp.recv(2048)
                    except BlockingIOError:
                        break
                    hub.receive(name, RtpPacket.parse(data))
            for leg, packet in hub.tick().packets:
                legs[leg][1].sendto(packet, peers[leg])
        for phone, _ in legs.values():
            await phone.hangup()
    sources = {name: load_8k(phone.source) for name, (phone, _) in legs.items()
               if phone.source is not None}
    heard = {name: load_8k(phone.received_wav()) for name, (phone, _) in legs.items()}

    def hears(listener: str, phase: int) -> set[str]:
        window = heard[listener][4000 * (4 * phase + 1):4000 * (4 * phase + 3)]
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


async def test_recording_of_a_bridged_call_caller_left_operator_right(tmp_path: Path) -> None:
    hub: MediaHub[str] = MediaHub()
    recording: Recording[str] = Recording(tmp_path / "call.wav", recording_id="r1",
                                          call_id="call-1", started=datetime.now(UTC),
                                          caller="a", operator="b")
    async with contextlib.AsyncExitStack() as stack:
        legs, peers = await three_phones(hub, tmp_path, "400", stack)
        hub.record("r1", recording.recorder)
        start = time.monotonic()
        for tick in range(200):  # 2 s with C listening, 2 s with C whispering to B
            if tick == 100:
                hub.join("call", "c", Role.WHISPER, whisper_to="b")
                recording.recorder.follow(hub.bridge("call"))
            await asyncio.sleep(max(0.0, start + tick * 0.020 - time.monotonic()))
            for name, (_, rtp) in legs.items():
                while True:
                    try:
                        data = rtp.recv(2048)
                    except BlockingIOError:
                        break
                    hub.receive(name, RtpPacket.parse(data))
            result = hub.tick()
            for leg, packet in result.packets:
                legs[leg][1].sendto(packet, peers[leg])
            for _, stereo in result.recorded:
                recording.write_frame(stereo)
        meta = recording.close()
        for phone, _ in legs.values():
            await phone.hangup()
    assert meta["duration_s"] == 4.0
    sources = {name: load_8k(phone.source) for name, (phone, _) in legs.items()
               if phone.source is not None}
    stereo = read_stereo(tmp_path / "call.wav")

    def score(channel: int, phase: int, talker: str) -> float:
        window = stereo[4000 * (4 * phase + 1):4000 * (4 * phase + 3), channel]
        return find(window, sources[talker]).correlation

    scores = {(channel, phase, talker): round(score(channel, phase, talker), 2)
              for channel in (0, 1) for phase in (0, 1) for talker in "abc"}
    assert scores[0, 0, "a"] > 0.8, scores  # left: the caller, alone
    assert scores[1, 0, "b"] > 0.8, scores  # right: the operator, alone
    assert scores[0, 1, "a"] > 0.8, scores  # the whisper never reaches the caller's channel
    assert scores[0, 1, "c"] < 0.25, scores
    assert scores[1, 1, "b"] > 0.45, scores  # the operator's channel carries the whisper too
    assert scores[1, 1, "c"] > 0.45, scores
    assert max(scores[0, 0, "b"], scores[0, 0, "c"], scores[1, 0, "a"]) < 0.25, scores


async def test_baresip_receives_rfc4733_digits_from_the_hub(tmp_path: Path) -> None:
    hub: MediaHub[str] = MediaHub()
    async with contextlib.AsyncExitStack() as stack:
        phone, rtp = await answered_phone(tmp_path, "d", "5001", stack, dtmf=True)
        hub.add_leg("d", StreamSettings(Codec.PCMU, telephone_event_pt=101), ssrc=7)
        _, peer = await asyncio.get_running_loop().sock_recvfrom(rtp, 2048)
        drain(rtp)
        hub.send_dtmf("d", "3#7", duration_ms=100, gap_ms=100)
        start = time.monotonic()
        for tick in range(60):
            await asyncio.sleep(max(0.0, start + tick * 0.020 - time.monotonic()))
            for _, packet in hub.tick().packets:
                rtp.sendto(packet, peer)
        await asyncio.sleep(0.3)
        await phone.hangup()
    pressed = [event.param for event in phone.events if event.type == "CALL_DTMF_START"]
    assert pressed == ["3", "#", "7"]
