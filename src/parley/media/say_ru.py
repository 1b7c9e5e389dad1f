"""Which prompts say a number, an ordinal, a duration or a sum of money, in Russian.

Russian numerals agree with the noun they count: the gender of "one" and "two" (один минут…,
одна минута, одно сообщение; два / две), the case (accusative "одну минуту" after
"составляет"), and the noun takes one of three forms after the number (1 минута, 2 минуты,
5 минут; 21 минута, 22 минуты, 25 минут, 11-14 минут).

The words come from Debian's ``asterisk-core-sounds-ru-wav`` (the IvrvoiceRU voice, folder
``ru_RU_f_IvrvoiceRU``); what each file says is in the package's upstream transcript,
``core-sounds-ru.txt``. Some of its files carry other words than the English ones of the same
name: ``digits/h-thousand`` says "тысячи", ``digits/h-million`` "миллиона", ``digits/h-billion``
"миллиардов", ``digits/1n`` "одно" and ``digits/2n`` "два". The package lacks some forms the
grammar needs (одна, две, одну, двести … девятьсот, тысяч, миллионов, минуты, секунда …):
those words have names of their own, listed in :data:`NOT_SHIPPED` with their text, which a
site records in its Russian prompt folder; until it does, the prompt library speaks them
with the Russian text-to-speech voice, so a caller never hears a gap.
"""

from __future__ import annotations

from enum import StrEnum

from parley.media import MediaError


class Gender(StrEnum):
    """The grammatical gender a number agrees with."""

    MASCULINE = "m"
    FEMININE = "f"
    NEUTER = "n"


class Case(StrEnum):
    """The grammatical case of a counted phrase (only these two are said by telephony)."""

    NOMINATIVE = "nom"
    ACCUSATIVE = "acc"


class Plural(StrEnum):
    """The three forms a Russian noun takes after a number."""

    ONE = "one"  # 1, 21, 101 минута
    FEW = "few"  # 2-4, 22-24 минуты
    MANY = "many"  # 0, 5-20, 25-30, 11-14 минут


NOT_SHIPPED: dict[str, str] = {
    "digits/1f": "одна",
    "digits/1f-acc": "одну",
    "digits/2f": "две",
    "digits/200": "двести",
    "digits/300": "триста",
    "digits/400": "четыреста",
    "digits/500": "пятьсот",
    "digits/600": "шестьсот",
    "digits/700": "семьсот",
    "digits/800": "восемьсот",
    "digits/900": "девятьсот",
    "digits/h-100": "сотый",
    "digits/thousand-acc": "тысячу",
    "digits/thousands": "тысяч",
    "digits/millions": "миллионов",
    "digits/billion-a": "миллиарда",
    "queue-minute-acc": "минуту",
    "queue-minutex1": "минуты",
    "queue-second": "секунда",
    "queue-second-acc": "секунду",
    "queue-secondx1": "секунды",
    "hour": "час",
    "hourx1": "часа",
    "money/ruble": "рубль",
    "money/rublex1": "рубля",
    "money/rublex2": "рублей",
    "money/kopeck": "копейка",
    "money/kopeck-acc": "копейку",
    "money/kopeckx1": "копейки",
    "money/kopeckx2": "копеек",
    "money/dollar": "доллар",
    "money/dollarx1": "доллара",
    "money/cent": "цент",
    "money/centx1": "цента",
    "money/centx2": "центов",
}
"""Words the Russian grammar needs that Debian's package does not ship: prompt name -> text
(record ``<name>.wav`` in the site's Russian prompt folder to replace the spoken fallback)."""

# A noun's forms: (one nominative, one accusative, few, many).
_Noun = tuple[str, str, str, str]
MINUTE: _Noun = ("queue-minute", "queue-minute-acc", "queue-minutex1", "queue-minutes")
SECOND: _Noun = ("queue-second", "queue-second-acc", "queue-secondx1", "queue-seconds")
HOUR: _Noun = ("hour", "hour", "hourx1", "hours")
RUBLE: _Noun = ("money/ruble", "money/ruble", "money/rublex1", "money/rublex2")
KOPECK: _Noun = ("money/kopeck", "money/kopeck-acc", "money/kopeckx1", "money/kopeckx2")
DOLLAR: _Noun = ("money/dollar", "money/dollar", "money/dollarx1", "digits/dollars")
CENT: _Noun = ("money/cent", "money/cent", "money/centx1", "money/centx2")
_CURRENCIES: dict[str, tuple[_Noun, Gender, _Noun, Gender]] = {
    "RUB": (RUBLE, Gender.MASCULINE, KOPECK, Gender.FEMININE),
    "USD": (DOLLAR, Gender.MASCULINE, CENT, Gender.MASCULINE),
}
# Scales: (value, forms one/few/many, gender of the count before them).
_THOUSAND = ("digits/thousand", "digits/h-thousand", "digits/thousands")
_MILLION = ("digits/million", "digits/h-million", "digits/millions")
_BILLION = ("digits/billion", "digits/billion-a", "digits/h-billion")
_SCALES = ((1_000_000_000, _BILLION, Gender.MASCULINE),
           (1_000_000, _MILLION, Gender.MASCULINE),
           (1_000, _THOUSAND, Gender.FEMININE))


def plural(number: int) -> Plural:
    """Which form a noun takes after ``number`` (1 минута, 2 минуты, 5 минут)."""
    number = abs(number)
    if number % 10 == 1 and number % 100 != 11:
        return Plural.ONE
    if number % 10 in (2, 3, 4) and number % 100 not in (12, 13, 14):
        return Plural.FEW
    return Plural.MANY


def _unit(digit: int, gender: Gender, case: Case) -> str:
    if digit == 1:
        if gender is Gender.FEMININE:
            return "digits/1f-acc" if case is Case.ACCUSATIVE else "digits/1f"
        return "digits/1n" if gender is Gender.NEUTER else "digits/1"
    if digit == 2:
        if gender is Gender.FEMININE:
            return "digits/2f"
        return "digits/2n" if gender is Gender.NEUTER else "digits/2"
    return f"digits/{digit}"


def _below_thousand(number: int, gender: Gender, case: Case) -> list[str]:
    names: list[str] = []
    hundreds, rest = divmod(number, 100)
    if hundreds == 1:
        names.append("digits/hundred")
    elif hundreds:
        names.append(f"digits/{hundreds * 100}")
    if rest >= 20:
        names.append(f"digits/{rest - rest % 10}")
        rest %= 10
    if rest >= 3:
        names.append(f"digits/{rest}")
    elif rest:
        names.append(_unit(rest, gender, case))
    return names


def number_prompts(number: int, gender: Gender = Gender.MASCULINE,
                   case: Case = Case.NOMINATIVE) -> list[str]:
    """A cardinal number agreeing with a noun of ``gender`` in ``case``: 21 feminine is
    "двадцать одна", 2 feminine "две", 1 feminine accusative "одну"; 1000 is "тысяча"."""
    if number < 0:
        return ["digits/minus", *number_prompts(-number, gender, case)]
    if number == 0:
        return ["digits/0"]
    if number >= 1_000_000_000_000:
        raise MediaError(f"cannot say {number}: numbers up to 999 999 999 999 are supported")
    names: list[str] = []
    rest = number
    for scale, forms, scale_gender in _SCALES:
        count, rest = divmod(rest, scale)
        if not count:
            continue
        scale_case = case if scale_gender is Gender.FEMININE else Case.NOMINATIVE
        form = plural(count)
        if count == 1:  # "тысяча", "миллион": the one is not said
            words: list[str] = []
        else:
            words = _below_thousand(count, scale_gender, scale_case)
        if form is Plural.ONE:
            word = forms[0]
            if forms is _THOUSAND and scale_case is Case.ACCUSATIVE:
                word = "digits/thousand-acc"
        elif form is Plural.FEW:
            word = forms[1]
        else:
            word = forms[2]
        names += [*words, word]
    names += _below_thousand(rest, gender, case)
    return names


def ordinal_prompts(number: int) -> list[str]:
    """A masculine ordinal in the nominative, 1 to 999: 22 is "двадцать второй" (the last
    word is the ordinal, the ones before it stay cardinal), 101 "сто первый"."""
    if not 1 <= number <= 999:
        raise MediaError(f"cannot say the ordinal {number}: 1 to 999 are supported")
    hundreds, rest = divmod(number, 100)
    if rest == 0:
        if hundreds == 1:
            return ["digits/h-100"]
        raise MediaError(f"cannot say the ordinal {number}: round hundreds past the first "
                         "have no prompt")
    names = _below_thousand(hundreds * 100, Gender.MASCULINE, Case.NOMINATIVE)
    if rest < 20 or rest % 10 == 0:
        return [*names, f"digits/h-{rest}"]
    return [*names, f"digits/{rest - rest % 10}", f"digits/h-{rest % 10}"]


def counted_prompts(number: int, noun: _Noun, gender: Gender,
                    case: Case = Case.NOMINATIVE) -> list[str]:
    """A number and the noun it counts, agreeing: (2, MINUTE) is "две минуты"."""
    form = plural(number)
    if form is Plural.ONE:
        word = noun[1] if case is Case.ACCUSATIVE else noun[0]
    elif form is Plural.FEW:
        word = noun[2]
    else:
        word = noun[3]
    return [*number_prompts(number, gender, case), word]


def duration_prompts(seconds: float, case: Case = Case.NOMINATIVE) -> list[str]:
    """Hours, minutes and seconds: 125 s is "две минуты пять секунд"; 0 s "ноль секунд"."""
    if seconds < 0:
        raise MediaError(f"cannot say a negative duration ({seconds} s)")
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    names: list[str] = []
    if hours:
        names += counted_prompts(hours, HOUR, Gender.MASCULINE, case)
    if minutes:
        names += counted_prompts(minutes, MINUTE, Gender.FEMININE, case)
    if secs or not total:
        names += counted_prompts(secs, SECOND, Gender.FEMININE, case)
    return names


def minutes_prompts(minutes: int, case: Case = Case.NOMINATIVE) -> list[str]:
    """A whole number of minutes: 1 "одна минута" (accusative "одну минуту"), 5 "пять минут"."""
    if minutes < 0:
        raise MediaError(f"cannot say a negative number of minutes ({minutes})")
    return counted_prompts(minutes, MINUTE, Gender.FEMININE, case)


def money_prompts(amount: str, currency: str = "RUB") -> list[str]:
    """A sum of money: "21.02" RUB is "двадцать один рубль две копейки"; whole sums name no
    kopecks."""
    if currency not in _CURRENCIES:
        raise MediaError(f"cannot say money in {currency!r}: {', '.join(_CURRENCIES)} are "
                         "supported")
    major_noun, major_gender, minor_noun, minor_gender = _CURRENCIES[currency]
    major, minor = split_amount(amount)
    names: list[str] = []
    if major < 0:
        names.append("digits/minus")
        major = -major
    if major or not minor:
        names += counted_prompts(major, major_noun, major_gender)
    if minor:
        names += counted_prompts(minor, minor_noun, minor_gender)
    return names


def split_amount(amount: str) -> tuple[int, int]:
    """ "12.5" -> (12, 50): whole units and hundredths; a clear error for anything else."""
    text = amount.strip().replace(",", ".")
    sign = -1 if text.startswith("-") else 1
    whole, _, fraction = text.lstrip("+-").partition(".")
    if (not whole.isdigit() and not (whole == "" and fraction)) \
            or (fraction and (not fraction.isdigit() or len(fraction) > 2)):
        raise MediaError(f"cannot say the amount {amount!r}: write it as 123 or 123.45")
    return sign * int(whole or "0"), int(fraction.ljust(2, "0")) if fraction else 0
