"""Quality scores over the API, on a stored call: an admin defines a scorecard (a wrong
criterion refused naming it), the operator's wrap-up scores the automatic criteria from its
answers and the call's facts (talk and hold time from the call record and the operator's
states), reviewers mark the reviewer criteria and the total follows, two reviewers'
disagreement is shown per criterion, a team supervisor sees their teams' calls only, and the
balanced scorecard sums it all per operator and day; the admin pages offer what a scorecard's
criteria choose from and the scorecard is deleted. The browser path (a real call answered
at the desk) is tests/browser/test_quality.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from .conftest import Api
from .test_scripts_api import _configure, _seed_call

SCORECARD: dict[str, Any] = {
    "name": "sales-quality", "title": "Sales call quality", "queues": ["sales"],
    "criteria": [
        {"id": "name", "label": "Name asked", "weight": 20,
         "answer": {"field": "name", "answered": True}},
        {"id": "interest", "label": "Interest asked", "weight": 20,
         "answer": {"field": "interested", "equals": "yes"}},
        {"id": "price", "label": "Price objection noted", "weight": 10,
         "answer": {"field": "reasons", "includes": "price"}, "when_result": ["refused"]},
        {"id": "talk", "label": "Talk at least a minute", "weight": 10,
         "talk_s": {"min": 60}},
        {"id": "hold", "label": "Hold under 20 s", "weight": 10, "hold_s": {"max": 20}},
        {"id": "polite", "label": "Polite", "weight": 30, "review": True},
    ]}
BEGAN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_wrapup_scores_the_call_and_reviews_complete_it(api: Api) -> None:
    _configure(api)
    _seed_call(api, "q1", "agent1")
    store = api.server.store
    assert store is not None
    answered = BEGAN + timedelta(seconds=5)

    async def end_call() -> None:  # 90 s of talk, 30 s of them on hold
        await store.operator_states.record("agent1", "on_call", answered)
        await store.operator_states.record("agent1", "on_hold", answered + timedelta(seconds=40))
        await store.operator_states.record("agent1", "on_call", answered + timedelta(seconds=70))
        await store.interactions.close("q1", answered + timedelta(seconds=90),
                                       outcome="answered")

    api.server.call(end_call)
    with api.client("admin") as admin, api.client("supervisor") as boss, \
            api.client("agent") as agent:
        wrong = {**SCORECARD, "criteria": [{"id": "polite", "reviw": True}]}
        refused = admin.put("/api/scorecards/sales-quality", json=wrong)
        assert refused.status_code == 422
        assert "scorecard 'sales-quality' criterion 'polite': unknown key 'reviw'" in refused.text
        assert admin.put("/api/scorecards/sales-quality", json=SCORECARD).status_code == 200
        assert boss.put("/api/scorecards/sales-quality", json=SCORECARD).status_code == 403

        saved = agent.post("/api/interactions/q1/wrapup", json={
            "answers": {"name": "Ann", "interested": "no", "reasons": ["quality"]},
            "result": "refused"})
        assert saved.status_code == 200, saved.text
        card = boss.get("/api/quality/calls/q1").json()["scorecards"][0]
        scores = {c["id"]: (c["score"], c["marked"], c["detail"]) for c in card["criteria"]}
        assert scores == {
            "name": (1.0, True, "name: Ann"), "interest": (0.0, True, "interested: no"),
            "price": (0.0, True, "reasons: quality"), "talk": (1.0, True, "90 s (≥ 60 s)"),
            "hold": (0.0, True, "30 s (≤ 20 s)"), "polite": (None, False, "")}
        assert (card["points"], card["possible"], card["pending"], card["percent"]) == (
            30.0, 100.0, 1, 30.0)

        bad = boss.put("/api/quality/calls/q1/reviews/sales-quality",
                       json={"marks": {"polite": 3}})
        assert bad.status_code == 422
        assert "marks.polite: a mark is a whole number from 0 to 1" in bad.text
        reviewed = boss.put("/api/quality/calls/q1/reviews/sales-quality",
                            json={"marks": {"polite": 1}, "note": "friendly"}).json()
        assert (reviewed["points"], reviewed["pending"], reviewed["percent"]) == (60.0, 0, 60.0)
        second = admin.put("/api/quality/calls/q1/reviews/sales-quality",
                           json={"marks": {"polite": 0}}).json()
        assert second["percent"] == 45.0  # the reviewers' mean: 0.5 of 30 points
        assert second["calibration"] == [{"criterion": "polite", "reviewers": 2,
                                          "lowest": 0.0, "highest": 1.0, "spread": 1.0}]

        # a later wrap-up rescored the automatic criteria and kept the reviews
        agent.post("/api/interactions/q1/wrapup", json={
            "answers": {"name": "Ann", "interested": "yes"}, "result": "sold"})
        again = boss.get("/api/quality/calls/q1").json()["scorecards"][0]
        assert {c["id"]: c["score"] for c in again["criteria"]} == {
            "name": 1.0, "interest": 1.0, "price": None, "talk": 1.0, "hold": 0.0,
            "polite": 0.5}
        assert again["percent"] == round(100 * 65 / 90, 1)

        period = {"from": "2026-03-01T00:00:00+00:00", "to": "2026-03-09T00:00:00+00:00",
                  "scorecard": "sales-quality"}
        listed = boss.get("/api/quality/calls", params=period).json()["calls"]
        assert [(c["interaction_id"], c["operator"], c["reviewed"]) for c in listed] == [
            ("q1", "agent1", True)]
        rows = boss.get("/api/quality/balanced", params=period).json()["rows"]
        assert rows == [{"operator": "agent1", "period": "2026-03-02", "campaign": None,
                         "calls": 1, "reviewed": 1, "percent": again["percent"],
                         "criteria": {"hold": 0.0, "interest": 1.0, "name": 1.0,
                                      "polite": 0.5, "talk": 1.0}}]
        assert boss.get("/api/quality/balanced", params={**period, "scorecard": "x"}
                        ).status_code == 404

        # a supervisor of another team reviews their own teams' calls only
        assert admin.put("/api/teams/north", json={"name": "north"}).status_code < 300
        boss_spec = admin.get("/api/users/super1").json()
        assert admin.put("/api/users/super1", json={**boss_spec, "teams": ["north"]}
                         ).status_code == 200
        assert boss.get("/api/quality/calls/q1").status_code == 404
        assert boss.get("/api/quality/calls", params=period).json()["calls"] == []
        page = boss.get("/quality")
        assert page.status_code == 200
        assert "Sales call quality" in page.text
    _scorecard_admin_pages(api)



def test_a_wrapup_saved_before_the_call_record_ends_is_scored_once_it_ends(api: Api) -> None:
    """The operator hangs up and saves at once: the wrap-up can be stored before the call
    record's end is. Its talk and hold criteria are "not over yet" then; once the record
    ends, the list of calls to review and the balanced scorecard count them (they showed
    a total without them while the call's own card, scored again, had them)."""
    _configure(api)
    _seed_call(api, "q2", "agent1")
    store = api.server.store
    assert store is not None
    answered = BEGAN + timedelta(seconds=5)
    with api.client("admin") as admin, api.client("supervisor") as boss, \
            api.client("agent") as agent:
        assert admin.put("/api/scorecards/sales-quality", json=SCORECARD).status_code == 200
        assert agent.post("/api/interactions/q2/wrapup", json={
            "answers": {"name": "Ann", "interested": "yes"}, "result": "sold"}
        ).status_code == 200
        period = {"from": "2026-03-01T00:00:00+00:00", "to": "2026-03-09T00:00:00+00:00",
                  "scorecard": "sales-quality"}
        [early] = boss.get("/api/quality/calls", params=period).json()["calls"]
        details = {c["id"]: (c["score"], c["detail"]) for c in early["criteria"]}
        assert details["talk"] == details["hold"] == (None, "the call is not over yet")
        assert (early["points"], early["possible"]) == (40.0, 70.0)

        async def end_call() -> None:  # 20 s of talk, none on hold
            await store.operator_states.record("agent1", "on_call", answered)
            await store.interactions.close("q2", answered + timedelta(seconds=20),
                                           outcome="answered")

        api.server.call(end_call)
        [listed] = boss.get("/api/quality/calls", params=period).json()["calls"]
        assert {c["id"]: c["score"] for c in listed["criteria"]} == {
            "name": 1.0, "interest": 1.0, "price": None, "talk": 0.0, "hold": 1.0,
            "polite": None}
        assert (listed["points"], listed["possible"], listed["percent"]) == (
            50.0, 90.0, 55.6)  # price does not apply to a sale
        [row] = boss.get("/api/quality/balanced", params=period).json()["rows"]
        assert row["percent"] == 55.6
        assert row["criteria"]["talk"] == 0.0
        assert 'data-figure="percent">56%<' in boss.get(
            "/quality", params={"from": "2026-03-01T00:00", "to": "2026-03-09T00:00",
                                "scorecard": "sales-quality"}).text


def _scorecard_admin_pages(api: Api) -> None:
    """/admin/scorecards lists the scorecards; a scorecard's form carries the picklists its
    criteria choose from (each script's fields with their options, every result code), and
    the API's refusal carries the criterion's path the page puts the message beside. Admins
    only; every change audited. (In the session above, which made the scorecard.)"""
    with api.client() as anonymous:
        assert anonymous.get("/admin/scorecards").headers["location"] == "/login"
    with api.client("supervisor") as boss:
        assert boss.get("/admin/scorecards/new").status_code == 403
        assert boss.delete("/api/scorecards/sales-quality").status_code == 403
        assert "/admin/scorecards" not in boss.get("/quality").text
    with api.client("admin") as admin:
        listed = admin.get("/admin/scorecards").text
        row = re.search(r'<tr>\s*<th scope="row"><a href="/admin/scorecards/sales-quality">'
                        r"(.*?)</tr>", listed, re.S)
        assert row is not None
        assert [cell.strip() for cell in re.findall(r"<td>(.*?)</td>", row.group(1))] == [
            "Sales call quality", "sales", "5", "1", "100"]

        assert "New scorecard" in admin.get("/admin/scorecards/new").text
        page = admin.get("/admin/scorecards/sales-quality")
        assert page.status_code == 200

        def embedded(name: str) -> Any:
            found = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>',
                              page.text, re.S)
            assert found is not None
            return json.loads(found.group(1))

        assert embedded("record")["criteria"] == SCORECARD["criteria"]
        picklists = embedded("picklists")
        [script] = picklists["scripts"]
        assert [(f["id"], f["type"], [o["value"] for o in f["options"]])
                for f in script["fields"]] == [
            ("name", "text", []), ("age", "number", []), ("interested", "choice", ["yes", "no"]),
            ("reasons", "checkboxes", ["price", "quality", "other"])]
        codes = [c["code"] for c in picklists["results"]]
        assert codes[:3] == ["sold", "later", "refused"]  # the lists', then the built-in ones
        assert "not_interested" in codes
        assert 'value="sales" checked' in page.text  # the queue it scores, ticked

        bad = {**SCORECARD, "criteria": [SCORECARD["criteria"][0],
                                         {**SCORECARD["criteria"][1], "weight": -5}]}
        refused = admin.put("/api/scorecards/sales-quality", json=bad)
        assert refused.status_code == 422
        [error] = refused.json()["detail"]
        assert error["ctx"]["error"]["path"] == ["criteria", 1, "weight"]
        assert "criterion 'interest': weight is a number of points above 0" in error["msg"]

        # /quality links an admin to the scorecard's form
        assert 'href="/admin/scorecards/sales-quality"' in admin.get("/quality").text
        assert admin.delete("/api/scorecards/sales-quality").status_code == 204
        assert admin.get("/admin/scorecards/sales-quality").status_code == 404
        assert "Анкет оценки пока нет." in admin.get("/admin/scorecards",
                                                     params={"lang": "ru"}).text
        changes = admin.get("/api/audit", params={"target_type": "scorecards"}).json()["items"]
        assert [(c["action"], c["actor"], c["target"]) for c in changes] == [
            ("delete", "admin1", "sales-quality"), ("update", "admin1", "sales-quality")]
