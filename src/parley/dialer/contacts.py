"""Contacts, their typed numbers in E.164, do-not-call lists, and loading lists from CSV or dicts.

A load never stops at the first bad row: every row is either accepted or named in the
:class:`ImportReport` with its line number and why (bad number, duplicate, on a DNC list), so an
operator can fix the file and load the rejected rows again without losing anything.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_timezone

from parley.dialer.model import DialerError, NumberType
from parley.dialer.ranges import NumberRanges

_UNKNOWN_ZONE = "Etc/Unknown"
_NUMBER_COLUMN = re.compile(r"^(mobile|home|work)(?:[ _-]?(\d+))?$")
_ZONE_COLUMNS = ("timezone", "time_zone", "zone")
_RESERVED_COLUMNS = {"contact_id", "id", *_ZONE_COLUMNS}


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """One dialable number of a contact.

    ``time_zones`` holds the IANA zone the called party is in (see :func:`number_time_zones`):
    one zone, so that a call window means what it says. It stays a tuple because a window
    must be open in every zone listed (a caller of the pure core may still give several).
    """

    e164: str
    type: NumberType
    time_zones: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Contact:
    """A person to call, with numbers in the order given and attributes for scripts and reports."""

    id: str
    numbers: tuple[PhoneNumber, ...]
    attributes: Mapping[str, str] = field(default_factory=dict)
    time_zone: str | None = None


class DncList:
    """A do-not-call list of E.164 numbers (one global list, and one per campaign)."""

    def __init__(self, name: str, numbers: Iterable[str] = ()) -> None:
        self.name = name
        self._numbers: set[str] = set(numbers)

    def add(self, e164: str) -> None:
        self._numbers.add(e164)

    def discard(self, e164: str) -> None:
        self._numbers.discard(e164)

    def replace(self, numbers: Iterable[str]) -> None:
        """The list as the store now keeps it (campaigns holding it see the change)."""
        self._numbers = set(numbers)

    def __contains__(self, e164: object) -> bool:
        return e164 in self._numbers

    def __len__(self) -> int:
        return len(self._numbers)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._numbers))


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that was not loaded: its line number (1 = the header in a CSV) and every reason."""

    line: int
    reasons: tuple[str, ...]
    row: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class DroppedNumber:
    """A number left out of an accepted contact (the contact kept its other numbers)."""

    line: int
    column: str
    value: str
    reason: str


@dataclass
class ImportReport:
    """What a load did: contacts accepted, rows rejected, numbers dropped, each with its line."""

    accepted: list[Contact] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    dropped_numbers: list[DroppedNumber] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{len(self.accepted)} contacts loaded, {len(self.rejected)} rows rejected, "
                 f"{len(self.dropped_numbers)} numbers dropped"]
        lines += [f"line {r.line}: rejected: {'; '.join(r.reasons)}" for r in self.rejected]
        lines += [f"line {d.line}: column {d.column!r} ({d.value!r}) dropped: {d.reason}"
                  for d in self.dropped_numbers]
        return "\n".join(lines)


def _known_zone(name: str) -> bool:
    if name in _ZONES:
        return True
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_ZONES: frozenset[str] = frozenset(available_timezones())


def normalise_number(text: str, default_region: str) -> str:
    """Return ``text`` as an E.164 number, or raise :class:`DialerError` saying why not."""
    cleaned = text.strip()
    if not cleaned:
        raise DialerError("empty number")
    try:
        parsed = phonenumbers.parse(cleaned, default_region)
    except phonenumbers.NumberParseException as exc:
        raise DialerError(f"bad number {cleaned!r}: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise DialerError(f"bad number {cleaned!r}: not a valid number for its region "
                          f"(default region {default_region})")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def number_time_zones(e164: str, contact_zone: str | None, default_zone: str,
                      ranges: NumberRanges | None = None) -> tuple[str, ...]:
    """The called party's zone: the contact's own (its zone, or its region's), else the
    number-range table's, else the one zone ``phonenumbers`` gives (a fixed line: +7 495 is
    Moscow), else the campaign's default.

    Never every zone ``phonenumbers`` lists for a number: a Russian mobile gets sixteen, and a
    window required to be open in all of them opens for two or three hours a day."""
    if contact_zone:
        return (contact_zone,)
    if ranges is not None:
        area = ranges.area_of(e164)
        if area is not None:
            return (area.zone,)
    zones = tuple(z for z in phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
                  if z != _UNKNOWN_ZONE and _known_zone(z))
    return zones if len(zones) == 1 else (default_zone,)


class ContactLoader:
    """Turns CSV text or dicts into contacts for one campaign.

    Columns: ``contact_id`` (optional; the line number otherwise), ``timezone`` (or
    ``time_zone``, ``zone``: an optional IANA name), ``region`` (optional: a region of the
    number-range table, or an IANA zone; also kept as an attribute), number columns named
    ``mobile``, ``home`` or ``work`` with an optional suffix (``mobile2``, ``work_3``), and any
    other column as an attribute. ``ranges`` is the site's table of number ranges to regions
    and zones (:class:`~parley.dialer.ranges.NumberRanges`).
    """

    def __init__(self, *, default_region: str, default_time_zone: str = "UTC",
                 dnc_lists: Iterable[DncList] = (),
                 existing: Iterable[Contact] = (),
                 ranges: NumberRanges | None = None) -> None:
        if default_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise DialerError(f"default region {default_region!r} is not a region code "
                              "(use two letters, e.g. US, GB, FR)")
        if not _known_zone(default_time_zone):
            raise DialerError(f"default time zone {default_time_zone!r} is not an IANA zone")
        self.default_region = default_region.upper()
        self.default_time_zone = default_time_zone
        self.dnc_lists = list(dnc_lists)
        self.ranges = ranges
        self._ids: dict[str, int] = {}
        self._numbers: dict[str, int] = {}
        for contact in existing:
            self._ids[contact.id] = 0
            for number in contact.numbers:
                self._numbers[number.e164] = 0

    def load_csv(self, text: str) -> ImportReport:
        """Load a CSV document (first line is the header). Line numbers count the header as 1
        and name the line where a row starts."""
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise DialerError("line 1: the CSV has no header row")
        headers = [h.strip() for h in reader.fieldnames]
        if not any(_NUMBER_COLUMN.match(h.lower()) for h in headers):
            raise DialerError("line 1: no number column; name at least one column mobile, "
                              "home or work")
        report = ImportReport()
        last_line = reader.line_num  # the header's last line
        for row in reader:
            line = last_line + 1  # where the record starts (a quoted field may span lines)
            last_line = reader.line_num
            clean = {(k or "").strip(): (v or "").strip() if isinstance(v, str) else ""
                     for k, v in row.items()}
            if None in row:  # more fields than headers
                report.rejected.append(RejectedRow(line, ("more fields than header columns",),
                                                   clean))
                continue
            self._load_row(line, clean, report)
        return report

    def load_records(self, records: Iterable[Mapping[str, object]]) -> ImportReport:
        """Load dicts shaped like CSV rows (for the API); ``line`` counts records from 1.

        A record may also carry ``numbers``: a list of ``{"type": ..., "number": ...}``.
        """
        report = ImportReport()
        for index, record in enumerate(records, start=1):
            flat: dict[str, str] = {}
            extra: list[tuple[str, str]] = []
            for key, value in record.items():
                if key == "numbers" and isinstance(value, list):
                    for position, item in enumerate(value, start=1):
                        if isinstance(item, Mapping):
                            extra.append((f"{item.get('type', '')}#{position}",
                                          str(item.get("number", ""))))
                elif value is not None:
                    flat[str(key)] = str(value)
            self._load_row(index, flat, report, extra)
        return report

    def _load_row(self, line: int, row: Mapping[str, str], report: ImportReport,
                  extra_numbers: Iterable[tuple[str, str]] = ()) -> None:
        reasons: list[str] = []
        contact_id = row.get("contact_id") or row.get("id") or f"line-{line}"
        if contact_id in self._ids:
            first = self._ids[contact_id]
            where = f"line {first}" if first else "an earlier load"
            reasons.append(f"duplicate contact_id {contact_id!r} (first seen on {where})")
        zone_column = next((c for c in _ZONE_COLUMNS if row.get(c)), "timezone")
        zone = row.get(zone_column) or None
        if zone is not None and not _known_zone(zone):
            reasons.append(f"column {zone_column!r}: {zone!r} is not an IANA time zone "
                           "(e.g. Europe/Paris)")
        region = row.get("region") or None
        if zone is None and region is not None:
            zone = self._region_zone(region)
            if zone is None:
                reasons.append(self._unknown_region(region))
        candidates: list[tuple[str, str]] = []
        attributes: dict[str, str] = {}
        for column, value in row.items():
            match = _NUMBER_COLUMN.match(column.lower())
            if match:
                if value:
                    candidates.append((column, value))
            elif column not in _RESERVED_COLUMNS:
                attributes[column] = value
        candidates.extend(extra_numbers)
        numbers: list[PhoneNumber] = []
        problems: list[DroppedNumber] = []
        seen_in_row: set[str] = set()
        for column, value in candidates:
            type_name = column.split("#")[0].lower()
            type_match = _NUMBER_COLUMN.match(type_name)
            if not type_match:
                problems.append(DroppedNumber(line, column, value,
                                              f"unknown number type {type_name!r}"))
                continue
            number_type = NumberType(type_match.group(1))
            try:
                e164 = normalise_number(value, self.default_region)
            except DialerError as exc:
                problems.append(DroppedNumber(line, column, value, str(exc)))
                continue
            if e164 in seen_in_row:
                problems.append(DroppedNumber(line, column, value,
                                              f"duplicate: {e164} appears twice in this row"))
                continue
            if e164 in self._numbers:
                first = self._numbers[e164]
                where = f"line {first}" if first else "an earlier load"
                problems.append(DroppedNumber(line, column, value,
                                              f"duplicate: {e164} already belongs to {where}"))
                continue
            listed = [dnc.name for dnc in self.dnc_lists if e164 in dnc]
            if listed:
                problems.append(DroppedNumber(line, column, value,
                                              f"{e164} is on the do-not-call list "
                                              f"{', '.join(listed)}"))
                continue
            seen_in_row.add(e164)
            zones = number_time_zones(e164, zone if zone and _known_zone(zone) else None,
                                      self.default_time_zone, self.ranges)
            numbers.append(PhoneNumber(e164, number_type, zones))
        if not candidates:
            reasons.append("no number: fill at least one of mobile, home, work")
        elif not numbers:
            reasons.extend(f"column {p.column!r} ({p.value!r}): {p.reason}" for p in problems)
        if reasons:
            report.rejected.append(RejectedRow(line, tuple(reasons), dict(row)))
            return
        report.dropped_numbers.extend(problems)
        self._ids[contact_id] = line
        for number in numbers:
            self._numbers[number.e164] = line
        report.accepted.append(Contact(contact_id, tuple(numbers), attributes, zone))

    def _region_zone(self, region: str) -> str | None:
        """A region's zone: from the number-range table, or the region is itself a zone."""
        if self.ranges is not None:
            found = self.ranges.zone_of_region(region)
            if found is not None:
                return found
        return region if "/" in region and _known_zone(region) else None

    def _unknown_region(self, region: str) -> str:
        if self.ranges is None:
            return (f"column 'region': {region!r} is not an IANA time zone and no number-range "
                    "table is loaded to name its zone; give a timezone column or import a "
                    "table with this region")
        return (f"column 'region': {region!r} is not a region of the number-range table "
                "nor an IANA time zone; add it to the table or give a timezone column")
