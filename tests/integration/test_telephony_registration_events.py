"""Registration events from real baresip phones: online on the first REGISTER, offline on
un-REGISTER (Expires: 0) or when the registration runs out."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from parley.clock import MonotonicClock
from parley.events import TelephonyEvent, UserRegistered, UserUnregistered
from parley.telephony.server import Telephony
from parley.telephony.users import SipUser, demo_directory
from parley.testing.peers import Baresip

from .conftest import needs_baresip, telephony_settings

pytestmark = needs_baresip

RegistrationEvent = UserRegistered | UserUnregistered


async def next_registration(events: asyncio.Queue[TelephonyEvent],
                            within: float = 10.0) -> RegistrationEvent:
    async def wait() -> RegistrationEvent:
        while True:
            event = await events.get()
            if isinstance(event, UserRegistered | UserUnregistered):
                return event

    return await asyncio.wait_for(wait(), within)


async def test_register_refresh_and_unregister(parley: Telephony, tmp_path: Path) -> None:
    phone = Baresip(tmp_path / "1001", user="1001", password="pw1001",
                    server_port=parley.sip_port)
    async with parley.events() as events:
        try:
            await phone.start()
            online = await next_registration(events)
            assert isinstance(online, UserRegistered)
            assert online.user == "1001"
            assert online.contact.startswith("sip:1001")  # baresip's user is 1001-0x...
            assert online.contact.endswith(f"@127.0.0.1:{phone.sip_port}")
            await phone.command("uareg", "3600")  # a refresh: nothing new to tell
            await asyncio.sleep(0.5)
            assert parley.engine.contacts_of("1001")
        finally:
            await phone.stop()  # baresip quits with REGISTER Expires: 0
        offline = await next_registration(events)
    assert offline == UserUnregistered("1001", "unregistered")
    assert events.empty()


class ShiftedClock(MonotonicClock):
    """The monotonic clock, moved forward on demand (a registration's hour passes at once)."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def monotonic(self) -> float:
        return super().monotonic() + self.ahead


async def test_registration_that_runs_out_is_reported_expired(tmp_path: Path) -> None:
    """The phone dies without un-registering; the engine's periodic sweep (every 5 s)
    reports the user gone. A user with a static contact never emits."""
    settings = telephony_settings(data_dir=tmp_path / "data")
    users = demo_directory(settings.realm)
    users.add(SipUser("2000", static_contact="sip:2000@127.0.0.1:5999"))
    clock = ShiftedClock()
    parley = Telephony(settings, users, clock)
    phone = Baresip(tmp_path / "1002", user="1002", password="pw1002",
                    server_port=settings.sip_port)
    async with parley, parley.events() as events:
        try:
            await phone.start()
            (binding,) = parley.engine.contacts_of("1002")
            assert await next_registration(events) == UserRegistered("1002", str(binding.uri))
            assert phone._process is not None
            os.kill(phone._process.pid, signal.SIGKILL)  # no un-REGISTER
            await phone._process.wait()
            clock.ahead = 4000.0  # past the hour baresip registered for
            expired = await next_registration(events, within=10)
        finally:
            await phone.stop()
        assert expired == UserUnregistered("1002", "expired")
        assert not parley.engine.contacts_of("1002")
        assert events.empty()
