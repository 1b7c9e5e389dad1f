"""Configuration over the API: create, read, update, delete; clear errors; secrets hidden;
every admin change audited."""

from __future__ import annotations

from .conftest import Api


def test_queue_crud_cycle(api: Api) -> None:
    with api.client("admin") as admin, api.client("supervisor") as supervisor:
        assert admin.post("/api/users", json={"username": "1006", "roles": ["agent"]}
                          ).status_code == 201
        created = admin.post("/api/queues", json={"name": "sales", "members": ["1006"],
                                                  "max_wait_s": 300})
        assert created.status_code == 201
        assert created.json()["members"] == ["1006"]
        assert admin.post("/api/queues", json={"name": "sales"}).status_code == 409
        changed = admin.put("/api/queues/sales", json={"name": "sales", "wrap_up_s": 30})
        assert changed.status_code == 200
        assert changed.json()["wrap_up_s"] == 30
        assert changed.json()["members"] == []
        assert [q["name"] for q in supervisor.get("/api/queues").json()] == ["sales"]
        assert supervisor.get("/api/queues/sales").json()["wrap_up_s"] == 30
        assert admin.delete("/api/queues/sales").status_code == 204
        assert supervisor.get("/api/queues/sales").status_code == 404
        assert admin.delete("/api/queues/sales").status_code == 404


def test_nonsense_input_names_the_field(api: Api) -> None:
    with api.client("admin") as admin:
        response = admin.post("/api/queues", json={"name": "q", "max_wait_s": "soon"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "max_wait_s"]
        response = admin.post("/api/queues", json={"name": "q", "colour": "red"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "colour"]
        response = admin.put("/api/site", json={"time_zone": "Mars/Olympus"})
        assert response.status_code == 422
        assert "Mars/Olympus" in response.text
        response = admin.post("/api/queues", json={"name": "q", "members": ["ghost"]})
        assert response.status_code == 422
        assert "members.ghost" in response.json()["detail"]
        response = admin.put("/api/queues/other", json={"name": "q"})
        assert response.status_code == 422
        assert "name" in response.json()["detail"]
        response = admin.post("/api/trunks", json={"name": "t", "host": "gw.example",
                                                   "kind": "register"})
        assert response.status_code == 422
        assert "username" in response.text


def test_secrets_are_accepted_but_never_shown(api: Api) -> None:
    with api.client("admin") as admin:
        assert admin.post("/api/users", json={"username": "1001", "password": "pw-1001-x"}
                          ).status_code == 201
        device = admin.post("/api/devices", json={"name": "1001", "user": "1001",
                                                  "sip_password": "pw1001"})
        assert device.status_code == 201
        hook = admin.post("/api/webhooks", json={
            "name": "crm", "url": "http://127.0.0.1:9/hook", "events": ["call.ended"],
            "secret": "s" * 20})
        assert hook.status_code == 201
        for path in ("/api/users/1001", "/api/devices/1001", "/api/webhooks/crm"):
            body = admin.get(path).text
            for secret in ("pw-1001-x", "pw1001", "password_hash", "ha1_md5", "s" * 20):
                assert secret not in body, (path, secret)
        # Updating a device without credentials keeps the stored ones.
        admin.put("/api/devices/1001", json={"name": "1001", "user": "1001",
                                             "static_contact": "sip:1001@10.0.0.5"})
        credentials = api.server.call(lambda: api.server.store.directory.sip_credentials("1001"))  # type: ignore[union-attr]
        assert credentials is not None
        assert credentials.ha1_md5 is not None


def test_admin_changes_are_audited(api: Api) -> None:
    with api.client("admin") as admin:
        admin.post("/api/skills", json={"name": "french"})
        admin.put("/api/skills/french", json={"name": "french", "description": "FR"})
        admin.delete("/api/skills/french")
        entries = admin.get("/api/audit", params={"target_type": "skills"}).json()["items"]
        assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
            ("admin1", "delete", "french"), ("admin1", "update", "french"),
            ("admin1", "create", "french")]


def test_flow_versions_over_the_api(api: Api) -> None:
    with api.client("admin") as admin:
        bye = {"type": "hangup"}
        admin.post("/api/flows", json={"name": "ivr", "definition": {
            "start": "menu", "nodes": {"menu": bye}}})
        admin.put("/api/flows/ivr", json={"name": "ivr", "definition": {
            "start": "hours", "nodes": {"hours": bye}}})
        versions = admin.get("/api/flows/ivr/versions").json()
        assert [v["version"] for v in versions] == [1, 2]
        assert admin.get("/api/flows/ivr").json()["version"] == 2


def test_configuration_export_and_import_over_the_api(api: Api) -> None:
    with api.client("admin") as admin:
        admin.post("/api/skills", json={"name": "de"})
        admin.post("/api/users", json={"username": "1002", "skills": {"de": 4}})
        document = admin.get("/api/config").json()
        assert admin.post("/api/config", json=document).json() == {}
        document["users"] = [u for u in document["users"] if u["username"] == "1002"]
        document["users"][0]["skills"] = {"de": 9}
        assert admin.post("/api/config", json=document).json() == {"users": 1}
        assert admin.get("/api/users/1002").json()["skills"] == {"de": 9}


def test_the_last_admin_cannot_be_removed(api: Api) -> None:
    with api.client("admin") as admin:
        demoted = admin.put("/api/users/admin1", json={"username": "admin1",
                                                       "roles": ["supervisor"]})
        assert demoted.status_code == 409
        assert "last active admin" in demoted.json()["detail"]
        assert admin.delete("/api/users/admin1").status_code == 409
        assert admin.put("/api/users/admin1", json={"username": "admin1", "roles": ["admin"],
                                                    "active": False}).status_code == 409
        admin.post("/api/users", json={"username": "admin2", "roles": ["admin"]})
        assert admin.put("/api/users/admin1", json={"username": "admin1",
                                                    "roles": ["supervisor"]}).status_code == 200


def test_languages_of_users_numbers_and_queues_over_the_api(api: Api) -> None:
    """The user's pages' language, the caller's language per number and per queue; an
    unknown language names the field."""
    with api.client("admin") as admin:
        assert admin.post("/api/users", json={"username": "1007", "language": "ru"}
                          ).status_code == 201
        assert admin.get("/api/users/1007").json()["language"] == "ru"
        assert admin.post("/api/queues", json={"name": "ru-sales", "language": "ru"}
                          ).status_code == 201
        assert admin.get("/api/queues/ru-sales").json()["language"] == "ru"
        assert admin.post("/api/numbers", json={"number": "610", "flow": "demo-main-ru",
                                                "language": "ru"}).status_code == 201
        assert admin.get("/api/numbers/610").json()["language"] == "ru"
        response = admin.post("/api/queues", json={"name": "q", "language": "de"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "language"]
