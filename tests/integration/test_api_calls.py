"""Calls placed over SIP appear in the call records through the API, with their legs and
correct durations: a sipp caller rings a sipp phone through Parley's B2BUA, talks for two
seconds and hangs up; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from parley.clock import MonotonicClock
from parley.telephony.engine import TrunkPeer
from parley.telephony.server import Telephony, TelephonySettings
from parley.telephony.users import SipUser, demo_directory
from parley.testing.api import ApiServer
from parley.testing.needs import SIPP, needs
from parley.testing.peers import Sipp
from parley.testing.ports import free_port, free_port_block
from parley.testing.postgres import (  # noqa: F401
    database_backend,
    database_url,
    postgres_server_url,
    postgres_template,
)

pytestmark = needs(SIPP)


async def test_a_sip_call_becomes_a_call_record_with_durations(
        database_url: str, tmp_path: Path) -> None:  # noqa: F811
    phone_port, client_port = free_port(), free_port()
    rtp_first = free_port_block(100)
    settings = TelephonySettings(host="127.0.0.1", sip_port=free_port(),
                                 rtp_ports=(rtp_first, rtp_first + 99), realm="parley.test",
                                 no_answer_timeout=5.0,
                                 trunks=(TrunkPeer("sipp", "127.0.0.1", client_port),))
    users = demo_directory(settings.realm)
    users.add(SipUser("3000", static_contact=f"sip:3000@127.0.0.1:{phone_port}"))  # type: ignore[attr-defined]
    server = ApiServer(database_url)
    await asyncio.to_thread(server.start)
    try:
        token = await asyncio.to_thread(server.add_user, "boss", ["supervisor"])
        async with Telephony(settings, users, MonotonicClock()) as telephony:
            telephony.subscribe(server.publish)
            phone = Sipp(tmp_path / "phone", "uas", port=phone_port)
            caller = Sipp(tmp_path / "caller", "uac", service="3000", port=client_port,
                          calls=1, target=f"127.0.0.1:{telephony.sip_port}",
                          extra=("-d", "2000", "-timeout", "30s", "-timeout_error"))
            try:
                await phone.start()
                await caller.start()
                result = await caller.wait(40)
            finally:
                await caller.stop()
                await phone.stop()
            assert result.ok, result.log

        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
            for _ in range(100):
                page = (await client.get("/api/interactions")).json()
                if page["total"] and page["items"][0]["ended_at"]:
                    break
                await asyncio.sleep(0.1)
            assert page["total"] == 1
            record = page["items"][0]
            assert record["direction"] == "inbound"
            assert record["called"] == "3000"
            assert record["operator"] == "3000"
            assert record["outcome"] == "answered"
            assert record["hangup_cause"] == 16
            assert 1.8 <= record["talk_s"] <= 3.5
            assert record["duration_s"] >= record["talk_s"]
            assert record["wait_s"] < 2.0
            detail = (await client.get(f"/api/interactions/{record['id']}")).json()
            assert sorted(leg["direction"] for leg in detail["legs"]) == ["inbound", "outbound"]
            assert all(leg["ended_at"] for leg in detail["legs"])
            assert detail["timeline"][0]["kind"] == "started"
            assert detail["timeline"][-1]["kind"] == "ended"
    finally:
        await asyncio.to_thread(server.stop)
