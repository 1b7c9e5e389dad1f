"""The dialer over real calls: campaigns dial through a trunk to sipp carriers that answer as a
person (a short "hello", then silence), as an answering machine (a long greeting and a beep),
busy, or not at all; sipp operators with fixed addresses check the card each call brings.

- a progressive campaign of 20 contacts with 3 operators: every person reaches an operator
  with the contact's card, machines are hung up (policy "drop"), the customer who asks not to
  be called again goes on the site's stored do-not-call list (kept across a re-import), busy
  numbers are dialled again after their delay, unanswered ones ring out, switched-off ones
  close when the network says so before the ring timeout, and every attempt is in the store
  with its SIP status, trunk, answering-machine verdict and operator, in the CSV export and in
  the webhooks (one per attempt, and one per closed contact with all its attempts);
- preview: the operator's preview arrives on their event stream and over the API; Dial places
  the call and the person who answers is bridged to the operator; Skip on the next contact
  dials nothing and frees the operator;
- agentless "car is waiting": one API request adds the task with ``now``; the call plays the
  message with the task's fields, the customer presses 1 and reaches an operator with the task
  attached.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import numpy as np

from parley.app import Node
from parley.center.ports import AttemptFacts
from parley.dialer.contacts import Contact, PhoneNumber
from parley.dialer.model import NumberType
from parley.store.specs import (
    CampaignSpec,
    DeviceSpec,
    DoNotCallSpec,
    NumberStrategySpec,
    QueueSpec,
    RouteSpec,
    ScriptSpec,
    TrunkSpec,
    WebhookSpec,
)
from parley.testing.media import (
    SIPP_AWAIT_BYE,
    audio_packets,
    event_stream,
    sipp_answer,
    write_pcap,
)
from parley.testing.peers import Sipp
from parley.testing.ports import free_port

from .conftest import DATA, needs_sipp
from .inbound_node import call_record, change, demo_node
from .test_api_webhooks import Receiver

CARRIER = "127.0.0.2"
LIMIT = ("-timeout", "90s", "-timeout_error")
OPERATORS = ("1001", "1002")
PERSON, MACHINE, BUSY, SILENT = "+7495100", "+7495200", "+7495300", "+7495400"
SWITCHED_OFF = "+7495500"  # the network says "the subscriber is unavailable" before answer


def _answer() -> str:
    """sipp's 200 OK with its media on its own address (the carrier's, 127.0.0.2)."""
    return sipp_answer("[media_port]", dtmf=True).replace("127.0.0.1", "[media_ip]")


def answering(tmp_path: Path, name: str, middle: str) -> Path:
    """A carrier that answers every call, runs ``middle`` (plays audio), and waits for
    Parley's BYE."""
    path = tmp_path / f"{name}.xml"
    path.write_text(f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="{name}">
  <recv request="INVITE" />
{_answer()}  <recv request="ACK" />
{middle}{SIPP_AWAIT_BYE}</scenario>
""")
    return path


def play(pcap: Path) -> str:
    return f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'


async def voices(node: Node, tmp_path: Path) -> tuple[Path, Path]:
    """A person's "hello" and a machine's greeting followed by its beep, as RTP captures."""
    prompts = node.telephony.prompts
    hello = (await prompts.speak("Hello?")).pcm
    greeting = (await prompts.speak(
        "Hi, you have reached the Miller family. We cannot take your call right now, "
        "please leave a message after the tone.")).pcm
    quiet = np.zeros(4000, dtype=np.int16)
    t = np.arange(int(8000 * 0.5)) / 8000
    beep = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    person = write_pcap(tmp_path / "hello.pcap",
                        audio_packets(np.concatenate([quiet, hello, np.zeros(8000 * 6,
                                                                             np.int16)])))
    machine = write_pcap(tmp_path / "machine.pcap", audio_packets(np.concatenate(
        [quiet, greeting, quiet[:2400], beep, np.zeros(8000 * 8, np.int16)])))
    return person, machine


async def switched_off(tmp_path: Path) -> Path:
    """A carrier whose network answers 183 and says the subscriber is unavailable."""
    from parley.media.g711 import Codec
    from parley.testing.greetings import speak

    from .test_early_media import carrier_scenario

    spoken = await asyncio.to_thread(
        speak, "Аппарат абонента выключен или находится вне зоны действия сети.", "ru", 175, 50)
    audio = np.concatenate([np.zeros(2400, np.int16), spoken, np.zeros(8000, np.int16)])
    pcap = write_pcap(tmp_path / "announcement.pcap", audio_packets(audio, Codec.PCMA))
    scenario = tmp_path / "switched_off.xml"
    scenario.write_text(carrier_scenario(pcap), encoding="utf-8")
    return scenario


def operator_phone(tmp_path: Path, user: str, port: int, checks: str) -> Sipp:
    """An operator's phone at a fixed address: it answers a call only when its INVITE
    carries the card (``checks``: sipp ``ereg`` lines), and waits for the end."""
    path = tmp_path / f"operator-{user}.xml"
    assigned = ",".join(re.findall(r'assign_to="(\w+)"', checks))  # sipp: each one used
    path.write_text(f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="operator {user}">
  <recv request="INVITE"><action>
{checks}  </action></recv>
{sipp_answer("[media_port]", user=user)}  <recv request="ACK" />
{SIPP_AWAIT_BYE}{f'  <Reference variables="{assigned}" />' if assigned else ""}
</scenario>
""")
    return Sipp(tmp_path / f"phone-{user}", path, port=port, extra=LIMIT)


def header(name: str, regexp: str, var: str) -> str:
    return (f'    <ereg regexp="{regexp}" search_in="hdr" header="{name}:" check_it="true" '
            f'assign_to="{var}" />\n')


async def site(node: Node, tmp_path: Path, carriers: dict[str, Path | str],
               checks: str, operators: Sequence[str] = OPERATORS) -> list[Sipp]:
    """Trunks to the carriers (one per prefix, each a route), a queue for the campaigns and
    the operators' phones at fixed addresses (the last ``len(operators)`` processes);
    returns the sipp processes, started."""
    site_spec = await node.store.config.site()
    await node.store.config.put_site(site_spec.model_copy(update={"default_region": "RU"}))
    peers: list[Sipp] = []
    # each peer binds its port as soon as it is chosen: a port chosen now and bound later
    # can be taken in between (another sipp's control or media port was, once)
    for prefix, scenario in carriers.items():
        name = f"carrier-{prefix[-3:]}"
        port = free_port(CARRIER)
        peers.append(Sipp(tmp_path / name, scenario, host=CARRIER, port=port, extra=LIMIT))
        await peers[-1].start()
        await change(node, "trunks", TrunkSpec(name=name, host=CARRIER, port=port, auth="ip",
                                               allowed_ips=[CARRIER], options_interval=0))
        await change(node, "routes", RouteSpec(name=f"to-{prefix[-3:]}",
                                               match=rf"^\{prefix}\d{{4}}$", trunks=[name]))
    await change(node, "queues", QueueSpec(name="dialout", wrap_up_s=1,
                                           members=list(operators), announce_every_s=0))
    for user in operators:
        port = free_port()
        peers.append(operator_phone(tmp_path, user, port, checks))
        await peers[-1].start()
        await change(node, "devices", DeviceSpec(
            name=user, user=user, sip_password=f"pw{user}",
            static_contact=f"sip:{user}@127.0.0.1:{port}"))
    return peers


def contact(contact_id: str, number: str, **fields: str) -> Contact:
    return Contact(contact_id, (PhoneNumber(number, NumberType.MOBILE, ("Europe/Moscow",)),),
                   fields)


async def until(check: Callable[[], object], within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.2)


async def hang_up_conversations(node: Node, after_s: float, stop: asyncio.Event,
                                 closed: list[str] | None = None,
                                 disposition: str = "not_interested",
                                 operators: Sequence[str] = OPERATORS) -> None:
    """Each operator ends a campaign conversation after ``after_s`` of talk (the desk's
    hang-up). With ``closed``, the first conversation is then closed in wrap-up with
    ``disposition`` (the desk's Save and close), and its attempt id noted there."""
    seen: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        for channel in node.telephony.channels():
            if channel.called in operators and channel.is_up:
                since = seen.setdefault(channel.id, loop.time())
                if loop.time() - since >= after_s:
                    channel.hangup()
                    if closed is not None and not closed:
                        await asyncio.sleep(0.3)  # in wrap-up now (1 s in queue dialout)
                        attempt = channel.interaction_id
                        assert node.dialer.conversation_closed(
                            attempt, operator=channel.called, disposition=disposition)
                        closed.append(attempt)
        await asyncio.sleep(0.2)


async def attempts(node: Node, campaign: str) -> list[AttemptFacts]:
    page = await node.store.campaigns.attempts(campaign, limit=100)
    return list(page.items)


@needs_sipp
async def test_a_progressive_campaign_over_a_trunk(tmp_path: Path) -> None:
    """20 contacts, 3 operators: 10 persons, 3 machines, 3 busy, 2 unanswered, 2 switched
    off; the CSV export and the webhooks carry every attempt."""
    hooks = Receiver(failures=0)
    hooks.thread.start()
    operators = ("1001", "1002", "1003")
    persons = [f"p{i:02d}" for i in range(1, 11)]
    async with demo_node(tmp_path) as node:
        person, machine = await voices(node, tmp_path)
        carriers: dict[str, Path | str] = {
            PERSON: answering(tmp_path, "person", play(person)),
            MACHINE: answering(tmp_path, "machine", play(machine)),
            BUSY: DATA / "uas_busy.xml",
            SILENT: DATA / "uas_ring_until_cancel.xml",
            SWITCHED_OFF: await switched_off(tmp_path)}
        checks = (header("X-Parley-Var-campaign", "^ *sales-push$", "campaign")
                  + header("X-Parley-Var-customer", "^ *Customer ([1-9]|10)$", "customer")
                  + header("X-Parley-Var-script", "^ *upsell$", "script")
                  + header("X-Parley-Data", "contact_id", "card"))
        peers = await site(node, tmp_path, carriers, checks, operators)
        stop = asyncio.Event()
        closed: list[str] = []
        closer = asyncio.create_task(hang_up_conversations(
            node, 1.5, stop, closed, "do_not_call", operators=operators))
        try:
            await change(node, "webhooks", WebhookSpec(
                name="crm", url=hooks.url, secret="a-long-shared-secret-for-hmac",
                events=["campaign.attempt", "campaign.contact_closed"]))
            await change(node, "scripts", ScriptSpec(name="upsell", blocks=[
                {"id": "offer", "title": "The offer",
                 "fields": [{"id": "interested", "label": "Interested"}]}]))
            await change(node, "campaigns", CampaignSpec(
                name="sales-push", mode="progressive", queue="dialout", agents=list(operators),
                script="upsell", caller_id="+74951110000", call_window="any",
                ring_timeout_s=10, retry={"busy": "3s"}, machine="drop",
                numbers=NumberStrategySpec(attempts_per_contact=2)))
            contacts = [contact(p, f"{PERSON}{i:04d}", customer=f"Customer {i}")
                        for i, p in enumerate(persons, 1)]
            contacts += [contact(f"m{i}", f"{MACHINE}{i:04d}", customer="Machine")
                         for i in range(1, 4)]
            contacts += [contact(f"b{i}", f"{BUSY}{i:04d}", customer="Busy")
                         for i in range(1, 4)]
            contacts += [contact(f"s{i}", f"{SILENT}{i:04d}", customer="Silent")
                         for i in range(1, 3)]
            contacts += [contact(f"u{i}", f"{SWITCHED_OFF}{i:04d}", customer="Switched off")
                         for i in range(1, 3)]
            ids = await node.store.campaigns.add_contacts("sales-push", contacts)
            await node.dialer.contacts_added("sales-push", ids)
            progress: dict[str, str] = {}

            async def settled() -> bool:
                rows = await node.store.campaigns.load_contacts("sales-push")
                progress.clear()
                progress.update({p.contact.id: p.status for p in rows})
                found = await attempts(node, "sales-push")
                ended = [a for a in found if a.ended_at is not None and a.outcome]
                return (not any(p in progress for p in persons)
                        and not any(f"b{i}" in progress for i in range(1, 4))
                        and not node.dialer.calls.attempts and len(ended) == len(found) >= 23)

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 90
            while not await settled():
                assert loop.time() < deadline, (progress, await attempts(node, "sales-push"),
                                                node.dialer.figures("sales-push"))
                await asyncio.sleep(0.5)
            found = await attempts(node, "sales-push")
            record = await call_record(node, number=f"{PERSON}0001")
            # The customer who asked not to be called is on the site's stored list, and
            # stays on it when the provisioning file's global list is imported again.
            barred = next(a.number for a in found if a.attempt_id in closed)
            for _ in range(25):  # the write follows the disposition
                stored_lists = await node.store.campaigns.do_not_call()
                if barred in stored_lists.get("global", ()):
                    break
                await asyncio.sleep(0.2)
            await change(node, "do_not_call", DoNotCallSpec(name="global",
                                                            numbers=["+74950000001"]))
            reloaded = set(node.dialer.global_dnc)
            after_import = await node.store.campaigns.do_not_call()
            assert node.demo_login is not None
            async with httpx.AsyncClient(base_url=node.url, timeout=10) as api:
                login = await api.post("/api/auth/login", json={
                    "username": node.demo_login.username,
                    "password": node.demo_login.password})
                assert login.status_code == 200, login.text
                export = await api.get("/api/campaigns/sales-push/attempts",
                                       params={"format": "csv"})
            closed_contacts = 10 + 3  # the persons and the busy numbers
            await until(lambda: len(hooks.requests) >= len(found) + closed_contacts, 15,
                        "every attempt's and closed contact's webhook")
        finally:
            stop.set()
            await closer
            results = [await peer.stop() for peer in peers]
            hooks.server.shutdown()
            hooks.server.server_close()
    by_contact: dict[str, list[AttemptFacts]] = {}
    for attempt in sorted(found, key=lambda a: a.started_at):
        by_contact.setdefault(attempt.contact_id, []).append(attempt)
    for person_id in persons:
        [talk] = by_contact[person_id]
        assert (talk.outcome, talk.amd, talk.sip_status) == ("human", "human", 200), talk
        assert talk.operator in operators
        assert talk.trunk == "carrier-100"
        assert talk.talk_s is not None
        assert talk.talk_s > 1.0
        # the first conversation was closed "do not call" in wrap-up; the others' wrap-up
        # ran out with no result, which closes them as a success
        assert talk.disposition == ("do_not_call" if talk.attempt_id in closed
                                    else "success"), (talk, closed)
    assert len(closed) == 1
    assert barred in stored_lists["global"]
    assert {barred, "+74950000001"} <= reloaded
    assert after_import["global"] == {barred, "+74950000001"}
    assert {by_contact[p][0].operator for p in persons} == set(operators)  # all three took calls
    for i in range(1, 4):
        [dropped] = by_contact[f"m{i}"]
        assert (dropped.outcome, dropped.amd, dropped.operator) == ("machine", "machine", None)
        assert f"m{i}" in progress  # dropped: tried again later
        first, second = by_contact[f"b{i}"]
        assert (first.outcome, first.sip_status, second.outcome) == ("busy", 486, "busy")
        assert first.ended_at is not None
        assert (second.started_at - first.ended_at).total_seconds() >= 3.0  # its retry delay
    for i in range(1, 3):
        [rang] = by_contact[f"s{i}"]
        assert rang.outcome == "no_answer"
        assert rang.answered_at is None
        assert f"s{i}" in progress
        [off] = by_contact[f"u{i}"]
        assert off.outcome == "no_answer"
        assert off.early_media is not None
        assert off.early_media.startswith("announcement:unavailable")
        assert off.ended_at is not None
        assert (off.ended_at - off.started_at).total_seconds() < 10  # before the ring timeout
    assert len(found) == 23  # 20 first attempts and the busy numbers' second
    phones = results[-3:]
    assert sum(r.successful for r in phones) == 10, [r.log for r in phones]
    assert all(r.failed == 0 for r in phones), [r.log for r in phones]  # card checked
    assert record.operator in operators
    kinds = [entry.kind for entry in record.timeline]
    assert "campaign call" in kinds
    assert "answering machine detection" in kinds
    # the record keeps the card: the desk's wrap-up finds the campaign and its script
    assert (record.variables["campaign"], record.variables["script"]) == (
        "sales-push", "upsell")
    assert record.variables["customer"] == "Customer 1"
    # the CSV export and the webhooks carry every attempt
    assert export.status_code == 200, export.text
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert sorted(r["attempt_id"] for r in rows) == sorted(a.attempt_id for a in found)
    assert {r["attempt_id"]: r["outcome"] for r in rows} == {a.attempt_id: a.outcome
                                                            for a in found}
    bodies = [json.loads(body) for _, body, _ in hooks.requests]
    attempt_hooks = [b["data"] for b in bodies if b["event"] == "campaign.attempt"]
    assert sorted(d["attempt_id"] for d in attempt_hooks) == sorted(a.attempt_id for a in found)
    closures = {b["data"]["contact_id"]: b["data"] for b in bodies
                if b["event"] == "campaign.contact_closed"}
    assert set(closures) == {*persons, "b1", "b2", "b3"}
    for contact_id, data in closures.items():
        assert sorted(a["attempt_id"] for a in data["attempts"]) == sorted(
            a.attempt_id for a in by_contact[contact_id]), data
    assert {closures[p]["attempts"][0]["operator"] for p in persons} <= set(operators)


@needs_sipp
async def test_agentless_car_is_waiting_press_one_reaches_an_operator(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        presses = write_pcap(tmp_path / "one.pcap", event_stream("1"))
        customer = answering(tmp_path, "customer", '  <pause milliseconds="3000"/>\n'
                             + play(presses) + '  <pause milliseconds="500"/>\n')
        checks = (header("X-Parley-Var-plate", "^ *A123BC$", "plate")
                  + header("X-Parley-Var-campaign", "^ *taxi-waiting$", "campaign")
                  + header("X-Parley-Queue", "^ *dialout$", "queue"))
        peers = await site(node, tmp_path, {PERSON: customer}, checks)
        stop = asyncio.Event()
        closer = asyncio.create_task(hang_up_conversations(node, 1.5, stop))
        try:
            await change(node, "campaigns", CampaignSpec(
                name="taxi-waiting", mode="agentless", queue="dialout",
                caller_id="+74951110000", call_window="any", detect_machine=False,
                message="Your taxi, a ${colour} ${car}, plate ${plate}, is waiting. "
                        "Press 1 to speak to an operator."))
            assert node.demo_login is not None
            async with httpx.AsyncClient(base_url=node.url, timeout=10) as api:
                login = await api.post("/api/auth/login", json={
                    "username": node.demo_login.username,
                    "password": node.demo_login.password})
                assert login.status_code == 200, login.text
                api.headers["X-CSRF-Token"] = login.json()["csrf_token"]
                # the taxi order system's "car is waiting" button: one request
                added = await api.post("/api/campaigns/taxi-waiting/contacts", json={
                    "contact_id": "order-17", "number": f"{PERSON}0017", "now": True,
                    "fields": {"colour": "white", "car": "Skoda", "plate": "A123BC"}})
                assert added.status_code in (200, 201), added.text
                assert added.json()["dialer"] == "notified", added.text
            await until(lambda: any(c.called in OPERATORS and c.is_up
                                    for c in node.telephony.channels()), 25,
                        "the customer reached an operator")
            record = await call_record(node, number=f"{PERSON}0017", within=20)
            await until(lambda: node.dialer.calls.attempts == {}, 10, "the attempt ended")
            await asyncio.sleep(0.5)  # its last write
            found = await attempts(node, "taxi-waiting")
        finally:
            stop.set()
            await closer
            results = [await peer.stop() for peer in peers]
    [attempt] = found
    assert (attempt.contact_id, attempt.outcome, attempt.sip_status) == ("order-17", "human",
                                                                        200)
    assert attempt.operator in OPERATORS
    assert attempt.ended_at is not None
    [message] = [e for e in record.timeline if e.kind == "campaign message"]
    assert message.detail["text"] == ("Your taxi, a white Skoda, plate A123BC, is waiting. "
                                      "Press 1 to speak to an operator.")
    kinds = [entry.kind for entry in record.timeline]
    assert kinds.index("key pressed") < kinds.index("to queue")
    assert record.operator in OPERATORS
    operators = results[-2:]
    assert sum(r.successful for r in operators) == 1, [r.log for r in operators]
    assert all(r.failed == 0 for r in operators), [r.log for r in operators]


@needs_sipp
async def test_a_customer_whose_operator_does_not_take_the_call_hears_who_called(
        tmp_path: Path) -> None:
    """The operator's phone refuses the answered customer's call (busy): the customer is not
    hung up in silence but hears the compliance message, the attempt counts as abandoned and
    not connected, and the operator is ready again with a miss, not a conversation."""
    async with demo_node(tmp_path) as node:
        customer = answering(tmp_path, "customer", '  <pause milliseconds="500"/>\n')
        peers = await site(node, tmp_path, {PERSON: customer}, "", operators=())
        port = free_port()
        peers.append(Sipp(tmp_path / "phone-1001", DATA / "uas_busy.xml", port=port,
                          extra=LIMIT))
        await peers[-1].start()
        try:
            await change(node, "devices", DeviceSpec(
                name="1001", user="1001", sip_password="pw1001",
                static_contact=f"sip:1001@127.0.0.1:{port}"))
            await change(node, "queues", QueueSpec(name="dialout", wrap_up_s=1,
                                                   members=["1001"], announce_every_s=0))
            await change(node, "campaigns", CampaignSpec(
                name="no-taker", mode="progressive", queue="dialout", agents=["1001"],
                caller_id="+74951110000", call_window="any", detect_machine=False))
            ids = await node.store.campaigns.add_contacts(
                "no-taker", [contact("c1", f"{PERSON}0001", customer="Customer 1")])
            await node.dialer.contacts_added("no-taker", ids)
            record = await call_record(node, number=f"{PERSON}0001", within=30)
            await until(lambda: node.dialer.calls.attempts == {}, 10, "the attempt ended")
            await asyncio.sleep(0.5)  # its last write
            found = await attempts(node, "no-taker")
            figures = node.dialer.figures("no-taker")
            acd = node.dialer.acd.acd
            operator = (acd.agents["1001"].state, acd.agent_stats["1001"].missed,
                        acd.agent_stats["1001"].answered)
        finally:
            results = [await peer.stop() for peer in peers]
    attempt = found[0]
    assert (attempt.outcome, attempt.sip_status, attempt.operator) == ("abandoned", 200, None)
    kinds = [entry.kind for entry in record.timeline]
    assert "not answered" in kinds, kinds
    assert "compliance message" in kinds, kinds
    assert kinds.index("not answered") < kinds.index("compliance message")
    refused = next(e for e in record.timeline if e.kind == "not answered")
    assert refused.detail["operator"] == "1001"
    assert refused.detail["cause"] == "user_busy"
    assert (figures.stats.connected, figures.stats.abandoned) == (0, 1)
    assert operator == ("ready", 1, 0)
    carrier, phone = results
    assert carrier.successful == 1, carrier.log  # answered, then hung up by Parley
    assert phone.successful == 1, phone.log


@needs_sipp
async def test_a_message_is_left_on_a_machine_after_its_beep(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        _, machine = await voices(node, tmp_path)
        carrier = answering(tmp_path, "machine", play(machine))
        peers = await site(node, tmp_path, {MACHINE: carrier}, "")
        try:
            await change(node, "campaigns", CampaignSpec(
                name="reminders", mode="agentless", queue="dialout",
                caller_id="+74951110000", call_window="any", machine="message",
                message="Hello ${name}, your appointment is tomorrow at ${time}.",
                machine_message="This is a reminder for ${name}: tomorrow at ${time}."))
            ids = await node.store.campaigns.add_contacts("reminders", [
                contact("r1", f"{MACHINE}0001", name="Ada", time="10 am")])
            await node.dialer.contacts_added("reminders", ids)
            record = await call_record(node, number=f"{MACHINE}0001", within=40)
            await until(lambda: node.dialer.calls.attempts == {}, 10, "the attempt ended")
            await asyncio.sleep(0.5)
            [attempt] = await attempts(node, "reminders")
            [progress] = [p for p in await node.store.campaigns.load_contacts("reminders")
                          if p.contact.id == "r1"] or [None]
        finally:
            for peer in peers:
                await peer.stop()
    assert (attempt.amd, attempt.operator) == ("machine", None)
    timeline = [(entry.kind, entry.detail) for entry in record.timeline]
    kinds = [kind for kind, _ in timeline]
    ended = next(detail for kind, detail in timeline if kind == "greeting ended")
    assert ended["by"] == "beep", timeline  # the 1 kHz tone after the greeting
    message = next(detail for kind, detail in timeline if kind == "campaign message")
    assert message["text"] == "This is a reminder for Ada: tomorrow at 10 am."
    assert kinds.index("answering machine detection") < kinds.index("greeting ended") \
        < kinds.index("campaign message")
    assert progress is None  # a message left on a machine closes the contact


@needs_sipp
async def test_a_task_cancelled_while_it_rings_hangs_up_the_call(tmp_path: Path) -> None:
    """The outside system cancels a task whose call is ringing: Parley sends CANCEL at once
    (not at the ring timeout), the attempt is stored as it ended, the contact closes
    "cancelled" and is not dialled again."""
    async with demo_node(tmp_path) as node:
        peers = await site(node, tmp_path, {SILENT: DATA / "uas_ring_until_cancel.xml"}, "")
        try:
            await change(node, "campaigns", CampaignSpec(
                name="registrations", mode="progressive", queue="dialout",
                agents=list(OPERATORS), caller_id="+74951110000", call_window="any",
                ring_timeout_s=60, detect_machine=False))
            ids = await node.store.campaigns.add_contacts("registrations", [
                contact("reg-1", f"{SILENT}0001", customer="Unfinished")])
            await node.dialer.contacts_added("registrations", ids)
            await until(lambda: any(live.leg is not None and live.leg.state == "ringing"
                                    for live in node.dialer.calls.attempts.values()), 20,
                        "the customer's phone rings")
            assert node.demo_login is not None
            async with httpx.AsyncClient(base_url=node.url, timeout=10) as api:
                login = await api.post("/api/auth/login", json={
                    "username": node.demo_login.username,
                    "password": node.demo_login.password})
                api.headers["X-CSRF-Token"] = login.json()["csrf_token"]
                cancelled = await api.delete("/api/campaigns/registrations/contacts/reg-1")
            await until(lambda: node.dialer.calls.attempts == {}, 10, "the call ended")
            await asyncio.sleep(0.5)  # its last write
            [attempt] = await attempts(node, "registrations")
            record = await node.store.campaigns.contact("registrations", "reg-1")
            state = node.dialer.dialer.book("registrations").states["reg-1"]
        finally:
            results = [await peer.stop() for peer in peers]
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["dialer"] == "call_cancelled", cancelled.json()
    assert (attempt.outcome, attempt.sip_status) == ("no_answer", 487)
    assert attempt.ended_at is not None
    assert (attempt.ended_at - attempt.started_at).total_seconds() < 15  # not the 60 s timeout
    assert (record.progress.status, record.progress.close_reason) == ("done", "cancelled")
    assert state.close_reason is not None
    assert state.close_reason.value == "cancelled"  # the dialer will not retry it
    carrier = results[0]
    assert carrier.successful == 1, carrier.log  # its scenario ends with the CANCEL


@needs_sipp
async def test_a_preview_campaign_dials_what_the_operator_accepts_and_not_what_they_skip(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        person, _ = await voices(node, tmp_path)
        checks = (header("X-Parley-Var-campaign", "^ *look-first$", "campaign")
                  + header("X-Parley-Var-customer", "^ *Customer 1$", "customer"))
        peers = await site(node, tmp_path, {PERSON: answering(tmp_path, "person",
                                                                play(person))}, checks)
        stop = asyncio.Event()
        closer = asyncio.create_task(hang_up_conversations(node, 1.0, stop))
        shown: list[str] = []
        try:
            await change(node, "campaigns", CampaignSpec(
                name="look-first", mode="preview", queue="dialout", agents=["1001"],
                caller_id="+74951110000", call_window="any", ring_timeout_s=10))
            async with node.bus.subscribe(
                    lambda e: e.type == "ShowPreview" and e.field("agent_id") == "1001"
            ) as previews, httpx.AsyncClient(base_url=node.url, timeout=10) as api:
                login = await api.post("/api/auth/login", json={"username": "1001",
                                                                "password": "pw1001"})
                assert login.status_code == 200, login.text
                api.headers["X-CSRF-Token"] = login.json()["csrf_token"]
                ids = await node.store.campaigns.add_contacts("look-first", [
                    contact("v1", f"{PERSON}0001", customer="Customer 1"),
                    contact("v2", f"{PERSON}0002", customer="Customer 2")])
                await node.dialer.contacts_added("look-first", ids)

                shown.append((await asyncio.wait_for(previews.get(), 15)).event.contact_id)
                first = (await api.get("/api/operators/me/preview")).json()["preview"]
                assert first["contact_id"] == shown[0] == "v1", first
                assert first["fields"] == {"customer": "Customer 1"}
                assert first["time_zone"] == "Europe/Moscow"
                assert first["customer_time"].endswith("+03:00")
                assert [(n["number"], n["type"]) for n in first["numbers"]] == [
                    (f"{PERSON}0001", "mobile")]
                wrong = await api.post("/api/operators/me/preview", json={
                    "contact_id": "v1", "action": "dial", "number": "+74957770000"})
                assert wrong.status_code == 422, wrong.text
                assert wrong.json()["detail"].startswith("number:")
                for at in ("2020-01-01T10:00:00+03:00", "2099-01-01T10:00:00"):  # past; no zone
                    refused = await api.post("/api/operators/me/preview", json={
                        "contact_id": "v1", "action": "reschedule", "at": at})
                    assert refused.status_code == 422, refused.text
                    assert refused.json()["detail"].startswith("at:"), refused.text
                dialled = await api.post("/api/operators/me/preview", json={
                    "contact_id": "v1", "action": "dial"})
                assert dialled.status_code == 200, dialled.text
                await until(lambda: any(c.called == "1001" and c.is_up
                                        for c in node.telephony.channels()), 15,
                            "the customer was bridged to operator 1001")

                # the conversation ends, wrap-up (1 s) ends: the next contact is shown
                shown.append((await asyncio.wait_for(previews.get(), 20)).event.contact_id)
                assert shown[1] == "v2"
                skipped = await api.post("/api/operators/me/preview", json={
                    "contact_id": "v2", "action": "skip"})
                assert skipped.status_code == 200, skipped.text
                await until(lambda: str(node.center.shell.acd.agents["1001"].state)
                            == "ready", 5, "operator 1001 released")
                after = (await api.get("/api/operators/me/preview")).json()
                again = await api.post("/api/operators/me/preview", json={
                    "contact_id": "v2", "action": "dial"})
            await until(lambda: node.dialer.calls.attempts == {}, 10, "the attempt ended")
            await asyncio.sleep(0.5)  # its last write
            found = await attempts(node, "look-first")
            progress = {p.contact.id: p for p in
                        await node.store.campaigns.load_contacts("look-first")}
        finally:
            stop.set()
            await closer
            results = [await peer.stop() for peer in peers]
    assert after["preview"] is None
    assert after["detail"].startswith("no preview")
    assert again.status_code == 422
    assert again.json()["detail"].startswith("contact_id:")
    [talk] = found  # v2 was never dialled
    assert (talk.contact_id, talk.outcome, talk.operator) == ("v1", "human", "1001"), talk
    assert talk.talk_s is not None
    assert talk.talk_s > 0.5
    skipped_contact = progress["v2"]
    assert (skipped_contact.status, skipped_contact.attempts) == ("pending", 0)
    assert skipped_contact.due_at is not None  # back after the skip delay
    operators = results[-2:]
    assert operators[0].successful == 1, operators[0].log  # 1001 got the card of Customer 1
    assert operators[0].failed == 0, operators[0].log
