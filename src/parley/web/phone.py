"""The browser phone's routes: short-lived SIP credentials for a web session.

``POST /api/phone/credentials`` gives a signed-in page what it needs to register over
``/sip`` (:mod:`parley.web.sip_ws`) as the operator's device, without ever shipping the
device's SIP password: a generated authentication name and password bound to the session
(revoked at sign-out, expiring, see :mod:`parley.telephony.session_devices`). A user without
a device of their own (a supervisor, the admin) gets a device for the session, named after
them, so that they can listen, whisper and call from the browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from parley.config import WebRtcSettings
from parley.store.specs import Role
from parley.telephony.session_devices import session_key
from parley.web import schemas as s
from parley.web.auth import SESSION_COOKIE, Agent, Ctx, authenticate, has_role
from parley.web.locale import page_locale
from parley.web.sip_ws import SIP_WS_PATH

router = APIRouter()

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/parley"
JSSIP_MODULE = "/static/vendor/jssip.mjs"
templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]))


#: The phone's states as the page script shows them: key -> English message id.
STATE_MESSAGES = {
    "state.connecting": "Connecting…",
    "state.registered": "Ready: the phone is registered",
    "state.unregistered": "Not registered",
    "state.failed": "Registration failed: {cause}",
    "state.ringing": "Incoming call from {remote}",
    "state.calling": "Calling {remote}…",
    "state.talking": "In a call with {remote}",
    "state.held": "On hold: {remote}",
    "state.ended": "Call ended ({cause})",
    "state.no_microphone": "The browser gives the microphone only to a secure page: "
                           "open this page over HTTPS.",
}


@router.get("/phone", response_class=HTMLResponse, include_in_schema=False)
async def phone_page(request: Request, ctx: Ctx) -> HTMLResponse:
    """The browser phone on its own: sign in, dial pad, answer, hang up, mute, hold, DTMF.
    Anyone may load it (it shows the sign-in form); the phone itself needs an operator's
    web session (``/api/phone/credentials`` checks the role). In the viewer's language
    (``?lang=``, their own setting, their browser's), from the pages' catalogs."""
    principal = await authenticate(request)
    locale = await page_locale(ctx, request, principal)
    html = templates.get_template("phone.html").render(
        lang=locale.language, _=locale.gettext, static=STATIC_PREFIX, jssip=JSSIP_MODULE,
        signed_in=principal is not None and has_role(principal, Role.AGENT),
        state_messages={key: locale.gettext(text) for key, text in STATE_MESSAGES.items()})
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def ice_servers(webrtc: WebRtcSettings, user: str, now: float) -> list[s.IceServerOut]:
    """The ICE servers a browser phone of ``user`` gets at ``now`` (Unix time): a TURN server
    without its own credentials gets ones made with the shared secret, as coturn's
    ``use-auth-secret`` checks them (user name ``EXPIRY:USER``, password the base64 of its
    HMAC-SHA1 under the secret), good for ``turn_ttl_s``."""
    out = []
    for server in webrtc.ice_servers:
        username, credential = server.username, server.credential
        turn = any(url.startswith("turn") for url in server.urls)
        if turn and (username is None or credential is None) and webrtc.turn_secret:
            username = f"{int(now) + webrtc.turn_ttl_s}:{user}"
            digest = hmac.new(webrtc.turn_secret.encode(), username.encode(), hashlib.sha1)
            credential = base64.b64encode(digest.digest()).decode()
        out.append(s.IceServerOut(urls=server.urls, username=username,
                                  credential=credential))
    return out


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
        user=issued.user, username=principal.username,
        uri=f"sip:{issued.user}@{request.url.hostname or 'localhost'}",
        authorization_user=issued.auth_name, password=issued.password, realm=phones.realm(),
        ws_url=f"{scheme}://{host}{SIP_WS_PATH}",
        expires_in_s=max(0, int(issued.expires_at - ctx.clock.monotonic())),
        session_device=issued.session_device,
        ice_servers=ice_servers(ctx.webrtc, issued.user, ctx.clock.utcnow().timestamp()),
        ice_transport_policy=ctx.webrtc.ice_transport_policy)
