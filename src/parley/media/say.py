"""Which stock prompts say a number, a digit string or a duration, in English.

The rules follow Asterisk's English ``SayNumber``/``SayDigits`` so that the Debian
``asterisk-core-sounds-en`` files line up: 1,234 is "digits/1 digits/thousand digits/2
digits/hundred digits/30 digits/4". The result is a list of prompt names; the prompt library
turns them into audio.
"""

from __future__ import annotations

from parley.media import MediaError

_DIGIT_NAMES = {"*": "digits/star", "#": "digits/pound", "-": "digits/minus"}
_SCALES = ((1_000_000_000, "digits/billion"), (1_000_000, "digits/million"),
           (1_000, "digits/thousand"))


def number_prompts(number: int) -> list[str]:
    """The prompt names that say ``number`` ("twenty", "hundred", "thousand" …)."""
    if number < 0:
        return ["digits/minus", *number_prompts(-number)]
    if number == 0:
        return ["digits/0"]
    if number >= 1_000_000_000_000:
        raise MediaError(f"cannot say {number}: numbers up to 999,999,999,999 are supported")
    names: list[str] = []
    rest = number
    for scale, name in _SCALES:
        if rest >= scale:
            names += [*_below_thousand(rest // scale), name]
            rest %= scale
    names += _below_thousand(rest)
    return names


def _below_thousand(number: int) -> list[str]:
    names: list[str] = []
    if number >= 100:
        names += [f"digits/{number // 100}", "digits/hundred"]
        number %= 100
    if number >= 20:
        names.append(f"digits/{number - number % 10}")
        number %= 10
    if number:
        names.append(f"digits/{number}")
    return names


def digit_prompts(digits: str) -> list[str]:
    """One prompt per character: 0-9, ``*`` (star), ``#`` (pound), ``-`` and letters a-z."""
    names: list[str] = []
    for position, char in enumerate(digits):
        if char.isdigit() and char.isascii():
            names.append(f"digits/{char}")
        elif char in _DIGIT_NAMES:
            names.append(_DIGIT_NAMES[char])
        elif char.isascii() and char.isalpha():
            names.append(f"letters/{char.lower()}")
        elif char == " ":
            continue
        else:
            raise MediaError(f"cannot say character {char!r} at position {position} of "
                             f"{digits!r}: digits, *, #, - and letters are supported")
    return names


def duration_prompts(seconds: float) -> list[str]:
    """Minutes and seconds: 125 s is "2 minutes 5 seconds"; 0 s is "0 seconds"."""
    if seconds < 0:
        raise MediaError(f"cannot say a negative duration ({seconds} s)")
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    names: list[str] = []
    if minutes:
        names += [*number_prompts(minutes), "minute" if minutes == 1 else "minutes"]
    if secs or not minutes:
        names += [*number_prompts(secs), "second" if secs == 1 else "seconds"]
    return names
