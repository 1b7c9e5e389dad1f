"""The pages' language: catalogs with each language's plural forms, Babel's formats, and the
user's setting before the site's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley.web.locale import PageLocale, page_language, translations

RU = PageLocale("ru", "Europe/Moscow")
EN = PageLocale("en", "UTC")
MOMENT = datetime(2026, 12, 2, 14, 30, tzinfo=UTC)


def test_the_users_language_wins_over_the_sites() -> None:
    assert page_language("ru", "en") == "ru"
    assert page_language(None, "ru") == "ru"
    assert page_language(None, "xx") == "en"


def test_strings_come_from_the_catalog() -> None:
    assert RU.gettext("Ready") == "Готов"
    assert EN.gettext("Ready") == "Ready"
    assert RU.gettext("not in any catalog") == "not in any catalog"


@pytest.mark.parametrize(("count", "russian", "english"), [
    (1, "1 звонок в очереди", "1 call waiting"),
    (2, "2 звонка в очереди", "2 calls waiting"),
    (5, "5 звонков в очереди", "5 calls waiting"),
    (11, "11 звонков в очереди", "11 calls waiting"),
    (21, "21 звонок в очереди", "21 calls waiting"),
    (22, "22 звонка в очереди", "22 calls waiting"),
])
def test_plural_forms_per_language(count: int, russian: str, english: str) -> None:
    args = ("%(count)s call waiting", "%(count)s calls waiting", count)
    assert RU.ngettext(*args) == russian
    assert EN.ngettext(*args) == english


def test_numbers_dates_and_durations_per_locale() -> None:
    assert EN.number(12345.5) == "12,345.5"
    assert RU.number(12345.5) == "12\xa0345,5"
    assert EN.time(MOMENT) == "2:30\u202fPM"
    assert RU.time(MOMENT) == "17:30"  # Moscow, UTC+3
    assert RU.date(MOMENT) == "2 дек. 2026\u202fг."
    assert RU.duration(180) == "3 минуты"
    assert EN.duration(180) == "3 minutes"


def test_an_unknown_language_has_no_catalog() -> None:
    with pytest.raises(ValueError, match="no message catalog for language 'de'"):
        translations("de")


def _page_strings() -> set[str]:
    """Every string the pages show: the templates' ``_("…")`` and the runtime's messages."""
    import re
    from pathlib import Path

    from parley.web import (
        admin,
        admin_flows,
        admin_outbound,
        admin_prompts,
        admin_scorecards,
        custom_reports_page,
        desk,
        phone,
        quality,
        report_customer_page,
        reports_page,
        supervisor,
    )

    found: set[str] = set()
    for template in (Path(desk.__file__).parent / "templates").glob("*.html"):
        found |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"\)', template.read_text()))
        found |= set(re.findall(r"_\('((?:[^'\\]|\\.)*)'\)", template.read_text()))
    found |= set(phone.STATE_MESSAGES.values())
    found |= set(desk._client_strings(PageLocale("en")).values())
    found |= admin.page_strings()
    found |= admin_outbound.page_strings() | admin_prompts.page_strings()
    found |= admin_flows.page_strings() | admin_scorecards.page_strings()
    found |= set(supervisor._client_strings(PageLocale("en")).values())
    found |= set(supervisor.STATE_TEXT.values()) | set(supervisor.CALL_STATE_TEXT.values())
    found |= set(reports_page.KINDS.values()) | set(reports_page.LABELS.values())
    found |= {*custom_reports_page.EXTRA_LABELS.values(),
              *custom_reports_page.DIMENSION_NAMES.values(),
              *custom_reports_page.TIME_NAMES.values(),
              *custom_reports_page.PRESET_NAMES.values(),
              *custom_reports_page.SHARE_NAMES.values(),
              *custom_reports_page.STATUS_NAMES.values(),
              *custom_reports_page.EVERY_NAMES.values(),
              *custom_reports_page.WEEKDAY_NAMES.values()}
    for module in (supervisor, reports_page, quality, custom_reports_page,
                   report_customer_page):
        source = Path(module.__file__).read_text()
        found |= {re.sub(r'"\s+"', "", text.strip())[1:-1] for text in re.findall(
            r'(?:gettext\(|raise_\("\w+", )((?:"(?:[^"\\]|\\.)*"\s*)+)', source)}
    return found


def test_every_page_string_is_in_both_catalogs() -> None:
    strings = _page_strings()
    assert len(strings) > 100
    english = translations("en")._catalog  # type: ignore[attr-defined]
    russian = translations("ru")._catalog  # type: ignore[attr-defined]
    assert sorted(s for s in strings if s not in english) == []
    assert sorted(s for s in strings if s not in russian) == []
    ids = [{key if isinstance(key, str) else key[0] for key in catalog}  # plurals: (id, n)
           for catalog in (english, russian)]
    assert sorted(ids[0] ^ ids[1]) == []
