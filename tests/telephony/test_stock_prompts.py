"""Every stock prompt the contact center plays is found where Debian's packages put it.

``asterisk-core-sounds-en-wav`` installs its prompts in
``/usr/share/asterisk/sounds/en_US_f_Allison``; ``.../sounds/en`` exists only when the
recommended ``asterisk-core-sounds-en`` is installed too. These tests run on the packages as
installed (a skip locally when they are missing, a failure under CI).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from parley.center.ivr_shell import RECORDING_BEEP
from parley.center.waiting import (
    VOICEMAIL_GOODBYE,
    VOICEMAIL_GREETING,
    position_prompts,
    wait_prompts,
)
from parley.config import STOCK_PROMPT_DIRS, MediaSettings
from parley.ivr.files import shipped_flows
from parley.ivr.model import PromptKind, PromptSpec
from parley.media.say import digit_prompts, duration_prompts, number_prompts
from parley.telephony.moh import MusicOnHold
from parley.telephony.prompts import PromptError, PromptLibrary
from parley.testing.needs import HOLD_MUSIC, STOCK_PROMPTS, needs
from parley.testing.needs import RU_STOCK_PROMPTS as RU_PROMPTS
from parley.testing.needs import RU_STOCK_PROMPTS_DIR as RU


def flow_prompt_files(language: str = "en") -> set[str]:
    """The prompt files named in the flows shipped with Parley (the demo's and examples')
    that speak ``language`` (a flow without languages speaks English, the site's)."""
    names: set[str] = set()
    for validated in shipped_flows():
        assert validated.flow is not None, validated.errors
        if language not in (validated.flow.languages or ("en",)):
            continue
        for node in validated.flow.nodes.values():
            for field in dataclasses.fields(node):
                value = getattr(node, field.name)
                if not (isinstance(value, tuple) and value
                        and all(isinstance(item, PromptSpec) for item in value)):
                    continue
                for spec in value:
                    if spec.kind is PromptKind.FILE:
                        assert all(isinstance(part, str) for part in spec.text.parts)
                        names.add(spec.text.source)
    return names


def center_prompts() -> set[str]:
    """What the queue announcements, the voicemail and number sayings play."""
    names = {VOICEMAIL_GREETING, VOICEMAIL_GOODBYE, RECORDING_BEEP}
    for position in range(1, 30):
        names.update(position_prompts(position))
    for wait_s in (10, 60, 61, 600, 3600 * 3):
        names.update(wait_prompts(wait_s))
    for number in (*range(0, 21), *range(30, 100, 10), 100, 1000, 1_000_000, -1):
        names.update(number_prompts(number))
    names.update(digit_prompts("0123456789*#"))
    names.update(duration_prompts(61) + duration_prompts(125))
    return names


@needs(STOCK_PROMPTS)
def test_every_prompt_the_center_plays_is_in_the_installed_package(tmp_path: Path) -> None:
    library = PromptLibrary.from_settings(MediaSettings(), tmp_path)
    wanted = center_prompts() | flow_prompt_files()
    assert {"vm-intro", "queue-thereare", "pbx-invalid"} <= wanted  # the lists are not empty
    for name in sorted(wanted):
        path = library.path_of(name)
        assert any(path.is_relative_to(folder) for folder in STOCK_PROMPT_DIRS), path
        prompt = library.load(name)
        assert prompt.duration > 0.1, name
        assert np.abs(prompt.pcm).max() > 500, f"{name} is silent"


@needs(STOCK_PROMPTS)
def test_the_package_folder_is_found_without_the_en_link(tmp_path: Path) -> None:
    """Only what ``apt-get install --no-install-recommends`` gives: no ``sounds/en``."""
    package_folder = STOCK_PROMPT_DIRS[-1]
    media = MediaSettings(stock_prompt_dirs=[tmp_path / "sounds" / "en", package_folder])
    library = PromptLibrary.from_settings(media, tmp_path)
    assert library.path_of(VOICEMAIL_GREETING) == package_folder / "vm-intro.wav"
    assert library.load("digits/5").duration > 0.2


@needs(STOCK_PROMPTS)
def test_a_site_prompt_overrides_the_stock_one(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    stock = PromptLibrary.from_settings(MediaSettings(), tmp_path / "a")
    (site / "vm-intro.wav").write_bytes(stock.path_of("beep").read_bytes())  # the site's own
    library = PromptLibrary.from_settings(MediaSettings(prompt_dirs=[site]), tmp_path / "b")
    assert library.sound_dirs == [site, *STOCK_PROMPT_DIRS]
    assert np.array_equal(library.load("vm-intro").pcm, stock.load("beep").pcm)
    assert library.path_of("vm-goodbye").parent in STOCK_PROMPT_DIRS


def test_without_the_stock_prompts_the_error_names_the_package(tmp_path: Path) -> None:
    media = MediaSettings(stock_prompt_dirs=[tmp_path / "en", tmp_path / "en_US_f_Allison"])
    library = PromptLibrary.from_settings(media, tmp_path)
    with pytest.raises(PromptError, match=r"vm-intro.*en_US_f_Allison/vm-intro\.wav.*"
                                        r"install Debian's asterisk-core-sounds-en-wav"):
        library.load("vm-intro")


@needs(HOLD_MUSIC)
def test_the_default_hold_music_is_the_installed_package(tmp_path: Path) -> None:
    media = MediaSettings()
    moh = MusicOnHold.from_settings(PromptLibrary.from_settings(media, tmp_path), media)
    files = moh.files("default")
    assert files
    assert all(path.parent == media.moh_dir for path in files)


@needs(STOCK_PROMPTS, RU_PROMPTS)
def test_every_russian_prompt_is_in_the_russian_package_or_spoken(tmp_path: Path) -> None:
    """The Russian queue announcements, voicemail and the Russian demo's files come from
    asterisk-core-sounds-ru-wav; the grammar words it lacks are the only ones spoken."""
    from parley.media.say_ru import NOT_SHIPPED

    library = PromptLibrary.from_settings(MediaSettings(), tmp_path)
    wanted = {VOICEMAIL_GREETING, VOICEMAIL_GOODBYE, RECORDING_BEEP} | flow_prompt_files("ru")
    for position in range(1, 30):
        wanted.update(position_prompts(position, "ru"))
    for wait_s in (10, 60, 61, 120, 300, 600, 1260, 3600 * 3):
        wanted.update(wait_prompts(wait_s, "ru"))
    assert {"pls-try-call-later", "queue-thereare", "digits/2f"} <= wanted
    for name in sorted(wanted):
        if name in NOT_SHIPPED:
            assert library.spoken_word(name, "ru") == NOT_SHIPPED[name]
            continue
        path = library.path_of(name, "ru")
        assert path.parent.is_relative_to(RU), path
        assert np.abs(library.load(name, "ru").pcm).max() > 500, f"{name} is silent"
