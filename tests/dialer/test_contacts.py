"""Contact lists: E.164 normalisation, time zones, CSV and dict loading with a full report."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.dialer import (
    ContactLoader,
    DialerError,
    DncList,
    NumberRanges,
    NumberType,
    normalise_number,
)

CSV = """contact_id,first_name,mobile,home,work,timezone,balance
c1,Ann,(212) 555-0101,212-555-0102,,,120.50
c2,Bob,not a number,,,,
c3,Cy,415 555 0103,,,America/Chicago,
c1,Dup,212 555 0199,,,,
c5,Eve,212 555 0101,,,,
c6,Fay,212 555 0666,,,,
c7,Gus,212 555 0107,212 555 0666,,,
c8,Hal,,,,,
c9,Ivy,212 555 0109,,,Mars/Olympus,
c10,Jo,212 555 0110,,,,,extra
"""


def loader(**kwargs: object) -> ContactLoader:
    dnc = DncList("global", ["+12125550666"])
    return ContactLoader(default_region="US", dnc_lists=[dnc], **kwargs)  # type: ignore[arg-type]


def test_csv_load_names_every_rejected_row_with_its_line_and_reason() -> None:
    report = loader().load_csv(CSV)
    accepted = {c.id: c for c in report.accepted}
    assert sorted(accepted) == ["c1", "c3", "c7"]
    rejected = {r.line: r.reasons for r in report.rejected}
    assert sorted(rejected) == [3, 5, 6, 7, 9, 10, 11]
    assert "bad number 'not a number'" in rejected[3][0]
    assert "duplicate contact_id 'c1' (first seen on line 2)" in rejected[5][0]
    assert "+12125550101 already belongs to line 2" in rejected[6][0]
    assert "do-not-call list global" in rejected[7][0]
    assert "no number" in rejected[9][0]
    assert "'Mars/Olympus' is not an IANA time zone" in rejected[10][0]
    assert "more fields than header columns" in rejected[11][0]
    summary = report.summary()
    assert "3 contacts loaded, 7 rows rejected, 1 numbers dropped" in summary
    assert "line 3: rejected:" in summary


def test_accepted_contacts_have_typed_e164_numbers_zones_and_attributes() -> None:
    report = loader().load_csv(CSV)
    accepted = {c.id: c for c in report.accepted}
    ann = accepted["c1"]
    assert [(n.e164, n.type) for n in ann.numbers] == [
        ("+12125550101", NumberType.MOBILE), ("+12125550102", NumberType.HOME)]
    assert ann.numbers[0].time_zones == ("America/New_York",)  # from phonenumbers
    assert ann.attributes == {"first_name": "Ann", "balance": "120.50"}
    cy = accepted["c3"]
    assert cy.numbers[0].time_zones == ("America/Chicago",)  # the contact's own zone wins
    gus = accepted["c7"]  # his DNC home number is dropped, the contact kept
    assert [n.e164 for n in gus.numbers] == ["+12125550107"]
    dropped = report.dropped_numbers[0]
    assert (dropped.line, dropped.column) == (8, "home")
    assert "do-not-call" in dropped.reason


def test_records_loader_for_the_api_takes_number_lists_and_counts_records() -> None:
    report = loader().load_records([
        {"contact_id": "a", "numbers": [{"type": "work", "number": "+44 20 7946 0000"},
                                        {"type": "mobile", "number": "06 12 34 56 78"}],
         "name": "Ada"},
        {"contact_id": "b", "numbers": [{"type": "fax", "number": "+12125550111"}]},
        {"contact_id": "c", "mobile": "2125550112", "timezone": "Europe/Paris"},
    ])
    assert [c.id for c in report.accepted] == ["a", "c"]
    ada = report.accepted[0]
    assert ada.numbers[0].e164 == "+442079460000"
    assert ada.numbers[0].time_zones == ("Europe/London",)
    # "06..." is not a US number: the mobile is dropped, Ada is kept with her work number.
    assert [d.line for d in report.dropped_numbers] == [1]
    assert report.rejected[0].line == 2
    assert "unknown number type 'fax'" in report.rejected[0].reasons[0]
    assert report.accepted[1].numbers[0].time_zones == ("Europe/Paris",)


RANGES = """prefix,region,zone
7913,Novosibirsk Oblast,Asia/Novosibirsk
79139,Omsk Oblast,Asia/Omsk
"""
RANGES_EXPLICIT = """from,to,region,zone
79161000000,79161999999,Moscow,Europe/Moscow
79140000000,79140999999,Primorsky Krai,Asia/Vladivostok
"""


def russian_loader(ranges: str | None = None) -> ContactLoader:
    table = None if ranges is None else NumberRanges.from_csv(ranges)
    return ContactLoader(default_region="RU", default_time_zone="Europe/Samara", ranges=table)


def test_a_russian_mobile_is_never_given_every_zone_of_russia() -> None:
    # phonenumbers knows sixteen zones for it: the campaign's default zone is used instead,
    # so a 09:00-21:00 window is twelve hours, not two or three.
    report = russian_loader().load_records([{"contact_id": "r", "mobile": "+7 916 123 45 67"}])
    assert report.accepted[0].numbers[0].time_zones == ("Europe/Samara",)
    # a fixed line's code names one zone, and that one is used
    report = russian_loader().load_records([{"contact_id": "f", "home": "+7 383 212 34 56"}])
    assert report.accepted[0].numbers[0].time_zones == ("Asia/Novosibirsk",)


def test_the_number_range_table_places_mobiles_by_prefix_and_by_range() -> None:
    report = russian_loader(RANGES).load_csv(
        "contact_id,mobile\nn,+79131234567\no,+79139876543\nx,+79261234567\n")
    zones = {c.id: c.numbers[0].time_zones for c in report.accepted}
    assert zones == {"n": ("Asia/Novosibirsk",), "o": ("Asia/Omsk",),  # the longest prefix
                     "x": ("Europe/Samara",)}  # not in the table: the default
    report = russian_loader(RANGES_EXPLICIT).load_csv(
        "contact_id,mobile\nm,+79161234567\nv,89140000000\nz,+79162000000\n")
    zones = {c.id: c.numbers[0].time_zones for c in report.accepted}
    assert zones == {"m": ("Europe/Moscow",), "v": ("Asia/Vladivostok",),
                     "z": ("Europe/Samara",)}


def test_the_contact_record_wins_over_the_table_region_or_zone() -> None:
    csv_text = ("contact_id,mobile,region,zone\n"
                "a,+79131234567,Omsk Oblast,\n"  # region named in the table
                "b,+79131234568,,Asia/Kamchatka\n"  # own zone
                "c,+79131234569,Narnia,\n"  # unknown region: rejected, not guessed
                "d,+79131234560,Asia/Yakutsk,\n")  # a region given as a zone name
    report = russian_loader(RANGES).load_csv(csv_text)
    zones = {c.id: c.numbers[0].time_zones for c in report.accepted}
    assert zones == {"a": ("Asia/Omsk",), "b": ("Asia/Kamchatka",), "d": ("Asia/Yakutsk",)}
    assert report.accepted[0].attributes["region"] == "Omsk Oblast"
    [rejected] = report.rejected
    assert rejected.line == 4
    assert "column 'region': 'Narnia' is not a region of the number-range table" \
        in rejected.reasons[0]
    without = russian_loader().load_csv("mobile,region\n+79131234567,Omsk Oblast\n")
    assert "no number-range table is loaded" in without.rejected[0].reasons[0]


def test_a_bad_range_table_is_refused_naming_every_bad_line_and_field() -> None:
    bad = ("prefix,from,to,region,zone\n"
           "7913,,,Novosibirsk Oblast,Asia/Novosibirsk\n"
           "79x,,,Somewhere,Asia/Omsk\n"
           ",79140000000,79140999999,Primorsky Krai,Mars/Olympus\n"
           ",7914000,79140999999,Far,Asia/Vladivostok\n"
           ",79150000000,79150999999,A,Europe/Moscow\n"
           ",79150500000,79151999999,B,Europe/Moscow\n"
           "7913,,,Novosibirsk Oblast,Asia/Novosibirsk\n"
           "7920,,,Novosibirsk Oblast,Asia/Omsk\n"
           "\n"
           ",,,,\n")
    with pytest.raises(DialerError) as caught:
        NumberRanges.from_csv(bad, "ranges.csv")
    lines = str(caught.value).splitlines()
    assert lines == [
        "ranges.csv: line 3, field 'prefix': '79x' is not a number prefix (E.164 digits with "
        "the country code, e.g. 7913)",
        "ranges.csv: line 4, field 'zone': 'Mars/Olympus' is not an IANA time zone "
        "(e.g. Asia/Novosibirsk)",
        "ranges.csv: line 5, field 'to': '79140999999' has 11 digits and 'from' has 7; a range "
        "is of numbers of one length",
        "ranges.csv: line 8, field 'prefix': '7913' is already on line 2",
        "ranges.csv: line 9, field 'zone': region 'Novosibirsk Oblast' has zone "
        "Asia/Novosibirsk on line 2, not Asia/Omsk; one region, one zone",
        "ranges.csv: line 7, field 'from': the range overlaps the one on line 6",
    ]
    with pytest.raises(DialerError, match="line 1: missing column prefix"):
        NumberRanges.from_csv("region,zone\nA,UTC\n")


def test_duplicates_are_caught_across_loads() -> None:
    first = loader().load_csv("contact_id,mobile\nx,212 555 0120\n")
    second = loader(existing=first.accepted).load_csv(
        "contact_id,mobile\nx,212 555 0121\ny,212 555 0120\n")
    assert not second.accepted
    assert "first seen on an earlier load" in second.rejected[0].reasons[0]
    assert "already belongs to an earlier load" in second.rejected[1].reasons[0]


def test_csv_without_number_columns_or_header_is_refused_at_line_1() -> None:
    with pytest.raises(DialerError, match="line 1: no number column"):
        loader().load_csv("contact_id,name\n1,Ann\n")
    with pytest.raises(DialerError, match="line 1: the CSV has no header row"):
        loader().load_csv("")


def test_settings_errors_say_what_to_fix() -> None:
    with pytest.raises(DialerError, match="default region 'XX'"):
        ContactLoader(default_region="XX")
    with pytest.raises(DialerError, match="default time zone"):
        ContactLoader(default_region="US", default_time_zone="Nowhere/Town")


def test_normalise_number() -> None:
    assert normalise_number(" (415) 555-0100 ", "US") == "+14155550100"
    assert normalise_number("020 7946 0000", "GB") == "+442079460000"
    with pytest.raises(DialerError, match="not a valid number"):
        normalise_number("12", "US")
    with pytest.raises(DialerError, match="empty number"):
        normalise_number("  ", "US")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "contact_id": st.sampled_from(["", "a", "b", "c", "d"]),
    "mobile": st.sampled_from(["", "212 555 0101", "212 555 0102", "212 555 0666", "garbage",
                               "+44 20 7946 0000", "12"]),
    "work": st.sampled_from(["", "415 555 0103", "212 555 0101"]),
    "timezone": st.sampled_from(["", "Europe/Paris", "Not/AZone"]),
    "note": st.text(alphabet="abc ,\"\n", max_size=8),
}), max_size=12))
def test_every_row_is_accepted_or_rejected_with_reasons(rows: list[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["contact_id", "mobile", "work", "timezone",
                                                "note"])
    writer.writeheader()
    writer.writerows(rows)
    report = loader().load_csv(buffer.getvalue())
    assert len(report.accepted) + len(report.rejected) == len(rows)
    assert all(r.reasons for r in report.rejected)
    numbers = [n.e164 for c in report.accepted for n in c.numbers]
    assert len(numbers) == len(set(numbers))  # no number twice in the list
    assert "+12125550666" not in numbers  # the DNC number never gets in
    ids = [c.id for c in report.accepted]
    assert len(ids) == len(set(ids))


def test_line_numbers_name_where_a_multi_line_row_starts() -> None:
    text = 'contact_id,mobile,note\na,212 555 0130,"two\nlines"\nb,bad,\n'
    report = loader().load_csv(text)
    assert [c.id for c in report.accepted] == ["a"]
    assert report.rejected[0].line == 4
