"""Two real baresip softphones register to Parley and call each other through the relay."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from parley.clock import MonotonicClock
from parley.config import MediaSettings
from parley.events import Answered, ChannelCreated, Hangup, HangupCause
from parley.telephony.media import Tone
from parley.telephony.server import Telephony
from parley.telephony.users import demo_directory
from parley.testing.needs import NFTABLES, needs
from parley.testing.peers import Baresip, audio_similarity, read_wav, write_wav

from .conftest import needs_baresip, telephony_settings

pytestmark = needs_baresip


async def _phones(parley: Telephony, tmp_path: Path,
                  transport: str = "udp") -> tuple[Baresip, Baresip]:
    caller = Baresip(tmp_path / "1001", user="1001", password="pw1001",
                     server_port=parley.sip_port, transport=transport)
    callee = Baresip(tmp_path / "1002", user="1002", password="pw1002",
                     server_port=parley.sip_port, auto_answer=True, transport=transport)
    return caller, callee


@pytest.mark.parametrize(("transport", "hangs_up"), [("udp", "caller"), ("tcp", "callee")])
async def test_registered_users_call_and_hear_each_other(parley: Telephony, tmp_path: Path,
                                                         transport: str, hangs_up: str) -> None:
    caller, callee = await _phones(parley, tmp_path, transport)
    async with parley.events() as events:
        try:
            await callee.start()
            await caller.start()
            assert parley.engine.contacts_of("1001")
            assert parley.engine.contacts_of("1002")
            await caller.dial("1002")
            await caller.wait_event("CALL_ESTABLISHED", within=10)
            await callee.wait_event("CALL_ESTABLISHED", within=10)
            await asyncio.sleep(4)  # four seconds of audio each way through the relay
            ender, other = (caller, callee) if hangs_up == "caller" else (callee, caller)
            await ender.hangup()
            closed = await other.wait_event("CALL_CLOSED", within=10)
            assert closed.type == "CALL_CLOSED"
            await ender.wait_event("CALL_CLOSED", within=10)
        finally:
            await caller.stop()
            await callee.stop()
        seen = []
        while not events.empty():
            seen.append(events.get_nowait())
    assert caller.source is not None
    assert callee.source is not None
    assert audio_similarity(callee.received_wav(), caller.source) > 0.8
    assert audio_similarity(caller.received_wav(), callee.source) > 0.8
    assert audio_similarity(caller.received_wav(), caller.source) < 0.3  # no echo of itself
    created = [event for event in seen if isinstance(event, ChannelCreated)]
    assert [(event.caller, event.called) for event in created] == [("1001", "1002")] * 2
    assert sum(isinstance(event, Answered) for event in seen) == 2
    hangups = [event for event in seen if isinstance(event, Hangup)]
    assert len(hangups) == 2
    assert all(event.cause is HangupCause.NORMAL_CLEARING for event in hangups)
    assert {event.by for event in hangups} == {"local", "remote"}
    assert not parley.engine.active_channels


async def test_hold_and_resume_by_reinvite(parley: Telephony, tmp_path: Path) -> None:
    """Parley puts the callee on hold (sendonly) and back; the phone follows both times."""
    caller, callee = await _phones(parley, tmp_path)
    try:
        await callee.start()
        await caller.start()
        await caller.dial("1002")
        await callee.wait_event("CALL_ESTABLISHED", within=10)
        channel = next(ch for ch in parley.engine.active_channels if ch.called == "1002"
                       and ch.direction.value == "outbound")
        since = len(callee.events)
        channel.hold()
        await callee.wait_event("CALL_REMOTE_SDP", within=10, since=since)
        await asyncio.sleep(0.3)
        before = channel.media.received_packets
        await asyncio.sleep(1)
        assert channel.media.received_packets - before < 5  # the held phone stopped sending
        since = len(callee.events)
        channel.unhold()
        await callee.wait_event("CALL_REMOTE_SDP", within=10, since=since)
        assert not channel.on_hold
        received = channel.media.received_packets
        await asyncio.sleep(1)
        assert channel.media.received_packets > received  # audio flows again after resume
        await caller.hangup()
        await callee.wait_event("CALL_CLOSED", within=10)
    finally:
        await caller.stop()
        await callee.stop()


async def test_dead_call_is_ended_by_the_media_timeout(tmp_path: Path) -> None:
    """The callee's phone freezes (no more RTP): Parley ends both legs after the timeout."""
    settings = telephony_settings(media_timeout=2.0)
    parley = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with parley, parley.events() as events:
        caller, callee = await _phones(parley, tmp_path)
        try:
            await callee.start()
            await caller.start()
            await caller.dial("1002")
            await caller.wait_event("CALL_ESTABLISHED", within=10)
            assert callee._process is not None
            os.kill(callee._process.pid, signal.SIGSTOP)  # a phone that died mid-call
            try:
                closed = await caller.wait_event("CALL_CLOSED", within=10)
            finally:
                os.kill(callee._process.pid, signal.SIGCONT)
            assert closed.type == "CALL_CLOSED"
        finally:
            await caller.stop()
            await callee.stop()
        causes = []
        while not events.empty():
            event = events.get_nowait()
            if isinstance(event, Hangup):
                causes.append(event.cause)
    assert HangupCause.MEDIA_TIMEOUT in causes
    assert not parley.engine.active_channels


@pytest.mark.parametrize("forwarder", [pytest.param("kernel", marks=needs(NFTABLES)),
                                       pytest.param("kernel-new-streams",
                                                    marks=needs(NFTABLES)),
                                       "worker"])
async def test_a_forwarded_call_is_heard_both_ways_and_follows_hold(
        tmp_path: Path, forwarder: str) -> None:
    """``media.kernel_forwarding`` or ``media.relay_workers``: the bridged call's two
    directions leave the event loop (nftables, or the worker process), both phones hear each
    other; hold takes them back to the relay (the hold music continues the callee's stream),
    resume hands them over again. After a beep to the callee the caller's voice continues
    the beep's stream, rewritten unless the beep's numbering and the caller's happen to line
    up: a worker takes it either way, the kernel only when no rewrite is needed unless
    ``media.kernel_new_streams`` (the callee then hears the caller's own stream, a new
    SSRC). Nothing is forwarded after the call, and a worker ends with the node."""
    media_settings = (MediaSettings(relay_workers=1) if forwarder == "worker"
                      else MediaSettings(kernel_forwarding=True,
                                         kernel_new_streams=forwarder == "kernel-new-streams"))
    settings = telephony_settings(data_dir=tmp_path / "parley-data", media=media_settings)
    parley = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with parley:
        caller, callee = await _phones(parley, tmp_path)
        kernel = parley.relay.kernel
        assert (kernel is not None) == (forwarder != "worker")
        pid = parley.relay.workers[0].pid if forwarder == "worker" else None
        try:
            await callee.start()
            await caller.start()
            await caller.dial("1002")
            await caller.wait_event("CALL_ESTABLISHED", within=10)
            await callee.wait_event("CALL_ESTABLISHED", within=10)
            await asyncio.sleep(3.5)  # audio each way, most of it forwarded
            channel = next(ch for ch in parley.engine.active_channels if ch.called == "1002"
                           and ch.direction.value == "outbound")
            media, other = channel.media, channel.media.peer
            assert other is not None
            assert (media.kernel_forwarded, other.kernel_forwarded) == (True, True)
            assert parley.relay.forwarded_directions == 2
            if kernel is not None:
                assert kernel.elements() == 2
            else:
                assert parley.relay.workers[0].ports == {media.port, other.port}
            since = len(callee.events)
            channel.hold()
            assert (media.kernel_forwarded, other.kernel_forwarded) == (False, False)
            assert parley.relay.forwarded_directions == 0
            await callee.wait_event("CALL_REMOTE_SDP", within=10, since=since)
            since = len(callee.events)
            channel.unhold()
            await callee.wait_event("CALL_REMOTE_SDP", within=10, since=since)
            received = media.received_packets
            await asyncio.sleep(1.2)
            assert media.kernel_forwarded  # handed over again
            assert other.kernel_forwarded
            # a beep to the callee: the caller's voice after it continues the beep's stream
            # (rewritten, unless the two numberings line up by chance): the kernel leaves
            # a rewritten direction with the relay unless it may start a new stream; a
            # worker rewrites it
            playback = channel.play(Tone("beep"))
            assert not other.kernel_forwarded
            assert await playback.wait(within=5) is not None
            shell = parley.engine.media
            assert shell is not None
            assert shell.release(channel)  # the hub lets the leg go
            await asyncio.sleep(1.2)
            assert media.kernel_forwarded
            if forwarder == "kernel":
                assert other.kernel_forwarded == (not media._stream.rewrite)
            else:
                assert other.kernel_forwarded
            await asyncio.sleep(1.5)  # the callee hears the caller on, in the new stream too
            assert media.received_packets > received + 20  # the forwarded packets counted too
            await caller.hangup()
            await callee.wait_event("CALL_CLOSED", within=10)
        finally:
            await caller.stop()
            await callee.stop()
        assert parley.relay.forwarded_directions == 0
        if kernel is not None:
            assert kernel.elements() == 0
    assert parley.relay.workers == []
    if pid is not None:
        with pytest.raises(ProcessLookupError):  # the node stopped: so did its worker
            os.kill(pid, 0)
    assert caller.source is not None
    assert callee.source is not None
    # each heard the other in the first seconds, forwarded before the hold (the whole
    # recording's middle may fall on the hold's seam, where the held phone sent nothing)
    before_hold = slice(3, 33)  # tenths of a second from the first audio
    assert audio_similarity(_part(callee.received_wav(), before_hold, tmp_path),
                            caller.source) > 0.8
    assert audio_similarity(_part(caller.received_wav(), before_hold, tmp_path),
                            callee.source) > 0.8
    # the last seconds, after the beep (a new stream where the kernel may start one)
    tail = _part(callee.received_wav(), slice(-17, -2), tmp_path)
    assert audio_similarity(tail, caller.source, window_s=0.5) > 0.8


def _part(recording: Path, tenths: slice, folder: Path) -> Path:
    """The stretch ``tenths`` (tenths of a second, negative from the end) of a phone's
    recording, as a WAV file of its own."""
    heard, rate = read_wav(recording)
    part = heard[tenths.start * rate // 10:tenths.stop * rate // 10]
    return write_wav(folder / f"{recording.parent.name}-{tenths.start}.wav", part, rate)
