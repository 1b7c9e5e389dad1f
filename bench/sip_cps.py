"""Call set-ups per second through the B2BUA, and CPU milliseconds per call of the Parley process.

Method: Parley runs in its own process on uvloop (``parley.testing.peers.ParleyProcess``, the
same engine ``parley demo`` runs) with a sipp phone behind a static user. A sipp client (trusted
as a trunk peer, so no digest round trip) places ``--calls`` calls at each rate of ``--rates``:
INVITE, 100, 180, 200, ACK, BYE, 200 on the caller's leg and the same on the callee's leg, with
SDP on both, an RTP port pair opened and closed per leg, no media sent. A step is clean when
sipp reports every call successful and none failed. CPU time is read from /proc for the Parley
process only (user + system) over the step, divided by the calls of the step.

    .venv/bin/python bench/sip_cps.py --rates 100 200 300 400 500 --calls 3000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from parley.testing.peers import ParleyProcess, Sipp
from parley.testing.ports import free_port, free_port_block


async def step(workdir: Path, rate: int, calls: int) -> tuple[bool, float, float, int, int]:
    phone_port, client_port = free_port(), free_port()
    rtp_first = free_port_block(2000)
    server = ParleyProcess(workdir / "parley", rtp_ports=(rtp_first, rtp_first + 1999),
                           static_users={"3000": f"sip:3000@127.0.0.1:{phone_port}"},
                           trunks=[("127.0.0.1", client_port)])
    phone = Sipp(workdir / "phone", "uas", port=phone_port)
    limit = int(calls / rate) + 20  # a step that falls behind is cut off and counted as failed
    client = Sipp(workdir / "client", "uac", service="3000", port=client_port, calls=calls,
                  rate=rate, extra=("-l", str(rate * 4), "-timeout", f"{limit}s",
                                    "-timeout_error", "-recv_timeout", "10000"))
    try:
        await server.start()
        await phone.start()
        result, cpu, elapsed = await server.measure(client, limit + 15)
    finally:
        await client.stop()
        await phone.stop()
        await server.stop()
    clean = result.exit_code == 0 and result.failed == 0 and result.successful == calls
    return clean, cpu * 1000 / max(calls, 1), calls / elapsed, result.successful, result.failed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[100, 200, 300, 400, 500])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    print(f"{'rate/s':>7} {'calls':>6} {'ok':>6} {'failed':>6} {'achieved/s':>10} "
          f"{'CPU ms/call':>11}  clean")
    best = 0
    with tempfile.TemporaryDirectory(prefix="parley-sip-cps-") as tmp:
        for rate in args.rates:
            clean, cpu_ms, achieved, ok, failed = await step(Path(tmp) / str(rate), rate,
                                                             args.calls)
            print(f"{rate:>7} {args.calls:>6} {ok:>6} {failed:>6} {achieved:>10.1f} "
                  f"{cpu_ms:>11.2f}  {'yes' if clean else 'NO'}", flush=True)
            if clean:
                best = max(best, rate)
    print(f"highest clean rate: {best} calls/s")


if __name__ == "__main__":
    asyncio.run(main())
