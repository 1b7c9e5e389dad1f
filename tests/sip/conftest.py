"""Captured SIP messages from baresip, Asterisk, sipp and Linphone."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CAPTURES = sorted(DATA.glob("*.sip"))


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.fixture(params=CAPTURES, ids=[p.name for p in CAPTURES])
def capture(request: pytest.FixtureRequest) -> bytes:
    path: Path = request.param
    return path.read_bytes()
