"""The registrar: expiry, several contacts, refresh, un-register, limits, static contacts."""

from __future__ import annotations

from pathlib import Path

from parley.sip.headers import NameAddr
from parley.sip.message import SipRequest, parse_message
from parley.sip.registrar import Binding, Registrar
from parley.sip.uri import SipUri

DATA = Path(__file__).parent / "data"


def register(contact: str | None, *, expires: int | None = None, cseq: int = 1,
             call_id: str = "reg-1", user: str = "1001") -> SipRequest:
    lines = ["REGISTER sip:parley SIP/2.0",
             "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK" + f"{cseq}{call_id}",
             f"From: <sip:{user}@parley>;tag=f", f"To: <sip:{user}@parley>",
             f"Call-ID: {call_id}", f"CSeq: {cseq} REGISTER"]
    if contact is not None:
        lines.append(f"Contact: {contact}")
    if expires is not None:
        lines.append(f"Expires: {expires}")
    message = parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


def test_captured_baresip_register() -> None:
    request = parse_message((DATA / "002-baresip-req-register.sip").read_bytes())
    assert isinstance(request, SipRequest)
    registrar = Registrar()
    result = registrar.register(request, 100.0, authenticated_user="1001",
                                source=("127.0.0.1", 38210), transport="UDP")
    assert result.ok
    (binding,) = registrar.lookup("1001", 101.0)
    assert binding.uri.host == "127.0.0.1"
    assert binding.source == ("127.0.0.1", 38210)
    response = result.response(request, to_tag="reg")
    assert response.status == 200
    assert response.contacts[0].expires == binding.remaining(100.0)


def test_expiry_from_header_and_param_and_sweep() -> None:
    registrar = Registrar(require_auth=False)
    registrar.register(register("<sip:1001@10.0.0.5>", expires=120), 0.0)
    registrar.register(register("<sip:1001@10.0.0.6>;expires=300", expires=120, cseq=2), 0.0)
    assert sorted(b.remaining(0.0) for b in registrar.lookup("1001", 0.0)) == [120, 300]
    assert registrar.next_expiry() == 120.0
    assert [b.uri.host for b in registrar.lookup("1001", 121.0)] == ["10.0.0.6"]
    gone = registrar.sweep(121.0)
    assert [b.uri.host for b in gone] == ["10.0.0.5"]
    assert registrar.sweep(301.0)[0].uri.host == "10.0.0.6"
    assert registrar.lookup("1001", 301.0) == []
    assert registrar.aors() == []


def test_several_contacts_ordered_by_q_and_refresh() -> None:
    registrar = Registrar(require_auth=False)
    result = registrar.register(register("<sip:a@10.0.0.5>;q=0.5, <sip:b@10.0.0.6>;q=0.9"), 0.0)
    assert result.ok
    assert [b.uri.user for b in registrar.lookup("1001", 1.0)] == ["b", "a"]
    assert len(result.headers) == 2
    refreshed = registrar.register(register("<sip:a@10.0.0.5>;q=0.5", expires=900, cseq=2),
                                   3000.0)
    assert [b.remaining(3000.0) for b in refreshed.bindings if b.uri.user == "a"] == [900]
    assert [b.uri.user for b in registrar.lookup("1001", 3700.0)] == ["a"]


def test_unregister_one_and_all() -> None:
    registrar = Registrar(require_auth=False)
    registrar.register(register("<sip:a@10.0.0.5>, <sip:b@10.0.0.6>"), 0.0)
    result = registrar.register(register("<sip:a@10.0.0.5>", expires=0, cseq=2), 1.0)
    assert [b.uri.user for b in result.removed] == ["a"]
    assert [b.uri.user for b in registrar.lookup("1001", 1.0)] == ["b"]
    result = registrar.register(register("*", expires=0, cseq=3), 2.0)
    assert result.ok
    assert [b.uri.user for b in result.removed] == ["b"]
    assert registrar.lookup("1001", 2.0) == []
    bad = registrar.register(register("*", expires=60, cseq=4), 3.0)
    assert bad.status == 400


def test_interval_too_brief_and_max_clamp() -> None:
    registrar = Registrar(require_auth=False, min_expires=60, max_expires=1800)
    brief = registrar.register(register("<sip:a@10.0.0.5>", expires=30), 0.0)
    assert brief.status == 423
    request = register("<sip:a@10.0.0.5>", expires=30)
    response = brief.response(request, "t")
    assert response.reason == "Interval Too Brief"
    assert response.header("Min-Expires") == "60"
    assert registrar.lookup("1001", 0.0) == []
    long = registrar.register(register("<sip:a@10.0.0.5>", expires=99999, cseq=2), 0.0)
    assert long.bindings[0].remaining(0.0) == 1800


def test_cseq_out_of_order_and_query() -> None:
    registrar = Registrar(require_auth=False)
    registrar.register(register("<sip:a@10.0.0.5>", cseq=5), 0.0)
    stale = registrar.register(register("<sip:a@10.0.0.5>", expires=0, cseq=4), 1.0)
    assert stale.status == 500
    assert len(registrar.lookup("1001", 1.0)) == 1
    query = registrar.register(register(None, cseq=6), 1.0)
    assert query.ok
    assert [name for name, _ in query.headers] == ["Contact"]


def test_authentication_decisions() -> None:
    registrar = Registrar()
    assert registrar.register(register("<sip:a@10.0.0.5>"), 0.0).status == 401
    other = registrar.register(register("<sip:a@10.0.0.5>"), 0.0, authenticated_user="1002")
    assert other.status == 403
    assert "1002 may not register 1001" in other.reason
    assert registrar.register(register("<sip:a@10.0.0.5>"), 0.0,
                              authenticated_user="1001").ok


def test_max_contacts() -> None:
    registrar = Registrar(require_auth=False, max_contacts=2)
    contacts = ", ".join(f"<sip:{n}@10.0.0.5>" for n in "abc")
    assert registrar.register(register(contacts), 0.0).status == 403
    assert registrar.lookup("1001", 0.0) == []


def test_static_contacts_and_restore() -> None:
    registrar = Registrar(require_auth=False)
    registrar.set_static("2000", ["sip:gateway@192.0.2.10:5060"], q=0.5)
    registrar.register(register("<sip:desk@10.0.0.7>", user="2000"), 0.0)
    assert [b.uri.user for b in registrar.lookup("2000", 10.0**6)] == ["gateway"]
    assert [b.uri.user for b in registrar.lookup("2000", 1.0)] == ["desk", "gateway"]
    assert registrar.sweep(10.0**6)[0].uri.user == "desk"
    assert registrar.lookup("2000", 10.0**6)[0].static
    registrar.set_static("2000", [])
    assert registrar.lookup("2000", 0.0) == []
    fresh = Registrar(require_auth=False)
    kept = Binding("1001", NameAddr(SipUri.parse("sip:x@10.0.0.9")), 500.0)
    assert fresh.restore([kept], 100.0) == 1
    assert fresh.restore([kept], 600.0) == 0
    assert [b.uri.user for b in fresh.lookup("1001", 100.0)] == ["x"]
