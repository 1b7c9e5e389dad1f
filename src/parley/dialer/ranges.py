"""Number ranges to regions and time zones: where a number's called party lives, when the
number alone cannot tell.

``phonenumbers`` gives a Russian mobile number all sixteen of Russia's zones (mobile ranges are
not geographic in its data), and a call window required to be open in every one of them opens
for two or three hours a day. A site that knows better (the regulator's register of number
ranges, its own customer base) imports a table of ranges with the region and zone of each:

```csv
prefix,region,zone
7913,Novosibirsk Oblast,Asia/Novosibirsk
```

or, with explicit ranges (inclusive, E.164 digits of the same length)::

    from,to,region,zone
    79130000000,79131999999,Novosibirsk Oblast,Asia/Novosibirsk

A number is looked up in the ranges first (the finest data), then by its longest matching
prefix. Region names also resolve to their zone, so a contact's ``region`` column works. A
table with any bad line is refused whole, every bad line named with its field: a half-loaded
zone table would call people at night without anyone noticing.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parley.dialer.model import DialerError

_MAX_DIGITS = 15  # E.164


@dataclass(frozen=True, slots=True)
class NumberArea:
    """Where the numbers of one table line live, and the line it came from."""

    region: str
    zone: str
    line: int


@dataclass(frozen=True, slots=True)
class RangeProblem:
    """One bad line of a table: its line (the header is line 1), the field, and why."""

    line: int
    field: str
    reason: str

    @classmethod
    def said(cls, line: int, problem: str) -> RangeProblem:
        """From a row check's ``field 'zone': why``."""
        found = re.match(r"field '(\w+)': (.*)", problem, re.DOTALL)
        if found is None:
            return cls(line, "row", problem)
        return cls(line, found.group(1), found.group(2))

    def __str__(self) -> str:
        if self.field in ("header", "csv", "row"):
            return f"line {self.line}: {self.reason}"
        return f"line {self.line}, field '{self.field}': {self.reason}"


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _digits(text: str) -> str:
    """E.164 digits of ``text`` (``+7 913``, ``7913``, ``7-913``); "" if anything else is in it."""
    cleaned = text.strip().lstrip("+").replace(" ", "").replace("-", "")
    return cleaned if cleaned.isdigit() and len(cleaned) <= _MAX_DIGITS else ""


class NumberRanges:
    """A loaded table: number → :class:`NumberArea`, and region name → zone."""

    def __init__(self) -> None:
        self._prefixes: dict[str, NumberArea] = {}
        # per number length: sorted starts, and (start, end, area) in the same order
        self._starts: dict[int, list[int]] = {}
        self._ranges: dict[int, list[tuple[int, int, NumberArea]]] = {}
        self._regions: dict[str, NumberArea] = {}
        self._longest_prefix = 0

    def __len__(self) -> int:
        return len(self._prefixes) + sum(len(r) for r in self._ranges.values())

    @classmethod
    def from_csv(cls, text: str, source: str = "number ranges") -> NumberRanges:
        """Load a table (see the module docstring); raises :class:`DialerError` naming every
        bad line and field (``line 4, field 'zone': ...``) if there is any."""
        table, problems = cls.check_csv(text)
        if problems:
            raise DialerError("\n".join(f"{source}: {p}" for p in problems))
        return table

    @classmethod
    def check_csv(cls, text: str) -> tuple[NumberRanges, list[RangeProblem]]:
        """The table and every problem found in it, each with its line and field (a table
        with any problem must not be used: see the module docstring)."""
        try:
            return cls._check_csv(text)
        except csv.Error as exc:
            return cls(), [RangeProblem(1, "csv", f"not a CSV table: {exc}")]

    @classmethod
    def _check_csv(cls, text: str) -> tuple[NumberRanges, list[RangeProblem]]:
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        headers = [h.strip().lower() for h in reader.fieldnames or []]
        if not headers:
            return cls(), [RangeProblem(1, "header", "the table has no header row")]
        missing = [name for name in ("region", "zone") if name not in headers]
        if "prefix" not in headers and not {"from", "to"} <= set(headers):
            missing.insert(0, "prefix (or from and to)")
        if missing:
            return cls(), [RangeProblem(1, "header", f"missing column {', '.join(missing)}; "
                                        "the header must be prefix,region,zone or "
                                        "from,to,region,zone")]
        table = cls()
        problems: list[RangeProblem] = []
        last_line = reader.line_num
        for row in reader:
            line = last_line + 1
            last_line = reader.line_num
            clean = {(k or "").strip().lower(): (v or "").strip() if isinstance(v, str) else ""
                     for k, v in row.items()}
            if not any(clean.values()):
                continue  # a blank line
            problems.extend(RangeProblem.said(line, problem)
                            for problem in table._add_row(line, clean))
        problems.extend(table._check_overlaps())
        return table, problems

    def _add_row(self, line: int, row: dict[str, str]) -> list[str]:
        problems: list[str] = []
        region, zone = row.get("region", ""), row.get("zone", "")
        if not region:
            problems.append("field 'region': empty; name the region (any text)")
        if not zone:
            problems.append("field 'zone': empty; give an IANA zone such as Asia/Novosibirsk")
        elif not _valid_zone(zone):
            problems.append(f"field 'zone': {zone!r} is not an IANA time zone "
                            "(e.g. Asia/Novosibirsk)")
        known = self._regions.get(region.casefold())
        if region and zone and known is not None and known.zone != zone:
            problems.append(f"field 'zone': region {region!r} has zone {known.zone} on line "
                            f"{known.line}, not {zone}; one region, one zone")
        prefix, first, last = row.get("prefix", ""), row.get("from", ""), row.get("to", "")
        if prefix and (first or last):
            problems.append("field 'prefix': give a prefix or a from/to range, not both")
            return problems
        area = NumberArea(region, zone, line)
        if prefix:
            digits = _digits(prefix)
            if not digits:
                problems.append(f"field 'prefix': {prefix!r} is not a number prefix "
                                "(E.164 digits with the country code, e.g. 7913)")
            elif digits in self._prefixes:
                problems.append(f"field 'prefix': {prefix!r} is already on line "
                                f"{self._prefixes[digits].line}")
            elif not problems:
                self._prefixes[digits] = area
                self._longest_prefix = max(self._longest_prefix, len(digits))
        else:
            low, high = _digits(first), _digits(last)
            if not low:
                problems.append(f"field 'from': {first!r} is not a number (E.164 digits with "
                                "the country code)")
            if not high:
                problems.append(f"field 'to': {last!r} is not a number (E.164 digits with the "
                                "country code)")
            if low and high and len(low) != len(high):
                problems.append(f"field 'to': {last!r} has {len(high)} digits and 'from' has "
                                f"{len(low)}; a range is of numbers of one length")
            elif low and high and int(high) < int(low):
                problems.append(f"field 'to': {last!r} comes before 'from' {first!r}")
            elif low and high and not problems:
                self._ranges.setdefault(len(low), []).append((int(low), int(high), area))
        if not problems and region.casefold() not in self._regions:
            self._regions[region.casefold()] = area
        return problems

    def _check_overlaps(self) -> list[RangeProblem]:
        problems: list[RangeProblem] = []
        for length, ranges in self._ranges.items():
            ranges.sort(key=lambda r: r[0])
            for (_, end, before), (start, _, area) in itertools.pairwise(ranges):
                if start <= end:
                    problems.append(RangeProblem(area.line, "from", "the range overlaps the "
                                                 f"one on line {before.line}"))
            self._starts[length] = [r[0] for r in ranges]
        return problems

    def area_of(self, e164: str) -> NumberArea | None:
        """Where the number (``+79131234567``) lives, or None when the table does not say."""
        digits = _digits(e164)
        if not digits:
            return None
        starts = self._starts.get(len(digits))
        if starts:
            value = int(digits)
            index = bisect.bisect_right(starts, value) - 1
            if index >= 0:
                start, end, area = self._ranges[len(digits)][index]
                if start <= value <= end:
                    return area
        for size in range(min(self._longest_prefix, len(digits)), 0, -1):
            found = self._prefixes.get(digits[:size])
            if found is not None:
                return found
        return None

    def zone_of_region(self, region: str) -> str | None:
        """The zone of a region named in the table (case does not matter)."""
        area = self._regions.get(region.strip().casefold())
        return None if area is None else area.zone
