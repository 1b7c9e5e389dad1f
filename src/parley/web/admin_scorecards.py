"""The scorecards' admin page, ``/admin/scorecards`` (docs/admin.md, docs/quality.md).

Like the other admin pages (:mod:`parley.web.admin`) the server renders the stored records
and the page's script (static/admin/scorecards.js) sends the form to the configuration API
(``/api/scorecards``), so a scorecard made here is checked by
:func:`parley.qa.scoring.parse_scorecard`, stored, audited and used exactly as one made over
the API, and the API's error, which names the criterion and its key, is shown beside that
criterion's field. What the form offers to pick from is read from the configuration: the
queues, campaigns and dialog scripts a scorecard may apply to, each script's fields with
their options (the criteria on a script's answers), and the result codes of every list.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from parley.qa.scoring import MAX_SCALE
from parley.scripts import FieldType
from parley.store.records import Principal
from parley.store.specs import (
    DEFAULT_RESULT_CODES,
    CampaignSpec,
    QueueSpec,
    ResultCodesSpec,
    ScorecardSpec,
    ScriptSpec,
)
from parley.web.admin import SECTIONS, _admin, _client_strings, _records
from parley.web.auth import Ctx, WebContext
from parley.web.config_routes import public
from parley.web.desk import render
from parley.web.locale import PageLocale

router = APIRouter()

#: What the page's script writes, beside the other admin pages' strings.
CLIENT_STRINGS = {
    "criterion": "Criterion {number}",
    "share": "{share} of {total} points",
    "share.unknown": "A number of points above 0.",
    "total": "Points in all: {total}.",
    "field.elsewhere": "{field} (in no script now)",
    "script.none": "No script has this field",
    "script.missing": "No dialog script is configured yet",
}

#: Catalog strings the templates do not spell out: the section, the list's words, and each
#: script field type as the field choice names it.
TEXTS = ("Scorecards", "There is no scorecard {name}.", "every call with a wrap-up",
         *(f"field type:{kind.value}" for kind in FieldType))


def page_strings() -> set[str]:
    """Every catalog string this page shows that no template spells out."""
    return set(TEXTS) | set(CLIENT_STRINGS.values())


def _page(name: str, locale: PageLocale, principal: Principal, status_code: int = 200,
          **values: Any) -> HTMLResponse:
    strings = {**_client_strings(locale),
               **{key: locale.gettext(text) for key, text in CLIENT_STRINGS.items()}}
    return render(name, locale, status_code, principal=principal, section="scorecards",
                  sections=SECTIONS, config={"strings": strings}, **values)


def _applies(card: ScorecardSpec, locale: PageLocale) -> str:
    """Which calls a scorecard scores, in a few words for the list."""
    named = [*card.queues, *card.campaigns, *card.scripts]
    return ", ".join(named) if named else locale.gettext("every call with a wrap-up")


@router.get("/admin/scorecards", response_class=HTMLResponse, include_in_schema=False)
async def scorecards_page(request: Request, ctx: Ctx) -> Response:
    """Every scorecard with the calls it scores, its criteria and their points."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    rows = []
    for card in await _records(ctx, "scorecards", ScorecardSpec):
        parsed = card.scorecard()
        rows.append({"name": card.name, "title": card.title, "applies": _applies(card, locale),
                     "automatic": sum(1 for c in parsed.criteria if c.automatic),
                     "reviewer": sum(1 for c in parsed.criteria if not c.automatic),
                     "points": locale.number(parsed.possible)})
    return _page("admin_scorecards.html", locale, principal, scorecards=rows)


def _choices(configured: list[str], chosen: list[str]) -> list[str]:
    """The names to tick from: the configured ones, and any the record names that is gone
    (kept ticked, so that saving does not drop it unseen)."""
    return configured + [name for name in chosen if name not in configured]


async def _picklists(ctx: WebContext, locale: PageLocale) -> dict[str, Any]:
    """What the criteria pick from: each script's fields (id, label, type, options) and every
    result code of every list (the built-in ones last), each code once."""
    scripts = []
    for spec in await _records(ctx, "scripts", ScriptSpec):
        script = spec.script()
        scripts.append({"name": spec.name, "title": spec.title or spec.name, "fields": [
            {"id": item.id, "label": item.label, "type": item.type.value,
             "kind": locale.gettext(f"field type:{item.type.value}"),
             "options": [{"value": o.value, "label": o.label} for o in item.options]}
            for block in script.blocks for item in block.fields]})
    codes: dict[str, str] = {}
    for listed in await _records(ctx, "result_codes", ResultCodesSpec):
        for code in listed.codes:
            codes.setdefault(code.code, code.label)
    for code in DEFAULT_RESULT_CODES:
        codes.setdefault(code.code, locale.gettext(code.label))
    return {"scripts": scripts, "max_scale": MAX_SCALE,
            "results": [{"code": code, "label": label} for code, label in codes.items()]}


async def _form(request: Request, ctx: WebContext, name: str | None) -> Response:
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    card: ScorecardSpec | None = None
    if name is not None:
        stored = await ctx.store.config.get("scorecards", name)
        if not isinstance(stored, ScorecardSpec):
            return _page("admin_missing.html", locale, principal, 404, message=locale.gettext(
                "There is no scorecard {name}.").format(name=name))
        card = stored
    shown = card or ScorecardSpec.model_construct(name="new")  # unchecked: no criteria yet
    queues = [queue.name for queue in await _records(ctx, "queues", QueueSpec)]
    campaigns = [item.name for item in await _records(ctx, "campaigns", CampaignSpec)]
    scripts = [item.name for item in await _records(ctx, "scripts", ScriptSpec)]
    return _page("admin_scorecard.html", locale, principal, card=card, shown=shown,
                 record=public(card) if card is not None else {},
                 queues=_choices(queues, shown.queues),
                 campaigns=_choices(campaigns, shown.campaigns),
                 scripts=_choices(scripts, shown.scripts),
                 picklists=await _picklists(ctx, locale))


@router.get("/admin/scorecards/new", response_class=HTMLResponse, include_in_schema=False)
async def new_scorecard_page(request: Request, ctx: Ctx) -> Response:
    """An empty scorecard form."""
    return await _form(request, ctx, None)


@router.get("/admin/scorecards/{name}", response_class=HTMLResponse, include_in_schema=False)
async def scorecard_page(name: str, request: Request, ctx: Ctx) -> Response:
    """One scorecard: the calls it scores and its weighted criteria."""
    return await _form(request, ctx, name)
