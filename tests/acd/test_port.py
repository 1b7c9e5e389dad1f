"""The ACD's extensions (callbacks, outbound work) use the core only through ``AcdCore``."""

from __future__ import annotations

import ast
import gc
import inspect
from types import ModuleType

import pytest

from parley.acd import callbacks, outbound
from parley.acd.port import AcdCore


def _acd_attributes(module: ModuleType) -> set[str]:
    """Every ``acd.<name>`` the module reads or calls (``acd`` is the core's parameter)."""
    gc.disable()  # CPython 3.11: a collection during ast.parse can fail it (test_architecture)
    try:
        tree = ast.parse(inspect.getsource(module))
    finally:
        gc.enable()
    return {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "acd"}


@pytest.mark.parametrize("module", [callbacks, outbound])
def test_extensions_use_only_the_declared_operations(module: ModuleType) -> None:
    declared = {name for name in vars(AcdCore) if not name.startswith("_")}
    used = _acd_attributes(module)
    assert used, "the extension should reach the core through its acd parameter"
    assert used <= declared, f"not in AcdCore: {sorted(used - declared)}"
