"""Recording files: stereo content, pauses in the sidecar, and recovery after a kill."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
import textwrap
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from parley.clock import MonotonicClock
from parley.config import MediaSettings
from parley.media.audio import decode_wav, to_pcm16
from parley.media.g711 import Codec, decode, encode
from parley.media.hub import MediaHub
from parley.media.mixer import MixBridge, Role
from parley.media.rtp import RtpPacket
from parley.media.stream import MediaStream, StreamSettings
from parley.telephony.media import CallRecording
from parley.telephony.recording import (
    MAX_GAP_S,
    Recording,
    RecordingError,
    WavWriter,
    cut_recording,
    repair_directory,
    repair_wav,
)
from parley.telephony.server import Telephony
from parley.telephony.users import demo_directory
from parley.testing.ports import telephony_settings

STARTED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def tone(freq: float, frame_index: int, amplitude: float = 8000) -> np.ndarray:
    n = np.arange(frame_index * 160, (frame_index + 1) * 160)
    return (amplitude * np.sin(2 * np.pi * freq * n / 8000)).astype(np.int16)


def read_stereo(path: Path) -> np.ndarray:
    audio = decode_wav(path.read_bytes(), str(path))
    assert audio.rate == 8000
    assert audio.channels == 2
    return np.stack([to_pcm16(audio.samples[:, 0]), to_pcm16(audio.samples[:, 1])], axis=1)


def test_caller_left_operator_right_whisper_on_the_operator_side(tmp_path: Path) -> None:
    bridge: MixBridge[str] = MixBridge()
    bridge.add("caller")
    bridge.add("operator")
    bridge.add("coach", Role.WHISPER, whisper_to="operator")
    recording: Recording[str] = Recording(tmp_path / "r1.wav", recording_id="r1",
                                          call_id="c1", started=STARTED, caller="caller")
    recording.recorder.follow(bridge)
    for i in range(100):
        recording.write_tick({"caller": tone(500, i), "operator": tone(1000, i),
                              "coach": tone(2000, i, 2000)})
    meta = recording.close()
    pcm = read_stereo(tmp_path / "r1.wav")
    assert pcm.shape == (16000, 2)
    expected_left = np.concatenate([tone(500, i) for i in range(100)])
    expected_right = np.concatenate([tone(1000, i) + tone(2000, i, 2000) for i in range(100)])
    assert np.array_equal(pcm[:, 0], expected_left)
    assert np.array_equal(pcm[:, 1], expected_right)
    assert meta == json.loads((tmp_path / "r1.json").read_text())
    assert meta["call_id"] == "c1"
    assert meta["started"] == "2026-03-02T09:30:00+00:00"
    assert meta["duration_s"] == 2.0
    assert meta["complete"] is True
    with wave.open(str(tmp_path / "r1.wav")) as check:  # a standard reader agrees
        assert (check.getnchannels(), check.getframerate(), check.getnframes()) == (2, 8000,
                                                                                    16000)


def test_pause_and_resume_are_silent_and_in_the_sidecar(tmp_path: Path) -> None:
    recording: Recording[str] = Recording(tmp_path / "r2.wav", recording_id="r2",
                                          call_id="c2", started=STARTED, caller="a",
                                          operator="b")
    frames = {"a": np.full(160, 900, np.int16), "b": np.full(160, -900, np.int16)}
    for _ in range(50):
        recording.write_tick(frames)
    recording.pause()
    assert json.loads((tmp_path / "r2.json").read_text())["pauses"] == [
        {"start_s": 1.0, "end_s": None}]
    for _ in range(100):
        recording.write_tick(frames)
    recording.resume()
    for _ in range(50):
        recording.write_tick(frames)
    meta = recording.close()
    assert meta["pauses"] == [{"start_s": 1.0, "end_s": 3.0}]
    pcm = read_stereo(tmp_path / "r2.wav")
    assert np.all(pcm[:8000] == [900, -900])
    assert not pcm[8000:24000].any()
    assert np.all(pcm[24000:] == [900, -900])


def test_writer_refuses_to_overwrite_and_checks_shapes(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    writer = WavWriter(path)
    with pytest.raises(RecordingError, match="got shape"):
        writer.write(np.zeros(160, np.int16))
    writer.close()
    with pytest.raises(RecordingError, match=r"cannot create recording .*x\.wav"):
        WavWriter(path)
    with pytest.raises(RecordingError, match="closed"):
        writer.write(np.zeros((160, 2), np.int16))


def test_header_is_current_after_every_flush(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path / "live.wav", flush_every_s=1.0)
    for _ in range(60):  # 1.2 s
        writer.write(np.ones((160, 2), np.int16))
    data = (tmp_path / "live.wav").read_bytes()
    assert len(data) == 44 + 8000 * 4
    assert struct.unpack_from("<I", data, 40)[0] == 8000 * 4
    assert struct.unpack_from("<I", data, 4)[0] == 36 + 8000 * 4
    writer.close()


@pytest.mark.parametrize("claimed", [0, 0xFFFFFFFF, 12])
def test_repair_fixes_sizes_from_the_file_length(tmp_path: Path, claimed: int) -> None:
    path = tmp_path / "crashed.wav"
    writer = WavWriter(path)
    writer.write(np.arange(2 * 4000, dtype=np.int16).reshape(4000, 2))
    writer.close()
    with path.open("r+b") as handle:  # a crash: sizes wrong and half a frame at the end
        handle.seek(4)
        handle.write(struct.pack("<I", claimed))
        handle.seek(40)
        handle.write(struct.pack("<I", claimed))
        handle.seek(0, 2)
        handle.write(b"\x01\x02\x03")
    result = repair_wav(path)
    assert result.changed
    assert result.data_bytes == 16000
    assert result.duration_s == 0.5
    pcm = read_stereo(path)
    assert np.array_equal(pcm.reshape(-1), np.arange(8000))
    assert not repair_wav(path).changed


def test_repair_of_a_non_wav_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "junk.wav"
    bad.write_bytes(b"nothing useful here")
    with pytest.raises(RecordingError, match=r"junk\.wav.*not a WAV file"):
        repair_wav(bad)


CHILD = textwrap.dedent("""
    import sys, time
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    import numpy as np
    from parley.telephony.recording import Recording

    rec = Recording(Path(sys.argv[1]), recording_id="k1", call_id="call-k",
                    started=datetime(2026, 3, 2, tzinfo=UTC), caller="a", operator="b")
    for i in range(125):  # 2.5 s: two whole seconds flushed, half a second buffered
        if i == 60:
            rec.pause()
        if i == 70:
            rec.resume()
        if i == 110:
            rec.pause()
        n = np.arange(i * 160, (i + 1) * 160, dtype=np.int64)
        rec.write_tick({"a": (n % 1000).astype(np.int16), "b": (-(n % 700)).astype(np.int16)})
    print("written", flush=True)
    time.sleep(60)
""")


def kill_a_recording(path: Path) -> None:
    """A process recording at ``path`` (:data:`CHILD`), killed: 2 s on disk, paused at
    1.2-1.4 s and from 2.2 s on."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "written"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()


def test_killed_recording_is_repaired_and_plays_to_the_last_flushed_second(
        tmp_path: Path) -> None:
    path = tmp_path / "killed.wav"
    kill_a_recording(path)
    assert json.loads((tmp_path / "killed.json").read_text())["complete"] is False
    results = repair_directory(tmp_path)
    assert [r.path for r in results] == [path]
    pcm = read_stereo(path)
    assert len(pcm) == 16000  # everything up to the last flushed second
    n = np.arange(16000)
    left, right = (n % 1000).astype(np.int16), (-(n % 700)).astype(np.int16)
    left[9600:11200] = 0  # the pause from 1.2 s to 1.4 s
    right[9600:11200] = 0
    assert np.array_equal(pcm[:, 0], left)
    assert np.array_equal(pcm[:, 1], right)
    meta = json.loads((tmp_path / "killed.json").read_text())
    assert meta["complete"] is True
    assert meta["repaired"] is True
    assert meta["duration_s"] == 2.0
    assert meta["call_id"] == "call-k"
    assert meta["pauses"] == [{"start_s": 1.2, "end_s": 1.4}]
    assert repair_directory(tmp_path) == []  # nothing left to repair


def test_a_recording_cut_while_paused_goes_on_in_its_file_after_the_gap(
        tmp_path: Path) -> None:
    """Shared storage: the node taking over goes on with the killed node's recording."""
    path = tmp_path / "killed.wav"
    kill_a_recording(path)
    cut = cut_recording(path, "k1")
    assert cut.started == datetime(2026, 3, 2, tzinfo=UTC)
    assert cut.pauses == ((1.2, 1.4), (2.2, None))
    recording: Recording[str] = Recording(
        path, recording_id="k1", call_id="call-k", started=STARTED, caller="a",
        operator="b", cut=cut, now=cut.started + timedelta(seconds=5))
    assert recording.recorder.paused  # it was paused: it stays so, the gap in that pause
    assert recording.gap_s == 3.0
    assert json.loads((tmp_path / "killed.json").read_text())["complete"] is False
    recording.resume()
    for _ in range(50):
        recording.write_tick({"a": np.full(160, 777, np.int16), "b": np.full(160, -777,
                                                                            np.int16)})
    meta = recording.close()
    assert meta["started"] == "2026-03-02T00:00:00+00:00"  # the recording's own start
    assert meta["duration_s"] == 6.0
    assert meta["pauses"] == [{"start_s": 1.2, "end_s": 1.4}, {"start_s": 2.0, "end_s": 5.0}]
    pcm = read_stereo(path)
    assert len(pcm) == 48000
    n = np.arange(16000)
    assert np.array_equal(pcm[:9600, 0], (n[:9600] % 1000).astype(np.int16))  # as it was
    assert not pcm[16000:40000].any()  # the gap
    assert np.all(pcm[40000:] == [777, -777])
    with wave.open(str(path)) as check:
        assert (check.getnchannels(), check.getnframes()) == (2, 48000)


def test_a_recording_cut_while_talking_gets_the_gap_as_a_pause(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    first: Recording[str] = Recording(path, recording_id="r", call_id="c", started=STARTED,
                                      caller="a", operator="b")
    for _ in range(75):  # 1.5 s: 1 s on disk, the rest lost with the process
        first.write_tick({"a": np.full(160, 5, np.int16)})
    cut = cut_recording(path, "r")
    assert cut.pauses == ()
    second: Recording[str] = Recording(path, recording_id="r", call_id="c", started=STARTED,
                                       caller="a", operator="b", cut=cut,
                                       now=STARTED + timedelta(seconds=4.25))
    assert not second.recorder.paused
    assert second.gap_s == 3.25
    for _ in range(25):
        second.write_tick({"b": np.full(160, 9, np.int16)})
    meta = second.close()
    assert meta["duration_s"] == 4.75
    assert meta["pauses"] == [{"start_s": 1.0, "end_s": 4.25}]
    pcm = read_stereo(path)
    assert np.all(pcm[:8000] == [5, 0])
    assert not pcm[8000:34000].any()
    assert np.all(pcm[34000:] == [0, 9])


def test_a_gap_too_long_to_be_a_takeover_is_not_filled(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    first: Recording[str] = Recording(path, recording_id="r", call_id="c", started=STARTED,
                                      caller="a")
    first.close()
    later = STARTED + timedelta(seconds=MAX_GAP_S + 10)
    second: Recording[str] = Recording(path, recording_id="r", call_id="c", started=STARTED,
                                       caller="a", cut=cut_recording(path, "r"), now=later)
    assert second.gap_s == 0
    assert second.close()["pauses"] == []


def test_what_cannot_be_continued_is_named(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    Recording(path, recording_id="r", call_id="c", started=STARTED, caller="a").close()
    with pytest.raises(RecordingError, match="names another recording than 'other'"):
        cut_recording(path, "other")
    with pytest.raises(RecordingError, match=r"missing\.json.*No such file"):
        cut_recording(tmp_path / "missing.wav", "r")
    meta = json.loads((tmp_path / "r.json").read_text())
    (tmp_path / "r.json").write_text(json.dumps({**meta, "file": "r.flac"}))
    with pytest.raises(RecordingError, match="compressed or removed"):
        cut_recording(path, "r")
    mono = tmp_path / "mono.wav"
    WavWriter(mono, channels=1).close()
    with pytest.raises(RecordingError, match=r"mono\.wav: 1 channel\(s\) at 8000 Hz"):
        WavWriter(mono, append=True)


def test_shared_storage_repairs_only_what_nobody_writes(tmp_path: Path) -> None:
    kill_a_recording(tmp_path / "cut.wav")
    live: Recording[str] = Recording(tmp_path / "live.wav", recording_id="live",
                                     call_id="c", started=STARTED, caller="a")
    results = repair_directory(tmp_path, live=lambda meta: meta["recording_id"] == "live")
    assert [r.path.name for r in results] == ["cut.wav"]
    assert json.loads((tmp_path / "live.json").read_text())["complete"] is False
    live.close()


async def test_on_shared_storage_the_active_node_repairs_what_nobody_writes(
        tmp_path: Path) -> None:
    """A node starting (as the standby, maybe) repairs nothing in a shared folder; once
    active it repairs the recording a killed node left, not the one it writes itself."""
    shared = tmp_path / "shared"
    kill_a_recording(shared / "day" / "cut.wav")
    sidecar = shared / "day" / "cut.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()),
                                   "interaction_id": "call-1"}))
    media = MediaSettings(recordings_dir=shared, recordings_shared=True)
    settings = telephony_settings(data_dir=tmp_path / "data", media=media)
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with telephony:
        assert telephony.media.recordings_dir == shared
        assert telephony.take_repaired() == []
        assert json.loads(sidecar.read_text())["complete"] is False
        ours: Recording[str] = Recording(shared / "day" / "ours.wav", recording_id="ours",
                                         call_id="c", started=STARTED, caller="a")
        telephony.media.recordings["ours"] = CallRecording(ours, "a", telephony.media)
        await telephony.repair_shared_recordings()
        (stored,) = telephony.take_repaired()
        assert (stored.recording_id, stored.interaction_id) == ("k1", "call-1")
        assert stored.duration_s == 2.0
        assert json.loads((shared / "day" / "ours.json").read_text())["complete"] is False
        telephony.media.recordings.pop("ours")
        ours.close()


def test_recording_fed_by_the_media_hub(tmp_path: Path) -> None:
    hub: MediaHub[str] = MediaHub()
    settings = StreamSettings(Codec.PCMA, jitter_depth=1)
    phones = {leg: MediaStream(settings, ssrc=n) for n, leg in enumerate(("caller", "agent"))}
    for n, leg in enumerate(phones):
        hub.add_leg(leg, settings, ssrc=100 + n)
    recording: Recording[str] = Recording(tmp_path / "hub.wav", recording_id="h1", call_id="c",
                                          started=STARTED, caller="caller", operator="agent")
    hub.record("h1", recording.recorder)
    for i in range(50):
        hub.receive("caller", RtpPacket.parse(phones["caller"].audio_packet(
            encode(tone(500, i), Codec.PCMA))))
        hub.receive("agent", RtpPacket.parse(phones["agent"].audio_packet(
            encode(tone(1000, i), Codec.PCMA))))
        for recording_id, stereo in hub.tick().recorded:
            assert recording_id == "h1"
            recording.write_frame(stereo)
    assert recording.close()["duration_s"] == 1.0
    pcm = read_stereo(tmp_path / "hub.wav")
    left = np.concatenate([tone(500, i) for i in range(50)])
    right = np.concatenate([tone(1000, i) for i in range(50)])
    assert np.abs(pcm[:, 0].astype(int) - decode(encode(left, Codec.PCMA), Codec.PCMA)).max() == 0
    assert np.abs(pcm[:, 1].astype(int) - decode(encode(right, Codec.PCMA),
                                                 Codec.PCMA)).max() == 0
