"""The desk's pages and the customers API over real HTTP (no telephony on this server: the
desk with real calls is tested in tests/browser/test_desk.py)."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from typing import ClassVar

import httpx

from .conftest import Api


def _sign_in(api: Api, username: str, password: str = "password-123",  # noqa: S107
             **more: str) -> httpx.Response:
    client = httpx.Client(base_url=api.url, timeout=30)
    response = client.post("/login", data={"username": username, "password": password,
                                           **more})
    response.extensions["client"] = client  # type: ignore[index]
    return response


def test_customers_are_created_found_by_number_however_written_and_edited(api: Api) -> None:
    with api.client("agent") as agent, api.client("supervisor") as supervisor:
        made = agent.post("/api/customers", json={
            "name": "Anna Petrova", "status": "gold", "fields": {"contract": "C-17"},
            "numbers": ["+7 (495) 123-45-67"]})
        assert made.status_code == 201, made.text
        customer = made.json()
        assert customer["numbers"] == ["+74951234567"]  # E.164
        found = agent.get("/api/customers/lookup", params={"number": "+7 495 123 45 67"})
        assert found.json()["id"] == customer["id"]
        assert agent.get("/api/customers/lookup",
                         params={"number": "+74950000000"}).status_code == 404
        changed = agent.patch(f"/api/customers/{customer['id']}", json={"status": "platinum"})
        assert changed.json()["status"] == "platinum"
        assert changed.json()["name"] == "Anna Petrova"
        assert agent.get("/api/customers", params={"q": "petrova"}).json()["total"] == 1
        # one number, one customer
        again = agent.post("/api/customers", json={"name": "B", "numbers": ["+74951234567"]})
        assert again.status_code == 409
        assert "+74951234567 belongs to customer" in again.json()["detail"]
        bad = agent.post("/api/customers", json={"name": "C", "numbers": ["+7", "hello"]})
        assert bad.status_code == 422
        assert bad.json()["detail"].startswith("numbers[0]: '+7' is not a phone number")
        # deleting needs a supervisor
        assert agent.delete(f"/api/customers/{customer['id']}").status_code == 403
        assert supervisor.delete(f"/api/customers/{customer['id']}").status_code == 204


def test_signing_in_opens_the_desk_and_a_wrong_password_says_so_in_russian(api: Api) -> None:
    client = httpx.Client(base_url=api.url, timeout=30)
    with client:
        wrong = client.post("/login", data={"username": "agent1", "password": "nope"},
                            headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
        assert wrong.status_code == 401
        assert "Неверное имя пользователя или пароль." in wrong.text
        assert 'lang="ru"' in wrong.text
        page = client.get("/login")
        assert "User name" in page.text
        assert client.get("/desk").headers["location"] == "/login"
        signed = client.post("/login", data={"username": "agent1", "password": "password-123"})
        assert signed.status_code == 303
        assert signed.headers["location"] == "/desk"
        desk = client.get("/desk")
        assert desk.status_code == 200
        for name in ("Customer card", "Ready", "Not ready", "Answer", "Reject", "Hang up",
                     "Hold", "Transfer", "Help", "Sign out", "Script"):
            assert name in desk.text, name


def test_the_bare_address_opens_sign_in_or_the_users_own_page(api: Api) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        anonymous = client.get("/")
        assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/login")
        client.post("/login", data={"username": "agent1", "password": "password-123"})
        assert client.get("/").headers["location"] == "/desk"
        assert "Customer card" in client.get("/", follow_redirects=True).text
        client.post("/desk/sign-out", data={"csrf_token": client.cookies["parley_csrf"]})
        client.cookies.set("parley_session", "ended-long-ago")
        assert client.get("/").headers["location"] == "/login?why=ended"
    for role in ("supervisor", "admin"):
        with api.client(role) as client:
            assert client.get("/").headers["location"] == "/supervisor", role


def test_a_desk_phone_that_is_not_yours_is_refused_next_to_its_field(api: Api) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        refused = client.post("/login", data={"username": "agent1", "password": "password-123",
                                              "phone": "desk", "desk_phone": "9999"})
        assert refused.status_code == 422
        assert "9999 is not one of your desk phones (agent1)." in refused.text
        assert 'id="phone-error"' in refused.text
        assert "parley_session" not in refused.headers.get("set-cookie", "")


def test_a_second_sign_in_takes_over_the_first_desk(api: Api) -> None:
    first = httpx.Client(base_url=api.url, timeout=30)
    second = httpx.Client(base_url=api.url, timeout=30)
    with first, second:
        assert first.post("/login", data={"username": "agent1",
                                          "password": "password-123"}).status_code == 303
        assert first.get("/desk").status_code == 200
        assert second.post("/login", data={"username": "agent1",
                                           "password": "password-123"}).status_code == 303
        assert second.get("/desk").status_code == 200
        gone = first.get("/desk")
        assert gone.status_code == 303
        assert gone.headers["location"] == "/login?why=ended"


def test_the_card_saved_on_a_call_creates_the_customer_and_stays_with_the_call(
        api: Api) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        client.post("/login", data={"username": "agent1", "password": "password-123"})
        csrf = client.cookies["parley_csrf"]
        empty = client.get("/desk/card", params={"number": "+74951234567",
                                                 "interaction": "call-1"})
        assert "New customer" in empty.text
        saved = client.post("/desk/card", headers={"X-CSRF-Token": csrf}, data={
            "number": "+74951234567", "interaction": "call-1", "name": "Anna",
            "status": "new", "notes": "wants a callback", "new_field_name": "city",
            "new_field_value": "Moscow"})
        assert saved.status_code == 200
        assert "Known customer" in saved.text
        assert "Saved." in saved.text
        with api.client("agent") as agent:
            card = agent.get("/api/interactions/call-1/card").json()
            assert card["card"] == {"name": "Anna", "status": "new", "notes": "wants a callback",
                                    "fields": {"city": "Moscow"}}
            assert card["operator"] == "agent1"
            customer = agent.get("/api/customers/lookup",
                                 params={"number": "+74951234567"}).json()
            assert customer["fields"] == {"city": "Moscow"}
            assert card["customer_id"] == customer["id"]


def test_the_desk_speaks_the_users_language_before_the_browsers(api: Api) -> None:
    with api.client("admin") as admin:
        user = admin.get("/api/users/agent1").json()
        changed = admin.put("/api/users/agent1", json={**user, "language": "ru"})
        assert changed.status_code == 200, changed.text
    with httpx.Client(base_url=api.url, timeout=30,
                      headers={"Accept-Language": "en-GB,en;q=0.9"}) as client:
        client.post("/login", data={"username": "agent1", "password": "password-123"})
        desk = client.get("/desk")
        assert 'lang="ru"' in desk.text
        for name in ("Карточка клиента", "Готов", "Не готов", "Ответить", "Выйти"):
            assert name in desk.text, name


def test_signing_out_of_the_desk_ends_the_session(api: Api) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        client.post("/login", data={"username": "agent1", "password": "password-123"})
        page = client.get("/desk").text
        csrf = client.cookies["parley_csrf"]
        assert f'name="csrf_token" id="csrf-field" value="{csrf}"' in page
        refused = client.post("/desk/sign-out", data={"csrf_token": "wrong"})
        assert refused.status_code == 403
        out = client.post("/desk/sign-out", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert out.headers["location"] == "/login?why=signed_out"
        assert client.get("/desk").headers["location"] in ("/login", "/login?why=ended")
        assert "You have signed out." in client.get("/login?why=signed_out").text


class _Crm(http.server.BaseHTTPRequestHandler):
    """A CRM on loopback: one known customer, one number that breaks it."""

    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        number = query.get("phone", [""])[0]
        self.asked.append(number)
        if self.headers.get("Authorization") != "Token crm-secret":
            self._answer(401, b"{}")
        elif number == "+74957770001":
            self._answer(200, json.dumps({"data": [{
                "fio": "Ivan Sidorov", "tier": "gold", "contract": "K-9", "balance": 12.5,
                "manager": {"name": "Olga"}}]}).encode())
        elif number == "+74957770009":
            self._answer(500, b"oops")
        else:
            self._answer(404, b"{}")

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_caller_parley_does_not_know_is_looked_up_in_the_crm(api: Api) -> None:
    crm = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Crm)
    threading.Thread(target=crm.serve_forever, daemon=True).start()
    lookup = {"url": f"http://127.0.0.1:{crm.server_port}/customers?phone=${{number}}",
              "headers": {"Authorization": "Token crm-secret"}, "path": "data",
              "name": "fio", "status": "tier"}
    try:
        with api.client("admin") as admin, api.client("agent") as agent:
            site = admin.get("/api/site").json()
            bad = admin.put("/api/site", json={**site, "crm_lookup": {"url": "ftp://crm"}})
            assert bad.status_code == 422
            assert "crm_lookup" in bad.text
            assert "url" in bad.text
            assert admin.put("/api/site", json={**site, "crm_lookup": lookup}
                             ).status_code == 200
            # the CRM's credentials are not shown to operators
            assert agent.get("/api/site").json()["crm_lookup"]["headers"] == {
                "Authorization": "(hidden)"}
        with httpx.Client(base_url=api.url, timeout=30) as client:
            client.post("/login", data={"username": "agent1", "password": "password-123"})
            csrf = client.cookies["parley_csrf"]
            card = client.get("/desk/card", params={"number": "+7 495 777-00-01",
                                                    "interaction": "crm-1"}).text
            assert _Crm.asked[-1] == "+74957770001"
            assert "Found in the CRM" in card
            assert 'value="Ivan Sidorov"' in card
            assert 'value="gold"' in card
            assert 'name="field:contract" value="K-9"' in card
            assert 'name="field:balance" value="12.5"' in card
            assert "manager" not in card  # a nested structure is no card field
            unknown = client.get("/desk/card", params={"number": "+74957770002",
                                                       "interaction": "crm-2"}).text
            assert "New customer" in unknown
            assert "CRM look-up failed" not in unknown
            broken = client.get("/desk/card", params={"number": "+74957770009",
                                                      "interaction": "crm-3"}).text
            assert "New customer" in broken
            assert "The CRM look-up failed: it answered HTTP 500" in broken
            # saved, the customer is Parley's own: the next call does not ask the CRM
            client.post("/desk/card", headers={"X-CSRF-Token": csrf}, data={
                "number": "+74957770001", "interaction": "crm-1", "name": "Ivan Sidorov",
                "status": "gold", "field:contract": "K-9"})
            asked = len(_Crm.asked)
            again = client.get("/desk/card", params={"number": "+74957770001",
                                                     "interaction": "crm-4"}).text
            assert "Known customer" in again
            assert len(_Crm.asked) == asked
    finally:
        crm.shutdown()


def test_the_address_book_lists_the_company_by_team_without_the_viewer(api: Api) -> None:
    with api.client("admin") as admin:
        for team in ("billing", "sales"):
            assert admin.post("/api/teams", json={"name": team}).status_code == 201
        for username, name, extension, teams in (
                ("ivanova", "Anna Ivanova", "1201", ["billing"]),
                ("petrov", "Pavel Petrov", "1202", ["billing", "sales"]),
                ("noteam", "Olga Orlova", "", [])):
            made = admin.post("/api/users", json={
                "username": username, "display_name": name, "roles": ["agent"],
                "extension": extension or None, "teams": teams})
            assert made.status_code == 201, made.text
    with httpx.Client(base_url=api.url, timeout=30) as client:
        client.post("/login", data={"username": "agent1", "password": "password-123"})
        book = client.get("/desk/people").text
        billing, sales = book.index(">billing<"), book.index(">sales<")
        assert billing < book.index("Anna Ivanova") < book.index("Pavel Petrov") < sales
        assert book.index("Pavel Petrov", sales) > sales  # in both of his teams
        assert book.index("Olga Orlova") > book.index(">No team<")
        assert 'aria-label="Call Anna Ivanova"' in book
        assert 'aria-label="Transfer to Pavel Petrov"' in book
        assert 'aria-label="Call Olga Orlova"' not in book  # no extension to call
        assert 'data-user="agent1"' not in book  # the viewer is not in their own book
        # no ACD on this server: nobody's presence is known
        presence = client.get("/desk/presence").json()
        assert presence["ivanova"] == {"presence": "unknown", "label": "No presence"}


def test_the_preview_api_names_the_field_at_fault_and_says_when_there_is_none(api: Api) -> None:
    """Without a running dialer an operator has no preview: the API says so plainly, and a
    malformed decision is refused naming its field (the live preview is tested over real
    calls in tests/integration/test_dialer_live.py and in Chromium in tests/browser)."""
    with api.client("agent") as agent:
        none = agent.get("/api/operators/me/preview")
        assert none.status_code == 200, none.text
        assert none.json()["preview"] is None
        assert none.json()["detail"].startswith("no preview")
        bad = agent.post("/api/operators/me/preview", json={"contact_id": "k1",
                                                             "action": "call"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "action"]
        late = agent.post("/api/operators/me/preview", json={
            "contact_id": "k1", "action": "reschedule", "at": "tomorrow"})
        assert late.status_code == 422
        assert late.json()["detail"][0]["loc"] == ["body", "at"]
        offline = agent.post("/api/operators/me/preview", json={"contact_id": "k1",
                                                                 "action": "skip"})
        assert offline.status_code == 503
        fragment = agent.get("/desk/preview")
        assert "No contact to preview." in fragment.text


def test_the_contact_history_plays_the_recordings_the_viewer_may_hear(api: Api) -> None:
    """Each earlier call lists its recordings: a named player for one's own calls (site
    default ``own``) with the paused stretch marked, a plain note for another's; every
    recording's player for a supervisor."""
    from datetime import UTC, datetime

    from parley.store.records import RecordingRecord

    store = api.server.store
    assert store is not None
    folder = api.server.recordings_dir
    assert folder is not None
    started = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    async def seed() -> None:
        for call_id, operator in (("h-mine", "agent1"), ("h-other", "1006")):
            await store.interactions.open(call_id, direction="inbound", caller="+74957000001",
                                          called="601", started_at=started)
            await store.interactions.answered(call_id, started, operator=operator)
            await store.recordings.add(RecordingRecord(
                f"rec-{call_id}", call_id, str(folder / f"{call_id}.wav"), "audio/wav",
                started, 75.0, ({"start_s": 12.0, "end_s": 20.4, "by": operator},)))

    api.server.call(seed)
    with httpx.Client(base_url=api.url, timeout=30) as operator:
        operator.post("/login", data={"username": "agent1", "password": "password-123"})
        card = operator.get("/desk/card", params={"number": "+74957000001"}).text
    assert card.count("<audio") == 1
    assert 'src="/api/recordings/rec-h-mine/audio"' in card
    assert 'aria-label="Recording of the call of' in card
    assert "paused 0:12–0:20" in card
    assert "Recorded (1:15); your site does not let you listen to it." in card
    with api.client("supervisor") as supervisor:
        everything = supervisor.get("/desk/card", params={"number": "+74957000001"}).text
    assert everything.count("<audio") == 2
