"""A live predictive campaign over real calls, its occupancy and abandon rate beside what
``parley simulate-outbound`` predicts for the same parameters (the simulator as a digital twin
of the live dialer).

Method: one node in this process (``parley demo``'s, on free loopback ports, SQLite in a
temporary folder) with ``--operators`` operators (demo users 1001...) in queue ``dialout``
(wrap-up ``--wrap`` s), each a device whose static contact is one sipp answerer that answers
every call and echoes its audio. Three sipp carriers on 127.0.0.2, one trunk and route each:
persons ring for a log-normal time of mean ``--answer-delay`` s (sigma 0.5, the simulator's
distribution), answer, say "Hello?" and wait; unanswered numbers ring until the dialer gives up
after ``--ring-timeout`` s; busy numbers answer 486 at once. The contact list is shuffled so
that ``--contact-rate`` of the dials reach a person, 70% of the rest ring out and 30% are busy
(the simulator: 70% ring out, 20% busy, 10% fail at once). The campaign is predictive, abandon
cap 3%, no answering-machine detection, every retry delay longer than the run. An operator's
conversation lasts max(5 s, an exponential time of mean ``--talk``), as in the simulator; the
desk (this script) hangs the operator up then, and the wrap-up runs out on its own.

Occupancy is talk (on call, on hold) plus wrap-up over logged-in time, per operator from the
ACD's own state changes, from the campaign's start for ``--minutes``; the abandon rate is the
campaign's abandoned over live answers (the simulator's definition). The same parameters then go
to ``parley simulate-outbound`` for the same duration, once per seed of ``--sim-seeds`` (a short
run's figures scatter), with the live campaign's starting assumptions (talk 120 s, wrap-up 15 s:
``--initial-talk``, ``--initial-wrap``) and people who wait for an operator (``--patience``
60). Aim: live occupancy within 5 points of the simulator's mean.

Run it under the peer lock (the machine is shared):

    flock /tmp/parley-peer.lock .venv/bin/python bench/dialer_live_predictive.py
    flock /tmp/parley-peer.lock .venv/bin/python bench/dialer_live_predictive.py --minutes 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from parley.acd.outbound import net_changes
from parley.app import Node
from parley.dialer.contacts import Contact, PhoneNumber
from parley.dialer.model import NumberType
from parley.logs import configure_logging
from parley.store.specs import CampaignSpec, DeviceSpec, QueueSpec, RouteSpec, TrunkSpec
from parley.testing.media import SIPP_AWAIT_BYE, audio_packets, sipp_answer, write_pcap
from parley.testing.node import change as change_config
from parley.testing.node import demo_node
from parley.testing.peers import Sipp
from parley.testing.ports import free_port

CARRIER = "127.0.0.2"
PERSON, SILENT, BUSY = "+7495100", "+7495400", "+7495300"
BUSY_TIME = {"on_call", "on_hold", "wrap_up"}
CAMPAIGN = "live-predictive"


def scenario(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.xml"
    path.write_text(f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n'
                    f'  <recv request="INVITE" />\n{body}</scenario>\n')
    return path


def reply(status: str, extra: str = "") -> str:
    return f"""  <send><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]media[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
{extra}"""


def carriers(folder: Path, hello: Path, answer_delay_s: float) -> dict[str, Path]:
    """The person, the unanswered and the busy carrier's scenarios."""
    mu = math.log(answer_delay_s * 1000.0) - 0.125  # sipp: the log's mean, in ms
    answer = sipp_answer("[media_port]").replace("127.0.0.1", "[media_ip]")
    person = scenario(folder, "person", reply(
        "180 Ringing", f'  <pause distribution="lognormal" mean="{mu:.4f}" stdev="0.5"/>\n')
        + answer + '  <recv request="ACK" />\n'
        + f'  <nop><action><exec play_pcap_audio="{hello}"/></action></nop>\n'
        + SIPP_AWAIT_BYE)
    silent = scenario(folder, "silent", reply("180 Ringing") + """  <recv request="CANCEL"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]media[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]media[call_number]
[last_Call-ID:]
CSeq: 1 INVITE
Content-Length: 0

]]></send>
  <recv request="ACK"/>
""")
    busy = scenario(folder, "busy", reply("486 Busy Here") + '  <recv request="ACK"/>\n')
    return {PERSON: person, SILENT: silent, BUSY: busy}


class Occupancy:
    """Talk plus wrap-up per operator from the ACD's net state changes."""

    def __init__(self, operators: list[str]) -> None:
        self.operators = operators
        self.since: dict[str, float] = {}
        self.busy = 0.0
        self.start: float | None = None

    def observe(self, out: list[Any]) -> None:
        now = time.monotonic()
        for change in net_changes(out):
            if change.agent_id not in self.operators or self.start is None:
                continue
            was, new = change.old in BUSY_TIME, change.new in BUSY_TIME
            if new and not was:
                self.since[change.agent_id] = now
            elif was and not new and change.agent_id in self.since:
                self.busy += now - self.since.pop(change.agent_id)

    def share(self, end: float) -> float:
        assert self.start is not None
        busy = self.busy + sum(end - since for since in self.since.values())
        return busy / (len(self.operators) * (end - self.start))


async def desk(node: Node, operators: set[str], talk_s: float, rng: random.Random,
               stop: asyncio.Event, talks: list[float]) -> None:
    """Each operator hangs up after max(5 s, exponential of mean ``talk_s``) of talk."""
    ends: dict[str, float] = {}
    while not stop.is_set():
        now = time.monotonic()
        for channel in node.telephony.channels():
            if channel.called in operators and channel.is_up:
                end = ends.get(channel.id)
                if end is None:
                    talk = max(5.0, rng.expovariate(1.0 / talk_s))
                    ends[channel.id] = now + talk
                    talks.append(talk)
                elif now >= end:
                    channel.hangup()
        await asyncio.sleep(0.1)


def contacts(count: int, contact_rate: float, rng: random.Random) -> list[Contact]:
    made = []
    for i in range(count):
        u = rng.random()
        if u < contact_rate:
            prefix = PERSON
        elif (u - contact_rate) / (1.0 - contact_rate) < 0.7:
            prefix = SILENT
        else:
            prefix = BUSY
        number = f"{prefix}{i:04d}"
        made.append(Contact(f"c{i}", (PhoneNumber(number, NumberType.MOBILE,
                                                  ("Europe/Moscow",)),), {}))
    return made


async def live_run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    operators = [str(1001 + i) for i in range(args.operators)]
    limit = ("-timeout", f"{int(args.minutes * 60 + 180)}s", "-timeout_error")
    async with demo_node(folder, rtp_ports=400) as node:
        site = await node.store.config.site()
        await node.store.config.put_site(site.model_copy(update={"default_region": "RU"}))
        spoken = (await node.telephony.prompts.speak("Hello?")).pcm
        hello = write_pcap(folder / "hello.pcap", audio_packets(np.concatenate(
            [np.zeros(4000, np.int16), spoken, np.zeros(8000 * 150, np.int16)])))
        peers: list[Sipp] = []
        for prefix, path in carriers(folder, hello, args.answer_delay).items():
            name = f"carrier-{prefix[-3:]}"
            port = free_port(CARRIER)
            await change_config(node, "trunks", TrunkSpec(name=name, host=CARRIER, port=port,
                                                   auth="ip", allowed_ips=[CARRIER],
                                                   options_interval=0))
            await change_config(node, "routes", RouteSpec(name=f"to-{prefix[-3:]}",
                                                   match=rf"^\{prefix}\d{{4}}$",
                                                   trunks=[name]))
            peers.append(Sipp(folder / name, path, host=CARRIER, port=port, extra=limit))
        phone = scenario(folder, "operators", sipp_answer("[media_port]")
                         + '  <recv request="ACK" />\n' + SIPP_AWAIT_BYE)
        phone_port = free_port()
        peers.append(Sipp(folder / "operators", phone, port=phone_port,
                          extra=(*limit, "-rtp_echo")))
        await change_config(node, "queues", QueueSpec(name="dialout", wrap_up_s=args.wrap,
                                               members=operators, announce_every_s=0))
        for user in operators:
            await change_config(node, "devices", DeviceSpec(
                name=user, user=user, sip_password=f"pw{user}",
                static_contact=f"sip:{user}@127.0.0.1:{phone_port}"))
        for peer in peers:
            await peer.start()
        occupancy = Occupancy(operators)
        node.dialer.acd.observers.append(occupancy.observe)
        stop = asyncio.Event()
        talks: list[float] = []
        hanging = asyncio.create_task(desk(node, set(operators), args.talk, rng, stop, talks))
        try:
            await change_config(node, "campaigns", CampaignSpec(
                name=CAMPAIGN, mode="predictive", queue="dialout", agents=operators,
                caller_id="+74951110000", call_window="any", detect_machine=False,
                ring_timeout_s=int(args.ring_timeout), active=False,
                retry={"busy": "2h", "no_answer": "2h", "failed": "2h", "abandoned": "2h"}))
            listed = contacts(args.contacts, args.contact_rate, rng)
            ids = await node.store.campaigns.add_contacts(CAMPAIGN, listed)
            await node.dialer.contacts_added(CAMPAIGN, ids)
            for agent in node.dialer.acd.acd.agents.values():  # all ready at the start
                if agent.agent_id in operators and agent.state.value != "ready":
                    print(f"operator {agent.agent_id} is {agent.state.value}", file=sys.stderr)
            occupancy.start = time.monotonic()
            await node.dialer.control(CAMPAIGN, "start", requested_by="bench")
            end = occupancy.start + args.minutes * 60.0
            while time.monotonic() < end:
                await asyncio.sleep(min(30.0, end - time.monotonic()))
                figures = node.dialer.figures(CAMPAIGN)
                print(f"  {(time.monotonic() - occupancy.start) / 60:4.1f} min: "
                      f"{figures.stats.dialled} dialled, {figures.stats.live_answers} live, "
                      f"{figures.stats.abandoned} abandoned, occupancy "
                      f"{occupancy.share(time.monotonic()):.1%}", file=sys.stderr)
            share = occupancy.share(time.monotonic())
            figures = node.dialer.figures(CAMPAIGN)
            await node.dialer.control(CAMPAIGN, "pause", requested_by="bench")
            for _ in range(120):  # the calls in progress end
                if not node.dialer.calls.attempts:
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)
            stored = (await node.store.campaigns.attempts(CAMPAIGN, limit=100_000)).items
        finally:
            stop.set()
            await hanging
            node.dialer.acd.observers.remove(occupancy.observe)
            results = [await peer.stop() for peer in peers]
    stats = figures.stats
    rings = [(a.answered_at - a.started_at).total_seconds() for a in stored
             if a.answered_at is not None]
    return {
        "occupancy": share, "abandon_rate": stats.abandoned / max(1, stats.live_answers),
        "dialled": stats.dialled, "live_answers": stats.live_answers,
        "abandoned": stats.abandoned, "connected": stats.connected,
        "stored_attempts": len(stored),
        "measured_contact_rate": stats.live_answers / max(1, stats.dialled),
        "mean_ring_to_answer_s": statistics.mean(rings) if rings else 0.0,
        "mean_talk_s": statistics.mean(talks) if talks else 0.0,
        "sipp_failed": {Path(str(p.scenario)).stem: r.failed for p, r in zip(peers, results,
                                                                           strict=True)},
    }


def simulate(args: argparse.Namespace, seed: int,
             contact_rate: float | None = None) -> dict[str, Any]:
    rate = args.contact_rate if contact_rate is None else round(contact_rate, 4)
    command = ["simulate-outbound", "--agents", str(args.operators), "--mode", "predictive",
               "--contact-rate", str(rate), "--talk", str(args.talk),
               "--wrap", str(args.wrap), "--hours", f"{args.minutes / 60.0:.6f}",
               "--seed", str(seed), "--no-detect-machine", "--machine-share", "0",
               "--answer-delay", str(args.answer_delay),
               "--ring-timeout", str(args.ring_timeout), "--patience", "60",
               "--initial-talk", "120", "--initial-wrap", "15", "--json"]
    if seed == 1:
        print("simulator: parley " + " ".join(command), file=sys.stderr)
    done = subprocess.run([sys.executable, "-c", "from parley.cli import app; app()",
                           *command], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operators", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=9.0)
    parser.add_argument("--talk", type=float, default=20.0, help="mean talk time, s")
    parser.add_argument("--wrap", type=int, default=3, help="wrap-up, s")
    parser.add_argument("--contact-rate", type=float, default=0.4)
    parser.add_argument("--answer-delay", type=float, default=6.0, help="mean ring time, s")
    parser.add_argument("--ring-timeout", type=float, default=15.0)
    parser.add_argument("--contacts", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sim-seeds", type=int, default=20)
    args = parser.parse_args()
    configure_logging(level=logging.WARNING)  # the node's call log would drown the figures
    with tempfile.TemporaryDirectory(prefix="parley-dialer-live-") as temp:
        live = asyncio.run(live_run(args, Path(temp)))
    seeds = range(1, args.sim_seeds + 1)
    sims = [simulate(args, seed) for seed in seeds]
    # and at the contact rate the live list actually gave (its draw is random too)
    measured = [simulate(args, seed, live["measured_contact_rate"]) for seed in seeds]
    print(f"parameters: {args.operators} operators, {args.minutes:g} min, contact rate "
          f"{args.contact_rate:.0%}, talk {args.talk:g} s, wrap-up {args.wrap} s, ring "
          f"{args.answer_delay:g} s, ring timeout {args.ring_timeout:g} s, cap 3%")
    print(f"live:      occupancy {live['occupancy']:.1%}, abandon rate "
          f"{live['abandon_rate']:.2%} ({live['abandoned']} of {live['live_answers']} live "
          f"answers), {live['dialled']} dialled, {live['stored_attempts']} attempts stored")
    print(f"           measured: contact rate {live['measured_contact_rate']:.1%}, ring to "
          f"answer {live['mean_ring_to_answer_s']:.1f} s, talk {live['mean_talk_s']:.1f} s; "
          f"sipp failures {live['sipp_failed']}")
    for name, runs in (("simulator", sims), ("  at the live contact rate", measured)):
        occupancies = [s["occupancy"] for s in runs]
        abandons = [s["abandon_rate"] for s in runs]
        mean_occ = statistics.mean(occupancies)
        print(f"{name}: occupancy {mean_occ:.1%} (sd {statistics.stdev(occupancies):.1%}, "
              f"{min(occupancies):.1%}-{max(occupancies):.1%} over {len(runs)} seeds), "
              f"abandon rate {statistics.mean(abandons):.2%} (max {max(abandons):.2%}), "
              f"dialled {statistics.mean(s['calls_dialed'] for s in runs):.0f}, live answers "
              f"{statistics.mean(s['live_answers'] for s in runs):.0f}; occupancy gap "
              f"{(live['occupancy'] - mean_occ) * 100:+.1f} points (aim: within 5)")


if __name__ == "__main__":
    main()
