"""What every browser test shares: Debian's Chromium, found or the test skipped (failed
under CI=true, like every missing peer: parley.testing.needs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.testing.needs import CHROMIUM as CHROMIUM_NEED
from parley.testing.needs import require

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def chromium_path(*, axe: bool = False) -> str:
    """Debian's Chromium (and, with ``axe``, axe-core from the npm packages): the test is
    skipped without them, and fails under CI=true."""
    require(CHROMIUM_NEED)
    if axe and not AXE.is_file():
        message = f"{AXE} is missing: run `npm ci` at the repository root"
        from parley.testing.needs import in_ci

        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium's path (see :func:`chromium_path`)."""
    return chromium_path()
