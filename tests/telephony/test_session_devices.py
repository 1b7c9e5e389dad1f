"""Session credentials for browser phones: a generated name and password standing for one
SIP user, expiring, revoked with the web session, never the device's own password."""

from __future__ import annotations

from parley.sip.auth import compute_ha1
from parley.telephony.session_devices import SessionDevices, session_key
from parley.telephony.users import demo_directory
from parley.testing import VirtualClock


def devices(clock: VirtualClock) -> SessionDevices:
    return SessionDevices(demo_directory("parley"), clock, lambda: "parley", lifetime_s=600)


def test_a_credential_stands_for_its_user_with_its_own_password_until_it_expires() -> None:
    clock = VirtualClock()
    phones = devices(clock)
    issued = phones.issue(session_key("cookie-1"), "1001", session_device=False)
    found = phones.lookup(issued.auth_name)
    assert found is not None
    assert found.name == "1001"
    assert found.ha1["MD5"] == compute_ha1(issued.auth_name, "parley", issued.password)
    assert found.ha1["MD5"] != compute_ha1("1001", "parley", "pw1001")
    again = phones.issue(session_key("cookie-1"), "1001", session_device=False)
    assert again.auth_name == issued.auth_name  # the page keeps its name, gets a new password
    assert again.password != issued.password
    clock.advance(601)
    assert phones.lookup(issued.auth_name) is None


def test_sign_out_revokes_and_a_session_device_is_callable_only_meanwhile() -> None:
    clock = VirtualClock()
    phones = devices(clock)
    revoked: list[tuple[str, str]] = []
    phones.on_revoked = lambda user, name: revoked.append((user, name))
    assert phones.lookup("admin") is None
    issued = phones.issue(session_key("cookie-2"), "admin", session_device=True,
                          session_ends_at=clock.monotonic() + 60)
    assert issued.expires_at == clock.monotonic() + 60  # never outlives the web session
    callee = phones.lookup("admin")
    assert callee is not None
    assert callee.ha1 == {}  # callable, but nobody authenticates as "admin" itself
    assert phones.revoke(session_key("cookie-2"))
    assert revoked == [("admin", issued.auth_name)]
    assert phones.lookup(issued.auth_name) is None
    assert phones.lookup("admin") is None
    assert not phones.revoke(session_key("cookie-2"))
    assert phones.lookup("1002") is not None  # the site's own users are untouched
