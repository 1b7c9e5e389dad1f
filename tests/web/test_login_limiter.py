"""The login limiter on a virtual clock: per name and address together, a doubling delay
capped at the maximum, spraying across names from one address, trusted networks, memory."""

from __future__ import annotations

import pytest

from parley.clock import VirtualClock
from parley.config import SecuritySettings
from parley.events import SecurityEvent
from parley.trust import TrustedNetworks
from parley.web.auth import LoginLimiter


def limiter(clock: VirtualClock, events: list[SecurityEvent] | None = None) -> LoginLimiter:
    return LoginLimiter(clock, free_attempts=3, address_attempts=10, base_delay_s=1.0,
                        max_delay_s=8.0, forget_s=600.0,
                        trusted=TrustedNetworks(["10.0.0.0/8"]),
                        on_event=None if events is None else events.append)


def test_the_delay_doubles_up_to_the_cap_and_only_for_that_name_and_address() -> None:
    clock = VirtualClock()
    events: list[SecurityEvent] = []
    lim = limiter(clock, events)
    waits = []
    for _ in range(8):
        waits.append(lim.retry_after("admin", "203.0.113.9"))
        clock.advance(waits[-1])
        lim.failed("admin", "203.0.113.9")
    assert waits == [0, 0, 0, 1, 2, 4, 8, 8]
    assert lim.retry_after("admin", "198.51.100.7") == 0  # the admin elsewhere
    assert lim.retry_after("other", "203.0.113.9") == 0  # another name from there
    assert [e.kind for e in events] == ["login_throttled"]
    assert (events[0].source, events[0].user) == ("203.0.113.9", "admin")
    lim.succeeded("admin", "203.0.113.9")
    assert lim.retry_after("admin", "203.0.113.9") == 0


def test_spraying_many_names_from_one_address_is_delayed_too() -> None:
    clock = VirtualClock()
    lim = limiter(clock)
    for n in range(10):
        lim.failed(f"user{n}", "203.0.113.9")
    assert lim.retry_after("user99", "203.0.113.9") == pytest.approx(1.0)
    assert lim.retry_after("user99", "198.51.100.7") == 0


def test_failures_are_forgotten_after_a_quiet_spell() -> None:
    clock = VirtualClock()
    lim = limiter(clock)
    for _ in range(5):
        lim.failed("admin", "203.0.113.9")
    clock.advance(601)
    assert lim.retry_after("admin", "203.0.113.9") == 0
    lim.failed("admin", "203.0.113.9")
    assert lim.retry_after("admin", "203.0.113.9") == 0  # counting starts again


def test_trusted_networks_are_never_delayed() -> None:
    clock = VirtualClock()
    lim = limiter(clock)
    for _ in range(50):
        lim.failed("admin", "10.1.2.3")
    assert lim.retry_after("admin", "10.1.2.3") == 0
    assert lim.failures_total == 50


def test_memory_is_bounded() -> None:
    clock = VirtualClock()
    lim = limiter(clock)
    lim.max_keys = 100
    for n in range(5000):
        lim.failed(f"u{n}", f"192.0.2.{n % 250}")
    assert len(lim._failures) <= 100


def test_a_wrong_trusted_network_fails_at_start_naming_it() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        SecuritySettings(trusted_networks=["10.0.0.0/8", "10.0.0.0/33"])
    assert "192.0.2.7" in TrustedNetworks(["192.0.2.7"])
    assert "2001:db8::5" in TrustedNetworks(["2001:db8::/32"])
    assert "not-an-address" not in TrustedNetworks(["0.0.0.0/0"])
