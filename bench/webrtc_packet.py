"""CPU per packet of the WebRTC leg, including relaying, against a plain relayed leg.

Method: in one process, a relay (``parley.net.relay.MediaRelay``) holds two calls: a WebRTC
endpoint (connected for real to :class:`parley.testing.webrtc.WebRtcPhone`: ICE check, DTLS,
SRTP keys) bridged to a plain endpoint, and two plain endpoints bridged. For each direction a
batch of packets is queued in the endpoint's socket (sent from loopback first, so the socket
holds them), then the endpoint's read callback drains it once, as the event loop would: the
process CPU time of that call divided by the packets forwarded is the cost per packet, from
``recvfrom`` to the other side's ``sendto``. Directions: browser→SIP (SRTP decrypted, then
relayed), SIP→browser (relayed, then encrypted), and plain both ways for comparison.

    .venv/bin/python bench/webrtc_packet.py --packets 2000 --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import time

PACKET = struct.Struct("!BBHII")
PAYLOAD = b"\xff" * 160


async def main() -> None:
    from parley.clock import MonotonicClock
    from parley.net.relay import MediaEndpoint, MediaRelay
    from parley.net.rtp_ports import RtpPortPool
    from parley.testing.ports import free_port_block
    from parley.testing.webrtc import WebRtcPhone

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    first = free_port_block(16)
    relay = MediaRelay(RtpPortPool("127.0.0.1", first, first + 15), MonotonicClock(),
                       timeout=3600, consent_timeout=3600)
    loop = asyncio.get_running_loop()

    def sink() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel drops
        return sock

    # the WebRTC call: phone <-> webrtc endpoint <-> plain endpoint <-> desk (a sink)
    phone = WebRtcPhone().open()
    webrtc = relay.open_webrtc("browser")
    webrtc.configure(phone.ufrag, phone.pwd, (("sha-256", phone.certificate.fingerprint),),
                     "server")
    phone.target(("127.0.0.1", webrtc.port), webrtc.ice.local_ufrag, webrtc.ice.local_pwd,
                 relay.certificate.fingerprint)
    await phone.connect()
    phone.stop_reading()
    phone.stop_consent()
    desk = sink()
    sip_side = relay.open("desk")
    sip_side.set_remote(*desk.getsockname())
    sip_side.latched = True
    relay.bridge(webrtc, sip_side)
    # the plain call: sink <-> a <-> b <-> sink
    left, right = sink(), sink()
    plain_a, plain_b = relay.open("a"), relay.open("b")
    plain_a.set_remote(*left.getsockname())
    plain_b.set_remote(*right.getsockname())
    plain_a.latched = plain_b.latched = True
    relay.bridge(plain_a, plain_b)
    sender = sink()  # the desk phones' packets come from here; what goes back is dropped
    for endpoint in (sip_side, plain_a, plain_b):
        endpoint.latched = False  # each latches onto the sender at its first packet
    for endpoint in (webrtc, sip_side, plain_a, plain_b):
        loop.remove_reader(endpoint.rtp.fileno())  # the bench drives the callbacks itself
    sequence = 0

    def fill(endpoint: MediaEndpoint, count: int, *, srtp: bool) -> None:
        nonlocal sequence
        for _ in range(count):
            sequence += 1
            packet = PACKET.pack(0x80, 0, sequence & 0xFFFF, sequence * 160, 0x1234) + PAYLOAD
            if srtp:
                phone.send_rtp(packet)
            else:
                sender.sendto(packet, ("127.0.0.1", endpoint.port))

    def drain(endpoint: MediaEndpoint) -> tuple[float, int]:
        target = endpoint.peer
        assert target is not None
        before = target.sent_packets
        started = time.process_time()
        endpoint._on_rtp()
        return time.process_time() - started, target.sent_packets - before

    results: dict[str, list[float]] = {"browser->sip (decrypt+relay)": [],
                                       "sip->browser (relay+encrypt)": [],
                                       "plain a->b": [], "plain b->a": []}
    for _ in range(args.rounds):
        for name, endpoint, srtp in (("browser->sip (decrypt+relay)", webrtc, True),
                                     ("sip->browser (relay+encrypt)", sip_side, False),
                                     ("plain a->b", plain_a, False),
                                     ("plain b->a", plain_b, False)):
            fill(endpoint, args.packets, srtp=srtp)
            await asyncio.sleep(0.01)
            cpu, forwarded = drain(endpoint)
            if forwarded:
                results[name].append(cpu * 1e6 / forwarded)
    print(f"{'direction':>30} {'us/packet (median)':>20} {'min':>8}")
    for name, values in results.items():
        values.sort()
        if values:
            print(f"{name:>30} {values[len(values) // 2]:>20.2f} {values[0]:>8.2f}")
    webrtc_mean = (sorted(results["browser->sip (decrypt+relay)"])[args.rounds // 2]
                   + sorted(results["sip->browser (relay+encrypt)"])[args.rounds // 2]) / 2
    plain_mean = (sorted(results["plain a->b"])[args.rounds // 2]
                  + sorted(results["plain b->a"])[args.rounds // 2]) / 2
    profile = webrtc.dtls.profile if webrtc.dtls else ""
    print(f"WebRTC call {webrtc_mean:.2f} us/packet, plain call {plain_mean:.2f} us/packet, "
          f"ratio {webrtc_mean / plain_mean:.2f}x; SRTP profile {profile}")
    await phone.close()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
