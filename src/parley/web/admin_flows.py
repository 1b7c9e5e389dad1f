"""The IVR flow editor: ``/admin/flows`` and its API (drafts, checks, going live, rollback,
test calls).

A flow is still stored as its YAML document (``flows`` records, every version kept); the
editor draws that document as a graph and saves it back as the same document, with the
nodes' positions in its optional ``layout:`` block (docs/ivr.md). The draft is checked by the
flow validator on every change and each problem is shown on the node it names; a draft with
errors cannot go live (``POST /api/flows/{name}/live`` answers 422 with the issues), and the
live version keeps answering calls. A test call runs the draft for one call from the admin's
browser phone (:mod:`parley.center.flow_trials`). Every change is audited and reaches the
running node at once, as any configuration change does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from parley.ivr.errors import FlowIssue
from parley.ivr.model import SayKind, TransferKind
from parley.ivr.validator import ValidatedFlow
from parley.store import NotFound, Refused
from parley.store.flow_drafts import FlowHistory
from parley.store.records import Principal
from parley.store.specs import FlowSpec, Name, NumberSpec, Text
from parley.web.admin import SECTIONS, _admin, _not_found, _page, _records
from parley.web.auth import Admin, Ctx, Supervisor, WebContext
from parley.web.config_routes import announce, audit, checked_flow
from parley.web.desk import render
from parley.web.locale import PageLocale
from parley.web.phone import JSSIP_MODULE

router = APIRouter()

#: What the editor's form shows per node type: (field, widget). Widgets: ``exit`` (a node,
#: also an edge of the graph), ``options`` (menu keys to nodes), ``prompts`` (one item a
#: line), ``assign`` (``name = expression`` a line), ``words``, ``number``, ``bool``,
#: ``choice:a|b`` and ``text``. Field names are the YAML's (docs/ivr.md).
SAY_KINDS = "|".join(kind.value for kind in SayKind)
TRANSFER_KINDS = "|".join(kind.value for kind in TransferKind)
NODE_FORMS: dict[str, list[tuple[str, str]]] = {
    "play": [("prompt", "prompts"), ("next", "exit")],
    "menu": [("prompt", "prompts"), ("options", "options"), ("on_failure", "exit"),
             ("on_invalid", "exit"), ("on_timeout", "exit"), ("timeout", "number"),
             ("retries", "number"), ("invalid_prompt", "prompts"),
             ("timeout_prompt", "prompts")],
    "collect": [("prompt", "prompts"), ("variable", "text"), ("next", "exit"),
                ("on_failure", "exit"), ("min_length", "number"), ("max_length", "number"),
                ("pattern", "text"), ("terminators", "text"), ("timeout", "number"),
                ("retries", "number")],
    "say": [("kind", f"choice:{SAY_KINDS}"), ("value", "text"), ("next", "exit")],
    "condition": [("if", "text"), ("then", "exit"), ("else", "exit")],
    "set": [("variables", "assign"), ("next", "exit")],
    "lookup": [("method", "choice:GET|POST"), ("url", "text"), ("variable", "text"),
               ("next", "exit"), ("fallback", "exit"), ("timeout", "number")],
    "queue": [("queue", "text"), ("priority", "text"), ("skills", "words"),
              ("data", "assign"), ("on_failure", "exit")],
    "transfer": [("to", f"choice:{TRANSFER_KINDS}"), ("target", "text"),
                 ("on_failure", "exit")],
    "voicemail": [("mailbox", "text"), ("prompt", "prompts")],
    "callback": [("queue", "text"), ("prompt", "prompts"), ("accepted", "exit"),
                 ("declined", "exit"), ("confirm_digit", "text")],
    "record": [("variable", "text"), ("prompt", "prompts"), ("next", "exit"),
               ("max_seconds", "number"), ("beep", "bool")],
    "hangup": [("cause", "text"), ("prompt", "prompts")],
}

#: The page script's strings (the browser holds no catalog).
CLIENT_STRINGS = {
    "saving": "Saving…", "saved": "Draft saved.",
    "ok": "No problems: this draft can go live.",
    "problems": "{count} problem(s): fix them before going live.",
    "live": "Version {version} is live.", "not_live": "Not live: {reason}",
    "rolled_back": "Version {version} is live again.",
    "trial.calling": "Calling the draft at {number}…",
    "trial.failed": "No test call: {reason}",
    "failed": "Not saved: {reason}",
    "node.exists": "A node named {id} exists already.",
    "node.bad_id": "A node id starts with a letter: letters, digits, _ - or .",
    "node.none": "Choose a node in the graph or the list to edit it.",
    "start": "start", "warning": "warning", "error": "error",
    "phone.connecting": "Phone: connecting…", "phone.registered": "Phone: ready",
    "phone.unregistered": "Phone: not registered", "phone.failed": "Phone: failed",
    "phone.desk": "Phone: desk phone {device}",
    "call.talking": "Test call: connected.", "call.ended": "Test call ended.",
    "call.calling": "Test call: ringing…",
    "status.draft": "version:draft", "status.live": "version:live",
    "status.previous": "version:previous", "status.older": "version:older",
}
MESSAGES = ("There is no flow {name}.", "IVR flows", "version:draft", "version:live",
            "version:previous", "version:older")


def page_strings() -> set[str]:
    """Every catalog string of these pages no template spells out."""
    return set(CLIENT_STRINGS.values()) | set(MESSAGES)


def _client(locale: PageLocale) -> dict[str, Any]:
    return {"strings": {key: locale.gettext(text) for key, text in CLIENT_STRINGS.items()},
            "phone": "browser", "device": "", "jssip": JSSIP_MODULE}


# --- checking ---------------------------------------------------------------------------------


def issue_json(issue: FlowIssue) -> dict[str, Any]:
    """An issue as the editor shows it: on its node (None: the flow's own fields)."""
    return {"code": issue.code, "message": issue.message, "node": issue.node,
            "field": issue.field, "line": issue.line, "severity": issue.severity.value}


async def check(ctx: WebContext, name: str, definition: dict[str, Any]) -> ValidatedFlow:
    """Validate a definition as the node will run it (in the site's time zone)."""
    return await checked_flow(ctx, FlowSpec(name=name, definition={**definition, "flow": name}))


def _refusal(name: str, checked: ValidatedFlow) -> JSONResponse:
    errors = [issue_json(issue) for issue in checked.errors]
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={
        "detail": f"flow {name!r} has {len(errors)} error(s) and cannot go live; the live "
                  "version keeps answering calls", "issues": errors})


class FlowCheck(BaseModel):
    """A definition to check (the editor's unsaved graph)."""

    name: Name = "draft"
    definition: dict[str, Any] = Field(default_factory=dict)


class FlowDraft(BaseModel):
    name: Name
    description: Text = ""
    definition: dict[str, Any] = Field(default_factory=dict)


class GoLive(BaseModel):
    version: int | None = Field(default=None, description="default: the draft")


def _history_json(history: FlowHistory) -> dict[str, Any]:
    return {"name": history.name, "description": history.description, "live": history.live,
            "versions": [{"version": v.version, "status": v.status,
                          "saved_at": v.saved_at.isoformat(), "definition": v.definition}
                         for v in history.versions]}


async def _history(ctx: WebContext, name: str) -> FlowHistory:
    try:
        return await ctx.store.flows.history(name)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.post("/api/flows/check", tags=["flows"],
             summary="Check a flow definition; every issue with its node and field")
async def check_flow(body: FlowCheck, ctx: Ctx, _p: Admin) -> dict[str, Any]:
    checked = await check(ctx, body.name, body.definition)
    return {"ok": checked.ok, "issues": [issue_json(issue) for issue in checked.issues]}


@router.get("/api/flows/{name}/history", tags=["flows"],
            summary="A flow's versions, newest first: draft, live, previous, older")
async def flow_history(name: str, ctx: Ctx, _p: Supervisor) -> dict[str, Any]:
    return _history_json(await _history(ctx, name))


@router.put("/api/flows/{name}/draft", tags=["flows"],
            summary="Save a flow's draft (the live version keeps answering calls)")
async def save_draft(name: str, body: FlowDraft, ctx: Ctx, principal: Admin
                     ) -> dict[str, Any]:
    if body.name != name:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"name: the body names {body.name!r} but the URL names {name!r}")
    definition = {key: value for key, value in body.definition.items() if key != "flow"}
    version, changed = await ctx.store.flows.save_draft(name, body.description, definition)
    if changed:
        await audit(ctx, principal, "draft", "flows", name, {"version": version})
    checked = await check(ctx, name, definition)
    return {"version": version, "ok": checked.ok,
            "issues": [issue_json(issue) for issue in checked.issues]}


async def _make_live(ctx: WebContext, principal: Principal, name: str, version: int,
                     action: str) -> Response | dict[str, Any]:
    history = await _history(ctx, name)
    found = next((v for v in history.versions if v.version == version), None)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"version: flow {name!r} has no version {version}")
    checked = await check(ctx, name, found.definition)
    if not checked.ok:
        await audit(ctx, principal, f"{action}_refused", "flows", name,
                    {"version": version, "errors": len(checked.errors)})
        return _refusal(name, checked)
    history = await ctx.store.flows.make_live(name, version)
    await audit(ctx, principal, action, "flows", name, {"version": version})
    announce(ctx, "flows", name, "update")
    return _history_json(history)


@router.post("/api/flows/{name}/live", tags=["flows"], response_model=None,
             summary="Make the draft (or a given version) live, if it has no errors",
             responses={422: {"description": "the version has errors; nothing changed"}})
async def go_live(name: str, ctx: Ctx, principal: Admin, body: GoLive | None = None
                  ) -> Response | dict[str, Any]:
    history = await _history(ctx, name)
    version = body.version if body is not None and body.version is not None else None
    if version is None:
        draft = history.find("draft")
        if draft is None:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"flow {name!r} has no draft: save one first")
        version = draft.version
    return await _make_live(ctx, principal, name, version, "go_live")


@router.post("/api/flows/{name}/rollback", tags=["flows"], response_model=None,
             summary="Make the version before the live one live again")
async def roll_back(name: str, ctx: Ctx, principal: Admin) -> Response | dict[str, Any]:
    await _history(ctx, name)
    try:
        previous = await ctx.store.flows.previous(name)
    except Refused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return await _make_live(ctx, principal, name, previous.version, "rollback")


@router.post("/api/flows/{name}/trial", tags=["flows"], response_model=None,
             summary="A one-call number that runs the flow's draft for this admin's phone",
             responses={422: {"description": "the draft has errors"},
                        503: {"description": "no telephony on this node"}})
async def trial(name: str, ctx: Ctx, principal: Admin) -> Response | dict[str, Any]:
    if ctx.flow_trials is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "no telephony on this node: test calls need one")
    history = await _history(ctx, name)
    chosen = history.find("draft") or history.find("live")
    if chosen is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"flow {name!r} has nothing to call")
    checked = await check(ctx, name, chosen.definition)
    if checked.flow is None or not checked.ok:
        return _refusal(name, checked)
    callers = frozenset({principal.username,
                         *await ctx.store.directory.devices_of(principal.username)})
    opened = ctx.flow_trials.open(checked.flow, callers)
    await audit(ctx, principal, "trial", "flows", name,
                {"version": chosen.version, "number": opened.number})
    return {"number": opened.number, "version": chosen.version,
            "expires_in_s": round(opened.expires_at - ctx.clock.monotonic())}


# --- pages ------------------------------------------------------------------------------------


@router.get("/admin/flows", response_class=HTMLResponse, include_in_schema=False)
async def flows_page(request: Request, ctx: Ctx) -> Response:
    """Every flow: its live version, whether a draft waits, the numbers it answers."""
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    numbers = await _records(ctx, "numbers", NumberSpec)
    rows = []
    for flow in await _records(ctx, "flows", FlowSpec):
        history = await ctx.store.flows.history(flow.name)
        rows.append({"name": flow.name, "description": flow.description,
                     "live": history.live, "draft": history.find("draft") is not None,
                     "numbers": [n.number for n in numbers if n.flow == flow.name]})
    return _page("admin_flows.html", locale, principal, "flows", flows=rows)


async def _editor(request: Request, ctx: WebContext, name: str | None) -> Response:
    found = await _admin(request, ctx)
    if isinstance(found, Response):
        return found
    principal, locale = found
    history: FlowHistory | None = None
    if name is not None:
        try:
            history = await ctx.store.flows.history(name)
        except NotFound:
            return _not_found(locale, principal, "flows", locale.gettext(
                "There is no flow {name}.").format(name=name))
    shown = None if history is None else (history.find("draft") or history.find("live")
                                          or (history.versions[0] if history.versions
                                              else None))
    definition = dict(shown.definition) if shown is not None else {
        "start": "welcome", "nodes": {"welcome": {"type": "hangup"}}}
    record = {"name": name or "", "description": history.description if history else "",
              "definition": definition, "live": history.live if history else 0}
    return render("admin_flow.html", locale, principal=principal, section="flows",
                  sections=SECTIONS, config=_client(locale), flow=history, record=record,
                  forms=NODE_FORMS, versions=list(history.versions) if history else [])


@router.get("/admin/flows/new", response_class=HTMLResponse, include_in_schema=False)
async def new_flow_page(request: Request, ctx: Ctx) -> Response:
    """An empty flow in the editor."""
    return await _editor(request, ctx, None)


@router.get("/admin/flows/{name}", response_class=HTMLResponse, include_in_schema=False)
async def flow_page(name: str, request: Request, ctx: Ctx) -> Response:
    """One flow's graph, its nodes' forms, its problems and its versions."""
    return await _editor(request, ctx, name)
