"""Logins, session cookies with CSRF protection, bearer tokens and the login rate limit."""

from __future__ import annotations

from contextlib import closing

import httpx

from .conftest import Api


def _login(api: Api, username: str = "admin1", password: str = "password-123") -> tuple[  # noqa: S107
        httpx.Client, httpx.Response]:
    client = httpx.Client(base_url=api.url, timeout=30)
    return client, client.post("/api/auth/login",
                               json={"username": username, "password": password})


def test_login_sets_a_protected_session_cookie(api: Api) -> None:
    client, response = _login(api)
    with closing(client):
        assert response.status_code == 200
        cookies = response.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("parley_session="))
        assert "HttpOnly" in session
        assert "SameSite=lax" in session
        assert "Secure" not in session  # plain http on loopback
        me = client.get("/api/auth/me").json()
        assert me["username"] == "admin1"
        assert me["roles"] == ["admin"]


def test_cookie_requests_that_change_state_need_the_csrf_token(api: Api) -> None:
    client, response = _login(api)
    with closing(client):
        csrf = response.json()["csrf_token"]
        body = {"name": "billing"}
        refused = client.post("/api/skills", json=body)
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["detail"]
        wrong = client.post("/api/skills", json=body, headers={"X-CSRF-Token": "nope"})
        assert wrong.status_code == 403
        accepted = client.post("/api/skills", json=body, headers={"X-CSRF-Token": csrf})
        assert accepted.status_code == 201
        # Reads need no token.
        assert client.get("/api/skills").status_code == 200


def test_logout_ends_the_session(api: Api) -> None:
    client, response = _login(api)
    with closing(client):
        csrf = response.json()["csrf_token"]
        assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        client.cookies.clear()
        client.cookies.set("parley_session", response.cookies["parley_session"])
        assert client.get("/api/auth/me").status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(api: Api) -> None:
    for username, password in (("admin1", "wrong-password"), ("ghost", "password-123")):
        client, response = _login(api, username, password)
        client.close()
        assert response.status_code == 401
        assert response.json()["detail"] == "wrong user name or password"


def test_logins_are_rate_limited(api: Api) -> None:
    statuses = []
    for _ in range(7):
        client, response = _login(api, "super1", "not-the-password")
        client.close()
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    # Even the right password is refused while the limit holds.
    client, response = _login(api, "super1", "password-123")
    client.close()
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1


def test_bearer_tokens(api: Api) -> None:
    with api.client("supervisor") as client:
        assert client.get("/api/auth/me").json()["username"] == "super1"
    with httpx.Client(base_url=api.url, headers={"Authorization": "Bearer pk_forged"}) as client:
        response = client.get("/api/auth/me")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    with httpx.Client(base_url=api.url, headers={"Authorization": "Basic abc"}) as client:
        assert client.get("/api/auth/me").status_code == 401


def test_tokens_are_created_once_listed_without_secret_and_revoked(api: Api) -> None:
    with api.client("admin") as admin:
        created = admin.post("/api/tokens", json={"name": "crm", "username": "super1"})
        assert created.status_code == 201
        token = created.json()["token"]
        listed = admin.get("/api/tokens").json()
        assert token not in str(listed)
        assert any(t["name"] == "crm" for t in listed)
        with httpx.Client(base_url=api.url,
                          headers={"Authorization": f"Bearer {token}"}) as crm:
            assert crm.get("/api/auth/me").status_code == 200
            assert admin.delete(f"/api/tokens/{created.json()['id']}").status_code == 204
            assert crm.get("/api/auth/me").status_code == 401
        unknown = admin.post("/api/tokens", json={"name": "x", "username": "ghost"})
        assert unknown.status_code == 422
        assert "username" in unknown.json()["detail"]


def test_cookies_are_secure_behind_an_https_proxy(api: Api) -> None:
    with httpx.Client(base_url=api.url, headers={"X-Forwarded-Proto": "https"}) as client:
        response = client.post("/api/auth/login",
                               json={"username": "admin1", "password": "password-123"})
        assert response.status_code == 200
        for cookie in response.headers.get_list("set-cookie"):
            assert "Secure" in cookie
        csrf_cookie = next(c for c in response.headers.get_list("set-cookie")
                           if c.startswith("parley_csrf="))
        assert "HttpOnly" not in csrf_cookie  # the page's script reads it
        assert "SameSite=strict" in csrf_cookie
