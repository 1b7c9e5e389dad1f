"""Build a :class:`~parley.ivr.model.Flow` from YAML, recording every problem with its line.

The YAML is composed (not loaded) so that each value keeps its position: every issue names the
file, the line, the node id and the field. Parsing goes on after a problem so that one pass
reports all of them. Graph checks (references, reachability, dead ends) are in
:mod:`parley.ivr.validator`, which calls :func:`parse_flow` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from parley.config import LANGUAGES, compose_yaml
from parley.events import HangupCause
from parley.ivr.errors import ExpressionError, FlowIssue, Severity
from parley.ivr.expr import Expression, Template, check
from parley.ivr.model import (
    NODE_TYPES,
    CallbackNode,
    CollectNode,
    ConditionNode,
    Flow,
    FlowNode,
    HangupNode,
    LookupNode,
    MenuNode,
    PlayNode,
    PromptKind,
    Prompts,
    PromptSpec,
    QueueNode,
    RecordNode,
    SayKind,
    SayNode,
    Screening,
    SetNode,
    TransferKind,
    TransferNode,
    VoicemailNode,
)

_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MENU_KEY = re.compile(r"[0-9*#]")
_RESERVED_VARIABLES = {"ani", "dnis", "call_id", "flow"}
T = TypeVar("T")

_COMMON = {"type", "description"}
_FIELDS: dict[str, set[str]] = {
    "play": {"prompt", "next"},
    "menu": {"prompt", "options", "timeout", "retries", "invalid_prompt", "timeout_prompt",
             "on_invalid", "on_timeout", "on_failure"},
    "collect": {"prompt", "variable", "next", "on_failure", "min_length", "max_length",
                "pattern", "min", "max", "terminators", "timeout", "inter_digit_timeout",
                "retries", "invalid_prompt", "timeout_prompt"},
    "say": {"kind", "value", "next"},
    "condition": {"if", "then", "else"},
    "set": {"variables", "next"},
    "lookup": {"method", "url", "variable", "next", "fallback", "body", "headers", "timeout"},
    "queue": {"queue", "priority", "skills", "data", "on_failure"},
    "transfer": {"to", "target", "on_failure"},
    "voicemail": {"mailbox", "prompt"},
    "callback": {"queue", "prompt", "accepted", "declined", "number", "confirm_digit",
                 "timeout", "confirm_prompt"},
    "record": {"variable", "next", "prompt", "max_seconds", "beep", "terminators"},
    "hangup": {"cause", "prompt"},
}
_FLOW_FIELDS = {"flow", "description", "start", "nodes", "timezone", "holidays", "calendar",
                "screening", "on_error", "variables", "max_steps", "language",
                "languages", "layout"}
_MISSING = object()


@dataclass
class ParsedFlow:
    """What parsing produced: the flow (None if the file is unusable) and every issue found.

    ``declared`` holds every node id in the file, also those whose node could not be built, so
    that a broken node does not make each reference to it an error too.
    """

    flow: Flow | None
    issues: list[FlowIssue]
    declared: dict[str, int] = field(default_factory=dict)  # node id -> line
    types: dict[str, str] = field(default_factory=dict)  # node id -> type name, if known
    exits: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    """Per node id ("" for the flow's own fields): (field, target, line) of every exit."""
    expressions: list[tuple[str | None, str, int, Expression]] = field(default_factory=list)
    """(node id, field, line, expression) of every expression, also inside templates."""


class _Reader:
    """Reads typed fields from composed YAML nodes and collects issues instead of raising."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[FlowIssue] = []
        self.node_id: str | None = None
        self.exits: dict[str, list[tuple[str, str, int]]] = {}
        self.expressions: list[tuple[str | None, str, int, Expression]] = []
        self._constructor = SafeConstructor()

    def report(self, code: str, message: str, node: Node | int | None, field: str | None,
               severity: Severity = Severity.ERROR) -> None:
        line = node if isinstance(node, int) or node is None else node.start_mark.line + 1
        self.issues.append(FlowIssue(code, message, self.file, line, self.node_id, field,
                                     severity))

    def plain(self, node: Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: Node, field: str | None) -> dict[str, tuple[Node, Node]] | None:
        """A YAML mapping as {key: (key node, value node)}; duplicate keys are reported."""
        if not isinstance(node, MappingNode):
            self.report("wrong-type", "must be a mapping of names to values", node, field)
            return None
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.plain(key_node)
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                code = "duplicate-id" if field == "nodes" else "duplicate-key"
                what = "node id" if field == "nodes" else "key"
                first = out[key][0].start_mark.line + 1
                if field == "nodes":
                    self.node_id = key
                self.report(code, f"duplicate {what} {key!r} (first defined on line {first})",
                            key_node, field if field != "nodes" else "id")
                continue
            out[key] = (key_node, value_node)
        return out

    def get(self, fields: dict[str, tuple[Node, Node]], name: str, where: Node, *,
            required: bool) -> Node | None:
        if name in fields:
            return fields[name][1]
        if required:
            self.report("missing-field", f"required field {name!r} is missing", where, name)
        return None

    def string(self, fields: dict[str, tuple[Node, Node]], name: str, where: Node, *,
               required: bool = False, default: str | None = None) -> str | None:
        node = self.get(fields, name, where, required=required)
        if node is None:
            return default
        value = self.plain(node) if isinstance(node, ScalarNode) else _MISSING
        if isinstance(value, bool) or value is None or value is _MISSING:
            self.report("wrong-type", "must be a text value", node, name)
            return default
        return str(value)

    def number(self, fields: dict[str, tuple[Node, Node]], name: str, where: Node, *,
               default: float | None, minimum: float = 0.0, integer: bool = False,
               maximum: float | None = None) -> float | None:
        node = self.get(fields, name, where, required=False)
        if node is None:
            return default
        value = self.plain(node) if isinstance(node, ScalarNode) else None
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float) or (
            integer and not isinstance(value, int)
        ):
            self.report("wrong-type", f"must be {kind}, not {_describe(node)}", node, name)
            return default
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum:g}" if maximum is not None else ""
            self.report("bad-value", f"must be at least {minimum:g}{upper}, not {value}",
                        node, name)
            return default
        return float(value)

    def boolean(self, fields: dict[str, tuple[Node, Node]], name: str, where: Node,
                default: bool) -> bool:
        node = self.get(fields, name, where, required=False)
        if node is None:
            return default
        value = self.plain(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, bool):
            self.report("wrong-type", "must be true or false", node, name)
            return default
        return value

    def exit(self, fields: dict[str, tuple[Node, Node]], name: str, where: Node, *,
             required: bool) -> str | None:
        target = self.string(fields, name, where, required=required)
        if target is not None:
            self.add_exit(name, target, fields[name][1])
        return target

    def add_exit(self, name: str, target: str, node: Node) -> None:
        self.exits.setdefault(self.node_id or "", []).append(
            (name, target, node.start_mark.line + 1))

    def expression(self, node: Node, field: str, variable_types: dict[str, str] | None = None,
                   want_bool: bool = False) -> Expression | None:
        if not isinstance(node, ScalarNode):
            self.report("wrong-type", "must be an expression (text)", node, field)
            return None
        raw = self.plain(node)
        source = "true" if raw is True else "false" if raw is False else str(raw)
        if raw is None:
            source = "null"
        try:
            expression = Expression.compile(source)
        except ExpressionError as exc:
            self.report("bad-expression", f"{exc.detail} at column {exc.position}: {source!r}",
                        node, field)
            return None
        result, problems = check(expression.tree, variable_types)
        for problem in problems:
            self.report("bad-expression", f"{problem.message} at column {problem.pos}: "
                        f"{source!r}", node, field)
        if want_bool and result not in ("bool", "any"):
            self.report("wrong-type", f"a condition must be true or false, but this is a "
                        f"{result}: {source!r}", node, field)
        if problems:
            return None
        self.expressions.append((self.node_id, field, node.start_mark.line + 1, expression))
        return expression

    def template(self, node: Node, field: str, *, allow_empty: bool = False
                 ) -> Template | None:
        if not isinstance(node, ScalarNode) or self.plain(node) is None:
            self.report("wrong-type", "must be a text value", node, field)
            return None
        source = str(self.plain(node))
        if not source.strip() and not allow_empty:
            self.report("bad-value", "must not be empty", node, field)
            return None
        try:
            template = Template.compile(source)
        except ExpressionError as exc:
            self.report("bad-expression", f"{exc.detail} at column {exc.position}: {source!r}",
                        node, field)
            return None
        ok = True
        for expression, offset in zip(template.expressions, template.offsets, strict=True):
            for problem in check(expression.tree)[1]:
                ok = False
                self.report("bad-expression", f"{problem.message} at column "
                            f"{problem.pos + offset}: {source!r}", node, field)
        if not ok:
            return None
        for expression in template.expressions:
            self.expressions.append((self.node_id, field, node.start_mark.line + 1, expression))
        return template

    def prompts(self, fields: dict[str, tuple[Node, Node]], name: str, where: Node, *,
                required: bool = False) -> Prompts:
        node = self.get(fields, name, where, required=required)
        if node is None:
            return ()
        items = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not items:
            self.report("bad-value", "the prompt list is empty", node, name)
        out: list[PromptSpec] = []
        for item in items:
            spec = self._prompt_item(item, name)
            if spec is not None:
                out.append(spec)
        return tuple(out)

    def _prompt_item(self, item: Node, name: str) -> PromptSpec | None:
        if isinstance(item, ScalarNode):
            template = self.template(item, name)
            return None if template is None else PromptSpec(PromptKind.FILE, template)
        if not isinstance(item, MappingNode):
            self.report("wrong-type", "a prompt is a name, {file: ...}, {say: ..., value: ...} "
                        "or {text: ...}", item, name)
            return None
        parts = self.mapping(item, name) or {}
        kinds = [key for key in ("file", "text", "say") if key in parts]
        if len(kinds) != 1 or set(parts) - {"file", "text", "say", "value"}:
            self.report("wrong-type", "a prompt item has exactly one of 'file', 'text' or "
                        "'say' (with 'value')", item, name)
            return None
        if kinds[0] == "say":
            kind_text = self.string(parts, "say", item, required=True) or ""
            if kind_text not in SayKind.__members__.values():
                self.report("bad-value", f"say must be number, digits or duration, not "
                            f"{kind_text!r}", parts["say"][1], name)
                return None
            value_node = self.get(parts, "value", item, required=True)
            if value_node is None:
                return None
            expression = self.expression(value_node, f"{name}.value")
            if expression is None:
                return None
            template = Template(expression.source, (expression,), (0,))
            return PromptSpec(PromptKind.SAY, template, SayKind(kind_text))
        template = self.template(parts[kinds[0]][1], name)
        if template is None:
            return None
        return PromptSpec(PromptKind.FILE if kinds[0] == "file" else PromptKind.SPEECH, template)

    def variable_name(self, fields: dict[str, tuple[Node, Node]], name: str, where: Node,
                      required: bool = True) -> str | None:
        value = self.string(fields, name, where, required=required)
        if value is not None:
            node = fields[name][1]
            if not _VARIABLE.fullmatch(value):
                self.report("bad-value", f"{value!r} is not a variable name (letters, digits, "
                            "underscore)", node, name)
                return None
            if value in _RESERVED_VARIABLES:
                self.report("bad-value", f"{value!r} is set by Parley and cannot be assigned",
                            node, name)
                return None
        return value

    def assignments(self, node: Node, name: str) -> tuple[tuple[str, Expression], ...]:
        parts = self.mapping(node, name)
        out: list[tuple[str, Expression]] = []
        for key, (key_node, value_node) in (parts or {}).items():
            if not _VARIABLE.fullmatch(key) or key in _RESERVED_VARIABLES:
                self.report("bad-value", f"{key!r} cannot be assigned (a variable name is "
                            "letters, digits and underscore; ani and dnis are read-only)",
                            key_node, f"{name}.{key}")
                continue
            expression = self.expression(value_node, f"{name}.{key}")
            if expression is not None:
                out.append((key, expression))
        return tuple(out)


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return repr(node.value) if isinstance(node, ScalarNode) else "this"


def parse_flow(text: str, file: str = "") -> ParsedFlow:
    """Parse flow YAML into a :class:`ParsedFlow` (never raises on bad input)."""
    reader = _Reader(file)
    try:
        root = compose_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        reader.report("yaml-syntax", f"not valid YAML: {problem}", line, None)
        return ParsedFlow(None, reader.issues)
    if root is None:
        reader.report("missing-field", "the file is empty; a flow needs 'flow', 'start' and "
                      "'nodes'", 1, None)
        return ParsedFlow(None, reader.issues)
    top = reader.mapping(root, None)
    if top is None:
        return ParsedFlow(None, reader.issues)
    for key, (key_node, _) in top.items():
        if key not in _FLOW_FIELDS:
            reader.report("unknown-field", f"unknown field {key!r} (known: "
                          f"{', '.join(sorted(_FLOW_FIELDS))})", key_node, key)
    name = reader.string(top, "flow", root, required=True) or ""
    start = reader.exit(top, "start", root, required=True) or ""
    settings = _flow_settings(reader, top, root)
    nodes: dict[str, FlowNode] = {}
    declared: dict[str, int] = {}
    types: dict[str, str] = {}
    nodes_node = reader.get(top, "nodes", root, required=True)
    entries = reader.mapping(nodes_node, "nodes") if nodes_node is not None else None
    for node_id, (key_node, value_node) in (entries or {}).items():
        declared[node_id] = key_node.start_mark.line + 1
        reader.node_id = node_id
        if not _ID.fullmatch(node_id):
            reader.report("bad-value", f"{node_id!r} is not a node id (a letter, then letters, "
                          "digits, '_', '-' or '.')", key_node, "id")
        built = _parse_node(reader, node_id, value_node, types, key_node.start_mark.line + 1)
        if built is not None:
            nodes[node_id] = built
    reader.node_id = None
    if entries is not None and not entries:
        reader.report("missing-field", "the flow has no nodes", nodes_node, "nodes")
    flow = Flow(name=name, start=start, nodes=nodes, file=file, source=text, **settings)
    return ParsedFlow(flow, reader.issues, declared, types, reader.exits, reader.expressions)


def _flow_settings(reader: _Reader, top: dict[str, tuple[Node, Node]], root: Node
                   ) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    description = reader.string(top, "description", root)
    if description is not None:
        settings["description"] = description
    timezone = reader.string(top, "timezone", root)
    if timezone is not None:
        try:
            ZoneInfo(timezone)
            settings["timezone"] = timezone
        except (ZoneInfoNotFoundError, ValueError):
            reader.report("bad-value", f"unknown time zone {timezone!r} (use a name like "
                          "Europe/Paris)", top["timezone"][1], "timezone")
    if (node := reader.get(top, "holidays", root, required=False)) is not None:
        settings["holidays"] = _holidays(reader, node)
    calendar = reader.string(top, "calendar", root)
    if calendar is not None:
        settings["calendar"] = calendar
    on_error = reader.exit(top, "on_error", root, required=False)
    if on_error is not None:
        settings["on_error"] = on_error
    steps = reader.number(top, "max_steps", root, default=None, minimum=1, integer=True)
    if steps is not None:
        settings["max_steps"] = int(steps)
    languages = _languages(reader, top, root)
    if languages:
        settings["languages"] = languages
    if (node := reader.get(top, "variables", root, required=False)) is not None:
        settings["variables"] = reader.assignments(node, "variables")
    if (node := reader.get(top, "screening", root, required=False)) is not None:
        screening = _screening(reader, node)
        if screening is not None:
            settings["screening"] = screening
    if (node := reader.get(top, "layout", root, required=False)) is not None:
        _layout(reader, node)
    return settings


def _layout(reader: _Reader, node: Node) -> None:
    """``layout:``: where the web editor draws each node (``id: {x: 120, y: 40}``). Only its
    shape is checked; the interpreter never reads it, and a node it names that is gone is
    simply not drawn."""
    for node_id, (_key, value) in (reader.mapping(node, "layout") or {}).items():
        where = reader.mapping(value, f"layout.{node_id}")
        if where is None:
            continue
        for axis in ("x", "y"):
            reader.number(where, axis, value, default=None, minimum=-100_000,
                          maximum=100_000)
        _unknown_fields(reader, where, {"x", "y"}, f"layout.{node_id}")


def _languages(reader: _Reader, top: dict[str, tuple[Node, Node]], root: Node
               ) -> tuple[str, ...]:
    """``language: ru`` or ``languages: [ru, en]``: the languages the flow speaks."""
    found: list[str] = []
    for name in ("language", "languages"):
        node = reader.get(top, name, root, required=False)
        if node is None:
            continue
        items = node.value if isinstance(node, SequenceNode) else [node]
        for item in items:
            value = reader.plain(item) if isinstance(item, ScalarNode) else None
            if isinstance(value, str) and value in LANGUAGES:
                if value not in found:
                    found.append(value)
            else:
                reader.report("bad-value", f"{_describe(item)} is not a known language (use "
                              f"{', '.join(LANGUAGES)})", item, name)
    return tuple(found)


def _holidays(reader: _Reader, node: Node) -> frozenset[date]:
    if not isinstance(node, SequenceNode):
        reader.report("wrong-type", "must be a list of dates like 2026-12-25", node, "holidays")
        return frozenset()
    days: set[date] = set()
    for item in node.value:
        value = reader.plain(item) if isinstance(item, ScalarNode) else None
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                value = None
        if isinstance(value, date):
            days.add(value)
        else:
            reader.report("wrong-type", f"{_describe(item)} is not a date like 2026-12-25",
                          item, "holidays")
    return frozenset(days)


def _screening(reader: _Reader, node: Node) -> Screening | None:
    fields = reader.mapping(node, "screening")
    if fields is None:
        return None
    _unknown_fields(reader, fields, {"list", "cause", "prompt", "node"}, "screening")
    list_name = reader.string(fields, "list", node, default="blacklist") or "blacklist"
    cause = _cause(reader, fields, node, "screening.cause", HangupCause.CALL_REJECTED)
    prompts = reader.prompts(fields, "prompt", node)
    target = reader.exit(fields, "node", node, required=False)
    return Screening(list_name, cause, prompts, target)


def _cause(reader: _Reader, fields: dict[str, tuple[Node, Node]], where: Node, name: str,
           default: HangupCause) -> HangupCause:
    key = name.rsplit(".", 1)[-1]
    text = reader.string(fields, key, where)
    if text is None:
        return default
    try:
        return HangupCause[text.upper()]
    except KeyError:
        known = ", ".join(cause.name.lower() for cause in HangupCause)
        reader.report("bad-value", f"unknown hangup cause {text!r} (known: {known})",
                      fields[key][1], name)
        return default


def _unknown_fields(reader: _Reader, fields: dict[str, tuple[Node, Node]], known: set[str],
                    prefix: str | None = None) -> None:
    for key, (key_node, _) in fields.items():
        if key not in known:
            label = f"{prefix}.{key}" if prefix else key
            reader.report("unknown-field", f"unknown field {key!r} (known: "
                          f"{', '.join(sorted(known))})", key_node, label)


def _parse_node(reader: _Reader, node_id: str, node: Node, types: dict[str, str], line: int
                ) -> FlowNode | None:
    fields = reader.mapping(node, None)
    if fields is None:
        return None
    type_name = reader.string(fields, "type", node, required=True)
    if type_name is None:
        return None
    builder = _BUILDERS.get(type_name)
    if builder is None:
        reader.report("unknown-type", f"unknown node type {type_name!r} (known: "
                      f"{', '.join(sorted(NODE_TYPES))})", fields["type"][1], "type")
        return None
    types[node_id] = type_name
    _unknown_fields(reader, fields, _FIELDS[type_name] | _COMMON)
    before = len(reader.issues)
    description = reader.string(fields, "description", node, default="") or ""
    built = builder(reader, fields, node, {"id": node_id, "line": line,
                                           "description": description})
    errors = [i for i in reader.issues[before:] if i.severity is Severity.ERROR]
    return None if errors else built


Fields = dict[str, tuple[Node, Node]]
Builder = Callable[[_Reader, Fields, Node, dict[str, Any]], FlowNode | None]


def _opt(value: T | None, name: str, into: dict[str, Any]) -> None:
    if value is not None:
        into[name] = value


def _build_play(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    prompts = r.prompts(f, "prompt", n, required=True)
    target = r.exit(f, "next", n, required=True)
    return PlayNode(**base, prompts=prompts, next=target or "")


def _retry_fields(r: _Reader, f: Fields, n: Node, into: dict[str, Any]) -> None:
    _opt(r.number(f, "timeout", n, default=None, minimum=0.5, maximum=600), "timeout", into)
    retries = r.number(f, "retries", n, default=None, integer=True, maximum=10)
    _opt(None if retries is None else int(retries), "retries", into)
    into["invalid_prompts"] = r.prompts(f, "invalid_prompt", n)
    into["timeout_prompts"] = r.prompts(f, "timeout_prompt", n)


def _build_menu(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    prompts = r.prompts(f, "prompt", n, required=True)
    options: dict[str, str] = {}
    options_node = r.get(f, "options", n, required=True)
    for digit, (key_node, value_node) in (r.mapping(options_node, "options") or {}).items() \
            if options_node is not None else ():
        if not _MENU_KEY.fullmatch(digit):
            r.report("bad-value", f"menu key {digit!r} must be one digit 0-9, * or # (quote "
                     "it in YAML)", key_node, f"options.{digit}")
            continue
        target = r.plain(value_node) if isinstance(value_node, ScalarNode) else None
        if not isinstance(target, str):
            r.report("wrong-type", "must be a node id", value_node, f"options.{digit}")
            continue
        r.add_exit(f"options.{digit}", target, value_node)
        options[digit] = target
    if options_node is not None and not options and isinstance(options_node, MappingNode) \
            and not options_node.value:
        r.report("missing-field", "a menu needs at least one option", options_node, "options")
    extra: dict[str, Any] = {}
    _retry_fields(r, f, n, extra)
    for name in ("on_invalid", "on_timeout", "on_failure"):
        _opt(r.exit(f, name, n, required=False), name, extra)
    if "on_failure" not in extra and not ("on_invalid" in extra and "on_timeout" in extra):
        r.report("missing-exit", "a menu needs 'on_failure' (or both 'on_invalid' and "
                 "'on_timeout') for callers who never choose", n, "on_failure")
    return MenuNode(**base, prompts=prompts, options=options, **extra)


def _build_collect(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    prompts = r.prompts(f, "prompt", n, required=True)
    variable = r.variable_name(f, "variable", n)
    target = r.exit(f, "next", n, required=True)
    failure = r.exit(f, "on_failure", n, required=True)
    extra: dict[str, Any] = {}
    _retry_fields(r, f, n, extra)
    for name in ("min_length", "max_length"):
        value = r.number(f, name, n, default=None, minimum=1, integer=True, maximum=64)
        _opt(None if value is None else int(value), name, extra)
    if extra.get("min_length", 1) > extra.get("max_length", 20):
        r.report("bad-value", "min_length is greater than max_length", n, "min_length")
    pattern = r.string(f, "pattern", n)
    if pattern is not None:
        try:
            re.compile(pattern)
            extra["pattern"] = pattern
        except re.error as exc:
            r.report("bad-value", f"bad regular expression {pattern!r}: {exc}", f["pattern"][1],
                     "pattern")
    _opt(r.number(f, "min", n, default=None, minimum=float("-inf")), "minimum", extra)
    _opt(r.number(f, "max", n, default=None, minimum=float("-inf")), "maximum", extra)
    terminators = r.string(f, "terminators", n)
    if terminators is not None:
        if any(char not in "0123456789*#" for char in terminators):
            r.report("bad-value", "terminators are digits, * or #", f["terminators"][1],
                     "terminators")
        extra["terminators"] = terminators
    _opt(r.number(f, "inter_digit_timeout", n, default=None, minimum=0.5, maximum=60),
         "inter_digit_timeout", extra)
    return CollectNode(**base, prompts=prompts, variable=variable or "", next=target or "",
                       on_failure=failure or "", **extra)


def _build_say(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    kind = r.string(f, "kind", n, required=True)
    if kind is not None and kind not in SayKind.__members__.values():
        r.report("bad-value", f"kind must be number, digits or duration, not {kind!r}",
                 f["kind"][1], "kind")
    value_node = r.get(f, "value", n, required=True)
    value = r.expression(value_node, "value") if value_node is not None else None
    target = r.exit(f, "next", n, required=True)
    if value is None or kind is None or kind not in SayKind.__members__.values():
        return None
    return SayNode(**base, kind=SayKind(kind), value=value, next=target or "")


def _build_condition(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    node = r.get(f, "if", n, required=True)
    expression = r.expression(node, "if", want_bool=True) if node is not None else None
    then = r.exit(f, "then", n, required=True)
    otherwise = r.exit(f, "else", n, required=True)
    if expression is None:
        return None
    return ConditionNode(**base, expression=expression, then=then or "", otherwise=otherwise or "")


def _build_set(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    node = r.get(f, "variables", n, required=True)
    assignments = r.assignments(node, "variables") if node is not None else ()
    target = r.exit(f, "next", n, required=True)
    return SetNode(**base, assignments=assignments, next=target or "")


def _build_lookup(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    method = (r.string(f, "method", n, default="GET") or "GET").upper()
    if method not in ("GET", "POST"):
        r.report("bad-value", f"method must be GET or POST, not {method!r}", f["method"][1],
                 "method")
    url_node = r.get(f, "url", n, required=True)
    url = r.template(url_node, "url") if url_node is not None else None
    if url is not None and not re.match(r"https?://", url.source):
        r.report("bad-value", "url must start with http:// or https://", url_node, "url")
    variable = r.variable_name(f, "variable", n)
    target = r.exit(f, "next", n, required=True)
    fallback = r.exit(f, "fallback", n, required=True)
    extra: dict[str, Any] = {}
    _opt(r.number(f, "timeout", n, default=None, minimum=0.1, maximum=60), "timeout", extra)
    if (node := r.get(f, "body", n, required=False)) is not None:
        if method != "POST":
            r.report("bad-value", "a body is sent only with method POST", node, "body")
        extra["body"] = r.assignments(node, "body")
    if (node := r.get(f, "headers", n, required=False)) is not None:
        headers: list[tuple[str, Template]] = []
        for key, (_, value_node) in (r.mapping(node, "headers") or {}).items():
            template = r.template(value_node, f"headers.{key}", allow_empty=True)
            if template is not None:
                headers.append((key, template))
        extra["headers"] = tuple(headers)
    if url is None:
        return None
    return LookupNode(**base, method=method, url=url, variable=variable or "",
                      next=target or "", fallback=fallback or "", **extra)


def _build_queue(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    queue_node = r.get(f, "queue", n, required=True)
    queue = r.template(queue_node, "queue") if queue_node is not None else None
    extra: dict[str, Any] = {}
    if (node := r.get(f, "priority", n, required=False)) is not None:
        expression = r.expression(node, "priority")
        if expression is not None and check(expression.tree)[0] not in ("num", "any"):
            r.report("wrong-type", "priority must be a number", node, "priority")
        _opt(expression, "priority", extra)
    if (node := r.get(f, "skills", n, required=False)) is not None:
        skills = r.plain(node)
        if not isinstance(skills, list) or not all(isinstance(s, str) for s in skills):
            r.report("wrong-type", "skills must be a list of names", node, "skills")
        else:
            extra["skills"] = tuple(skills)
    if (node := r.get(f, "data", n, required=False)) is not None:
        extra["data"] = r.assignments(node, "data")
    _opt(r.exit(f, "on_failure", n, required=False), "on_failure", extra)
    return None if queue is None else QueueNode(**base, queue=queue, **extra)


def _build_transfer(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    kind = r.string(f, "to", n, required=True)
    if kind is not None and kind not in TransferKind.__members__.values():
        r.report("bad-value", f"'to' must be operator, number or flow, not {kind!r}",
                 f["to"][1], "to")
        kind = None
    target_node = r.get(f, "target", n, required=True)
    target = r.template(target_node, "target") if target_node is not None else None
    failure = r.exit(f, "on_failure", n, required=False)
    if kind is None or target is None:
        return None
    return TransferNode(**base, kind=TransferKind(kind), target=target, on_failure=failure)


def _build_voicemail(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    node = r.get(f, "mailbox", n, required=True)
    mailbox = r.template(node, "mailbox") if node is not None else None
    prompts = r.prompts(f, "prompt", n)
    return None if mailbox is None else VoicemailNode(**base, mailbox=mailbox, prompts=prompts)


def _build_callback(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    queue_node = r.get(f, "queue", n, required=True)
    queue = r.template(queue_node, "queue") if queue_node is not None else None
    prompts = r.prompts(f, "prompt", n, required=True)
    accepted = r.exit(f, "accepted", n, required=True)
    declined = r.exit(f, "declined", n, required=True)
    extra: dict[str, Any] = {}
    if (node := r.get(f, "number", n, required=False)) is not None:
        _opt(r.expression(node, "number"), "number", extra)
    digit = r.string(f, "confirm_digit", n)
    if digit is not None:
        if not _MENU_KEY.fullmatch(digit):
            r.report("bad-value", "confirm_digit must be one digit 0-9, * or #",
                     f["confirm_digit"][1], "confirm_digit")
        extra["confirm_digit"] = digit
    _opt(r.number(f, "timeout", n, default=None, minimum=0.5, maximum=600), "timeout", extra)
    extra["confirm_prompts"] = r.prompts(f, "confirm_prompt", n)
    if queue is None:
        return None
    return CallbackNode(**base, queue=queue, prompts=prompts, accepted=accepted or "",
                        declined=declined or "", **extra)


def _build_record(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    variable = r.variable_name(f, "variable", n)
    target = r.exit(f, "next", n, required=True)
    extra: dict[str, Any] = {"prompts": r.prompts(f, "prompt", n)}
    _opt(r.number(f, "max_seconds", n, default=None, minimum=1, maximum=3600), "max_seconds",
         extra)
    extra["beep"] = r.boolean(f, "beep", n, True)
    _opt(r.string(f, "terminators", n), "terminators", extra)
    return RecordNode(**base, variable=variable or "", next=target or "", **extra)


def _build_hangup(r: _Reader, f: Fields, n: Node, base: dict[str, Any]) -> FlowNode | None:
    cause = _cause(r, f, n, "cause", HangupCause.NORMAL_CLEARING)
    return HangupNode(**base, cause=cause, prompts=r.prompts(f, "prompt", n))


_BUILDERS: dict[str, Builder] = {
    "play": _build_play, "menu": _build_menu, "collect": _build_collect, "say": _build_say,
    "condition": _build_condition, "set": _build_set, "lookup": _build_lookup,
    "queue": _build_queue, "transfer": _build_transfer, "voicemail": _build_voicemail,
    "callback": _build_callback, "record": _build_record, "hangup": _build_hangup,
}
