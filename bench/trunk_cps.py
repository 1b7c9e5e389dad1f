"""Outbound call set-ups per second through a trunk whose carrier challenges every INVITE, and
CPU milliseconds per call of Parley.

Method: Parley's telephony runs in this process on uvloop (the same engine a node runs) with
one trunk to a sipp carrier on 127.0.0.2 (``tests/integration/data/carrier_answer_digest.xml``:
401 to each INVITE, the digest answer checked, 180, 200 with SDP, ACK; Parley hangs up at once
with BYE, 200). Calls are placed with ``Telephony.dial_out`` at each rate of ``--rates`` for
``--calls`` calls, an RTP port pair opened and closed per call, no media sent. A step is
clean when every call was answered, sipp counts every call successful, and the calls kept
up with the rate (at least 95 % of it achieved). CPU time is this
process's (user + system) over the step, which holds only Parley and the loop that places
the calls, divided by the calls of the step; sipp runs in its own process.

    .venv/bin/python bench/trunk_cps.py --rates 50 100 150 200 --calls 1000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

import structlog

from parley.clock import MonotonicClock
from parley.telephony.channel import Channel
from parley.telephony.server import Telephony, TelephonySettings
from parley.telephony.trunks import TrunkCall, TrunkConfig
from parley.telephony.users import MemoryDirectory
from parley.testing.peers import Sipp
from parley.testing.ports import free_port, free_port_block

CARRIER = "127.0.0.2"
SCENARIO = Path(__file__).resolve().parent.parent / "tests/integration/data" \
    / "carrier_answer_digest.xml"


async def one_call(telephony: Telephony, number: str) -> bool:
    channel: Channel = await telephony.dial_out(
        [TrunkCall("carrier", number, caller_id="+74951110000")], timeout=10)
    answered = await channel.wait_answered(within=10)
    channel.hangup()
    return answered


async def step(workdir: Path, rate: int, calls: int) -> tuple[bool, float, float, int]:
    rtp_first = free_port_block(2000)
    telephony = Telephony(
        TelephonySettings(host="127.0.0.1", sip_port=free_port(),
                          rtp_ports=(rtp_first, rtp_first + 1999), data_dir=workdir / "data"),
        MemoryDirectory(), MonotonicClock())
    limit = int(calls / rate) + 20
    carrier = Sipp(workdir / "carrier", SCENARIO, host=CARRIER, port=free_port(CARRIER),
                   calls=calls, extra=("-timeout", f"{limit}s", "-timeout_error"))
    async with telephony:
        await carrier.start()
        await telephony.set_trunks([TrunkConfig(
            "carrier", CARRIER, carrier.port, kind="peer", username="acct17",
            password="secret", max_channels=100_000, options_interval=0)])  # noqa: S106
        tasks: list[asyncio.Task[bool]] = []
        loop = asyncio.get_running_loop()
        cpu0, wall0 = time.process_time(), loop.time()
        for index in range(calls):
            due = wall0 + index / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(loop.create_task(one_call(telephony, f"7495{index:07d}")))
        answered = sum(await asyncio.gather(*tasks))
        cpu, elapsed = time.process_time() - cpu0, loop.time() - wall0
        result = await carrier.wait(within=limit + 15)
    achieved = answered / elapsed
    clean = answered == calls and result.successful == calls and result.failed == 0 \
        and achieved >= 0.95 * rate
    return clean, cpu * 1000 / calls, achieved, answered


async def main() -> None:
    # Warnings only, as a node under load is run (ParleyProcess does the same).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 100, 150, 200])
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    print(f"{'rate/s':>7} {'calls':>6} {'answered':>8} {'achieved/s':>10} {'CPU ms/call':>11}"
          "  clean")
    best = 0
    with tempfile.TemporaryDirectory(prefix="parley-trunk-cps-") as tmp:
        for rate in args.rates:
            clean, cpu_ms, achieved, answered = await step(Path(tmp) / str(rate), rate,
                                                           args.calls)
            print(f"{rate:>7} {args.calls:>6} {answered:>8} {achieved:>10.1f} {cpu_ms:>11.2f}"
                  f"  {'yes' if clean else 'NO'}", flush=True)
            if clean:
                best = max(best, rate)
    print(f"highest clean rate: {best} calls/s")


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(main())
    else:
        uvloop.run(main())
