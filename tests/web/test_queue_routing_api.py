"""Queue routing settings, VIP lists and reason codes over the configuration API: what is
written is read back and exported unchanged, and bad values name their field."""

from __future__ import annotations

from typing import Any

from .conftest import Api

ROUTING: dict[str, Any] = {
    "strategy": "skills_based", "max_length": 8, "overflow_target": "queue:spill",
    "required_skills": {"de": 20}, "members": ["1002", "1001"], "teams": ["north"],
    "hours": {"mon": ["08:00-18:00"], "fri": ["08:00-16:00"], "holidays": ["2026-12-24"]},
    "overflow": [{"when": "closed", "target": "voicemail"},
                 {"when": "expected_wait", "threshold": 300, "target": "callback"}],
    "relax": [{"after_s": 0, "min_level": 6}, {"after_s": 30, "min_level": 2}],
}


def test_queue_routing_settings_round_trip(api: Api) -> None:
    with api.client("admin") as admin:
        admin.post("/api/skills", json={"name": "de"})
        admin.post("/api/teams", json={"name": "north"})
        for user in ("1001", "1002"):
            admin.post("/api/users", json={"username": user})
        assert admin.post("/api/queues", json={"name": "spill"}).status_code == 201
        created = admin.post("/api/queues", json={"name": "sales", **ROUTING})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["members"] == ["1002", "1001"]
        assert body["hours"]["mon"] == ["08:00-18:00"]
        assert body["hours"]["timezone"] is None  # the site's
        assert body["overflow"][1] == {"when": "expected_wait", "threshold": 300,
                                       "target": "callback"}
        assert body["relax"] == ROUTING["relax"]
        assert admin.get("/api/queues/sales").json() == body
        exported = admin.get("/api/config").json()
        assert admin.post("/api/config", json=exported).json() == {}
        fixed = admin.put("/api/queues/spill", json={"name": "spill", "strategy": "fixed_order",
                                                     "members": ["1002", "1001"]})
        assert fixed.json()["strategy"] == "fixed_order"


def test_an_import_may_name_a_queue_defined_further_on(api: Api) -> None:
    with api.client("admin") as admin:
        document = {"queues": [{"name": "first", "overflow_target": "queue:second"},
                               {"name": "second"}]}
        assert admin.post("/api/config", json=document).json() == {"queues": 2}
        bad = {"queues": [{"name": "third", "overflow_target": "queue:ghost"}]}
        response = admin.post("/api/config", json=bad)
        assert response.status_code == 422
        assert "queues.third.overflow_target" in response.json()["detail"]
        assert admin.get("/api/queues/third").status_code == 404


def test_bad_routing_values_name_the_field(api: Api) -> None:
    with api.client("admin") as admin:
        cases: list[tuple[dict[str, Any], list[Any], str]] = [
            ({"strategy": "by_mood"}, ["body", "strategy"], ""),
            ({"max_length": 0}, ["body", "max_length"], ""),
            ({"overflow_target": "elsewhere"}, ["body", "overflow_target"], ""),
            ({"hours": {"mon": ["9-5"]}, "overflow": [{"when": "closed", "target": "hangup"}]},
             ["body", "hours", "mon", 0], ""),
            ({"hours": {"mon": ["18:00-08:00"]},
              "overflow": [{"when": "closed", "target": "hangup"}]},
             ["body", "hours", "mon"], "closes before it opens"),
            ({"hours": {"timezone": "Mars/Base"},
              "overflow": [{"when": "closed", "target": "hangup"}]},
             ["body", "hours", "timezone"], "Mars/Base"),
            ({"hours": {"mon": ["08:00-18:00"]}}, ["body"], "hours: a queue with opening"),
            ({"overflow": [{"when": "wait", "target": "hangup"}]}, ["body", "overflow", 0],
             "needs a threshold"),
            ({"overflow": [{"when": "sometimes", "target": "hangup"}]},
             ["body", "overflow", 0, "when"], ""),
            ({"relax": [{"after_s": 10, "min_level": 5}]}, ["body"],
             "relax: skill relaxing applies to the skills_based strategy only"),
            ({"strategy": "skills_based", "required_skills": {"de": 5},
              "relax": [{"after_s": 10, "min_level": 5}, {"after_s": 5, "min_level": 1}]},
             ["body", "relax"], "in order of after_s"),
        ]
        for fields, loc, message in cases:
            response = admin.post("/api/queues", json={"name": "q", **fields})
            assert response.status_code == 422, fields
            error = response.json()["detail"][0]
            assert error["loc"] == loc, (fields, error)
            assert message in error["msg"], (fields, error)
        response = admin.post("/api/queues", json={"name": "q", "teams": ["ghost"]})
        assert response.status_code == 422
        assert "teams.ghost" in response.json()["detail"]
        assert admin.get("/api/queues/q").status_code == 404


def test_vip_lists_and_list_kinds_not_supported_yet(api: Api) -> None:
    with api.client("admin") as admin:
        vip = admin.post("/api/number_lists", json={"name": "gold", "kind": "vip",
                                                    "priority": 25, "numbers": ["+15550001"]})
        assert vip.status_code == 201
        assert vip.json()["priority"] == 25
        for kind in ("allow", "do_not_call", "contacts"):
            response = admin.post("/api/number_lists", json={"name": "l", "kind": kind})
            assert response.status_code == 422, kind
            error = response.json()["detail"][0]
            assert error["loc"] == ["body", "kind"]
            assert ("not supported yet" in error["msg"] or "own section" in error["msg"]
                    or "added to a campaign over the API" in error["msg"])
        response = admin.post("/api/number_lists", json={"name": "b", "kind": "block",
                                                         "priority": 5})
        assert response.status_code == 422
        assert "only a 'vip' list" in response.text


def test_trunks_are_accepted_and_their_password_never_shown(api: Api) -> None:
    with api.client("admin") as admin:
        response = admin.post("/api/trunks", json={"name": "carrier", "host": "gw.example",
                                                   "username": "u", "password": "pw-carrier"})
        assert response.status_code == 201, response.text
        stored = admin.get("/api/trunks/carrier")
        assert stored.json()["kind"] == "register"
        assert stored.json()["auth"] == "credentials"
        assert "pw-carrier" not in stored.text
        refused = admin.post("/api/trunks", json={"name": "other", "host": "gw.example",
                                                  "kind": "peer", "auth": "credentials"})
        assert refused.status_code == 422
        assert "disagree" in refused.text
def test_routes_over_the_api_name_the_field_at_fault(api: Api) -> None:
    with api.client("admin") as admin:
        assert admin.post("/api/trunks", json={"name": "carrier", "host": "gw.example",
                                               "username": "u", "password": "p"}
                          ).status_code == 201
        response = admin.post("/api/routes", json={"name": "russia", "match": "^\\+7",
                                                   "trunks": ["carrier", "ghost"]})
        assert response.status_code == 422
        assert "trunks.ghost: no trunk named 'ghost'" in response.json()["detail"]
        response = admin.post("/api/routes", json={"name": "russia", "match": "^(",
                                                   "trunks": ["carrier"]})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "match"]
        response = admin.post("/api/routes", json={"name": "russia", "match": "^\\+7",
                                                   "trunks": ["carrier"],
                                                   "caller_id": "+74951110000"})
        assert response.status_code == 201
        assert admin.get("/api/routes").json()[0]["position"] == 1
        response = admin.delete("/api/trunks/carrier")
        assert response.status_code == 409
        assert "in use by route 'russia'" in response.json()["detail"]
    with api.client("supervisor") as supervisor:
        assert supervisor.get("/api/routes").status_code == 200
        assert supervisor.post("/api/routes", json={"name": "r", "match": "x",
                                                    "trunks": ["carrier"]}).status_code == 403



def test_site_reason_codes(api: Api) -> None:
    with api.client("admin") as admin, api.client("agent") as agent:
        assert "lunch" in agent.get("/api/site").json()["reason_codes"]
        changed = admin.put("/api/site", json={"reason_codes": ["coaching", "lunch"]})
        assert changed.status_code == 200
        assert agent.get("/api/site").json()["reason_codes"] == ["coaching", "lunch"]
        for codes, message in (([], "at least 1"), (["a", "a"], "listed twice"),
                               (["missed call"], "set by Parley"),
                               (["lunch", "personal call"], "on a call no queue gave")):
            response = admin.put("/api/site", json={"reason_codes": codes})
            assert response.status_code == 422, codes
            assert response.json()["detail"][0]["loc"] == ["body", "reason_codes"]
            assert message in response.text, codes
