"""The prompt library against Debian's stock prompts, its cache, say-number and espeak-ng."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from parley.config import MediaSettings
from parley.media import MediaError
from parley.media.audio import Audio, encode_wav, to_telephony
from parley.media.player import SilenceSource
from parley.media.say import digit_prompts, duration_prompts, number_prompts
from parley.media.tones import BEEP, render
from parley.telephony.prompts import PromptError, PromptLibrary
from parley.testing.needs import ESPEAK, STOCK_PROMPTS, needs

STOCK = needs(STOCK_PROMPTS)


def stereo_44k(tmp_path: Path, name: str, freq: float = 700.0) -> Path:
    t = np.arange(44100) / 44100
    tone = (0.4 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
    path = tmp_path / f"{name}.wav"
    path.write_bytes(encode_wav(np.stack([tone, tone], axis=1), rate=44100))
    return path


@pytest.mark.parametrize(("number", "names"), [
    (0, ["digits/0"]),
    (7, ["digits/7"]),
    (15, ["digits/15"]),
    (20, ["digits/20"]),
    (42, ["digits/40", "digits/2"]),
    (100, ["digits/1", "digits/hundred"]),
    (1234, ["digits/1", "digits/thousand", "digits/2", "digits/hundred", "digits/30",
            "digits/4"]),
    (2_000_019, ["digits/2", "digits/million", "digits/19"]),
    (-5, ["digits/minus", "digits/5"]),
])
def test_say_number_follows_asterisk_english(number: int, names: list[str]) -> None:
    assert number_prompts(number) == names


def test_say_digits_and_duration() -> None:
    assert digit_prompts("5*0#") == ["digits/5", "digits/star", "digits/0", "digits/pound"]
    assert duration_prompts(125) == ["digits/2", "minutes", "digits/5", "seconds"]
    assert duration_prompts(60) == ["digits/1", "minute"]
    assert duration_prompts(1) == ["digits/1", "second"]
    assert duration_prompts(0) == ["digits/0", "seconds"]
    with pytest.raises(MediaError, match="position 1"):
        digit_prompts("1?")


@STOCK
def test_stock_prompts_load_by_name(tmp_path: Path) -> None:
    library = PromptLibrary(cache_dir=tmp_path)
    prompt = library.load("queue-thereare")
    assert 1.5 < prompt.duration < 3.5
    assert np.abs(prompt.pcm).max() > 1000  # speech, not silence
    five = library.load("digits/5")
    assert five.name == "digits/5"
    assert [p.name for p in library.number(1234)] == number_prompts(1234)
    assert all(p.duration > 0.2 for p in library.digits("2#"))
    assert [p.name for p in library.duration(61)][-1] == "second"


def test_missing_prompt_names_itself_and_where_it_looked(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    library = PromptLibrary([site, tmp_path / "stock"], cache_dir=tmp_path / "cache")
    with pytest.raises(PromptError) as caught:
        library.load("welcome-to-acme")
    message = str(caught.value)
    assert "welcome-to-acme" in message
    assert str(site / "welcome-to-acme.wav") in message
    assert str(tmp_path / "stock" / "welcome-to-acme.wav") in message
    with pytest.raises(PromptError, match="relative name"):
        library.load("../../etc/passwd")
    with pytest.raises(PromptError, match="missing: nope"):
        library.playlist(["missing: nope"])


def test_conversion_is_cached_by_path_and_mtime(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    source = stereo_44k(site, "welcome")
    cache = tmp_path / "cache"
    first = PromptLibrary([site], cache_dir=cache).load("welcome")
    assert len(first.pcm) == 8000
    cached = list((cache / "prompts").glob("*.wav"))
    assert len(cached) == 1
    # A fresh library (a restart) reads the cache instead of the source: prove it by making
    # the cache entry distinguishable.
    marker = np.full(800, 1234, dtype=np.int16)
    cached[0].write_bytes(encode_wav(marker))
    again = PromptLibrary([site], cache_dir=cache).load("welcome")
    assert np.array_equal(again.pcm, marker)
    # Touching the source (new mtime) converts it again.
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    fresh = PromptLibrary([site], cache_dir=cache).load("welcome")
    assert np.array_equal(fresh.pcm, first.pcm)
    assert len(list((cache / "prompts").glob("*.wav"))) == 2


def test_site_directory_overrides_stock(tmp_path: Path) -> None:
    site, stock = tmp_path / "site", tmp_path / "stock"
    site.mkdir()
    stock.mkdir()
    stereo_44k(site, "hello", 500)
    stereo_44k(stock, "hello", 900)
    library = PromptLibrary([site, stock], cache_dir=tmp_path / "cache")
    expected = to_telephony(Audio(
        (0.4 * np.sin(2 * np.pi * 500 * np.arange(44100) / 44100))[:, None]
        .astype(np.float32), 44100))
    assert np.abs(library.load("hello").pcm.astype(int) - expected).max() < 40


def test_corrupt_prompt_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "broken.wav").write_bytes(b"not audio at all")
    library = PromptLibrary([tmp_path], cache_dir=tmp_path / "cache")
    with pytest.raises(MediaError, match=r"broken\.wav: not a WAV file"):
        library.load("broken")


@needs(ESPEAK)
async def test_text_to_speech_is_spoken_once_and_cached(tmp_path: Path) -> None:
    library = PromptLibrary([tmp_path], cache_dir=tmp_path / "cache")
    spoken = await library.speak("Your call is important to us")
    assert 1.0 < spoken.duration < 5.0
    assert np.abs(spoken.pcm).max() > 2000
    assert len(list((tmp_path / "cache" / "tts").glob("*.wav"))) == 1
    # The second request is served from the cache even without espeak-ng.
    offline = PromptLibrary([tmp_path], cache_dir=tmp_path / "cache", espeak="/nonexistent")
    again = await offline.speak("Your call is important to us")
    assert np.array_equal(again.pcm, spoken.pcm)
    with pytest.raises(PromptError, match="not installed"):
        await offline.speak("something new")
    with pytest.raises(PromptError, match="nosuchvoice"):
        await library.speak("hello", voice="nosuchvoice")


@STOCK
def test_player_plays_names_tones_and_pauses_in_order(tmp_path: Path) -> None:
    library = PromptLibrary(cache_dir=tmp_path)
    player = library.player(["queue-thereare", *library.number(5), BEEP, SilenceSource(100),
                             "queue-callswaiting"], playback_id="p1")
    frames = []
    while (frame := player.next_pcm()) is not None:
        frames.append(frame)
    audio = np.concatenate(frames)
    there_are = library.load("queue-thereare").pcm
    five = library.load("digits/5").pcm
    waiting = library.load("queue-callswaiting").pcm
    expected = np.concatenate([there_are, five, render(BEEP), np.zeros(800, np.int16), waiting])
    assert np.array_equal(audio[:len(expected)], expected)
    assert not audio[len(expected):].any()
    assert player.finished == "done"
    assert player.playback_id == "p1"
    with pytest.raises(PromptError, match="no-such-prompt"):
        library.player(["queue-thereare", "no-such-prompt"])


async def test_load_async_converts_off_the_event_loop(tmp_path: Path) -> None:
    stereo_44k(tmp_path, "welcome")
    library = PromptLibrary([tmp_path], cache_dir=tmp_path / "cache")
    prompt = await library.load_async("welcome")
    assert len(prompt.pcm) == 8000
    assert library.load("welcome") is prompt  # memoised for the next caller


@needs(ESPEAK)
async def test_the_configured_voice_is_used(tmp_path: Path) -> None:
    media = MediaSettings(prompt_dirs=[tmp_path], tts_voice="en-gb")
    library = PromptLibrary.from_settings(media, tmp_path)
    british = await library.speak("Thank you for holding")
    american = await library.speak("Thank you for holding", voice="en-us")
    assert len(list((tmp_path / "cache" / "tts").glob("*.wav"))) == 2
    assert not np.array_equal(british.pcm[:len(american.pcm)], american.pcm[:len(british.pcm)])
