"""Campaigns in the store: settings and runtime status, contacts and their progress, every
attempt, do-not-call lists, and the webhooks a finished attempt and a closed contact queue."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from parley.center.ports import AttemptFacts, ContactProgress
from parley.clock import VirtualClock
from parley.dialer.contacts import ContactLoader
from parley.dialer.model import DialMode, NumberType
from parley.store import Conflict, NotFound, Store
from parley.store.specs import CampaignSpec, DoNotCallSpec, QueueSpec, SiteSpec, WebhookSpec

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def taxi(**changes: object) -> CampaignSpec:
    data: dict[str, object] = {
        "name": "taxi-waiting", "mode": "agentless", "queue": "support",
        "caller_id": "+74951110000", "message": "Your taxi, plate ${plate}, is waiting.",
        "call_window": "any", "retry": {"busy": "5m", "no_answer": 600}}
    data.update(changes)
    return CampaignSpec.model_validate(data)


async def _setup(store: Store) -> None:
    await store.config.put_site(SiteSpec(time_zone="Europe/Moscow", default_region="RU"))
    await store.config.put("queues", QueueSpec(name="support"))
    await store.config.put("webhooks", WebhookSpec(
        name="crm", url="http://crm.example/hook", events=["campaign.attempt",
                                                          "campaign.contact_closed"],
        secret="s" * 20))
    await store.config.put("webhooks", WebhookSpec(
        name="calls-only", url="http://other.example/hook", events=["call.ended"],
        secret="t" * 20))
    await store.config.put("campaigns", taxi())


async def _contacts(store: Store, csv_text: str) -> list[str]:
    loader = ContactLoader(default_region="RU", default_time_zone="Europe/Moscow")
    report = loader.load_csv(csv_text)
    assert not report.rejected
    return await store.campaigns.add_contacts("taxi-waiting", report.accepted, by="crm-bot")


async def test_stored_campaign_carries_the_dialer_settings(store: Store) -> None:
    await _setup(store)
    [stored] = await store.campaigns.load_campaigns()
    assert stored.status == "running"  # active: true
    assert stored.queue == "support"
    assert stored.message.startswith("Your taxi")
    config = stored.config
    assert config.mode is DialMode.AGENTLESS
    assert config.agentless_queue == "support"
    assert config.default_region == "RU"  # the site's, as the campaign names none
    assert config.default_time_zone == "Europe/Moscow"
    assert config.strategy.delay_after("busy") == 300  # type: ignore[arg-type]
    night = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
    assert config.strategy.calendar(NumberType.MOBILE).open_in(night, "Europe/Moscow")


async def test_a_supervisors_pause_survives_a_reimport(store: Store) -> None:
    await _setup(store)
    await store.campaigns.save_status("taxi-waiting", "paused", by="sue")
    assert not await store.config.put("campaigns", taxi())  # the same file again
    record = await store.campaigns.campaign("taxi-waiting")
    assert (record.status, record.status_by) == ("paused", "sue")
    # A changed setting is saved, and still the pause holds.
    assert await store.config.put("campaigns", taxi(priority=5))
    assert (await store.campaigns.campaign("taxi-waiting")).status == "paused"
    # Turning active off and on again in the file is a wanted change: it runs.
    await store.config.put("campaigns", taxi(active=False))
    assert (await store.campaigns.campaign("taxi-waiting")).status == "paused"
    await store.config.put("campaigns", taxi(active=True))
    record = await store.campaigns.campaign("taxi-waiting")
    assert (record.status, record.status_by) == ("running", "config")
    await store.campaigns.save_status("taxi-waiting", "stopped", by="sue")
    with pytest.raises(Conflict, match="stopped"):
        await store.campaigns.save_status("taxi-waiting", "running", by="sue")


async def test_attempts_round_trip_and_queue_one_webhook_each(store: Store) -> None:
    await _setup(store)
    [first, second] = await _contacts(store, "contact_id,mobile,plate\n"
                                             "c1,+79161234567,A123BC\nc2,+79161234568,B7\n")
    assert first == "c1"
    started = AttemptFacts(attempt_id="a1", campaign="taxi-waiting", contact_id="c1",
                           number="+79161234567", number_type="mobile", started_at=T0,
                           trunk="carrier", call_id="ix-1")
    await store.campaigns.save_attempt(started)
    assert await store.deliveries.pending() == []  # not finished yet: no webhook
    ended = AttemptFacts(
        attempt_id="a1", campaign="taxi-waiting", contact_id="c1", number="+79161234567",
        number_type="mobile", started_at=T0, trunk="carrier", call_id="ix-1",
        answered_at=T0 + timedelta(seconds=7), ended_at=T0 + timedelta(seconds=40),
        sip_status=200, outcome="human", amd="human", amd_cause="initial_silence",
        operator="ann", talk_s=33.0, disposition=None, early_media=None)
    await store.campaigns.save_attempt(ended)
    assert await store.deliveries.pending() == []  # ann's wrap-up will say how it went
    finished = AttemptFacts(
        attempt_id="a1", campaign="taxi-waiting", contact_id="c1", number="+79161234567",
        number_type="mobile", started_at=T0, trunk="carrier", call_id="ix-1",
        answered_at=T0 + timedelta(seconds=7), ended_at=T0 + timedelta(seconds=40),
        sip_status=200, outcome="human", amd="human", amd_cause="initial_silence",
        operator="ann", talk_s=33.0, disposition="success", early_media=None)
    await store.campaigns.save_attempt(finished)
    await store.campaigns.save_attempt(finished)  # the same write again changes nothing
    page = await store.campaigns.attempts("taxi-waiting")
    assert page.items == (finished,)
    assert page.total == 1
    pending = await store.deliveries.pending()
    assert [(p.webhook, p.event_type) for p in pending] == [("crm", "campaign.attempt")]
    body = json.loads(pending[0].body)
    assert body["data"]["attempt_id"] == "a1"
    assert body["data"]["talk_s"] == 33.0
    assert body["data"]["disposition"] == "success"
    assert body["data"]["fields"] == {"plate": "A123BC"}
    # Filters.
    assert (await store.campaigns.attempts("taxi-waiting", contact_id=second)).total == 0
    assert (await store.campaigns.attempts("taxi-waiting", outcome="human")).total == 1
    assert (await store.campaigns.attempts("taxi-waiting",
                                           since=T0 + timedelta(seconds=1))).total == 0
    with pytest.raises(NotFound):
        await store.campaigns.attempts("nope")


async def test_a_closed_contact_queues_its_webhook_with_every_attempt(store: Store) -> None:
    await _setup(store)
    await _contacts(store, "contact_id,mobile,work,plate\nc1,+79161234567,+74957654321,X1\n")
    [progress] = await store.campaigns.load_contacts("taxi-waiting")
    assert progress.status == "pending"
    assert [n.type for n in progress.contact.numbers] == [NumberType.MOBILE, NumberType.WORK]
    for index, (outcome, number) in enumerate((("busy", "+79161234567"),
                                               ("human", "+74957654321"))):
        await store.campaigns.save_attempt(AttemptFacts(
            attempt_id=f"a{index}", campaign="taxi-waiting", contact_id="c1", number=number,
            number_type="mobile", started_at=T0 + timedelta(minutes=index),
            ended_at=T0 + timedelta(minutes=index, seconds=20), outcome=outcome))
        await store.campaigns.save_progress("taxi-waiting", ContactProgress(
            contact=progress.contact, status="pending", attempts=index + 1,
            attempts_by_number={number: 1}, due_at=T0 + timedelta(minutes=5)))
    reloaded = (await store.campaigns.load_contacts("taxi-waiting", ["c1"]))[0]
    assert reloaded.attempts == 2
    assert reloaded.due_at == T0 + timedelta(minutes=5)
    await store.campaigns.save_progress("taxi-waiting", ContactProgress(
        contact=progress.contact, status="done", attempts=2, close_reason="success"))
    assert await store.campaigns.load_contacts("taxi-waiting") == []  # closed: not loaded
    closed = [p for p in await store.deliveries.pending()
              if p.event_type == "campaign.contact_closed"]
    assert len(closed) == 1
    data = json.loads(closed[0].body)["data"]
    assert data["close_reason"] == "success"
    assert data["fields"] == {"plate": "X1"}
    assert [a["attempt_id"] for a in data["attempts"]] == ["a0", "a1"]
    assert [a["outcome"] for a in data["attempts"]] == ["busy", "human"]
    # The dialer repeating the close sends nothing more.
    await store.campaigns.save_progress("taxi-waiting", ContactProgress(
        contact=progress.contact, status="done", attempts=2, close_reason="success"))
    assert len([p for p in await store.deliveries.pending()
                if p.event_type == "campaign.contact_closed"]) == 1
    record = await store.campaigns.contact("taxi-waiting", "c1")
    assert [a.attempt_id for a in record.attempts] == ["a0", "a1"]


async def test_a_batch_writes_attempts_then_the_close_in_one_go(store: Store) -> None:
    await _setup(store)
    await _contacts(store, "contact_id,mobile,plate\nc1,+79161234567,X1\nc2,+79161234568,X2\n")
    first, second = await store.campaigns.load_contacts("taxi-waiting")
    ended = AttemptFacts(attempt_id="b1", campaign="taxi-waiting", contact_id=first.contact.id,
                         number="+79161234567", number_type="mobile", started_at=T0,
                         ended_at=T0 + timedelta(seconds=30), outcome="human")
    stray = ContactProgress(contact=dataclasses.replace(second.contact, id="gone"),
                            status="done", attempts=1, close_reason="success")
    await store.campaigns.save_batch([
        ended, ("taxi-waiting", ContactProgress(
            contact=first.contact, status="done", attempts=1, close_reason="success")),
        ("taxi-waiting", stray),  # a contact the store does not have: named, the rest kept
        ("taxi-waiting", ContactProgress(contact=second.contact, status="pending",
                                         attempts=0, due_at=T0 + timedelta(hours=1)))])
    [left] = await store.campaigns.load_contacts("taxi-waiting")
    assert (left.contact.id, left.due_at) == (second.contact.id, T0 + timedelta(hours=1))
    closed = [json.loads(p.body)["data"] for p in await store.deliveries.pending()
              if p.event_type == "campaign.contact_closed"]
    # the close came after its attempt, so its webhook carries the attempt
    assert [[a["attempt_id"] for a in data["attempts"]] for data in closed] == [["b1"]]


async def test_a_cancelled_task_stays_closed(store: Store) -> None:
    await _setup(store)
    await _contacts(store, "contact_id,mobile\nc1,+79161234567\n")
    [progress] = await store.campaigns.load_contacts("taxi-waiting")
    assert await store.campaigns.cancel_contact("taxi-waiting", "c1", by="crm-bot")
    assert not await store.campaigns.cancel_contact("taxi-waiting", "c1", by="crm-bot")
    # An attempt in flight reports back after the cancel: the contact stays closed.
    await store.campaigns.save_progress("taxi-waiting", ContactProgress(
        contact=progress.contact, status="pending", attempts=1))
    record = await store.campaigns.contact("taxi-waiting", "c1")
    assert (record.progress.status, record.progress.close_reason) == ("done", "cancelled")
    assert record.progress.attempts == 1
    with pytest.raises(Conflict, match="contact ids c1"):
        await _contacts(store, "contact_id,mobile\nc1,+79161234569\n")


async def test_open_tasks_are_found_by_a_callers_number_across_campaigns(
        store: Store, clock: VirtualClock) -> None:
    await _setup(store)
    await store.config.put("campaigns", taxi(name="reminders", match_inbound=False))
    await _contacts(store, "contact_id,mobile,work,plate\n"
                           "c1,+79161234567,+74957654321,X1\nc2,+79160000000,,X2\n")
    loader = ContactLoader(default_region="RU", default_time_zone="Europe/Moscow")
    later = loader.load_csv("contact_id,mobile\nr1,+74957654321\n").accepted
    clock.advance(60)
    await store.campaigns.add_contacts("reminders", later)
    found = await store.campaigns.open_tasks_by_number("+74957654321")
    assert [(t.campaign, t.progress.contact.id) for t in found] == [
        ("reminders", "r1"), ("taxi-waiting", "c1")]  # the latest added first
    assert found[1].progress.contact.attributes == {"plate": "X1"}
    assert found[1].progress.status == "pending"
    assert [t.progress.contact.id for t in
            await store.campaigns.open_tasks_by_number("+79161234567")] == ["c1"]
    assert await store.campaigns.open_tasks_by_number("+70000000000") == []
    # closed contacts are not found
    assert await store.campaigns.cancel_contact("taxi-waiting", "c1", by="crm-bot")
    assert [t.campaign for t in
            await store.campaigns.open_tasks_by_number("+74957654321")] == ["reminders"]
    # a deleted campaign takes its contacts' numbers with it
    await store.config.delete("campaigns", "reminders")
    assert await store.campaigns.open_tasks_by_number("+74957654321") == []


async def test_a_task_closed_by_an_inbound_call_says_so(store: Store) -> None:
    await _setup(store)
    await _contacts(store, "contact_id,mobile,plate\nc1,+79161234567,X1\n"
                           "c2,+79161234568,X2\n")
    await store.campaigns.save_attempt(AttemptFacts(
        attempt_id="in1", campaign="taxi-waiting", contact_id="c1", number="+79161234567",
        number_type="mobile", started_at=T0, call_id="call-1", answered_at=T0,
        outcome="answered_inbound", operator="1001"))
    assert await store.campaigns.close_contact("taxi-waiting", "c1", "answered_inbound")
    assert not await store.campaigns.close_contact("taxi-waiting", "c1", "answered_inbound")
    record = await store.campaigns.contact("taxi-waiting", "c1")
    assert (record.progress.status, record.progress.close_reason, record.cancelled) == (
        "done", "answered_inbound", False)
    [closed] = [p for p in await store.deliveries.pending()
                if p.event_type == "campaign.contact_closed"]
    data = json.loads(closed.body)["data"]
    assert (data["close_reason"], data["cancelled"]) == ("answered_inbound", False)
    assert [(a["outcome"], a["call_id"]) for a in data["attempts"]] == [
        ("answered_inbound", "call-1")]
    # a contact being dialled is left alone
    [progress] = await store.campaigns.load_contacts("taxi-waiting", ["c2"])
    await store.campaigns.save_progress("taxi-waiting", dataclasses.replace(
        progress, status="in_progress"))
    assert not await store.campaigns.close_contact("taxi-waiting", "c2", "answered_inbound")


async def test_do_not_call_lists(store: Store) -> None:
    assert await store.config.put("do_not_call", DoNotCallSpec(
        name="regulator", numbers=["+79161234567", "+79161234567", "+74951234567"]))
    stored = await store.config.get("do_not_call", "regulator")
    assert isinstance(stored, DoNotCallSpec)
    assert stored.numbers == ["+74951234567", "+79161234567"]
    assert await store.campaigns.add_to_do_not_call(["+79169999999"]) == 1
    assert await store.campaigns.add_to_do_not_call(["+79169999999"]) == 0
    assert await store.campaigns.do_not_call() == {
        "global": frozenset({"+79169999999"}),
        "regulator": frozenset({"+74951234567", "+79161234567"})}


async def test_a_campaign_with_attempts_is_not_deleted(store: Store) -> None:
    await _setup(store)
    await _contacts(store, "contact_id,mobile\nc1,+79161234567\n")
    await store.campaigns.save_attempt(AttemptFacts(
        attempt_id="a1", campaign="taxi-waiting", contact_id="c1", number="+79161234567",
        number_type="mobile", started_at=T0))
    with pytest.raises(Conflict, match="1 attempts on record"):
        await store.config.delete("campaigns", "taxi-waiting")


async def test_a_campaign_names_a_queue_that_exists(store: Store) -> None:
    with pytest.raises(NotFound, match="queue: no queue named 'support'"):
        await store.config.put("campaigns", taxi())


async def test_open_attempts_are_those_without_an_end_oldest_first(store: Store) -> None:
    await _setup(store)
    await _contacts(store, "contact_id,mobile\nc1,+79161234567\nc2,+79161234568\n")
    first = AttemptFacts(attempt_id="a1", campaign="taxi-waiting", contact_id="c1",
                         number="+79161234567", number_type="mobile", started_at=T0)
    later = dataclasses.replace(first, attempt_id="a2", contact_id="c2",
                                number="+79161234568", started_at=T0 + timedelta(seconds=5))
    ended = dataclasses.replace(first, attempt_id="a0", started_at=T0 - timedelta(minutes=1),
                                ended_at=T0, outcome="busy")
    for facts in (later, ended, first):
        await store.campaigns.save_attempt(facts)
    assert await store.campaigns.open_attempts() == [first, later]
    await store.campaigns.save_attempt(dataclasses.replace(
        first, ended_at=T0 + timedelta(seconds=9), outcome="no_answer"))
    assert await store.campaigns.open_attempts() == [later]
