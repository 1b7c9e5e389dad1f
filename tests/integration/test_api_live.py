"""The REST API's live operations over a running node: click-to-call between two baresip
phones, hanging up, a supervisor's transfer of a queued call to another queue, operator
state changes and live queue figures, each checked as the phones, the ACD and the call
record show them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from parley.app import Node
from parley.events import Answered, ChannelCreated
from parley.testing.peers import Sipp, audio_similarity

from .conftest import needs_baresip, needs_sipp
from .inbound_node import call_record, caller_scenario, demo_node, operator


@asynccontextmanager
async def logged_in(node: Node, username: str, password: str
                    ) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client holding ``username``'s session cookie and sending its CSRF token."""
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as client:
        response = await client.post("/api/auth/login",
                                     json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield client


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 10.0,
                     what: str = "the condition") -> Any:
    """Poll ``check`` until it returns something truthy (returned), or fail after ``within``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {within} s (last: {value!r})")
        await asyncio.sleep(0.2)


async def acd_state(node: Node, agent: str, state: str, *, within: float = 10.0) -> None:
    center = node.center

    async def reached() -> bool:
        return str(center.shell.acd.agents[agent].state) == state

    await eventually(reached, within=within, what=f"operator {agent} {state}")


@needs_baresip
async def test_click_to_call_rings_the_operator_then_the_number_and_hangs_up_both(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path, live_leg_audit_s=1.0) as node:
        own = operator(node, tmp_path, "1001")
        other = operator(node, tmp_path, "1002")
        await own.start()
        await other.start()
        order: list[tuple[str, str]] = []
        legs: dict[str, str] = {}

        def note(event: object) -> None:
            if isinstance(event, ChannelCreated):
                legs[event.channel_id] = event.called
                order.append(("created", event.called))
            elif isinstance(event, Answered) and event.channel_id in legs:
                order.append(("answered", legs[event.channel_id]))

        unsubscribe = node.telephony.subscribe(note)
        try:
            async with logged_in(node, "1001", "pw1001") as api:
                # no open relay: only this site's extensions, only from one's own device
                refused = await api.post("/api/live/calls",
                                         json={"device": "1002", "number": "1003"})
                assert refused.status_code == 403
                assert "device" in refused.json()["detail"]
                # an outside number: the site has no route, so it is refused at once
                for outside in ("0044207946", "+4930123456"):
                    unknown = await api.post("/api/live/calls",
                                             json={"device": "1001", "number": outside})
                    assert unknown.status_code == 422, unknown.text
                    assert unknown.json()["detail"] == (
                        f"number: {outside!r} cannot be reached (no extension of this site, "
                        "and no outbound route matches it)")
                itself = await api.post("/api/live/calls", json={"number": "1001"})
                assert itself.status_code == 422
                assert itself.json()["detail"] == "number: '1001' is the device that rings first"
                assert not order  # no phone rang
                assert (await api.get("/api/live/calls")).json() == []

                response = await api.post("/api/live/calls",
                                          json={"device": "1001", "number": "1002"})
                assert response.status_code == 201, response.text
                call = response.json()
                assert (call["caller"], call["called"], call["operator"]) == (
                    "1001", "1002", "1001")
                await own.wait_event("CALL_ESTABLISHED", within=15)
                await other.wait_event("CALL_ESTABLISHED", within=15)
                connected = asyncio.get_running_loop().time()
                # the ACD holds 1001 for the call: no queue offers it a caller meanwhile,
                # through several of the node's audits of live legs (every second here)
                await acd_state(node, "1001", "on_call", within=2)
                support = {row["queue"]: row for row in
                           (await api.get("/api/live/queues")).json()}["support"]
                # and 1002, the colleague called, is on a personal call: not ready either
                assert (support["operators_busy"], support["operators_ready"]) == (1, 0)
                await acd_state(node, "1002", "not_ready", within=0)
                again = await api.post("/api/live/calls",
                                       json={"device": "1001", "number": "1002"})
                assert again.status_code == 409
                assert again.json()["detail"].startswith("device:")
                await asyncio.sleep(3.5)
                await acd_state(node, "1001", "on_call", within=0)

                listed = (await api.get("/api/live/calls")).json()
                assert [entry["id"] for entry in listed] == [call["id"]]
                live = listed[0]
                assert (live["caller"], live["called"], live["operator"], live["state"]) == (
                    "1001", "1002", "1001", "talking")
                assert live["answered_at"] is not None
                assert live["started_at"] <= live["answered_at"]

                ended = await api.delete(f"/api/live/calls/{call['id']}")
                assert ended.status_code == 204, ended.text
                talked = asyncio.get_running_loop().time() - connected
                await own.wait_event("CALL_CLOSED", within=10)
                await other.wait_event("CALL_CLOSED", within=10)
                await acd_state(node, "1001", "wrap_up", within=2)  # after-call work
                await acd_state(node, "1002", "ready", within=2)  # their call is over
                assert (await api.get("/api/live/calls")).json() == []
                gone = await api.delete(f"/api/live/calls/{call['id']}")
                assert gone.status_code == 404

                await call_record(node, number="1002")
                record = (await api.get(f"/api/interactions/{call['id']}")).json()
        finally:
            unsubscribe()
            await own.stop()
            await other.stop()
    # 1001 rang and answered before 1002 was called
    assert order.index(("answered", "1001")) < order.index(("created", "1002"))
    # the two phones were connected: 1002 heard what 1001's microphone sent
    assert own.source is not None
    assert audio_similarity(other.received_wav(), own.source) > 0.5
    assert [leg["endpoint"] for leg in record["legs"]] == ["1001", "1002"]
    assert (record["caller"], record["called"]) == ("1001", "1002")  # who called whom
    assert all(leg["answered_at"] and leg["ended_at"] for leg in record["legs"])
    assert record["operator"] == "1001"
    assert record["outcome"] == "answered"
    assert abs(record["talk_s"] - talked) < 1.5, (record["talk_s"], talked)


@needs_sipp
@needs_baresip
async def test_a_supervisor_transfers_a_support_call_to_the_sales_queue(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        support = operator(node, tmp_path, "1001")
        sales = operator(node, tmp_path, "1006")
        await support.start()
        await sales.start()
        scenario, sent = caller_scenario(tmp_path, talk_s=10.0)
        caller = Sipp(tmp_path / "caller", scenario, service="602", calls=1,
                      target=f"127.0.0.1:{node.telephony.sip_port}")
        try:
            await caller.start()
            await support.wait_event("CALL_ESTABLISHED", within=20)
            async with logged_in(node, "supervisor", "pw-supervisor") as api:
                async def talking() -> list[dict[str, Any]]:
                    calls = (await api.get("/api/live/calls")).json()
                    return [call for call in calls if call["state"] == "talking"]

                [live] = await eventually(talking, what="the call listed as talking")
                assert (live["called"], live["queue"], live["operator"]) == (
                    "602", "support", "1001")
                for nonsense in ("queue:nowhere", "nobody"):
                    wrong = await api.post(f"/api/live/calls/{live['id']}/transfer",
                                           json={"target": nonsense})
                    assert wrong.status_code == 422
                    assert wrong.json()["detail"].startswith("target:"), wrong.text
                    assert nonsense in wrong.json()["detail"]
                missing = await api.post("/api/live/calls/ch-0/transfer",
                                         json={"target": "queue:sales"})
                assert missing.status_code == 404
                async with logged_in(node, "1006", "pw1006") as other_operator:
                    assert (await other_operator.get("/api/live/calls")).json() == []
                    for attempt in (other_operator.delete(f"/api/live/calls/{live['id']}"),
                                    other_operator.post(
                                        f"/api/live/calls/{live['id']}/transfer",
                                        json={"target": "queue:sales"})):
                        assert (await attempt).status_code == 403

                await asyncio.sleep(1)
                moved = await api.post(f"/api/live/calls/{live['id']}/transfer",
                                       json={"target": "queue:sales"})
                assert moved.status_code == 202, moved.text
                await support.wait_event("CALL_CLOSED", within=10)
                await sales.wait_event("CALL_ESTABLISHED", within=20)

                async def with_sales() -> list[dict[str, Any]]:
                    calls = (await api.get("/api/live/calls")).json()
                    return [call for call in calls if call["operator"] == "1006"]

                [after] = await eventually(with_sales, what="the call listed with 1006")
                assert (after["id"], after["queue"], after["state"]) == (
                    live["id"], "sales", "talking")
                result = await caller.wait(within=40)
                assert result.ok, result.log
                await sales.wait_event("CALL_CLOSED", within=10)
                await call_record(node, number="602", operator="1006")
                record = (await api.get(f"/api/interactions/{live['id']}")).json()
        finally:
            await caller.stop()
            await support.stop()
            await sales.stop()
    assert [leg["endpoint"] for leg in record["legs"]][1:] == ["1001", "1006"]
    assert record["operator"] == "1006"
    assert record["outcome"] == "answered"
    transferred = [entry["detail"] for entry in record["timeline"]
                   if entry["kind"] == "transferred"]
    assert transferred == [{"by": "supervisor", "to": "queue:sales"}]
    queues = [entry["detail"].get("queue") for entry in record["timeline"]
              if entry["kind"] == "queued"]
    assert queues == ["support", "sales"]
    assert audio_similarity(sales.received_wav(), sent) > 0.5


@needs_sipp
@needs_baresip
async def test_operator_states_and_a_waiting_caller_in_the_live_figures(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        phone = operator(node, tmp_path, "1001")
        await phone.start()
        scenario, _ = caller_scenario(tmp_path, talk_s=5.0)
        caller = Sipp(tmp_path / "caller", scenario, service="601", calls=1,
                      target=f"127.0.0.1:{node.telephony.sip_port}")
        (tmp_path / "second").mkdir()
        waits, _ = caller_scenario(tmp_path / "second", talk_s=1.0, parley_hangs_up=True)
        second = Sipp(tmp_path / "second", waits, service="601", calls=1,
                      target=f"127.0.0.1:{node.telephony.sip_port}")
        try:
            await acd_state(node, "1001", "ready")
            async with logged_in(node, "1001", "pw1001") as me, \
                    logged_in(node, "supervisor", "pw-supervisor") as boss:

                async def listed(state: str, reason: str) -> bool:
                    rows = (await boss.get("/api/operators")).json()
                    return any(row["username"] == "1001" and row["state"] == state
                               and row["reason"] == reason for row in rows)

                unknown = await me.put("/api/operators/me/state",
                                       json={"state": "not_ready", "reason": "coaching"})
                assert unknown.status_code == 422
                assert unknown.json()["detail"].startswith("reason: unknown not-ready reason "
                                                           "'coaching'")
                assert "lunch" in unknown.json()["detail"]  # the reasons the site has
                response = await me.put("/api/operators/me/state",
                                        json={"state": "not_ready", "reason": "training"})
                assert response.status_code == 202, response.text
                await acd_state(node, "1001", "not_ready", within=2)
                await eventually(lambda: listed("not_ready", "training"),
                                 what="1001 listed not ready")
                support = await me.get("/api/live/queues")
                figures = {row["queue"]: row for row in support.json()}
                assert figures["support"]["operators_ready"] == 0
                assert figures["support"]["operators_logged_in"] == 1

                response = await boss.put("/api/operators/1001/state", json={"state": "ready"})
                assert response.status_code == 202, response.text
                await acd_state(node, "1001", "ready", within=2)
                await eventually(lambda: listed("ready", ""), what="1001 listed ready")
                absent = await boss.put("/api/operators/1006/state", json={"state": "ready"})
                assert absent.status_code == 409
                assert "not logged in" in absent.json()["detail"]
                unplugged = await boss.post("/api/live/calls",
                                            json={"device": "1006", "number": "1001"})
                assert unplugged.status_code == 409
                assert unplugged.json()["detail"] == (
                    "device: '1006' cannot be called now (user '1006' is not registered)")

                # a caller waits for sales, where nobody is logged in
                await caller.start()

                async def sales() -> dict[str, Any] | None:
                    rows = (await me.get("/api/live/queues")).json()
                    row: dict[str, Any] = next(r for r in rows if r["queue"] == "sales")
                    return row if row["waiting"] else None

                first = await eventually(sales, what="a caller waiting for sales")
                assert (first["waiting"], first["operators_ready"],
                        first["operators_logged_in"]) == (1, 0, 0)
                await asyncio.sleep(2)
                later = await sales()
                assert later is not None
                assert later["longest_wait_s"] >= first["longest_wait_s"] + 1.5
                waiting = [call for call in (await boss.get("/api/live/calls")).json()
                           if call["queue"] == "sales"]
                assert [(call["called"], call["state"], call["operator"])
                        for call in waiting] == [("601", "queued", None)]

                result = await caller.wait(within=30)
                assert result.ok, result.log

                async def emptied(abandoned: int) -> bool:
                    rows = (await me.get("/api/live/queues")).json()
                    row = next(r for r in rows if r["queue"] == "sales")
                    return row["waiting"] == 0 and row["abandoned"] == abandoned

                await eventually(lambda: emptied(1), what="the sales queue emptied")

                # the next waiting caller is hung up by the supervisor
                await second.start()
                [queued] = await eventually(lambda: queued_calls(boss), what="a second caller")
                await asyncio.sleep(2)  # the SIPp caller has sent its second of audio
                forbidden = await me.delete(f"/api/live/calls/{queued['id']}")
                assert forbidden.status_code == 403  # not 1001's call
                ended = await boss.delete(f"/api/live/calls/{queued['id']}")
                assert ended.status_code == 204, ended.text
                result = await second.wait(within=10)
                assert result.ok, result.log  # the caller got Parley's BYE
                await eventually(lambda: emptied(2), what="the sales queue emptied again")
        finally:
            await caller.stop()
            await second.stop()
            await phone.stop()


async def test_an_operator_logs_in_changes_state_and_logs_out_through_the_api(
        tmp_path: Path) -> None:
    """Operator 1003 has no phone registered, so the demo leaves them logged out; the API
    logs them in on their device, changes their state in the ACD and keeps the history."""
    async with demo_node(tmp_path) as node:
        await acd_state(node, "1003", "logged_out", within=2)
        async with logged_in(node, "1003", "pw1003") as me, \
                logged_in(node, "supervisor", "pw-supervisor") as boss:
            foreign = await me.post("/api/operators/me/login", json={"device": "1004"})
            assert foreign.status_code == 403
            assert foreign.json()["detail"] == "device: '1004' is not yours"
            early = await me.put("/api/operators/me/state", json={"state": "ready"})
            assert early.status_code == 409
            assert early.json()["detail"] == "operator '1003' is not logged in"
            await acd_state(node, "1003", "logged_out", within=0)

            assert (await me.post("/api/operators/me/login", json={})).status_code == 202
            await acd_state(node, "1003", "ready", within=2)
            assert node.center.shell.acd.agents["1003"].device == "1003"
            paused = await me.put("/api/operators/me/state",
                                  json={"state": "not_ready", "reason": "lunch"})
            assert paused.status_code == 202, paused.text
            await acd_state(node, "1003", "not_ready", within=2)
            for reason in ("coaching", ""):
                wrong = await me.put("/api/operators/me/state",
                                     json={"state": "not_ready", "reason": reason})
                assert wrong.status_code == 422
                assert wrong.json()["detail"].startswith(
                    f"reason: unknown not-ready reason {reason!r} (site reasons: ")
            bad = await me.put("/api/operators/me/state", json={"state": "sleeping"})
            assert bad.status_code == 422
            assert bad.json()["detail"][0]["loc"] == ["body", "state"]
            await acd_state(node, "1003", "not_ready", within=0)  # unchanged by refusals

            async def newest(state: str) -> list[dict[str, Any]]:
                rows: list[dict[str, Any]] = (
                    await boss.get("/api/operators/1003/states")).json()
                return rows if rows and rows[0]["state"] == state else []

            history = await eventually(lambda: newest("not_ready"), what="1003's states logged")
            assert [(row["state"], row["reason"]) for row in history[:2]] == [
                ("not_ready", "lunch"), ("ready", "")]

            assert (await me.post("/api/operators/me/logout")).status_code == 202
            await acd_state(node, "1003", "logged_out", within=2)
            await eventually(lambda: newest("logged_out"), what="1003's logout logged")
            current = {row["username"]: row["state"]
                       for row in (await boss.get("/api/operators")).json()}
            assert current["1003"] == "logged_out"


async def queued_calls(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    return [call for call in (await api.get("/api/live/calls")).json()
            if call["state"] == "queued"]
