"""The inbound queue benchmark's site document is one Parley accepts as it is."""

from __future__ import annotations

import importlib.util
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
    assert [(n.number, n.flow) for n in document.numbers] == [("700", "bench-queue")]


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
