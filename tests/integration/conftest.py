"""Fixtures for real-peer tests: an in-process Parley SIP server on free loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.clock import MonotonicClock
from parley.telephony.server import Telephony, TelephonySettings
from parley.telephony.users import demo_directory
from parley.testing.needs import BARESIP, SIPP, needs
from parley.testing.ports import free_port, free_port_block

DATA = Path(__file__).parent / "data"

# Missing peers skip a test locally and fail it under CI=true (parley.testing.needs).
needs_baresip = needs(BARESIP)
needs_sipp = needs(SIPP)


def telephony_settings(**overrides: object) -> TelephonySettings:
    """Settings for a test server: loopback, a free SIP port, a free block of RTP ports."""
    rtp_first = free_port_block(400)
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "sip_port": free_port(),
        "rtp_ports": (rtp_first, rtp_first + 399),
        "realm": "parley.test",
        "no_answer_timeout": 3.0,
        "media_timeout": 30.0,
    }
    values.update(overrides)
    return TelephonySettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def parley(tmp_path: Path) -> AsyncIterator[Telephony]:
    """A running Parley SIP server with the demo users 1001-1010 (passwords pw1001...);
    prompt caches and recordings go to the test's own folder."""
    settings = telephony_settings(data_dir=tmp_path / "parley-data")
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with telephony:
        yield telephony

