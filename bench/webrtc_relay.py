"""WebRTC-to-SIP calls through the relay against plain SIP-to-SIP calls, in the same run: CPU
per packet and per call of the WebRTC leg (ICE-lite, DTLS-SRTP, rtcp-mux).

Method (as ``bench/rtp_relay.py``): the relay (``parley.net.relay.MediaRelay``, uvloop) runs
alone in its own process with N bridged calls. In the *plain* run each call is two plain
endpoints; in the *webrtc* run each call is one WebRTC endpoint (``open_webrtc``, configured
with the generator's ICE credentials and certificate fingerprint, DTLS server) bridged to one
plain endpoint. The load generator in this process plays both phones of every call: the
browser side is :class:`parley.testing.webrtc.WebRtcPhone` (ICE check with USE-CANDIDATE,
DTLS client over pyOpenSSL, SRTP with pylibsrtp: the same libraries), consent checks every
2.5 s (as Chromium checks a working pair); the SIP side a plain socket. Every 20 ms each
phone sends one 20 ms PCMU packet (SRTP from the browser), so the relay forwards 100·N
packets per second: half of them decrypted and half encrypted in the webrtc run. After the
handshakes and a warm-up, packets stamped inside the window are counted when sent and when
they come back on a sample of about 50 calls (the browser side decrypts them, which shows the
keys agree). CPU is the relay process's user + system time from /proc over the window; per
packet forwarded and per call.

    .venv/bin/python bench/webrtc_relay.py --calls 250 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import struct
import sys

PACKET = struct.Struct("!BBHII")
PAYLOAD = b"\xff" * 160


def _credentials(index: int) -> tuple[str, str]:
    return f"b{index:05d}", f"benchmark-password-{index:06d}"


def relay_main(mode: str, calls: int, first: int, last: int, fingerprint: str) -> None:
    """The relay process: N calls; prints their ports and fingerprint, runs until SIGTERM."""
    import gc

    import uvloop

    from parley.clock import MonotonicClock
    from parley.net.relay import MediaEndpoint, MediaRelay
    from parley.net.rtp_ports import RtpPortPool

    async def main() -> None:
        relay = MediaRelay(RtpPortPool("127.0.0.1", first, last), MonotonicClock(),
                           timeout=3600, consent_timeout=3600)
        calls_out = []
        for index in range(calls):
            a: MediaEndpoint
            if mode == "webrtc":
                webrtc = relay.open_webrtc("browser")
                webrtc.configure(*_credentials(index), (("sha-256", fingerprint),), "server")
                a = webrtc
                calls_out.append((a.port, webrtc.ice.local_ufrag, webrtc.ice.local_pwd))
            else:
                a = relay.open("a")
                calls_out.append((a.port, "", ""))
            b = relay.open("b")
            relay.bridge(a, b)
            calls_out[-1] = (*calls_out[-1], b.port)
        gc.collect()
        gc.freeze()
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        sys.stdout.write(json.dumps({"calls": calls_out,
                                     "fingerprint": relay.certificate.fingerprint}) + "\n")
        sys.stdout.flush()
        endpoints = list(relay._endpoints)
        with contextlib.suppress(asyncio.CancelledError):
            await relay.run()
        received = sum(endpoint.received_packets for endpoint in endpoints)
        sent = sum(endpoint.sent_packets for endpoint in endpoints)
        sys.stdout.write(json.dumps({"received": received, "sent": sent}) + "\n")
        sys.stdout.flush()

    uvloop.run(main())


async def measure(mode: str, calls: int, seconds: float, warmup: float = 1.0
                  ) -> dict[str, float]:
    from parley.media.dtls import DtlsCertificate
    from parley.testing.peers import process_cpu_seconds
    from parley.testing.ports import free_port_block
    from parley.testing.webrtc import WebRtcPhone

    certificate = DtlsCertificate.generate("load-generator")
    first = free_port_block(calls * 4 + 4)
    relay = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", mode, str(calls), str(first),
        str(first + calls * 4 + 3), certificate.fingerprint, stdout=asyncio.subprocess.PIPE)
    assert relay.stdout is not None
    setup = json.loads(await relay.stdout.readline())
    loop = asyncio.get_running_loop()
    every = max(1, calls // 50)
    phones: list[WebRtcPhone] = []
    browser_targets: list[WebRtcPhone] = []
    plain: list[tuple[socket.socket, tuple[str, int]]] = []
    sampled_plain: list[socket.socket] = []
    sampled_phones: list[WebRtcPhone] = []
    for index, (a_port, ufrag, pwd, b_port) in enumerate(setup["calls"]):
        sampled = index % every == 0
        if mode == "webrtc":
            phone = WebRtcPhone(certificate=certificate, consent_interval=2.5).open()
            local_ufrag, local_pwd = _credentials(index)
            phone.ufrag, phone.pwd = local_ufrag, local_pwd
            phone.target(("127.0.0.1", a_port), ufrag, pwd, setup["fingerprint"])
            phones.append(phone)
            browser_targets.append(phone)
            if sampled:
                sampled_phones.append(phone)
        for port in ((b_port,) if mode == "webrtc" else (a_port, b_port)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20 if sampled else 4096)
            if sampled:
                sampled_plain.append(sock)
            plain.append((sock, ("127.0.0.1", port)))
    handshake_cpu_start = process_cpu_seconds(relay.pid)
    if phones:
        for start in range(0, len(phones), 50):  # in batches, as browsers would not all
            await asyncio.gather(*(phone.connect(within=20) for phone in phones[start:start + 50]))
    handshake_cpu = process_cpu_seconds(relay.pid) - handshake_cpu_start
    for phone in phones:
        if phone not in sampled_phones:
            phone.stop_reading()
    window = {"start": 1 << 30, "end": 1 << 30}
    counts = {"sent": 0, "received": 0, "sampled_sent": 0}

    def readable(sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            tick = PACKET.unpack_from(data)[3] // 160
            if window["start"] <= tick < window["end"]:
                counts["received"] += 1

    for sock in sampled_plain:
        loop.add_reader(sock.fileno(), readable, sock)
    sampled_set = set(sampled_plain)
    sampled_phone_set = set(sampled_phones)
    tick = 0
    started = loop.time()
    cpu_start = cpu_end = 0.0
    warmup_ticks, window_ticks = int(warmup / 0.02), int(seconds / 0.02)
    window["start"], window["end"] = warmup_ticks, warmup_ticks + window_ticks
    try:
        while tick < warmup_ticks + window_ticks:
            if tick == warmup_ticks:
                cpu_start = process_cpu_seconds(relay.pid)
            packet = PACKET.pack(0x80, 0, tick & 0xFFFF, tick * 160, 0x1234) + PAYLOAD
            counting = warmup_ticks <= tick
            for sock, target in plain:
                with contextlib.suppress(BlockingIOError):
                    sock.sendto(packet, target)
                    if counting:
                        counts["sent"] += 1
                        if sock in sampled_set:
                            counts["sampled_sent"] += 1
            for phone in browser_targets:
                phone.send_rtp(packet)
                if counting:
                    counts["sent"] += 1
                    if phone in sampled_phone_set:
                        counts["sampled_sent"] += 1
            tick += 1
            delay = started + tick * 0.02 - loop.time()
            await asyncio.sleep(max(0.0, delay))
        cpu_end = process_cpu_seconds(relay.pid)
        await asyncio.sleep(0.5)
    finally:
        for sock in sampled_plain:
            loop.remove_reader(sock.fileno())
        relay.send_signal(signal.SIGTERM)
        totals = json.loads(await relay.stdout.readline() or b"{}")
        await relay.wait()
        for sock, _ in plain:
            sock.close()
        for phone in phones:
            await phone.close()
    for phone in sampled_phones:
        counts["received"] += sum(1 for data in phone.received
                                  if window["start"] <= PACKET.unpack_from(data)[3] // 160
                                  < window["end"])
    # a sampled call's two phones are both sampled: what one sends the other should get
    loss = 1 - counts["received"] / max(counts["sampled_sent"], 1)
    cpu = cpu_end - cpu_start
    return {"loss": loss, "cpu_us_per_packet": cpu * 1e6 / max(counts["sent"], 1),
            "cpu_ms_per_call_second": cpu * 1e3 / calls / seconds,
            "core_share": cpu / seconds, "handshake_ms_per_call": handshake_cpu * 1e3 / calls,
            "forwarded": float(totals.get("sent", 0)), "received": float(totals.get("received", 0))}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[250])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"{'mode':>7} {'calls':>6} {'packets/s':>10} {'loss %':>7} {'us/packet':>10} "
          f"{'ms CPU/call-s':>14} {'core':>6} {'handshake ms/call':>18}")
    for _ in range(args.runs):
        for calls in args.calls:
            figures = {}
            for mode in ("plain", "webrtc"):
                result = figures[mode] = await measure(mode, calls, args.seconds)
                print(f"{mode:>7} {calls:>6} {calls * 100:>10} {result['loss'] * 100:>7.3f} "
                      f"{result['cpu_us_per_packet']:>10.2f} "
                      f"{result['cpu_ms_per_call_second']:>14.3f} "
                      f"{result['core_share']:>6.2f} {result['handshake_ms_per_call']:>18.2f}",
                      flush=True)
            ratio = (figures["webrtc"]["cpu_ms_per_call_second"]
                     / max(figures["plain"]["cpu_ms_per_call_second"], 1e-9))
            print(f"        webrtc/plain CPU per call: {ratio:.2f}x", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--serve":
        relay_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                   sys.argv[6])
    else:
        import uvloop

        uvloop.run(main())
