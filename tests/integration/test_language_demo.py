"""The demo answers in Russian on 610 and in English on 600: two phones call at once and each
hears the welcome in its number's language (speech in that language's voice)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from parley.media.analysis import find
from parley.media.audio import decode_wav, to_telephony
from parley.store.specs import DeviceSpec
from parley.testing.media import SIPP_AWAIT_BYE, sipp_answer
from parley.testing.needs import ESPEAK, HOLD_MUSIC, STOCK_PROMPTS, needs
from parley.testing.peers import Sipp
from parley.testing.ports import free_port

from .conftest import needs_baresip, needs_sipp
from .inbound_node import call_record, caller_scenario, change, demo_node, dial, operator

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


def _operator_expecting(language: str) -> str:
    """A support operator's phone that answers only if the call says the caller's language."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="operator checking the caller's language">
  <recv request="INVITE"><action>
    <ereg regexp="^ *{language}$" search_in="hdr" header="X-Parley-Language:"
          check_it="true" assign_to="language" />
    <ereg regexp="^ *{language}$" search_in="hdr" header="X-Parley-Var-language:"
          check_it="true" assign_to="variable" />
  </action></recv>
""" + sipp_answer("[media_port]", user="1001") + """  <recv request="ACK" />
""" + SIPP_AWAIT_BYE + """  <Reference variables="language,variable" />
</scenario>
"""


@needs_sipp
@needs(STOCK_PROMPTS, HOLD_MUSIC, ESPEAK)
@pytest.mark.parametrize(("digits", "language"), [("2", "ru"), ("92", "en")])
async def test_the_callers_language_reaches_the_operator(tmp_path: Path, digits: str,
                                                         language: str) -> None:
    """On 610, 2 is support in Russian; 9 switches to English (the English menu, where 2 is
    support too): the operator's phone is told the language the caller chose."""
    async with demo_node(tmp_path) as node:
        phone_port = free_port()
        await change(node, "devices", DeviceSpec(
            name="1001", user="1001", sip_password="pw1001",
            static_contact=f"sip:1001@127.0.0.1:{phone_port}"))
        answering = tmp_path / "operator.xml"
        answering.write_text(_operator_expecting(language))
        phone = Sipp(tmp_path / "phone", answering, port=phone_port, calls=1,
                     extra=("-timeout", "60s", "-timeout_error"))
        await phone.start()
        try:
            scenario, _ = caller_scenario(tmp_path, digits=digits, talk_s=3.0,
                                          before_digits_ms=1500, ani="5550177")
            caller = await dial(node, tmp_path, "610", scenario)
            result = await caller.wait(within=40)
            assert result.ok, result.log
            answered = await phone.wait(within=15)
            assert answered.ok, answered.log  # the language headers were there
        finally:
            await phone.stop()
        record = await call_record(node, number="5550177")
    assert record.queue == "support"
    assert record.operator == "1001"
