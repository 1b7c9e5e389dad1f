"""The supervisor console (``/supervisor``) and the wallboard (``/wallboard``).

The console shows three live tables (queues, operators, calls in progress) for the
supervisor's scope (:mod:`parley.web.scope`), drawn once from ``/supervisor/live`` and then
kept current by the page's runtime (static/supervisor/console.js). Calls arrive as row
changes on ``/api/events`` (``LiveCallChanged``: added, changed, removed, keyed by call id,
from :mod:`parley.center.call_feed`), which the page patches in place; operators' rows arrive
as their changed fields keyed by operator (``OperatorRowChanged``, from
:mod:`parley.center.operator_feed`), so the page asks ``/supervisor/live`` for rows only when
it (re)connects; queue figures it asks for after an event, several times a second at most.
DOM changes are batched per animation frame and durations tick from one timer, so a floor of
1,400 operators and 1,000 calls stays cheap (docs/benchmarks.md). Every figure, label and
threshold verdict comes from here (the browser computes no KPI and decides no permission; it
names an operator's pushed state from the catalog this module translates); the page only
counts the seconds of time-in-state and call durations between updates.

Queue figures are the ACD's (:class:`parley.center.ports.QueueFigures`), by the definitions of
:mod:`parley.kpi` named on the page: service level ``ServiceLevel.ANSWERED``, abandon rate
``AbandonRate.FINISHED``, ASA :func:`parley.kpi.average_speed_of_answer`, counted since the
node started (or the ACD's daily reset). A queue's ``thresholds`` (provisioning) colour a
cell and raise an alert.

The wallboard is the queue table alone, in type readable across a room, with no control.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from parley.center.call_feed import MONITOR_LEG
from parley.center.ports import LiveCall, NotRunning, QueueFigures
from parley.clock import Clock
from parley.kpi import AbandonRate, ServiceLevel
from parley.store import Store
from parley.store.records import InteractionRecord, Principal
from parley.store.specs import QueueSpec, QueueThresholds, Role, UserSpec
from parley.web.auth import (
    SESSION_COOKIE,
    Agent,
    Ctx,
    Supervisor,
    WebContext,
    authenticate,
    has_role,
    to_sign_in,
)
from parley.web.desk import render, seats
from parley.web.locale import PageLocale, page_locale
from parley.web.phone import JSSIP_MODULE
from parley.web.scope import Scope, scope_of

router = APIRouter()

#: An operator's state as the console names it (the desk's catalog entries).
STATE_TEXT = {"ready": "Ready", "not_ready": "Not ready",
              "logged_out": "Signed out of the queues", "reserved": "Reserved",
              "ringing": "Ringing", "on_call": "In a call", "on_hold": "On hold",
              "wrap_up": "Wrap-up"}
CALL_STATE_TEXT = {"ringing": "Ringing", "talking": "Talking", "queued": "Waiting",
                   "ivr": "In the IVR", "held": "On hold", "dialling": "Dialling"}
#: The definitions the queue figures are computed by, named on the page.
DEFINITIONS = {"service_level": ServiceLevel.ANSWERED, "abandon_rate": AbandonRate.FINISHED}
MAX_ROWS_ASKED = 500


def clock_text(seconds: float) -> str:
    """1:05 or 1:02:05."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else \
        f"{rest // 60}:{rest % 60:02d}"


def _client_strings(locale: PageLocale) -> dict[str, str]:
    """What the console's runtime writes into the page, translated here."""
    keys = {
        "phone.connecting": "Phone: connecting…", "phone.registered": "Phone: ready",
        "phone.unregistered": "Phone: not registered", "phone.failed": "Phone: failed",
        "phone.desk": "Phone: desk phone {device}",
        "events.lost": "Live updates are reconnecting…",
        "help": "{operator} asks for help on a call in {queue}.",
        "help.join": "Join",
        "help.dismiss": "Dismiss",
        "monitor.ringing": "Your phone rings: answer it to join the call of {operator}.",
        "monitor.listen": "You are listening to {operator}.",
        "monitor.whisper": "You are whispering to {operator}.",
        "monitor.barge": "You have joined the call of {operator}.",
        "monitor.left": "You left the call of {operator}.",
        "monitor.takeover": "You have taken over the call from {operator}.",
        "monitor.takeover_ringing": "Your phone rings: answer it to take over the call from "
                                    "{operator}.",
        "confirm.takeover": "Take over this call from {operator}? They leave the call.",
        "action.failed": "That did not work: {reason}",
        "state.done": "{operator}: {state}",
        "reason.missing": "Give a reason.",
        "dialog.not_ready": "Force {operator} not ready",
        "dialog.sign_out": "Sign {operator} out",
        "listen": "Listen", "whisper": "Whisper", "barge": "Barge", "take_over": "Take over",
        "leave": "Leave",
        "hang_up": "Hang up", "force_not_ready": "Force not ready", "sign_out": "Sign out",
        "no_calls": "No call in progress.", "no_operators": "No operator.",
        **{f"call_state.{state}": text for state, text in CALL_STATE_TEXT.items()},
        **{f"state.{state}": text for state, text in STATE_TEXT.items()},
    }
    return {key: locale.gettext(text) for key, text in keys.items()}


# --- the rows -------------------------------------------------------------------------------


def _percent(locale: PageLocale, value: float | None) -> str:
    return "–" if value is None else locale.percent(value)


def queue_row(figures: QueueFigures, thresholds: QueueThresholds,
              locale: PageLocale) -> dict[str, Any]:
    """One queue's cells as shown, and which of them are past the queue's thresholds (with
    the alert each raises)."""
    busy = max(0, figures.operators_busy - figures.operators_wrap_up)
    cells = {
        "waiting": locale.number(figures.waiting),
        "longest_wait": clock_text(figures.longest_wait_s) if figures.waiting else "–",
        "expected_wait": clock_text(figures.expected_wait_s),
        "ready": locale.number(figures.operators_ready),
        "busy": locale.number(busy),
        "wrap_up": locale.number(figures.operators_wrap_up),
        "not_ready": locale.number(figures.operators_not_ready),
        "service_level": _percent(locale, figures.service_level),
        "asa": clock_text(figures.asa_s),
        "abandon_rate": _percent(locale, figures.abandon_rate),
    }
    alerts: dict[str, str] = {}
    t, q = thresholds, figures.queue

    def raise_(cell: str, text: str, **values: str) -> None:
        alerts[cell] = locale.gettext(text).format(queue=q, **values)

    if t.waiting is not None and figures.waiting > t.waiting:
        raise_("waiting", "{queue}: {value} calls waiting (threshold {limit})",
               value=cells["waiting"], limit=locale.number(t.waiting))
    if t.longest_wait_s is not None and figures.waiting and \
            figures.longest_wait_s > t.longest_wait_s:
        raise_("longest_wait", "{queue}: a caller has waited {value} (threshold {limit})",
               value=cells["longest_wait"], limit=clock_text(t.longest_wait_s))
    if t.expected_wait_s is not None and figures.expected_wait_s > t.expected_wait_s:
        raise_("expected_wait", "{queue}: expected wait {value} (threshold {limit})",
               value=cells["expected_wait"], limit=clock_text(t.expected_wait_s))
    if t.service_level is not None and figures.service_level is not None and \
            figures.service_level < t.service_level:
        raise_("service_level", "{queue}: service level {value} (threshold {limit})",
               value=cells["service_level"], limit=locale.percent(t.service_level))
    if t.abandon_rate is not None and figures.abandon_rate is not None and \
            figures.abandon_rate > t.abandon_rate:
        raise_("abandon_rate", "{queue}: abandon rate {value} (threshold {limit})",
               value=cells["abandon_rate"], limit=locale.percent(t.abandon_rate))
    return {"key": q, "cells": cells, "alerts": alerts}


async def _queues(ctx: WebContext, scope: Scope, locale: PageLocale) -> list[dict[str, Any]]:
    try:
        figures = ctx.center.queue_figures()
    except NotRunning:
        return []
    specs = {spec.name: spec for spec in await ctx.store.config.records("queues")
             if isinstance(spec, QueueSpec)}
    return [queue_row(figure, specs[figure.queue].thresholds if figure.queue in specs
                      else QueueThresholds(), locale)
            for figure in figures if scope.sees_queue(figure.queue)]


def _live_calls(ctx: WebContext) -> list[LiveCall]:
    try:
        calls = ctx.calls.live_calls()
    except NotRunning:
        return []
    return [call for call in calls if not call.id.startswith(MONITOR_LEG)]


def call_row(call: LiveCall) -> dict[str, Any]:
    """A call's row as the page draws it: the fields of a ``LiveCallChanged`` (the page
    names the state from its catalog and the operator from ``names``)."""
    return {"call_id": call.id, "queue": call.queue or "", "operator": call.operator or "",
            "caller": call.caller, "called": call.called, "state": call.state,
            "started_at": _iso(call.started_at),
            "answered_at": _iso(call.answered_at) if call.answered_at else None}


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


#: How long the users read for the consoles are reused: each console refreshes the rows that
#: events changed several times a second, and a floor of 1,400 operators must not be read from
#: the store each time (a change of a user shows within this time, or at once on a new page).
USERS_TTL = 5.0


async def _users(ctx: WebContext) -> list[UserSpec]:
    """Every user, read from the store at most once per ``USERS_TTL`` for all consoles."""
    cached = ctx.extra.get("supervisor_users")
    if isinstance(cached, tuple) and ctx.clock.monotonic() - cached[0] < USERS_TTL:
        users: list[UserSpec] = cached[1]
        return users
    users = [user for user in await ctx.store.config.records("users")
             if isinstance(user, UserSpec)]
    ctx.extra["supervisor_users"] = (ctx.clock.monotonic(), users)  # when read, not asked
    return users


async def _operators(ctx: WebContext, scope: Scope, locale: PageLocale,
                     wanted: set[str] | None, calls: list[LiveCall]) -> list[dict[str, Any]]:
    users = [user for user in await _users(ctx)
             if user.active and Role.AGENT in user.roles
             and scope.sees_operator(user.username)
             and (wanted is None or user.username in wanted)]
    if not users:
        return []
    queues = [queue for queue in await ctx.store.config.records("queues")
              if isinstance(queue, QueueSpec)]
    # the stored states are for operators the ACD does not know (it has every operator of a
    # queue on a running node): not read again for the few rows an event changed
    try:
        unknown = any(ctx.center.operator_now(user.username) is None for user in users)
    except NotRunning:
        unknown = True
    stored = await ctx.store.operator_states.current() if unknown or wanted is None else {}
    today = await _today(ctx, locale)
    on_call = {call.operator: call for call in calls if call.operator}
    rows = []
    now = ctx.clock.utcnow()
    for user in sorted(users, key=lambda u: (u.display_name or u.username).casefold()):
        try:
            acd = ctx.center.operator_now(user.username)
        except NotRunning:
            acd = None
        if acd is not None:
            state, reason = acd.state, acd.reason
            # signed out since the node started: no time in state worth showing
            since = None if state == "logged_out" else now - timedelta(seconds=acd.in_state_s)
        elif user.username in stored:
            record = stored[user.username]
            state, reason, since = record.state, record.reason, record.at
        else:
            state, reason, since = "logged_out", "", None
        text = locale.gettext(STATE_TEXT.get(state, state))
        if reason and state == "not_ready":
            text = f"{text} · {reason}"
        call = on_call.get(user.username)
        served = [queue.name for queue in queues if user.username in queue.members
                  or set(user.teams) & set(queue.teams)]
        calls_today, talk = today.get(user.username, (0, 0.0))
        rows.append({
            "key": user.username, "name": user.display_name or user.username,
            "teams": user.teams, "queues": served, "state": state, "reason": reason,
            "state_text": text,
            "since": _iso(since) if since is not None else None,
            "call": f"{call.queue or '–'} · {call.caller}" if call is not None else "",
            "call_since": _iso(call.answered_at or call.started_at) if call else None,
            "calls_today": locale.number(calls_today), "talk_today": clock_text(talk),
            "signed_in": state != "logged_out",
        })
    return rows


async def today_figures(store: Store, clock: Clock, time_zone: str
                        ) -> dict[str, tuple[int, float]]:
    """Answered calls and talk time today (the site's day, ``time_zone``) per operator, read
    from the store (the console's first load, and the operator feed every few seconds)."""
    zone = ZoneInfo(time_zone)
    midnight = datetime.combine(clock.utcnow().astimezone(zone).date(), time(), zone)
    records: list[InteractionRecord] = list((await store.interactions.search(
        since=midnight, limit=100_000)).items)
    out: dict[str, tuple[int, float]] = {}
    for record in records:
        if record.operator and record.answered_at is not None:
            count, talk = out.get(record.operator, (0, 0.0))
            out[record.operator] = (count + 1, talk + (record.talk_s or 0.0))
    return out


async def _today(ctx: WebContext, locale: PageLocale) -> dict[str, tuple[int, float]]:
    """:func:`today_figures`, read at most once per ``USERS_TTL`` for all consoles of that
    time zone."""
    zone = ZoneInfo(locale.time_zone)
    midnight = datetime.combine(ctx.clock.utcnow().astimezone(zone).date(), time(), zone)
    key = f"supervisor_today:{midnight.isoformat()}"
    cached = ctx.extra.get(key)
    if isinstance(cached, tuple) and ctx.clock.monotonic() - cached[0] < USERS_TTL:
        figures: dict[str, tuple[int, float]] = cached[1]
        return figures
    out = await today_figures(ctx.store, ctx.clock, locale.time_zone)
    ctx.extra[key] = (ctx.clock.monotonic(), out)  # when read, not when asked
    return out


def _names(value: str) -> set[str] | None:
    parts = {part for part in value.split(",") if part}
    return set(list(parts)[:MAX_ROWS_ASKED]) if value else None


@router.get("/supervisor/live", include_in_schema=False)
async def live(request: Request, ctx: Ctx, principal: Supervisor,
               parts: str = Query("queues,operators,calls", max_length=64),
               operators: str = Query("", max_length=20_000)) -> dict[str, Any]:
    """The console's rows, in the supervisor's scope: ``parts`` to send, and with
    ``operators`` only those operators' rows (the ones an event said changed)."""
    locale = await page_locale(ctx, request, principal)
    scope = await scope_of(ctx, principal)
    wanted = set(parts.split(","))
    calls = [call for call in _live_calls(ctx) if scope.sees_call(call)]
    out: dict[str, Any] = {"now": _iso(ctx.clock.utcnow())}
    if "queues" in wanted:
        out["queues"] = await _queues(ctx, scope, locale)
    if "calls" in wanted:
        out["names"] = {user.username: user.display_name for user in await _users(ctx)
                        if user.display_name and scope.sees_operator(user.username)}
        out["calls"] = [call_row(call) for call in calls]
    if "operators" in wanted:
        out["operators"] = await _operators(ctx, scope, locale, _names(operators), calls)
        out["partial"] = bool(operators)
    return out


@router.get("/wallboard/figures", include_in_schema=False)
async def wallboard_figures(request: Request, ctx: Ctx, principal: Agent) -> dict[str, Any]:
    """The wallboard's queues (a supervisor's: their scope; anyone else's: every queue, as
    ``/api/live/queues``)."""
    locale = await page_locale(ctx, request, principal)
    scope = await scope_of(ctx, principal) if has_role(principal, Role.SUPERVISOR) \
        else Scope(site_wide=True)
    return {"now": _iso(ctx.clock.utcnow()), "queues": await _queues(ctx, scope, locale)}


# --- the pages ------------------------------------------------------------------------------


async def _signed_in(request: Request, ctx: WebContext,
                     role: Role) -> tuple[Principal, PageLocale] | Response:
    principal = await authenticate(request)
    if principal is None:
        return to_sign_in(request)
    locale = await page_locale(ctx, request, principal)
    if not has_role(principal, role):
        return render("login.html", locale, 403, username=principal.username,
                      error=locale.gettext("This page is for supervisors."),
                      phone_error="", phone="browser", desk_phone="", notice="")
    return principal, locale


@router.get("/supervisor", response_class=HTMLResponse, include_in_schema=False)
async def console(request: Request, ctx: Ctx) -> Response:
    """The supervisor console: queues, operators and calls, live; listen, whisper, barge."""
    signed = await _signed_in(request, ctx, Role.SUPERVISOR)
    if isinstance(signed, Response):
        return signed
    principal, locale = signed
    token = request.cookies.get(SESSION_COOKIE, "")
    seat = seats(ctx).of(principal.username, token)
    session = await ctx.store.accounts.session(token, ctx.clock.utcnow()) if token else None
    scope = await scope_of(ctx, principal)
    site = await ctx.store.config.site()
    users = [user for user in await ctx.store.config.records("users")
             if isinstance(user, UserSpec) and scope.sees_operator(user.username)]
    queues = [queue.name for queue in await ctx.store.config.records("queues")
              if isinstance(queue, QueueSpec) and scope.sees_queue(queue.name)]
    teams = sorted({team for user in users for team in user.teams}
                   if scope.site_wide else scope.teams)
    config = {
        "user": principal.username, "jssip": JSSIP_MODULE,
        "phone": seat.phone if seat is not None else "browser",
        "device": seat.device if seat is not None and seat.phone != "browser" else "",
        "strings": _client_strings(locale),
    }
    definitions = {
        "service_level": locale.gettext("Service level: answered within the queue's "
                                        "threshold / answered (definition {name})").format(
            name=DEFINITIONS["service_level"].value),
        "abandon_rate": locale.gettext("Abandon rate: abandoned / (answered + abandoned) "
                                       "(definition {name})").format(
            name=DEFINITIONS["abandon_rate"].value),
        "asa": locale.gettext("ASA: average wait of answered calls"),
    }
    return render("supervisor.html", locale, principal=principal, config=config,
                  csrf=session.csrf_token if session is not None else "",
                  teams=teams, queues=sorted(queues), reasons=site.reason_codes,
                  scope=scope, definitions=definitions)


@router.get("/wallboard", response_class=HTMLResponse, include_in_schema=False)
async def wallboard(request: Request, ctx: Ctx) -> Response:
    """Queue figures for a screen on the wall: big type, no controls, live."""
    signed = await _signed_in(request, ctx, Role.AGENT)
    if isinstance(signed, Response):
        return signed
    principal, locale = signed
    config = {"strings": {"events.lost": locale.gettext("Live updates are reconnecting…")}}
    return render("wallboard.html", locale, principal=principal, config=config)
