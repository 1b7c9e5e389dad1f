"""The campaign API against a real server: settings, start/pause/stop, contacts from JSON and
CSV (bad rows reported with their line and field, the rest loaded), cancelled tasks, attempts
as JSON and CSV, webhooks per attempt and per closed contact, and the roles that refuse."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from parley.center.ports import AttemptFacts, ContactProgress
from parley.store.campaigns import ATTEMPT_FIELDS

from .conftest import Api
from .test_webhook_call_progress import SECRET, Receiver, receiver  # noqa: F401

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
TAXI = {"name": "taxi-waiting", "mode": "agentless", "queue": "support",
        "caller_id": "+74951110000",
        "message": "Your taxi, a ${colour} ${car}, plate ${plate}, is waiting.",
        "call_window": "any", "active": True}


@pytest.fixture
def campaign(api: Api) -> Api:
    with api.client("admin") as admin:
        assert admin.put("/api/site", json={"name": "Taxi", "time_zone": "Europe/Moscow",
                                            "default_region": "RU"}).status_code == 200
        assert admin.post("/api/queues", json={"name": "support"}).status_code == 201
        created = admin.post("/api/campaigns", json=TAXI)
        assert created.status_code == 201, created.text
    return api


def test_admins_manage_campaigns_and_others_may_not(campaign: Api) -> None:
    api = campaign
    with api.client("admin") as admin, api.client("supervisor") as supervisor, \
            api.client("agent") as agent, api.client() as anonymous:
        body = admin.get("/api/campaigns/taxi-waiting").json()
        assert body["mode"] == "agentless"
        assert body["state"]["status"] == "running"
        assert body["state"]["live"] is None  # no dialer on this server
        assert body["state"]["contacts"] == {"pending": 0, "in_progress": 0, "done": 0}
        assert admin.post("/api/campaigns", json=TAXI).status_code == 409
        assert supervisor.get("/api/campaigns").json()[0]["name"] == "taxi-waiting"
        assert supervisor.put("/api/campaigns/taxi-waiting", json=TAXI).status_code == 403
        assert supervisor.delete("/api/campaigns/taxi-waiting").status_code == 403
        assert agent.get("/api/campaigns").status_code == 403
        assert agent.post("/api/campaigns/taxi-waiting/pause").status_code == 403
        assert agent.post("/api/campaigns/taxi-waiting/contacts",
                          json={"number": "+79161234567"}).status_code == 403
        assert agent.get("/api/campaigns/taxi-waiting/attempts").status_code == 403
        assert anonymous.get("/api/campaigns/taxi-waiting/attempts").status_code == 401
        bad = admin.put("/api/campaigns/taxi-waiting", json={**TAXI, "queue": None})
        assert bad.status_code == 422
        assert "an agentless campaign needs the queue" in bad.text
        missing = admin.put("/api/campaigns/taxi-waiting", json={**TAXI, "queue": "nowhere"})
        assert missing.status_code == 422
        assert "queue: no queue named 'nowhere'" in missing.text


def test_start_pause_stop_are_stored_and_a_reimport_keeps_the_pause(campaign: Api) -> None:
    api = campaign
    with api.client("supervisor") as supervisor, api.client("admin") as admin:
        paused = supervisor.post("/api/campaigns/taxi-waiting/pause")
        assert paused.status_code == 200
        assert paused.json()["status"] == "paused"
        assert paused.json()["dialer"] == "not running"
        assert "stored" in paused.json()["detail"]
        document = admin.get("/api/config").json()
        assert document["campaigns"][0]["name"] == "taxi-waiting"
        assert admin.post("/api/config", json=document).json() == {}
        state = supervisor.get("/api/campaigns/taxi-waiting").json()["state"]
        assert (state["status"], state["status_by"]) == ("paused", "super1")
        assert supervisor.post("/api/campaigns/taxi-waiting/stop").json()["status"] == "stopped"
        again = supervisor.post("/api/campaigns/taxi-waiting/start")
        assert again.status_code == 409
        assert "stopped" in again.text
        assert supervisor.post("/api/campaigns/nope/start").status_code == 404


BAD_CSV = """\
contact_id,mobile,work,plate,timezone
c1,+79161234567,,A123BC,
c2,12,,B7,
c3,+79161234568,not-a-number,C8,Europe/Moscow
c4,,,D9,
c1,+79161234569,,E1,
c6,+79161234567,,F2,
c7,+79161234570,,G3,Mars/Olympus
c8,+79161234571,,H4,Asia/Yekaterinburg
"""


def test_a_bad_csv_reports_each_bad_row_and_loads_the_others(campaign: Api) -> None:
    api = campaign
    with api.client("supervisor") as supervisor:
        answer = supervisor.post("/api/campaigns/taxi-waiting/contacts", content=BAD_CSV,
                                 headers={"Content-Type": "text/csv"})
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["contact_ids"] == ["c1", "c3", "c8"]
        assert body["dialer"] == "not running"
        assert "stored" in body["detail"]
        rejected = {(issue["line"], issue["field"]) for issue in body["rejected"]}
        assert rejected == {(3, "mobile"), (5, "number"), (6, "contact_id"), (7, "mobile"),
                            (8, "timezone")}
        reasons = {issue["line"]: issue["reason"] for issue in body["rejected"]}
        assert "bad number '12'" in reasons[3]
        assert "duplicate contact_id 'c1'" in reasons[6]
        assert "already belongs to line 2" in reasons[7]
        assert "'Mars/Olympus' is not an IANA time zone" in reasons[8]
        assert [(d["line"], d["field"]) for d in body["dropped_numbers"]] == [(4, "work")]
        contact = supervisor.get("/api/campaigns/taxi-waiting/contacts/c8").json()
        assert contact["fields"] == {"plate": "H4"}
        assert contact["numbers"] == [{"number": "+79161234571", "type": "mobile",
                                       "time_zones": ["Asia/Yekaterinburg"]}]
        assert contact["status"] == "pending"
        # The same file again: every row is now a duplicate, nothing is loaded.
        again = supervisor.post("/api/campaigns/taxi-waiting/contacts", content=BAD_CSV,
                                headers={"Content-Type": "text/csv"})
        assert again.status_code == 422
        assert "line 2: duplicate contact_id 'c1'" in again.json()["detail"]
        headless = supervisor.post("/api/campaigns/taxi-waiting/contacts",
                                   content="name,plate\nAnn,X\n",
                                   headers={"Content-Type": "text/csv"})
        assert headless.status_code == 422
        assert "line 1: no number column" in headless.json()["detail"]


def test_tasks_from_an_outside_system(campaign: Api) -> None:
    api = campaign
    with api.client("supervisor") as crm:
        one = crm.post("/api/campaigns/taxi-waiting/contacts", json={
            "number": "+74951234567", "fields": {"plate": "A123BC", "colour": "white",
                                                 "seats": 4}, "now": True})
        assert one.status_code == 201, one.text
        [task] = one.json()["contact_ids"]
        assert task.startswith("ct-")
        card = crm.get(f"/api/campaigns/taxi-waiting/contacts/{task}").json()
        assert card["dial_now"] is True
        assert card["fields"] == {"plate": "A123BC", "colour": "white", "seats": "4"}
        assert card["numbers"][0]["type"] == "home"  # a Moscow landline, typed by phonenumbers
        batch = crm.post("/api/campaigns/taxi-waiting/contacts", json={"contacts": [
            {"contact_id": "order-1", "number": "89161112233", "fields": {"plate": "B1"}},
            {"contact_id": "order-2", "number": "+7 916 111"},
            {"contact_id": "order-3", "fields": {"plate": "C3"}},
            {"contact_id": "order-4", "number": "+79161112244", "fields": {"mobile": "x"}},
            {"contact_id": "order-5", "number": "+79161112255", "fields": ["not", "a", "map"]},
            {"contact_id": "order-6", "numbers": [{"number": "+79161112266", "type": "work"},
                                                  {"number": "+7916", "type": "mobile"}]},
        ]})
        assert batch.status_code == 201, batch.text
        body = batch.json()
        assert body["contact_ids"] == ["order-1", "order-6"]
        assert body["dialer"] == "not running"
        issues = {(issue["index"], issue["field"]) for issue in body["rejected"]}
        assert issues == {(1, "number"), (2, "number"), (3, "fields.mobile"),
                          (4, "fields")}
        assert [(d["index"], d["field"]) for d in body["dropped_numbers"]] == [
            (5, "numbers[1]")]
        order = crm.get("/api/campaigns/taxi-waiting/contacts/order-1").json()
        assert order["numbers"][0] == {"number": "+79161112233", "type": "mobile",
                                       "time_zones": order["numbers"][0]["time_zones"]}
        # The outside system withdraws a task; withdrawing it again is a conflict.
        cancelled = crm.delete("/api/campaigns/taxi-waiting/contacts/order-1")
        assert cancelled.status_code == 200
        assert (cancelled.json()["status"], cancelled.json()["close_reason"]) == (
            "done", "cancelled")
        assert cancelled.json()["dialer"] == "not running"  # stored; a dialer skips it
        assert crm.delete("/api/campaigns/taxi-waiting/contacts/order-1").status_code == 409
        assert crm.get("/api/campaigns/taxi-waiting/contacts/ghost").status_code == 404
        # A task whose id the campaign had before (closed) is refused, the rest loaded.
        reuse = crm.post("/api/campaigns/taxi-waiting/contacts", json={"contacts": [
            {"contact_id": "order-1", "number": "+79161112277"},
            {"contact_id": "order-7", "number": "+79161112288"}]})
        assert reuse.json()["contact_ids"] == ["order-7"]
        assert "already has a contact 'order-1'" in reuse.json()["rejected"][0]["reason"]
        single = crm.post("/api/campaigns/taxi-waiting/contacts", json={"number": "12"})
        assert single.status_code == 422
        assert single.json()["detail"].startswith("contacts[0]: number ('12'): bad number")


def _attempt(index: int, **changes: object) -> AttemptFacts:
    values: dict[str, object] = {
        "attempt_id": f"a{index}", "campaign": "taxi-waiting", "contact_id": "c1",
        "number": "+79161234567", "number_type": "mobile",
        "started_at": T0 + timedelta(minutes=index), "trunk": "carrier",
        "call_id": f"ix-{index}", "answered_at": T0 + timedelta(minutes=index, seconds=5),
        "ended_at": T0 + timedelta(minutes=index, seconds=50), "sip_status": 200,
        "outcome": "human", "amd": "human", "amd_cause": "greeting_short",
        "operator": "ann", "talk_s": 45.0, "disposition": "success",
        "early_media": "none"}
    values.update(changes)
    return AttemptFacts(**values)  # type: ignore[arg-type]


def test_attempts_as_json_and_csv_and_webhooks_carry_them(campaign: Api,
                                                           receiver: Receiver) -> None:  # noqa: F811
    api = campaign
    store = api.server.store
    assert store is not None
    with api.client("admin") as admin:
        assert admin.post("/api/webhooks", json={
            "name": "crm", "url": receiver.url, "secret": SECRET,
            "events": ["campaign.attempt", "campaign.contact_closed"]}).status_code == 201
    with api.client("supervisor") as supervisor:
        supervisor.post("/api/campaigns/taxi-waiting/contacts", json={
            "contact_id": "c1", "number": "+79161234567", "fields": {"plate": "A123BC"}})
    busy = _attempt(0, answered_at=None, sip_status=486, outcome="busy", amd=None,
                    amd_cause=None, operator=None, talk_s=None, disposition=None,
                    early_media=None)
    human = _attempt(1)
    for facts in (busy, human):
        api.server.call(lambda facts=facts: store.campaigns.save_attempt(facts))
    [progress] = api.server.call(lambda: store.campaigns.load_contacts("taxi-waiting"))
    api.server.call(lambda: store.campaigns.save_progress("taxi-waiting", ContactProgress(
        contact=progress.contact, status="done", attempts=2, close_reason="success")))
    bodies = receiver.wait_for(3)
    attempts = [b for b in bodies if b["event"] == "campaign.attempt"]
    assert sorted(b["data"]["attempt_id"] for b in attempts) == ["a0", "a1"]
    assert attempts[0]["data"]["fields"] == {"plate": "A123BC"}
    [closed] = [b for b in bodies if b["event"] == "campaign.contact_closed"]
    assert closed["data"]["contact_id"] == "c1"
    assert closed["data"]["close_reason"] == "success"
    assert [a["attempt_id"] for a in closed["data"]["attempts"]] == ["a0", "a1"]
    assert closed["data"]["attempts"][0]["sip_status"] == 486
    assert closed["data"]["attempts"][1]["talk_s"] == 45.0
    with api.client("supervisor") as supervisor:
        page = supervisor.get("/api/campaigns/taxi-waiting/attempts").json()
        assert page["total"] == 2
        times = {"started_at", "answered_at", "ended_at"}
        assert AttemptFacts(**{name: datetime.fromisoformat(value) if name in times and value
                               else value for name, value in page["items"][1].items()}) == human
        only_busy = supervisor.get("/api/campaigns/taxi-waiting/attempts",
                                   params={"outcome": "busy"}).json()
        assert [a["attempt_id"] for a in only_busy["items"]] == ["a0"]
        exported = supervisor.get("/api/campaigns/taxi-waiting/attempts",
                                  params={"format": "csv"})
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert tuple(rows[0]) == ATTEMPT_FIELDS
        assert rows[0]["sip_status"] == "486"
        assert rows[0]["operator"] == ""
        assert rows[1] == {"attempt_id": "a1", "campaign": "taxi-waiting", "contact_id": "c1",
                           "number": "+79161234567", "number_type": "mobile",
                           "started_at": human.started_at.isoformat(), "trunk": "carrier",
                           "call_id": "ix-1", "answered_at": human.answered_at.isoformat()
                           if human.answered_at else "",
                           "ended_at": human.ended_at.isoformat() if human.ended_at else "",
                           "sip_status": "200", "outcome": "human", "amd": "human",
                           "amd_cause": "greeting_short", "operator": "ann",
                           "talk_s": "45.0", "disposition": "success",
                           "early_media": "none"}
        contact = supervisor.get("/api/campaigns/taxi-waiting/contacts/c1").json()
        assert [a["attempt_id"] for a in contact["attempts"]] == ["a0", "a1"]
        assert contact["close_reason"] == "success"


def test_campaign_status_changes_reach_live_viewers(campaign: Api) -> None:
    from websockets.sync.client import connect

    api = campaign
    url = api.url.replace("http://", "ws://") + "/api/events?topics=campaign"
    headers = {"Authorization": f"Bearer {api.tokens['supervisor']}"}
    with connect(url, additional_headers=headers, open_timeout=10) as socket:
        assert "subscribed" in str(socket.recv(timeout=10))
        with httpx.Client(base_url=api.url, headers=headers) as client:
            client.post("/api/campaigns/taxi-waiting/pause")
        message = str(socket.recv(timeout=10))
        assert '"topic":"campaign"' in message.replace(" ", "")
        assert "CampaignStatusChanged" in message
        assert '"status":"paused"' in message.replace(" ", "")


RANGES = ("prefix,from,to,region,zone\n"
          "7913,,,Novosibirsk Oblast,Asia/Novosibirsk\n"
          ",79140000000,79140999999,Primorsky Krai,Asia/Vladivostok\n")


def test_the_number_range_table_places_loaded_contacts(campaign: Api) -> None:
    """The site's table of number ranges, uploaded and downloaded over the API, gives a
    Russian mobile its region's zone in every contact load (never the intersection of
    Russia's sixteen zones); a bad table is refused whole with every bad line and field."""
    api = campaign
    with api.client("admin") as admin, api.client("supervisor") as supervisor:
        assert supervisor.get("/api/number_ranges").status_code == 404
        assert supervisor.put("/api/number_ranges", content=RANGES,
                              headers={"Content-Type": "text/csv"}).status_code == 403
        bad = admin.put("/api/number_ranges", headers={"Content-Type": "text/csv"},
                        content=RANGES + "79x,,,Somewhere,Asia/Omsk\n"
                                         "7920,,,Far,Mars/Olympus\n")
        assert bad.status_code == 422, bad.text
        assert [(issue["loc"][2], issue["loc"][3]) for issue in bad.json()["detail"]] == [
            (4, "prefix"), (5, "zone")]
        assert "line 5, field 'zone': 'Mars/Olympus' is not an IANA time zone" in \
            bad.json()["detail"][1]["msg"]
        assert supervisor.get("/api/number_ranges").status_code == 404  # nothing kept
        loaded = admin.put("/api/number_ranges", content=RANGES,
                           headers={"Content-Type": "text/csv"})
        assert loaded.status_code == 200, loaded.text
        assert (loaded.json()["rows"], loaded.json()["updated_by"]) == (2, "admin1")
        download = supervisor.get("/api/number_ranges", params={"format": "csv"})
        assert download.headers["content-type"].startswith("text/csv")
        assert download.text == RANGES
        found = supervisor.get("/api/number_ranges/lookup", params={"number": "89131234567"})
        assert found.json() == {"number": "+79131234567", "region": "Novosibirsk Oblast",
                                "zone": "Asia/Novosibirsk", "line": 2}
        assert supervisor.get("/api/number_ranges/lookup",
                              params={"number": "+79161234567"}).status_code == 404
        csv_load = supervisor.post(
            "/api/campaigns/taxi-waiting/contacts", headers={"Content-Type": "text/csv"},
            content="contact_id,mobile,region\nn1,+79131234567,\nv1,+79140001122,\n"
                    "m1,+79161234567,\nr1,+79169990000,primorsky krai\n")
        assert csv_load.status_code == 201, csv_load.text
        task = supervisor.post("/api/campaigns/taxi-waiting/contacts", json={
            "contact_id": "t1", "number": "+79131110000"})
        assert task.status_code == 201, task.text

        def zones(contact_id: str) -> list[str]:
            card = supervisor.get(f"/api/campaigns/taxi-waiting/contacts/{contact_id}")
            return card.json()["numbers"][0]["time_zones"]

        assert zones("n1") == ["Asia/Novosibirsk"]
        assert zones("v1") == ["Asia/Vladivostok"]
        assert zones("m1") == ["Europe/Moscow"]  # not in the table: the campaign's zone
        assert zones("t1") == ["Asia/Novosibirsk"]
        card = supervisor.get("/api/campaigns/taxi-waiting/contacts/r1").json()
        assert card["time_zone"] == "Asia/Vladivostok"  # the record's region wins
        # A new table replaces the old; removing it leaves loads to the default zone.
        assert admin.put("/api/number_ranges", headers={"Content-Type": "text/csv"},
                         content="prefix,region,zone\n7916,Moscow,Europe/Moscow\n"
                         ).json()["rows"] == 1
        assert supervisor.get("/api/number_ranges/lookup",
                              params={"number": "+79131234567"}).status_code == 404
        assert admin.delete("/api/number_ranges").status_code == 204
        assert admin.delete("/api/number_ranges").status_code == 404


def test_opt_outs_over_the_api_survive_a_reimport_and_can_be_lifted(campaign: Api) -> None:
    api = campaign
    with api.client("admin") as admin, api.client("supervisor") as crm:
        assert admin.post("/api/do_not_call", json={
            "name": "global", "numbers": ["+74950000001"]}).status_code == 201
        added = crm.post("/api/do_not_call/global/opt_outs", json={
            "numbers": ["+79165550001", "+74950000001"], "note": "unsubscribe link"})
        assert added.json() == {"name": "global", "added": 1}
        assert crm.post("/api/do_not_call/global/opt_outs",
                        json={"numbers": ["8916"]}).status_code == 422
        # The admin's list as provisioned, without either number: the opt-outs stay.
        assert admin.put("/api/do_not_call/global", json={
            "name": "global", "numbers": ["+74950000009"]}).status_code == 200
        listed = admin.get("/api/do_not_call/global").json()
        assert (listed["numbers"], listed["opt_outs"]) == (
            ["+74950000009"], ["+74950000001", "+79165550001"])
        # A contact with an opted-out number is reported, not loaded.
        refused = crm.post("/api/campaigns/taxi-waiting/contacts",
                           json={"number": "+79165550001"})
        assert refused.status_code == 422
        assert "do-not-call list global" in refused.text
        assert crm.delete("/api/do_not_call/global/opt_outs/+79165550001").status_code == 403
        assert admin.delete("/api/do_not_call/global/opt_outs/+79165550001").status_code == 204
        assert admin.delete("/api/do_not_call/global/opt_outs/+74950000009").status_code == 404
        assert admin.get("/api/do_not_call/global").json()["opt_outs"] == ["+74950000001"]
