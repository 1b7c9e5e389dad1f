"""Reading flow files: a directory of ``*.yaml`` flows, or the flows shipped with Parley.

This is the thin file-reading edge of the IVR; everything after reading the text is pure.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from parley.ivr.registry import FlowRegistry
from parley.ivr.validator import ValidatedFlow, validate_flow

DEMO_NUMBERS = {"600": "demo-main", "601": "demo-sales", "602": "demo-support",
                "610": "demo-main-ru", "800": "demo-voicemail"}
"""The demo's number plan: 600 the main menu, 610 the same in Russian, 601 sales, 602
support, 800 the voicemail."""


def load_directory(directory: Path) -> list[ValidatedFlow]:
    """Validate every ``*.yaml`` file in ``directory`` (sorted by name)."""
    return [validate_flow(path.read_text(encoding="utf-8"), str(path))
            for path in sorted(directory.glob("*.yaml"))]


def shipped_flows() -> list[ValidatedFlow]:
    """The flows in the ``parley.flows`` package: the demo's and the examples."""
    folder = resources.files("parley.flows")
    return [validate_flow(item.read_text(encoding="utf-8"), f"parley/flows/{item.name}")
            for item in sorted(folder.iterdir(), key=lambda entry: entry.name)
            if item.name.endswith(".yaml")]


def demo_registry() -> FlowRegistry:
    """A registry with the shipped flows active and the demo numbers (600, 800) bound."""
    registry = FlowRegistry()
    for flow in shipped_flows():
        registry.activate(flow)
    for number, name in DEMO_NUMBERS.items():
        registry.bind_number(number, name)
    return registry
