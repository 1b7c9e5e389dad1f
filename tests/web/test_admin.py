"""The admin pages and the CSV imports behind them, over real HTTP.

The imports keep every good row and name every bad one by its line and field; the pages are
for admins only and show what the store holds. What the pages do in a browser is in
tests/browser/test_admin.py.
"""

from __future__ import annotations

from parley.store.specs import NumberListSpec, SkillSpec, TeamSpec, UserSpec

from .conftest import Api

USERS_CSV = """username,display_name,roles,teams,skills,password
ivanova,Anna Ivanova,agent,sales,sales:80 english:50,secret-one
petrov,Pyotr Petrov,agent;supervisor,sales,sales:40,secret-two
bad one,Nobody,agent,,,secret-three
sidorov,Semyon Sidorov,agent,nosuchteam,,secret-four
kuznetsova,Olga Kuznetsova,agent,,sales:high,secret-five
"""


def _configure(api: Api) -> None:
    store = api.server.store
    assert store is not None

    async def put() -> None:
        await store.config.put("teams", TeamSpec(name="sales"))
        await store.config.put("skills", SkillSpec(name="sales"))
        await store.config.put("skills", SkillSpec(name="english"))
        await store.config.put("number_lists", NumberListSpec(name="vip", kind="vip",
                                                              numbers=["+74950000001"]))

    api.server.call(put)


def test_a_user_csv_imports_the_good_rows_and_names_each_bad_row_and_field(api: Api) -> None:
    _configure(api)
    store = api.server.store
    assert store is not None
    with api.client("admin") as client:
        answer = client.post("/api/users/import", content=USERS_CSV.encode(),
                             headers={"Content-Type": "text/csv"})
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["created"] == ["ivanova", "petrov"]
        errors = {(error["row"], error["field"]) for error in report["errors"]}
        assert errors == {(4, "username"), (5, "teams"), (6, "skills")}
        assert "nosuchteam" in next(error["message"] for error in report["errors"]
                                    if error["row"] == 5)
        user = api.server.call(lambda: store.config.get("users", "ivanova"))
        assert isinstance(user, UserSpec)
        assert (user.teams, user.skills) == (["sales"], {"sales": 80, "english": 50})
        # the imported password is stored hashed and signs in
        login = client.post("/api/auth/login", json={"username": "ivanova",
                                                     "password": "secret-one"})
        assert login.status_code == 200
        # fixed and sent again: the rows already in are updated, the fixed ones created
        again = client.post("/api/users/import", content=(
            b"username;teams\nivanova;\nsidorov;sales\n"),
            headers={"Content-Type": "text/csv"})
        assert (again.json()["created"], again.json()["updated"]) == (["sidorov"], ["ivanova"])
        audit = client.get("/api/audit", params={"target_type": "users"}).json()
        assert any(entry["target"] == "petrov" and entry["action"] == "create"
                   for entry in audit["items"])
        header = client.post("/api/users/import", content=b"name,roles\nx,agent\n",
                             headers={"Content-Type": "text/csv"})
        assert header.status_code == 422
        assert header.json()["detail"].startswith("header: ")
    with api.client("supervisor") as client:
        assert client.post("/api/users/import", content=USERS_CSV.encode()).status_code == 403


def test_a_number_csv_adds_the_good_numbers_and_reports_the_bad_rows(api: Api) -> None:
    _configure(api)
    with api.client("admin") as client:
        answer = client.post("/api/number_lists/vip/import", content=(
            b"number,note\n+7 (495) 000-00-02,new\n+74950000001,old\ncall me,bad\n\n"
            b"84950000003,\n"), headers={"Content-Type": "text/csv"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"added": 2, "already": 1, "numbers": 3, "errors": [
            {"row": 4, "field": "number", "message":
             "'call me' is not a phone number: digits, * and #, with an optional leading +"}]}
        listed = client.get("/api/number_lists/vip").json()
        assert listed["numbers"] == ["+74950000001", "+74950000002", "84950000003"]
        assert client.post("/api/number_lists/none/import", content=b"1\n").status_code == 404
        huge = client.post("/api/number_lists/vip/import",
                           content=b'"' + b"1" * 200_000 + b'"\n')
        assert huge.status_code == 422
        assert huge.json()["detail"].startswith("body: line 1: field larger than")


def test_the_admin_pages_are_for_admins_and_show_the_stored_records(api: Api) -> None:
    _configure(api)
    with api.client() as anonymous:
        assert anonymous.get("/admin/users").headers["location"] == "/login"
    with api.client("agent") as agent:
        denied = agent.get("/admin/queues")
        assert denied.status_code == 403
        assert "for admins" in denied.text
    with api.client("admin") as admin:
        assert admin.get("/admin").headers["location"] == "/admin/users"
        for section in ("users", "queues", "numbers", "lists", "reasons", "users/new",
                        "queues/new", "lists/new", "lists/vip", "users/agent1"):
            page = admin.get(f"/admin/{section}")
            assert page.status_code == 200, section
        assert "+74950000001" in admin.get("/admin/lists/vip").text
        missing = admin.get("/admin/users/nobody")
        assert missing.status_code == 404
        assert "There is no user nobody." in missing.text
        assert "Пользователи" in admin.get("/admin/users", params={"lang": "ru"}).text
