"""Which stock prompts say a number, an ordinal, a digit string, money or a duration.

English follows Asterisk's English ``SayNumber``/``SayDigits`` so that the Debian
``asterisk-core-sounds-en`` files line up: 1,234 is "digits/1 digits/thousand digits/2
digits/hundred digits/30 digits/4". Russian has its own grammar in :mod:`parley.media.say_ru`.
The result is a list of prompt names; the prompt library turns them into audio in the
caller's language. The ``say_*`` functions take the language ("en", "ru") and pick the rules.
"""

from __future__ import annotations

from parley.media import MediaError, say_ru

LANGUAGES = ("en", "ru")
"""The languages whose grammar ``say`` knows."""

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


def ordinal_prompts(number: int) -> list[str]:
    """An English ordinal, 1 to 999: 22 is "twenty second" (digits/20 digits/h-2)."""
    if not 1 <= number <= 999:
        raise MediaError(f"cannot say the ordinal {number}: 1 to 999 are supported")
    hundreds, rest = divmod(number, 100)
    names = [f"digits/{hundreds}"] if hundreds else []
    if rest == 0:
        return [*names, "digits/h-hundred"]
    if hundreds:
        names.append("digits/hundred")
    if rest < 20 or rest % 10 == 0:
        return [*names, f"digits/h-{rest}"]
    return [*names, f"digits/{rest - rest % 10}", f"digits/h-{rest % 10}"]


def money_prompts(amount: str) -> list[str]:
    """A sum in dollars, English: "12.50" is "twelve dollars fifty" (the stock prompts have
    "dollars" and no "cents")."""
    major, minor = say_ru.split_amount(amount)
    names = [*number_prompts(major), "digits/dollars"]
    if minor:
        names += number_prompts(minor)
    return names


def check_language(language: str) -> str:
    """``language`` when ``say`` knows its grammar, else a clear error."""
    if language not in LANGUAGES:
        raise MediaError(f"no number grammar for language {language!r} "
                         f"(known: {', '.join(LANGUAGES)})")
    return language


def say_number(number: int, language: str = "en", gender: str = "m") -> list[str]:
    """A cardinal in ``language``; ``gender`` (m, f, n) matters in Russian only."""
    if check_language(language) == "ru":
        return say_ru.number_prompts(number, say_ru.Gender(gender))
    return number_prompts(number)


def say_ordinal(number: int, language: str = "en") -> list[str]:
    """An ordinal ("22nd", "двадцать второй") in ``language``."""
    if check_language(language) == "ru":
        return say_ru.ordinal_prompts(number)
    return ordinal_prompts(number)


def say_digits(digits: str, language: str = "en") -> list[str]:
    """Digits one by one; both packages name them alike (digits/5, digits/star, letters/a)."""
    check_language(language)
    return digit_prompts(digits)


def say_duration(seconds: float, language: str = "en") -> list[str]:
    """A duration in ``language`` (Russian with its plural forms: 2 минуты, 5 минут)."""
    if check_language(language) == "ru":
        return say_ru.duration_prompts(seconds)
    return duration_prompts(seconds)


def say_money(amount: str, language: str = "en") -> list[str]:
    """A sum of money: dollars in English, roubles and kopecks in Russian."""
    if check_language(language) == "ru":
        return say_ru.money_prompts(amount)
    return money_prompts(amount)


def say_value(kind: str, value: str, language: str = "en") -> list[str]:
    """What the IVR's ``say`` plays for a value of ``kind`` (number, ordinal, digits,
    duration, money)."""
    if kind == "digits":
        return say_digits(value, language)
    if kind == "duration":
        return say_duration(float(value), language)
    if kind == "money":
        return say_money(value, language)
    if kind == "ordinal":
        return say_ordinal(int(float(value)), language)
    return say_number(int(float(value)), language)
