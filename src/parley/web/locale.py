"""The pages' language (DESIGN §9): message catalogs and per-locale formatting.

A page is shown in the viewer's language (:func:`page_locale`): ``?lang=``, the user's own
setting (``language`` of the user, set through the API), their browser's
(``Accept-Language``), else English. Strings come from the message
catalogs under ``web/locales/<language>/LC_MESSAGES/messages.po`` (English and Russian
shipped), read with Babel and compiled in memory once per process, so the plural forms of
each language hold ("1 звонок", "2 звонка", "5 звонков"). Dates, times, numbers and
durations are formatted with Babel the locale's way, in the viewer's time zone.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

from parley.config import LANGUAGES

if TYPE_CHECKING:
    from fastapi import Request

    from parley.store.records import Principal
    from parley.web.auth import WebContext

DOMAIN = "messages"


def page_language(user_language: str | None, site_language: str = "en") -> str:
    """The language a user's pages are shown in: theirs, else the site's, else English."""
    for candidate in (user_language, site_language):
        if candidate in LANGUAGES:
            return candidate
    return "en"


@cache
def translations(language: str) -> Translations:
    """The compiled catalog of ``language`` (a gettext object: ``gettext``, ``ngettext``;
    Jinja2's i18n extension takes it as it is)."""
    if language not in LANGUAGES:
        raise ValueError(f"no message catalog for language {language!r} "
                         f"(known: {', '.join(LANGUAGES)})")
    source = resources.files("parley.web").joinpath(
        "locales", language, "LC_MESSAGES", f"{DOMAIN}.po")
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@dataclass(frozen=True, slots=True)
class PageLocale:
    """Strings and formats for one viewer: language and time zone."""

    language: str = "en"
    time_zone: str = "UTC"

    @property
    def locale(self) -> Locale:
        return Locale.parse(self.language)

    def gettext(self, message: str) -> str:
        return translations(self.language).gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        """The form of the message for ``count``, with ``%(count)s`` filled in."""
        text = translations(self.language).ngettext(singular, plural, count)
        return text % {"count": self.number(count)}

    def number(self, value: float) -> str:
        """12345.5 is "12,345.5" in English, "12 345,5" in Russian."""
        return format_decimal(value, locale=self.locale)

    def percent(self, value: float) -> str:
        return format_percent(value, locale=self.locale)

    def moment(self, value: dt.datetime, format: str = "medium") -> str:
        """A UTC moment in the viewer's time zone ("Dec 2, 2026, 5:30:00 PM",
        "2 дек. 2026 г., 17:30:00")."""
        return format_datetime(value, format, tzinfo=ZoneInfo(self.time_zone),
                               locale=self.locale)

    def date(self, value: dt.datetime, format: str = "medium") -> str:
        return format_date(value.astimezone(ZoneInfo(self.time_zone)), format,
                           locale=self.locale)

    def time(self, value: dt.datetime, format: str = "short") -> str:
        return format_time(value, format, tzinfo=ZoneInfo(self.time_zone),
                           locale=self.locale)

    def duration(self, seconds: float) -> str:
        """A length of time in words: "3 minutes", "3 минуты"."""
        return format_timedelta(dt.timedelta(seconds=seconds), locale=self.locale)


def accepted_language(accept_language: str | None) -> str | None:
    """The first shipped language of an ``Accept-Language`` header, or None."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower().split("-")[0]
        if code in LANGUAGES:
            return code
    return None


async def page_locale(ctx: WebContext, request: Request,
                      principal: Principal | None = None) -> PageLocale:
    """The viewer's language (``?lang=``, their own setting, their browser's, English) and
    the site's time zone."""
    site = await ctx.store.config.site()
    requested = request.query_params.get("lang")
    own = None
    from parley.store.specs import UserSpec

    if principal is not None:
        user = await ctx.store.config.get("users", principal.username)
        own = user.language if isinstance(user, UserSpec) else None
    if requested in LANGUAGES:
        chosen = str(requested)
    elif own:
        chosen = str(own)
    else:
        chosen = accepted_language(request.headers.get("accept-language")) or "en"
    return PageLocale(chosen if chosen in LANGUAGES else "en", site.time_zone or "UTC")
