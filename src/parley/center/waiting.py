"""What a caller hears while waiting, and the voicemail: media steps over one channel.

While waiting: hold music of the queue's class; every ``announce_every_s`` the position and
the expected wait from the stock prompts ("there are 2 calls waiting", "the estimated hold
time is currently 3 minutes"); when the expected wait is over the queue's threshold, once,
"press 1 to be called back; you keep your place". Key presses are listened for all along.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from parley.center.ivr_shell import RECORDING_BEEP, hung_up, play_and_wait, record_until
from parley.clock import Clock
from parley.media.announce import position_prompts, wait_prompts
from parley.telephony.channel import Channel, ChannelError
from parley.telephony.media import LANGUAGE_VARIABLE, MediaItem, Speech

VOICEMAIL_GREETING = "vm-intro"  # the stock prompts a voicemail plays
VOICEMAIL_GOODBYE = "vm-goodbye"
CALLBACK_OFFER = Speech("To be called back as soon as an operator is free, press 1. "
                        "You keep your place in the queue.")
CALLBACK_CONFIRMED = Speech("Thank you. We will call you back as soon as an operator is free. "
                            "Goodbye.")
CALLBACK_REFUSED = Speech("Sorry, a call back is not possible right now. Please hold.")


@dataclass(frozen=True, slots=True)
class WaitingFigures:
    """Where a caller stands; ``expected_wait_s`` None when nobody serves the queue (the wait
    has no honest estimate: it is not announced, and a callback is offered)."""

    position: int
    expected_wait_s: float | None


async def wait_in_queue(channel: Channel, clock: Clock, *, music: str,
                        announce_every_s: float,
                        callback_offer_s: float | None,
                        figures: Callable[[], WaitingFigures | None],
                        on_announced: Callable[[WaitingFigures], None],
                        on_callback: Callable[[], bool]) -> None:
    """Hold music, announcements and the callback offer until cancelled (the call is
    connected) or the caller presses 1 for a callback (``on_callback`` returns True when the
    contact center took the request)."""
    offered = False

    async def say(items: list[MediaItem]) -> None:
        channel.stop_moh()
        await play_and_wait(channel, items)  # cancelled: the call is being connected
        if not channel.ended:
            channel.start_moh(music)

    try:
        channel.start_moh(music)
        next_announcement = clock.monotonic() + (announce_every_s if announce_every_s > 0
                                           else math.inf)
        while not channel.ended:
            current = figures()
            if current is None:  # ringing an operator: keep the music going
                await channel.wait_ended(0.5)
                continue
            wait = current.expected_wait_s
            if callback_offer_s is not None and not offered \
                    and (wait is None or wait > callback_offer_s):
                offered = True
                await say([CALLBACK_OFFER])
            if announce_every_s > 0 and clock.monotonic() >= next_announcement:
                next_announcement = clock.monotonic() + announce_every_s
                language = channel.variables.get(LANGUAGE_VARIABLE)
                await say([*position_prompts(current.position, language),
                           *([] if wait is None else wait_prompts(wait, language))])
                on_announced(current)
            pause = min(1.0, max(0.05, next_announcement - clock.monotonic()))
            if offered:
                digit = await channel.collect(1, timeout=pause, inter_digit_timeout=pause,
                                              terminators="")
                if digit == "1":
                    if on_callback():
                        return
                    await say([CALLBACK_REFUSED])
            else:
                await channel.wait_ended(pause)
    except ChannelError:
        return  # the caller hung up under us
    finally:
        if not channel.ended:
            with contextlib.suppress(ChannelError):
                channel.stop_moh()


async def leave_voicemail(channel: Channel, *, greeting: list[MediaItem], name: str,
                          on_recording: Callable[[], None],
                          max_seconds: float = 120.0) -> tuple[Path, float] | None:
    """Greet, beep, record until # or hang-up (``on_recording`` when it starts); the WAV and
    its length (None: nothing recorded because the caller left first)."""
    if channel.ended:
        return None
    if not channel.is_up:
        channel.answer()
    await play_and_wait(channel, [*greeting, RECORDING_BEEP])
    if hung_up(channel):
        return None
    on_recording()
    return await record_until(channel, name, max_seconds, "#")
