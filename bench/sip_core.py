"""CPU cost of the pure SIP core per message and per call, on one core.

Method: a captured baresip INVITE (with SDP) is parsed N times as N different calls' INVITEs
(their own Call-ID, From tag, branch and Contact, so that nothing learnt from one helps the
next), then N times as the same message (a dialog's From and To values recur in each of its
messages and are shared from a cache), and serialised N times; then N whole
server-side calls run through one ``TransactionLayer`` and ``Dialog``: INVITE in (100 Trying
sent), 180 and 200 sent, ACK in, BYE in, 200 sent, each request parsed from bytes and each
response serialised to bytes, timers started and cancelled as commands (no event loop, no
sockets: the transports and the B2BUA add their own cost, measured by ``bench/sip_cps``).
Then an INVITE's SDP offer read as a call's set-up reads it (parsed and negotiated:
``read_audio``, twice per B2BUA call). Finally a digest verification (SHA-256, qop=auth).
``--python`` parses without the compiled parts (``parley.sip._headscan``), as an install
without a C compiler does. CPU time from ``time.process_time``, in 20 batches: the best batch
is the code's own cost, the median what a shared machine leaves of
it (both are printed; on a quiet machine they agree).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from parley.sip import compiled
from parley.sip.auth import DigestAuthenticator, authorize_request, compute_ha1
from parley.sip.dialog import Dialog
from parley.sip.headers import NameAddr, Via
from parley.sip.message import SipRequest, build_response, parse_message
from parley.sip.transaction import Send, TransactionLayer
from parley.sip.uri import SipUri
from parley.telephony.media_sdp import read_audio

DATA = Path(__file__).resolve().parents[1] / "tests" / "sip" / "data"
INVITE = (DATA / "012-baresip-req-invite.sip").read_bytes()
SOURCE = ("127.0.0.1", 38210)
_T = TypeVar("_T")


def distinct_invite(i: int) -> bytes:
    """The captured INVITE as call number ``i`` would send it."""
    return (INVITE.replace(b"c70612d09c1e3160", b"%016x" % i)
            .replace(b"8e89eb3e0f18f1ad", b"%016x" % (i + 7))
            .replace(b"z9hG4bKf61ac2ce7c6192b7", b"z9hG4bK%016x" % i)
            .replace(b"1001-0x55ce0c89a030", b"1001-0x%012x" % i))


BATCHES = 20


def report(label: str, batches: Iterable[Callable[[], int]]) -> None:
    """Run each batch (it returns how many operations it did) and print CPU time per
    operation: the best batch's, and the median batch's."""
    per: list[float] = []
    for batch in batches:
        started = time.process_time()
        count = batch()
        per.append((time.process_time() - started) / count)
    per.sort()
    best, median = per[0], per[len(per) // 2]
    print(f"{label:<44} {best * 1e6:8.1f} us  ({1 / best:,.0f}/s; median batch "
          f"{median * 1e6:.1f} us)")


def chunks(items: list[_T]) -> list[list[_T]]:
    size = max(1, len(items) // BATCHES)
    return [items[i:i + size] for i in range(0, len(items), size)]


def parse_all(messages: list[bytes]) -> Callable[[], int]:
    def batch() -> int:
        for data in messages:
            parse_message(data)
        return len(messages)
    return batch


def calls(count: int) -> int:
    layer = TransactionLayer()
    template = INVITE.replace(b"z9hG4bKf61ac2ce7c6192b7", b"z9hG4bK%08d")
    template = template.replace(b"Call-ID: c70612d09c1e3160", b"Call-ID: call-%08d")
    contact = NameAddr(SipUri.parse("sip:parley@127.0.0.1:5060"))
    via = Via("UDP", "127.0.0.1", 5060)
    wire = 0
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
    assert len(layer) == 2 * count  # the INVITE's and the BYE's, waiting on timers
    assert wire > 900 * count  # 100, 180, 200, the BYE's 200: about 990 bytes a call
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--python", action="store_true",
                        help="parse in Python only, as where the compiled parts were not built")
    args = parser.parse_args()
    n = args.n
    if args.python:
        compiled.scan = compiled.uri = compiled.name_addr = compiled.via = None
    print("parser:", "compiled parts and Python" if compiled.scan is not None else
          "Python only" + ("" if args.python else " (the compiled parts were not built)"))
    invites = [distinct_invite(i) for i in range(n)]
    report("parse a new call's INVITE with SDP (343 B)", map(parse_all, chunks(invites)))
    report("parse INVITE, From/To/Contact seen before",
           [parse_all([INVITE] * (n // BATCHES))] * BATCHES)

    def typed() -> int:
        for _ in range(n // BATCHES):
            parse_message(INVITE).to.tag  # noqa: B018 - typed accessors are cached after parse
        return n // BATCHES

    report("parse + read typed headers", [typed] * BATCHES)
    message = parse_message(INVITE)

    def serialise() -> int:
        for _ in range(n // BATCHES):
            bytes(message)
        return n // BATCHES

    report("serialise INVITE", [serialise] * BATCHES)
    report("server call (INVITE..BYE) through the core",
           [lambda: calls(max(1, n // 4 // BATCHES))] * BATCHES)
    offer = message.body

    def negotiate() -> int:
        for _ in range(n // BATCHES):
            read_audio(offer)
        return n // BATCHES

    report("read an INVITE's SDP offer (parse, negotiate)", [negotiate] * BATCHES)
    auth = DigestAuthenticator("parley", b"benchmark-secret-0123456789")
    register = parse_message((DATA / "000-baresip-req-register.sip").read_bytes())
    assert isinstance(register, SipRequest)
    ha1 = compute_ha1("1001", "parley", "pw1001", "SHA-256")
    signed = [authorize_request(register, build_response(register, 401, to_tag="x",
                                                         headers=auth.challenge(0.0)),
                                username="1001", password="pw1001")  # noqa: S106
              for _ in range(n // 4)]  # one fresh nonce each: a reused nc is a replay

    def verify(requests: list[SipRequest]) -> Callable[[], int]:
        def batch() -> int:
            for request in requests:
                assert auth.verify(request, 1.0, lambda user, alg: ha1).ok
            return len(requests)
        return batch

    report("digest verify (SHA-256, qop=auth)", map(verify, chunks(signed)))


if __name__ == "__main__":
    main()
