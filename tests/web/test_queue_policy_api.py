"""Queue call handling and ready-on-register over the configuration API."""

from __future__ import annotations

from .conftest import Api

POLICY = {"recording": "all", "ring_timeout_s": 20, "announce_every_s": 45,
          "callback_offer_s": 180, "music": "calm"}


def test_queue_policy_crud(api: Api) -> None:
    with api.client("admin") as admin, api.client("supervisor") as supervisor:
        plain = admin.post("/api/queues", json={"name": "sales"})
        assert plain.status_code == 201
        assert {key: plain.json()[key] for key in POLICY} == {
            "recording": "none", "ring_timeout_s": 15, "announce_every_s": 30,
            "callback_offer_s": None, "music": "default"}
        created = admin.post("/api/queues", json={"name": "support", **POLICY})
        assert created.status_code == 201
        assert {key: created.json()[key] for key in POLICY} == POLICY
        assert {key: supervisor.get("/api/queues/support").json()[key]
                for key in POLICY} == POLICY
        changed = admin.put("/api/queues/support", json={
            "name": "support", "recording": "on_demand", "announce_every_s": 0})
        assert changed.status_code == 200
        assert changed.json()["recording"] == "on_demand"
        assert changed.json()["announce_every_s"] == 0
        assert changed.json()["callback_offer_s"] is None  # PUT replaces the record
        exported = admin.get("/api/config").json()
        support = next(q for q in exported["queues"] if q["name"] == "support")
        assert support["recording"] == "on_demand"
        assert admin.post("/api/config", json=exported).json() == {}


def test_bad_policy_values_name_the_field(api: Api) -> None:
    with api.client("admin") as admin:
        for field, value in (("recording", "sometimes"), ("ring_timeout_s", 0),
                             ("announce_every_s", 5), ("callback_offer_s", 0)):
            response = admin.post("/api/queues", json={"name": "q", field: value})
            assert response.status_code == 422, field
            assert response.json()["detail"][0]["loc"] == ["body", field]
        assert admin.get("/api/queues/q").status_code == 404


def test_site_ready_on_register(api: Api) -> None:
    with api.client("admin") as admin, api.client("agent") as agent:
        assert agent.get("/api/site").json()["ready_on_register"] is False
        changed = admin.put("/api/site", json={"name": "HQ", "ready_on_register": True})
        assert changed.status_code == 200
        assert changed.json()["ready_on_register"] is True
        assert agent.get("/api/site").json()["ready_on_register"] is True
        response = admin.put("/api/site", json={"ready_on_register": "sometimes"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "ready_on_register"]
