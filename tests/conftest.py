"""Suite-wide settings.

Tests mark the real peers they need with ``parley.testing.needs``: a missing one skips the
test on a developer's machine and fails it under CI (``CI=true``). Under CI property tests
also run derandomized, so a verdict can be reproduced from the commit alone; runs elsewhere
draw fresh random examples each time and keep finding new cases (a failing example is
printed with the decorator that replays it).
"""

import pytest
from hypothesis import settings

pytest_plugins = ["parley.testing.needs", "pytester"]


def pytest_configure(config: pytest.Config) -> None:
    from parley.testing.needs import in_ci  # imported once registered as a plugin

    settings.register_profile("ci", derandomize=True, print_blob=True)
    settings.register_profile("dev", print_blob=True)
    settings.load_profile("ci" if in_ci() else "dev")
