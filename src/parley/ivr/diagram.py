"""A flow as a Mermaid flowchart, for the docs and the web editor's preview."""

from __future__ import annotations

import re

from parley.ivr.model import Flow, FlowNode

_SHAPES = {"condition": ("{", "}"), "menu": ("[/", "/]"), "collect": ("[/", "/]")}


def _safe_id(node_id: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _label(node: FlowNode) -> str:
    return f"{node.id}<br/>{node.TYPE}".replace('"', "'")


def to_mermaid(flow: Flow) -> str:
    """``flowchart TD`` text: one box per node, one arrow per exit labelled with its field."""
    lines = ["flowchart TD", f'    start(("{flow.name}")) --> {_safe_id(flow.start)}']
    for node_id, node in flow.nodes.items():
        left, right = _SHAPES.get(node.TYPE, ("([", "])") if node.TERMINAL else ("[", "]"))
        lines.append(f'    {_safe_id(node_id)}{left}"{_label(node)}"{right}')
    for node_id, node in flow.nodes.items():
        for field, target in node.exits():
            label = field.removeprefix("options.")
            lines.append(f'    {_safe_id(node_id)} -->|"{label}"| {_safe_id(target)}')
    return "\n".join(lines) + "\n"
