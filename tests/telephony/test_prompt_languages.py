"""Prompts per language: Russian from Debian's Russian package, never English instead; the
grammar words the package lacks are spoken; a site's recording overrides the stock one."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.center.waiting import position_prompts, wait_prompts
from parley.config import MediaSettings
from parley.telephony.prompts import PromptError, PromptLibrary
from parley.testing.needs import RU_STOCK_PROMPTS as RU_PROMPTS
from parley.testing.needs import RU_STOCK_PROMPTS_DIR as RU
from parley.testing.needs import require


def _library(tmp_path: Path, **media: object) -> PromptLibrary:
    return PromptLibrary.from_settings(MediaSettings(**media), tmp_path)  # type: ignore[arg-type]


def test_russian_prompts_come_from_the_russian_package(tmp_path: Path) -> None:
    require(RU_PROMPTS)
    library = _library(tmp_path)
    assert library.path_of("queue-thereare", "ru") == RU / "queue-thereare.wav"
    assert library.path_of("digits/h-2", "ru") == RU / "digits/h-2.wav"
    assert library.path_of("queue-thereare", "en").parent.name != RU.name


def test_a_prompt_missing_in_russian_is_an_error_naming_the_language(tmp_path: Path) -> None:
    require(RU_PROMPTS)
    library = _library(tmp_path)
    with pytest.raises(PromptError, match="in language 'ru'"):
        library.path_of("minute", "ru")  # English ships it, Russian does not
    assert not library.exists("minute", "ru")


def test_the_site_recording_overrides_the_stock_one_per_language(tmp_path: Path) -> None:
    require(RU_PROMPTS)
    site = tmp_path / "ru-site"
    (site / "digits").mkdir(parents=True)
    (site / "digits" / "1f.wav").write_bytes(b"")
    library = _library(tmp_path, language_prompt_dirs={"ru": [site]})
    assert library.path_of("digits/1f", "ru") == site / "digits" / "1f.wav"
    assert library.spoken_word("digits/1f", "ru") is None
    assert library.spoken_word("digits/2f", "ru") == "две"  # not recorded: spoken
    assert library.exists("digits/2f", "ru")


def test_the_voice_follows_the_language(tmp_path: Path) -> None:
    library = _library(tmp_path, tts_voices={"ru": "ru"})
    assert library.voice_for("ru") == "ru"
    assert library.voice_for("en") == "en-us"
    assert _library(tmp_path, language="ru").voice_for(None) == "ru"


def test_an_unknown_language_in_the_settings_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language 'de'"):
        MediaSettings(language="de")


@pytest.mark.parametrize(("position", "expected"), [
    (1, ["queue-youarenext"]),
    (2, ["queue-thereare", "digits/2", "queue-callswaiting"]),
    (5, ["queue-thereare", "digits/5", "queue-callswaiting"]),
    (21, ["queue-thereare", "digits/20", "digits/1", "queue-callswaiting"]),
    (22, ["queue-thereare", "digits/20", "digits/2", "queue-callswaiting"]),
])
def test_russian_position_announcement(position: int, expected: list[str]) -> None:
    assert position_prompts(position, "ru") == expected


@pytest.mark.parametrize(("wait_s", "expected"), [
    (30, ["queue-holdtime", "digits/1f-acc", "queue-minute-acc"]),    # одну минуту
    (60, ["queue-holdtime", "digits/1f-acc", "queue-minute-acc"]),
    (120, ["queue-holdtime", "digits/2f", "queue-minutex1"]),          # две минуты
    (300, ["queue-holdtime", "digits/5", "queue-minutes"]),            # пять минут
    (290, ["queue-holdtime", "digits/5", "queue-minutes"]),
])
def test_russian_wait_announcement(wait_s: float, expected: list[str]) -> None:
    assert wait_prompts(wait_s, "ru") == expected
