"""The admin pages, ``/admin``: users, queues, numbers, number lists and reason codes (the
other sections live in modules of their own: admin_outbound, admin_flows, admin_scorecards…).

The server renders each page with the stored records; the page's script (static/admin)
sends every form to the configuration API (``/api/<kind>``, ``/api/site``, the CSV imports),
so a change made here is validated, stored, audited and takes effect exactly as one made
over the API, and the API's error messages are shown next to the field they name. Only
admins see these pages: anyone else signed in gets 403, and someone not signed in is sent
to ``/login``.
"""

from __future__ import annotations

from typing import Any, TypeVar, get_args

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from parley.store.directory_users import directory_usernames
from parley.store.records import Principal
from parley.store.specs import (
    DEFAULT_RESULT_CODES,
    DeviceSpec,
    FlowSpec,
    NumberListSpec,
    NumberSpec,
    OverflowRule,
    QueueSpec,
    ResultCodesSpec,
    Role,
    ScriptSpec,
    SkillSpec,
    Spec,
    TeamSpec,
    UserSpec,
)
from parley.web.auth import (
    Admin,
    Ctx,
    WebContext,
    authenticate,
    has_role,
    to_sign_in,
)
from parley.web.config_routes import public
from parley.web.desk import render
from parley.web.locale import PageLocale, page_locale
from parley.web.phone import STATIC_PREFIX
from parley.web.script_routes import render_script_form
from parley.web.script_routes import templates as script_templates

router = APIRouter()
S = TypeVar("S", bound=Spec)

#: The sections, in the navigation's order: path, catalog title.
SECTIONS = (("users", "Users"), ("queues", "Queues"), ("numbers", "Numbers"),
            ("lists", "Number lists"), ("reasons", "Reason codes"), ("scripts", "Scripts"),
            ("trunks", "Trunks"), ("routes", "Outbound routes"), ("campaigns", "Campaigns"),
            ("dnc", "Do not call"), ("prompts", "Prompts"), ("directory", "Directory"),
            ("retention", "Recording retention"), ("flows", "IVR flows"),
            ("scorecards", "Scorecards"))
DAYS = (("mon", "Monday"), ("tue", "Tuesday"), ("wed", "Wednesday"), ("thu", "Thursday"),
        ("fri", "Friday"), ("sat", "Saturday"), ("sun", "Sunday"))
STRATEGIES = get_args(QueueSpec.model_fields["strategy"].annotation)
RECORDING = get_args(QueueSpec.model_fields["recording"].annotation)
OVERFLOW_WHEN = get_args(OverflowRule.model_fields["when"].annotation)
LIST_KINDS = get_args(NumberListSpec.model_fields["kind"].annotation)
ROLES = tuple(role.value for role in Role)


def _client_strings(locale: PageLocale) -> dict[str, str]:
    """What the page's script writes, translated here (the browser holds no catalog)."""
    keys = {
        "saving": "Saving…", "saved": "Saved.",
        "not_saved": "Not saved: correct the marked fields.",
        "failed": "Not saved: {reason}",
        "importing": "Importing…",
        "import.users": "{created} created, {updated} updated, rows not imported: {bad}.",
        "import.numbers": "{added} added, {already} already listed, rows not imported: {bad}.",
        "import.none": "Choose a CSV file first.",
        "import.failed": "Not imported: {reason}",
        "device.name": "Give the device a name.",
        "device.taken": "This device belongs to {user}.",
        "delete.confirm": "{what}? This cannot be undone.",
        "deleting": "Deleting…",
        "delete.failed": "Not deleted: {reason}",
    }
    return {key: locale.gettext(text) for key, text in keys.items()}


MESSAGES = ("There is no user {name}.", "There is no queue {name}.",
            "There is no number list {name}.", "There is no script {name}.")


def page_strings() -> set[str]:
    """Every catalog string these pages show that no template spells out: section and day
    names, roles, strategies, overflow conditions, recording policies, list kinds, the
    script's messages."""
    found = {title for _path, title in SECTIONS} | {title for _day, title in DAYS}
    found |= set(ROLES) | set(STRATEGIES) | set(OVERFLOW_WHEN) | set(MESSAGES)
    found |= {f"recording:{value}" for value in RECORDING}
    found |= {f"list:{kind}" for kind in LIST_KINDS}
    found |= set(_client_strings(PageLocale("en")).values())
    return found


async def _admin(request: Request, ctx: WebContext) -> tuple[Principal, PageLocale] | Response:
    """The admin viewing the page and their locale, or the answer for anyone else: the
    sign-in page for someone not signed in, 403 for a signed-in non-admin."""
    principal = await authenticate(request)
    if principal is None:
        return to_sign_in(request)
    locale = await page_locale(ctx, request, principal)
    if not has_role(principal, Role.ADMIN):
        return render("admin_denied.html", locale, 403, principal=principal,
                      config={"strings": {}})
    return principal, locale


def _page(name: str, locale: PageLocale, principal: Principal, section: str,
          status_code: int = 200, **values: Any) -> HTMLResponse:
    return render(name, locale, status_code, principal=principal, section=section,
                  sections=SECTIONS, config={"strings": _client_strings(locale)}, **values)


admin_viewer = _admin  # for the sections in modules of their own (web/directory.py, …)
admin_page = _page


def _not_found(locale: PageLocale, principal: Principal, section: str,
               message: str) -> HTMLResponse:
    return _page("admin_missing.html", locale, principal, section, 404, message=message)


async def _records(ctx: WebContext, kind: str, spec: type[S]) -> list[S]:
    return sorted((record for record in await ctx.store.config.records(kind)
                   if isinstance(record, spec)), key=lambda record: record.key.casefold())


@router.get("/admin", include_in_schema=False)
async def admin_home(request: Request, ctx: Ctx) -> Response:
    """The first section: users."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    return RedirectResponse("/admin/users", status_code=status.HTTP_303_SEE_OTHER)


# --- users ----------------------------------------------------------------------------------


@router.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
async def users_page(request: Request, ctx: Ctx) -> Response:
    """Every user with roles, teams, devices and whether they may sign in; the CSV import."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    devices = await _records(ctx, "devices", DeviceSpec)
    owned: dict[str, list[str]] = {}
    for device in devices:
        if device.user:
            owned.setdefault(device.user, []).append(device.name)
    return _page("admin_users.html", locale, principal, "users",
                 users=await _records(ctx, "users", UserSpec), devices=owned,
                 directory=await directory_usernames(ctx.store))


async def _user_form(request: Request, ctx: WebContext, name: str | None) -> Response:
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    user: UserSpec | None = None
    if name is not None:
        stored = await ctx.store.config.get("users", name)
        if not isinstance(stored, UserSpec):
            return _not_found(locale, principal, "users",
                              locale.gettext("There is no user {name}.").format(name=name))
        user = stored
    queues = await _records(ctx, "queues", QueueSpec)
    devices = [device for device in await _records(ctx, "devices", DeviceSpec)
               if user is not None and device.user == user.username]
    from_directory = user is not None and user.username in await directory_usernames(ctx.store)
    return _page("admin_user.html", locale, principal, "users", user=user,
                 from_directory=from_directory,
                 record=public(user) if user is not None else {"roles": ["agent"]},
                 roles=ROLES, teams=await _records(ctx, "teams", TeamSpec),
                 skills=await _records(ctx, "skills", SkillSpec), queues=queues,
                 devices=devices,
                 member_of=[queue.name for queue in queues
                            if user is not None and user.username in queue.members])


@router.get("/admin/users/new", response_class=HTMLResponse, include_in_schema=False)
async def new_user_page(request: Request, ctx: Ctx) -> Response:
    """An empty user form."""
    return await _user_form(request, ctx, None)


@router.get("/admin/users/{name}", response_class=HTMLResponse, include_in_schema=False)
async def user_page(name: str, request: Request, ctx: Ctx) -> Response:
    """One user's form: who they are, roles, teams, skills, queues, devices, password."""
    return await _user_form(request, ctx, name)


# --- queues ---------------------------------------------------------------------------------


@router.get("/admin/queues", response_class=HTMLResponse, include_in_schema=False)
async def queues_page(request: Request, ctx: Ctx) -> Response:
    """Every queue with its strategy, hours and where its callers overflow."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    return _page("admin_queues.html", locale, principal, "queues",
                 queues=await _records(ctx, "queues", QueueSpec))


async def _queue_form(request: Request, ctx: WebContext, name: str | None) -> Response:
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    queue: QueueSpec | None = None
    if name is not None:
        stored = await ctx.store.config.get("queues", name)
        if not isinstance(stored, QueueSpec):
            return _not_found(locale, principal, "queues",
                              locale.gettext("There is no queue {name}.").format(name=name))
        queue = stored
    shown = queue or QueueSpec(name="new")
    rules = [rule.model_dump() for rule in shown.overflow]
    rules += [{"when": "", "threshold": None, "target": ""}] * 2
    steps = [step.model_dump() for step in shown.relax]
    steps += [{"after_s": None, "min_level": None}] * 2
    return _page("admin_queue.html", locale, principal, "queues", queue=queue, shown=shown,
                 record=public(queue) if queue is not None else {}, days=DAYS,
                 strategies=STRATEGIES, recording=RECORDING, overflow_when=OVERFLOW_WHEN,
                 rules=rules, steps=steps, teams=await _records(ctx, "teams", TeamSpec),
                 skills=await _records(ctx, "skills", SkillSpec),
                 scripts=await _records(ctx, "scripts", ScriptSpec),
                 result_codes=await _records(ctx, "result_codes", ResultCodesSpec))


@router.get("/admin/queues/new", response_class=HTMLResponse, include_in_schema=False)
async def new_queue_page(request: Request, ctx: Ctx) -> Response:
    """An empty queue form."""
    return await _queue_form(request, ctx, None)


@router.get("/admin/queues/{name}", response_class=HTMLResponse, include_in_schema=False)
async def queue_page(name: str, request: Request, ctx: Ctx) -> Response:
    """One queue's form: routing, hours, overflow, what callers hear, recording, codes."""
    return await _queue_form(request, ctx, name)


# --- numbers and number lists ---------------------------------------------------------------


@router.get("/admin/numbers", response_class=HTMLResponse, include_in_schema=False)
async def numbers_page(request: Request, ctx: Ctx, edit: str = "") -> Response:
    """Every dialled number and the flow that answers it; a form to add or change one."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    numbers = await _records(ctx, "numbers", NumberSpec)
    flows = {flow.name: flow for flow in await _records(ctx, "flows", FlowSpec)}
    editing = next((number for number in numbers if number.number == edit), None)
    return _page("admin_numbers.html", locale, principal, "numbers", numbers=numbers,
                 flows=flows, editing=editing,
                 record=public(editing) if editing is not None else {})


@router.get("/admin/lists", response_class=HTMLResponse, include_in_schema=False)
async def lists_page(request: Request, ctx: Ctx) -> Response:
    """Every number list: block, VIP and tag lists."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    return _page("admin_lists.html", locale, principal, "lists",
                 lists=await _records(ctx, "number_lists", NumberListSpec))


async def _list_form(request: Request, ctx: WebContext, name: str | None) -> Response:
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    listed: NumberListSpec | None = None
    if name is not None:
        stored = await ctx.store.config.get("number_lists", name)
        if not isinstance(stored, NumberListSpec):
            return _not_found(locale, principal, "lists", locale.gettext(
                "There is no number list {name}.").format(name=name))
        listed = stored
    return _page("admin_list.html", locale, principal, "lists", listed=listed,
                 record=public(listed) if listed is not None else {}, kinds=LIST_KINDS)


@router.get("/admin/lists/new", response_class=HTMLResponse, include_in_schema=False)
async def new_list_page(request: Request, ctx: Ctx) -> Response:
    """An empty number list form."""
    return await _list_form(request, ctx, None)


@router.get("/admin/lists/{name}", response_class=HTMLResponse, include_in_schema=False)
async def list_page(name: str, request: Request, ctx: Ctx) -> Response:
    """One number list: its kind, its numbers, and a CSV import into it."""
    return await _list_form(request, ctx, name)


# --- reason codes ---------------------------------------------------------------------------


@router.get("/admin/reasons", response_class=HTMLResponse, include_in_schema=False)
async def reasons_page(request: Request, ctx: Ctx) -> Response:
    """The not-ready reasons operators choose from (the site's ``reason_codes``)."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    site = await ctx.store.config.site()
    return _page("admin_reasons.html", locale, principal, "reasons",
                 record=site.model_dump(mode="json"), reasons=site.reason_codes)


# --- dialog scripts -------------------------------------------------------------------------


@router.get("/admin/scripts", response_class=HTMLResponse, include_in_schema=False)
async def scripts_page(request: Request, ctx: Ctx) -> Response:
    """Every dialog script, with the queues that use it."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    queues = await _records(ctx, "queues", QueueSpec)
    used = {script.name: [queue.name for queue in queues if queue.script == script.name]
            for script in await _records(ctx, "scripts", ScriptSpec)}
    return _page("admin_scripts.html", locale, principal, "scripts",
                 scripts=await _records(ctx, "scripts", ScriptSpec), used=used)


async def _script_form(request: Request, ctx: WebContext, name: str | None) -> Response:
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    script: ScriptSpec | None = None
    if name is not None:
        stored = await ctx.store.config.get("scripts", name)
        if not isinstance(stored, ScriptSpec):
            return _not_found(locale, principal, "scripts",
                              locale.gettext("There is no script {name}.").format(name=name))
        script = stored
    return _page("admin_script.html", locale, principal, "scripts", script=script,
                 record=public(script) if script is not None else {})


@router.get("/admin/scripts/new", response_class=HTMLResponse, include_in_schema=False)
async def new_script_page(request: Request, ctx: Ctx) -> Response:
    """An empty script form."""
    return await _script_form(request, ctx, None)


@router.get("/admin/scripts/{name}", response_class=HTMLResponse, include_in_schema=False)
async def script_page(name: str, request: Request, ctx: Ctx) -> Response:
    """One script: title, description and blocks, beside the form operators will see."""
    return await _script_form(request, ctx, name)


@router.post("/admin/scripts/preview", response_class=HTMLResponse, include_in_schema=False)
async def script_preview(spec: ScriptSpec, request: Request, ctx: Ctx,
                         principal: Admin) -> HTMLResponse:
    """The form a script not saved yet gives operators (the admin page's live preview); an
    invalid script is refused as the API refuses it, with the path of the field at fault."""
    locale = await page_locale(ctx, request, principal)
    form = render_script_form(spec.script(), list(DEFAULT_RESULT_CODES), locale)
    html = script_templates.get_template("script_preview.html").render(
        form=form, title=spec.title or spec.name, static=STATIC_PREFIX, _=locale.gettext,
        gettext=locale.gettext, lang=locale.language)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
