"""A Russian caller waiting in a queue hears the position and the expected wait in Russian,
over real calls: three baresip phones call at once, Parley's waiting shell announces to each
(on a channel whose language is Russian), and every prompt of each announcement is found in
the audio the phone received, in order, by correlation with the prompt's own audio."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import numpy as np

from parley.center.waiting import WaitingFigures, wait_in_queue
from parley.clock import MonotonicClock
from parley.media.analysis import find
from parley.media.audio import decode_wav, to_telephony
from parley.telephony.channel import Channel, ChannelError
from parley.telephony.media import LANGUAGE_VARIABLE
from parley.telephony.server import Telephony
from parley.testing.needs import ESPEAK, HOLD_MUSIC, needs
from parley.testing.needs import RU_STOCK_PROMPTS as RU_PROMPTS
from parley.testing.peers import Baresip

from .conftest import needs_baresip

# Per phone, the (position, expected wait in minutes) it is told, one after the other:
# positions 1, 2, 5, 21 and 22, waits of 1, 2 and 5 minutes.
PLAN: dict[str, list[tuple[int, int]]] = {
    "1001": [(1, 1), (22, 2)],
    "1002": [(2, 2), (21, 1)],
    "1003": [(5, 5)],
}
YOUR_PLACE = "queue-thereare"  # "Ваша позиция в очереди"
PLEASE_WAIT = "queue-callswaiting"  # "ожидайте, пожалуйста, ответа оператора"
WAIT_IS = "queue-holdtime"  # "прогнозируемое время ожидания составляет"
#: what each announcement says, written from the grammar
HEARD: dict[tuple[int, int], list[str]] = {
    (1, 1): ["queue-youarenext",  # "Ваш звонок является первым в очереди…"
             WAIT_IS, "digits/1f-acc", "queue-minute-acc"],  # одну минуту
    (2, 2): [YOUR_PLACE, "digits/2", PLEASE_WAIT,  # два
             WAIT_IS, "digits/2f", "queue-minutex1"],  # две минуты
    (5, 5): [YOUR_PLACE, "digits/5", PLEASE_WAIT,  # пять
             WAIT_IS, "digits/5", "queue-minutes"],  # пять минут
    (21, 1): [YOUR_PLACE, "digits/20", "digits/1", PLEASE_WAIT,  # двадцать один
              WAIT_IS, "digits/1f-acc", "queue-minute-acc"],
    (22, 2): [YOUR_PLACE, "digits/20", "digits/2", PLEASE_WAIT,  # двадцать два
              WAIT_IS, "digits/2f", "queue-minutex1"],
}


def load_8k(path: Path) -> np.ndarray:
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


async def expected_audio(parley: Telephony, name: str) -> np.ndarray:
    """What ``name`` sounds like in Russian: the package's file, the site's, or the spoken
    word for one the package lacks (the same cached speech the call played)."""
    spoken = parley.prompts.spoken_word(name, "ru")
    if spoken is not None:
        return (await parley.prompts.speak(spoken, parley.prompts.voice_for("ru"))).pcm
    return parley.prompts.load(name, "ru").pcm


@needs_baresip
@needs(RU_PROMPTS, HOLD_MUSIC, ESPEAK)
async def test_a_russian_queue_caller_hears_position_and_wait_in_russian(
        parley: Telephony, tmp_path: Path) -> None:
    clock = MonotonicClock()
    announced: dict[str, list[WaitingFigures]] = {user: [] for user in PLAN}

    async def waiting_caller(channel: Channel) -> None:
        channel.variables[LANGUAGE_VARIABLE] = "ru"  # as a Russian number, flow or queue sets
        channel.answer()
        await asyncio.sleep(0.5)  # the phone starts its media (and its recording)
        user = channel.caller
        plan = [WaitingFigures(position, minutes * 60.0) for position, minutes in PLAN[user]]

        def figures() -> WaitingFigures | None:
            done = len(announced[user])
            return plan[done] if done < len(plan) else None

        all_said = asyncio.Event()

        def said(current: WaitingFigures) -> None:
            announced[user].append(current)
            if len(announced[user]) == len(plan):
                all_said.set()

        waiting = asyncio.ensure_future(wait_in_queue(
            channel, clock, music="default", announce_every_s=0.01, callback_offer_s=None,
            figures=figures, on_announced=said, on_callback=lambda: False))
        await asyncio.wait({waiting, asyncio.ensure_future(all_said.wait())}, timeout=60,
                           return_when=asyncio.FIRST_COMPLETED)
        await asyncio.sleep(1.0)  # hold music pushes the last words out of the jitter buffer
        waiting.cancel()
        await asyncio.sleep(0.2)
        with contextlib.suppress(ChannelError):
            channel.hangup()

    parley.route("610", waiting_caller, public=False)
    phones = {user: Baresip(tmp_path / user, user=user, password=f"pw{user}",
                            server_port=parley.sip_port) for user in PLAN}
    try:
        for phone in phones.values():
            await phone.start()
        for phone in phones.values():
            await phone.dial("610")
        for phone in phones.values():
            await phone.wait_event("CALL_CLOSED", within=60)
    finally:
        for phone in phones.values():
            await phone.stop()
    for user, phone in phones.items():
        assert [(f.position, f.expected_wait_s) for f in announced[user]] == [
            (position, minutes * 60.0) for position, minutes in PLAN[user]]
        heard = load_8k(phone.received_wav())
        offset = 0
        for position, minutes in PLAN[user]:
            for name in HEARD[position, minutes]:
                audio = await expected_audio(parley, name)
                trim = min(400, len(audio) // 8)
                reference = audio[trim:len(audio) - trim]
                # the next prompt follows within a few seconds (speech is made first)
                window = heard[offset:offset + len(reference) + 8000 * 4]
                match = find(reference, window)
                assert match.correlation > 0.9, (user, position, minutes, name, match)
                offset += match.offset + len(reference)
