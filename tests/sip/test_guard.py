"""The SIP guard: failures counted per address and per user, bans with expiry that double
for repeat offenders, locks that spare the user's own phones, trusted networks untouched,
and the gate's single answer for every refusal."""

from __future__ import annotations

from datetime import timedelta

from parley.clock import VirtualClock
from parley.events import SecurityEvent
from parley.sip.auth import DigestAuthenticator, authorize_request, compute_ha1
from parley.sip.guard import AuthGate, AuthGuard, GuardSettings
from parley.sip.message import SipRequest, build_response, parse_message

ATTACKER = "203.0.113.9"
PHONE = "198.51.100.20"


def guard(clock: VirtualClock, **overrides: object) -> tuple[AuthGuard, list[SecurityEvent]]:
    events: list[SecurityEvent] = []
    values: dict[str, object] = {"address_failures": 5, "user_failures": 8, "window_s": 60.0,
                                 "ban_s": 600.0, "lock_s": 300.0}
    values.update(overrides)
    return AuthGuard(GuardSettings(**values), clock, on_event=events.append), events  # type: ignore[arg-type]


def test_an_address_is_banned_past_the_threshold_until_the_ban_expires() -> None:
    clock = VirtualClock()
    g, events = guard(clock)
    for _ in range(4):
        g.failed(ATTACKER, "1001", "wrong password")
        assert g.admit(ATTACKER, "1001") is None
    g.failed(ATTACKER, "1001", "wrong password")
    refusal = g.admit(ATTACKER, "1001")
    assert refusal is not None
    assert "banned" in refusal
    assert g.admit(PHONE, "1001") is None  # another address keeps working
    assert [e.kind for e in events] == ["ban"]
    assert events[0].source == ATTACKER
    assert events[0].until == clock.utcnow() + timedelta(seconds=600)
    assert events[0].detail == {"failures": 5, "seconds": 600}
    [ban] = g.bans()
    assert (ban.kind, ban.subject, ban.failures) == ("address", ATTACKER, 5)
    assert (ban.until - ban.since).total_seconds() == 600
    assert g.active_bans == 1
    clock.advance(599)
    assert g.admit(ATTACKER, "1001") is not None
    clock.advance(2)
    assert g.admit(ATTACKER, "1001") is None
    assert g.bans() == []
    assert g.refused_total == 2
    assert g.failures_total == 5
    assert g.bans_total == 1


def test_failures_outside_the_window_do_not_add_up() -> None:
    clock = VirtualClock()
    g, events = guard(clock)
    for _ in range(20):
        g.failed(ATTACKER, "1001", "wrong password")
        clock.advance(15.0)  # four failures per minute at most: under the threshold of five
    assert g.admit(ATTACKER, "1001") is None
    assert events == []


def test_a_repeat_offender_is_banned_twice_as_long_up_to_the_cap() -> None:
    clock = VirtualClock()
    g, _ = guard(clock, max_ban_s=1000.0)
    lengths = []
    for _ in range(3):
        for _ in range(5):
            g.failed(ATTACKER, None, "unknown user")
        [ban] = g.bans()
        lengths.append((ban.until - ban.since).total_seconds())
        clock.advance(1001)
    assert lengths == [600, 1000, 1000]


def test_a_locked_user_is_refused_from_new_addresses_but_not_from_its_phone() -> None:
    clock = VirtualClock()
    g, events = guard(clock)
    g.succeeded(PHONE, "1001")  # the phone registered earlier today
    for n in range(8):  # a spread attack: two tries each from four addresses
        g.failed(f"203.0.113.{n // 2}", "1001", "wrong password")
    assert [e.kind for e in events] == ["user_locked"]
    assert events[0].user == "1001"
    assert g.admit("203.0.113.50", "1001") is not None
    assert g.admit("203.0.113.50", "1002") is None  # other users are not locked
    assert g.admit(PHONE, "1001") is None
    assert g.admit("203.0.113.50", lambda: "1001") is not None  # lazily parsed user name
    assert g.active_locks == 1
    clock.advance(301)
    assert g.admit("203.0.113.50", "1001") is None


def test_trusted_networks_are_never_counted_or_banned() -> None:
    clock = VirtualClock()
    g, events = guard(clock, trusted_networks=("10.0.0.0/8",))
    for _ in range(50):
        g.failed("10.1.2.3", "1001", "wrong password")
    assert g.admit("10.1.2.3", "1001") is None
    assert g.bans() == []
    assert events == []


def test_lifting_a_ban_lets_the_address_in_and_is_reported() -> None:
    clock = VirtualClock()
    g, events = guard(clock)
    for _ in range(5):
        g.failed(ATTACKER, None, "unknown user")
    assert g.lift("address", ATTACKER, by="admin")
    assert not g.lift("address", ATTACKER)
    assert g.admit(ATTACKER) is None
    assert [e.kind for e in events] == ["ban", "ban_lifted"]
    assert events[1].reason == "lifted by admin"
    # The slate is clean: one more failure does not ban again at once.
    g.failed(ATTACKER, None, "unknown user")
    assert g.admit(ATTACKER) is None


def test_refused_calls_count_as_failures_and_are_reported_once_per_window() -> None:
    clock = VirtualClock()
    g, events = guard(clock)
    for _ in range(3):
        g.refused_call(ATTACKER, None, "0044201234567")
    assert [e.kind for e in events] == ["toll_fraud"]
    assert events[0].detail == {"number": "0044201234567"}
    assert g.toll_fraud_total == 3
    clock.advance(61)
    g.refused_call(ATTACKER, None, "0044201234567")
    assert [e.kind for e in events] == ["toll_fraud", "toll_fraud"]


def test_memory_stays_bounded_under_a_spray_of_addresses() -> None:
    clock = VirtualClock()
    g, _ = guard(clock, max_tracked=100)
    for n in range(10_000):
        g.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", f"u{n}", "unknown user")
    assert len(g._address_failures.times) <= 100
    assert len(g._user_failures.times) <= 100


def test_disabled_guard_admits_everyone() -> None:
    clock = VirtualClock()
    g, events = guard(clock, enabled=False)
    for _ in range(50):
        g.failed(ATTACKER, "1001", "wrong password")
    assert g.admit(ATTACKER, "1001") is None
    assert events == []


# --- the gate: what the engine answers --------------------------------------------------------

REGISTER = (
    "REGISTER sip:parley SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK-{n}\r\n"
    "From: <sip:{user}@parley>;tag=f{n}\r\n"
    "To: <sip:{user}@parley>\r\n"
    "Call-ID: reg-{n}\r\n"
    "CSeq: {n} REGISTER\r\n"
    "Contact: <sip:{user}@203.0.113.9:5060>\r\n"
    "Content-Length: 0\r\n\r\n"
)


def _register(user: str, n: int) -> SipRequest:
    request = parse_message(REGISTER.format(user=user, n=n).encode())
    assert isinstance(request, SipRequest)
    return request


def _answered(auth: DigestAuthenticator, user: str, password: str, n: int) -> SipRequest:
    request = _register(user, n)
    challenge = build_response(request, 401, to_tag="t", headers=auth.challenge(0.0))
    return authorize_request(request, challenge, username=user, password=password)


def test_gate_gives_one_answer_for_every_refusal_and_bans_guessers() -> None:
    clock = VirtualClock()
    auth = DigestAuthenticator("parley", b"0123456789abcdef-secret", algorithms=("MD5",))
    g, _ = guard(clock)
    gate = AuthGate(auth, g)
    ha1 = {"1001": compute_ha1("1001", "parley", "pw1001")}

    def lookup(user: str, _algorithm: str) -> str | None:
        return ha1.get(user)

    first = gate.check(_register("1001", 1), ATTACKER, 0.0, lookup)
    assert first.status == 401
    assert first.headers
    wrong = gate.check(_answered(auth, "1001", "guess", 2), ATTACKER, 0.0, lookup)
    unknown = gate.check(_answered(auth, "1999", "guess", 3), ATTACKER, 0.0, lookup)
    assert (wrong.status, wrong.reason, wrong.headers) == (403, "Forbidden", ())
    assert (unknown.status, unknown.reason, unknown.headers) == (403, "Forbidden", ())
    assert (wrong.why, unknown.why) == ("wrong password", "unknown user")
    for n in range(3):
        gate.check(_answered(auth, "1001", f"guess{n}", 10 + n), ATTACKER, 0.0, lookup)
    banned = gate.check(_answered(auth, "1001", "pw1001", 20), ATTACKER, 0.0, lookup)
    assert (banned.user, banned.status, banned.reason) == (None, 403, "Forbidden")
    assert "banned" in banned.why
    assert banned.unchecked
    ok = gate.check(_answered(auth, "1001", "pw1001", 21), PHONE, 0.0, lookup)
    assert ok.user == "1001"
