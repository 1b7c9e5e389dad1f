"""Fixtures of the telephony tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.clock import MonotonicClock
from parley.telephony.server import Telephony
from parley.telephony.users import demo_directory
from parley.testing.ports import free_port_block, telephony_settings


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Telephony]:
    """A running telephony node on loopback with the demo's users and 20 RTP ports."""
    first = free_port_block(20)
    settings = telephony_settings(rtp_ports=(first, first + 19), data_dir=tmp_path / "data")
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with telephony:
        yield telephony
