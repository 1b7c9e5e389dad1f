"""The node's metrics collector over given sources: names, labels and values as a Prometheus
server scrapes them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import structlog.testing
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from parley.center.ports import QueueFigures
from parley.clock import VirtualClock
from parley.ha import NodeStatus, Role, Takeover, single_status
from parley.metrics import LoopLagSampler, MetricsSources, RtpTotals, metrics_registry


def scrape(sources: MetricsSources) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics_registry(sources)).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_every_source_is_read_at_scrape_time_with_its_labels() -> None:
    calls = [2]
    sales = QueueFigures("sales", 3, 41.5, 20.0, 5, 1, 4, 10, 7, 2, 0.75)
    support = QueueFigures("support", 0, 0.0, 0.0, 2, 2, 0, 0, 0, 0, None)
    sources = MetricsSources(
        calls_in_progress=lambda: calls[0], call_legs=lambda: 57, channels=lambda: 4,
        queues=lambda: [sales, support],
        operator_states=lambda: {"ready": 3, "on_call": 4, "not_ready": 1},
        rtp=lambda: RtpTotals(received=1000, sent=990, lost=12, forwarded=6),
        sip_responses=lambda: {"1xx": 40, "2xx": 55, "4xx": 3},
        records_waiting=lambda: {"calls": 17, "operator_states": 0},
        event_loop_lag=lambda: 0.004)
    first = scrape(sources)
    calls[0] = 1
    second = scrape(sources)
    assert first[("parley_calls_in_progress", ())] == 2
    assert second[("parley_calls_in_progress", ())] == 1
    assert first[("parley_call_legs_total", ())] == 57
    assert first[("parley_channels", ())] == 4
    assert first[("parley_queue_waiting", (("queue", "sales"),))] == 3
    assert first[("parley_queue_waiting", (("queue", "support"),))] == 0
    assert first[("parley_queue_longest_wait_seconds", (("queue", "sales"),))] == 41.5
    assert first[("parley_queue_expected_wait_seconds", (("queue", "sales"),))] == 20.0
    assert first[("parley_queue_operators_ready", (("queue", "support"),))] == 2
    assert first[("parley_queue_offered_total", (("queue", "sales"),))] == 10
    assert first[("parley_queue_abandoned_total", (("queue", "sales"),))] == 2
    assert first[("parley_queue_service_level", (("queue", "sales"),))] == 0.75
    # a queue that has answered nothing has no service level yet, not a made-up one
    assert ("parley_queue_service_level", (("queue", "support"),)) not in first
    assert first[("parley_operators", (("state", "on_call"),))] == 4
    assert first[("parley_operators", (("state", "ready"),))] == 3
    assert first[("parley_rtp_packets_total", (("direction", "received"),))] == 1000
    assert first[("parley_rtp_packets_total", (("direction", "sent"),))] == 990
    assert first[("parley_rtp_packets_lost_total", ())] == 12
    assert first[("parley_rtp_directions_forwarded", ())] == 6
    assert first[("parley_sip_responses_total", (("class", "4xx"),))] == 3
    assert first[("parley_records_waiting", (("recorder", "calls"),))] == 17
    assert first[("parley_event_loop_lag_seconds", ())] == 0.004


def test_a_node_without_telephony_reports_only_what_it_has() -> None:
    scraped = scrape(MetricsSources(records_waiting=lambda: {"calls": 0}))
    assert list(scraped) == [("parley_records_waiting", (("recorder", "calls"),))]


def test_each_registry_is_the_nodes_own() -> None:
    one = generate_latest(metrics_registry(MetricsSources(channels=lambda: 1))).decode()
    two = generate_latest(metrics_registry(MetricsSources(channels=lambda: 2))).decode()
    assert "parley_channels 1.0" in one
    assert "parley_channels 2.0" in two
    assert "python_gc" not in one  # the process-global collectors are not included


async def test_the_loop_lag_is_the_worst_lateness_of_recent_wake_ups() -> None:
    clock = VirtualClock()
    sampler = LoopLagSampler(clock, interval=0.5, window=3)
    assert sampler.lag == 0.0
    sampler.sample(expected=10.0, woke=10.25)
    sampler.sample(expected=10.5, woke=10.5)
    assert sampler.lag == 0.25
    sampler.sample(expected=11.0, woke=10.99)  # early counts as on time
    sampler.sample(expected=11.5, woke=11.5)
    assert sampler.lag == 0.0  # the late one left the window


def test_a_long_stall_of_the_loop_is_logged() -> None:
    sampler = LoopLagSampler(VirtualClock(), interval=0.05)
    with structlog.testing.capture_logs() as logs:
        sampler.sample(expected=10.0, woke=10.2)  # late, not a stall worth a line
        sampler.sample(expected=11.0, woke=11.7)
    assert [(entry["event"], entry["late_s"]) for entry in logs] == \
        [("event_loop_stalled", 0.7)]


def test_the_loop_delay_histogram_counts_every_sample_since_start() -> None:
    sampler = LoopLagSampler(VirtualClock(), interval=0.05, window=3)
    for late in (0.0005, 0.003, 0.003, 0.004, 0.015, 0.3, 7.0):  # 7 s: above every bucket
        sampler.sample(expected=100.0, woke=100.0 + late)
    sampler.sample(expected=101.0, woke=100.999)  # early counts as on time
    scraped = scrape(MetricsSources(event_loop_delay=sampler.histogram))

    def at_most(bound: str) -> float:
        return scraped[("parley_event_loop_delay_seconds_bucket", (("le", bound),))]

    assert at_most("0.001") == 2  # the early one and 0.5 ms
    assert at_most("0.002") == 2
    assert at_most("0.005") == 5  # three more between 2 and 5 ms
    assert at_most("0.02") == 6
    assert at_most("0.2") == 6
    assert at_most("0.5") == 7
    assert at_most("5") == 7
    assert at_most("+Inf") == 8
    assert scraped[("parley_event_loop_delay_seconds_count", ())] == 8
    assert abs(scraped[("parley_event_loop_delay_seconds_sum", ())] - 7.3255) < 1e-9
    assert sampler.lag == 7.0  # the last three samples' worst, unlike the histogram


def test_the_nodes_role_and_lease() -> None:
    taken = Takeover(datetime(2026, 12, 3, 12, 0, tzinfo=UTC), "a", 3.25)
    active = NodeStatus("b", Role.ACTIVE, True, "", ha=True, cluster="site", active_node="b",
                        fencing_token=7, lease_age_s=0.4, last_takeover=taken, takeovers=1)
    found = samples(MetricsSources(ha=lambda: active))
    assert found == {"parley_ha_active": 1.0, "parley_ha_fencing_token": 7.0,
                     "parley_ha_lease_age_seconds": 0.4, "parley_ha_takeovers_total": 1.0,
                     "parley_ha_last_takeover_timestamp_seconds": taken.at.timestamp(),
                     "parley_ha_last_takeover_seconds": 3.25}
    standby = NodeStatus("a", Role.STANDBY, False, "standby", ha=True, fencing_token=7)
    assert samples(MetricsSources(ha=lambda: standby)) == {
        "parley_ha_active": 0.0, "parley_ha_fencing_token": 7.0,
        "parley_ha_takeovers_total": 0.0}
    assert samples(MetricsSources(ha=lambda: single_status("n"))) == {"parley_ha_active": 1.0}
    # the floating address: 1 on the node that holds it, 0 on the other
    holding = replace(active, floating_ip="192.0.2.10/24", floating_ip_held=True)
    waiting = replace(standby, floating_ip="192.0.2.10/24")
    held = 'parley_ha_floating_ip_held{address="192.0.2.10/24"}'
    assert f"{held} 1.0" in generate_latest(
        metrics_registry(MetricsSources(ha=lambda: holding))).decode()
    assert f"{held} 0.0" in generate_latest(
        metrics_registry(MetricsSources(ha=lambda: waiting))).decode()


def samples(sources: MetricsSources) -> dict[str, float]:
    text = generate_latest(metrics_registry(sources)).decode()
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if not sample.name.endswith("_created")}
