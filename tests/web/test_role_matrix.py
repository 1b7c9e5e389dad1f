"""Every route of the application against every role.

The expected minimum role of each route is written out below. The test walks the
application's own route table, so a route added without a rule here fails, and so does a
rule for a route that no longer exists. For each route and role it sends a real request:
anonymous callers must get 401, callers below the route's role 403, and everyone else must
get past the authorisation check (any other status).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount, Route
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .conftest import Api

PUBLIC, AGENT, SUPERVISOR, ADMIN = None, "agent", "supervisor", "admin"
RANK = {PUBLIC: -1, AGENT: 0, SUPERVISOR: 1, ADMIN: 2}

CONFIG_KINDS = ("skills", "teams", "users", "devices", "queues", "flows", "numbers",
                "number_lists", "trunks", "inbound", "routes", "webhooks", "do_not_call",
                "campaigns", "scripts", "result_codes", "scorecards")
AGENT_READS = ("scripts", "result_codes")  # what the desk shows every operator

EXPECTED: dict[tuple[str, str], str | None] = {
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/api/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/static/vendor/swagger-ui/{path}"): PUBLIC,  # the docs page's own assets
    ("GET", "/static/vendor/uplot/{path}"): PUBLIC,  # the reports page's chart library
    ("GET", "/static/vendor/drawflow/{path}"): PUBLIC,  # the IVR flow editor's graph library
    ("GET", "/static/vendor/jssip.mjs"): PUBLIC,  # the browser phone's SIP library
    ("GET", "/static/parley/{path}"): PUBLIC,  # the project's own scripts and styles
    ("GET", "/phone"): PUBLIC,  # shows the sign-in form; the phone needs a session
    ("GET", "/api/health"): PUBLIC,  # load balancers' and keepalived's check: no login
    ("POST", "/api/cluster/switch-over"): ADMIN,  # a planned switch-over of the active node
    ("GET", "/metrics"): AGENT,  # any API token; a session needs admin (test_metrics_route)
    ("GET", "/api/live/trunks"): SUPERVISOR,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): AGENT,
    ("GET", "/api/auth/me"): AGENT,
    ("POST", "/api/operators/me/login"): AGENT,
    ("POST", "/api/operators/me/logout"): AGENT,
    ("PUT", "/api/operators/me/state"): AGENT,
    ("GET", "/api/operators/me/preview"): AGENT,
    ("POST", "/api/operators/me/preview"): AGENT,
    ("PUT", "/api/operators/{username}/state"): SUPERVISOR,
    ("GET", "/api/operators"): SUPERVISOR,
    ("GET", "/api/operators/{username}/states"): SUPERVISOR,
    ("GET", "/api/live/calls"): AGENT,
    ("POST", "/api/live/calls"): AGENT,
    ("DELETE", "/api/live/calls/{call_id}"): AGENT,
    ("POST", "/api/live/calls/{call_id}/transfer"): AGENT,
    ("POST", "/api/live/calls/{call_id}/consult"): AGENT,
    ("DELETE", "/api/live/calls/{call_id}/consult"): AGENT,
    ("POST", "/api/live/calls/{call_id}/consult/complete"): AGENT,
    ("POST", "/api/live/calls/{call_id}/conference"): AGENT,
    ("POST", "/api/live/calls/{call_id}/monitor"): SUPERVISOR,
    ("DELETE", "/api/live/calls/{call_id}/monitor"): SUPERVISOR,
    ("POST", "/api/live/calls/{call_id}/takeover"): SUPERVISOR,
    ("PUT", "/api/live/calls/{call_id}/recording"): AGENT,
    ("POST", "/api/live/calls/{call_id}/recording/pause"): AGENT,
    ("POST", "/api/live/calls/{call_id}/recording/resume"): AGENT,
    ("GET", "/api/live/queues"): AGENT,
    ("POST", "/api/callbacks"): AGENT,
    ("GET", "/api/callbacks"): SUPERVISOR,
    ("GET", "/api/interactions"): AGENT,
    ("GET", "/api/interactions.csv"): SUPERVISOR,
    ("GET", "/api/reports/definitions"): SUPERVISOR,
    **{("GET", f"/api/reports/{name}{csv}"): SUPERVISOR
       for name in ("queues", "operators", "teams", "trunks", "numbers", "campaigns",
                    "results") for csv in ("", ".csv", ".xlsx")},
    **{("GET", f"/api/reports/intervals{csv}"): SUPERVISOR for csv in ("", ".csv", ".xlsx")},
    **{("GET", f"/api/reports/{name}{csv}"): SUPERVISOR
       for name in ("abandoned", "working_time") for csv in ("", ".csv", ".xlsx")},
    ("GET", "/api/reports/campaigns/windows"): SUPERVISOR,  # abandon rate per window
    ("GET", "/api/reports/calls"): SUPERVISOR,  # the calls behind a figure, in one's teams
    # the call history of one customer, in one's teams
    **{("GET", f"/api/reports/customer{csv}"): SUPERVISOR for csv in ("", ".csv")},
    # custom reports: anyone signed in runs those shared with them (404 otherwise);
    # supervisors save them, their owner or an admin changes them
    ("GET", "/api/reports/custom"): AGENT,
    ("POST", "/api/reports/custom"): SUPERVISOR,
    **{("GET", f"/api/reports/custom/{{report_id}}{kind}"): AGENT
       for kind in ("", ".csv", ".xlsx")},
    ("PUT", "/api/reports/custom/{report_id}"): SUPERVISOR,
    ("DELETE", "/api/reports/custom/{report_id}"): SUPERVISOR,
    ("GET", "/api/reports/custom/{report_id}/schedules"): SUPERVISOR,
    ("POST", "/api/reports/custom/{report_id}/schedules"): ADMIN,  # the node writes files
    ("DELETE", "/api/reports/custom/{report_id}/schedules/{schedule_id}"): ADMIN,
    ("GET", "/api/interactions/{interaction_id}"): AGENT,
    ("GET", "/api/recordings"): SUPERVISOR,
    # operators: as the site's agents_hear_recordings allows (403 otherwise)
    ("GET", "/api/recordings/{recording_id}/audio"): AGENT,
    ("GET", "/api/voicemails"): SUPERVISOR,
    ("GET", "/api/me/voicemails"): AGENT,
    ("GET", "/api/voicemails/{voicemail_id}/audio"): AGENT,  # operators: their own only
    ("POST", "/api/voicemails/{voicemail_id}/heard"): AGENT,
    ("DELETE", "/api/voicemails/{voicemail_id}"): AGENT,
    ("POST", "/api/callbacks/{callback_id}/cancel"): SUPERVISOR,
    ("GET", "/api/tokens"): ADMIN,
    ("POST", "/api/tokens"): ADMIN,
    ("DELETE", "/api/tokens/{token_id}"): ADMIN,
    ("GET", "/api/audit"): ADMIN,
    ("GET", "/api/security/bans"): ADMIN,
    ("DELETE", "/api/security/bans/{kind}/{subject}"): ADMIN,
    ("GET", "/api/webhooks/{name}/deliveries"): ADMIN,
    ("GET", "/api/site"): AGENT,
    ("PUT", "/api/site"): ADMIN,
    ("GET", "/api/flows/{name}/versions"): SUPERVISOR,
    ("GET", "/api/flows/{name}/history"): SUPERVISOR,
    ("POST", "/api/flows/check"): ADMIN,
    ("PUT", "/api/flows/{name}/draft"): ADMIN,
    ("POST", "/api/flows/{name}/live"): ADMIN,
    ("POST", "/api/flows/{name}/rollback"): ADMIN,
    ("POST", "/api/flows/{name}/trial"): ADMIN,
    ("GET", "/api/config"): ADMIN,
    ("POST", "/api/config"): ADMIN,
    ("WS", "/api/events"): AGENT,
    ("WS", "/sip"): PUBLIC,  # SIP over WebSocket: phones authenticate in SIP (digest)
    ("POST", "/api/phone/credentials"): AGENT,  # a web session's, never a bearer token's
    # Campaigns: admins manage them, supervisors (and the API tokens of outside systems,
    # given to supervisor users) run them, add and cancel contacts and read attempts.
    ("POST", "/api/campaigns/{name}/start"): SUPERVISOR,
    ("POST", "/api/campaigns/{name}/pause"): SUPERVISOR,
    ("POST", "/api/campaigns/{name}/stop"): SUPERVISOR,
    ("POST", "/api/campaigns/{name}/contacts"): SUPERVISOR,
    ("GET", "/api/campaigns/{name}/contacts/{contact_id}"): SUPERVISOR,
    ("DELETE", "/api/campaigns/{name}/contacts/{contact_id}"): SUPERVISOR,
    ("GET", "/api/campaigns/{name}/attempts"): SUPERVISOR,
    ("GET", "/api/number_ranges"): SUPERVISOR,
    ("PUT", "/api/number_ranges"): ADMIN,
    ("DELETE", "/api/number_ranges"): ADMIN,
    ("GET", "/api/number_ranges/lookup"): SUPERVISOR,
    ("POST", "/api/do_not_call/{name}/opt_outs"): SUPERVISOR,
    ("DELETE", "/api/do_not_call/{name}/opt_outs/{number}"): ADMIN,
    ("GET", "/api/interactions/{interaction_id}/wrapup"): AGENT,  # operators: their own
    ("POST", "/api/interactions/{interaction_id}/wrapup"): AGENT,
    ("PUT", "/api/interactions/{interaction_id}/wrapup/draft"): AGENT,  # their own calls
    ("GET", "/desk/script-preview/{name}"): ADMIN,
    ("GET", "/desk/script/{interaction_id}"): AGENT,  # operators: their own calls
    ("GET", "/"): PUBLIC,  # the bare address: the sign-in form, or the signed-in's own page
    ("GET", "/login"): PUBLIC,  # the desk's sign-in form
    ("POST", "/login"): PUBLIC,
    ("GET", "/desk"): PUBLIC,  # sends the anonymous to /login; the desk itself needs an agent
    ("POST", "/desk/sign-out"): AGENT,
    ("GET", "/desk/state"): AGENT,
    ("GET", "/supervisor"): SUPERVISOR,  # a page: the anonymous are sent to /login
    ("GET", "/supervisor/live"): SUPERVISOR,  # the console's rows, in the supervisor's teams
    ("GET", "/wallboard"): AGENT,  # a page: the anonymous are sent to /login
    ("GET", "/reports"): SUPERVISOR,  # a page: the anonymous are sent to /login
    ("GET", "/reports/calls"): SUPERVISOR,  # the calls behind a figure, as a page
    ("GET", "/reports/customer"): SUPERVISOR,  # the call history of one customer, as a page
    ("GET", "/reports/custom"): SUPERVISOR,  # the custom report builder, as a page
    ("GET", "/wallboard/figures"): AGENT,
    ("GET", "/desk/today"): AGENT,
    ("GET", "/desk/voicemail"): AGENT,
    ("GET", "/desk/people"): AGENT,
    ("GET", "/desk/presence"): AGENT,
    ("GET", "/desk/card"): AGENT,
    ("POST", "/desk/card"): AGENT,
    ("GET", "/desk/preview"): AGENT,  # operators: their own preview only
    ("POST", "/desk/preview"): AGENT,
    ("POST", "/api/calls/{call_id}/help"): AGENT,
    ("GET", "/api/customers"): AGENT,
    ("POST", "/api/customers"): AGENT,
    ("GET", "/api/customers/lookup"): AGENT,
    ("GET", "/api/customers/{customer_id}"): AGENT,
    ("PATCH", "/api/customers/{customer_id}"): AGENT,
    ("DELETE", "/api/customers/{customer_id}"): SUPERVISOR,
    ("GET", "/api/customers/{customer_id}/history"): AGENT,
    ("GET", "/api/interactions/{interaction_id}/card"): AGENT,
    ("POST", "/api/users/import"): ADMIN,
    ("POST", "/api/number_lists/{name}/import"): ADMIN,
    ("POST", "/admin/scripts/preview"): ADMIN,  # the script page's live preview
    ("GET", "/api/routes/check"): SUPERVISOR,  # which route and trunks would dial a number
    ("GET", "/api/prompts"): SUPERVISOR,
    ("GET", "/api/prompts/{language}/{name}"): SUPERVISOR,
    ("PUT", "/api/prompts/{language}/{name}"): ADMIN,
    ("DELETE", "/api/prompts/{language}/{name}"): ADMIN,
    ("GET", "/quality"): SUPERVISOR,  # a page: the anonymous are sent to /login
    ("GET", "/quality/calls/{interaction_id}"): SUPERVISOR,  # a page, like /quality
    ("GET", "/api/quality/calls"): SUPERVISOR,  # the calls of the supervisor's teams
    ("GET", "/api/quality/calls/{interaction_id}"): SUPERVISOR,
    ("POST", "/api/quality/calls/{interaction_id}/score"): SUPERVISOR,
    ("PUT", "/api/quality/calls/{interaction_id}/reviews/{scorecard}"): SUPERVISOR,
    ("GET", "/api/quality/balanced"): SUPERVISOR,
    ("GET", "/api/directory"): ADMIN,
    ("POST", "/api/directory/test"): ADMIN,
    ("POST", "/admin/directory/test"): ADMIN,  # the directory page's "Test connection"
    ("GET", "/api/retention"): ADMIN,
    ("PUT", "/api/retention"): ADMIN,
    ("POST", "/api/retention/sweep"): ADMIN,
    ("POST", "/admin/retention"): ADMIN,  # the retention page's form
    ("POST", "/admin/retention/sweep"): ADMIN,
}
#: The admin pages: admins only; someone not signed in is sent to /login (303) instead of 401.
ADMIN_PAGES = {("GET", path) for path in (
    "/admin", "/admin/users", "/admin/users/new", "/admin/users/{name}", "/admin/queues",
    "/admin/queues/new", "/admin/queues/{name}", "/admin/numbers", "/admin/lists",
    "/admin/lists/new", "/admin/lists/{name}", "/admin/reasons", "/admin/scripts",
    "/admin/scripts/new", "/admin/scripts/{name}", "/admin/trunks", "/admin/trunks/new",
    "/admin/trunks/{name}", "/admin/routes", "/admin/routes/new", "/admin/routes/{name}",
    "/admin/campaigns", "/admin/campaigns/new", "/admin/campaigns/{name}", "/admin/dnc",
    "/admin/dnc/new", "/admin/dnc/{name}", "/admin/prompts",
    "/admin/directory", "/admin/retention",
    "/admin/flows", "/admin/flows/new", "/admin/flows/{name}", "/admin/scorecards",
    "/admin/scorecards/new", "/admin/scorecards/{name}")}
EXPECTED.update(dict.fromkeys(ADMIN_PAGES, ADMIN))
for _kind in CONFIG_KINDS:
    EXPECTED[("GET", f"/api/{_kind}")] = AGENT if _kind in AGENT_READS else SUPERVISOR
    EXPECTED[("POST", f"/api/{_kind}")] = ADMIN
    EXPECTED[("GET", f"/api/{_kind}/{{name}}")] = AGENT if _kind in AGENT_READS else SUPERVISOR
    EXPECTED[("PUT", f"/api/{_kind}/{{name}}")] = ADMIN
    EXPECTED[("DELETE", f"/api/{_kind}/{{name}}")] = ADMIN


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, looking inside included routers (kept nested by recent FastAPI)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _routes(nested.routes)
        else:
            yield route


def _route_table(api: Api) -> set[tuple[str, str]]:
    assert api.server.app is not None
    table: set[tuple[str, str]] = set()
    for route in _routes(api.server.app.routes):
        if isinstance(route, APIWebSocketRoute):
            table.add(("WS", route.path))
        elif isinstance(route, APIRoute | Route):
            for method in route.methods or ():
                if method != "HEAD":
                    table.add((method, route.path))
        elif isinstance(route, Mount):  # static files
            table.add(("GET", f"{route.path}/{{path}}"))
        else:
            pytest.fail(f"unexpected route type {route!r}")
    return table


#: Routes that act on telephony or the contact center. This server runs neither, so a caller
#: past the role check gets 503 "not running" from them; what a running node answers is
#: tested in tests/integration/test_api_live.py and fuzzed in test_api_schemathesis.py.
NEEDS_NODE = {route for route in EXPECTED if route[1].startswith("/api/live/")} | {
    ("POST", "/api/operators/me/login"), ("POST", "/api/operators/me/logout"),
    ("PUT", "/api/operators/me/state"), ("PUT", "/api/operators/{username}/state"),
    ("POST", "/api/calls/{call_id}/help"), ("POST", "/api/flows/{name}/trial")}


#: Routes whose own authentication this bearer-token matrix cannot exercise, each tested where
#: it can be: SIP over WebSocket answers digest challenges in SIP, and browser-phone
#: credentials are given to a signed-in web session only (bearer tokens get 403), both in
#: tests/integration/test_sip_websocket.py.
OWN_AUTHENTICATION = {("WS", "/sip"), ("POST", "/api/phone/credentials")}

#: Pages that send the anonymous to /login (303) rather than answer 401; below the page's role
#: they answer 403 like any route.
SIGN_IN_PAGES = {("GET", "/supervisor"), ("GET", "/wallboard"), ("GET", "/reports"),
                 ("GET", "/reports/calls"), ("GET", "/reports/customer"), ("GET", "/quality"),
                 ("GET", "/quality/calls/{interaction_id}"), ("GET", "/reports/custom")}


def _concrete(path: str) -> str:
    return re.sub(r"\{token_id\}", "999999", re.sub(r"\{(?!token_id)[a-z_]+\}", "x", path))


def _http_status(client: httpx.Client, method: str, path: str) -> int:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, _concrete(path), json=body).status_code


def _ws_status(api: Api, role: str | None) -> int:
    headers = {"Authorization": f"Bearer {api.tokens[role]}"} if role else {}
    url = api.url.replace("http://", "ws://") + "/api/events"
    try:
        with connect(url, additional_headers=headers, open_timeout=10) as socket:
            message = socket.recv(timeout=10)
            return 200 if "subscribed" in str(message) else 500
    except InvalidStatus as exc:
        return exc.response.status_code


def test_every_route_has_a_rule(api: Api) -> None:
    table = _route_table(api)
    assert sorted(table - EXPECTED.keys()) == [], "routes without a role rule"
    assert sorted(EXPECTED.keys() - table) == [], "rules for routes that do not exist"


def test_every_route_against_every_role(api: Api) -> None:
    failures = []
    clients = {role: api.client(role) for role in (PUBLIC, AGENT, SUPERVISOR, ADMIN)}
    for (method, path), needed in sorted(EXPECTED.items(), key=str):
        if (method, path) in OWN_AUTHENTICATION:
            continue
        for role in (PUBLIC, AGENT, SUPERVISOR, ADMIN):
            if method == "WS":
                status = _ws_status(api, role)
            else:
                status = _http_status(clients[role], method, path)
            allowed = RANK[role] >= RANK[needed]
            if allowed and status in (401, 403):
                failures.append(f"{method} {path} as {role}: {status}, should be allowed")
            elif not allowed and role is None and (method, path) in ADMIN_PAGES | SIGN_IN_PAGES:
                if status != 303:
                    failures.append(f"{method} {path} anonymous: {status}, expected 303")
            elif not allowed and role is None and status != (403 if method == "WS" else 401):
                failures.append(f"{method} {path} anonymous: {status}, expected 401")
            elif not allowed and role is not None and status != 403:
                failures.append(f"{method} {path} as {role}: {status}, expected 403")
            if status >= 500 and (status, (method, path) in NEEDS_NODE) != (503, True):
                failures.append(f"{method} {path} as {role}: server error {status}")
    for client in clients.values():
        client.close()
    assert failures == []


def test_unknown_api_paths_are_404_not_500(api: Api) -> None:
    with httpx.Client(base_url=api.url) as client:
        assert client.get("/api/nothing-here").status_code == 404
