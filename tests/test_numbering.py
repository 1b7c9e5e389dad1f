"""The numbering core: numbers written any way become E.164; short ones stay as they are."""

from __future__ import annotations

import pytest

from parley.numbering import (
    DestinationKind,
    LineRight,
    NumberFormat,
    Numbering,
    manipulate,
    to_e164,
    valid_region,
)

RU = Numbering("RU")


@pytest.mark.parametrize(("written", "expected"), [
    ("8 495 123-45-67", "+74951234567"),
    ("+74951234567", "+74951234567"),
    ("74951234567", "+74951234567"),
    ("84951110000", "+74951110000"),
    ("+7 (495) 111-00-00", "+74951110000"),
    ("810 44 20 7946 0958", "+442079460958"),  # the Russian international prefix
    ("+44 20 7946 0958", "+442079460958"),
    ("600", "600"),  # short internal numbers stay
    ("1001", "1001"),
    ("112", "112"),
    ("anonymous", "anonymous"),
    ("", ""),
])
def test_numbers_written_any_way_become_e164(written: str, expected: str) -> None:
    assert RU.normalise(written) == expected


def test_without_a_region_only_numbers_with_a_country_code_are_e164() -> None:
    plain = Numbering(None)
    assert plain.normalise("84951234567") == "84951234567"
    assert plain.normalise("+7 495 123 45 67") == "+74951234567"


def test_the_sites_own_numbers_are_kept_as_written() -> None:
    own = {"74951110000"}
    assert RU.normalise("74951110000", keep=own.__contains__) == "74951110000"
    assert RU.normalise("84951110000", keep=own.__contains__) == "+74951110000"


def test_to_e164_says_none_for_what_is_not_a_phone_number() -> None:
    assert to_e164("1001", "RU") is None
    assert to_e164("sip:alice", "RU") is None
    assert to_e164("+74951234567", None) == "+74951234567"


@pytest.mark.parametrize(("number", "kind"), [
    ("+74951234567", DestinationKind.NATIONAL),
    ("+79161234567", DestinationKind.NATIONAL),  # a mobile
    ("+78091234567", DestinationKind.PREMIUM),  # 809: premium rate in Russia
    ("+442079460958", DestinationKind.INTERNATIONAL),
])
def test_outside_numbers_are_national_international_or_premium(number: str,
                                                                kind: DestinationKind) -> None:
    assert RU.kind(number) is kind


def test_every_number_is_international_for_a_site_without_region() -> None:
    assert Numbering(None).kind("+74951234567") is DestinationKind.INTERNATIONAL


@pytest.mark.parametrize(("right", "allowed"), [
    (LineRight.NONE, set()),
    (LineRight.NATIONAL, {DestinationKind.NATIONAL}),
    (LineRight.INTERNATIONAL, {DestinationKind.NATIONAL, DestinationKind.INTERNATIONAL}),
    (LineRight.ALL, set(DestinationKind)),
])
def test_each_right_includes_the_ones_before(right: LineRight,
                                             allowed: set[DestinationKind]) -> None:
    assert {kind for kind in DestinationKind if right.allows(kind)} == allowed


@pytest.mark.parametrize(("number", "number_format", "expected"), [
    ("+74951234567", NumberFormat.E164, "+74951234567"),
    ("+74951234567", NumberFormat.INTERNATIONAL, "74951234567"),
    ("+74951234567", NumberFormat.NATIONAL, "84951234567"),
    ("+442079460958", NumberFormat.NATIONAL, "810442079460958"),
    ("+442079460958", NumberFormat.INTERNATIONAL, "442079460958"),
])
def test_a_number_in_the_form_a_trunk_wants(number: str, number_format: NumberFormat,
                                            expected: str) -> None:
    assert RU.format(number, number_format) == expected


@pytest.mark.parametrize(("number", "strip", "prepend", "expected"), [
    ("84951234567", 0, "", "84951234567"),
    ("84951234567", 1, "", "4951234567"),
    ("84951234567", 1, "9", "94951234567"),
    ("+74951234567", 0, "1234#", "1234#+74951234567"),
])
def test_strip_then_prepend(number: str, strip: int, prepend: str, expected: str) -> None:
    assert manipulate(number, strip=strip, prepend=prepend) == expected


def test_region_codes() -> None:
    assert valid_region("RU")
    assert valid_region("gb")
    assert not valid_region("XX")
