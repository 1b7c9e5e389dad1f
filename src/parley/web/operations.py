"""Operational routes: login, operator state, live calls, callbacks, call records,
recordings, voicemails, API tokens, the audit log and webhook deliveries."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, StreamingResponse

from parley.center.ports import LiveCall, LiveCallNotFound, OperatorEvent
from parley.events import (
    AgentLogin,
    AgentLogout,
    AgentNotReady,
    AgentReady,
    CallbackCancelled,
    CallbackRequested,
)
from parley.store import NotFound
from parley.store.customers import HistoryEntry
from parley.store.records import (
    CallbackRecord,
    InteractionRecord,
    LoginUser,
    Principal,
    RecordingRecord,
    VoicemailRecord,
)
from parley.store.specs import Role
from parley.telephony.session_devices import session_key
from parley.web import schemas as s
from parley.web.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Admin,
    Agent,
    Ctx,
    Supervisor,
    WebContext,
    client_address,
    has_role,
)
from parley.web.config_routes import audit
from parley.web.directory_login import directory_sign_in, uses_directory
from parley.web.scope import check_call, check_operator, scope_of

Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]

router = APIRouter()


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- authentication ------------------------------------------------------------------------


async def _decoy_hash(ctx: WebContext) -> str:
    decoy = ctx.extra.get("decoy_hash")
    if not isinstance(decoy, str):
        decoy = await ctx.store.passwords.hash("decoy password, never valid")
        ctx.extra["decoy_hash"] = decoy
    return decoy


async def start_session(ctx: WebContext, request: Request, username: str,
                        password: str) -> tuple[LoginUser, str, str]:
    """Check a user name and password (delayed per :class:`LoginLimiter`) and open a web
    session: (the user, the session token, the CSRF token). Raises 401 or 429."""
    address = client_address(request)
    wait = ctx.limiter.retry_after(username, address)
    if wait > 0:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            "too many failed logins; try again later",
                            headers={"Retry-After": str(max(1, round(wait + 0.49)))})
    user = await ctx.store.accounts.login_user(username)
    if uses_directory(ctx, user):  # no local account, or a directory user's
        user = await directory_sign_in(ctx, username, password, address, user)
    else:
        stored = user.password_hash if user is not None else None
        # Unknown users cost a hash check too, so timing does not tell which names exist.
        matches = await ctx.store.passwords.verify(stored or await _decoy_hash(ctx), password)
        if user is None or not user.active or stored is None or not matches:
            ctx.limiter.failed(username, address)
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    ctx.limiter.succeeded(username, address)
    token, csrf = await ctx.store.accounts.create_session(user.user_id, ctx.clock.utcnow(),
                                                         ctx.session_lifetime)
    await ctx.store.audit.record(ctx.clock.utcnow(), user.username, "login", "session",
                                 user.username, {"address": address})
    return user, token, csrf


def set_session_cookies(ctx: WebContext, request: Request, response: Response, token: str,
                        csrf: str) -> None:
    """The session cookie (HTTP only) and the CSRF cookie the pages read."""
    secure = ctx.secure_cookies or request.url.scheme == "https"
    max_age = int(ctx.session_lifetime.total_seconds())
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax",
                        secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="strict",
                        secure=secure, path="/")


@router.post("/api/auth/login", response_model=s.Me, tags=["auth"],
             summary="Log in; sets the session cookie and returns the CSRF token",
             responses={401: {"description": "wrong user name or password"},
                        429: {"description": "too many failed attempts"}})
async def login(body: s.LoginRequest, request: Request, response: Response, ctx: Ctx) -> s.Me:
    user, token, csrf = await start_session(ctx, request, body.username, body.password)
    set_session_cookies(ctx, request, response, token, csrf)
    return s.Me(username=user.username, display_name=user.display_name,
                roles=list(user.roles), csrf_token=csrf)


@router.post("/api/auth/logout", status_code=204, tags=["auth"], summary="End the session")
async def logout(request: Request, ctx: Ctx, _p: Agent) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await ctx.store.accounts.end_session(cookie)
        if ctx.phones is not None:  # the session's browser phone credentials go with it
            ctx.phones.revoke(session_key(cookie))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/api/auth/me", response_model=s.Me, tags=["auth"], summary="Who am I")
async def me(principal: Agent) -> s.Me:
    return s.Me(username=principal.username, display_name=principal.display_name,
                roles=list(principal.roles))


# --- operators ------------------------------------------------------------------------------


async def _operator_event(ctx: WebContext, event: OperatorEvent) -> dict[str, str]:
    await ctx.center.operator_event(event)
    return {"status": "accepted"}


async def _own_device(ctx: WebContext, principal: Principal, device: str | None) -> str:
    mine = await ctx.store.directory.devices_of(principal.username)
    if device is None:
        if not mine:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                "device: you have no device; name one")
        return mine[0]
    if device not in mine and not has_role(principal, Role.SUPERVISOR):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"device: {device!r} is not yours")
    if await ctx.store.directory.sip_credentials(device) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"device: no device named {device!r}")
    return device


@router.post("/api/operators/me/login", status_code=202, tags=["operators"],
             responses=s.LIVE_ERRORS, summary="Log in as an operator on a device")
async def operator_login(body: s.OperatorLogin, ctx: Ctx, principal: Agent) -> dict[str, str]:
    device = await _own_device(ctx, principal, body.device)
    return await _operator_event(ctx, AgentLogin(principal.username, device, body.ready))


@router.post("/api/operators/me/logout", status_code=202, tags=["operators"],
             responses=s.LIVE_ERRORS,
             summary="Log out as an operator (after the current call, if any)")
async def operator_logout(ctx: Ctx, principal: Agent) -> dict[str, str]:
    return await _operator_event(ctx, AgentLogout(principal.username))


def _state_event(username: str, body: s.OperatorStateRequest) -> OperatorEvent:
    if body.state == "ready":
        return AgentReady(username)
    if body.state == "not_ready":
        return AgentNotReady(username, body.reason)
    return AgentLogout(username)


@router.put("/api/operators/me/state", status_code=202, tags=["operators"],
            responses=s.LIVE_ERRORS,
            summary="Change my state: ready, not_ready (with a reason) or logged_out")
async def my_state(body: s.OperatorStateRequest, ctx: Ctx, principal: Agent) -> dict[str, str]:
    return await _operator_event(ctx, _state_event(principal.username, body))


@router.put("/api/operators/{username}/state", status_code=202, tags=["operators"],
            responses=s.LIVE_ERRORS, summary="Change an operator's state (supervisors)")
async def operator_state(username: str, body: s.OperatorStateRequest, ctx: Ctx,
                         principal: Supervisor) -> dict[str, str]:
    if await ctx.store.accounts.login_user(username) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user named {username!r}")
    await check_operator(ctx, principal, username)
    accepted = await _operator_event(ctx, _state_event(username, body))
    # audited once the ACD took it (a refused reason leaves no entry)
    await audit(ctx, principal, "operator_state", "users", username,
                {"state": body.state, "reason": body.reason})
    return accepted


@router.get("/api/operators", response_model=list[s.OperatorState], tags=["operators"],
            summary="Every operator's latest state")
async def operators(ctx: Ctx, principal: Supervisor) -> list[s.OperatorState]:
    current = await ctx.store.operator_states.current()
    scope = await scope_of(ctx, principal)
    return [s.OperatorState(**asdict(record)) for name, record in sorted(current.items())
            if scope.sees_operator(name)]


@router.get("/api/operators/{username}/states", response_model=list[s.OperatorState],
            tags=["operators"], summary="An operator's state history, newest first")
async def operator_history(username: str, ctx: Ctx, principal: Supervisor,
                           limit: Limit = 100) -> list[s.OperatorState]:
    await check_operator(ctx, principal, username)
    return [s.OperatorState(**asdict(record))
            for record in await ctx.store.operator_states.history(username, limit)]


# --- live calls and queues ----------------------------------------------------------------------


def _live(call: LiveCall) -> s.LiveCallOut:
    return s.LiveCallOut(**asdict(call))


def _find_call(ctx: WebContext, call_id: str) -> LiveCall:
    for call in ctx.calls.live_calls():
        if call.id == call_id:
            return call
    raise LiveCallNotFound(f"no live call {call_id!r}")


def _may_handle(principal: Principal, call: LiveCall) -> None:
    if call.operator != principal.username and not has_role(principal, Role.SUPERVISOR):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this call is not yours")


async def _may_act(ctx: WebContext, principal: Principal, call: LiveCall) -> None:
    """The call is the operator's own, or in the supervisor's teams (parley.web.scope)."""
    _may_handle(principal, call)
    await check_call(ctx, principal, call)


@router.get("/api/live/calls", response_model=list[s.LiveCallOut], tags=["live"],
            responses=s.LIVE_ERRORS, summary="Calls in progress")
async def live_calls(ctx: Ctx, principal: Agent) -> list[s.LiveCallOut]:
    calls = ctx.calls.live_calls()
    if not has_role(principal, Role.SUPERVISOR):
        calls = [call for call in calls if call.operator == principal.username]
    else:
        scope = await scope_of(ctx, principal)
        calls = [call for call in calls if scope.sees_call(call)]
    return [_live(call) for call in calls]


@router.post("/api/live/calls", response_model=s.LiveCallOut, status_code=201, tags=["live"],
             responses=s.LIVE_ERRORS,
             summary="Click-to-call: ring your device, then dial the number")
async def originate(body: s.OriginateRequest, ctx: Ctx, principal: Agent) -> s.LiveCallOut:
    if body.caller_id is not None and not has_role(principal, Role.SUPERVISOR):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "caller_id: only supervisors choose the caller ID")
    device = await _own_device(ctx, principal, body.device)
    call = await ctx.calls.originate(device=device, number=body.number,
                                     caller_id=body.caller_id, requested_by=principal.username)
    return _live(call)


@router.delete("/api/live/calls/{call_id}", status_code=204, tags=["live"],
               responses=s.LIVE_ERRORS, summary="Hang up a live call")
async def hang_up(call_id: str, ctx: Ctx, principal: Agent) -> Response:
    await _may_act(ctx, principal, _find_call(ctx, call_id))
    await ctx.calls.hang_up(call_id, requested_by=principal.username)
    return Response(status_code=204)


@router.post("/api/live/calls/{call_id}/transfer", status_code=202, tags=["live"],
             responses=s.LIVE_ERRORS,
             summary="Transfer a live call to a number, a user or queue:<name>")
async def transfer(call_id: str, body: s.TransferRequest, ctx: Ctx,
                   principal: Agent) -> dict[str, str]:
    await _may_act(ctx, principal, _find_call(ctx, call_id))
    await ctx.calls.transfer(call_id, target=body.target, requested_by=principal.username)
    return {"status": "accepted"}


@router.post("/api/live/calls/{call_id}/consult", status_code=202, tags=["live"],
             responses=s.LIVE_ERRORS,
             summary="Consult before transferring: the customer holds with music while "
                     "your phone talks to an operator, a queue's free operator or a number")
async def consult(call_id: str, body: s.ConsultRequest, ctx: Ctx,
                  principal: Agent) -> dict[str, str]:
    await _may_act(ctx, principal, _find_call(ctx, call_id))
    await ctx.calls.consult(call_id, target=body.target, requested_by=principal.username)
    await audit(ctx, principal, "consult_started", "calls", call_id, {"target": body.target})
    return {"status": "ringing"}


async def _consult_action(ctx: WebContext, principal: Principal, call_id: str,
                          action: str) -> None:
    await _may_act(ctx, principal, _find_call(ctx, call_id))
    await ctx.calls.consult_action(call_id, action=action, requested_by=principal.username)
    await audit(ctx, principal, f"consult_{action}", "calls", call_id, {})


@router.post("/api/live/calls/{call_id}/consult/complete", status_code=202, tags=["live"],
             responses=s.LIVE_ERRORS,
             summary="Complete the transfer: the customer talks with the person you "
                     "consulted, with the card, script answers and IVR data; you leave")
async def complete_consult(call_id: str, ctx: Ctx, principal: Agent) -> dict[str, str]:
    await _consult_action(ctx, principal, call_id, "complete")
    return {"status": "transferred"}


@router.post("/api/live/calls/{call_id}/conference", status_code=202, tags=["live"],
             responses=s.LIVE_ERRORS,
             summary="Three-way conference: join the customer to your consultation")
async def conference(call_id: str, ctx: Ctx, principal: Agent) -> dict[str, str]:
    await _consult_action(ctx, principal, call_id, "conference")
    return {"status": "conference"}


@router.delete("/api/live/calls/{call_id}/consult", status_code=204, tags=["live"],
               responses=s.LIVE_ERRORS,
               summary="Cancel the consultation: back to the customer")
async def cancel_consult(call_id: str, ctx: Ctx, principal: Agent) -> Response:
    await _consult_action(ctx, principal, call_id, "cancel")
    return Response(status_code=204)


async def _monitor_device(ctx: WebContext, principal: Principal, device: str | None) -> str:
    """The phone a supervisor listens on: one of their devices, or the browser phone of
    their web session (a device named after them while the session lasts)."""
    mine = await ctx.store.directory.devices_of(principal.username)
    if (not mine and ctx.phones is not None and device in (None, principal.username)
            and ctx.phones.base.lookup(principal.username) is None
            and ctx.phones.lookup(principal.username) is not None):
        return principal.username
    return await _own_device(ctx, principal, device)


@router.post("/api/live/calls/{call_id}/monitor", status_code=202, tags=["live"],
             responses=s.LIVE_ERRORS,
             summary="Join an operator's conversation (listen, whisper, barge), or change mode "
                     "without being called again")
async def monitor_call(call_id: str, body: s.MonitorRequest, ctx: Ctx,
                       principal: Supervisor) -> dict[str, str]:
    await check_call(ctx, principal, _find_call(ctx, call_id))
    device = await _monitor_device(ctx, principal, body.device)
    outcome = await ctx.calls.monitor(call_id, mode=body.mode, device=device,
                                      requested_by=principal.username)
    await audit(ctx, principal, "monitor", "calls", call_id,
                {"mode": body.mode, "device": device})
    return {"status": outcome}


@router.post("/api/live/calls/{call_id}/takeover", status_code=202, tags=["live"],
             responses=s.LIVE_ERRORS,
             summary="Take the customer over from the operator (your monitoring phone is "
                     "kept, else yours rings first); the operator goes to wrap-up")
async def take_over(call_id: str, body: s.TakeOverRequest, ctx: Ctx,
                    principal: Supervisor) -> dict[str, str]:
    live = _find_call(ctx, call_id)
    await check_call(ctx, principal, live)
    device = await _monitor_device(ctx, principal, body.device)
    outcome = await ctx.calls.take_over(call_id, device=device,
                                        requested_by=principal.username)
    await audit(ctx, principal, "takeover", "calls", call_id,
                {"device": device, "operator": live.operator})
    return {"status": outcome}


@router.delete("/api/live/calls/{call_id}/monitor", status_code=204, tags=["live"],
               responses=s.LIVE_ERRORS, summary="Leave a conversation you joined")
async def leave_call(call_id: str, ctx: Ctx, principal: Supervisor) -> Response:
    await check_call(ctx, principal, _find_call(ctx, call_id))
    await ctx.calls.end_monitor(call_id, requested_by=principal.username)
    return Response(status_code=204)


@router.put("/api/live/calls/{call_id}/recording", response_model=s.RecordingState,
            tags=["live"], responses=s.LIVE_ERRORS,
            summary="Start or stop recording a conversation (on demand)")
async def record_call(call_id: str, body: s.RecordingRequest, ctx: Ctx,
                      principal: Agent) -> s.RecordingState:
    await _may_act(ctx, principal, _find_call(ctx, call_id))
    recording_id = await ctx.calls.record(call_id, on=body.recording,
                                          requested_by=principal.username)
    await audit(ctx, principal, "recording_started" if body.recording else "recording_stopped",
                "calls", call_id, {"recording_id": recording_id})
    return s.RecordingState(recording=body.recording, recording_id=recording_id)


async def _pause_recording(ctx: WebContext, principal: Principal, call_id: str,
                           paused: bool) -> s.RecordingPauseOut:
    await _may_act(ctx, principal, _find_call(ctx, call_id))
    state = await ctx.calls.pause_recording(call_id, paused=paused,
                                            requested_by=principal.username)
    await audit(ctx, principal, "recording_paused" if paused else "recording_resumed",
                "calls", call_id, {"recording_id": state.recording_id,
                                   "offset_s": state.offset_s})
    return s.RecordingPauseOut(recording_id=state.recording_id, paused=state.paused,
                               offset_s=state.offset_s,
                               pauses=[s.RecordingGapOut(**asdict(gap)) for gap in state.pauses])


PAUSE_ERRORS: dict[int | str, dict[str, Any]] = {
    **s.LIVE_ERRORS,
    403: {"model": s.ErrorOut, "description": "the call is another operator's"},
    404: {"model": s.ErrorOut, "description": "no such call in progress"},
    409: {"model": s.ErrorOut, "description": "the call is not being recorded, or its "
                                              "recording is already paused (or running)"},
}


@router.post("/api/live/calls/{call_id}/recording/pause", response_model=s.RecordingPauseOut,
             tags=["live"], responses=PAUSE_ERRORS,
             summary="Pause the call's recording: silence is recorded and the gap marked "
             "(while a customer gives card details)")
async def pause_recording(call_id: str, ctx: Ctx, principal: Agent) -> s.RecordingPauseOut:
    return await _pause_recording(ctx, principal, call_id, True)


@router.post("/api/live/calls/{call_id}/recording/resume", response_model=s.RecordingPauseOut,
             tags=["live"], responses=PAUSE_ERRORS,
             summary="Resume the call's paused recording")
async def resume_recording(call_id: str, ctx: Ctx, principal: Agent) -> s.RecordingPauseOut:
    return await _pause_recording(ctx, principal, call_id, False)


@router.get("/api/live/queues", response_model=list[s.QueueFiguresOut], tags=["live"],
            responses=s.LIVE_ERRORS, summary="Live queue figures")
async def live_queues(ctx: Ctx, _p: Agent) -> list[s.QueueFiguresOut]:
    return [s.QueueFiguresOut(**asdict(figures)) for figures in ctx.center.queue_figures()]


@router.get("/api/live/trunks", response_model=list[s.TrunkStatusOut], tags=["live"],
            responses=s.LIVE_ERRORS, summary="Carriers' trunks: registered or not and why, "
            "channels, calls per second, last failure")
async def live_trunks(ctx: Ctx, _p: Supervisor) -> list[s.TrunkStatusOut]:
    if ctx.trunks is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "telephony is not running on this server")
    return [s.TrunkStatusOut(**asdict(trunk)) for trunk in ctx.trunks()]


# --- callbacks ----------------------------------------------------------------------------------


@router.post("/api/callbacks", response_model=s.CallbackOut, status_code=201,
             tags=["callbacks"], summary="Request a callback")
async def request_callback(body: s.CallbackRequest, ctx: Ctx,
                           principal: Agent) -> s.CallbackOut:
    now = ctx.clock.utcnow()
    record = CallbackRecord(id=uuid.uuid4().hex, number=body.number, queue=body.queue,
                            requested_at=now, due_at=_utc(body.due_at) or now,
                            status="pending", attempts=0, requested_by=principal.username,
                            note=body.note, interaction_id=None)
    try:
        await ctx.store.callbacks.request(record)
    except NotFound as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    ctx.bus.publish(CallbackRequested(record.id, record.queue, record.number, record.due_at,
                                      principal.username))
    return s.CallbackOut(**{k: v for k, v in asdict(record).items() if k != "interaction_id"})


@router.get("/api/callbacks", response_model=list[s.CallbackOut], tags=["callbacks"],
            summary="Callbacks, by status and queue")
async def callbacks(ctx: Ctx, _p: Supervisor, status_: Annotated[
        str | None, Query(alias="status", max_length=16)] = None,
        queue: Annotated[str | None, Query(max_length=64)] = None) -> list[s.CallbackOut]:
    return [s.CallbackOut(**{k: v for k, v in asdict(r).items() if k != "interaction_id"})
            for r in await ctx.store.callbacks.list(status=status_, queue=queue)]


# --- call records -------------------------------------------------------------------------------


def _interaction(record: InteractionRecord) -> dict[str, Any]:
    return {k: v for k, v in asdict(record).items() if k not in ("legs", "timeline",
                                                                 "variables")}


class SearchFilter:
    def __init__(self, since: datetime | None = None, until: datetime | None = None,
                 number: Annotated[str | None, Query(max_length=64)] = None,
                 queue: Annotated[str | None, Query(max_length=64)] = None,
                 operator: Annotated[str | None, Query(max_length=64)] = None) -> None:
        self.args: dict[str, Any] = {"since": _utc(since), "until": _utc(until),
                                     "number": number, "queue": queue, "operator": operator}


@router.get("/api/interactions", response_model=s.InteractionPage, tags=["call records"],
            summary="Search call records by time, number, queue or operator "
                    "(operators: their own calls)")
async def search_interactions(ctx: Ctx, principal: Agent,
                              search: Annotated[SearchFilter, Depends()],
                              offset: Offset = 0, limit: Limit = 50) -> s.InteractionPage:
    if not has_role(principal, Role.SUPERVISOR):
        search.args["operator"] = principal.username
    page = await ctx.store.interactions.search(**search.args, offset=offset, limit=limit)
    return s.InteractionPage(items=[s.InteractionOut(**_interaction(r)) for r in page.items],
                             total=page.total, offset=page.offset, limit=page.limit)


CSV_COLUMNS = ("id", "direction", "caller", "called", "queue", "operator", "started_at",
               "answered_at", "ended_at", "wait_s", "talk_s", "duration_s", "outcome",
               "hangup_cause")


@router.get("/api/interactions.csv", tags=["call records"],
            summary="The same search as CSV (every match, not one page)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
async def export_interactions(ctx: Ctx, _p: Supervisor,
                              search: Annotated[SearchFilter, Depends()]) -> StreamingResponse:
    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        offset = 0
        while True:
            page = await ctx.store.interactions.search(**search.args, offset=offset, limit=500)
            for record in page.items:
                values = asdict(record)
                writer.writerow(["" if values[c] is None else
                                 values[c].isoformat() if isinstance(values[c], datetime)
                                 else values[c] for c in CSV_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    return StreamingResponse(rows(), media_type="text/csv", headers={
        "Content-Disposition": 'attachment; filename="call-records.csv"'})


@router.get("/api/interactions/{interaction_id}", response_model=s.InteractionDetail,
            tags=["call records"],
            summary="One call record with its legs and timeline (operators: their own)")
async def interaction(interaction_id: str, ctx: Ctx, principal: Agent) -> s.InteractionDetail:
    record = await ctx.store.interactions.get(interaction_id)
    if record.operator != principal.username and not has_role(principal, Role.SUPERVISOR):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no interaction {interaction_id!r}")
    return s.InteractionDetail(**asdict(record))


# --- recordings and voicemail ---------------------------------------------------------------


@router.get("/api/recordings", response_model=s.RecordingPage, tags=["recordings"],
            summary="List recordings")
async def recordings(ctx: Ctx, principal: Supervisor, offset: Offset = 0, limit: Limit = 50,
                     interaction_id: Annotated[str | None, Query(max_length=64)] = None,
                     since: datetime | None = None,
                     until: datetime | None = None) -> s.RecordingPage:
    page = await ctx.store.recordings.list(interaction_id=interaction_id, since=_utc(since),
                                           until=_utc(until), offset=offset, limit=limit)
    await audit(ctx, principal, "recording_list", "recordings", interaction_id or "*",
                {"count": len(page.items)})
    return s.RecordingPage(items=[s.RecordingOut(**{k: v for k, v in asdict(r).items()
                                                    if k != "path"}) for r in page.items],
                           total=page.total, offset=page.offset, limit=page.limit)


AUDIO_TYPES = {".wav": "audio/wav", ".flac": "audio/flac"}
"""Content types of the stored audio files (recordings and voicemail: WAV, or FLAC once
compressed)."""


def _servable(path: Path, folder: Path | None) -> bool:
    """Whether the file exists and lies inside ``folder`` once links and ``..`` are resolved
    (no folder: nothing is served)."""
    if folder is None or not path.resolve().is_relative_to(folder.resolve()):
        return False
    return path.is_file()


def may_hear(principal: Principal, policy: str, handlers: set[str]) -> bool:
    """Whether ``principal`` may play a call's recording: supervisors and admins always; an
    operator as the site's ``agents_hear_recordings`` says (``own``: a call in ``handlers``,
    those who handled it; ``all``; ``none``)."""
    if has_role(principal, Role.SUPERVISOR):
        return True
    return policy == "all" or (policy == "own" and principal.username in handlers)


async def history_recordings(ctx: WebContext, principal: Principal,
                             history: Sequence[HistoryEntry]
                             ) -> dict[str, tuple[tuple[RecordingRecord, ...], bool]]:
    """Each earlier call's recordings (oldest first) and whether ``principal`` may play them
    (:func:`may_hear`, the call's handlers being its operator and whoever saved its card):
    the desk's contact history and the customers API list them the same way."""
    recordings = await ctx.store.recordings.of_interactions(
        [entry.interaction_id for entry in history])
    policy = (await ctx.store.config.site()).agents_hear_recordings if recordings else ""
    out = {}
    for entry in history:
        handlers = {name for name in (entry.operator, entry.card_operator) if name}
        out[entry.interaction_id] = (recordings.get(entry.interaction_id, ()),
                                     may_hear(principal, policy, handlers))
    return out


async def handlers_of(ctx: WebContext, interaction_id: str | None) -> set[str]:
    """Who handled a call: the operator of its record and whoever saved its card (the first
    operator of a transferred call)."""
    if not interaction_id:
        return set()
    try:
        record = await ctx.store.interactions.get(interaction_id)
    except NotFound:
        return set()
    card = await ctx.store.customers.card(interaction_id)
    return {name for name in (record.operator, card.operator if card else None) if name}


def _from_the_start(request: Request) -> bool:
    """Whether a request for a file starts at its beginning: a player asks for the rest in
    further range requests, which are not new listenings."""
    wanted = request.headers.get("range", "").replace(" ", "").lower()
    return not wanted or wanted.startswith("bytes=0-")


@router.get("/api/recordings/{recording_id}/audio", tags=["recordings"],
            summary="Play or download a recording: supervisors any, operators as the site's "
                    "agents_hear_recordings allows (every listening is audited)",
            response_class=FileResponse,
            responses={200: {"content": {"audio/flac": {}, "audio/wav": {}}},
                       403: {"model": s.ErrorOut,
                             "description": "operators may not hear this recording"},
                       404: {"description": "not found"},
                       410: {"description": "deleted after its retention period"}})
async def recording_audio(recording_id: str, request: Request, ctx: Ctx,
                          principal: Agent) -> FileResponse:
    record = await ctx.store.recordings.get(recording_id)
    if not has_role(principal, Role.SUPERVISOR):
        policy = (await ctx.store.config.site()).agents_hear_recordings
        if not may_hear(principal, policy, await handlers_of(ctx, record.interaction_id)):
            await audit(ctx, principal, "recording_refused", "recordings", recording_id,
                        {"interaction_id": record.interaction_id, "policy": policy})
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                "you may not hear this recording (site.agents_hear_recordings"
                                f" is {policy!r}: "
                                + ("operators hear no recordings)" if policy == "none" else
                                   "operators hear only calls they handled themselves)"))
    if record.deleted_at is not None:
        raise HTTPException(status.HTTP_410_GONE, "the recording was deleted at "
                            f"{record.deleted_at.isoformat()} after its retention period")
    path = Path(record.path)
    if not await asyncio.to_thread(_servable, path, ctx.recordings_dir):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the recording's file is not available")
    if _from_the_start(request):
        await audit(ctx, principal, "recording_download", "recordings", recording_id,
                    {"interaction_id": record.interaction_id})
    return FileResponse(path, media_type=record.media_type,
                        filename=f"{recording_id}{path.suffix}",
                        content_disposition_type="inline")


async def own_mailboxes(ctx: WebContext, principal: Principal) -> list[str]:
    """An operator's own voicemail boxes: their user name and their extension."""
    user = await ctx.store.config.get("users", principal.username)
    extension = getattr(user, "extension", None)
    return [principal.username, *([extension] if extension else [])]


async def _message_for(ctx: WebContext, principal: Principal,
                       voicemail_id: str) -> VoicemailRecord:
    """The message, if ``principal`` may hear it: supervisors every message, an operator
    their own mailboxes' (another's is answered as not found, not as forbidden)."""
    record = await ctx.store.voicemails.get(voicemail_id)
    if not has_role(principal, Role.SUPERVISOR) \
            and record.mailbox not in await own_mailboxes(ctx, principal):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no voicemail {voicemail_id!r}")
    return record


def _voicemail_out(record: VoicemailRecord) -> s.VoicemailOut:
    return s.VoicemailOut(**{k: v for k, v in asdict(record).items() if k != "path"})


@router.get("/api/voicemails", response_model=list[s.VoicemailOut], tags=["voicemail"],
            summary="Voicemail messages, newest first")
async def voicemails(ctx: Ctx, _p: Supervisor, mailbox: Annotated[
        str | None, Query(max_length=64)] = None) -> list[s.VoicemailOut]:
    return [_voicemail_out(r) for r in await ctx.store.voicemails.list(mailbox)]


@router.get("/api/me/voicemails", response_model=list[s.VoicemailOut], tags=["voicemail"],
            summary="My own voicemail (my user name's and my extension's boxes), newest first")
async def my_voicemails(ctx: Ctx, principal: Agent) -> list[s.VoicemailOut]:
    boxes = await own_mailboxes(ctx, principal)
    return [_voicemail_out(r) for r in await ctx.store.voicemails.list(mailboxes=boxes)]


@router.get("/api/voicemails/{voicemail_id}/audio", tags=["voicemail"],
            summary="Download a voicemail message: supervisors any, operators their own "
                    "(every access is audited)",
            response_class=FileResponse,
            responses={200: {"content": {"audio/flac": {}, "audio/wav": {}}},
                       404: {"description": "not found"}})
async def voicemail_audio(voicemail_id: str, ctx: Ctx, principal: Agent) -> FileResponse:
    record = await _message_for(ctx, principal, voicemail_id)
    path = Path(record.path)
    if not await asyncio.to_thread(_servable, path, ctx.voicemail_dir):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the message's file is not available")
    await audit(ctx, principal, "voicemail_download", "voicemails", voicemail_id,
                {"mailbox": record.mailbox})
    media_type = AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=media_type, filename=f"{voicemail_id}{path.suffix}")


@router.post("/api/voicemails/{voicemail_id}/heard", status_code=204, tags=["voicemail"],
             summary="Mark a voicemail message as heard (supervisors any, operators their own)")
async def voicemail_heard(voicemail_id: str, ctx: Ctx, principal: Agent) -> Response:
    await _message_for(ctx, principal, voicemail_id)
    await ctx.store.voicemails.mark_heard(voicemail_id)
    return Response(status_code=204)


@router.delete("/api/voicemails/{voicemail_id}", status_code=204, tags=["voicemail"],
               summary="Delete a voicemail message and its file (supervisors any, operators "
                       "their own; audited)")
async def voicemail_delete(voicemail_id: str, ctx: Ctx, principal: Agent) -> Response:
    await _message_for(ctx, principal, voicemail_id)
    record = await ctx.store.voicemails.delete(voicemail_id)
    path = Path(record.path)
    if await asyncio.to_thread(_servable, path, ctx.voicemail_dir):
        await asyncio.to_thread(path.unlink, missing_ok=True)
    await audit(ctx, principal, "voicemail_delete", "voicemails", voicemail_id,
                {"mailbox": record.mailbox, "caller": record.caller})
    return Response(status_code=204)


@router.post("/api/callbacks/{callback_id}/cancel", response_model=s.CallbackOut,
             tags=["callbacks"], summary="Cancel a callback that has not been dialled yet",
             responses={409: {"description": "no longer pending"}})
async def cancel_callback(callback_id: str, ctx: Ctx, principal: Supervisor) -> s.CallbackOut:
    current = await ctx.store.callbacks.get(callback_id)
    if current.status != "pending":
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"status: the callback is {current.status}, not pending")
    record = await ctx.store.callbacks.set_status(callback_id, "cancelled")
    ctx.bus.publish(CallbackCancelled(callback_id, principal.username))
    await audit(ctx, principal, "cancel", "callbacks", callback_id)
    return s.CallbackOut(**{k: v for k, v in asdict(record).items() if k != "interaction_id"})


# --- administration -----------------------------------------------------------------------------


@router.get("/api/tokens", response_model=list[s.TokenOut], tags=["admin"],
            summary="API tokens (never the tokens themselves)")
async def tokens(ctx: Ctx, _p: Admin) -> list[s.TokenOut]:
    return [s.TokenOut(**asdict(token)) for token in await ctx.store.accounts.tokens()]


@router.post("/api/tokens", response_model=s.TokenCreated, status_code=201, tags=["admin"],
             summary="Create an API token for a user; the token is shown only once")
async def create_token(body: s.TokenRequest, ctx: Ctx, principal: Admin) -> s.TokenCreated:
    try:
        token, token_id = await ctx.store.accounts.create_token(body.username, body.name,
                                                               ctx.clock.utcnow())
    except NotFound as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    await audit(ctx, principal, "create", "api_tokens", str(token_id),
                {"name": body.name, "username": body.username})
    return s.TokenCreated(id=token_id, name=body.name, username=body.username, token=token)


@router.delete("/api/tokens/{token_id}", status_code=204, tags=["admin"],
               summary="Revoke an API token")
async def revoke_token(token_id: Annotated[int, PathParam(ge=1, le=2**62)], ctx: Ctx,
                       principal: Admin) -> Response:
    await ctx.store.accounts.revoke_token(token_id)
    await audit(ctx, principal, "revoke", "api_tokens", str(token_id))
    return Response(status_code=204)


@router.get("/api/audit", response_model=s.AuditPage, tags=["admin"],
            summary="The audit log, newest first")
async def audit_log(ctx: Ctx, _p: Admin, offset: Offset = 0, limit: Limit = 100,
                    action: Annotated[str | None, Query(max_length=64)] = None,
                    target_type: Annotated[str | None, Query(max_length=64)] = None
                    ) -> s.AuditPage:
    page = await ctx.store.audit.list(action=action, target_type=target_type, offset=offset,
                                      limit=limit)
    return s.AuditPage(items=[s.AuditOut(**asdict(r)) for r in page.items], total=page.total,
                       offset=page.offset, limit=page.limit)


@router.get("/api/webhooks/{name}/deliveries", response_model=list[s.DeliveryOut],
            tags=["webhooks"], summary="A webhook's delivery log, newest first")
async def deliveries(name: str, ctx: Ctx, _p: Admin, limit: Limit = 100) -> list[s.DeliveryOut]:
    return [s.DeliveryOut(**asdict(r)) for r in await ctx.store.deliveries.log(name, limit)]

