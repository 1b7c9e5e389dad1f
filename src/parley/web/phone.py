"""The browser phone's routes: short-lived SIP credentials for a web session.

``POST /api/phone/credentials`` gives a signed-in page what it needs to register over
``/sip`` (:mod:`parley.web.sip_ws`) as the operator's device, without ever shipping the
device's SIP password: a generated authentication name and password bound to the session
(revoked at sign-out, expiring, see :mod:`parley.telephony.session_devices`). A user without
a device of their own (a supervisor, the admin) gets a device for the session, named after
them, so that they can listen, whisper and call from the browser.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from parley.telephony.session_devices import session_key
from parley.web import schemas as s
from parley.web.auth import SESSION_COOKIE, Agent, Ctx
from parley.web.sip_ws import SIP_WS_PATH

router = APIRouter()


@router.post("/api/phone/credentials", response_model=s.PhoneCredentials, tags=["phone"],
             summary="SIP credentials for this web session's browser phone",
             responses={403: {"description": "not a web session (bearer tokens get none)"},
                        503: {"description": "no SIP server on this node"}})
async def phone_credentials(request: Request, ctx: Ctx, principal: Agent
                            ) -> s.PhoneCredentials:
    cookie = request.cookies.get(SESSION_COOKIE)
    if request.headers.get("authorization") or not cookie:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "browser phone credentials are given to a signed-in web session "
                            "only: log in at /api/auth/login")
    phones = ctx.phones
    if phones is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no SIP server on this node")
    devices = await ctx.store.directory.devices_of(principal.username)
    own = [device for device in devices if phones.base.lookup(device) is not None]
    user = own[0] if own else principal.username
    if not own and phones.base.lookup(user) is not None:
        # someone else's device carries this name: never hand it out
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"a device named {user!r} belongs to someone else")
    record = await ctx.store.accounts.session(cookie, ctx.clock.utcnow())
    ends_at = None
    if record is not None:
        left = (record.expires_at - ctx.clock.utcnow()).total_seconds()
        ends_at = ctx.clock.monotonic() + max(0.0, left)
    issued = phones.issue(session_key(cookie), user, session_device=not own,
                          session_ends_at=ends_at)
    scheme = "wss" if request.url.scheme == "https" else "ws"
    host = request.headers.get("host") or request.url.netloc
    return s.PhoneCredentials(
        user=issued.user, uri=f"sip:{issued.user}@{request.url.hostname or 'localhost'}",
        authorization_user=issued.auth_name, password=issued.password, realm=phones.realm(),
        ws_url=f"{scheme}://{host}{SIP_WS_PATH}",
        expires_in_s=max(0, int(issued.expires_at - ctx.clock.monotonic())),
        session_device=issued.session_device)
