"""The demo answers in Russian on 610 and in English on 600: two phones call at once and each
hears the welcome in its number's language (speech in that language's voice)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from parley.media.analysis import find
from parley.media.audio import decode_wav, to_telephony
from parley.testing.needs import ESPEAK, HOLD_MUSIC, STOCK_PROMPTS, needs

from .conftest import needs_baresip
from .inbound_node import demo_node, operator

WELCOME = {"610": "Добро пожаловать в Parley.", "600": "Welcome to Parley."}


def load_8k(path: Path) -> np.ndarray:
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


@needs_baresip
@needs(STOCK_PROMPTS, HOLD_MUSIC, ESPEAK)
async def test_the_demo_answers_in_russian_on_610_and_in_english_on_600(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        prompts = node.telephony.prompts
        expected = {"610": (await prompts.speak(WELCOME["610"], prompts.voice_for("ru"))).pcm,
                    "600": (await prompts.speak(WELCOME["600"], prompts.voice_for("en"))).pcm}
        phones = {"610": operator(node, tmp_path, "1009"), "600": operator(node, tmp_path, "1010")}
        try:
            for phone in phones.values():
                await phone.start()
            for number, phone in phones.items():
                await phone.dial(number)
            for phone in phones.values():
                assert await phone.wait_event("CALL_ESTABLISHED", within=10) is not None
            await asyncio.sleep(4.5)  # the welcome and the start of the menu
            for phone in phones.values():
                await phone.hangup()
        finally:
            for phone in phones.values():
                await phone.stop()
    for number, phone in phones.items():
        heard = load_8k(phone.received_wav())
        other = "600" if number == "610" else "610"
        own = find(expected[number][800:-800], heard)
        assert own.correlation > 0.9, (number, own)
        assert own.offset_s < 2.0
        assert find(expected[other][800:-800], heard).correlation < 0.5
