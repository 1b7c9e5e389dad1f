"""What the live dialer shell adds to a pacing decision at 1,400 operators.

``bench/dialer_decision.py`` times the pure core in the simulator. Here the same campaign runs
through the node's own shells, on the real clock: :class:`~parley.center.dialer_shell.
DialerShell` feeding the ACD shell (:class:`~parley.center.acd_shell.AcdShell`) with 1,400
operators, reservations and connects going into the ACD and every operator's state change
coming back through its observer, every attempt written to the store (SQLite) by the shell's
writer as it changes.

Method: a node is built as ``parley demo`` builds it (SQLite in a temporary folder) but not
served: no SIP or web sockets. 1,400 operators (team ``floor``, queue ``floor`` with a 5 s
wrap-up) are logged in ready; one predictive campaign selects the team. Telephony is the one
part replaced, because the shell's calls are real SIP calls (``OutboundCalls``): its ``dial``
still registers the attempt and writes it, then a model of the network answers as the
simulator's does (a person with probability ``--contact-rate`` after a log-normal ring of mean
``--answer-delay`` s, otherwise no answer after the ring timeout or busy), ``connect`` holds the
conversation for an exponential talk time of mean ``--talk`` s (at least 5 s) and ends it with
the ACD's ``AgentLegEnded``, as the real call does; the wrap-up then runs out on the ACD's own
timer and the shell closes the attempt. Talk is short so that the run reaches its steady state
in real time.

Timed, in CPU time of the thread: each top-level ``DialerShell.feed`` (an event from the ACD's
observer or from a call: the core's decision, the commands carried out, the ACD feeds they
cause, the attempt and progress writes queued) and each deadline of the shell (the core's
``on_time`` and carrying out its commands); beside them the core's own ``handle``/``on_time``
inside those calls. Steady state: after the first ``--warm-up`` seconds.

    .venv/bin/python bench/dialer_shell_decision.py [--seconds 120] [--talk 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parley import events as ev
from parley.app import build
from parley.center.config import load_center_config
from parley.center.dialer_calls import LiveAttempt
from parley.center.ports import AttemptFacts, StoredCampaign
from parley.clock import serve_deadlines
from parley.config import PortRange, Settings
from parley.dialer.contacts import Contact, PhoneNumber
from parley.dialer.model import NumberType
from parley.logs import configure_logging
from parley.store.specs import CampaignSpec, QueueSpec, TeamSpec, UserSpec
from parley.testing.ports import free_port, free_port_block

OPERATORS = 1400
CAMPAIGN = "floor"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Network:
    """Plays the called parties and the conversations in place of telephony."""

    def __init__(self, shell: Any, args: argparse.Namespace, rng: random.Random) -> None:
        self.shell = shell
        self.args = args
        self.rng = rng
        self.loop = asyncio.get_running_loop()
        self.conversations = 0

    def later(self, delay: float, action: Callable[[], None]) -> None:
        self.loop.call_later(delay, action)

    def dial(self, command: ev.Dial, campaign: StoredCampaign) -> None:
        calls = self.shell.calls
        facts = AttemptFacts(command.attempt_id, command.campaign_id, command.contact_id,
                             command.number, command.number_type, self.shell.clock.utcnow())
        calls.attempts[command.attempt_id] = LiveAttempt(command, campaign, facts, {})
        self.shell.save_attempt(facts)
        args, rng = self.args, self.rng
        attempt = command.attempt_id
        if rng.random() < args.contact_rate:
            ring = min(rng.lognormvariate(math.log(args.answer_delay) - 0.125, 0.5),
                       command.ring_timeout_s - 0.5)
            self.later(ring, lambda: self.answered(attempt))
        elif rng.random() < 0.7:
            self.later(command.ring_timeout_s, lambda: self.failed(attempt, "no_answer"))
        else:
            self.later(rng.uniform(2.0, 6.0), lambda: self.failed(attempt, "busy"))

    def answered(self, attempt: str) -> None:
        live = self.shell.calls.attempts.get(attempt)
        if live is not None:
            self.shell.calls.update(live, answered_at=self.shell.clock.utcnow(), sip_status=200)
        self.shell.feed(ev.AttemptAnswered(attempt, True))

    def failed(self, attempt: str, outcome: str) -> None:
        live = self.shell.calls.attempts.pop(attempt, None)
        if live is not None:
            self.shell.calls.update(live, ended_at=self.shell.clock.utcnow(), outcome=outcome)
        self.shell.feed(ev.AttemptFailed(attempt, outcome))

    def connect(self, attempt: str, agent: str) -> None:
        self.conversations += 1
        talk = max(5.0, self.rng.expovariate(1.0 / self.args.talk))
        self.later(talk, lambda: self.end(attempt, agent))

    def end(self, attempt: str, agent: str) -> None:
        live = self.shell.calls.attempts.pop(attempt, None)
        self.shell.acd.feed(ev.AgentLegEnded(attempt, agent))
        if live is not None:
            self.shell.calls.update(live, ended_at=self.shell.clock.utcnow())
            self.shell.attempt_ended(live)

    def gone(self, attempt: str, *_: object) -> None:
        """Compliance message or hang-up: the customer's leg ends."""
        live = self.shell.calls.attempts.pop(attempt, None)
        if live is not None:
            self.later(3.0, lambda: self.shell.attempt_ended(live))


async def run(args: argparse.Namespace, folder: Path) -> None:
    rtp = free_port_block(10)
    settings = Settings(host="127.0.0.1", sip_port=free_port(), http_port=free_port(),
                        data_dir=folder / "data", rtp_ports=PortRange(first=rtp,
                                                                      last=rtp + 9))
    node = await build(settings, demo=True)
    try:
        store = node.store
        operators = [f"op{i:04d}" for i in range(OPERATORS)]
        started = time.monotonic()
        await store.config.put("teams", TeamSpec(name="floor"))
        for user in operators:
            await store.config.put("users", UserSpec(username=user, teams=["floor"]))
        await store.config.put("queues", QueueSpec(name="floor", teams=["floor"],
                                                    wrap_up_s=5, announce_every_s=0))
        await store.config.put("campaigns", CampaignSpec(
            name=CAMPAIGN, mode="predictive", queue="floor", teams=["floor"],
            caller_id="+74951110000", call_window="any", detect_machine=False,
            ring_timeout_s=25, retry={"busy": "2h", "no_answer": "2h", "abandoned": "2h"}))
        node.center.apply_config(await load_center_config(store))
        contacts = [Contact(f"c{i}", (PhoneNumber(f"+7495{i:07d}", NumberType.MOBILE,
                                                  ("Europe/Moscow",)),), {})
                    for i in range(args.contacts)]
        await store.campaigns.add_contacts(CAMPAIGN, contacts)
        print(f"set up {OPERATORS} operators and {args.contacts} contacts in "
              f"{time.monotonic() - started:.0f} s", file=sys.stderr)
        shell = node.dialer
        acd = shell.acd
        network = Network(shell, args, random.Random(args.seed))
        calls = shell.calls
        calls.dial = network.dial  # type: ignore[method-assign]
        calls.connect = network.connect  # type: ignore[method-assign,assignment]
        calls.compliance = network.gone  # type: ignore[method-assign,assignment]
        calls.hang_up = network.gone  # type: ignore[method-assign,assignment]
        for user in operators:
            acd.feed(ev.AgentLogin(user, user))

        shell_feeds: list[tuple[float, float]] = []
        shell_ticks: list[tuple[float, float]] = []
        core: list[float] = [0.0]
        core_calls: list[tuple[float, float]] = []
        start = time.monotonic()
        feed, apply = shell.feed, shell._apply
        handle, on_time = shell.dialer.handle, shell.dialer.on_time
        depth = [0]

        def timed_core(function: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
            def wrapper(*items: Any) -> list[Any]:
                begun = time.thread_time()
                out = function(*items)
                spent = time.thread_time() - begun
                core[0] += spent
                core_calls.append((time.monotonic() - start, spent))
                return out
            return wrapper

        def timed_feed(event: object) -> None:
            if depth[0] or shell._feeding:
                feed(event)
                return
            depth[0] += 1
            begun = time.thread_time()
            try:
                feed(event)
            finally:
                depth[0] -= 1
                shell_feeds.append((time.monotonic() - start, time.thread_time() - begun))

        def timed_apply(out: list[Any]) -> None:
            if depth[0] or shell._feeding:
                apply(out)
                return
            depth[0] += 1
            begun = time.thread_time()
            try:
                apply(out)
            finally:
                depth[0] -= 1
                shell_ticks.append((time.monotonic() - start, time.thread_time() - begun))

        shell.feed = timed_feed  # type: ignore[method-assign]
        shell._apply = timed_apply  # type: ignore[method-assign]
        shell.dialer.handle = timed_core(handle)  # type: ignore[method-assign]
        shell.dialer.on_time = timed_core(on_time)  # type: ignore[method-assign]
        gc.freeze()  # the loaded lists, as a production shell may do after loading
        async with asyncio.TaskGroup() as group:
            dialer_task = group.create_task(shell.run())
            acd_task = group.create_task(serve_deadlines(
                acd.clock, acd._wake, acd.acd.next_deadline, acd._on_time))
            await shell.wait_loaded()
            await shell.control(CAMPAIGN, "start", requested_by="bench")
            while time.monotonic() - start < args.seconds:
                await asyncio.sleep(10.0)
                figures = shell.figures(CAMPAIGN)
                print(f"  {time.monotonic() - start:5.0f} s: {figures.stats.dialled} dialled, "
                      f"{figures.stats.connected} connected, {figures.operators_talking} "
                      f"talking, {figures.operators_ready} ready, {figures.in_flight} in "
                      f"flight, store queue {shell.writes_waiting}", file=sys.stderr)
            figures = shell.figures(CAMPAIGN)
            backlog = shell.writes_waiting
            dialer_task.cancel()
            acd_task.cancel()
    finally:
        with contextlib.suppress(Exception):
            await node.store.close()
    warm = args.warm_up
    feeds = [spent for at, spent in shell_feeds if at >= warm]
    ticks = [spent for at, spent in shell_ticks if at >= warm]
    both = feeds + ticks
    cores = [spent for at, spent in core_calls if at >= warm]
    stats = figures.stats
    elapsed = args.seconds - warm
    print(f"operators: {OPERATORS}, {args.seconds:g} s run, steady state after {warm:g} s; "
          f"dialled {stats.dialled}, connected {stats.connected}, abandoned {stats.abandoned} "
          f"of {stats.live_answers} live answers")
    print(f"shell calls, steady state: {len(both)} ({len(both) / elapsed:.0f}/s): "
          f"{len(feeds)} feeds, {len(ticks)} deadlines")
    for name, values in (("shell feed + deadline", both), ("shell feed", feeds),
                         ("shell deadline", ticks), ("core handle + on_time", cores)):
        if values:
            print(f"  {name:24} median {statistics.median(values) * 1e6:6.0f} us, p99 "
                  f"{percentile(values, 0.99) * 1e6:6.0f} us, p99.9 "
                  f"{percentile(values, 0.999) * 1e6:6.0f} us, max {max(values) * 1e6:6.0f} us")
    if both:
        shell_cpu = sum(both) / elapsed
        core_cpu = sum(cores) / elapsed
        print(f"CPU of one core: shell decisions {shell_cpu:.1%} (of which the core "
              f"{core_cpu:.1%}); store writes waiting at the end: {backlog}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--warm-up", type=float, default=40.0)
    parser.add_argument("--talk", type=float, default=30.0)
    parser.add_argument("--contact-rate", type=float, default=0.25)
    parser.add_argument("--answer-delay", type=float, default=10.0)
    parser.add_argument("--contacts", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    configure_logging(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="parley-dialer-shell-") as temp:
        asyncio.run(run(args, Path(temp)))


if __name__ == "__main__":
    main()
