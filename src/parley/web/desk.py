"""The operator's desk: ``/login`` and ``/desk``, and the fragments the desk runtime swaps in.

Signing in at ``/login`` opens a web session and seats the operator at the desk with the
phone they chose (the browser phone by default, or one of their desk phones). One desk per
operator: a second sign-in elsewhere takes over, and the first page is told so over the
event stream (``DeskTakenOver``) and loses its session and its phone's credentials. At the
desk only the operator's own clicks change their state (``AgentAtDesk``): the phone
registering again never makes them ready.

Pages are in the viewer's language (their own setting, else the browser's, else the site's)
through :mod:`parley.web.locale`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from parley.center.ports import NotRunning, OperationRefused
from parley.events import AgentAtDesk, AgentLogin, AgentLogout, DeskTakenOver, HelpRequested
from parley.numbering import to_e164
from parley.store.customers import HistoryEntry
from parley.store.records import Principal, RecordingRecord
from parley.store.specs import QueueSpec, Role, UserSpec
from parley.telephony.session_devices import session_key
from parley.web.auth import (
    SESSION_COOKIE,
    Agent,
    Ctx,
    WebContext,
    authenticate,
    client_address,
    has_role,
    to_sign_in,
)
from parley.web.crm import CrmFailed, crm_customer
from parley.web.customers import lookup_number
from parley.web.directory_login import DirectoryRefusal
from parley.web.locale import PageLocale, page_locale
from parley.web.operations import (
    _find_call,
    _may_handle,
    history_recordings,
    own_mailboxes,
    set_session_cookies,
    start_session,
)
from parley.web.phone import JSSIP_MODULE, STATIC_PREFIX

log = structlog.get_logger("parley.web.desk")
router = APIRouter()

templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]))
SEATS = "desk_seats"
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class DeskSeat:
    """One operator at one desk page: the session it runs in and the phone it uses."""

    username: str
    desk_id: str
    token: str  # the session cookie
    phone: str  # "browser" or the desk phone's device name
    device: str  # the device the operator is logged in on
    address: str
    since: datetime


class DeskSeats:
    """Who sits at a desk, one seat per operator (in memory: a restarted node seats an
    operator again when their page comes back)."""

    def __init__(self) -> None:
        self.by_user: dict[str, DeskSeat] = {}

    def take(self, seat: DeskSeat) -> DeskSeat | None:
        """Seat ``seat``; the seat it takes over (another session's), if any."""
        old = self.by_user.get(seat.username)
        self.by_user[seat.username] = seat
        return old if old is not None and old.token != seat.token else None

    def of(self, username: str, token: str) -> DeskSeat | None:
        seat = self.by_user.get(username)
        return seat if seat is not None and seat.token == token else None

    def leave(self, username: str, token: str) -> bool:
        if self.of(username, token) is None:
            return False
        del self.by_user[username]
        return True


def seats(ctx: WebContext) -> DeskSeats:
    found = ctx.extra.get(SEATS)
    if not isinstance(found, DeskSeats):
        found = DeskSeats()
        ctx.extra[SEATS] = found
    return found


def render(name: str, locale: PageLocale, status_code: int = 200, **values: Any) -> HTMLResponse:
    html = templates.get_template(name).render(
        _=locale.gettext, lang=locale.language, static=STATIC_PREFIX, **values)
    return HTMLResponse(html, status_code=status_code, headers=NO_STORE)


# --- signing in -----------------------------------------------------------------------------


def _login_page(locale: PageLocale, *, status_code: int = 200, username: str = "",
                error: str = "", phone_error: str = "", phone: str = "browser",
                desk_phone: str = "", notice: str = "") -> HTMLResponse:
    return render("login.html", locale, status_code, username=username, error=error,
                  phone_error=phone_error, phone=phone, desk_phone=desk_phone, notice=notice)


def home_page(principal: Principal) -> str:
    """Where a signed-in user works: supervisors and admins on their console, operators at
    the desk (the same page signing in opens)."""
    return "/supervisor" if has_role(principal, Role.SUPERVISOR) else "/desk"


@router.get("/", include_in_schema=False)
async def root(request: Request) -> Response:
    """The bare address: the signed-in user's own page, anyone else the sign-in form (saying
    so when their session has ended, as the pages do)."""
    principal = await authenticate(request)
    if principal is None:
        return to_sign_in(request)
    return RedirectResponse(home_page(principal), status_code=status.HTTP_303_SEE_OTHER)


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(request: Request, ctx: Ctx) -> HTMLResponse:
    """The sign-in form: user name, password, and the phone to work with."""
    locale = await page_locale(ctx, request)
    notices = {"signed_out": locale.gettext("You have signed out."),
               "ended": locale.gettext("Your session ended: sign in again.")}
    return _login_page(locale, notice=notices.get(request.query_params.get("why", ""), ""))


class PhoneChoiceError(ValueError):
    """The desk phone chosen at sign-in cannot be used: a catalog message and its values."""

    def __init__(self, message: str, **values: str) -> None:
        super().__init__(message.format(**values))
        self.message = message
        self.values = values


async def _device_for(ctx: WebContext, principal: Principal, phone: str,
                      desk_phone: str) -> str:
    """The device the operator works on: the browser phone registers as their own device
    (or one named after them); a desk phone must be theirs."""
    mine = await ctx.store.directory.devices_of(principal.username)
    if phone == "browser":
        return mine[0] if mine else principal.username
    wanted = desk_phone.strip()
    if not mine:
        raise PhoneChoiceError("You have no desk phone: choose the browser phone.")
    if not wanted:
        return mine[0]
    if wanted not in mine:
        raise PhoneChoiceError("{phone} is not one of your desk phones ({yours}).",
                               phone=wanted, yours=", ".join(mine))
    return wanted


async def _center(ctx: WebContext, *events: Any) -> None:
    """Tell the ACD; a node without it, or a user who is no queue's operator, still gets a
    desk (to call, to see customers)."""
    for event in events:
        try:
            await ctx.center.operator_event(event)
        except (NotRunning, OperationRefused):
            return


async def seat_operator(ctx: WebContext, principal: Principal, token: str, *, phone: str,
                        device: str, address: str) -> DeskSeat:
    """Seat the operator at a desk in session ``token``, taking over their other desk."""
    now = ctx.clock.utcnow()
    seat = DeskSeat(principal.username, secrets.token_urlsafe(12), token, phone, device,
                    address, now)
    old = seats(ctx).take(seat)
    if old is not None:
        await ctx.store.accounts.end_session(old.token)
        if ctx.phones is not None:
            ctx.phones.revoke(session_key(old.token))
        ctx.bus.publish(DeskTakenOver(principal.username, old.desk_id, address, now))
        await ctx.store.audit.record(now, principal.username, "desk_taken_over", "session",
                                     principal.username, {"address": address,
                                                          "previous": old.address})
    await _center(ctx, AgentAtDesk(principal.username, True),
                  AgentLogin(principal.username, device, ready=False))
    return seat


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
async def sign_in(request: Request, ctx: Ctx) -> Response:
    """Sign in and open the desk; the form again with the reason next to the field at
    fault."""
    locale = await page_locale(ctx, request)
    form = await request.form()

    def field(name: str, limit: int) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    username, password = field("username", 64).strip(), field("password", 200)
    phone = "desk" if field("phone", 16) == "desk" else "browser"
    desk_phone = field("desk_phone", 64)
    again = {"username": username, "phone": phone, "desk_phone": desk_phone}
    if not username or not password:
        return _login_page(locale, status_code=422, **again,
                           error=locale.gettext("Enter your user name and password."))
    try:
        user, token, csrf = await start_session(ctx, request, username, password)
    except HTTPException as exc:
        message = (locale.gettext("Too many failed attempts: wait a minute and try again.")
                   if exc.status_code == status.HTTP_429_TOO_MANY_REQUESTS
                   else locale.gettext(exc.message) if isinstance(exc, DirectoryRefusal)
                   else locale.gettext("Wrong user name or password."))
        return _login_page(locale, status_code=exc.status_code, **again, error=message)
    principal = Principal(user.user_id, user.username, user.roles, user.display_name)
    if not has_role(principal, Role.AGENT):
        await ctx.store.accounts.end_session(token)
        return _login_page(locale, status_code=403, **again,
                           error=locale.gettext("The desk is for operators."))
    try:
        device = await _device_for(ctx, principal, phone, desk_phone)
    except PhoneChoiceError as exc:
        await ctx.store.accounts.end_session(token)
        return _login_page(locale, status_code=422, **again,
                           phone_error=locale.gettext(exc.message).format(**exc.values))
    await seat_operator(ctx, principal, token, phone=phone, device=device,
                        address=client_address(request))
    # supervisors and admins land on their console (its phone is the one chosen here)
    response = RedirectResponse(home_page(principal), status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookies(ctx, request, response, token, csrf)
    return response


@router.post("/desk/sign-out", include_in_schema=False)
async def sign_out(request: Request, ctx: Ctx, principal: Agent) -> Response:
    """Leave the desk: logged out of the queues, session ended, phone credentials revoked."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if seats(ctx).leave(principal.username, token):
        await _center(ctx, AgentLogout(principal.username),
                      AgentAtDesk(principal.username, False))
    await ctx.store.accounts.end_session(token)
    if ctx.phones is not None:
        ctx.phones.revoke(session_key(token))
    response = RedirectResponse("/login?why=signed_out", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- the desk -------------------------------------------------------------------------------


async def _served_queues(ctx: WebContext, username: str) -> list[QueueSpec]:
    """The queues the operator serves: as a member, or through one of their teams."""
    user = await ctx.store.config.get("users", username)
    teams = set(user.teams) if isinstance(user, UserSpec) else set()
    queues = await ctx.store.config.records("queues")
    return [queue for queue in queues if isinstance(queue, QueueSpec)
            and (username in queue.members or teams & set(queue.teams))]


def _client_strings(locale: PageLocale) -> dict[str, str]:
    """What the runtime writes into the page, translated here (the browser holds no
    catalog)."""
    keys = {
        "ready": "Ready", "not_ready": "Not ready", "logged_out": "Signed out of the queues",
        "reserved": "Reserved", "ringing": "Ringing", "on_call": "In a call",
        "on_hold": "On hold", "wrap_up": "Wrap-up",
        "phone.connecting": "Phone: connecting…", "phone.registered": "Phone: ready",
        "phone.unregistered": "Phone: not registered", "phone.failed": "Phone: failed",
        "phone.desk": "Phone: desk phone {device}",
        "call.ringing": "Incoming call from {remote}", "call.calling": "Calling {remote}…",
        "call.talking": "In a call with {remote}", "call.held": "On hold: {remote}",
        "call.ended": "Call ended", "call.none": "No call",
        "help.sent": "Help requested: the supervisors of your teams are told.",
        "help.failed": "The help request did not go through: {reason}",
        "recording.pause": "Pause recording", "recording.resume": "Resume recording",
        "recording.paused": "Recording paused: silence is recorded until you resume.",
        "recording.resumed": "Recording resumed.",
        "recording.failed": "The recording did not change: {reason}",
        "recording.started": "Recording started.",
        "transfer.sent": "Transferring to {target}…",
        "transfer.failed": "The transfer did not go through: {reason}",
        "draft.failed": "The script's answers were not kept for the next operator: {reason}",
        "consult.ringing": "Consulting {party}: ringing… The customer is on hold.",
        "consult.talking": "Consulting {party}. The customer is on hold.",
        "consult.conference": "Conference: you, {party} and the customer.",
        "consult.failed": "The consultation did not go through: {reason}",
        "consult.ended": "The consultation with {party} has ended.",
        "consult.transferred": "The customer has been transferred to {party}.",
        "consulted.ringing": "Consultation request from {operator} about {remote}",
        "consulted.talking": "Consultation with {operator} about {remote}",
        "consulted.conference": "Conference with {operator} and the customer {remote}.",
        "consulted.transferred": "{operator} has transferred the customer {remote} to you.",
        "consulted.ended": "The consultation with {operator} has ended.",
        "taken_over": "You signed in at another desk ({address}, {time}). This page has "
                      "signed out and its phone has stopped.",
        "events.lost": "Live updates are reconnecting…",
        "state.failed": "The state did not change: {reason}",
        "no_queues": "You serve no queue.",
        "voicemail.failed": "The voicemail message could not be changed: {reason}",
        "call.failed": "The call did not go through: {reason}",
        "supervisor.whisper": "Supervisor {supervisor} is whispering to you (the customer "
                              "does not hear them).",
        "supervisor.barge": "Supervisor {supervisor} has joined the call.",
        "supervisor.left": "Supervisor {supervisor} has left the call.",
        "supervisor.takeover": "Supervisor {supervisor} has taken over the call.",
        "preview.yours": "Your time: {time} ({zone})",
    }
    return {key: locale.gettext(text) for key, text in keys.items()}


@router.get("/desk", response_class=HTMLResponse, include_in_schema=False)
async def desk_page(request: Request, ctx: Ctx) -> Response:
    """The operator's single window: state bar, queues, the call, the customer card, the
    script and the wrap-up."""
    principal = await authenticate(request)
    if principal is None:
        return to_sign_in(request)
    locale = await page_locale(ctx, request, principal)
    if not has_role(principal, Role.AGENT):
        return render("login.html", locale, 403, username=principal.username,
                      error=locale.gettext("The desk is for operators."), phone_error="",
                      phone="browser", desk_phone="", notice="")
    token = request.cookies.get(SESSION_COOKIE, "")
    seat = seats(ctx).of(principal.username, token)
    if seat is None:  # the node restarted, or the session was opened through the API
        device = await _device_for(ctx, principal, "browser", "")
        seat = await seat_operator(ctx, principal, token, phone="browser", device=device,
                                   address=client_address(request))
    session = await ctx.store.accounts.session(token, ctx.clock.utcnow()) if token else None
    site = await ctx.store.config.site()
    queues = await _served_queues(ctx, principal.username)
    state = await current_state(ctx, principal.username)
    config = {
        "user": principal.username, "desk_id": seat.desk_id, "phone": seat.phone,
        "device": seat.device, "jssip": JSSIP_MODULE,
        "queues": [queue.name for queue in queues],
        "wrap_up_s": {queue.name: queue.wrap_up_s for queue in queues},
        # each queue's recording policy: the Record button is offered on on_demand calls
        "recording": {queue.name: queue.recording
                      for queue in await ctx.store.config.records("queues")
                      if isinstance(queue, QueueSpec)},
        "state": state["state"], "state_since": state["since"],
        "strings": _client_strings(locale),
    }
    return render("desk.html", locale, principal=principal, seat=seat,
                  csrf=session.csrf_token if session is not None else "",
                  reasons=site.reason_codes, queues=queues, config=config)


async def current_state(ctx: WebContext, username: str) -> dict[str, Any]:
    """The operator's state now: the ACD's, else the latest the store holds."""
    try:
        now = ctx.center.operator_now(username)
    except NotRunning:
        now = None
    if now is not None:
        since = ctx.clock.utcnow() - timedelta(seconds=now.in_state_s)
        return {"state": now.state, "reason": now.reason, "since": since.isoformat()}
    history = await ctx.store.operator_states.history(username, 1)
    if not history:
        return {"state": "logged_out", "reason": "", "since": None}
    return {"state": history[0].state, "reason": history[0].reason,
            "since": history[0].at.isoformat()}


@router.get("/desk/state", include_in_schema=False)
async def my_state(ctx: Ctx, principal: Agent) -> dict[str, Any]:
    """The operator's state now (the runtime asks after its event stream reconnects)."""
    return await current_state(ctx, principal.username)


@router.get("/desk/today", response_class=HTMLResponse, include_in_schema=False)
async def today(request: Request, ctx: Ctx, principal: Agent) -> HTMLResponse:
    """Today's calls and talk time of the operator (today in the site's time zone)."""
    locale = await page_locale(ctx, request, principal)
    zone = ZoneInfo(locale.time_zone)
    now = ctx.clock.utcnow()
    midnight = datetime.combine(now.astimezone(zone).date(), time(), zone)
    page = await ctx.store.interactions.search(since=midnight, operator=principal.username,
                                               limit=2000)
    answered = [record for record in page.items if record.answered_at is not None]
    talk = sum(record.talk_s or 0.0 for record in answered)
    return render("desk_today.html", locale, calls=len(answered),
                  talk=_clock_text(talk))


@router.get("/desk/voicemail", response_class=HTMLResponse, include_in_schema=False)
async def voicemail(request: Request, ctx: Ctx, principal: Agent) -> HTMLResponse:
    """The operator's own voicemail, newest first, with how many are not heard yet."""
    locale = await page_locale(ctx, request, principal)
    boxes = await own_mailboxes(ctx, principal)
    records = await ctx.store.voicemails.list(mailboxes=boxes)
    messages = [{"id": record.id, "caller": record.caller, "heard": record.heard,
                 "when": locale.moment(record.received_at, "short"),
                 "length": locale.duration(record.duration_s)} for record in records[:50]]
    return render("desk_voicemail.html", locale, messages=messages,
                  unheard=sum(not record.heard for record in records))


# --- the address book -----------------------------------------------------------------------

#: An operator's ACD state as presence in the address book: free, talking, away, signed out.
PRESENCE = {"ready": "free", "reserved": "talking", "ringing": "talking",
            "on_call": "talking", "on_hold": "talking", "wrap_up": "away",
            "not_ready": "away", "logged_out": "signed_out"}


#: How long the address book's list of people is reused: every desk polls presence every few
#: seconds, and 250 desks must not read every user from the store 50 times a second.
PEOPLE_TTL = 5.0


async def _people(ctx: WebContext) -> list[UserSpec]:
    """The active users by name, read from the store at most once per ``PEOPLE_TTL`` for all
    desks together (a change shows in every address book within that time)."""
    now = ctx.clock.monotonic()
    cached = ctx.extra.get("people")
    if isinstance(cached, tuple) and now - cached[0] < PEOPLE_TTL:
        people: list[UserSpec] = cached[1]
        return people
    users = await ctx.store.config.records("users")
    people = sorted((user for user in users if isinstance(user, UserSpec) and user.active),
                    key=lambda user: (user.display_name or user.username).casefold())
    ctx.extra["people"] = (now, people)
    return people


def _presence(ctx: WebContext, users: list[UserSpec],
              locale: PageLocale) -> dict[str, dict[str, str]]:
    """Each user's presence: an operator's from the ACD; anyone else's is "talking" while
    their extension or name is on a live call, and unknown otherwise."""
    try:
        calls = ctx.calls.live_calls()
    except NotRunning:
        calls = []
    busy = {party for call in calls
            for party in (call.operator, call.caller, call.called) if party}
    labels = {"free": locale.gettext("Free"), "talking": locale.gettext("Talking"),
              "away": locale.gettext("Away"), "signed_out": locale.gettext("Signed out"),
              "unknown": locale.gettext("No presence")}
    out: dict[str, dict[str, str]] = {}
    for user in users:
        try:
            now = ctx.center.operator_now(user.username)
        except NotRunning:
            now = None
        if now is not None:
            presence = PRESENCE.get(now.state, "away")
            detail = now.reason if now.state == "not_ready" else (
                locale.gettext("Wrap-up") if now.state == "wrap_up" else "")
        elif user.username in busy or (user.extension and user.extension in busy):
            presence, detail = "talking", ""
        else:
            presence, detail = "unknown", ""
        label = labels[presence] + (f" ({detail})" if detail else "")
        out[user.username] = {"presence": presence, "label": label}
    return out


@router.get("/desk/people", response_class=HTMLResponse, include_in_schema=False)
async def people(request: Request, ctx: Ctx, principal: Agent) -> HTMLResponse:
    """The address book: the company's people by team, with presence, to call or transfer
    to."""
    locale = await page_locale(ctx, request, principal)
    users = [user for user in await _people(ctx) if user.username != principal.username]
    presence = _presence(ctx, users, locale)
    teams: dict[str, list[dict[str, Any]]] = {}
    for user in users:
        entry = {"username": user.username, "name": user.display_name or user.username,
                 "extension": user.extension or "", **presence[user.username]}
        for team in user.teams or [""]:
            teams.setdefault(team, []).append(entry)
    groups = sorted(teams.items(), key=lambda item: (item[0] == "", item[0].casefold()))
    return render("desk_people.html", locale, groups=groups)


@router.get("/desk/presence", include_in_schema=False)
async def presence(request: Request, ctx: Ctx, principal: Agent) -> dict[str, Any]:
    """Everyone's presence now (the runtime redraws the address book's badges from it)."""
    locale = await page_locale(ctx, request, principal)
    return _presence(ctx, await _people(ctx), locale)


def _clock_text(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


# --- the customer card ----------------------------------------------------------------------


def _position(seconds: float) -> str:
    """A place in a recording: "1:05" (whole seconds, as the page's player counts)."""
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _recording_view(locale: PageLocale, record: RecordingRecord, label: str
                    ) -> dict[str, Any]:
    """One recording as the history shows it: its player's name and length, and each
    paused stretch (silence in the file) as text and as a mark on a bar."""
    length = max(record.duration_s, 0.001)
    pauses, marks = [], []
    for gap in record.pauses:
        start = float(gap.get("start_s") or 0.0)
        end = float(gap.get("end_s") or record.duration_s)
        pauses.append(locale.gettext("paused {start}–{end}").format(
            start=_position(start), end=_position(end)))
        marks.append({"left": round(100 * start / length, 1),
                      "width": round(100 * max(end - start, 0.0) / length, 1)})
    return {"id": record.id, "label": label, "length": _position(record.duration_s),
            "pauses": pauses, "marks": marks}


async def _history_rows(ctx: WebContext, locale: PageLocale, principal: Principal,
                        history: list[HistoryEntry]) -> list[dict[str, Any]]:
    """The contact history as the card lists it, each call with its recordings: a player
    for those the viewer may hear (:func:`may_hear`; the audio route checks again), the
    paused stretches marked."""
    heard = await history_recordings(ctx, principal, history)
    rows = []
    for entry in history:
        when = locale.moment(entry.started_at, "short")
        found, allowed = heard[entry.interaction_id]
        label = locale.gettext("Recording of the call of {when}").format(when=when)
        views = [_recording_view(locale, record, label + (f" ({index})" if len(found) > 1
                                                          else ""))
                 for index, record in enumerate(found, 1)]
        rows.append({"when": when, "queue": entry.queue or "", "operator": entry.operator or "",
                     "result": entry.result or entry.outcome or "", "notes": entry.notes,
                     "recordings": views,
                     "allowed": bool(views) and allowed})
    return rows


async def _card(ctx: WebContext, locale: PageLocale, principal: Principal, *, number: str,
                interaction: str, saved: bool = False, error: str = "",
                values: dict[str, Any] | None = None) -> HTMLResponse:
    stored = await lookup_number(ctx, number) if number else ""
    customer = await ctx.store.customers.by_number(stored) if stored else None
    card = await ctx.store.customers.card(interaction) if interaction else None
    shown: dict[str, Any] = {"name": "", "status": "", "fields": {}, "notes": ""}
    crm, crm_error = False, ""
    if customer is not None:
        shown.update(name=customer.name, status=customer.status, fields=dict(customer.fields))
    elif to_e164(stored, None) is not None and card is None and values is None:
        site = await ctx.store.config.site()
        if site.crm_lookup is not None:
            try:
                found = await crm_customer(site.crm_lookup, stored)
            except CrmFailed as exc:
                log.warning("crm_lookup_failed", number=stored, error=str(exc))
                crm_error = locale.gettext("The CRM look-up failed: {error}").format(
                    error=str(exc))
            else:
                if found is not None:
                    crm = True
                    shown.update(name=found.name, status=found.status,
                                 fields=dict(found.fields))
    if card is not None:  # edited on this call already (here, or before a transfer)
        shown.update({key: value for key, value in card.card.items() if key in shown})
    if values is not None:
        shown.update(values)
    numbers = customer.numbers if customer is not None else ((stored,) if stored else ())
    history = await ctx.store.customers.history(numbers, exclude=interaction or None)
    rows = await _history_rows(ctx, locale, principal, history)
    return render("desk_card.html", locale, number=number, stored=stored,
                  interaction=interaction, customer=customer, shown=shown, history=rows,
                  saved=saved, error=error, crm=crm, crm_error=crm_error)


@router.get("/desk/card", response_class=HTMLResponse, include_in_schema=False)
async def card_fragment(request: Request, ctx: Ctx, principal: Agent, number: str = "",
                        interaction: str = "") -> HTMLResponse:
    """The card of the caller ``number`` on call ``interaction``: the customer found by the
    number (or an empty card to fill in), the edits saved on this call, and the history."""
    locale = await page_locale(ctx, request, principal)
    return await _card(ctx, locale, principal, number=number[:64],
                       interaction=interaction[:64])


@router.post("/desk/card", response_class=HTMLResponse, include_in_schema=False)
async def save_card(request: Request, ctx: Ctx, principal: Agent) -> HTMLResponse:
    """Save the card: the customer (created when the number was unknown and a name was
    given) and the card as left on this call."""
    locale = await page_locale(ctx, request, principal)
    form = await request.form()

    def text(name: str, limit: int) -> str:
        value = form.get(name)
        return value.strip()[:limit] if isinstance(value, str) else ""

    number, interaction = text("number", 64), text("interaction", 64)
    fields = {key[len("field:"):][:64]: value.strip()[:2000]
              for key, value in form.multi_items()
              if key.startswith("field:") and isinstance(value, str) and key != "field:"}
    new_name, new_value = text("new_field_name", 64), text("new_field_value", 2000)
    if new_name:
        fields[new_name] = new_value
    name, state = text("name", 200), text("status", 64)
    values: dict[str, Any] = {"name": name, "status": state, "fields": fields,
                              "notes": text("notes", 4000)}
    stored = await lookup_number(ctx, number) if number else ""
    customer = await ctx.store.customers.by_number(stored) if stored else None
    if customer is not None:
        customer = await ctx.store.customers.update(
            customer.id, name=name, status=state, fields=fields)
    elif name and to_e164(stored, None) is not None:
        customer = await ctx.store.customers.create(
            name=name, status=state, fields=fields, numbers=[stored])
    if interaction:
        await ctx.store.customers.save_card(
            interaction_id=interaction, number=stored or number, operator=principal.username,
            customer_id=customer.id if customer is not None else None, card=values)
    return await _card(ctx, locale, principal, number=number, interaction=interaction,
                       saved=True)


# --- help -----------------------------------------------------------------------------------


@router.post("/api/calls/{call_id}/help", status_code=202, tags=["live"],
             summary="Ask the supervisors of my teams for help on my call")
async def help_request(call_id: str, ctx: Ctx, principal: Agent) -> dict[str, str]:
    call = _find_call(ctx, call_id)
    _may_handle(principal, call)
    user = await ctx.store.config.get("users", principal.username)
    teams = tuple(user.teams) if isinstance(user, UserSpec) else ()
    ctx.bus.publish(HelpRequested(principal.username, call.id, call.queue or "", teams,
                                  ctx.clock.utcnow()))
    await ctx.store.audit.record(ctx.clock.utcnow(), principal.username, "help_requested",
                                 "call", call.id, {"teams": list(teams)})
    return {"status": "accepted"}

