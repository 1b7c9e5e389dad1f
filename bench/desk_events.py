"""Live events to the operators' desks: the node's CPU for pushing operator state changes to
250 signed-in desks, and how late each desk hears its own change.

Method: a fresh node (``parley serve --config``, SQLite) with ``--desks`` operators whose
devices have static contacts (so that ``ready_on_register`` has them logged in and ready from
the start; nothing answers there, no call is placed) and one supervisor. Each operator signs
in over ``POST /api/auth/login`` and opens ``/api/events?topics=operator`` with its session
cookie, as the desk page does; with ``--console`` every socket is the supervisor's instead
(a wall of supervisor consoles: every socket receives every change). The supervisor then
changes operators' states over ``PUT /api/operators/{id}/state`` (not ready with a reason,
then ready again, round robin) at ``--rate`` changes a second for ``--seconds``. Measured:
the node's CPU (user + system from /proc, as % of one core) over the run, against the same
run with no socket open (what the state changes cost by themselves); every event each socket
should receive is counted; the delay from sending a change to a desk receiving it (p50, p95,
max). The 250 sockets run in this script's process on the same two cores: its own CPU is
shown too, since it competes with the node.

    .venv/bin/python bench/desk_events.py --desks 250 --rate 20 --seconds 30
    .venv/bin/python bench/desk_events.py --desks 250 --rate 20 --seconds 30 --console
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inbound_queue import Node

from parley.testing.ports import LOOPBACK, free_port, free_port_block

FIRST = 30001
BOSS, BOSS_PASSWORD = "boss", "pw-boss-123"


def provisioning(desks: int, parked: int) -> dict[str, Any]:
    names = [str(FIRST + index) for index in range(desks)]
    return {
        "version": 1,
        "site": {"name": "Desk events benchmark", "time_zone": "UTC", "sip_realm": "parley",
                 "ready_on_register": True},
        "users": [*({"username": name, "display_name": f"Operator {name}", "roles": ["agent"],
                     "extension": name, "password": f"pw-{name}"} for name in names),
                  {"username": BOSS, "roles": ["supervisor"], "password": BOSS_PASSWORD}],
        "devices": [{"name": name, "user": name, "sip_password": f"sip-{name}",
                     "static_contact": f"sip:{name}@{LOOPBACK}:{parked}"} for name in names],
        "queues": [{"name": "bench", "strategy": "longest_idle", "members": names}],
    }


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> str:
    response = await client.post("/api/auth/login",
                                 json={"username": username, "password": password})
    response.raise_for_status()
    return response.cookies["parley_session"]


class Desk:
    """One socket on ``/api/events``: the receipt time of every state change it hears."""

    def __init__(self, url: str, cookie: str) -> None:
        self.url = url
        self.cookie = cookie
        self.heard: list[tuple[str, str, float]] = []  # (operator, new state, when)
        self.socket: ClientConnection | None = None

    async def open(self) -> None:
        self.socket = await connect(self.url, additional_headers={
            "Cookie": f"parley_session={self.cookie}", "Origin": self.url.replace("ws", "http")
            .rsplit("/api", 1)[0]}, max_queue=None)
        first = json.loads(await self.socket.recv())
        assert first["type"] == "subscribed", first

    async def listen(self) -> None:
        assert self.socket is not None
        with contextlib.suppress(Exception):
            async for message in self.socket:
                event = json.loads(message)
                if event.get("type") == "AgentStateChanged":
                    data = event["data"]
                    self.heard.append((data["agent_id"], data["new"], time.monotonic()))


async def drive(client: httpx.AsyncClient, names: list[str], rate: float, seconds: float
                ) -> dict[tuple[str, str], list[float]]:
    """Change states round robin at ``rate`` a second; when each change was sent."""
    sent: dict[tuple[str, str], list[float]] = {}
    state = dict.fromkeys(names, "ready")
    start = time.monotonic()
    count = int(rate * seconds)
    for index in range(count):
        await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
        name = names[index % len(names)]
        new = "not_ready" if state[name] == "ready" else "ready"
        body = {"state": new, **({"reason": "break"} if new == "not_ready" else {})}
        at = time.monotonic()
        response = await client.put(f"/api/operators/{name}/state", json=body)
        if response.status_code != 202:
            raise RuntimeError(f"{name} -> {new}: {response.status_code} {response.text}")
        state[name] = new
        sent.setdefault((name, new), []).append(at)
    return sent


async def run(desks: int, rate: float, seconds: float, console: bool, sockets: bool
              ) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="desk-events-") as folder:
        workdir = Path(folder)
        config = workdir / "site.yaml"
        config.write_text(yaml.safe_dump(provisioning(desks, free_port()), sort_keys=False))
        first = free_port_block(20)
        node = Node(workdir, config, (first, first + 19))
        await node.start()
        names = [str(FIRST + index) for index in range(desks)]
        base = f"http://{LOOPBACK}:{node.http_port}"
        opened: list[Desk] = []
        try:
            async with httpx.AsyncClient(base_url=base, timeout=60) as boss:
                boss_cookie = await sign_in(boss, BOSS, BOSS_PASSWORD)
                csrf = boss.cookies.get("parley_csrf") or ""
                boss.headers["X-CSRF-Token"] = csrf
                if sockets:
                    url = f"ws://{LOOPBACK}:{node.http_port}/api/events?topics=operator"
                    for name in names:
                        if console:
                            cookie = boss_cookie
                        else:
                            async with httpx.AsyncClient(base_url=base, timeout=60) as own:
                                cookie = await sign_in(own, name, f"pw-{name}")
                        desk = Desk(url, cookie)
                        await desk.open()
                        opened.append(desk)
                listeners = [asyncio.create_task(desk.listen()) for desk in opened]
                await asyncio.sleep(2.0)
                node_cpu, own_cpu, began = (node.cpu_seconds(), time.process_time(),
                                            time.monotonic())
                sent = await drive(boss, names, rate, seconds)
                await asyncio.sleep(2.0)  # the last events arrive
                wall = time.monotonic() - began
                node_used, own_used = (node.cpu_seconds() - node_cpu,
                                       time.process_time() - own_cpu)
                for task in listeners:
                    task.cancel()
        finally:
            for desk in opened:
                if desk.socket is not None:
                    with contextlib.suppress(Exception):
                        await desk.socket.close()
            await node.stop()
    changes = sum(len(times) for times in sent.values())
    delays: list[float] = []
    expected = received = 0
    for index, desk in enumerate(opened):
        mine = None if console else names[index]
        wanted = [key for key in sent if mine is None or key[0] == mine]
        expected += sum(len(sent[key]) for key in wanted)
        seen: dict[tuple[str, str], int] = {}
        for operator, new, when in desk.heard:
            key = (operator, new)
            if key not in sent:
                continue
            position = seen.get(key, 0)
            seen[key] = position + 1
            if position < len(sent[key]):
                received += 1
                delays.append(when - sent[key][position])
    delays.sort()
    return {
        "sockets": len(opened), "changes": changes, "node_cpu_pct": 100 * node_used / wall,
        "bench_cpu_pct": 100 * own_used / wall, "expected": expected, "received": received,
        "p50_ms": 1000 * statistics.median(delays) if delays else None,
        "p95_ms": 1000 * delays[int(0.95 * (len(delays) - 1))] if delays else None,
        "max_ms": 1000 * delays[-1] if delays else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--desks", type=int, default=250)
    parser.add_argument("--rate", type=float, default=20.0, help="state changes a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--console", action="store_true",
                        help="every socket is a supervisor's and hears every change")
    args = parser.parse_args()
    print(f"{args.desks} operators, {args.rate:g} state changes/s for {args.seconds:g} s, "
          f"{'supervisor consoles' if args.console else 'desks (each its own changes)'}")
    for sockets in (False, True):
        figures = asyncio.run(run(args.desks, args.rate, args.seconds, args.console, sockets))
        label = f"{figures['sockets']} sockets" if sockets else "no socket"
        delay = ("" if figures["p50_ms"] is None else
                 f"  delay p50 {figures['p50_ms']:.1f} ms  p95 {figures['p95_ms']:.1f} ms  "
                 f"max {figures['max_ms']:.1f} ms")
        print(f"{label:>12}: node CPU {figures['node_cpu_pct']:5.1f}% of a core, "
              f"this script {figures['bench_cpu_pct']:5.1f}%, events "
              f"{figures['received']}/{figures['expected']}{delay}")


if __name__ == "__main__":
    main()
