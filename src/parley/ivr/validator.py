"""Validate a flow before it goes live: fields and expressions, then the graph.

:func:`validate_flow` returns every issue at once (not just the first), each with the file,
line, node id and field. Graph checks: an exit to a node that does not exist, a node no path
from ``start`` reaches, a dead end (a node from which no path reaches a terminal node: queue,
transfer, voicemail or hangup), and a loop made only of nodes that never wait (a warning: the
interpreter's step limit would stop it at run time).
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.ivr.errors import FlowIssue, FlowValidationError, Severity
from parley.ivr.expr import KNOWN_VARIABLE_TYPES, variables_of
from parley.ivr.loader import ParsedFlow, parse_flow
from parley.ivr.model import NODE_TYPES, CollectNode, Flow, LookupNode, RecordNode, SetNode

_TERMINAL_TYPES = {name for name, cls in NODE_TYPES.items() if cls.TERMINAL}
_WAITING_TYPES = {name for name, cls in NODE_TYPES.items() if cls.WAITS}


@dataclass(frozen=True, slots=True)
class ValidatedFlow:
    """A parsed flow and all its issues; only an ``ok`` one may be activated."""

    flow: Flow | None
    issues: tuple[FlowIssue, ...]

    @property
    def errors(self) -> tuple[FlowIssue, ...]:
        return tuple(issue for issue in self.issues if issue.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[FlowIssue, ...]:
        return tuple(issue for issue in self.issues if issue.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return self.flow is not None and not self.errors

    def require(self) -> Flow:
        """The flow, or :class:`FlowValidationError` listing every error."""
        if self.flow is None or self.errors:
            name = self.flow.name if self.flow is not None else "?"
            raise FlowValidationError(name, self.issues)
        return self.flow


def validate_flow(text: str, file: str = "") -> ValidatedFlow:
    """Parse and check flow YAML; never raises on bad input."""
    parsed = parse_flow(text, file)
    issues = list(parsed.issues)
    if parsed.flow is not None:
        issues.extend(check_graph(parsed))
    issues.sort(key=lambda issue: (issue.line or 0, issue.node or "", issue.field or ""))
    return ValidatedFlow(parsed.flow, tuple(issues))


def check_graph(parsed: ParsedFlow) -> list[FlowIssue]:
    """References, reachability, dead ends and busy loops of a parsed flow."""
    flow = parsed.flow
    if flow is None:
        return []
    file = flow.file
    issues: list[FlowIssue] = []
    declared = parsed.declared
    edges: dict[str, list[str]] = {node_id: [] for node_id in declared}
    broken: set[str] = set()  # nodes with an exit to nowhere: reported once, not as dead ends
    for owner, exits in parsed.exits.items():
        for field, target, line in exits:
            if target not in declared:
                broken.add(owner)
                hint = _closest(target, declared)
                issues.append(FlowIssue(
                    "unknown-node", f"{field} refers to node {target!r}, which does not exist"
                    + (f" (did you mean {hint!r}?)" if hint else ""),
                    file, line, owner or None, field))
            elif owner:
                edges[owner].append(target)
    roots = [target for _, target, _ in parsed.exits.get("", []) if target in declared]
    reached = _reach(roots, edges)
    for node_id, line in declared.items():
        if node_id not in reached and roots:
            issues.append(FlowIssue(
                "unreachable", f"no path from start {flow.start!r} leads to this node",
                file, line, node_id, "id"))
    # Nodes that failed to build, or whose type is unknown, count as able to finish so that one
    # broken node is reported once, not again as every node before it being a dead end.
    finishing = {node_id for node_id in declared
                 if parsed.types.get(node_id) in _TERMINAL_TYPES or node_id not in flow.nodes
                 or node_id in broken}
    finishing |= _reach_backwards(finishing, edges)
    for node_id, node in flow.nodes.items():
        if node_id in finishing or node_id not in reached:
            continue
        exits = parsed.exits.get(node_id, [])
        field = exits[0][0] if exits else "type"
        issues.append(FlowIssue(
            "dead-end", "dead end: no path from this node reaches a queue, transfer, voicemail "
            "or hangup node, so the caller would be stuck", file, node.line, node_id, field))
    issues.extend(_unknown_variables(parsed))
    for loop in _busy_loops(flow, edges):
        first = flow.nodes[loop[0]]
        issues.append(FlowIssue(
            "busy-loop", "these nodes loop without ever waiting for the caller: "
            + " -> ".join([*loop, loop[0]]) + "; the step limit will end such calls",
            file, first.line, first.id, "next", Severity.WARNING))
    return issues


def _unknown_variables(parsed: ParsedFlow) -> list[FlowIssue]:
    """Warn about variables read but set nowhere in the flow (often a typo).

    Only a warning: data attached to the call before the flow (by the shell, a transfer or the
    API) is not known here, and an unset variable simply reads as null.
    """
    flow = parsed.flow
    if flow is None:
        return []
    known = set(KNOWN_VARIABLE_TYPES)
    known.update(name for name, _ in flow.variables)
    for node in flow.nodes.values():
        if isinstance(node, SetNode):
            known.update(name for name, _ in node.assignments)
        elif isinstance(node, CollectNode | LookupNode | RecordNode):
            known.add(node.variable)
    issues: list[FlowIssue] = []
    for node_id, field, line, expression in parsed.expressions:
        for name in sorted(variables_of(expression.tree) - known):
            hint = _closest(name, dict.fromkeys(known, 0))
            issues.append(FlowIssue(
                "unknown-variable", f"variable {name!r} is set nowhere in this flow and reads "
                "as null unless attached to the call" + (f" (did you mean {hint!r}?)"
                                                          if hint else ""),
                flow.file, line, node_id, field, Severity.WARNING))
    return issues


def _reach(roots: list[str], edges: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        stack.extend(edges.get(node_id, []))
    return seen


def _reach_backwards(targets: set[str], edges: dict[str, list[str]]) -> set[str]:
    reverse: dict[str, list[str]] = {}
    for source, targets_of in edges.items():
        for target in targets_of:
            reverse.setdefault(target, []).append(source)
    return _reach(list(targets), reverse)


def _busy_loops(flow: Flow, edges: dict[str, list[str]]) -> list[list[str]]:
    """Cycles among nodes that never wait (set, condition), found by Tarjan's SCC algorithm."""
    busy = {node_id for node_id, node in flow.nodes.items()
            if node.TYPE not in _WAITING_TYPES and not node.TERMINAL}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter([t for t in edges.get(start, []) if t in busy]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node_id, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter([t for t in edges.get(child, []) if t in busy])))
                elif child in on_stack:
                    low[node_id] = min(low[node_id], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node_id])
            if low[node_id] == index[node_id]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node_id:
                        break
                if len(component) > 1 or node_id in edges.get(node_id, []):
                    loops.append(sorted(component))

    for node_id in sorted(busy):
        if node_id not in index:
            visit(node_id)
    return loops


def _closest(name: str, candidates: dict[str, int]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.7)
    return matches[0] if matches else None
