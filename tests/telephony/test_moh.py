"""Hold-music classes: looping files, glitch-free stop and start, the Debian default class."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import structlog.testing

from parley.config import MediaSettings
from parley.media.audio import encode_wav
from parley.media.g711 import Codec, decode
from parley.media.player import Playout
from parley.telephony.moh import MohError, MusicOnHold
from parley.telephony.prompts import PromptLibrary
from parley.testing.needs import HOLD_MUSIC, needs


def write_track(path: Path, value_start: int, samples: int, rate: int = 8000) -> None:
    path.write_bytes(encode_wav(np.arange(value_start, value_start + samples,
                                          dtype=np.int16), rate=rate))


@pytest.fixture
def moh(tmp_path: Path) -> MusicOnHold:
    jazz = tmp_path / "jazz"
    jazz.mkdir()
    write_track(jazz / "b.wav", 5000, 500)
    write_track(jazz / "a.wav", 1000, 1000)
    (jazz / "notes.txt").write_text("not music")
    (tmp_path / "empty").mkdir()
    library = PromptLibrary([tmp_path], cache_dir=tmp_path / "cache")
    return MusicOnHold(library, {"jazz": jazz, "single": [jazz / "b.wav"],
                                 "empty": tmp_path / "empty", "gone": tmp_path / "gone"})


def test_class_plays_its_files_in_name_order_and_loops(moh: MusicOnHold) -> None:
    assert moh.class_names() == ["empty", "gone", "jazz", "single"]
    assert [p.name for p in moh.files("jazz")] == ["a.wav", "b.wav"]
    hold = moh.hold_music("jazz")
    player = hold.start()
    out = np.concatenate([player.next_pcm() for _ in range(20)])  # type: ignore[misc]
    cycle = np.concatenate([np.arange(1000, 2000), np.arange(5000, 5500)]).astype(np.int16)
    assert np.array_equal(out[160:], np.tile(cycle, 3)[160:3200])


def test_stop_and_start_continue_from_the_same_frame(moh: MusicOnHold) -> None:
    hold = moh.hold_music("jazz")
    playout: Playout[str] = Playout()
    playout.add("caller", hold.start(), Codec.PCMU)
    heard = [decode(dict(playout.tick().frames)["caller"], Codec.PCMU) for _ in range(4)]
    hold.stop()
    assert not hold.playing
    assert playout.tick().frames == []  # the playout drops the stopped player
    assert playout.tick().finished == []
    playout.add("caller", hold.start(), Codec.PCMU)
    assert hold.playing
    resumed = decode(dict(playout.tick().frames)["caller"], Codec.PCMU)
    # Frames 0-3 played; the next frame is samples 640-799 of the class, faded in.
    expected_tail = np.arange(1000 + 640, 1000 + 800, dtype=np.int16)
    faded = expected_tail * (np.arange(1, 161) / 160)
    assert np.abs(resumed.astype(int) - faded).max() <= 64  # within a µ-law step
    assert np.abs(np.concatenate(heard)[160:].astype(int) - np.arange(1160, 1640)).max() <= 64


def test_start_twice_is_the_same_player(moh: MusicOnHold) -> None:
    hold = moh.hold_music("single")
    assert hold.start() is hold.start()


def test_unknown_and_empty_classes_are_clear_errors(moh: MusicOnHold) -> None:
    with pytest.raises(MohError, match=r"unknown hold-music class 'rock' \(known classes: "
                                       r"empty, gone, jazz, single\)"):
        moh.hold_music("rock")
    with pytest.raises(MohError, match=r"no \.wav files"):
        moh.tracks("empty")
    with pytest.raises(MohError, match=r"'gone': directory .*gone does not exist"):
        moh.tracks("gone")


@needs(HOLD_MUSIC)
def test_debian_default_class(tmp_path: Path) -> None:
    moh = MusicOnHold(PromptLibrary(cache_dir=tmp_path))
    files = moh.files("default")
    assert len(files) >= 5
    tracks = moh.tracks("default")
    assert sum(t.duration for t in tracks) > 600  # minutes of music
    player = moh.hold_music().start()
    frames = np.concatenate([player.next_pcm() for _ in range(250)])  # type: ignore[misc]
    assert np.abs(frames[8000:]).max() > 1000  # music, not silence, within 5 s


def test_built_from_settings(tmp_path: Path) -> None:
    jazz = tmp_path / "jazz"
    jazz.mkdir()
    write_track(jazz / "one.wav", 0, 800)
    media = MediaSettings(prompt_dirs=[tmp_path], moh_dir=tmp_path / "none",
                          moh_classes={"jazz": jazz})
    prompts = PromptLibrary.from_settings(media, tmp_path / "data")
    moh = MusicOnHold.from_settings(prompts, media)
    assert moh.class_names() == ["default", "jazz"]
    assert len(moh.tracks("jazz")[0].pcm) == 800
    assert (tmp_path / "data" / "cache" / "prompts").is_dir()


async def test_a_node_loads_its_hold_music_at_start_and_names_a_class_it_cannot_play(
        tmp_path: Path) -> None:
    """Before any caller is put on hold (the first one no longer stalls every call while
    the files are converted, nor a node that has just taken over), and a broken class is
    in the log at start, not at the first caller."""
    from parley.testing.node import demo_node

    jazz = tmp_path / "jazz"
    jazz.mkdir()
    write_track(jazz / "one.wav", 0, 800, rate=16000)  # converted to 8 kHz as it loads
    media = MediaSettings(moh_classes={"jazz": jazz, "gone": tmp_path / "gone"})
    with structlog.testing.capture_logs() as logs:
        async with demo_node(tmp_path, media=media) as node:
            for _ in range(100):  # the default class first: minutes of music to convert
                unavailable = [entry for entry in logs
                               if entry["event"] == "hold_music_unavailable"]
                if unavailable:
                    break
                await asyncio.sleep(0.1)
            assert list((tmp_path / "data" / "cache" / "prompts").glob("*.wav"))
            assert [entry["moh_class"] for entry in unavailable] == ["gone"]
            assert "directory" in unavailable[0]["error"]
            assert len(node.telephony.moh.tracks("jazz")[0].pcm) == 400
