"""The admin pages for calling out: carriers' trunks, outbound routes and campaigns.

Like the other admin pages (parley.web.admin) the server renders the stored records and the
page's script sends each form to the configuration API (``/api/trunks``, ``/api/routes``,
``/api/campaigns``), so a change is validated, stored, audited and applied exactly as one
made over the API. A trunk's password is never sent to the page: the form only says whether
one is set, and leaving the box empty keeps it. The routes page asks
``/api/routes/check`` which route and trunks would carry a number; the campaign page starts,
pauses and stops a campaign and loads contacts through the campaign API.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, get_args

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from parley.center.config import load_center_config
from parley.numbering import LineRight, NumberFormat
from parley.routes import OutboundRefused
from parley.store.campaign_config import DEFAULT_WINDOW
from parley.store.records import Principal
from parley.store.specs import (
    CampaignSpec,
    DoNotCallSpec,
    NumberKind,
    QueueSpec,
    ResultCodesSpec,
    RetryOutcome,
    RouteSpec,
    ScriptSpec,
    TeamSpec,
    TrunkSpec,
)
from parley.telephony.trunks import TrunkStatus
from parley.web.admin import SECTIONS, _admin, _client_strings, _records
from parley.web.auth import Ctx, Supervisor, WebContext
from parley.web.campaigns_routes import _out
from parley.web.config_routes import public
from parley.web.desk import render
from parley.web.locale import PageLocale

router = APIRouter()

TRANSPORTS = get_args(TrunkSpec.model_fields["transport"].annotation)
TRUNK_KINDS = get_args(TrunkSpec.model_fields["kind"].annotation)
DTMF_MODES = get_args(TrunkSpec.model_fields["dtmf_mode"].annotation)
SRTP = get_args(TrunkSpec.model_fields["srtp"].annotation)
CODECS = ("PCMU", "PCMA")
NUMBER_FORMATS = tuple(item.value for item in NumberFormat)
MODES = get_args(CampaignSpec.model_fields["mode"].annotation)
MACHINE = get_args(CampaignSpec.model_fields["machine"].annotation)
RETRY_OUTCOMES: tuple[str, ...] = get_args(RetryOutcome)
ROUTE_TRUNK_SLOTS = 4  # trunks a route form offers: the first and three to fail over to
RULE_SLOTS = 2  # empty caller-ID rule rows under the stored ones
NUMBER_KINDS: tuple[str, ...] = get_args(NumberKind)

#: What the page's script writes, beside the other admin pages' strings.
CLIENT_STRINGS = {
    "import.contacts": "{added} added, rows not loaded: {bad}.",
    "check.none": "Type a number first.",
    "check.route": "Route {route} ({kind}): {trunks}.",
    "check.trunk": "{trunk} dials {number} showing {caller_id}",
    "check.restricted": "caller ID restricted",
    "check.down": "(not available now)",
    "check.refused": "Not dialled: {reason}",
    "control.done": "Status now: {status}.",
    "control.stored": ("Status now: {status}. No dialer runs on this server; one started "
                       "later follows it."),
    "control.failed": "Not done: {reason}",
    "deleted": "Deleted.",
    "prompt.no_file": "Choose a WAV file first.",
    "optout.none": "Type a number first.",
    "optout.added": "Added: {added} (the others were on the list already).",
    "optout.lifted": "{number} may be called again.",
    "optout.failed": "Not done: {reason}",
    "prompt.not_deleted": "Not deleted: {reason}",
    **{f"status.{state}": f"status:{state}" for state in ("created", "running", "paused",
                                                             "stopped")},
}

TEXTS = ("Trunks", "Outbound routes", "Campaigns", "There is no trunk {name}.",
         "There is no do-not-call list {name}.",
         *(f"numbers:{kind}" for kind in get_args(NumberKind)),
         "There is no route {name}.", "There is no campaign {name}.",
         *(f"mode:{mode}" for mode in MODES), *(f"machine:{value}" for value in MACHINE),
         *(f"outcome:{outcome}" for outcome in RETRY_OUTCOMES),
         *(f"state:{state}" for state in ("registering", "registered", "failed",
                                          "unregistered", "up", "down")),
         "kind:register", "kind:peer", *(f"srtp:{value}" for value in SRTP),
         *(f"status:{state}" for state in ("created", "running", "paused", "stopped")))


def page_strings() -> set[str]:
    """Every catalog string these pages show that no template spells out."""
    return set(TEXTS) | set(CLIENT_STRINGS.values())


def _strings(locale: PageLocale) -> dict[str, str]:
    return {**_client_strings(locale),
            **{key: locale.gettext(text) for key, text in CLIENT_STRINGS.items()}}


def page(name: str, locale: PageLocale, principal: Principal, section: str,
         status_code: int = 200, **values: Any) -> HTMLResponse:
    """An admin page with these pages' script strings too."""
    return render(name, locale, status_code, principal=principal, section=section,
                  sections=SECTIONS, config={"strings": _strings(locale)}, **values)


def _missing(locale: PageLocale, principal: Principal, section: str,
             message: str, name: str) -> HTMLResponse:
    return page("admin_missing.html", locale, principal, section, 404,
                message=locale.gettext(message).format(name=name))


def _statuses(ctx: WebContext) -> dict[str, TrunkStatus] | None:
    """What the node knows of each trunk now; None when no telephony runs beside the web."""
    if ctx.trunks is None:
        return None
    return {trunk.name: trunk for trunk in ctx.trunks()}


def _rules(rules: list[Any]) -> list[dict[str, str]]:
    """Caller-ID rule rows: the stored ones, then empty ones to add more."""
    return [rule.model_dump() for rule in rules] + [{"match": "", "replace": ""}] * RULE_SLOTS


# --- trunks ---------------------------------------------------------------------------------


@router.get("/admin/trunks", response_class=HTMLResponse, include_in_schema=False)
async def trunks_page(request: Request, ctx: Ctx) -> Response:
    """Every trunk with its address, limits and live state (registered, up or down)."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    trunks = await _records(ctx, "trunks", TrunkSpec)
    routes = await _records(ctx, "routes", RouteSpec)
    used = {trunk.name: [route.name for route in routes if trunk.name in route.trunks]
            for trunk in trunks}
    return page("admin_trunks.html", locale, principal, "trunks", trunks=trunks, used=used,
                statuses=_statuses(ctx))


async def _trunk_form(request: Request, ctx: WebContext, name: str | None) -> Response:
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    trunk: TrunkSpec | None = None
    if name is not None:
        stored = await ctx.store.config.get("trunks", name)
        if not isinstance(stored, TrunkSpec):
            return _missing(locale, principal, "trunks", "There is no trunk {name}.", name)
        trunk = stored
    shown = trunk or TrunkSpec(name="new", host="carrier.example", username="account")
    statuses = _statuses(ctx)
    return page("admin_trunk.html", locale, principal, "trunks", trunk=trunk, shown=shown,
                record=public(trunk) if trunk is not None else {},
                password_set=trunk is not None and bool(trunk.password),
                rules=_rules(shown.caller_id_rules), transports=TRANSPORTS, kinds=TRUNK_KINDS,
                dtmf_modes=DTMF_MODES, srtp=SRTP, codecs=CODECS, formats=NUMBER_FORMATS,
                status=None if statuses is None or trunk is None
                else statuses.get(trunk.name), telephony=statuses is not None)


@router.get("/admin/trunks/new", response_class=HTMLResponse, include_in_schema=False)
async def new_trunk_page(request: Request, ctx: Ctx) -> Response:
    """An empty trunk form."""
    return await _trunk_form(request, ctx, None)


@router.get("/admin/trunks/{name}", response_class=HTMLResponse, include_in_schema=False)
async def trunk_page(name: str, request: Request, ctx: Ctx) -> Response:
    """One trunk: address, credentials, caller ID, limits, keep-alive and its live state."""
    return await _trunk_form(request, ctx, name)


# --- outbound routes ------------------------------------------------------------------------


def _in_order(routes: list[RouteSpec]) -> list[RouteSpec]:
    """Routes in the order they are tried (as the route engine orders them)."""
    return sorted(routes, key=lambda route: (route.position or 0, route.name))


@router.get("/admin/routes", response_class=HTMLResponse, include_in_schema=False)
async def routes_page(request: Request, ctx: Ctx) -> Response:
    """Every outbound route in the order tried, and the 'which trunk dials this' check."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    return page("admin_routes.html", locale, principal, "routes",
                routes=_in_order(await _records(ctx, "routes", RouteSpec)))


async def _route_form(request: Request, ctx: WebContext, name: str | None) -> Response:
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    route: RouteSpec | None = None
    if name is not None:
        stored = await ctx.store.config.get("routes", name)
        if not isinstance(stored, RouteSpec):
            return _missing(locale, principal, "routes", "There is no route {name}.", name)
        route = stored
    shown = route or RouteSpec(name="new", match="^\\+", trunks=["new"])
    chosen = list(route.trunks) if route else []
    slots = chosen + [""] * max(ROUTE_TRUNK_SLOTS - len(chosen), 1)
    return page("admin_route.html", locale, principal, "routes", route=route, shown=shown,
                record=public(route) if route is not None else {}, slots=slots,
                rules=_rules(shown.caller_id_rules),
                trunks=await _records(ctx, "trunks", TrunkSpec))


@router.get("/admin/routes/new", response_class=HTMLResponse, include_in_schema=False)
async def new_route_page(request: Request, ctx: Ctx) -> Response:
    """An empty route form."""
    return await _route_form(request, ctx, None)


@router.get("/admin/routes/{name}", response_class=HTMLResponse, include_in_schema=False)
async def route_page(name: str, request: Request, ctx: Ctx) -> Response:
    """One route: the numbers it takes, its trunks in failover order, its caller ID."""
    return await _route_form(request, ctx, name)


class RouteAttemptOut(BaseModel):
    """One trunk the call would be tried on, in order: the number as that trunk wants it,
    the caller ID shown, and whether the trunk could take a call now (None: no telephony
    runs on this server to say)."""

    trunk: str
    number: str
    caller_id: str
    restricted: bool
    available: bool | None


class RouteCheckOut(BaseModel):
    """Which route would carry a number, as the route engine decides it (every outside-line
    right allowed: the caller's own right is checked when they dial)."""

    number: str
    route: str
    kind: str
    attempts: list[RouteAttemptOut]


@router.get("/api/routes/check", response_model=RouteCheckOut, tags=["routes"],
            summary="Which outbound route and trunks would dial a number",
            responses={422: {"description": "no route matches, the number is blocked or "
                                            "the route has no trunk"}})
async def check_route(ctx: Ctx, _p: Supervisor,
                      number: str = Query(min_length=1, max_length=40,
                                          description="the number, written any way")
                      ) -> RouteCheckOut:
    routes = (await load_center_config(ctx.store)).outbound_routes()
    try:
        plan = routes.plan(number, right=LineRight.ALL)
    except OutboundRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"number: {exc}") from exc
    statuses = _statuses(ctx)
    return RouteCheckOut(number=plan.number, route=plan.route, kind=str(plan.kind), attempts=[
        RouteAttemptOut(**asdict(attempt), available=None if statuses is None
                        else attempt.trunk in statuses and statuses[attempt.trunk].available)
        for attempt in plan.attempts])


# --- campaigns ------------------------------------------------------------------------------


@router.get("/admin/campaigns", response_class=HTMLResponse, include_in_schema=False)
async def campaigns_page(request: Request, ctx: Ctx) -> Response:
    """Every campaign with its mode, status and contacts."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    campaigns = [_out(ctx, await ctx.store.campaigns.campaign(spec.name))
                 for spec in await _records(ctx, "campaigns", CampaignSpec)]
    return page("admin_campaigns.html", locale, principal, "campaigns", campaigns=campaigns)


async def _campaign_form(request: Request, ctx: WebContext, name: str | None) -> Response:
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    campaign: CampaignSpec | None = None
    state = None
    if name is not None:
        stored = await ctx.store.config.get("campaigns", name)
        if not isinstance(stored, CampaignSpec):
            return _missing(locale, principal, "campaigns", "There is no campaign {name}.",
                            name)
        campaign = stored
        state = _out(ctx, await ctx.store.campaigns.campaign(name)).state
    shown = campaign or CampaignSpec.model_construct(**{
        name: info.get_default(call_default_factory=True)
        for name, info in CampaignSpec.model_fields.items() if not info.is_required()})
    windows = shown.call_window
    general, by_type = _windows(windows)
    return page("admin_campaign.html", locale, principal, "campaigns", campaign=campaign,
                shown=shown, state=state,
                record=campaign.model_dump(mode="json") if campaign is not None else {},
                windows=general, by_type=by_type, number_kinds=NUMBER_KINDS,
                modes=MODES, machine=MACHINE, outcomes=RETRY_OUTCOMES,
                queues=await _records(ctx, "queues", QueueSpec),
                teams=await _records(ctx, "teams", TeamSpec),
                scripts=await _records(ctx, "scripts", ScriptSpec),
                result_codes=await _records(ctx, "result_codes", ResultCodesSpec))


def _windows(window: str | list[str] | dict[NumberKind, str | list[str]]
             ) -> tuple[str, dict[str, str]]:
    """The campaign form's call windows: those of every number type, and each type's own
    (empty: the first). Windows per type show the default beside the types' own: a type the
    provisioning file does not name keeps the default window."""
    def text(given: str | list[str]) -> str:
        return ", ".join([given] if isinstance(given, str) else given)

    if isinstance(window, dict):
        given: dict[str, str | list[str]] = {str(k): v for k, v in window.items()}
        return DEFAULT_WINDOW, {kind: text(given[kind]) if kind in given else ""
                                for kind in NUMBER_KINDS}
    return text(window), dict.fromkeys(NUMBER_KINDS, "")


@router.get("/admin/campaigns/new", response_class=HTMLResponse, include_in_schema=False)
async def new_campaign_page(request: Request, ctx: Ctx) -> Response:
    """An empty campaign form."""
    return await _campaign_form(request, ctx, None)


@router.get("/admin/campaigns/{name}", response_class=HTMLResponse, include_in_schema=False)
async def campaign_page(name: str, request: Request, ctx: Ctx) -> Response:
    """One campaign: settings, start/pause/stop, live counters and its contacts' CSV."""
    return await _campaign_form(request, ctx, name)


# --- do-not-call lists --------------------------------------------------------------------------

#: Opt-outs listed on a list's page (the newest are not known: the list is sorted; the count
#: and the lift-one form cover the rest).
OPT_OUTS_SHOWN = 500


@router.get("/admin/dnc", response_class=HTMLResponse, include_in_schema=False)
async def dnc_lists_page(request: Request, ctx: Ctx) -> Response:
    """Every do-not-call list with how many numbers and opt-outs it holds."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    return page("admin_dnc_lists.html", locale, principal, "dnc",
                lists=await _records(ctx, "do_not_call", DoNotCallSpec))


async def _dnc_form(request: Request, ctx: WebContext, name: str | None) -> Response:
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    listed: DoNotCallSpec | None = None
    if name is not None:
        stored = await ctx.store.config.get("do_not_call", name)
        if not isinstance(stored, DoNotCallSpec):
            return _missing(locale, principal, "dnc", "There is no do-not-call list {name}.",
                            name)
        listed = stored
    return page("admin_dnc.html", locale, principal, "dnc", listed=listed,
                record=public(listed) if listed is not None else {},
                shown=listed.opt_outs[:OPT_OUTS_SHOWN] if listed else [])


@router.get("/admin/dnc/new", response_class=HTMLResponse, include_in_schema=False)
async def new_dnc_page(request: Request, ctx: Ctx) -> Response:
    """An empty do-not-call list form."""
    return await _dnc_form(request, ctx, None)


@router.get("/admin/dnc/{name}", response_class=HTMLResponse, include_in_schema=False)
async def dnc_page(name: str, request: Request, ctx: Ctx) -> Response:
    """One do-not-call list: its provisioned numbers, and the customers' opt-outs (added,
    lifted one by one)."""
    return await _dnc_form(request, ctx, name)
