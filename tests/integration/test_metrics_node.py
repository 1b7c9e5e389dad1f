"""``/metrics`` of a running demo node while a real call is in progress: the figures a
Prometheus server scrapes, and who may scrape them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .conftest import needs_sipp
from .inbound_node import caller_scenario, demo_node, dial

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


async def until(client: httpx.AsyncClient, check: str, want: float,
                within: float = 15.0) -> Samples:
    """Scrape until the unlabelled metric ``check`` reads ``want``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        samples = await scrape(client)
        if samples.get((check, ())) == want or loop.time() > deadline:
            return samples
        await asyncio.sleep(0.2)


@needs_sipp
async def test_a_call_in_progress_shows_in_the_metrics_and_only_authorised_scrapers_see_it(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        assert node.demo_login is not None
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as anonymous:
            assert (await anonymous.get("/metrics")).status_code == 401
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as admin:
            login = await admin.post("/api/auth/login", json={
                "username": node.demo_login.username, "password": node.demo_login.password})
            assert login.status_code == 200, login.text
            admin.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            created = await admin.post("/api/tokens", json={
                "name": "prometheus", "username": node.demo_login.username})
            assert created.status_code == 201, created.text
            idle = await scrape(admin)
        token = created.json()["token"]
        async with httpx.AsyncClient(base_url=node.url, timeout=10, headers={
                "Authorization": f"Bearer {token}"}) as scraper:
            scenario, _sent = caller_scenario(tmp_path, talk_s=8.0, ani="5550199")
            caller = await dial(node, tmp_path, "800", scenario)  # the voicemail records it
            during = await until(scraper, "parley_calls_in_progress", 1)
            await asyncio.sleep(3)  # the caller's RTP flows meanwhile
            later = await scrape(scraper)
            result = await caller.wait(within=40)
            assert result.ok, result.log
            after = await until(scraper, "parley_calls_in_progress", 0)
    assert idle[("parley_calls_in_progress", ())] == 0
    assert during[("parley_calls_in_progress", ())] == 1
    assert during[("parley_channels", ())] == 1
    assert during[("parley_call_legs_total", ())] == idle[("parley_call_legs_total", ())] + 1
    assert during[("parley_sip_responses_total", (("class", "2xx"),))] >= 1  # 200 to INVITE
    assert later[("parley_rtp_packets_total", (("direction", "received"),))] > 100
    assert later[("parley_rtp_packets_lost_total", ())] == 0  # loopback loses nothing
    assert after[("parley_calls_in_progress", ())] == 0
    assert after[("parley_channels", ())] == 0
    # the demo's queues and operators (no phone registered: all logged out)
    assert after[("parley_queue_waiting", (("queue", "support"),))] == 0
    assert after[("parley_operators", (("state", "logged_out"),))] == 10
    assert ("parley_records_waiting", (("recorder", "calls"),)) in after
    assert 0 <= after[("parley_event_loop_lag_seconds", ())] < 1
    # twenty samples a second of the loop's lag, counted since start
    samples_taken = after[("parley_event_loop_delay_seconds_count", ())]
    assert samples_taken > idle[("parley_event_loop_delay_seconds_count", ())] + 100
    assert after[("parley_event_loop_delay_seconds_bucket", (("le", "+Inf"),))] == samples_taken
