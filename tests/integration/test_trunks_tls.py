"""Trunks over TLS against real carriers: sipp over TCP on 127.0.0.2 behind socat's TLS
listener with a certificate from a test CA (Debian builds sipp without TLS; many carriers
terminate TLS in front of their SIP servers the same way): registration with its 401
answered, a call with its digest, both over TLS with ``transport=tls`` (or ``sips:``) on the
wire, and a carrier whose certificate Parley does not trust leaves the trunk failed with the
reason at once."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.clock import MonotonicClock
from parley.net.certificates import ensure_certificate
from parley.telephony.engine import OriginateError
from parley.telephony.server import Telephony
from parley.telephony.trunks import TrunkCall, TrunkConfig
from parley.telephony.users import demo_directory
from parley.testing.needs import SOCAT, needs
from parley.testing.peers import Sipp, SippResult
from parley.testing.ports import free_port
from parley.testing.tls import TestPki, make_pki

from .conftest import DATA, needs_sipp, telephony_settings
from .test_trunks import wait_for

pytestmark = [pytest.mark.integration, needs_sipp, needs(SOCAT)]

CARRIER = "127.0.0.2"


@pytest.fixture
async def parley(tmp_path: Path) -> AsyncIterator[Telephony]:
    settings = telephony_settings(data_dir=tmp_path / "parley-data")
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with telephony:
        yield telephony


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return make_pki(tmp_path / "pki", [CARRIER, "carrier.test"])


class TlsCarrier:
    """A sipp carrier over TCP behind socat's TLS listener presenting ``cert``/``key``:
    ``port`` is where Parley connects with TLS; ``workdir`` holds sipp's message log."""

    def __init__(self, sipp: Sipp, cert: Path, key: Path) -> None:
        self.sipp = sipp
        self.workdir = sipp.workdir
        self.port = free_port(CARRIER)
        self.cert, self.key = cert, key
        self._front: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        await self.sipp.start()
        self._front = await asyncio.create_subprocess_exec(
            "socat", f"OPENSSL-LISTEN:{self.port},bind={CARRIER},reuseaddr,fork,"
            f"cert={self.cert},key={self.key},verify=0",
            f"TCP:{CARRIER}:{self.sipp.port}", start_new_session=True)
        for _ in range(100):  # until the TLS listener takes connections
            try:
                _, writer = await asyncio.open_connection(CARRIER, self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return
        raise AssertionError(f"socat did not listen on {CARRIER}:{self.port}")

    async def wait(self, within: float) -> SippResult:
        return await self.sipp.wait(within=within)

    async def stop(self) -> None:
        if self._front is not None and self._front.returncode is None:
            os.killpg(self._front.pid, signal.SIGTERM)
            await self._front.wait()
        await self.sipp.stop()


def tls_carrier(tmp_path: Path, scenario: str, name: str, cert: Path, key: Path,
                **options: object) -> TlsCarrier:
    sipp = Sipp(workdir=tmp_path / name, scenario=DATA / scenario, host=CARRIER,
                port=free_port(CARRIER), transport="t1", extra=("-trace_msg",),
                **options)  # type: ignore[arg-type]
    return TlsCarrier(sipp, cert, key)


def tls_trunk(name: str, sipp: TlsCarrier, pki: TestPki, **options: object) -> TrunkConfig:
    values: dict[str, object] = {"host": CARRIER, "port": sipp.port, "kind": "register",
                                 "transport": "tls", "username": "acct17",
                                 "password": "secret", "options_interval": 0,
                                 "tls_ca_file": str(pki.ca_file)}
    values.update(options)
    return TrunkConfig(name, **values)  # type: ignore[arg-type]


def messages(sipp: TlsCarrier) -> str:
    """What sipp received and sent (its -trace_msg log)."""
    return "".join(path.read_text(errors="replace")
                   for path in sipp.workdir.glob("*_messages.log"))


@pytest.mark.parametrize("sips", [False, True])
async def test_registers_over_tls_answering_the_challenge(
        parley: Telephony, tmp_path: Path, pki: TestPki, sips: bool) -> None:
    sipp = tls_carrier(tmp_path, "carrier_register.xml", "registrar", pki.cert_file,
                       pki.key_file, calls=1)
    await sipp.start()
    try:
        await parley.set_trunks([tls_trunk("carrier-a", sipp, pki, sips=sips)])
        result = await sipp.wait(within=10)  # 401, digest, 200; then the refresh
        assert result.ok, result.log
        status = parley.trunk_statuses()[0]
        assert (status.state, status.reason) == ("registered", "200 OK")
        wire = messages(sipp)
        assert "Via: SIP/2.0/TLS " in wire
        if sips:
            assert f"REGISTER sips:{CARRIER}:{sipp.port} SIP/2.0" in wire
            assert "Contact: <sips:acct17@" in wire
        else:
            assert f"REGISTER sip:{CARRIER}:{sipp.port};transport=tls SIP/2.0" in wire
            assert ";transport=tls>" in wire  # the Contact
    finally:
        await sipp.stop()


async def test_a_call_goes_out_over_tls_with_its_digest_answered(
        parley: Telephony, tmp_path: Path, pki: TestPki) -> None:
    sipp = tls_carrier(tmp_path, "carrier_answer_digest.xml", "carrier", pki.cert_file,
                       pki.key_file, calls=1)
    await sipp.start()
    try:
        await parley.set_trunks([tls_trunk("carrier-a", sipp, pki, kind="peer")])
        channel = await parley.dial_out(
            [TrunkCall("carrier-a", "+74951234567", caller_id="+74951110000")], timeout=5)
        assert await channel.wait_answered(within=5)
        assert channel.sip_status == 200
        channel.hangup()
        result = await sipp.wait(within=5)  # digest and P-Asserted-Identity checked, BYE
        assert result.ok, result.log
        wire = messages(sipp)
        assert f"INVITE sip:+74951234567@{CARRIER}:{sipp.port};transport=tls SIP/2.0" in wire
        assert "BYE sip:" in wire  # the hang-up came over the same connection
    finally:
        await sipp.stop()


async def test_an_untrusted_carrier_certificate_leaves_the_trunk_failed_with_the_reason(
        parley: Telephony, tmp_path: Path, pki: TestPki) -> None:
    stranger = ensure_certificate(tmp_path / "self-signed", [CARRIER])  # no CA vouches
    sipp = tls_carrier(tmp_path, "carrier_register.xml", "stranger", stranger.certificate,
                       stranger.private_key, calls=1)
    await sipp.start()
    try:
        await parley.set_trunks([tls_trunk("carrier-a", sipp, pki)])
        await wait_for(lambda: parley.trunk_statuses()[0].state == "failed", within=5)
        status = parley.trunk_statuses()[0]
        assert status.reason.startswith("TLS: certificate verify failed"), status.reason
        assert not status.available
        with pytest.raises(OriginateError, match="certificate verify failed"):
            await parley.dial_out([TrunkCall("carrier-a", "+74951234567")], timeout=5)
        assert "REGISTER" not in messages(sipp)  # nothing was said to it in clear
    finally:
        await sipp.stop()
