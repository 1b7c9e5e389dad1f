"""Russian ``say``: numbers, ordinals, durations and money against prompt sequences written
by hand from the grammar (d/ stands for digits/; the words are in the comments)."""

from __future__ import annotations

import pytest

from parley.media import MediaError, say_ru
from parley.media.say import say_value
from parley.media.say_ru import NOT_SHIPPED, Case, Gender, Plural
from parley.testing.needs import RU_STOCK_PROMPTS as RU_PROMPTS
from parley.testing.needs import RU_STOCK_PROMPTS_DIR as RU
from parley.testing.needs import require


def _names(expected: str) -> list[str]:
    return [("digits/" + word[2:]) if word.startswith("d/") else word
            for word in expected.split()]


M, F, N = Gender.MASCULINE, Gender.FEMININE, Gender.NEUTER
NOM, ACC = Case.NOMINATIVE, Case.ACCUSATIVE

CARDINALS = [
    (0, M, NOM, "d/0"),                                    # ноль
    (1, M, NOM, "d/1"),                                    # один
    (1, F, NOM, "d/1f"),                                   # одна
    (1, N, NOM, "d/1n"),                                   # одно
    (1, F, ACC, "d/1f-acc"),                               # одну
    (1, M, ACC, "d/1"),                                    # один (inanimate)
    (1, N, ACC, "d/1n"),                                   # одно
    (2, M, NOM, "d/2"),                                    # два
    (2, F, NOM, "d/2f"),                                   # две
    (2, N, NOM, "d/2n"),                                   # два
    (2, F, ACC, "d/2f"),                                   # две
    (3, M, NOM, "d/3"), (3, F, NOM, "d/3"), (3, N, NOM, "d/3"),
    (4, M, NOM, "d/4"), (4, F, ACC, "d/4"),
    (5, M, NOM, "d/5"), (5, F, NOM, "d/5"),
    (6, M, NOM, "d/6"), (7, F, NOM, "d/7"), (8, N, NOM, "d/8"), (9, M, NOM, "d/9"),
    (10, M, NOM, "d/10"), (10, F, NOM, "d/10"),
    (11, M, NOM, "d/11"), (11, F, NOM, "d/11"), (11, F, ACC, "d/11"),
    (12, M, NOM, "d/12"), (12, F, NOM, "d/12"),
    (13, M, NOM, "d/13"), (14, F, NOM, "d/14"), (15, M, NOM, "d/15"),
    (16, M, NOM, "d/16"), (17, F, NOM, "d/17"), (18, N, NOM, "d/18"), (19, M, NOM, "d/19"),
    (20, M, NOM, "d/20"), (20, F, NOM, "d/20"),
    (21, M, NOM, "d/20 d/1"),                              # двадцать один
    (21, F, NOM, "d/20 d/1f"),                             # двадцать одна
    (21, F, ACC, "d/20 d/1f-acc"),                         # двадцать одну
    (21, N, NOM, "d/20 d/1n"),                             # двадцать одно
    (22, M, NOM, "d/20 d/2"),                              # двадцать два
    (22, F, NOM, "d/20 d/2f"),                             # двадцать две
    (22, N, NOM, "d/20 d/2n"),
    (23, F, NOM, "d/20 d/3"), (24, M, NOM, "d/20 d/4"), (25, F, NOM, "d/20 d/5"),
    (29, M, NOM, "d/20 d/9"),
    (30, M, NOM, "d/30"), (31, F, NOM, "d/30 d/1f"), (32, F, NOM, "d/30 d/2f"),
    (33, M, NOM, "d/30 d/3"),
    (40, M, NOM, "d/40"), (41, M, NOM, "d/40 d/1"), (42, F, ACC, "d/40 d/2f"),
    (45, F, NOM, "d/40 d/5"),
    (50, M, NOM, "d/50"), (51, N, NOM, "d/50 d/1n"), (56, M, NOM, "d/50 d/6"),
    (60, M, NOM, "d/60"), (61, F, ACC, "d/60 d/1f-acc"), (67, M, NOM, "d/60 d/7"),
    (70, M, NOM, "d/70"), (72, M, NOM, "d/70 d/2"), (78, F, NOM, "d/70 d/8"),
    (80, M, NOM, "d/80"), (81, M, NOM, "d/80 d/1"), (89, M, NOM, "d/80 d/9"),
    (90, M, NOM, "d/90"), (92, F, NOM, "d/90 d/2f"), (99, M, NOM, "d/90 d/9"),
    (100, M, NOM, "d/hundred"),                            # сто
    (101, M, NOM, "d/hundred d/1"),                        # сто один
    (101, F, NOM, "d/hundred d/1f"),                       # сто одна
    (102, F, NOM, "d/hundred d/2f"),                       # сто две
    (110, M, NOM, "d/hundred d/10"),
    (111, M, NOM, "d/hundred d/11"),
    (115, F, NOM, "d/hundred d/15"),
    (120, M, NOM, "d/hundred d/20"),
    (121, F, ACC, "d/hundred d/20 d/1f-acc"),              # сто двадцать одну
    (199, M, NOM, "d/hundred d/90 d/9"),
    (200, M, NOM, "d/200"),                                # двести
    (201, M, NOM, "d/200 d/1"),
    (212, M, NOM, "d/200 d/12"),
    (222, F, NOM, "d/200 d/20 d/2f"),                      # двести двадцать две
    (300, M, NOM, "d/300"), (345, M, NOM, "d/300 d/40 d/5"),
    (400, M, NOM, "d/400"), (401, N, NOM, "d/400 d/1n"),
    (500, M, NOM, "d/500"), (555, M, NOM, "d/500 d/50 d/5"),
    (600, M, NOM, "d/600"), (700, M, NOM, "d/700"), (800, M, NOM, "d/800"),
    (900, M, NOM, "d/900"), (999, M, NOM, "d/900 d/90 d/9"),
    (1000, M, NOM, "d/thousand"),                          # тысяча
    (1000, F, ACC, "d/thousand-acc"),                      # (составляет) тысячу
    (1001, M, NOM, "d/thousand d/1"),                      # тысяча один
    (1001, F, NOM, "d/thousand d/1f"),
    (1010, M, NOM, "d/thousand d/10"),
    (1100, M, NOM, "d/thousand d/hundred"),
    (1234, M, NOM, "d/thousand d/200 d/30 d/4"),
    (2000, M, NOM, "d/2f d/h-thousand"),                   # две тысячи
    (2001, M, NOM, "d/2f d/h-thousand d/1"),
    (2022, M, NOM, "d/2f d/h-thousand d/20 d/2"),
    (2026, M, NOM, "d/2f d/h-thousand d/20 d/6"),
    (3000, M, NOM, "d/3 d/h-thousand"),                    # три тысячи
    (4000, M, NOM, "d/4 d/h-thousand"),                    # четыре тысячи
    (5000, M, NOM, "d/5 d/thousands"),                     # пять тысяч
    (9999, M, NOM, "d/9 d/thousands d/900 d/90 d/9"),
    (10000, M, NOM, "d/10 d/thousands"),
    (11000, M, NOM, "d/11 d/thousands"),                   # одиннадцать тысяч
    (12000, M, NOM, "d/12 d/thousands"),                   # двенадцать тысяч
    (14000, M, NOM, "d/14 d/thousands"),
    (20000, M, NOM, "d/20 d/thousands"),
    (21000, M, NOM, "d/20 d/1f d/thousand"),               # двадцать одна тысяча
    (21000, M, ACC, "d/20 d/1f-acc d/thousand-acc"),       # двадцать одну тысячу
    (22000, M, NOM, "d/20 d/2f d/h-thousand"),             # двадцать две тысячи
    (25000, M, NOM, "d/20 d/5 d/thousands"),
    (100000, M, NOM, "d/hundred d/thousands"),             # сто тысяч
    (101000, M, NOM, "d/hundred d/1f d/thousand"),         # сто одна тысяча
    (111000, M, NOM, "d/hundred d/11 d/thousands"),
    (102000, M, NOM, "d/hundred d/2f d/h-thousand"),
    (500000, M, NOM, "d/500 d/thousands"),
    (1000000, M, NOM, "d/million"),                        # миллион
    (1000001, F, NOM, "d/million d/1f"),
    (2000000, M, NOM, "d/2 d/h-million"),                  # два миллиона
    (4000000, M, NOM, "d/4 d/h-million"),
    (5000000, M, NOM, "d/5 d/millions"),                   # пять миллионов
    (11000000, M, NOM, "d/11 d/millions"),
    (21000000, M, NOM, "d/20 d/1 d/million"),              # двадцать один миллион
    (22000000, M, NOM, "d/20 d/2 d/h-million"),
    (1001000, M, NOM, "d/million d/thousand"),
    (2002002, F, NOM, "d/2 d/h-million d/2f d/h-thousand d/2f"),
    (1000000000, M, NOM, "d/billion"),                     # миллиард
    (2000000000, M, NOM, "d/2 d/billion-a"),               # два миллиарда
    (5000000000, M, NOM, "d/5 d/h-billion"),               # пять миллиардов
    (-1, M, NOM, "d/minus d/1"),
    (-2, F, NOM, "d/minus d/2f"),
    (-15, M, NOM, "d/minus d/15"),
    (-1000, M, NOM, "d/minus d/thousand"),
]

ORDINALS = [
    (1, "d/h-1"),                                          # первый
    (2, "d/h-2"),                                          # второй
    (3, "d/h-3"), (4, "d/h-4"), (5, "d/h-5"), (6, "d/h-6"), (7, "d/h-7"),
    (8, "d/h-8"), (9, "d/h-9"), (10, "d/h-10"), (11, "d/h-11"), (12, "d/h-12"),
    (13, "d/h-13"), (14, "d/h-14"), (15, "d/h-15"), (16, "d/h-16"), (17, "d/h-17"),
    (18, "d/h-18"), (19, "d/h-19"),
    (20, "d/h-20"),                                        # двадцатый
    (21, "d/20 d/h-1"),                                    # двадцать первый
    (22, "d/20 d/h-2"),                                    # двадцать второй
    (23, "d/20 d/h-3"), (29, "d/20 d/h-9"),
    (30, "d/h-30"), (31, "d/30 d/h-1"), (40, "d/h-40"), (44, "d/40 d/h-4"),
    (50, "d/h-50"), (55, "d/50 d/h-5"), (60, "d/h-60"), (66, "d/60 d/h-6"),
    (70, "d/h-70"), (77, "d/70 d/h-7"), (80, "d/h-80"), (88, "d/80 d/h-8"),
    (90, "d/h-90"), (99, "d/90 d/h-9"),
    (100, "d/h-100"),                                      # сотый
    (101, "d/hundred d/h-1"),                              # сто первый
    (111, "d/hundred d/h-11"),
    (120, "d/hundred d/h-20"),
    (122, "d/hundred d/20 d/h-2"),                         # сто двадцать второй
    (205, "d/200 d/h-5"),                                  # двести пятый
    (999, "d/900 d/90 d/h-9"),
]

PLURALS = [
    (0, Plural.MANY), (1, Plural.ONE), (2, Plural.FEW), (3, Plural.FEW), (4, Plural.FEW),
    (5, Plural.MANY), (10, Plural.MANY), (11, Plural.MANY), (12, Plural.MANY),
    (13, Plural.MANY), (14, Plural.MANY), (15, Plural.MANY), (20, Plural.MANY),
    (21, Plural.ONE), (22, Plural.FEW), (24, Plural.FEW), (25, Plural.MANY),
    (101, Plural.ONE), (111, Plural.MANY), (112, Plural.MANY), (122, Plural.FEW),
    (1001, Plural.ONE), (1011, Plural.MANY),
]

MINUTES = [
    (0, NOM, "d/0 queue-minutes"),                         # ноль минут
    (1, NOM, "d/1f queue-minute"),                         # одна минута
    (1, ACC, "d/1f-acc queue-minute-acc"),                 # одну минуту
    (2, NOM, "d/2f queue-minutex1"),                       # две минуты
    (2, ACC, "d/2f queue-minutex1"),                       # две минуты
    (3, NOM, "d/3 queue-minutex1"),
    (4, ACC, "d/4 queue-minutex1"),
    (5, NOM, "d/5 queue-minutes"),                         # пять минут
    (5, ACC, "d/5 queue-minutes"),
    (10, NOM, "d/10 queue-minutes"),
    (11, NOM, "d/11 queue-minutes"),                       # одиннадцать минут
    (12, ACC, "d/12 queue-minutes"),
    (14, NOM, "d/14 queue-minutes"),
    (20, NOM, "d/20 queue-minutes"),
    (21, NOM, "d/20 d/1f queue-minute"),                   # двадцать одна минута
    (21, ACC, "d/20 d/1f-acc queue-minute-acc"),           # двадцать одну минуту
    (22, NOM, "d/20 d/2f queue-minutex1"),                 # двадцать две минуты
    (25, NOM, "d/20 d/5 queue-minutes"),
    (30, ACC, "d/30 queue-minutes"),
    (31, NOM, "d/30 d/1f queue-minute"),
    (44, NOM, "d/40 d/4 queue-minutex1"),
    (59, NOM, "d/50 d/9 queue-minutes"),
    (60, NOM, "d/60 queue-minutes"),
    (90, ACC, "d/90 queue-minutes"),
    (101, NOM, "d/hundred d/1f queue-minute"),
    (111, NOM, "d/hundred d/11 queue-minutes"),
    (120, NOM, "d/hundred d/20 queue-minutes"),
]

DURATIONS = [
    (0, NOM, "d/0 queue-seconds"),                         # ноль секунд
    (1, NOM, "d/1f queue-second"),                         # одна секунда
    (1, ACC, "d/1f-acc queue-second-acc"),                 # одну секунду
    (2, NOM, "d/2f queue-secondx1"),                       # две секунды
    (5, NOM, "d/5 queue-seconds"),
    (11, NOM, "d/11 queue-seconds"),
    (21, NOM, "d/20 d/1f queue-second"),
    (22, NOM, "d/20 d/2f queue-secondx1"),
    (30, NOM, "d/30 queue-seconds"),
    (45, ACC, "d/40 d/5 queue-seconds"),
    (59.6, NOM, "d/1f queue-minute"),                      # rounds to one minute
    (60, NOM, "d/1f queue-minute"),
    (60, ACC, "d/1f-acc queue-minute-acc"),
    (61, NOM, "d/1f queue-minute d/1f queue-second"),
    (62, NOM, "d/1f queue-minute d/2f queue-secondx1"),
    (90, NOM, "d/1f queue-minute d/30 queue-seconds"),
    (120, NOM, "d/2f queue-minutex1"),
    (125, NOM, "d/2f queue-minutex1 d/5 queue-seconds"),   # две минуты пять секунд
    (300, NOM, "d/5 queue-minutes"),
    (305, NOM, "d/5 queue-minutes d/5 queue-seconds"),
    (660, NOM, "d/11 queue-minutes"),
    (1260, NOM, "d/20 d/1f queue-minute"),
    (1322, NOM, "d/20 d/2f queue-minutex1 d/2f queue-secondx1"),
    (3600, NOM, "d/1 hour"),                               # один час
    (3660, NOM, "d/1 hour d/1f queue-minute"),
    (7200, NOM, "d/2 hourx1"),                             # два часа
    (7322, NOM, "d/2 hourx1 d/2f queue-minutex1 d/2f queue-secondx1"),
    (18000, NOM, "d/5 hours"),                             # пять часов
    (18001, ACC, "d/5 hours d/1f-acc queue-second-acc"),
    (75600, NOM, "d/20 d/1 hour"),                         # двадцать один час
]

MONEY = [
    ("0", "RUB", "d/0 money/rublex2"),                     # ноль рублей
    ("1", "RUB", "d/1 money/ruble"),                       # один рубль
    ("2", "RUB", "d/2 money/rublex1"),                     # два рубля
    ("5", "RUB", "d/5 money/rublex2"),                     # пять рублей
    ("11", "RUB", "d/11 money/rublex2"),
    ("21", "RUB", "d/20 d/1 money/ruble"),                 # двадцать один рубль
    ("22", "RUB", "d/20 d/2 money/rublex1"),
    ("100", "RUB", "d/hundred money/rublex2"),
    ("1000", "RUB", "d/thousand money/rublex2"),           # тысяча рублей
    ("2000", "RUB", "d/2f d/h-thousand money/rublex2"),    # две тысячи рублей
    ("1500.50", "RUB", "d/thousand d/500 money/rublex2 d/50 money/kopeckx2"),
    ("0.01", "RUB", "d/1f money/kopeck"),                  # одна копейка
    ("0.02", "RUB", "d/2f money/kopeckx1"),                # две копейки
    ("0.5", "RUB", "d/50 money/kopeckx2"),                 # пятьдесят копеек
    ("21.21", "RUB", "d/20 d/1 money/ruble d/20 d/1f money/kopeck"),
    ("3,04", "RUB", "d/3 money/rublex1 d/4 money/kopeckx1"),
    ("-5", "RUB", "d/minus d/5 money/rublex2"),
    ("1", "USD", "d/1 money/dollar"),                      # один доллар
    ("3", "USD", "d/3 money/dollarx1"),                    # три доллара
    ("5", "USD", "d/5 digits/dollars"),                    # пять долларов (stock)
    ("12.25", "USD", "d/12 digits/dollars d/20 d/5 money/centx2"),
    ("1.01", "USD", "d/1 money/dollar d/1 money/cent"),    # один доллар один цент
    ("2.02", "USD", "d/2 money/dollarx1 d/2 money/centx1"),
]


@pytest.mark.parametrize(("number", "gender", "case", "expected"), CARDINALS)
def test_cardinal(number: int, gender: Gender, case: Case, expected: str) -> None:
    assert say_ru.number_prompts(number, gender, case) == _names(expected)


@pytest.mark.parametrize(("number", "expected"), ORDINALS)
def test_ordinal(number: int, expected: str) -> None:
    assert say_ru.ordinal_prompts(number) == _names(expected)


@pytest.mark.parametrize(("number", "form"), PLURALS)
def test_plural_form(number: int, form: Plural) -> None:
    assert say_ru.plural(number) is form


@pytest.mark.parametrize(("minutes", "case", "expected"), MINUTES)
def test_minutes(minutes: int, case: Case, expected: str) -> None:
    assert say_ru.minutes_prompts(minutes, case) == _names(expected)


@pytest.mark.parametrize(("seconds", "case", "expected"), DURATIONS)
def test_duration(seconds: float, case: Case, expected: str) -> None:
    assert say_ru.duration_prompts(seconds, case) == _names(expected)


@pytest.mark.parametrize(("amount", "currency", "expected"), MONEY)
def test_money(amount: str, currency: str, expected: str) -> None:
    assert say_ru.money_prompts(amount, currency) == _names(expected)


def test_table_has_at_least_200_cases() -> None:
    total = sum(map(len, (CARDINALS, ORDINALS, PLURALS, MINUTES, DURATIONS, MONEY)))
    assert total >= 200


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("number", "22", "d/20 d/2"),
    ("ordinal", "22", "d/20 d/h-2"),
    ("digits", "5*1#", "d/5 d/star d/1 d/pound"),
    ("duration", "125", "d/2f queue-minutex1 d/5 queue-seconds"),
    ("money", "2", "d/2 money/rublex1"),
])
def test_say_value_in_russian(kind: str, value: str, expected: str) -> None:
    assert say_value(kind, value, "ru") == _names(expected)


@pytest.mark.parametrize("call", [
    lambda: say_ru.number_prompts(10**12),
    lambda: say_ru.ordinal_prompts(0),
    lambda: say_ru.ordinal_prompts(1000),
    lambda: say_ru.ordinal_prompts(200),
    lambda: say_ru.duration_prompts(-1),
    lambda: say_ru.money_prompts("1.234"),
    lambda: say_ru.money_prompts("abc"),
    lambda: say_ru.money_prompts("1", "EUR"),
    lambda: say_value("number", "1", "de"),
])
def test_what_cannot_be_said_is_a_clear_error(call: object) -> None:
    with pytest.raises(MediaError):
        call()  # type: ignore[operator]


def _every_name() -> set[str]:
    names: set[str] = set()
    for number, gender, case, _ in CARDINALS:
        names.update(say_ru.number_prompts(number, gender, case))
    for number, _ in ORDINALS:
        names.update(say_ru.ordinal_prompts(number))
    for seconds, case, _ in DURATIONS:
        names.update(say_ru.duration_prompts(seconds, case))
    for amount, currency, _ in MONEY:
        names.update(say_ru.money_prompts(amount, currency))
    return names


def test_every_word_is_shipped_by_the_package_or_listed_as_not_shipped() -> None:
    """The grammar names only files Debian's package ships, or a word it lacks (listed with
    its text); nothing in between, and nothing listed as lacking that the package has."""
    require(RU_PROMPTS)
    for name in sorted(_every_name()):
        shipped = (RU / f"{name}.wav").is_file()
        assert shipped != (name in NOT_SHIPPED), name
    for name in NOT_SHIPPED:
        assert not (RU / f"{name}.wav").is_file(), name
