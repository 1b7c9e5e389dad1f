"""Fixtures for the IVR tests; the helpers themselves are in ``parley.testing.ivr``."""

from __future__ import annotations

import pytest

from parley.clock import VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()
