"""Fixtures for real-peer tests: an in-process Parley SIP server on free loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.clock import MonotonicClock
from parley.telephony.server import Telephony
from parley.telephony.users import demo_directory
from parley.testing.needs import BARESIP, SIPP, needs
from parley.testing.ports import telephony_settings as telephony_settings

DATA = Path(__file__).parent / "data"

# Missing peers skip a test locally and fail it under CI=true (parley.testing.needs).
needs_baresip = needs(BARESIP)
needs_sipp = needs(SIPP)


@pytest.fixture
async def parley(tmp_path: Path) -> AsyncIterator[Telephony]:
    """A running Parley SIP server with the demo users 1001-1010 (passwords pw1001...);
    prompt caches and recordings go to the test's own folder."""
    settings = telephony_settings(data_dir=tmp_path / "parley-data")
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with telephony:
        yield telephony

