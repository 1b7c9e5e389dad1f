"""The flows' small, safe expression language: tokenizer, parser, static checker, evaluator.

Conditions and ``set`` nodes use expressions such as::

    in_list("vip", ani) or queue_expected_wait("support") > 300
    time_between("09:00", "18:00") and weekday_in("mon", "fri") and not is_holiday()

The language has literals (numbers, strings, ``true``, ``false``, ``null``, ``[lists]``),
variables (``ani``, ``customer.name``, ``customer["tier"]``), arithmetic, comparisons,
``and``/``or``/``not`` (also ``&&``, ``||``, ``!``), ``in``, and a fixed set of functions. Nothing
else: no attribute access on Python objects, no loops, no ``eval``. Evaluation reads only what
an :class:`ExpressionContext` gives it, so it is pure and deterministic. Errors carry the
1-based column of the offending token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from parley.ivr.errors import ExpressionError
from parley.ivr.functions import (
    FUNCTIONS,
    ExpressionContext,
    ListLookup,
    QueueFigures,
    Value,
    to_text,
    type_name,
)

__all__ = [
    "FUNCTIONS", "Expression", "ExpressionContext", "ListLookup", "Node", "QueueFigures",
    "Template", "Value", "check", "evaluate", "parse", "to_text", "tokenize", "truthy",
    "variables_of",
]

# --- tokens -------------------------------------------------------------------------------

_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "(", ")",
              "[", "]", ",", ".", "!")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
MAX_SOURCE = 2000  # characters; a flow expression longer than this is a mistake


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "num", "str", "name", "op", "end"
    text: str
    pos: int  # 1-based column
    value: Value = None


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens; raise :class:`ExpressionError` at the first bad character."""
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"expression longer than {MAX_SOURCE} characters", position=1)
    tokens: list[Token] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char.isspace():
            i += 1
            continue
        if char in "\"'":
            text, i_end = _read_string(source, i)
            tokens.append(Token("str", source[i:i_end], i + 1, text))
            i = i_end
            continue
        if match := _NUMBER.match(source, i):
            text = match.group()
            number: int | float = float(text) if "." in text else int(text)
            tokens.append(Token("num", text, i + 1, number))
            i = match.end()
            continue
        if match := _NAME.match(source, i):
            tokens.append(Token("name", match.group(), i + 1))
            i = match.end()
            continue
        for op in _OPERATORS:
            if source.startswith(op, i):
                tokens.append(Token("op", op, i + 1))
                i += len(op)
                break
        else:
            if char == "=":
                raise ExpressionError("'=' is not an operator; compare with '=='", position=i + 1)
            raise ExpressionError(f"unexpected character {char!r}", position=i + 1)
    tokens.append(Token("end", "", len(source) + 1))
    return tokens


def _read_string(source: str, start: int) -> tuple[str, int]:
    quote = source[start]
    out: list[str] = []
    i = start + 1
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while i < len(source):
        char = source[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\" and i + 1 < len(source):
            nxt = source[i + 1]
            if nxt not in escapes:
                raise ExpressionError(f"unknown escape '\\{nxt}'", position=i + 1)
            out.append(escapes[nxt])
            i += 2
            continue
        out.append(char)
        i += 1
    raise ExpressionError("string is not closed", position=start + 1)


# --- syntax tree --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: Value
    pos: int


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Attribute:
    target: Node
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Index:
    target: Node
    key: Node
    pos: int


@dataclass(frozen=True, slots=True)
class ListDisplay:
    items: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "not" or "-"
    operand: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node
    pos: int


Node = Literal | Variable | Attribute | Index | ListDisplay | Call | Unary | Binary

_COMPARISONS = {"==", "!=", "<", "<=", ">", ">=", "in"}
MAX_DEPTH = 60


class _Parser:
    """Recursive descent, one method per precedence level (lowest first)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _is(self, text: str) -> bool:
        return self.tok.kind in ("op", "name") and self.tok.text == text

    def _take(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def _expect(self, text: str) -> Token:
        if not self._is(text):
            raise self._error(f"expected {text!r}")
        return self._take()

    def _error(self, message: str) -> ExpressionError:
        found = "end of expression" if self.tok.kind == "end" else repr(self.tok.text)
        return ExpressionError(f"{message}, found {found}", position=self.tok.pos)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExpressionError("empty expression", position=1)
        node = self.or_()
        if self.tok.kind != "end":
            raise self._error("expected an operator or the end")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self._is("or") or self._is("||"):
            pos = self._take().pos
            node = Binary("or", node, self.and_(), pos)
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self._is("and") or self._is("&&"):
            pos = self._take().pos
            node = Binary("and", node, self.not_(), pos)
        return node

    def not_(self) -> Node:
        if self._is("not") or self._is("!"):
            pos = self._take().pos
            return Unary("not", self._nested(self.not_), pos)
        return self.comparison()

    def comparison(self) -> Node:
        node = self.additive()
        if self.tok.kind in ("op", "name") and self.tok.text in _COMPARISONS:
            tok = self._take()
            node = Binary(tok.text, node, self.additive(), tok.pos)
            if self.tok.kind in ("op", "name") and self.tok.text in _COMPARISONS:
                raise self._error("comparisons do not chain; join them with 'and'")
        return node

    def additive(self) -> Node:
        node = self.multiplicative()
        while self._is("+") or self._is("-"):
            tok = self._take()
            node = Binary(tok.text, node, self.multiplicative(), tok.pos)
        return node

    def multiplicative(self) -> Node:
        node = self.unary()
        while self._is("*") or self._is("/") or self._is("%"):
            tok = self._take()
            node = Binary(tok.text, node, self.unary(), tok.pos)
        return node

    def unary(self) -> Node:
        if self._is("-"):
            pos = self._take().pos
            return Unary("-", self._nested(self.unary), pos)
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            if self._is("."):
                self._take()
                if self.tok.kind != "name":
                    raise self._error("expected a field name after '.'")
                tok = self._take()
                node = Attribute(node, tok.text, tok.pos)
            elif self._is("["):
                pos = self._take().pos
                key = self._nested(self.or_)
                self._expect("]")
                node = Index(node, key, pos)
            else:
                return node

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind in ("num", "str"):
            self._take()
            return Literal(tok.value, tok.pos)
        if tok.kind == "name":
            if tok.text in ("true", "false", "null"):
                self._take()
                return Literal({"true": True, "false": False, "null": None}[tok.text], tok.pos)
            if tok.text in _KEYWORDS:
                raise self._error("expected a value")
            self._take()
            if self._is("("):
                self._take()
                args = self._items(")")
                return Call(tok.text, args, tok.pos)
            return Variable(tok.text, tok.pos)
        if self._is("("):
            self._take()
            node = self._nested(self.or_)
            self._expect(")")
            return node
        if self._is("["):
            self._take()
            return ListDisplay(self._items("]"), tok.pos)
        raise self._error("expected a value")

    def _items(self, closing: str) -> tuple[Node, ...]:
        items: list[Node] = []
        if self._is(closing):
            self._take()
            return ()
        while True:
            items.append(self._nested(self.or_))
            if self._is(","):
                self._take()
                continue
            self._expect(closing)
            return tuple(items)

    def _nested(self, rule: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("expression nested too deeply", position=self.tok.pos)
        try:
            return rule()
        finally:
            self.depth -= 1


def parse(source: str) -> Node:
    """Parse ``source`` into a syntax tree or raise :class:`ExpressionError` with the column."""
    return _Parser(source).parse()


# --- static checks ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    pos: int


KNOWN_VARIABLE_TYPES = {"ani": "str", "dnis": "str", "call_id": "str", "flow": "str"}


def check(node: Node, variable_types: Mapping[str, str] | None = None) -> tuple[str, list[Problem]]:
    """Infer the static type of ``node`` and find problems without evaluating anything.

    Types are "num", "str", "bool", "null", "list" or "any" (unknown until run time). Reports
    unknown functions, wrong argument counts, literal arguments a function would refuse, and
    operators applied to types that can never fit (``"a" - 1``).
    """
    problems: list[Problem] = []
    types = dict(KNOWN_VARIABLE_TYPES)
    types.update(variable_types or {})
    result = _infer(node, types, problems)
    return result, problems


def variables_of(node: Node) -> set[str]:
    """The names of the variables an expression reads (``customer`` for ``customer.name``)."""
    if isinstance(node, Variable):
        return {node.name}
    if isinstance(node, Attribute):
        return variables_of(node.target)
    if isinstance(node, Index):
        return variables_of(node.target) | variables_of(node.key)
    if isinstance(node, ListDisplay | Call):
        items = node.items if isinstance(node, ListDisplay) else node.args
        return set().union(*(variables_of(item) for item in items)) if items else set()
    if isinstance(node, Unary):
        return variables_of(node.operand)
    if isinstance(node, Binary):
        return variables_of(node.left) | variables_of(node.right)
    return set()


def _infer(node: Node, types: Mapping[str, str], problems: list[Problem]) -> str:
    if isinstance(node, Literal):
        return _static_type(node.value)
    if isinstance(node, Variable):
        return types.get(node.name, "any")
    if isinstance(node, Attribute):
        _infer(node.target, types, problems)
        return "any"
    if isinstance(node, Index):
        _infer(node.target, types, problems)
        _infer(node.key, types, problems)
        return "any"
    if isinstance(node, ListDisplay):
        for item in node.items:
            _infer(item, types, problems)
        return "list"
    if isinstance(node, Call):
        return _infer_call(node, types, problems)
    if isinstance(node, Unary):
        operand = _infer(node.operand, types, problems)
        if node.op == "-":
            if operand not in ("num", "any"):
                problems.append(Problem(f"cannot negate a {operand}", node.pos))
            return "num"
        return "bool"
    left = _infer(node.left, types, problems)
    right = _infer(node.right, types, problems)
    op = node.op
    if op in ("and", "or"):
        return "bool" if left == right == "bool" else "any"
    if op in ("==", "!="):
        return "bool"
    if op == "in":
        if right not in ("list", "str", "any"):
            problems.append(Problem(f"'in' needs a list or a string on the right, not {right}",
                                    node.pos))
        return "bool"
    if op in ("<", "<=", ">", ">="):
        if "any" not in (left, right) and "null" not in (left, right) and (
            left != right or left not in ("num", "str")
        ):
            problems.append(Problem(f"cannot compare {left} with {right}", node.pos))
        return "bool"
    if op == "+":
        if "any" in (left, right):
            return "any"
        if left == right and left in ("num", "str"):
            return left
        problems.append(Problem(f"cannot add {left} and {right}", node.pos))
        return "any"
    for side in (left, right):
        if side not in ("num", "any"):
            problems.append(Problem(f"'{op}' needs numbers, not {side}", node.pos))
            break
    return "num"


def _infer_call(node: Call, types: Mapping[str, str], problems: list[Problem]) -> str:
    arg_types = [_infer(arg, types, problems) for arg in node.args]
    function = FUNCTIONS.get(node.function)
    if function is None:
        known = ", ".join(sorted(FUNCTIONS))
        problems.append(Problem(f"unknown function {node.function!r} (known: {known})", node.pos))
        return "any"
    most = len(function.params)
    least = most - function.optional
    if not least <= len(node.args) <= most:
        wanted = str(most) if least == most else f"{least} to {most}"
        problems.append(Problem(
            f"{function.name}() takes {wanted} argument(s), got {len(node.args)}", node.pos))
        return function.result
    for index, (wanted_type, got) in enumerate(zip(function.params, arg_types, strict=False)):
        if wanted_type != "any" and got not in (wanted_type, "any"):
            problems.append(Problem(
                f"argument {index + 1} of {function.name}() must be a {wanted_type}, not {got}",
                node.args[index].pos))
    if function.check is not None:
        literals = [arg.value if isinstance(arg, Literal) else None for arg in node.args]
        if (message := function.check(literals)) is not None:
            problems.append(Problem(f"{function.name}(): {message}", node.pos))
    return function.result


def _static_type(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "num"
    if isinstance(value, str):
        return "str"
    return "list"


# --- evaluation ---------------------------------------------------------------------------


def truthy(value: Value) -> bool:
    """How a value counts in a condition: null, false, 0, "" and empty lists are false."""
    return bool(value)


def evaluate(node: Node, ctx: ExpressionContext, source: str = "") -> Value:
    """Evaluate ``node``; any failure becomes :class:`ExpressionError` with the column."""
    try:
        return _eval(node, ctx)
    except ExpressionError:
        raise
    except _EvalFailure as failure:
        raise ExpressionError(failure.message, position=failure.pos, source=source) from None


class _EvalFailure(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _eval(node: Node, ctx: ExpressionContext) -> Value:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Variable):
        return ctx.variable(node.name)
    if isinstance(node, Attribute):
        target = _eval(node.target, ctx)
        if isinstance(target, dict):
            return target.get(node.name)
        if target is None:
            return None  # a missing record reads as null all the way down
        raise _EvalFailure(f"a {type_name(target)} has no field {node.name!r}", node.pos)
    if isinstance(node, Index):
        return _index(_eval(node.target, ctx), _eval(node.key, ctx), node.pos)
    if isinstance(node, ListDisplay):
        return [_eval(item, ctx) for item in node.items]
    if isinstance(node, Call):
        function = FUNCTIONS.get(node.function)
        if function is None:
            raise _EvalFailure(f"unknown function {node.function!r}", node.pos)
        args = [_eval(arg, ctx) for arg in node.args]
        most = len(function.params)
        if not most - function.optional <= len(args) <= most:
            raise _EvalFailure(f"{function.name}() got {len(args)} argument(s)", node.pos)
        try:
            return function.impl(ctx, args)
        except (ValueError, TypeError, LookupError) as exc:
            raise _EvalFailure(str(exc), node.pos) from None
    if isinstance(node, Unary):
        operand = _eval(node.operand, ctx)
        if node.op == "not":
            return not truthy(operand)
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            raise _EvalFailure(f"cannot negate a {type_name(operand)}", node.pos)
        return -operand
    if node.op == "and":
        left = _eval(node.left, ctx)
        return _eval(node.right, ctx) if truthy(left) else left
    if node.op == "or":
        left = _eval(node.left, ctx)
        return left if truthy(left) else _eval(node.right, ctx)
    return _binary(node.op, _eval(node.left, ctx), _eval(node.right, ctx), node.pos)


def _index(target: Value, key: Value, pos: int) -> Value:
    if target is None:
        return None
    if isinstance(target, dict):
        if not isinstance(key, str):
            raise _EvalFailure(f"a record is indexed by a string, not a {type_name(key)}", pos)
        return target.get(key)
    if isinstance(target, list | str):
        if isinstance(key, bool) or not isinstance(key, int):
            raise _EvalFailure(f"a list is indexed by a whole number, not {key!r}", pos)
        return target[key] if -len(target) <= key < len(target) else None
    raise _EvalFailure(f"cannot index a {type_name(target)}", pos)


def _binary(op: str, left: Value, right: Value, pos: int) -> Value:
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op == "in":
        if isinstance(right, str):
            return isinstance(left, str) and left in right
        if isinstance(right, list):
            return any(_equal(left, item) for item in right)
        if isinstance(right, dict):
            return isinstance(left, str) and left in right
        if right is None:
            return False
        raise _EvalFailure(f"'in' needs a list or a string, not a {type_name(right)}", pos)
    if op in ("<", "<=", ">", ">="):
        if left is None or right is None:
            return False  # an unknown figure never satisfies a threshold
        if isinstance(left, str) and isinstance(right, str):
            return _order(op, left, right)
        if (isinstance(left, int | float) and not isinstance(left, bool)
                and isinstance(right, int | float) and not isinstance(right, bool)):
            return _order(op, left, right)
        raise _EvalFailure(f"cannot compare a {type_name(left)} with a {type_name(right)}",
                           pos)
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    if (isinstance(left, bool) or isinstance(right, bool)
            or not isinstance(left, int | float) or not isinstance(right, int | float)):
        verb = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "divide"}[op]
        raise _EvalFailure(f"cannot {verb} a {type_name(left)} and a {type_name(right)}", pos)
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if right == 0:
        raise _EvalFailure("division by zero", pos)
    if op == "/":
        quotient = left / right
        return int(quotient) if quotient.is_integer() else quotient
    return left % right


_Ordered = TypeVar("_Ordered", str, float)


def _order(op: str, left: _Ordered, right: _Ordered) -> bool:
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _equal(left: Value, right: Value) -> bool:
    if isinstance(left, bool) != isinstance(right, bool):
        return False  # true is not 1
    return left == right


# --- compiled expressions and templates ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression with its source text, ready to evaluate many times."""

    source: str
    tree: Node

    @classmethod
    def compile(cls, source: str) -> Expression:
        return cls(source, parse(source))

    def evaluate(self, ctx: ExpressionContext) -> Value:
        return evaluate(self.tree, ctx, self.source)


_PLACEHOLDER = re.compile(r"\$\{")


@dataclass(frozen=True, slots=True)
class Template:
    """Text with ``${expression}`` placeholders, e.g. ``https://crm/api?phone=${ani}``."""

    source: str
    parts: tuple[str | Expression, ...]
    offsets: tuple[int, ...] = ()  # 0-based column of each expression part in ``source``

    @classmethod
    def compile(cls, source: str) -> Template:
        parts: list[str | Expression] = []
        offsets: list[int] = []
        i = 0
        while (match := _PLACEHOLDER.search(source, i)) is not None:
            if match.start() > i:
                parts.append(source[i:match.start()])
            end = source.find("}", match.end())
            if end < 0:
                raise ExpressionError("'${' is not closed by '}'", position=match.start() + 1)
            inner = source[match.end():end]
            try:
                parts.append(Expression.compile(inner))
            except ExpressionError as exc:
                column = None if exc.position is None else exc.position + match.end()
                raise ExpressionError(exc.detail, position=column) from None
            offsets.append(match.end())
            i = end + 1
        if i < len(source):
            parts.append(source[i:])
        return cls(source, tuple(parts), tuple(offsets))

    @property
    def expressions(self) -> tuple[Expression, ...]:
        return tuple(part for part in self.parts if isinstance(part, Expression))

    def render(self, ctx: ExpressionContext, quote: Callable[[str], str] | None = None) -> str:
        """Substitute each placeholder's value as text (``quote`` escapes it, e.g. for URLs)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            text = to_text(part.evaluate(ctx))
            out.append(quote(text) if quote is not None else text)
        return "".join(out)

