"""The queues report over real calls: two SIPp callers dial the support queue, one operator's
baresip phone answers the first while the second hangs up waiting; /api/reports/queues then
says what happened, as the call records and the callers saw it, for a period that is not on
the interval boundaries (answered from the raw records) and for one that is (the
aggregates)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx

from parley.reports.intervals import interval_ceiling, interval_start
from parley.store.specs import QueueSpec
from parley.testing.needs import HOLD_MUSIC, STOCK_PROMPTS, needs
from parley.testing.peers import Sipp

from .conftest import needs_baresip, needs_sipp
from .inbound_node import caller_scenario, change, demo_node, operator

pytestmark = needs(STOCK_PROMPTS, HOLD_MUSIC)


@needs_sipp
@needs_baresip
async def test_the_queues_report_counts_an_answered_and_an_abandoned_call(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={"wrap_up_s": 0}))
        phone = operator(node, tmp_path, "1001")
        await phone.start()
        try:
            for _ in range(100):
                if node.center.shell.acd.agents["1001"].state == "ready":
                    break
                await asyncio.sleep(0.1)
            began = node.clock.utcnow()
            for folder in ("a", "b"):
                (tmp_path / folder).mkdir()
            answered_scenario, _ = caller_scenario(tmp_path / "a", talk_s=6.0)
            waiting_scenario, _ = caller_scenario(tmp_path / "b", talk_s=3.0)
            target = f"127.0.0.1:{node.telephony.sip_port}"
            first = Sipp(tmp_path / "first", answered_scenario, service="602", calls=1,
                         target=target, extra=("-timeout", "60s", "-timeout_error"))
            await first.start()
            await asyncio.sleep(1.5)  # the operator has taken the first call
            second = Sipp(tmp_path / "second", waiting_scenario, service="602", calls=1,
                          target=target, extra=("-timeout", "60s", "-timeout_error"))
            await second.start()
            for caller in (first, second):
                result = await caller.wait(within=40)
                assert result.ok, result.log
        finally:
            await phone.stop()
        records = []
        for _ in range(100):
            page = await node.store.interactions.search(number="602", limit=10)
            records = [r for r in page.items if r.ended_at is not None]
            if len(records) == 2:
                break
            await asyncio.sleep(0.2)
        assert len(records) == 2, records
        answered = [r for r in records if r.answered_at is not None]
        waited = [r for r in records if r.answered_at is None]
        assert [r.operator for r in answered] == ["1001"]
        assert waited[0].outcome == "abandoned"
        assert waited[0].answered_at is None
        short = int(waited[0].wait_s is not None and waited[0].wait_s <= 5)

        async with httpx.AsyncClient(base_url=node.url, timeout=10) as api:
            login = await api.post("/api/auth/login", json={"username": "supervisor",
                                                            "password": "pw-supervisor"})
            assert login.status_code == 200, login.text
            off = {"from": (began - timedelta(seconds=7)).isoformat(),
                   "to": (node.clock.utcnow() + timedelta(seconds=3)).isoformat()}
            whole = {"from": interval_start(began - timedelta(minutes=15)).isoformat(),
                     "to": interval_ceiling(node.clock.utcnow()
                                            + timedelta(minutes=15)).isoformat()}
            for params in (off, whole):
                response = await api.get("/api/reports/queues", params=params)
                assert response.status_code == 200, response.text
                rows = {row["queue"]: row for row in response.json()["rows"]}
                assert {k: rows["support"][k] for k in (
                    "offered", "answered", "abandoned", "abandoned_short")} == {
                    "offered": 2, "answered": 1, "abandoned": 1, "abandoned_short": short}
            bad = await api.get("/api/reports/queues", params={"from": off["to"],
                                                                "to": off["from"]})
            assert bad.status_code == 422
            assert "to: must come after from" in bad.text
            operators = await api.get("/api/reports/operators", params=whole)
            row = next(r for r in operators.json()["rows"] if r["operator"] == "1001")
            assert row["answered"] == 1
            assert row["state_s"]["on_call"] > 3.0
