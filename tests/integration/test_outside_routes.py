"""Outside numbers through routes and trunks, against real peers: a sipp UAS stands as the
carrier (it answers and sends back the audio it gets), baresip phones are the operators.

- click-to-call from operator 1001 to +74951234567 reaches the carrier with the route's
  caller ID, audio goes both ways, and the call record names the route and the trunk;
- a callback to an outside number rings the operator first, then the customer through the
  trunk;
- numbers the carrier writes nationally reach the number's flow, the caller in E.164;
- an operator transfers a caller to an outside number by REFER;
- the next trunk takes the call when the first answers 503, not when it answers 486;
- toll fraud: an unauthenticated INVITE to an outside number (UDP and TCP) is refused, and so
  is a user without the outside-line right; the carrier receives nothing from them (and the
  call of a user with the right does reach it).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from parley.app import Node
from parley.events import ConfigurationChanged
from parley.store.specs import NumberSpec, RouteSpec, TrunkSpec, UserSpec
from parley.testing.peers import Sipp, audio_similarity
from parley.testing.ports import free_port

from .conftest import DATA, needs_baresip, needs_sipp
from .inbound_node import call_record, caller_scenario, demo_node, dial, operator

NUMBER = "+74951234567"
ROUTE_CALLER_ID = "+74951110000"
LIMIT = ("-timeout", "60s", "-timeout_error")
CARRIER = "127.0.0.2"  # the carrier's own address: phones and guests call from 127.0.0.1


async def reload(node: Node, kind: str, key: str) -> None:
    node.bus.publish(ConfigurationChanged(kind, key, "update"))
    await asyncio.sleep(0.3)


async def with_routes(node: Node, carrier_port: int) -> None:
    """The site in Russia, one trunk by address (the sipp carrier), one route to it."""
    site = await node.store.config.site()
    await node.store.config.put_site(site.model_copy(update={"default_region": "RU"}))
    await node.store.config.put("trunks", TrunkSpec(
        name="carrier-a", host=CARRIER, port=carrier_port, auth="ip",
        allowed_ips=[CARRIER], caller_id="+74950000009", options_interval=0))
    await node.store.config.put("routes", RouteSpec(
        name="russia", match=r"^\+7\d{10}$", trunks=["carrier-a"],
        caller_id=ROUTE_CALLER_ID))
    await reload(node, "trunks", "carrier-a")
    await reload(node, "routes", "russia")
    assert node.telephony.outside.routable("8 495 123-45-67")


def carrier(tmp_path: Path, port: int) -> tuple[Sipp, Path]:
    """The carrier: answers every INVITE, echoes the RTP it gets, logs every message."""
    messages = tmp_path / "carrier" / "messages.log"
    return Sipp(tmp_path / "carrier", "uas", host=CARRIER, port=port,
                extra=("-rtp_echo", "-trace_msg", "-message_file", str(messages))), messages


def invites(messages: Path) -> list[str]:
    """The INVITEs the carrier received, each as its text (sipp's ``-trace_msg`` log)."""
    if not messages.exists():
        return []
    blocks = re.split(r"^-{10,}.*$", messages.read_text(errors="replace"), flags=re.M)
    return [block.strip() for block in blocks if "message received" in block
            and re.search(r"^INVITE sip:", block, flags=re.M)]


async def session(node: Node, username: str, password: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=node.url, timeout=10)
    response = await client.post("/api/auth/login",
                                 json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


@needs_sipp
@needs_baresip
async def test_click_to_call_reaches_the_carrier_with_the_routes_caller_id(
        tmp_path: Path) -> None:
    carrier_port = free_port(CARRIER)
    async with demo_node(tmp_path) as node:
        await with_routes(node, carrier_port)
        uas, messages = carrier(tmp_path, carrier_port)
        phone = operator(node, tmp_path, "1001")
        await uas.start()
        await phone.start()
        api = await session(node, "1001", "pw1001")
        try:
            response = await api.post("/api/live/calls",
                                      json={"device": "1001", "number": "84951234567"})
            assert response.status_code == 201, response.text
            call = response.json()
            await phone.wait_event("CALL_ESTABLISHED", within=15)
            for _ in range(50):  # the carrier answers: the two legs are bridged
                live = (await api.get("/api/live/calls")).json()
                if live and live[0]["state"] == "talking":
                    break
                await asyncio.sleep(0.2)
            assert live[0]["state"] == "talking", live
            await asyncio.sleep(4)  # the operator talks; the carrier sends it all back
            ended = await api.delete(f"/api/live/calls/{call['id']}")
            assert ended.status_code == 204, ended.text
            await phone.wait_event("CALL_CLOSED", within=10)
            record = await call_record(node, number="1001")
        finally:
            await api.aclose()
            await phone.stop()
            await uas.stop()
    [invite] = invites(messages)
    assert f"INVITE sip:{NUMBER}@{CARRIER}:{carrier_port}" in invite
    from_line = next(line for line in invite.splitlines() if line.startswith("From:"))
    assert ROUTE_CALLER_ID in from_line
    # audio both ways: what 1001's microphone sent came back from the carrier
    assert phone.source is not None
    assert audio_similarity(phone.received_wav(), phone.source) > 0.5
    assert [leg.endpoint for leg in record.legs] == ["1001", NUMBER]
    assert all(leg.answered_at and leg.ended_at for leg in record.legs)
    [outside] = [entry for entry in record.timeline if entry.kind == "outside call"]
    assert outside.detail["trunk"] == "carrier-a"
    assert outside.detail["route"] == "russia"
    assert outside.detail["caller_id"] == ROUTE_CALLER_ID


@needs_sipp
@needs_baresip
async def test_a_callback_to_an_outside_number_rings_the_operator_then_the_carrier(
        tmp_path: Path) -> None:
    carrier_port = free_port(CARRIER)
    async with demo_node(tmp_path) as node:
        await with_routes(node, carrier_port)
        assert node.demo_login is not None
        uas, messages = carrier(tmp_path, carrier_port)
        await uas.start()
        api = await session(node, node.demo_login.username, node.demo_login.password)
        try:
            requested = await api.post("/api/callbacks",
                                       json={"number": "84951234567", "queue": "support"})
            assert requested.status_code == 201, requested.text
            phone = operator(node, tmp_path, "1004")  # becomes free: Parley rings it first
            await phone.start()
            try:
                for _ in range(200):  # the operator answered, then the customer did
                    if node.center.shell.acd.agents["1004"].state == "on_call":
                        break
                    await asyncio.sleep(0.1)
                assert node.center.shell.acd.agents["1004"].state == "on_call"
                await asyncio.sleep(2)
                operator_leg = next(channel for channel in node.telephony.channels()
                                    if channel.called == "1004")
                operator_leg.hangup()  # the operator ends it: the customer's line too
            finally:
                await phone.stop()
            record = await call_record(node, number="1004", operator="1004")
            [stored] = await node.store.callbacks.list(queue="support")
        finally:
            await api.aclose()
            await uas.stop()
    assert stored.status == "done"
    [invite] = invites(messages)
    assert f"INVITE sip:{NUMBER}@" in invite
    assert record.outcome == "answered"
    assert [leg.endpoint for leg in record.legs] == ["1004", NUMBER]
    # the operator answered before the customer was dialled through the trunk
    assert record.legs[0].answered_at is not None
    assert record.legs[0].answered_at <= record.legs[1].started_at
    assert record.legs[1].answered_at is not None
    [outside] = [entry for entry in record.timeline if entry.kind == "outside call"]
    assert (outside.detail["trunk"], outside.detail["route"]) == ("carrier-a", "russia")


def probe(tmp_path: Path, name: str, status: str) -> Path:
    text = (DATA / "uac_expect_failure.xml").read_text().replace("EXPECTED", status)
    path = tmp_path / f"{name}.xml"
    path.write_text(text)
    return path


@needs_sipp
@needs_baresip
@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_toll_fraud_probe_never_reaches_a_trunk(tmp_path: Path, transport: str) -> None:
    carrier_port = free_port(CARRIER)
    async with demo_node(tmp_path) as node:
        await with_routes(node, carrier_port)
        uas, messages = carrier(tmp_path, carrier_port)
        await uas.start()
        try:
            # a guest: challenged, and never connected
            for number in (NUMBER, "84951234567", "74951234567"):
                guest = Sipp(tmp_path / f"guest-{number}", probe(tmp_path, "guest", "401"),
                             service=number, calls=1, transport=transport,
                             target=f"127.0.0.1:{node.telephony.sip_port}", extra=LIMIT)
                await guest.start()
                result = await guest.wait(within=30)
                assert result.ok, result.log
            # a user of the site without the outside-line right: refused
            user = await node.store.config.get("users", "1002")
            assert isinstance(user, UserSpec)
            await node.store.config.put("users", user.model_copy(
                update={"outside_line": "none"}))
            await reload(node, "users", "1002")
            phone = operator(node, tmp_path, "1002")
            await phone.start()
            try:
                await phone.dial(NUMBER)
                await phone.wait_event("CALL_CLOSED", within=10)
            finally:
                await phone.stop()
            await asyncio.sleep(0.5)
            assert invites(messages) == []
            assert node.telephony.guard.toll_fraud_total == 1  # 1002's attempt, reported
            # the same number from a user with the right (agents call national numbers)
            # does reach the carrier: the refusals above were the rules, not a dead route
            allowed = operator(node, tmp_path, "1001")
            await allowed.start()
            try:
                await allowed.dial("84951234567")
                await allowed.wait_event("CALL_ESTABLISHED", within=10)
                await allowed.hangup()
                await allowed.wait_event("CALL_CLOSED", within=10)
            finally:
                await allowed.stop()
        finally:
            await uas.stop()
    [invite] = invites(messages)
    assert f"INVITE sip:{NUMBER}@" in invite


@needs_sipp
async def test_numbers_from_outside_are_normalised_to_e164(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        site = await node.store.config.site()
        await node.store.config.put_site(site.model_copy(update={"default_region": "RU"}))
        await node.store.config.put("numbers", NumberSpec(number="+74951110000",
                                                          flow="demo-support"))
        await reload(node, "numbers", "+74951110000")
        # the carrier writes both numbers nationally; the number's flow answers
        scenario, _ = caller_scenario(tmp_path, ani="84957654321", talk_s=1.0)
        caller = await dial(node, tmp_path, "84951110000", scenario)
        result = await caller.wait(within=30)
        assert result.ok, result.log
        record = await call_record(node, number="+74957654321")
    assert (record.caller, record.called) == ("+74957654321", "+74951110000")
    assert record.queue == "support"


@needs_sipp
@needs_baresip
async def test_an_operator_transfers_the_caller_to_an_outside_number_by_refer(
        tmp_path: Path) -> None:
    carrier_port = free_port(CARRIER)
    async with demo_node(tmp_path) as node:
        await with_routes(node, carrier_port)
        uas, messages = carrier(tmp_path, carrier_port)
        support_phone = operator(node, tmp_path, "1001")
        await uas.start()
        await support_phone.start()
        try:
            scenario, _ = caller_scenario(tmp_path, talk_s=5.0)
            caller = await dial(node, tmp_path, "602", scenario)
            await support_phone.wait_event("CALL_ESTABLISHED", within=20)
            await asyncio.sleep(1.0)
            await support_phone.command("transfer", "84951234567")
            await support_phone.wait_event("CALL_CLOSED", within=15)
            result = await caller.wait(within=40)
            assert result.ok, result.log
        finally:
            await support_phone.stop()
            await uas.stop()
        record = await call_record(node, number="602")
    [invite] = invites(messages)
    assert f"INVITE sip:{NUMBER}@" in invite
    assert [leg.endpoint for leg in record.legs][1:] == ["1001", NUMBER]
    assert all(leg.answered_at is not None for leg in record.legs)
    timeline = [(entry.kind, entry.detail) for entry in record.timeline]
    assert ("transferred", {"by": "1001", "to": "84951234567"}) in timeline
    [outside] = [detail for kind, detail in timeline if kind == "outside call"]
    assert (outside["trunk"], outside["route"]) == ("carrier-a", "russia")


def refusing_carrier(tmp_path: Path, name: str, port: int, status: str) -> Sipp:
    """A carrier that answers every INVITE with ``status`` (e.g. ``503 Service
    Unavailable``)."""
    text = (DATA / "uas_busy.xml").read_text().replace("486 Busy Here", status)
    path = tmp_path / f"{name}.xml"
    path.write_text(text)
    return Sipp(tmp_path / name, path, host=CARRIER, port=port)


@needs_sipp
@needs_baresip
async def test_the_next_trunk_takes_the_call_when_the_first_fails_not_when_the_number_is_busy(
        tmp_path: Path) -> None:
    carrier_port, first_port = free_port(CARRIER), free_port(CARRIER)
    async with demo_node(tmp_path) as node:
        await with_routes(node, carrier_port)
        await node.store.config.put("trunks", TrunkSpec(
            name="carrier-down", host=CARRIER, port=first_port, auth="ip",
            allowed_ips=[CARRIER], options_interval=0))
        await node.store.config.put("routes", RouteSpec(
            name="russia", match=r"^\+7\d{10}$", trunks=["carrier-down", "carrier-a"],
            caller_id=ROUTE_CALLER_ID))
        await reload(node, "trunks", "carrier-down")
        await reload(node, "routes", "russia")
        uas, messages = carrier(tmp_path, carrier_port)
        phone = operator(node, tmp_path, "1001")
        await uas.start()
        await phone.start()
        api = await session(node, "1001", "pw1001")
        try:
            for status, reaches_second in (("503 Service Unavailable", True),
                                           ("486 Busy Here", False)):
                first = refusing_carrier(tmp_path, status[:3], first_port, status)
                await first.start()
                before = len(phone.events)
                try:
                    response = await api.post("/api/live/calls",
                                              json={"device": "1001", "number": NUMBER})
                    assert response.status_code == 201, response.text
                    await phone.wait_event("CALL_ESTABLISHED", within=15, since=before)
                    await asyncio.sleep(2)
                    live = (await api.get("/api/live/calls")).json()
                    if reaches_second:
                        assert live, "the call ended"
                        assert live[0]["state"] == "talking", live
                        await api.delete(f"/api/live/calls/{live[0]['id']}")
                    else:
                        assert live == []  # the busy number ended the call
                    await phone.wait_event("CALL_CLOSED", within=10, since=before)
                finally:
                    refused = await first.stop()
                assert refused.stats["IncomingCall(C)"] == "1", refused.log  # tried first
                await asyncio.sleep(0.5)
        finally:
            await api.aclose()
            await phone.stop()
            await uas.stop()
    # the second trunk got the call after the first trunk's 503, not after the 486
    assert len(invites(messages)) == 1
