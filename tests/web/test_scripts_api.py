"""Scripts, result codes and the wrap-up over the API: admins write scripts, operators read
them and close their own calls; a wrap-up with a required visible field empty, a wrong type
or an unknown result is refused naming each field; a later save wins and both are audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.sync.client import connect

from .conftest import Api

SCRIPT: dict[str, Any] = {
    "name": "sales-call",
    "title": "Sales call",
    "blocks": [
        {"id": "customer", "title": "Customer information", "fields": [
            {"id": "name", "label": "Name", "required": True},
            {"id": "age", "label": "Age", "type": "number", "min": 18},
            {"id": "interested", "label": "Interested?", "type": "choice", "required": True,
             "options": ["yes", "no"]},
        ]},
        {"id": "refusal", "title": "Reasons for refusal",
         "show_if": {"field": "interested", "equals": "no"}, "fields": [
             {"id": "reasons", "label": "Reasons", "type": "checkboxes", "required": True,
              "options": ["price", "quality", "other"]},
         ]},
    ],
}
CODES = {"name": "sales", "codes": [
    {"code": "sold", "label": "Sold", "disposition": "success"},
    {"code": "later", "label": "Call back later", "disposition": "callback"},
    {"code": "refused", "label": "Refused", "disposition": "not_interested"}]}


def _seed_call(api: Api, call_id: str, operator: str, queue: str = "sales") -> None:
    store = api.server.store
    assert store is not None
    began = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    async def seed() -> None:
        await store.interactions.open(call_id, direction="inbound", caller="+4930111",
                                      called="601", started_at=began)
        await store.interactions.queued(call_id, queue, began)
        await store.interactions.answered(call_id, began + timedelta(seconds=5),
                                          operator=operator)

    api.server.call(seed)


def _configure(api: Api) -> None:
    with api.client("admin") as admin:
        assert admin.put("/api/scripts/sales-call", json=SCRIPT).status_code == 200
        assert admin.put("/api/result_codes/sales", json=CODES).status_code == 200
        queue = admin.put("/api/queues/sales", json={"name": "sales", "script": "sales-call",
                                                      "result_codes": "sales"})
        assert queue.status_code == 200, queue.text


def test_admins_write_scripts_operators_read_them(api: Api) -> None:
    _configure(api)
    with api.client("agent") as agent, api.client("admin") as admin:
        assert agent.get("/api/scripts/sales-call").json()["blocks"] == SCRIPT["blocks"]
        assert [s["name"] for s in agent.get("/api/scripts").json()] == ["sales-call"]
        assert agent.get("/api/result_codes/sales").json()["codes"][1]["disposition"] == \
            "callback"
        assert agent.put("/api/scripts/sales-call", json=SCRIPT).status_code == 403
        broken = {**SCRIPT, "blocks": [SCRIPT["blocks"][0], {
            **SCRIPT["blocks"][1], "show_if": {"field": "interested", "equals": "maybe"}}]}
        refused = admin.put("/api/scripts/sales-call", json=broken)
        assert refused.status_code == 422
        assert "script 'sales-call' block 'refusal': 'maybe' is not an option of " \
               "'interested'" in refused.text
        in_use = admin.delete("/api/scripts/sales-call")
        assert in_use.status_code == 409
        assert "still in use by queue 'sales'" in in_use.json()["detail"]
        unknown = admin.put("/api/queues/sales", json={"name": "sales", "script": "ghost"})
        assert unknown.status_code == 422
        assert unknown.json()["detail"] == "script: no script named 'ghost'"


def test_the_wrap_up_names_each_missing_or_wrong_field(api: Api) -> None:
    _configure(api)
    _seed_call(api, "call-1", "agent1")
    with api.client("agent") as agent:
        form = agent.get("/api/interactions/call-1/wrapup").json()
        assert form["script"]["name"] == "sales-call"
        assert [c["code"] for c in form["result_codes"]] == ["sold", "later", "refused"]
        assert form["saved"] is None
        answer = agent.post("/api/interactions/call-1/wrapup", json={
            "answers": {"age": "twelve", "interested": "no"}, "result": "maybe"})
        assert answer.status_code == 422
        issues = {(i["field"], i["type"], i["block"]) for i in answer.json()["detail"]}
        assert issues == {("name", "required", "customer"), ("age", "not-a-number", "customer"),
                          ("reasons", "required", "refusal"),
                          ("result", "not-an-option", None)}
        fragment = agent.get("/desk/script/call-1", params={"lang": "ru"})
        assert fragment.status_code == 200
        assert 'aria-label="Скрипт"' in fragment.text
        assert 'data-interaction="call-1"' in fragment.text
        assert "Reasons for refusal" in fragment.text
        callback = agent.post("/api/interactions/call-1/wrapup", json={
            "answers": {"name": "Ann", "interested": "yes"}, "result": "later"})
        assert [i["msg"] for i in callback.json()["detail"]] == [
            "callback_at: a callback result needs the time to call back"]


def test_a_complete_wrap_up_is_stored_typed_and_a_later_save_wins(api: Api) -> None:
    _configure(api)
    _seed_call(api, "call-2", "agent1")
    with api.client("agent") as agent, api.client("admin") as admin:
        first = agent.post("/api/interactions/call-2/wrapup", json={
            "answers": {"name": "Ann", "age": "42", "interested": "no",
                        "reasons": ["other", "price"]},
            "result": "refused", "notes": "  moving abroad "})
        assert first.status_code == 200, first.text
        saved = first.json()
        assert (saved["result"], saved["disposition"], saved["saves"]) == (
            "refused", "not_interested", 1)
        assert saved["answers"] == {"name": "Ann", "age": 42.0, "interested": "no",
                                    "reasons": ["price", "other"]}
        assert saved["notes"] == "moving abroad"
        assert [(r["field"], r["value"]) for r in saved["rows"]] == [
            ("name", "Ann"), ("age", 42.0), ("interested", "no"), ("reasons", "price"),
            ("reasons", "other")]
        again = agent.post("/api/interactions/call-2/wrapup", json={
            "answers": {"name": "Ann", "interested": "yes", "reasons": ["price"]},
            "result": "later", "callback_at": "2026-03-03T10:00:00+03:00"})
        assert again.status_code == 200, again.text
        last = agent.get("/api/interactions/call-2/wrapup").json()["saved"]
        assert (last["result"], last["saves"], last["callback_at"]) == (
            "later", 2, "2026-03-03T07:00:00Z")
        assert [r["field"] for r in last["rows"]] == ["name", "interested"]  # reasons hidden
        audit = admin.get("/api/audit", params={"action": "wrapup"}).json()["items"]
        assert sorted((e["target"], e["detail"]["result"], e["detail"]["previous_result"])
                      for e in audit) == [("call-2", "later", "refused"),
                                          ("call-2", "refused", None)]
        timeline = admin.get("/api/interactions/call-2").json()["timeline"]
        assert [t["detail"]["result"] for t in timeline if t["kind"] == "wrapup"] == [
            "refused", "later"]


def test_only_the_calls_operator_or_a_supervisor_closes_it(api: Api) -> None:
    _configure(api)
    _seed_call(api, "call-3", "someone-else")
    body = {"answers": {"name": "Ann", "interested": "yes"}, "result": "sold"}
    with api.client("agent") as agent, api.client("supervisor") as supervisor:
        assert agent.post("/api/interactions/call-3/wrapup", json=body).status_code == 404
        assert agent.get("/api/interactions/call-3/wrapup").status_code == 404
        assert agent.get("/desk/script/call-3").status_code == 404
        closed = supervisor.post("/api/interactions/call-3/wrapup", json=body)
        assert closed.status_code == 200
        assert closed.json()["saved_by"] == "super1"
        assert supervisor.post("/api/interactions/nope/wrapup", json=body).status_code == 404


def test_a_queue_without_a_list_offers_one_code_per_disposition(api: Api) -> None:
    _seed_call(api, "call-4", "agent1", queue="support")
    with api.client("agent") as agent:
        form = agent.get("/api/interactions/call-4/wrapup").json()
        assert form["script"] is None
        assert [c["code"] for c in form["result_codes"]] == [
            "success", "callback", "not_interested", "wrong_number", "do_not_call", "machine"]
        stray = agent.post("/api/interactions/call-4/wrapup",
                           json={"answers": {"name": "Ann"}, "result": "success"})
        assert [i["msg"] for i in stray.json()["detail"]] == ["name: this call has no script"]
        assert agent.post("/api/interactions/call-4/wrapup",
                          json={"result": "success"}).status_code == 200


def test_a_saved_wrap_up_reaches_the_operators_live_events(api: Api) -> None:
    _configure(api)
    _seed_call(api, "call-5", "agent1")
    url = api.url.replace("http://", "ws://") + "/api/events?topics=call"
    headers = {"Authorization": f"Bearer {api.tokens['agent']}"}
    with connect(url, additional_headers=headers, open_timeout=10) as socket, \
            api.client("agent") as agent:
        assert json.loads(socket.recv(timeout=10))["type"] == "subscribed"
        saved = agent.post("/api/interactions/call-5/wrapup", json={
            "answers": {"name": "Ann", "interested": "yes"}, "result": "later",
            "callback_at": "2026-03-03T10:00:00+03:00"})
        assert saved.status_code == 200, saved.text
        event = json.loads(socket.recv(timeout=10))
    assert event["type"] == "WrapupSaved"
    assert event["data"] == {
        "interaction_id": "call-5", "result": "later", "disposition": "callback",
        "saved_by": "agent1", "operator": "agent1", "queue": "sales", "script": "sales-call",
        "callback_at": "2026-03-03T07:00:00+00:00", "saves": 1}


def test_a_callback_result_puts_the_customer_on_the_callback_list_at_their_time(
        api: Api) -> None:
    _configure(api)
    store = api.server.store
    assert store is not None
    began = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    async def seed() -> None:  # a Moscow customer (a fixed line: one zone)
        await store.interactions.open("call-6", direction="inbound", caller="+74951234567",
                                      called="601", started_at=began)
        await store.interactions.queued("call-6", "sales", began)
        await store.interactions.answered("call-6", began + timedelta(seconds=5),
                                          operator="agent1")

    api.server.call(seed)
    with api.client("agent") as agent, api.client("supervisor") as supervisor:
        form = agent.get("/desk/script/call-6").text
        assert "Call back at (the customer&#39;s time, Europe/Moscow)" in form
        assert 'data-zone="Europe/Moscow"' in form
        saved = agent.post("/api/interactions/call-6/wrapup", json={
            "answers": {"name": "Ann", "interested": "yes"}, "result": "later",
            "notes": "after the board meeting", "callback_at": "2026-03-03T10:00:00+03:00"})
        assert saved.status_code == 200, saved.text
        [callback] = [c for c in supervisor.get("/api/callbacks").json()
                      if c["number"] == "+74951234567"]
        # a second save corrects the wrap-up; it does not call the customer twice
        again = agent.post("/api/interactions/call-6/wrapup", json={
            "answers": {"name": "Ann", "interested": "yes"}, "result": "later",
            "callback_at": "2026-03-03T11:00:00+03:00"})
        assert again.status_code == 200
        listed = [c for c in supervisor.get("/api/callbacks").json()
                  if c["number"] == "+74951234567"]
    assert (callback["queue"], callback["status"], callback["requested_by"]) == (
        "sales", "pending", "agent1")
    assert callback["due_at"] == "2026-03-03T07:00:00Z"  # 10:00 in Moscow
    assert callback["note"] == "after the board meeting"
    assert len(listed) == 1


def test_the_wrapup_places_a_mobile_customer_by_the_sites_number_ranges(api: Api) -> None:
    """A Russian mobile has sixteen zones by its country; the site's number-range table gives
    the wrap-up the customer's own zone, as it does for the dialer's contact loads."""
    _configure(api)
    store = api.server.store
    assert store is not None
    began = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    async def seed() -> None:
        await store.interactions.open("call-7", direction="inbound", caller="+79131234567",
                                      called="601", started_at=began)
        await store.interactions.queued("call-7", "sales", began)
        await store.interactions.answered("call-7", began + timedelta(seconds=5),
                                          operator="agent1")

    api.server.call(seed)
    with api.client("agent") as agent, api.client("admin") as admin:
        before = agent.get("/desk/script/call-7").text
        assert 'data-zone="Asia/Novosibirsk"' not in before  # no table: the site's zone
        loaded = admin.put("/api/number_ranges", headers={"Content-Type": "text/csv"},
                           content="prefix,from,to,region,zone\n"
                                   "7913,,,Novosibirsk Oblast,Asia/Novosibirsk\n")
        assert loaded.status_code == 200, loaded.text
        form = agent.get("/desk/script/call-7").text
    assert "Call back at (the customer&#39;s time, Asia/Novosibirsk)" in form


def test_answers_kept_on_a_hand_over_show_in_the_next_form_until_the_wrapup(api: Api) -> None:
    """A transfer or consultation keeps the script's answers so far: the form of the call
    shows them (nothing is closed), a wrong answer is refused by name, a missing required
    one is not (the next operator fills it), and the wrap-up, once saved, takes over."""
    _configure(api)
    _seed_call(api, "call-8", "agent1")
    with api.client("agent") as agent, api.client("supervisor") as supervisor:
        wrong = agent.put("/api/interactions/call-8/wrapup/draft",
                          json={"answers": {"nosuch": "x"}})
        assert wrong.status_code == 422
        assert wrong.json()["detail"][0]["field"] == "nosuch"
        kept = agent.put("/api/interactions/call-8/wrapup/draft",
                         json={"answers": {"name": "Ann Lee"}, "notes": "wants a discount"})
        assert kept.status_code == 204, kept.text
        form = supervisor.get("/desk/script/call-8").text
        assert '>Ann Lee<' in form  # the name field, filled
        assert "wants a discount" in form
        closed = agent.post("/api/interactions/call-8/wrapup", json={
            "answers": {"name": "Ann Lee-Smith", "interested": "yes"}, "result": "sold"})
        assert closed.status_code == 200, closed.text
        after = supervisor.get("/desk/script/call-8").text
    assert '>Ann Lee-Smith<' in after
    assert "wants a discount" not in after
