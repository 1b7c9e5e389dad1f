"""What a waiting caller hears: the position and the expected wait, per language.

English says how many calls are ahead ("there are 2 calls waiting"); the Russian prompts say
the caller's own place ("Ваша позиция в очереди"), and the wait in the accusative after
"составляет" (одну минуту, две минуты, пять минут). Pure: lists of prompt names.
"""

from __future__ import annotations

import math

from parley.media import say_ru
from parley.media.say import number_prompts

__all__ = ["position_prompts", "wait_prompts"]


def position_prompts(position: int, language: str | None = None) -> list[str]:
    """ "You are next", or "there are N calls waiting" ahead of the caller; in Russian
    "Ваш звонок является первым в очереди…" or "Ваша позиция в очереди: N. Ожидайте,
    пожалуйста, ответа оператора" (the Russian prompts say the caller's own place)."""
    if position <= 1:
        return ["queue-youarenext"]
    if language == "ru":
        return ["queue-thereare", *say_ru.number_prompts(position), "queue-callswaiting"]
    return ["queue-thereare", *number_prompts(position - 1), "queue-callswaiting"]


def wait_prompts(expected_wait_s: float, language: str | None = None) -> list[str]:
    """ "The estimated hold time is currently N minutes" (less than one, or rounded up); in
    Russian "прогнозируемое время ожидания составляет одну минуту / две минуты / пять
    минут" (accusative after "составляет"; under a minute is said as one)."""
    if language == "ru":
        minutes = max(1, math.ceil(expected_wait_s / 60))
        return ["queue-holdtime", *say_ru.minutes_prompts(minutes, say_ru.Case.ACCUSATIVE)]
    if expected_wait_s < 60:
        return ["queue-holdtime", "queue-less-than", *number_prompts(1), "queue-minute"]
    minutes = math.ceil(expected_wait_s / 60)
    return ["queue-holdtime", *number_prompts(minutes),
            "queue-minute" if minutes == 1 else "queue-minutes"]
