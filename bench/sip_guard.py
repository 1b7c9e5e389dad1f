"""The cost of the SIP limits at 500 REGISTERs per second: CPU per REGISTER of the Parley
process with the guard on and off, for phones that know their password and for a guesser.

Method: Parley runs in its own process on uvloop (``parley.testing.peers.ParleyProcess``). A
sipp client registers user 1001 at ``--rate`` registrations per second for ``--count`` of
them; each registration is a REGISTER answered 401, then a REGISTER with digest credentials
answered 200 (right password) or 403 (a guesser's wrong one), so the node handles two
requests per registration. Four steps, each on a fresh node:

- ``phones, guard off`` / ``phones, guard on``: the right password; the guard's cost is one
  look-up per request (no ban in force) and one "known good" note per success;
- ``guesser, guard off``: every answer is checked (a full digest) and refused;
- ``guesser, guard on``: after ten wrong answers the address is banned, and every later
  request is refused with 403 before any parsing of credentials or digest.

CPU time is read from /proc for the Parley process (user + system) over the step, divided by
the registrations of the step. A step is clean when sipp reports every registration ended
as expected.

Before the live steps, the pure core is timed in this process: ``AuthGate.check`` of one
authenticated REGISTER with and without the guard, and of a REGISTER from a banned address
(the median of 20 interleaved rounds of 2,000 calls each, after one round to warm up).

    .venv/bin/python bench/sip_guard.py --rate 500 --count 10000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from parley.clock import MonotonicClock
from parley.sip.auth import DigestAuthenticator, authorize_request, compute_ha1
from parley.sip.guard import AuthGate, AuthGuard, GuardSettings
from parley.sip.message import SipRequest, build_response, parse_message
from parley.testing.peers import ParleyProcess, Sipp
from parley.testing.ports import free_port, free_port_block

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:1001@[remote_ip]:[remote_port]>;tag=[pid]r[call_number]
To: <sip:1001@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:1001@[local_ip]:[local_port]>
Expires: 600
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="401" auth="true" optional="OPTIONAL" next="answer"/>
  <recv response="403" next="done"/>
  <label id="answer"/>
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:1001@[remote_ip]:[remote_port]>;tag=[pid]r[call_number]
To: <sip:1001@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:1001@[local_ip]:[local_port]>
[authentication username=1001 password=PASSWORD]
Expires: 600
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="EXPECTED"/>
  <label id="done"/>
</scenario>
"""


REGISTER = (b"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-bench;rport\r\n"
            b"From: <sip:1001@127.0.0.1>;tag=b1\r\nTo: <sip:1001@127.0.0.1>\r\n"
            b"Call-ID: bench-1\r\nCSeq: 1 REGISTER\r\n"
            b"Contact: <sip:1001@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n")


def pure_core(rounds: int = 20, calls: int = 2000) -> dict[str, float]:
    """Microseconds per ``AuthGate.check`` (median of ``rounds``)."""
    auth = DigestAuthenticator("parley.test", b"0123456789abcdef-bench",
                               algorithms=("MD5",), replay_cache_size=10**6)
    request = parse_message(REGISTER)
    assert isinstance(request, SipRequest)
    challenge = build_response(request, 401, to_tag="t", headers=auth.challenge(0.0))
    answered = authorize_request(request, challenge, username="1001",
                                 password="pw1001")  # noqa: S106 - the demo user
    ha1 = compute_ha1("1001", "parley.test", "pw1001")

    def lookup(user: str, _algorithm: str) -> str | None:
        return ha1 if user == "1001" else None

    banned = AuthGuard(GuardSettings(address_failures=1), MonotonicClock())
    banned.failed("192.0.2.66", "1001", "wrong password")
    gates = {"no guard": AuthGate(auth), "guard, no ban": AuthGate(
        auth, AuthGuard(GuardSettings(), MonotonicClock())),
        "guard, banned address": AuthGate(auth, banned)}
    samples: dict[str, list[float]] = {name: [] for name in gates}
    for round_number in range(rounds + 1):  # round 0 warms up and is not counted
        for name, gate in gates.items():  # interleaved, so drifts of the machine hit all
            address = "192.0.2.66" if "banned" in name else "127.0.0.1"
            started = time.perf_counter()
            for _ in range(calls):
                auth._seen_nc.clear()  # the same answer each time: no replay refusal
                gate.check(answered, address, 1.0, lookup)
            if round_number:
                samples[name].append((time.perf_counter() - started) / calls * 1e6)
    return {name: sorted(values)[len(values) // 2] for name, values in samples.items()}


async def step(workdir: Path, *, guard: bool, right_password: bool, rate: int,
               count: int) -> tuple[bool, float, float, int, int]:
    expected = "200" if right_password else "403"
    password = "pw1001" if right_password else "guess"
    scenario = workdir / "register.xml"
    text = SCENARIO.replace("PASSWORD", password).replace("EXPECTED", expected)
    if expected == "200":  # a phone is never refused without a challenge
        text = text.replace(' optional="OPTIONAL" next="answer"', "").replace(
            '  <recv response="403" next="done"/>\n', "")
    else:
        text = text.replace('optional="OPTIONAL"', 'optional="true"')
    scenario.write_text(text)
    rtp_first = free_port_block(20)
    server = ParleyProcess(workdir / "parley", rtp_ports=(rtp_first, rtp_first + 19),
                           guard={"enabled": guard})
    limit = int(count / rate) + 20
    client = Sipp(workdir / "client", scenario, service="1001", port=free_port(), calls=count,
                  rate=rate, extra=("-l", str(rate * 4), "-timeout", f"{limit}s",
                                    "-timeout_error", "-recv_timeout", "10000"))
    try:
        await server.start()
        result, cpu, elapsed = await server.measure(client, limit + 15)
    finally:
        await client.stop()
        await server.stop()
    clean = result.exit_code == 0 and result.failed == 0 and result.successful == count
    return clean, cpu * 1e6 / max(count, 1), count / elapsed, result.successful, result.failed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--pure-only", action="store_true", help="only the pure gate")
    args = parser.parse_args()
    for name, micros in pure_core().items():
        print(f"AuthGate.check, {name:<24} {micros:6.1f} us")
    if args.pure_only:
        return
    print(f"{'step':<22} {'ok':>6} {'failed':>6} {'achieved/s':>10} {'CPU us/REGISTER':>16} "
          "clean")
    for name, guard, right in (("phones, guard off", False, True),
                               ("phones, guard on", True, True),
                               ("guesser, guard off", False, False),
                               ("guesser, guard on", True, False)):
        with tempfile.TemporaryDirectory(prefix="parley-bench-") as folder:
            clean, cpu_us, achieved, ok, failed = await step(
                Path(folder), guard=guard, right_password=right, rate=args.rate,
                count=args.count)
        print(f"{name:<22} {ok:>6} {failed:>6} {achieved:>10.0f} {cpu_us:>16.0f} "
              f"{'yes' if clean else 'NO'}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
