"""Telephone numbers: E.164 normalisation, the kind of an outside number and the form a
carrier wants it in. Pure: no I/O, only ``phonenumbers``' metadata.

A carrier may write the same number three ways (``8 495 123-45-67``, ``+74951234567``,
``74951234567``); with the site's default region (``site.default_region``) each becomes
``+74951234567``, so that numbers, number lists, customer cards and history match. Short
internal numbers (``600``, ``1001``) and anything that is not a valid phone number stay as
they are: the dial plan matches extensions and the site's own numbers first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

_SEPARATORS = re.compile(r"[\s().\-/]")
_DIALLABLE = re.compile(r"^\+?[0-9]+$")


class NumberFormat(StrEnum):
    """How a trunk wants the called number (``trunks[].number_format``)."""

    E164 = "e164"  # +74951234567
    INTERNATIONAL = "international"  # 74951234567: country code, no plus
    NATIONAL = "national"  # 84951234567 as dialled in the site's country (810… abroad)


class DestinationKind(StrEnum):
    """What an outside number costs, for the outside-line right (see :class:`LineRight`)."""

    NATIONAL = "national"  # the site's own country
    INTERNATIONAL = "international"  # another country
    PREMIUM = "premium"  # premium-rate numbers, here or abroad


class LineRight(StrEnum):
    """How far a user may call outside: each right includes the ones before it."""

    NONE = "none"
    NATIONAL = "national"
    INTERNATIONAL = "international"
    ALL = "all"  # premium-rate numbers too

    @property
    def rank(self) -> int:
        return list(LineRight).index(self)

    def allows(self, kind: DestinationKind) -> bool:
        needed = {DestinationKind.NATIONAL: LineRight.NATIONAL,
                  DestinationKind.INTERNATIONAL: LineRight.INTERNATIONAL,
                  DestinationKind.PREMIUM: LineRight.ALL}[kind]
        return self.rank >= needed.rank


def valid_region(region: str) -> bool:
    """Whether ``region`` is a region code ``phonenumbers`` knows (``RU``, ``GB``, ``US``)."""
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def clean(text: str) -> str:
    """``text`` without the spaces, dashes, dots, slashes and brackets people write."""
    return _SEPARATORS.sub("", text.strip())


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return None


def to_e164(text: str, region: str | None) -> str | None:
    """``text`` as an E.164 number (``+74951234567``), or None when it is not a valid phone
    number (a short number, a name, a number with no country code and no ``region``)."""
    cleaned = clean(text)
    if not _DIALLABLE.match(cleaned):
        return None
    parsed = _parse(cleaned, region)
    if parsed is None:
        return None
    if phonenumbers.is_valid_number(parsed) or (
            cleaned.startswith("+") and phonenumbers.is_possible_number(parsed)):
        return str(phonenumbers.format_number(parsed, PhoneNumberFormat.E164))
    return None


@dataclass(frozen=True)
class Numbering:
    """The site's numbering: its default region (None: numbers must carry their country
    code) and what a number means here."""

    region: str | None = None

    def normalise(self, text: str, keep: Callable[[str], bool] | None = None) -> str:
        """E.164 for a phone number written any way; ``text`` unchanged when ``keep`` says it
        is the site's own (an extension, a number the site routes) or when it is not a phone
        number at all (``600``, ``anonymous``)."""
        if keep is not None and keep(text):
            return text
        return to_e164(text, self.region) or text

    def is_outside(self, number: str) -> bool:
        """Whether ``number`` (already normalised) is a phone number beyond the site."""
        return number.startswith("+") and _DIALLABLE.match(number) is not None

    def kind(self, e164: str) -> DestinationKind:
        """National, international or premium-rate, seen from the site's region (every
        number is international when the site has no region)."""
        parsed = _parse(e164, None)
        if parsed is not None and phonenumbers.number_type(parsed) in (
                PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST):
            return DestinationKind.PREMIUM
        if parsed is not None and self.region is not None and \
                parsed.country_code == phonenumbers.country_code_for_region(self.region.upper()):
            return DestinationKind.NATIONAL
        return DestinationKind.INTERNATIONAL

    def format(self, e164: str, number_format: NumberFormat) -> str:
        """``e164`` as a trunk wants it (see :class:`NumberFormat`); a number that does not
        parse is passed unchanged."""
        if number_format is NumberFormat.E164:
            return e164
        parsed = _parse(e164, None)
        if parsed is None:
            return e164
        if number_format is NumberFormat.INTERNATIONAL:
            return e164.removeprefix("+")
        region = self.region.upper() if self.region else None
        if region is not None and \
                parsed.country_code == phonenumbers.country_code_for_region(region):
            text = phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
        elif region is not None:
            text = phonenumbers.format_out_of_country_calling_number(parsed, region)
        else:
            return e164.removeprefix("+")
        return "".join(ch for ch in str(text) if ch.isdigit())


def manipulate(number: str, *, strip: int = 0, prepend: str = "") -> str:
    """Drop ``strip`` leading characters, then put ``prepend`` in front (a carrier's tech
    prefix, an access code)."""
    return prepend + number[strip:]


__all__ = ["DestinationKind", "LineRight", "NumberFormat", "Numbering", "clean", "manipulate",
           "to_e164", "valid_region"]
