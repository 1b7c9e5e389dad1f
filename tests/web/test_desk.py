"""The desk's pages and the customers API over real HTTP (no telephony on this server: the
desk with real calls is tested in tests/browser/test_desk.py)."""

from __future__ import annotations

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
