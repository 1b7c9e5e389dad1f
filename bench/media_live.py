"""Calls playing a prompt through the live Parley server: CPU per call and frames on time.

Method: Parley's ``Telephony`` runs in this process on uvloop with a public number whose
handler answers and plays a stock prompt in a loop (``channel.play(..., loop=True)``); a sipp
client places ``--calls`` concurrent calls to it (built-in ``uac`` scenario, µ-law SDP) and
holds them. Once every call plays, for ``--seconds`` the script reads this process's CPU time
(``time.process_time``: the SIP engine, the relay and the media shell; sipp is another
process) and the media shell's tick timing: how late each wake-up of the 20 ms ticker (10
phases) was served after its deadline, and how many were more than 2 ms late. Packets sent are
counted on the RTP endpoints. All on one loopback machine, sipp sharing the two cores.

    .venv/bin/python bench/media_live.py --calls 50 100 200 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
import time
from pathlib import Path

import structlog

from parley.clock import MonotonicClock
from parley.telephony.channel import Channel
from parley.telephony.server import Telephony, TelephonySettings
from parley.telephony.users import MemoryDirectory
from parley.testing.peers import Sipp
from parley.testing.ports import free_port, free_port_block


async def step(workdir: Path, calls: int, seconds: float) -> dict[str, float]:
    rtp_first = free_port_block(2 * calls + 20)
    settings = TelephonySettings(host="127.0.0.1", sip_port=free_port(),
                                 rtp_ports=(rtp_first, rtp_first + 2 * calls + 19),
                                 public_numbers=frozenset({"900"}), data_dir=workdir / "data",
                                 media_timeout=3600)
    server = Telephony(settings, MemoryDirectory(), MonotonicClock())

    async def announce(channel: Channel) -> None:
        channel.answer()
        channel.play("queue-thereare", loop=True)
        await channel.wait_ended()

    server.route("900", announce, public=False)
    hold_ms = int((seconds + calls / 50 + 10) * 1000)
    client = Sipp(workdir / f"uac-{calls}", "uac", service="900", calls=calls, rate=50,
                  extra=("-l", str(calls), "-d", str(hold_ms)))
    async with server:
        client.target = f"127.0.0.1:{server.sip_port}"
        try:
            await client.start()
            deadline = time.monotonic() + calls / 50 + 20
            while len(server.media.channels) < calls and \
                    time.monotonic() < deadline:  # noqa: ASYNC110 - polls a count, no event
                await asyncio.sleep(0.1)
            playing = len(server.media.channels)
            await asyncio.sleep(1.0)
            server.media.timing.reset()
            sent_before = sum(c.media.sent_packets for c in server.engine.active_channels)
            cpu_before, wall_before = time.process_time(), time.monotonic()
            await asyncio.sleep(seconds)
            cpu = time.process_time() - cpu_before
            wall = time.monotonic() - wall_before
            sent = sum(c.media.sent_packets for c in server.engine.active_channels) - sent_before
            timing = server.media.timing
        finally:
            with contextlib.suppress(Exception):
                await client.stop()
    return {"calls": playing, "cpu_pct": 100 * cpu / wall, "cpu_ms_per_call_s":
            1000 * cpu / wall / max(playing, 1), "pps": sent / wall,
            "late_mean_ms": 1000 * timing.total_late / max(timing.ticks, 1),
            "late_max_ms": 1000 * timing.max_late,
            "over_2ms_pct": 100 * timing.over_2ms / max(timing.ticks, 1)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"{'calls':>6} {'cpu %':>6} {'ms cpu/call/s':>13} {'packets/s':>10} "
          f"{'late mean ms':>12} {'late max ms':>11} {'>2 ms %':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for calls in args.calls:
            r = await step(Path(tmp), calls, args.seconds)
            print(f"{r['calls']:>6.0f} {r['cpu_pct']:>6.1f} {r['cpu_ms_per_call_s']:>13.2f} "
                  f"{r['pps']:>10.0f} {r['late_mean_ms']:>12.2f} {r['late_max_ms']:>11.2f} "
                  f"{r['over_2ms_pct']:>8.2f}")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
