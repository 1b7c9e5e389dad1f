"""The YAML examples in docs/ivr.md are valid: a full flow validates, a node snippet builds."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from parley.ivr.validator import validate_flow

DOC = Path(__file__).parents[2] / "docs" / "ivr.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
# Graph issues are expected in a snippet: its exits lead to nodes shown elsewhere.
GRAPH_CODES = {"unknown-node", "unreachable", "dead-end"}


def test_the_reference_has_examples() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_each_yaml_example_is_valid(block: str) -> None:
    if block.startswith("flow:"):
        text = block
    elif block.startswith("screening:"):
        text = "flow: t\nstart: a\n" + block + "nodes:\n  a:\n    type: hangup\n"
    elif block.startswith("prompt:"):
        text = ("flow: t\nstart: a\nnodes:\n  a:\n    type: play\n"
                + textwrap.indent(block, "    ") + "    next: a\n")
    else:
        text = "flow: t\nstart: a\nnodes:\n" + textwrap.indent(block, "  ")
    result = validate_flow(text, "doc.yaml")
    problems = [str(issue) for issue in result.errors if issue.code not in GRAPH_CODES]
    assert problems == []
    if block.startswith("flow:"):
        assert result.ok


def test_the_demo_diagram_in_the_docs_is_current() -> None:
    from parley.ivr.diagram import to_mermaid
    from parley.ivr.files import shipped_flows

    demo = next(f.require() for f in shipped_flows() if f.require().name == "demo-main")
    indented = "".join("  " + line + "\n" for line in to_mermaid(demo).splitlines())
    assert indented in DOC.read_text(encoding="utf-8")
    # Every exit is an arrow: a changed flow changes the diagram.
    assert to_mermaid(demo).count("-->|") == sum(len(n.exits()) for n in demo.nodes.values())
