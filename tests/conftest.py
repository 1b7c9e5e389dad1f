"""Suite-wide settings.

Tests mark the real peers they need with ``parley.testing.needs``: a missing one skips the
test on a developer's machine and fails it under CI (``CI=true``). Under CI property tests
also run derandomized, so a verdict can be reproduced from the commit alone; runs elsewhere
draw fresh random examples each time and keep finding new cases (a failing example is
printed with the decorator that replays it).
"""

import ast
import gc
import threading
from typing import Any

import pytest
from hypothesis import settings

_parse = ast.parse
_parsing = threading.RLock()


def _parse_guarded(*args: Any, **kwargs: Any) -> Any:
    """``ast.parse`` one at a time and with the cyclic garbage collector paused. CPython 3.11
    keeps the AST constructor's recursion depth per interpreter, and fails a parse with
    "SystemError: AST constructor recursion depth mismatch" when a collection (finalizers
    running Python code) or another thread's parse interleaves with it (CPython gh-106905);
    pytest's assertion rewriting, schemathesis and the import-graph checks all parse, beside
    the PostgreSQL and namespace tests' threads and finalizers."""
    with _parsing:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return _parse(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()


ast.parse = _parse_guarded

pytest_plugins = ["parley.testing.needs", "pytester"]


def pytest_configure(config: pytest.Config) -> None:
    from parley.testing.needs import in_ci  # imported once registered as a plugin

    settings.register_profile("ci", derandomize=True, print_blob=True)
    settings.register_profile("dev", print_blob=True)
    settings.load_profile("ci" if in_ci() else "dev")


#: directories whose tests drive real peers, browsers or nodes: never run beside other tests
_SERIAL_DIRS = ("integration", "browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``serial`` every test that needs a real peer (a ``needs`` mark) or lives in a
    real-peer directory. ``scripts/test`` runs the rest on both cores first (pytest-xdist)
    and these alone after, so timing-sensitive real calls never share the machine with the
    suite itself. A test marked ``beside_others`` runs in the first part wherever it lives:
    its node serves requests and no figure depends on a peer's timing."""
    for item in items:
        parts = item.path.relative_to(config.rootpath).parts
        if item.get_closest_marker("beside_others"):
            continue
        if item.get_closest_marker("needs") or (len(parts) > 1 and parts[1] in _SERIAL_DIRS):
            item.add_marker(pytest.mark.serial)
