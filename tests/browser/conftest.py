"""What every browser test shares: Debian's Chromium, found or the test skipped (failed
under CI=true, like every missing peer: parley.testing.needs)."""

from __future__ import annotations

import pytest

from parley.testing.needs import CHROMIUM as CHROMIUM_NEED
from parley.testing.needs import node_package, require
from parley.web.vendor import default_node_modules

CHROMIUM = "/usr/bin/chromium"
AXE = default_node_modules() / "axe-core" / "axe.min.js"


def chromium_path(*, axe: bool = False) -> str:
    """Debian's Chromium (and, with ``axe``, axe-core from the npm packages): the test is
    skipped without them, and fails under CI=true."""
    require(CHROMIUM_NEED, *([node_package("axe-core", "axe.min.js")] if axe else []))
    return CHROMIUM


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium's path (see :func:`chromium_path`)."""
    return chromium_path()
