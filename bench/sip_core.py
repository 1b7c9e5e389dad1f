"""CPU cost of the pure SIP core per message and per call, on one core.

Method: a captured baresip INVITE (with SDP) is parsed N times as N different calls' INVITEs
(their own Call-ID, From tag, branch and Contact, so that nothing learnt from one helps the
next), then N times as the same message (a dialog's From and To values recur in each of its
messages and are shared from a cache), and serialised N times; then N whole
server-side calls run through one ``TransactionLayer`` and ``Dialog``: INVITE in (100 Trying
sent), 180 and 200 sent, ACK in, BYE in, 200 sent, each request parsed from bytes and each
response serialised to bytes, timers started and cancelled as commands (no event loop, no
sockets: the transports and the B2BUA add their own cost, measured by ``bench/sip_cps``).
Finally a digest verification (SHA-256, qop=auth). CPU time from ``time.process_time``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from parley.sip.auth import DigestAuthenticator, authorize_request, compute_ha1
from parley.sip.dialog import Dialog
from parley.sip.headers import NameAddr, Via
from parley.sip.message import SipRequest, build_response, parse_message
from parley.sip.transaction import Send, TransactionLayer
from parley.sip.uri import SipUri

DATA = Path(__file__).resolve().parents[1] / "tests" / "sip" / "data"
INVITE = (DATA / "012-baresip-req-invite.sip").read_bytes()
SOURCE = ("127.0.0.1", 38210)


def distinct_invite(i: int) -> bytes:
    """The captured INVITE as call number ``i`` would send it."""
    return (INVITE.replace(b"c70612d09c1e3160", b"%016x" % i)
            .replace(b"8e89eb3e0f18f1ad", b"%016x" % (i + 7))
            .replace(b"z9hG4bKf61ac2ce7c6192b7", b"z9hG4bK%016x" % i)
            .replace(b"1001-0x55ce0c89a030", b"1001-0x%012x" % i))


def per_op(label: str, count: int, started: float) -> None:
    elapsed = time.process_time() - started
    print(f"{label:<44} {elapsed / count * 1e6:8.1f} us  ({count / elapsed:,.0f}/s)")


def calls(count: int) -> None:
    layer = TransactionLayer()
    template = INVITE.replace(b"z9hG4bKf61ac2ce7c6192b7", b"z9hG4bK%08d")
    template = template.replace(b"Call-ID: c70612d09c1e3160", b"Call-ID: call-%08d")
    contact = NameAddr(SipUri.parse("sip:parley@127.0.0.1:5060"))
    via = Via("UDP", "127.0.0.1", 5060)
    wire = 0
    started = time.process_time()
    for n in range(count):
        invite = parse_message(template.replace(b"%08d", b"%08d" % n))
        assert isinstance(invite, SipRequest)
        out = layer.receive(invite, SOURCE, "UDP", 0.0)
        dialog = Dialog.from_request(invite, local_tag=f"t{n}", local_contact=contact,
                                     local_via=via)
        out += layer.send_response(build_response(invite, 180, to_tag=f"t{n}"), 0.1)
        out += layer.send_response(build_response(invite, 200, to_tag=f"t{n}",
                                                  contact=contact), 0.2)
        dialog.confirm()
        ack = parse_message(bytes(invite).replace(b"INVITE sip", b"ACK sip", 1).replace(
            b" INVITE\r\n", b" ACK\r\n").replace(b"z9hG4bK", b"z9hG4bKack", 1))
        out += layer.receive(ack, SOURCE, "UDP", 0.3)
        bye = parse_message(bytes(invite).replace(b"INVITE sip", b"BYE sip", 1).replace(
            b"38236 INVITE", b"38237 BYE").replace(b"z9hG4bK", b"z9hG4bKbye", 1))
        assert isinstance(bye, SipRequest)
        out += layer.receive(bye, SOURCE, "UDP", 5.0)
        out += layer.send_response(build_response(bye, 200), 5.0)
        wire += sum(len(bytes(c.message)) for c in out if isinstance(c, Send))
    per_op("server call (INVITE..BYE) through the core", count, started)
    print(f"{'':<44} {len(layer)} transactions still waiting on timers, "
          f"{wire / count:.0f} bytes sent per call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000)
    args = parser.parse_args()
    n = args.n
    invites = [distinct_invite(i) for i in range(n)]
    started = time.process_time()
    for data in invites:
        message = parse_message(data)
    per_op("parse a new call's INVITE with SDP (343 B)", n, started)
    started = time.process_time()
    for _ in range(n):
        message = parse_message(INVITE)
    per_op("parse INVITE, From/To/Contact seen before", n, started)
    started = time.process_time()
    for _ in range(n):
        parse_message(INVITE).to.tag  # noqa: B018 - typed accessors are cached after parse
    per_op("parse + read typed headers", n, started)
    started = time.process_time()
    for _ in range(n):
        bytes(message)
    per_op("serialise INVITE", n, started)
    calls(n // 4)
    auth = DigestAuthenticator("parley", b"benchmark-secret-0123456789")
    register = parse_message((DATA / "000-baresip-req-register.sip").read_bytes())
    assert isinstance(register, SipRequest)
    ha1 = compute_ha1("1001", "parley", "pw1001", "SHA-256")
    signed = [authorize_request(register, build_response(register, 401, to_tag="x",
                                                         headers=auth.challenge(0.0)),
                                username="1001", password="pw1001")  # noqa: S106
              for _ in range(n // 4)]  # one fresh nonce each: a reused nc is a replay
    started = time.process_time()
    for request in signed:
        assert auth.verify(request, 1.0, lambda user, alg: ha1).ok
    per_op("digest verify (SHA-256, qop=auth)", len(signed), started)


if __name__ == "__main__":
    main()
