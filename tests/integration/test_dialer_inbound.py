"""A task's customer calls in, over real calls: an outside system adds a task over the API, the
customer calls back the campaign's caller ID (no flow is bound to it), waits in the campaign's
queue and reaches an operator whose phone gets the task's fields, the campaign and its script
(a sipp operator answers only when its INVITE carries them); the desk's wrap-up form offers the
campaign's script; once answered, the task closes as ``answered_inbound`` (not ``cancelled``),
the inbound call is on its attempts and in the CSV export, and its closed-contact webhook
reaches the outside system. Then the admin binds the caller ID to a flow: the next task's
customer goes through that flow (to its queue), the task still attached and closed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx

from parley.store.specs import CampaignSpec, NumberSpec, ScriptSpec, WebhookSpec

from .conftest import needs_sipp
from .inbound_node import call_record, caller_scenario, change, demo_node, dial
from .test_api_webhooks import Receiver
from .test_dialer_live import OPERATORS, header, site, until

CUSTOMER = "+79161234567"
OTHER_CUSTOMER = "+79161234568"
CALLER_ID = "+74951110000"


@needs_sipp
async def test_a_tasks_customer_calls_back_and_the_task_closes_answered_inbound(
        tmp_path: Path) -> None:
    receiver = Receiver(failures=0)
    receiver.thread.start()
    async with demo_node(tmp_path) as node:
        checks = (header("X-Parley-Var-campaign", "^ *belka$", "campaign")
                  + header("X-Parley-Var-reason", "^ *registration not finished$", "reason")
                  + header("X-Parley-Var-script", "^ *onboarding$", "script")
                  + header("X-Parley-Data", "order-4[23]", "card"))
        peers = await site(node, tmp_path, {}, checks)
        caller = None
        try:
            await change(node, "webhooks", WebhookSpec(
                name="crm", url=receiver.url, events=["campaign.contact_closed"],
                secret="a-long-shared-secret-for-hmac"))
            await change(node, "scripts", ScriptSpec(name="onboarding", blocks=[
                {"id": "finish", "title": "Finish the registration",
                 "fields": [{"id": "done", "label": "Finished"}]}]))
            # not dialling (inactive): the task waits, as one outside its call window would
            await change(node, "campaigns", CampaignSpec(
                name="belka", mode="progressive", queue="dialout", agents=list(OPERATORS),
                script="onboarding", caller_id=CALLER_ID, call_window="any", active=False))
            await until(lambda: CALLER_ID in node.telephony.routed(), 5,
                        "the caller ID is bound")
            assert node.demo_login is not None
            async with httpx.AsyncClient(base_url=node.url, timeout=10) as api:
                login = await api.post("/api/auth/login", json={
                    "username": node.demo_login.username,
                    "password": node.demo_login.password})
                assert login.status_code == 200, login.text
                api.headers["X-CSRF-Token"] = login.json()["csrf_token"]
                added = await api.post("/api/campaigns/belka/contacts", json={
                    "contact_id": "order-42", "number": CUSTOMER,
                    "fields": {"reason": "registration not finished"}})
                assert added.status_code in (200, 201), added.text

                scenario, _ = caller_scenario(tmp_path, talk_s=2.0, ani=CUSTOMER)
                caller = await dial(node, tmp_path, CALLER_ID, scenario)
                record = await call_record(node, number=CUSTOMER, within=20)
                customer = await caller.stop()
                await until(lambda: receiver.requests, 10, "the closed-contact webhook")
                form = await api.get(f"/api/interactions/{record.id}/wrapup")
                contact = await api.get("/api/campaigns/belka/contacts/order-42")
                export = await api.get("/api/campaigns/belka/attempts",
                                       params={"format": "csv"})

                # the admin binds the caller ID to a flow: it runs, the task still attached
                await change(node, "numbers", NumberSpec(number=CALLER_ID,
                                                         flow="demo-support"))
                added = await api.post("/api/campaigns/belka/contacts", json={
                    "contact_id": "order-43", "number": OTHER_CUSTOMER,
                    "fields": {"reason": "registration not finished"}})
                assert added.status_code in (200, 201), added.text
                scenario, _ = caller_scenario(tmp_path, talk_s=1.0, ani=OTHER_CUSTOMER)
                caller = await dial(node, tmp_path, CALLER_ID, scenario)
                flowed = await call_record(node, number=OTHER_CUSTOMER, within=20)
                other = await api.get("/api/campaigns/belka/contacts/order-43")
        finally:
            results = [await peer.stop() for peer in peers]
            if caller is not None:
                await caller.stop()
            receiver.server.shutdown()
            receiver.server.server_close()
    operators = results[-2:]
    assert sum(r.successful for r in operators) == 2, [r.log for r in operators]
    assert all(r.failed == 0 for r in operators), [r.log for r in operators]  # card checked
    assert (customer.successful, customer.failed) == (1, 0), customer.log
    assert record.operator in OPERATORS
    assert record.queue == "dialout"
    assert record.variables["campaign"] == "belka"
    assert record.variables["reason"] == "registration not finished"
    assert form.status_code == 200, form.text
    assert form.json()["script"]["name"] == "onboarding"
    assert contact.status_code == 200, contact.text
    closed = contact.json()
    assert (closed["status"], closed["close_reason"], closed["cancelled"]) == (
        "done", "answered_inbound", False)
    [inbound] = closed["attempts"]
    assert (inbound["outcome"], inbound["call_id"], inbound["number"]) == (
        "answered_inbound", record.id, CUSTOMER)
    assert inbound["operator"] == record.operator
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(row["contact_id"], row["outcome"]) for row in rows] == [
        ("order-42", "answered_inbound")]
    body = receiver.requests[0][1]
    notice = json.loads(body)
    assert notice["event"] == "campaign.contact_closed"
    assert (notice["data"]["contact_id"], notice["data"]["close_reason"],
            notice["data"]["cancelled"]) == ("order-42", "answered_inbound", False)
    assert notice["data"]["fields"] == {"reason": "registration not finished"}
    kinds = [entry.kind for entry in record.timeline]
    assert kinds.index("data attached") < kinds.index("answered") \
        < kinds.index("campaign task closed")
    # through the flow bound to the caller ID: its queue, with the campaign data
    assert flowed.queue == "support"
    assert flowed.operator in OPERATORS
    assert (flowed.variables["campaign"], flowed.variables["contact_id"]) == ("belka",
                                                                              "order-43")
    assert other.json()["close_reason"] == "answered_inbound"
