"""The inbound queue benchmark's site document is one Parley accepts as it is."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

import yaml

from parley.center.config import CenterConfig
from parley.provisioning import parse_document

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "inbound_queue.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("inbound_queue", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("inbound_queue", module)
    spec.loader.exec_module(module)
    return module


def test_document_validates_and_wires_every_operator_to_the_queue(tmp_path: Path) -> None:
    bench = load_script()
    path = bench.write_provisioning(tmp_path / "bench.yaml", 50, 5999)
    document, _root = parse_document(path.read_text(), str(path))

    assert document.site is not None
    assert document.site.ready_on_register
    operators = [user for user in document.users if user.username != bench.METRICS_USER]
    names = [user.username for user in operators]
    assert len(names) == 50
    assert all(user.extension == user.username for user in operators)
    # and one admin, without a device, that reads the node's RTP counters from /metrics
    [reader] = [user for user in document.users if user.username == bench.METRICS_USER]
    assert [role.value for role in reader.roles] == ["admin"]
    assert {device.user for device in document.devices} == set(names)
    assert all(device.static_contact == f"sip:{device.name}@127.0.0.1:5999"
               for device in document.devices)
    queue = document.queues[0]
    assert (queue.name, queue.strategy, queue.wrap_up_s) == ("bench", "longest_idle", 0)
    assert (queue.ring_timeout_s, queue.announce_every_s, queue.recording) == (15, 0, "none")
    assert sorted(queue.members) == sorted(names)
    assert [(n.number, n.flow) for n in document.numbers] == [("700", "bench-queue"),
                                                              ("701", "bench-menu")]


def test_number_700_runs_a_valid_flow_ending_in_the_queue() -> None:
    bench = load_script()
    document, _root = parse_document(yaml.safe_dump(bench.provisioning(3, 5999)))
    config = CenterConfig(site=document.site, queues=document.queues, users=document.users,
                          numbers=document.numbers, flows=document.flows)

    registry = config.registry()
    flow = registry.flow_for_number("700")
    assert flow is not None
    assert flow.name == "bench-queue"
    assert [agent.agent_id for agent in config.operators()] == bench.operator_names(3)


def test_number_701_is_a_menu_where_key_1_hangs_up() -> None:
    bench = load_script()
    document, _root = parse_document(yaml.safe_dump(bench.provisioning(3, 5999)))
    config = CenterConfig(site=document.site, queues=document.queues, users=document.users,
                          numbers=document.numbers, flows=document.flows)
    flow = config.registry().flow_for_number("701")
    assert flow is not None
    menu = flow.nodes[flow.start]
    assert (type(menu).__name__, menu.options, menu.timeout) == \
        ("MenuNode", {"1": "pressed"}, 60)
    assert type(flow.nodes["pressed"]).__name__ == "HangupNode"


def test_the_dtmf_probe_times_a_key_from_its_release(tmp_path: Path) -> None:
    bench = load_script()
    scenario, end = bench.menu_scenario(tmp_path)
    # a 100 ms press: updates at 0, 20, 40 and 60 ms, the end packet first at 80 ms
    assert end == 0.08
    text = scenario.read_text(encoding="iso-8859-1")
    assert f'play_pcap_audio="{tmp_path / "key-1.pcap"}"' in text
    assert (tmp_path / "key-1.pcap").stat().st_size > 0
    (tmp_path / "uac_menu_dtmf_4242_rtt.csv").write_text(
        "Date_ms;response_time_ms;rtd_no\n2596;80;1\n3592;95;1\n4592;380;1\n")
    keys = [round(value - end, 3) for value in bench.key_latencies(tmp_path)]
    assert keys == [0.0, 0.015, 0.3]
    assert [bench.key_ms(keys, share) for share in (0.5, 0.99, 1.0)] == ["15", "300", "300"]
    assert bench.key_ms(None, 0.5) == "-"
    assert bench.key_ms([], 0.5) == "-"


def test_the_loop_lag_percentiles_come_from_the_samples_between_two_scrapes() -> None:
    bench = load_script()
    before = bench.loop_delay_buckets(
        'parley_event_loop_delay_seconds_bucket{le="0.001"} 90.0\n'
        'parley_event_loop_delay_seconds_bucket{le="0.005"} 100.0\n'
        'parley_event_loop_delay_seconds_bucket{le="0.05"} 100.0\n'
        'parley_event_loop_delay_seconds_bucket{le="+Inf"} 100.0\n')
    # 200 samples more: 150 within 1 ms, 48 within 5 ms, 1 within 50 ms, 1 above
    after = bench.loop_delay_buckets(
        'parley_event_loop_delay_seconds_bucket{le="0.001"} 240.0\n'
        'parley_event_loop_delay_seconds_bucket{le="0.005"} 298.0\n'
        'parley_event_loop_delay_seconds_bucket{le="0.05"} 299.0\n'
        'parley_event_loop_delay_seconds_bucket{le="+Inf"} 300.0\n'
        'parley_event_loop_lag_seconds 0.2\n')
    assert bench.lag_quantile(before, after, 0.5) == 0.001
    assert bench.lag_quantile(before, after, 0.99) == 0.005  # 198 of 200 within 5 ms
    assert bench.lag_quantile(before, after, 0.995) == 0.05
    assert bench.lag_quantile(before, after, 1.0) == float("inf")
    assert bench.milliseconds(0.005) == "<=5ms"
    assert bench.milliseconds(float("inf")) == ">5000ms"
    assert bench.lag_quantile(None, after, 0.99) is None  # not read: not guessed
    assert bench.loop_delay_buckets("parley_channels 3.0\n") is None


def test_an_offer_gap_counts_as_a_pause_only_while_an_operator_was_ready(
        tmp_path: Path) -> None:
    bench = load_script()
    database = tmp_path / "parley.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE timeline_events (at TEXT, kind TEXT)")
        connection.execute("CREATE TABLE operator_state_log "
                           "(id INTEGER PRIMARY KEY, at TEXT, username TEXT, state TEXT)")
        offers = ["12:00:00.000", "12:00:00.050", "12:00:00.400", "12:00:01.000",
                  "12:00:03.000"]
        connection.executemany("INSERT INTO timeline_events VALUES (?, 'offered')",
                               [(f"2026-12-04 {at}",) for at in offers])
        connection.execute("INSERT INTO timeline_events VALUES "
                           "('2026-12-04 12:00:02.000', 'queued')")
        changes = [("11:59:59.000", "a", "ready"), ("11:59:59.000", "b", "ready"),  # no caller
                   ("12:00:00.000", "a", "ringing"), ("12:00:00.050", "b", "ringing"),
                   ("12:00:00.100", "a", "ready"),  # ready 300 ms before the next offer
                   ("12:00:00.400", "a", "ringing"),
                   ("12:00:00.400", "b", "ready"),  # ready 600 ms before the next one
                   ("12:00:01.000", "b", "ringing"),
                   ("12:00:02.900", "a", "ready"),  # nobody ready for 1.9 s: no pause
                   ("12:00:03.000", "a", "ringing")]
        connection.executemany(
            "INSERT INTO operator_state_log (at, username, state) VALUES (?, ?, ?)",
            [(f"2026-12-04 {at}", user, state) for at, user, state in changes])
    longest, pauses = bench.offer_gaps(database)
    assert round(longest, 3) == 0.6
    assert pauses == 2
    assert bench.offer_gaps(tmp_path / "absent.sqlite3") is None
