"""Registration events from the registrar's changes: first binding, last binding gone."""

from __future__ import annotations

from parley.clock import MonotonicClock
from parley.events import UserRegistered, UserUnregistered
from parley.sip.message import SipRequest, parse_message
from parley.sip.registrar import Registrar
from parley.telephony.registrations import RegistrationWatch
from parley.telephony.server import Telephony
from parley.telephony.users import demo_directory
from parley.testing.ports import telephony_settings
from parley.testing.sipclient import RawSipClient


def register(user: str, port: int, expires: int, seq: int) -> SipRequest:
    head = "\r\n".join([
        "REGISTER sip:127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{seq}-{port}",
        f"From: <sip:{user}@127.0.0.1>;tag=r{port}",
        f"To: <sip:{user}@127.0.0.1>",
        f"Call-ID: reg-{port}@127.0.0.1",
        f"CSeq: {seq} REGISTER",
        f"Contact: <sip:{user}@127.0.0.1:{port}>",
        f"Expires: {expires}",
        "Content-Length: 0",
    ])
    message = parse_message((head + "\r\n\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


def apply(watch: RegistrationWatch, request: SipRequest, now: float) -> list[object]:
    events: list[object] = list(watch.before_register(request.to.uri.user or "", now))
    result = watch.registrar.register(request, now, authenticated_user=request.to.uri.user)
    return events + list(watch.after_register(result, now))


def test_first_binding_registers_refresh_and_second_phone_are_silent() -> None:
    watch = RegistrationWatch(Registrar())
    assert apply(watch, register("1001", 5070, 600, 1), 0.0) == [
        UserRegistered("1001", "sip:1001@127.0.0.1:5070")]
    assert apply(watch, register("1001", 5070, 600, 2), 100.0) == []  # refresh
    assert apply(watch, register("1001", 5080, 600, 1), 110.0) == []  # a second phone
    assert apply(watch, register("1001", 5070, 0, 3), 120.0) == []  # one of two leaves
    assert apply(watch, register("1001", 5080, 0, 2), 130.0) == [
        UserUnregistered("1001", "unregistered")]


def test_sweep_reports_expiry_once_and_only_for_users_left_without_binding() -> None:
    watch = RegistrationWatch(Registrar())
    apply(watch, register("1001", 5070, 60, 1), 0.0)
    apply(watch, register("1002", 5071, 600, 1), 0.0)
    assert watch.after_sweep(watch.registrar.sweep(30.0), 30.0) == []
    gone = watch.registrar.sweep(61.0)
    assert watch.after_sweep(gone, 61.0) == [UserUnregistered("1001", "expired")]
    assert watch.after_sweep(watch.registrar.sweep(62.0), 62.0) == []


def test_expiry_noticed_by_the_next_register_before_any_sweep() -> None:
    watch = RegistrationWatch(Registrar())
    apply(watch, register("1001", 5070, 60, 1), 0.0)
    assert apply(watch, register("1001", 5070, 60, 2), 100.0) == [
        UserUnregistered("1001", "expired"), UserRegistered("1001", "sip:1001@127.0.0.1:5070")]


def test_static_contacts_never_emit() -> None:
    watch = RegistrationWatch(Registrar())
    watch.registrar.set_static("2000", ["sip:2000@127.0.0.1:5090"])
    assert watch.after_sweep(watch.registrar.sweep(10.0), 10.0) == []
    assert watch.before_register("2000", 10.0) == []


async def test_the_shortest_registration_is_the_sites_setting(node: Telephony) -> None:
    """A phone asking for 10 s is told the shortest allowed (60 s by default); a site that
    sets 10 s (PARLEY_SIP_MIN_EXPIRES) registers it."""
    short = [("Expires", "10")]
    async with RawSipClient("127.0.0.1", node.sip_port) as phone:
        refused = await phone.authenticated("REGISTER", "1001", "pw1001", headers=short)
    assert (refused.status, refused.header("Min-Expires")) == (423, "60")
    settings = telephony_settings(min_expires=10)
    async with Telephony(settings, demo_directory(settings.realm), MonotonicClock()) as site, \
            RawSipClient("127.0.0.1", site.sip_port) as phone:
        answer = await phone.authenticated("REGISTER", "1001", "pw1001", headers=short)
        assert answer.status == 200, answer
        assert site.engine.contacts_of("1001")
