"""Concurrent bridged G.711 calls the RTP relay forwards with under 0.1% loss, and CPU per packet.

Method: the relay (``parley.net.relay.MediaRelay``, uvloop, ``add_reader`` per socket, read
until empty, forward without decoding) runs alone in its own process with N bridged endpoint
pairs from its port pool. A load generator in this process plays both phones of every call:
2N sockets on loopback, each sending one 172-byte PCMU packet (20 ms of audio) every 20 ms to
its relay port, so the relay forwards 100·N packets per second. After a warm-up (the relay
latches onto each phone's address), packets stamped inside a measurement window are counted
when sent and when they come back out of the relay, on a sample of about 100 calls (reading
every packet back in Python would make the generator the bottleneck); loss = 1 − received/sent,
and the relay reports how many packets it received and forwarded in all. The relay's CPU
time (user + system, from /proc) over the window divided by the packets it forwarded gives µs
per packet. One relay process is one core; the generator needs a core of its own at high N,
so on a 2-core machine shared with other work the highest clean N is a lower bound.

    .venv/bin/python bench/rtp_relay.py --calls 100 250 500 750 1000 --seconds 5

``--kernel-forwarding`` turns ``media.kernel_forwarding`` on in the relay (root and Debian's
nftables): once the phones have latched, every bridge is forwarded by nftables. The kernel's
work then runs in the generator's ``sendto`` (loopback delivers within the call), so the
generator's CPU and the whole machine's (busy time from /proc/stat, all cores) per packet are
printed too; on a shared machine the latter includes other work.

``--relay-workers N`` turns ``media.relay_workers`` on in the relay: once the phones have
latched, worker processes forward every bridge; "relay CPU" is then the relay's own process
(its counts, twice a second) and "workers us" the workers' CPU per packet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import socket
import struct
import sys
from pathlib import Path

PACKET = struct.Struct("!BBHII")
PAYLOAD = b"\xff" * 160


def machine_busy_seconds() -> float:
    """Busy CPU seconds of every core so far (/proc/stat's ``cpu`` line)."""
    import os

    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def relay_main(calls: int, first: int, last: int, kernel: bool = False,
               workers: int = 0) -> None:
    """The relay process: N bridged pairs; prints their ports, runs until SIGTERM."""
    import gc

    import structlog
    import uvloop

    from parley.clock import MonotonicClock
    from parley.net.relay import MediaRelay

    # stdout carries the ports and the totals to the generator: the log goes to stderr
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    from parley.net.rtp_ports import RtpPortPool

    async def main() -> None:
        relay = MediaRelay(RtpPortPool("127.0.0.1", first, last), MonotonicClock(),
                           timeout=3600, kernel_forwarding=kernel, relay_workers=workers)
        pairs = []
        for _ in range(calls):
            a, b = relay.open("a"), relay.open("b")
            relay.bridge(a, b)
            pairs.append((a.port, b.port))
        gc.collect()
        gc.freeze()
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        sys.stdout.write(json.dumps(pairs) + "\n")
        sys.stdout.flush()
        endpoints = list(relay._endpoints)
        with contextlib.suppress(asyncio.CancelledError):
            await relay.run()
        received = sum(endpoint.received_packets for endpoint in endpoints)
        sent = sum(endpoint.sent_packets for endpoint in endpoints)
        sys.stdout.write(json.dumps({"received": received, "sent": sent}) + "\n")
        sys.stdout.flush()

    uvloop.run(main())


async def measure(calls: int, seconds: float, warmup: float = 1.5, kernel: bool = False,
                  workers: int = 0) -> tuple[float, float, float, float, float]:
    """Loss, and CPU µs per packet sent: the relay's, the generator's, the machine's, the
    relay's workers'."""
    from parley.testing.peers import children_cpu_seconds, process_cpu_seconds
    from parley.testing.ports import free_port_block

    first = free_port_block(calls * 4 + 4)
    relay = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(calls), str(first), str(first + calls * 4 + 3),
        "1" if kernel else "0", str(workers), stdout=asyncio.subprocess.PIPE)
    assert relay.stdout is not None
    pairs = json.loads(await relay.stdout.readline())
    loop = asyncio.get_running_loop()
    sockets: list[tuple[socket.socket, tuple[str, int]]] = []
    # The generator reads back a sample of about 100 calls (reading all 100·N packets per
    # second in Python would make the generator, not the relay, the bottleneck); the other
    # phones' sockets stay open with small buffers and the kernel drops what they receive.
    every = max(1, calls // 100)
    sampled: list[socket.socket] = []
    for index, (a_port, b_port) in enumerate(pairs):
        for port in (a_port, b_port):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            if index % every == 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                sampled.append(sock)
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sockets.append((sock, ("127.0.0.1", port)))
    window = {"start": 1 << 30, "end": 1 << 30}
    counts = {"sent": 0, "received": 0, "sampled_sent": 0}
    sampled_set = set(sampled)

    def readable(sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            tick = PACKET.unpack_from(data)[3] // 160
            if window["start"] <= tick < window["end"]:
                counts["received"] += 1

    for sock in sampled:
        loop.add_reader(sock.fileno(), readable, sock)
    tick = 0
    started = loop.time()
    cpu_start = cpu_end = own_start = own_end = busy_start = busy_end = 0.0
    workers_start = workers_end = 0.0
    warmup_ticks, window_ticks = int(warmup / 0.02), int(seconds / 0.02)
    window["start"], window["end"] = warmup_ticks, warmup_ticks + window_ticks
    try:
        while tick < warmup_ticks + window_ticks:
            if tick == warmup_ticks:
                cpu_start = process_cpu_seconds(relay.pid)
                workers_start = children_cpu_seconds(relay.pid)
                own_start, busy_start = own_cpu_seconds(), machine_busy_seconds()
            header = PACKET.pack(0x80, 0, tick & 0xFFFF, tick * 160, 0x1234) + PAYLOAD
            for sock, target in sockets:
                try:
                    sock.sendto(header, target)
                    if warmup_ticks <= tick:
                        counts["sent"] += 1
                        if sock in sampled_set:
                            counts["sampled_sent"] += 1
                except BlockingIOError:
                    pass
            tick += 1
            delay = started + tick * 0.02 - loop.time()
            await asyncio.sleep(max(0.0, delay))
        cpu_end = process_cpu_seconds(relay.pid)
        workers_end = children_cpu_seconds(relay.pid)
        own_end, busy_end = own_cpu_seconds(), machine_busy_seconds()
        await asyncio.sleep(0.5)
    finally:
        for sock in sampled:
            loop.remove_reader(sock.fileno())
        relay.send_signal(signal.SIGTERM)
        totals = json.loads(await relay.stdout.readline() or b"{}")
        await relay.wait()
        for sock, _ in sockets:
            sock.close()
    # Each sampled phone's packets come out of the other phone's socket of the same call,
    # which is sampled too, so sampled_sent is what the sampled sockets should receive.
    loss = 1 - counts["received"] / max(counts["sampled_sent"], 1)
    relay_drop = 1 - totals.get("sent", 0) / max(totals.get("received", 1), 1)
    print(f"        relay received {totals.get('received', 0)} packets, forwarded "
          f"{totals.get('sent', 0)} ({relay_drop * 100:.3f}% not forwarded, incl. warm-up)")
    per_packet = 1e6 / max(counts["sent"], 1)
    return (loss, (cpu_end - cpu_start) * per_packet, (own_end - own_start) * per_packet,
            (busy_end - busy_start) * per_packet, (workers_end - workers_start) * per_packet)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[100, 250, 500, 750, 1000])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--kernel-forwarding", action="store_true",
                        help="media.kernel_forwarding on in the relay (root, nftables)")
    parser.add_argument("--relay-workers", type=int, default=0, metavar="N",
                        help="media.relay_workers in the relay: N worker processes forward")
    args = parser.parse_args()
    print(f"{'calls':>6} {'packets/s':>10} {'loss %':>8} {'relay CPU us/packet':>20} "
          f"{'workers us':>10} {'generator us':>12} {'machine us':>10}  clean")
    best = 0
    for calls in args.calls:
        loss, cpu_us, own_us, busy_us, workers_us = await measure(
            calls, args.seconds, kernel=args.kernel_forwarding, workers=args.relay_workers)
        clean = loss < 0.001
        best = max(best, calls) if clean else best
        print(f"{calls:>6} {calls * 100:>10} {loss * 100:>8.3f} {cpu_us:>20.1f} "
              f"{workers_us:>10.1f} {own_us:>12.1f} {busy_us:>10.1f}  "
              f"{'yes' if clean else 'NO'}", flush=True)
    print(f"highest clean load: {best} concurrent calls")


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--serve":
        relay_main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1",
                   int(sys.argv[6]))
    else:
        import uvloop

        uvloop.run(main())
