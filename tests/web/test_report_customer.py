"""The call history of one customer (``/api/reports/customer``, its CSV and the
``/reports/customer`` page) over call records written as the call recorder writes them: the
customer's inbound and outbound calls and an unanswered campaign attempt, newest first, found
by the number as typed or by the customer; a supervisor of a team sees their team's calls
only; a bad number is refused naming the parameter."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx

from parley.center.ports import AttemptFacts
from parley.store import Store
from parley.store.call_rows import CallRows
from parley.store.records import RecordingRecord, WrapupRecord
from parley.store.specs import SiteSpec, TeamSpec, UserSpec

from .conftest import Api

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CUSTOMER = "+74951234567"


async def _call(store: Store, call_id: str, began: datetime, *, direction: str, caller: str,
                called: str, operator: str | None, queue: str | None) -> None:
    rows = CallRows()
    rows.open(call_id, direction=direction, caller=caller, called=called, started_at=began,
              variables={})
    changes: dict[str, object] = {
        "queue": queue, "ended_at": began + timedelta(seconds=70),
        "outcome": "answered" if operator else "abandoned", "wait_s": 5.0,
        "talk_s": 60.0 if operator else 0.0, "duration_s": 70.0}
    if operator:
        changes |= {"answered_at": began + timedelta(seconds=5), "operator": operator}
    rows.change(call_id, **changes)
    await store.interactions.write_rows(rows)


async def seed(store: Store) -> str:
    """Three calls of the customer (inbound answered by anna, inbound answered by boris,
    outbound by anna), one of another caller, an unanswered attempt of a campaign; a result
    code and a recording on the first call. Returns the customer's id."""
    await store.config.put_site(SiteSpec(default_region="RU"))
    await store.config.put("teams", TeamSpec(name="day"))
    await store.config.put("users", UserSpec(username="anna", teams=["day"]))
    await store.config.put("users", UserSpec(username="boris"))
    await _call(store, "k1", START, direction="inbound", caller=CUSTOMER, called="600",
                operator="anna", queue="support")
    await _call(store, "k2", START + timedelta(hours=1), direction="inbound", caller=CUSTOMER,
                called="600", operator="boris", queue="sales")
    await _call(store, "k3", START + timedelta(hours=2), direction="outbound", caller="1001",
                called=CUSTOMER, operator="anna", queue=None)
    await _call(store, "other", START, direction="inbound", caller="+74950000000",
                called="600", operator="anna", queue="support")
    await store.wrapups.save(WrapupRecord("k1", None, "sale", "success", "", None, {},
                                          "anna", START + timedelta(minutes=2)))
    await store.recordings.add(RecordingRecord("rec1", "k1", "/nowhere.wav", "audio/wav",
                                               START, 60.0))
    await store.campaigns.save_attempt(AttemptFacts(
        "a1", "winter", "c1", CUSTOMER, "mobile", START + timedelta(hours=3),
        ended_at=START + timedelta(hours=3, seconds=30), outcome="no_answer"))
    customer = await store.customers.create(name="Ivan Petrov", numbers=[CUSTOMER])
    return customer.id


def test_customer_history_by_number_or_customer_scoped_and_refused_by_name(api: Api) -> None:
    store = api.server.store
    assert store is not None
    customer_id = api.server.call(lambda: seed(store))
    lead = api.server.add_user("lead", ["supervisor"])

    async def make_lead_of_day() -> None:
        spec = await store.config.get("users", "lead")
        assert isinstance(spec, UserSpec)
        await store.config.put("users", spec.model_copy(update={"teams": ["day"]}))

    api.server.call(make_lead_of_day)
    period = {"from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"}
    with api.client("supervisor") as client:
        answer = client.get("/api/reports/customer",
                            params={**period, "number": "8 (495) 123-45-67"}).json()
        assert (answer["customer"], answer["name"], answer["total"]) == (
            customer_id, "Ivan Petrov", 4)
        assert [(c["id"], c["direction"], c["campaign"], c["attempt"]) for c in
                answer["calls"]] == [("", "outbound", "winter", "a1"),
                                     ("k3", "outbound", None, None),
                                     ("k2", "inbound", None, None),
                                     ("k1", "inbound", None, None)]
        first = answer["calls"][-1]
        assert (first["number"], first["queue"], first["operator"], first["result"],
                first["wait_s"], first["talk_s"], first["recordings"]) == (
            CUSTOMER, "support", "anna", "sale", 5.0, 60.0, ["rec1"])
        by_id = client.get("/api/reports/customer",
                           params={**period, "customer": customer_id}).json()
        assert [c["id"] for c in by_id["calls"]] == [c["id"] for c in answer["calls"]]
        table = list(csv.DictReader(io.StringIO(client.get(
            "/api/reports/customer.csv", params={**period, "customer": customer_id}).text)))
        assert [(line["id"], line["result"], line["recordings"]) for line in table][-1] == (
            "k1", "sale", "rec1")
        for wrong, message in (({"number": "call me"}, "number: 'call me' is not a phone"),
                               ({}, "number: give the customer's number or customer"),
                               ({"number": CUSTOMER, "to": "2026-11-01T00:00:00Z"},
                                "to: must come after from")):
            refused = client.get("/api/reports/customer", params={**period, **wrong})
            assert refused.status_code == 422, refused.text
            assert refused.json()["detail"].startswith(message), refused.text
        missing = client.get("/api/reports/customer", params={"customer": "cu-none"})
        assert missing.status_code == 404
        page = client.get("/reports/customer", params={
            "number": CUSTOMER, "from": "2026-12-01T00:00", "to": "2026-12-02T00:00",
            "call": "k1"})
        assert page.status_code == 200
        assert 'data-call="k2"' in page.text
        assert 'data-call="a1"' in page.text
        assert 'id="call"' in page.text
        assert 'data-recording="rec1"' in page.text
        assert "winter" in page.text
        assert "sale" in page.text
        assert "/api/reports/customer.csv?number=%2B74951234567&amp;from=2026-12-01T00" \
            in page.text  # the CSV of the same period
        bad = client.get("/reports/customer", params={"number": "call me"})
        assert "number: &#39;call me&#39; is not a phone number" in bad.text
        assert 'href="/reports/customer"' in client.get("/reports").text
    with httpx_client(api, lead) as client:
        scoped = client.get("/api/reports/customer",
                            params={**period, "number": CUSTOMER}).json()
        # boris is not in the team; nobody answered the attempt: neither is listed
        assert ([c["id"] for c in scoped["calls"]], scoped["outside_scope"]) == (
            ["k3", "k1"], 2)
    with api.client("agent") as client:
        assert client.get("/api/reports/customer",
                          params={"number": CUSTOMER}).status_code == 403

    # the desk's history of the customer gives each call's recordings to whoever may hear
    # them: a supervisor always, an operator by the site's rule (own calls by default)
    history = f"/api/customers/{customer_id}/history"
    with api.client("supervisor") as client:
        calls = {c["interaction_id"]: c["recordings"] for c in client.get(history).json()}
        assert calls["k1"] == [{"id": "rec1", "duration_s": 60.0,
                                "audio": "/api/recordings/rec1/audio"}]
        assert calls["k2"] == []
    anna = api.server.add_user("anna", ["agent"])
    boris = api.server.add_user("boris", ["agent"])
    with httpx_client(api, anna) as own, httpx_client(api, boris) as other:
        assert [c["recordings"] for c in own.get(history).json()
                if c["interaction_id"] == "k1"] == [calls["k1"]]  # her own call
        assert all(c["recordings"] == [] for c in other.get(history).json())


def httpx_client(api: Api, token: str) -> httpx.Client:
    """A client with ``token`` (a user the fixture did not create)."""
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"},
                        timeout=30)
