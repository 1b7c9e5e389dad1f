"""Trunks against real carriers (sipp on 127.0.0.2): registration with digest and refresh,
a refusal shown with its reason, failover from a 503 to the next carrier with the INVITE's
digest answered, the calls-per-second cap as the carrier counts it, and a carrier's call
reaching its number's handler."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from parley.clock import MonotonicClock
from parley.events import ChannelCreated, HangupCause, TrunkStatusChanged
from parley.telephony.channel import Channel
from parley.telephony.engine import OriginateError
from parley.telephony.server import Telephony
from parley.telephony.trunks import TrunkCall, TrunkConfig
from parley.telephony.users import demo_directory
from parley.testing.peers import Sipp
from parley.testing.ports import free_port

from .conftest import DATA, needs_sipp, telephony_settings

pytestmark = [pytest.mark.integration, needs_sipp]

CARRIER = "127.0.0.2"  # apart from the phones' 127.0.0.1, as a carrier's network would be
OTHER_CARRIER = "127.0.0.3"


@pytest.fixture
async def parley(tmp_path: Path) -> AsyncIterator[Telephony]:
    settings = telephony_settings(data_dir=tmp_path / "parley-data")
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with telephony:
        yield telephony


def carrier(tmp_path: Path, scenario: str, name: str, **options: object) -> Sipp:
    return Sipp(workdir=tmp_path / name, scenario=DATA / scenario, host=CARRIER,
                port=free_port(CARRIER), **options)  # type: ignore[arg-type]


def trunk(name: str, sipp: Sipp, **options: object) -> TrunkConfig:
    values: dict[str, object] = {"host": CARRIER, "port": sipp.port, "kind": "register",
                                 "username": "acct17", "password": "secret",
                                 "options_interval": 0}
    values.update(options)
    return TrunkConfig(name, **values)  # type: ignore[arg-type]


async def wait_for(condition: object, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_registers_answering_the_challenge_and_refreshes_before_expiry(
        parley: Telephony, tmp_path: Path, transport: str) -> None:
    sipp = carrier(tmp_path, "carrier_register.xml", "registrar", calls=1,
                   transport="u1" if transport == "udp" else "t1")
    await sipp.start()
    seen: list[tuple[str, bool]] = []  # each state, and whether calls could go out then

    def changed(event: object) -> None:
        if isinstance(event, TrunkStatusChanged):
            seen.append((event.state, parley.trunk_statuses()[0].available))

    parley.subscribe(changed)
    try:
        await parley.set_trunks([trunk("carrier-a", sipp, transport=transport)])
        result = await sipp.wait(within=10)  # the scenario ends after the refresh's 200
        assert result.ok, result.log
        status = parley.trunk_statuses()[0]
        assert status.state == "registered"
        assert status.registered
        assert status.reason == "200 OK"
        # no call is tried through a line the carrier has not registered yet
        assert seen[:2] == [("registering", False), ("registered", True)]
    finally:
        await sipp.stop()


async def test_a_refusing_registrar_leaves_the_trunk_failed_with_its_reason(
        parley: Telephony, tmp_path: Path) -> None:
    sipp = carrier(tmp_path, "carrier_forbidden.xml", "refusing", calls=1)
    await sipp.start()
    try:
        await parley.set_trunks([trunk("carrier-a", sipp)])
        await wait_for(lambda: parley.trunk_statuses()[0].state == "failed")
        status = parley.trunk_statuses()[0]
        assert status.reason == "403 Forbidden"
        assert not status.available
        assert status.last_failure == "registration: 403 Forbidden"
        with pytest.raises(OriginateError, match="403 Forbidden"):  # no call goes out
            await parley.dial_out([TrunkCall("carrier-a", "74951234567")], timeout=5)
    finally:
        await sipp.stop()


async def test_a_503_goes_to_the_next_carrier_which_gets_the_digest_and_caller_id(
        parley: Telephony, tmp_path: Path) -> None:
    first = carrier(tmp_path, "carrier_unavailable.xml", "first", calls=1)
    second = carrier(tmp_path, "carrier_answer_digest.xml", "second", calls=1)
    await first.start()
    await second.start()
    try:
        await parley.set_trunks([trunk("carrier-a", first, kind="peer", username=None),
                                 trunk("carrier-b", second, kind="peer")])
        channel = await parley.dial_out(
            [TrunkCall("carrier-a", "74951234567", caller_id="+74951110000"),
             TrunkCall("carrier-b", "+74951234567", caller_id="+74951110000")], timeout=5)
        assert channel.trunk == "carrier-b"
        assert await channel.wait_answered(within=5)
        assert channel.sip_status == 200
        channel.hangup()
        assert (await first.wait(within=5)).ok
        assert (await second.wait(within=5)).ok  # digest checked, P-Asserted-Identity too
        statuses = {status.name: status for status in parley.trunk_statuses()}
        assert statuses["carrier-a"].last_failure == "503 calling 74951234567"
        assert statuses["carrier-b"].calls == 1
    finally:
        await first.stop()
        await second.stop()


async def test_a_carrier_that_stops_answering_keep_alives_is_down_until_it_answers(
        parley: Telephony, tmp_path: Path) -> None:
    sipp = carrier(tmp_path, "carrier_options.xml", "alive", calls=1)
    await sipp.start()
    seen: list[tuple[str, str]] = []
    parley.subscribe(lambda e: seen.append((e.state, e.reason))
                     if isinstance(e, TrunkStatusChanged) else None)
    try:
        await parley.set_trunks([trunk("carrier-a", sipp, kind="peer", username=None,
                                       options_interval=0.5, options_timeout=1.0)])
        assert (await sipp.wait(within=5)).ok  # answered one OPTIONS, then gone
        await wait_for(lambda: parley.trunk_statuses()[0].state == "down", within=5)
        assert ("down", "no answer to OPTIONS") in seen
        assert not parley.trunk_available("carrier-a")
        with pytest.raises(OriginateError, match="down"):
            await parley.dial_out([TrunkCall("carrier-a", "74951234567")], timeout=5)
        again = Sipp(workdir=tmp_path / "again", scenario=DATA / "carrier_options.xml",
                     host=CARRIER, port=sipp.port, calls=1)
        await again.start()
        try:
            await wait_for(lambda: parley.trunk_statuses()[0].state == "up", within=5)
            assert seen[-1] == ("up", "answers OPTIONS")
        finally:
            await again.stop()
    finally:
        await sipp.stop()


TRACE = re.compile(r"^-+ (\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+)\n"
                   r"\w+ message received[^\n]*\n\s*\nINVITE ", re.MULTILINE)


async def test_thirty_calls_at_once_leave_at_no_more_than_max_cps(
        parley: Telephony, tmp_path: Path) -> None:
    sipp = Sipp(workdir=tmp_path / "busy", scenario=DATA / "uas_busy.xml", host=CARRIER,
                port=free_port(CARRIER), calls=30, extra=("-trace_msg",))
    await sipp.start()
    try:
        await parley.set_trunks([trunk("carrier-a", sipp, kind="peer", max_cps=5,
                                       max_wait=10.0)])
        calls = [parley.dial_out([TrunkCall("carrier-a", f"7495000{i:04d}")], timeout=5)
                 for i in range(30)]
        channels: list[Channel] = await asyncio.gather(*calls)
        assert all(channel.sip_status == 486 for channel in channels)
        await sipp.wait(within=10)
        trace = next((tmp_path / "busy").glob("*_messages.log")).read_text()
        times = sorted(datetime.strptime(stamp.replace("\t", " "), "%Y-%m-%d %H:%M:%S.%f")
                       .timestamp() for stamp in TRACE.findall(trace))
        assert len(times) == 30
        busiest = max(sum(1 for t in times if first <= t < first + 1.0) for first in times)
        assert busiest <= 5
        assert times[-1] - times[0] >= 5.0  # 30 calls at 5 a second: six seconds, not less
    finally:
        await sipp.stop()


async def test_a_carriers_call_reaches_the_numbers_handler(parley: Telephony,
                                                           tmp_path: Path) -> None:
    reached: list[Channel] = []

    async def flow(channel: Channel) -> None:
        reached.append(channel)
        channel.hangup(HangupCause.NO_ANSWER)  # 480

    parley.route("84951110000", flow)
    created: list[ChannelCreated] = []
    parley.subscribe(lambda e: created.append(e) if isinstance(e, ChannelCreated) else None)
    scenario = tmp_path / "uac_expect_480.xml"
    scenario.write_text((DATA / "uac_expect_failure.xml").read_text().replace("EXPECTED", "480"))
    caller = Sipp(workdir=tmp_path / "caller", scenario=scenario,
                  host=CARRIER, port=free_port(CARRIER), service="84951110000",
                  target=f"127.0.0.1:{parley.sip_port}", calls=1)
    await parley.set_trunks([TrunkConfig("carrier-a", CARRIER, kind="peer",
                                         options_interval=0)])
    await caller.start()
    try:
        assert (await caller.wait(within=10)).ok
        assert len(reached) == 1
        assert reached[0].trunk == "carrier-a"
        assert reached[0].variables["caller_class"] == "trunk"
        assert created[0].trunk == "carrier-a"
    finally:
        await caller.stop()


async def test_a_trunk_created_over_the_api_registers_and_brings_calls_in(
        tmp_path: Path) -> None:
    """The whole node: a trunk added over the REST API registers at once (state at
    /api/live/trunks); a peer trunk's call to a number reaches its flow, and the call
    record names the trunk on the caller's leg."""
    import httpx

    from parley.store.specs import NumberSpec

    from .inbound_node import call_record, caller_scenario, change, demo_node

    registrar = carrier(tmp_path, "carrier_register.xml", "registrar", calls=1)
    await registrar.start()
    try:
        async with demo_node(tmp_path) as node:
            assert node.demo_login is not None
            async with httpx.AsyncClient(base_url=node.url, timeout=10) as api:
                login = await api.post("/api/auth/login", json={
                    "username": node.demo_login.username,
                    "password": node.demo_login.password})
                api.headers["X-CSRF-Token"] = login.json()["csrf_token"]
                created = await api.post("/api/trunks", json={
                    "name": "carrier-a", "kind": "register", "host": CARRIER,
                    "port": registrar.port, "username": "acct17", "password": "secret",
                    "options_interval": 0, "max_cps": 10})
                assert created.status_code == 201, created.text
                assert (await registrar.wait(within=10)).ok
                trunks = (await api.get("/api/live/trunks")).json()
                assert [(t["name"], t["state"], t["reason"]) for t in trunks] == [
                    ("carrier-a", "registered", "200 OK")]
                peer = await api.post("/api/trunks", json={
                    "name": "carrier-b", "kind": "peer", "host": OTHER_CARRIER,
                    "allowed_ips": [f"{OTHER_CARRIER}/32"], "options_interval": 0})
                assert peer.status_code == 201, peer.text
                inbound = await api.post("/api/inbound", json={
                    "trunk": "carrier-b", "number_from": "to"})
                assert inbound.status_code == 201, inbound.text
            await change(node, "numbers", NumberSpec(number="84951110000", flow="demo-main"))
            scenario, _wav = caller_scenario(tmp_path, talk_s=1.0, ani="89161234567")
            caller = Sipp(workdir=tmp_path / "caller", scenario=scenario, host=OTHER_CARRIER,
                          port=free_port(OTHER_CARRIER), service="84951110000",
                          target=f"127.0.0.1:{node.telephony.sip_port}", calls=1)
            await caller.start()
            try:
                assert (await caller.wait(within=20)).ok
            finally:
                await caller.stop()
            record = await call_record(node, number="84951110000")
            assert record.legs[0].trunk == "carrier-b"
            assert record.legs[0].sip_status == 200
            assert record.caller == "89161234567"  # E.164 once the site's region applies
    finally:
        await registrar.stop()
