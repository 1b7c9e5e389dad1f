"""Call outcomes through Parley seen by real sipp peers: busy, no answer, cancel, refused
registration, unknown number, toll-fraud refusal, and 2,000 calls at 100 calls/s."""

from __future__ import annotations

from pathlib import Path

from parley.telephony.engine import TrunkPeer
from parley.telephony.server import Telephony
from parley.telephony.users import SipUser
from parley.testing.peers import ParleyProcess, Sipp, SippResult
from parley.testing.ports import free_port, free_port_block

from .conftest import DATA, needs_sipp

pytestmark = needs_sipp


def scenario(tmp_path: Path, name: str, **replacements: str) -> Path:
    """A copy of a scenario from data/ with its placeholders (EXPECTED...) filled in."""
    text = (DATA / name).read_text()
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    suffix = "-".join(replacements.values())
    path = tmp_path / f"{Path(name).stem}{'-' + suffix if suffix else ''}.xml"
    path.write_text(text)
    return path


def trust_client(parley: Telephony, port: int) -> None:
    """Make the sipp client at ``port`` a trunk peer (trusted by address, no digest)."""
    parley.engine.config.trunks = (TrunkPeer("sipp", "127.0.0.1", port),)


def phone(parley: Telephony, extension: str, port: int) -> None:
    """A user whose calls go to a static contact (a sipp phone) instead of a registration."""
    parley.users.add(SipUser(extension, static_contact=f"sip:{extension}@127.0.0.1:{port}"))  # type: ignore[attr-defined]


async def call(tmp_path: Path, parley: Telephony, client_xml: Path | str, service: str,
               phone_xml: Path | str | None = None, *, calls: int = 1, rate: float | None = None,
               within: float = 30.0) -> tuple[SippResult, SippResult | None]:
    """Run a sipp client against Parley (and a sipp phone behind it); both are stopped."""
    phone_sipp: Sipp | None = None
    if phone_xml is not None:
        phone_sipp = Sipp(tmp_path / "phone", phone_xml, port=free_port(),
                          calls=calls if calls == 1 else None)
        phone(parley, service, phone_sipp.port)
    client = Sipp(tmp_path / "client", client_xml, target=f"127.0.0.1:{parley.sip_port}",
                  service=service, port=free_port(), calls=calls, rate=rate,
                  extra=("-timeout", f"{int(within)}s", "-timeout_error"))
    trust_client(parley, client.port)
    try:
        if phone_sipp is not None:
            await phone_sipp.start()
        await client.start()
        client_result = await client.wait(within + 10)
        phone_result = None
        if phone_sipp is not None:
            phone_result = await (phone_sipp.wait(5) if calls == 1 else phone_sipp.stop())
    finally:
        await client.stop()
        if phone_sipp is not None:
            await phone_sipp.stop()
    return client_result, phone_result


async def test_busy_phone_gives_486(parley: Telephony, tmp_path: Path) -> None:
    client, phone_result = await call(tmp_path, parley,
                                      scenario(tmp_path, "uac_expect_failure.xml",
                                               EXPECTED="486"),
                                      "2001", DATA / "uas_busy.xml")
    assert client.ok, client.log
    assert client.successful == 1
    assert phone_result is not None
    assert phone_result.ok, phone_result.log


async def test_no_answer_gives_480_and_cancels_the_ringing_phone(parley: Telephony,
                                                                  tmp_path: Path) -> None:
    client, phone_result = await call(tmp_path, parley,
                                      scenario(tmp_path, "uac_expect_failure.xml",
                                               EXPECTED="480"),
                                      "2002", DATA / "uas_ring_until_cancel.xml")
    assert client.ok, client.log
    assert phone_result is not None
    assert phone_result.ok, phone_result.log  # the phone saw CANCEL and sent 487


async def test_cancel_before_answer_stops_the_ringing_phone(parley: Telephony,
                                                            tmp_path: Path) -> None:
    client, phone_result = await call(tmp_path, parley, DATA / "uac_cancel.xml", "2003",
                                      DATA / "uas_ring_until_cancel.xml")
    assert client.ok, client.log
    assert phone_result is not None
    assert phone_result.ok, phone_result.log
    assert not parley.engine.active_channels


async def test_unknown_number_gives_404(parley: Telephony, tmp_path: Path) -> None:
    client, _ = await call(tmp_path, parley,
                           scenario(tmp_path, "uac_expect_failure.xml", EXPECTED="404"), "7777")
    assert client.ok, client.log


async def test_unregistered_user_gives_480(parley: Telephony, tmp_path: Path) -> None:
    client, _ = await call(tmp_path, parley,
                           scenario(tmp_path, "uac_expect_failure.xml", EXPECTED="480"), "1005")
    assert client.ok, client.log


async def test_unauthenticated_caller_cannot_reach_an_extension(parley: Telephony,
                                                                tmp_path: Path) -> None:
    """Toll fraud: an untrusted, unauthenticated caller is challenged, never connected."""
    client = Sipp(tmp_path / "guest", scenario(tmp_path, "uac_expect_failure.xml",
                                               EXPECTED="401"),
                  target=f"127.0.0.1:{parley.sip_port}", service="1002", port=free_port(),
                  calls=1, extra=("-timeout", "15s", "-timeout_error"))
    try:
        await client.start()
        result = await client.wait(25)
    finally:
        await client.stop()
    assert result.ok, result.log
    assert parley.engine.stats.calls == 0


async def test_wrong_password_is_challenged_then_refused(parley: Telephony,
                                                         tmp_path: Path) -> None:
    for password, expected in (("wrong", "403"), ("pw1001", "200")):
        client = Sipp(tmp_path / f"register-{expected}",
                      scenario(tmp_path, "uac_register.xml", EXPECTED=expected,
                               USER="1001", PASSWORD=password),
                      target=f"127.0.0.1:{parley.sip_port}", service="1001", port=free_port(),
                      calls=1, extra=("-timeout", "15s", "-timeout_error"))
        try:
            await client.start()
            result = await client.wait(25)
        finally:
            await client.stop()
        assert result.ok, result.log
        registered = bool(parley.engine.contacts_of("1001"))
        assert registered is (expected == "200")


async def test_two_thousand_calls_at_100_per_second(tmp_path: Path) -> None:
    """sipp client -> Parley (its own process, on uvloop) -> sipp phone behind a static user."""
    phone_port, client_port = free_port(), free_port()
    server = ParleyProcess(tmp_path / "parley", rtp_ports=_rtp_range(1000),
                           static_users={"3000": f"sip:3000@127.0.0.1:{phone_port}"},
                           trunks=[("127.0.0.1", client_port)])
    phone_sipp = Sipp(tmp_path / "phone", "uas", port=phone_port)
    client = Sipp(tmp_path / "client", "uac", service="3000", port=client_port, calls=2000,
                  rate=100, extra=("-timeout", "90s", "-timeout_error"))
    try:
        await server.start()
        client.target = f"127.0.0.1:{server.sip_port}"
        await phone_sipp.start()
        await client.start()
        result = await client.wait(100)
    finally:
        await client.stop()
        await phone_sipp.stop()
        await server.stop()
    assert result.successful == 2000, result.log
    assert result.failed == 0, result.log
    assert result.exit_code == 0, result.log


def _rtp_range(size: int) -> tuple[int, int]:
    first = free_port_block(size)
    return first, first + size - 1
