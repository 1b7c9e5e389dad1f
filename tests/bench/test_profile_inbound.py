"""The profile benchmark's grouping: each py-spy sample counted once, to the subsystem that
caused it, waiting threads left out."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"
SRC = "/srv/parley/src/parley"
LIB = "/venv/lib/python3.11/site-packages"


def load_script() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("profile_inbound", BENCH / "profile_inbound.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["profile_inbound"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_samples_go_to_the_subsystem_that_caused_them(tmp_path: Path) -> None:
    bench = load_script()
    root = (f"thread (1): MainThread;main ({SRC}/cli.py:10);run ({SRC}/app.py:530);"
            f"run (/usr/lib/python3.11/asyncio/runners.py:118)")
    waiting_line = tmp_path / "wait.py"
    waiting_line.write_text("def worker(tx):\n    return tx.get()\n")
    raw = tmp_path / "raw.txt"
    raw.write_text("\n".join([
        f"{root};_on_rtp ({SRC}/net/relay.py:200);_send ({SRC}/net/relay.py:135) 6",
        f"{root};_drive ({SRC}/center/shell.py:80);info ({LIB}/structlog/_log.py:5) 2",
        f"{root};_step ({SRC}/store/recorders.py:150);execute ({LIB}/sqlalchemy/x.py:1) 3",
        f"{root};parse ({SRC}/sip/message.py:300) 1",
        f"{root} 4",  # the loop's own native work: no Parley frame under the start-up
        f"thread (2): Thread-1;worker ({waiting_line}:2) 9",  # a thread waiting for work
    ]) + "\n")
    profile = bench.read_raw(raw)
    assert profile.samples == 16
    assert profile.waiting == 9
    assert dict(profile.by_subsystem) == {
        "RTP relay (per packet)": 6, "logging": 2, "store, recorders, journal": 3,
        "SIP parse/serialize": 1, bench.NATIVE: 4}
    assert profile.self_time["parley.net.relay._send"] == 6
    assert profile.cumulative["parley.net.relay._on_rtp"] == 6
    assert "parley.cli.main" not in profile.cumulative  # the start-up chain is no cost
