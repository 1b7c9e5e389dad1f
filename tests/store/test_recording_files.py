"""Finished recordings become verified FLAC files off the event loop, and a stop half-way
loses nothing: the next start finishes the work (sox really encodes and decodes)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from parley.bus import LiveBus
from parley.clock import VirtualClock
from parley.events import RecordingStored
from parley.media.g711 import Codec, decode_array, encode_array
from parley.store import Store
from parley.store.recording_files import RecordingFiles, RecordingFormat
from parley.store.records import RecordingRecord, VoicemailRecord
from parley.telephony.flac import CompressError, Compressor, Stopped, compress_wav, read_recording
from parley.telephony.recording import Recording, WavWriter
from parley.testing.needs import SOX, needs

pytestmark = needs(SOX)
STARTED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def recorded(path: Path, seconds: float, seed: int) -> npt.NDArray[np.int16]:
    """A stereo recording written by the media layer's writer, of µ-law-decoded noise as
    a call carries it (caller left, operator right); its samples."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * 50)

    def line(level: float) -> npt.NDArray[np.int16]:
        noise = (rng.standard_normal(frames * 160) * level).astype(np.int16)
        return decode_array(encode_array(noise, Codec.PCMU), Codec.PCMU)

    left, right = line(3000), line(800)
    stereo = np.stack([left, right], axis=1).astype(np.int16)
    file: Recording[str] = Recording(path, recording_id=path.stem, call_id="c1",
                                     started=STARTED, caller="caller", operator="operator")
    for index in range(frames):
        file.write_frame(stereo[index * 160:(index + 1) * 160])
    file.close()
    return stereo


def size_of(path: Path | str) -> int:
    return Path(path).stat().st_size


async def running(store: Store, data: Path, fmt: RecordingFormat = "flac",
                  bus: LiveBus | None = None) -> tuple[RecordingFiles, asyncio.Task[None]]:
    files = RecordingFiles(store, bus or LiveBus(VirtualClock()),
                           recordings_dir=data / "recordings", voicemail_dir=data / "voicemail",
                           recording_format=fmt, row_wait_s=10)
    return files, asyncio.create_task(files.run())


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_recordings_a_stop_left_as_wav_are_compressed_at_the_next_start(
        store: Store, tmp_path: Path) -> None:
    day = tmp_path / "recordings" / "2026-03-02"
    # a finished call recording whose compression a stop prevented
    call_wav = day / "rec-1.wav"
    call_pcm = recorded(call_wav, 3.0, seed=1)
    await store.recordings.add(RecordingRecord("rec-1", None, str(call_wav), "audio/wav",
                                               STARTED, 3.0))
    # one the stop cut while sox wrote it: an unverified part beside the WAV
    cut_wav = day / "rec-2.wav"
    cut_pcm = recorded(cut_wav, 1.0, seed=2)
    (day / "rec-2.flac.part").write_bytes(b"fLaC half written")
    await store.recordings.add(RecordingRecord("rec-2", None, str(cut_wav), "audio/wav",
                                               STARTED, 1.0))
    # one stopped after its row named the FLAC, before the WAV was removed
    done_wav = day / "rec-3.wav"
    recorded(done_wav, 1.0, seed=3)
    done = compress_wav(done_wav)
    await store.recordings.add(RecordingRecord("rec-3", None, str(done.flac), "audio/flac",
                                               STARTED, 1.0, size_bytes=done.size_bytes))
    # a voicemail message
    message_wav = tmp_path / "voicemail" / "general" / "vm-1.wav"
    message_pcm = recorded(message_wav, 2.0, seed=4)
    await store.voicemails.add(VoicemailRecord("vm-1", "general", "5550100", STARTED,
                                               str(message_wav), 2.0, False))
    # a recording no row names (an IVR step's message): not the compressor's
    loose = day / "message-x.wav"
    recorded(loose, 1.0, seed=5)

    files, task = await running(store, tmp_path)
    try:
        await files.settled(within=30)
    finally:
        await stopped(task)

    for row_id, pcm in (("rec-1", call_pcm), ("rec-2", cut_pcm)):
        record = await store.recordings.get(row_id)
        flac = Path(record.path)
        assert flac == day / f"{row_id}.flac"
        assert record.media_type == "audio/flac"
        assert record.size_bytes == size_of(flac)
        assert not flac.with_suffix(".wav").exists()
        heard, rate = read_recording(flac)
        assert rate == 8000
        assert heard.shape == pcm.shape  # the same length, both channels
        assert np.array_equal(heard, pcm)  # lossless
        sidecar = json.loads(flac.with_suffix(".json").read_text())
        assert sidecar["file"] == flac.name
        assert sidecar["format"]["encoding"] == "flac"
        assert sidecar["complete"] is True
    assert record.size_bytes is not None
    assert record.size_bytes < 0.8 * (len(cut_pcm) * 4 + 44)
    assert not (day / "rec-2.flac.part").exists()
    assert not done_wav.exists()  # the row named the FLAC already: the WAV was left over
    assert (await store.recordings.get("rec-3")).path == str(done.flac)
    message = await store.voicemails.get("vm-1")
    assert message.path == str(message_wav.with_suffix(".flac"))
    assert message.size_bytes == size_of(message.path)
    assert np.array_equal(read_recording(Path(message.path))[0], message_pcm)
    assert not message_wav.exists()
    assert loose.exists()
    assert not loose.with_suffix(".flac").exists()
    assert files.figures.compressed == 3
    assert files.figures.failed == 0


async def test_a_recording_stored_before_its_row_is_written_waits_for_the_row(
        store: Store, tmp_path: Path) -> None:
    bus = LiveBus(VirtualClock())
    files, task = await running(store, tmp_path, bus=bus)
    try:
        wav = tmp_path / "recordings" / "2026-03-02" / "rec-9.wav"
        pcm = recorded(wav, 2.0, seed=9)
        await files.settled()  # the start's sweep found nothing
        bus.publish(RecordingStored("rec-9", "", str(wav), STARTED, 2.0))
        await asyncio.sleep(0.3)
        assert wav.exists()  # no row yet: nothing is touched
        await store.recordings.add(RecordingRecord("rec-9", None, str(wav), "audio/wav",
                                                   STARTED, 2.0))
        await files.settled(within=30)
    finally:
        await stopped(task)
    record = await store.recordings.get("rec-9")
    assert record.path.endswith("rec-9.flac")
    assert np.array_equal(read_recording(Path(record.path))[0], pcm)
    assert not wav.exists()


async def test_recording_format_wav_leaves_recordings_as_they_are(
        store: Store, tmp_path: Path) -> None:
    wav = tmp_path / "recordings" / "2026-03-02" / "rec-5.wav"
    recorded(wav, 1.0, seed=5)
    await store.recordings.add(RecordingRecord("rec-5", None, str(wav), "audio/wav",
                                               STARTED, 1.0))
    files, task = await running(store, tmp_path, "wav")
    await asyncio.sleep(0.3)
    await task  # nothing to do: it returns at once
    assert files.idle
    assert wav.exists()
    assert (await store.recordings.get("rec-5")).path == str(wav)


def test_the_compressor_works_in_a_helper_process_at_the_lowest_priority(
        tmp_path: Path) -> None:
    """The verification's reading and comparing run outside the node's process, at nice 19,
    and a broken file fails alone (named) while the next one is compressed."""
    compressor = Compressor()
    try:
        pcm = recorded(tmp_path / "a.wav", 2.0, seed=7)
        done = compressor.compress(tmp_path / "a.wav")
        assert done.flac == tmp_path / "a.flac"
        assert done.frames == len(pcm)
        assert done.size_bytes == size_of(done.flac)
        assert np.array_equal(read_recording(done.flac)[0], pcm)
        helper = compressor.pid
        assert helper is not None
        assert helper != os.getpid()
        assert os.getpriority(os.PRIO_PROCESS, helper) == 19
        (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
        with pytest.raises(CompressError, match=r"broken\.wav"):
            compressor.compress(tmp_path / "broken.wav")
        recorded(tmp_path / "b.wav", 1.0, seed=8)
        assert compressor.compress(tmp_path / "b.wav").flac.is_file()
        assert compressor.pid == helper  # one helper for all of them
    finally:
        compressor.close()
    assert compressor.pid is None


def test_the_compressor_works_in_a_node_with_more_than_1024_descriptors(
        tmp_path: Path) -> None:
    """A node with a thousand calls holds thousands of sockets: the helper's pipes get
    descriptors above 1023, which select() refuses; the compressor must still answer."""
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    compressor = Compressor()
    try:
        pcm = recorded(tmp_path / "a.wav", 1.0, seed=13)
        done = compressor.compress(tmp_path / "a.wav")
        assert np.array_equal(read_recording(done.flac)[0], pcm)
    finally:
        compressor.close()
        for fd in held:
            os.close(fd)


def test_a_compressor_that_died_fails_that_file_only_and_a_stop_abandons_it(
        tmp_path: Path) -> None:
    compressor = Compressor()
    try:
        recorded(tmp_path / "a.wav", 1.0, seed=9)
        compressor.compress(tmp_path / "a.wav")
        helper = compressor.pid
        assert helper is not None
        os.kill(helper, signal.SIGKILL)  # between two files: the next starts another
        recorded(tmp_path / "b.wav", 1.0, seed=10)
        assert compressor.compress(tmp_path / "b.wav").flac.is_file()
        assert compressor.pid not in (None, helper)
        # a stop while an hour's recording is in hand: abandoned, the WAV untouched
        long_wav = tmp_path / "long.wav"
        writer = WavWriter(long_wav)
        writer.write(np.random.default_rng(11).integers(-3000, 3000, (3600 * 8000, 2),
                                                        dtype=np.int16))
        writer.close()
        before = hashlib.sha256(long_wav.read_bytes()).digest()
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        with pytest.raises(Stopped):
            compressor.compress(long_wav, stop)
        assert compressor.pid is None
        assert not (tmp_path / "long.flac").exists()
        assert hashlib.sha256(long_wav.read_bytes()).digest() == before
        recorded(tmp_path / "c.wav", 1.0, seed=12)  # and the next file is compressed
        assert compressor.compress(tmp_path / "c.wav").flac.is_file()
    finally:
        compressor.close()
