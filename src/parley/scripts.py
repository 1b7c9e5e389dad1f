"""Dialog scripts, pure: what an operator asks and notes during a call, and what they record
at its end (docs/scripts.md).

A script is blocks ("Customer information", "Reasons for refusal") of fields (text, number,
date, choice, checkboxes) with labels, hints, objection-handling texts, ``required`` and
``show_if`` (a block or field shown only when an earlier answer matches). Its definition is
data: the provisioning YAML's ``scripts:`` section and ``/api/scripts``.

- :func:`parse_script` builds a :class:`Script` from that data and reports every problem at
  once, each naming the script, block and field and the path inside the definition (which
  provisioning turns into a YAML line).
- :func:`evaluate` takes an operator's answers and says which blocks and fields are visible,
  which required ones are missing and which answers are of the wrong type; the answers come
  back typed (a number is a number, a date a date, a choice one of its options). Answers to
  fields that the branching hides are dropped: the operator changed course.

No I/O; the store, the API and the form partial build on it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from parley.errors import ParleyError

Path = tuple[int | str, ...]
"""Where inside a script's definition: keys and list indices (``("blocks", 1, "fields", 0)``)."""

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
MAX_TEXT = 2000
"""The longest text answer kept (a note, not a document)."""


class FieldType(StrEnum):
    """What a field asks for."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"  # ISO 8601, YYYY-MM-DD
    CHOICE = "choice"  # one of its options
    CHECKBOXES = "checkboxes"  # any of its options


@dataclass(frozen=True, slots=True)
class ScriptIssue:
    """One problem with a script or with answers to it, located by block, field and path."""

    code: str  # stable kind: unknown-key, bad-id, unknown-field, required, not-a-number …
    message: str
    script: str = ""
    block: str | None = None
    field: str | None = None
    path: Path = ()

    def __str__(self) -> str:
        where = [f"script {self.script!r}"] if self.script else []
        if self.block is not None:
            where.append(f"block {self.block!r}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{' '.join(where)}: {self.message}" if where else self.message


class ScriptError(ParleyError, ValueError):
    """A script definition is wrong; ``issues`` lists every problem, the first is the message.

    A ValueError too, so that a pydantic validator raising it becomes a validation error
    that still carries ``path`` (provisioning points at the YAML line with it)."""

    def __init__(self, issues: Sequence[ScriptIssue]) -> None:
        self.issues = tuple(issues)
        first = self.issues[0]
        more = f" ({len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        super().__init__(f"{first}{more}")
        self.path = first.path


@dataclass(frozen=True, slots=True)
class Condition:
    """Shown only when the earlier field ``field`` matches: equals ``equals``, is one of
    ``one_of``, has ``includes`` ticked (checkboxes), or is answered at all (``answered``)."""

    field: str
    equals: str | float | None = None
    one_of: tuple[str | float, ...] = ()
    includes: str | None = None
    answered: bool | None = None

    def holds(self, value: Any) -> bool:
        """Whether the (typed, visible) answer ``value`` satisfies this condition; an unanswered
        field satisfies only ``answered: false``."""
        given = not _empty(value)
        if self.answered is not None:
            return given == self.answered
        if not given:
            return False
        if self.includes is not None:
            return isinstance(value, list) and self.includes in value
        if self.one_of:
            return value in self.one_of
        return bool(value == self.equals)


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Objection:
    """What a customer may say and what the operator answers."""

    objection: str
    response: str


@dataclass(frozen=True, slots=True)
class ScriptField:
    id: str
    label: str
    type: FieldType
    required: bool = False
    hint: str = ""
    objections: tuple[Objection, ...] = ()
    options: tuple[Option, ...] = ()
    minimum: float | None = None  # number fields
    maximum: float | None = None
    show_if: Condition | None = None

    def option_values(self) -> tuple[str, ...]:
        return tuple(option.value for option in self.options)


@dataclass(frozen=True, slots=True)
class ScriptBlock:
    id: str
    title: str
    description: str = ""
    fields: tuple[ScriptField, ...] = ()
    show_if: Condition | None = None


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    title: str
    description: str = ""
    blocks: tuple[ScriptBlock, ...] = ()

    def field(self, field_id: str) -> tuple[ScriptBlock, ScriptField] | None:
        for block in self.blocks:
            for item in block.fields:
                if item.id == field_id:
                    return block, item
        return None


# --- parsing ----------------------------------------------------------------------------------

_SCRIPT_KEYS = {"name", "title", "description", "blocks"}
_BLOCK_KEYS = {"id", "title", "description", "fields", "show_if"}
_FIELD_KEYS = {"id", "label", "type", "required", "hint", "objections", "options", "min", "max",
               "show_if"}
_CONDITION_TESTS = ("equals", "one_of", "includes", "answered")


class _Parser:
    """Collects every issue of one definition; each check goes on after a problem."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.issues: list[ScriptIssue] = []
        self.block: str | None = None
        self.field: str | None = None

    def issue(self, code: str, message: str, path: Path) -> None:
        self.issues.append(ScriptIssue(code, message, self.name, self.block, self.field, path))

    def mapping(self, value: Any, path: Path, what: str) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.issue("not-a-mapping", f"{what} must be a mapping of keys", path)
            return None
        return value

    def keys(self, data: Mapping[str, Any], known: set[str], path: Path) -> None:
        for key in data:
            if key not in known:
                self.issue("unknown-key", f"unknown key {key!r}; known: "
                           f"{', '.join(sorted(known))}", (*path, str(key)))

    def text(self, data: Mapping[str, Any], key: str, path: Path, *, required: bool = False,
             limit: int = 500) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.issue("missing", f"{key} is required", (*path, key))
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.issue("not-text", f"{key} must be text", (*path, key))
            return ""
        if len(value) > limit:
            self.issue("too-long", f"{key} is longer than {limit} characters", (*path, key))
        return value

    def ident(self, data: Mapping[str, Any], path: Path, seen: set[str], what: str) -> str:
        value = data.get("id")
        if not isinstance(value, str) or not _ID.match(value):
            self.issue("bad-id", f"{what} needs an id: a letter, then letters, digits, _ or - "
                       "(up to 64)", (*path, "id"))
            return ""
        if value in seen:
            if what == "a field":
                self.field = value
            else:
                self.block = value
            self.issue("duplicate-id", f"the id {value!r} is used twice in this script",
                       (*path, "id"))
        seen.add(value)
        return value


def parse_script(data: Any, name: str | None = None) -> Script:
    """The script that ``data`` (a mapping, as YAML or JSON gives it) defines; raises
    :class:`ScriptError` listing every problem."""
    parser = _Parser(name or (data.get("name", "") if isinstance(data, Mapping) else ""))
    script = _parse(parser, data)
    if parser.issues or script is None:
        raise ScriptError(parser.issues or [ScriptIssue("empty", "no script", parser.name)])
    return script


def script_issues(data: Any, name: str | None = None) -> tuple[ScriptIssue, ...]:
    """Every problem of a definition, or none."""
    try:
        parse_script(data, name)
    except ScriptError as exc:
        return exc.issues
    return ()


def _parse(parser: _Parser, data: Any) -> Script | None:
    top = parser.mapping(data, (), "a script")
    if top is None:
        return None
    parser.keys(top, _SCRIPT_KEYS, ())
    title = parser.text(top, "title", ()) or parser.name
    description = parser.text(top, "description", (), limit=2000)
    raw_blocks = top.get("blocks")
    if not isinstance(raw_blocks, list) or not raw_blocks:
        parser.issue("no-blocks", "a script needs blocks: a list with at least one block",
                     ("blocks",))
        return None
    ids: set[str] = set()
    earlier: dict[str, ScriptField] = {}
    blocks = [block for index, raw in enumerate(raw_blocks)
              if (block := _block(parser, raw, ("blocks", index), ids, earlier)) is not None]
    return Script(parser.name, title, description, tuple(blocks))


def _block(parser: _Parser, raw: Any, path: Path, ids: set[str],
           earlier: dict[str, ScriptField]) -> ScriptBlock | None:
    parser.block = parser.field = None
    data = parser.mapping(raw, path, "a block")
    if data is None:
        return None
    block_id = parser.ident(data, path, ids, "a block")
    parser.block = block_id or None
    parser.keys(data, _BLOCK_KEYS, path)
    title = parser.text(data, "title", path, required=True)
    description = parser.text(data, "description", path, limit=2000)
    show_if = _condition(parser, data.get("show_if"), (*path, "show_if"), earlier)
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        parser.issue("no-fields", "a block needs fields: a list with at least one field",
                     (*path, "fields"))
        raw_fields = []
    fields = []
    for index, item in enumerate(raw_fields):
        parsed = _field(parser, item, (*path, "fields", index), ids, earlier)
        if parsed is not None:
            fields.append(parsed)
            earlier[parsed.id] = parsed
    parser.field = None
    return ScriptBlock(block_id, title, description, tuple(fields), show_if)


def _field(parser: _Parser, raw: Any, path: Path, ids: set[str],
           earlier: dict[str, ScriptField]) -> ScriptField | None:
    parser.field = None
    data = parser.mapping(raw, path, "a field")
    if data is None:
        return None
    field_id = parser.ident(data, path, ids, "a field")
    parser.field = field_id or None
    parser.keys(data, _FIELD_KEYS, path)
    label = parser.text(data, "label", path, required=True)
    hint = parser.text(data, "hint", path, limit=2000)
    kind: FieldType | None = None
    try:
        kind = FieldType(data.get("type", "text"))
    except ValueError:
        parser.issue("bad-type", f"type must be one of {', '.join(t.value for t in FieldType)}",
                     (*path, "type"))
    required = data.get("required", False)
    if not isinstance(required, bool):
        parser.issue("not-a-boolean", "required must be true or false", (*path, "required"))
        required = False
    options = _options(parser, data.get("options"), (*path, "options"), kind)
    minimum = _bound(parser, data, "min", path, kind)
    maximum = _bound(parser, data, "max", path, kind)
    if minimum is not None and maximum is not None and minimum > maximum:
        parser.issue("bad-range", "min is greater than max", (*path, "min"))
    objections = _objections(parser, data.get("objections"), (*path, "objections"))
    show_if = _condition(parser, data.get("show_if"), (*path, "show_if"), earlier)
    if not field_id or kind is None:
        return None
    return ScriptField(field_id, label, kind, required, hint, objections, options, minimum,
                       maximum, show_if)


def _options(parser: _Parser, raw: Any, path: Path,
             kind: FieldType | None) -> tuple[Option, ...]:
    if kind is None:
        return ()
    if kind not in (FieldType.CHOICE, FieldType.CHECKBOXES):
        if raw is not None:
            parser.issue("options-not-used", f"options apply to choice and checkboxes fields, "
                         f"not {kind.value}", path)
        return ()
    if not isinstance(raw, list) or not raw:
        parser.issue("no-options", f"a {kind.value} field needs options: a list of values",
                     path)
        return ()
    options: list[Option] = []
    for index, item in enumerate(raw):
        at = (*path, index)
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            value, label = str(item), str(item)
        elif isinstance(item, Mapping) and isinstance(item.get("value"), str | int | float):
            parser.keys(item, {"value", "label"}, at)
            value = str(item["value"])
            label = str(item.get("label") or value)
        else:
            parser.issue("bad-option", "an option is a value, or a mapping with value and "
                         "label", at)
            continue
        if not value.strip() or len(value) > 200:
            parser.issue("bad-option", "an option's value is 1 to 200 characters", at)
        if value in {option.value for option in options}:
            parser.issue("duplicate-option", f"the option {value!r} is listed twice", at)
        options.append(Option(value, label))
    return tuple(options)


def _bound(parser: _Parser, data: Mapping[str, Any], key: str, path: Path,
           kind: FieldType | None) -> float | None:
    value = data.get(key)
    if value is None or kind is None:
        return None
    if kind is not FieldType.NUMBER:
        parser.issue("bound-not-used", f"{key} applies to number fields only", (*path, key))
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        parser.issue("not-a-number", f"{key} must be a number", (*path, key))
        return None
    return float(value)


def _objections(parser: _Parser, raw: Any, path: Path) -> tuple[Objection, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        parser.issue("bad-objections", "objections is a list of {objection, response}", path)
        return ()
    found: list[Objection] = []
    for index, item in enumerate(raw):
        data = parser.mapping(item, (*path, index), "an objection")
        if data is None:
            continue
        parser.keys(data, {"objection", "response"}, (*path, index))
        found.append(Objection(parser.text(data, "objection", (*path, index), required=True),
                               parser.text(data, "response", (*path, index), required=True,
                                           limit=2000)))
    return tuple(found)


def _condition(parser: _Parser, raw: Any, path: Path,
               earlier: Mapping[str, ScriptField]) -> Condition | None:
    """A ``show_if``: it names a field defined before it (so that one pass in order decides
    what is shown) and one test that fits that field's type and options."""
    if raw is None:
        return None
    data = parser.mapping(raw, path, "show_if")
    if data is None:
        return None
    parser.keys(data, {"field", *_CONDITION_TESTS}, path)
    target = data.get("field")
    source = earlier.get(target) if isinstance(target, str) else None
    if source is None:
        parser.issue("unknown-field", f"show_if names {target!r}, which is not a field "
                     "defined before this one", (*path, "field"))
        return None
    tests = [name for name in _CONDITION_TESTS if name in data]
    if len(tests) != 1:
        parser.issue("bad-condition", "show_if needs exactly one test: "
                     f"{', '.join(_CONDITION_TESTS)}", path)
        return None
    test = tests[0]
    value = data[test]
    if test == "answered":
        if not isinstance(value, bool):
            parser.issue("not-a-boolean", "answered must be true or false", (*path, test))
            return None
        return Condition(source.id, answered=value)
    if test == "includes":
        if source.type is not FieldType.CHECKBOXES:
            parser.issue("bad-condition", "includes tests a checkboxes field; use equals or "
                         "one_of", (*path, test))
            return None
        value = str(value)
        _known_options(parser, source, [value], (*path, test))
        return Condition(source.id, includes=value)
    if source.type is FieldType.CHECKBOXES:
        parser.issue("bad-condition", "a checkboxes field is tested with includes",
                     (*path, test))
        return None
    values = value if test == "one_of" else [value]
    if not isinstance(values, list) or not values:
        parser.issue("bad-condition", "one_of is a list of values", (*path, test))
        return None
    typed = [_condition_value(parser, source, item, (*path, test)) for item in values]
    if any(item is None for item in typed):
        return None
    kept = tuple(item for item in typed if item is not None)
    if test == "one_of":
        return Condition(source.id, one_of=kept)
    return Condition(source.id, equals=kept[0])


def _condition_value(parser: _Parser, source: ScriptField, value: Any,
                     path: Path) -> str | float | None:
    if source.type is FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            parser.issue("not-a-number", f"{source.id!r} is a number field: compare it with "
                         "a number", path)
            return None
        return float(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        parser.issue("bad-condition", "compare with a single value (text or a number)", path)
        return None
    text = str(value)
    if source.type is FieldType.CHOICE:
        _known_options(parser, source, [text], path)
    if source.type is FieldType.DATE and _date(text) is None:
        parser.issue("not-a-date", f"{source.id!r} is a date field: compare it with "
                     "YYYY-MM-DD", path)
        return None
    return text


def _known_options(parser: _Parser, source: ScriptField, values: list[str], path: Path) -> None:
    for value in values:
        if value not in source.option_values():
            parser.issue("unknown-option", f"{value!r} is not an option of {source.id!r} "
                         f"(options: {', '.join(source.option_values())})", path)


# --- evaluation -------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _date(text: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


Answer = str | float | date | list[str]
"""A typed answer: text or a choice (str), number (float), date, checkboxes (list of values)."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What the form shows for some answers, and what is wrong with them."""

    visible_blocks: tuple[str, ...]
    visible_fields: tuple[str, ...]
    answers: dict[str, Answer] = field(default_factory=dict)  # visible, typed, non-empty
    issues: tuple[ScriptIssue, ...] = ()

    @property
    def missing(self) -> tuple[str, ...]:
        """Required visible fields left empty."""
        return tuple(issue.field for issue in self.issues
                     if issue.code == "required" and issue.field is not None)

    @property
    def ok(self) -> bool:
        return not self.issues


def typed_answer(item: ScriptField, value: Any) -> Answer | ScriptIssue | None:
    """``value`` as ``item``'s type (None: unanswered), or the issue saying why it is not."""
    if _empty(value):
        return None

    def wrong(code: str, message: str) -> ScriptIssue:
        return ScriptIssue(code, message, field=item.id)

    if item.type is FieldType.TEXT:
        if not isinstance(value, str):
            return wrong("not-text", "must be text")
        if len(value) > MAX_TEXT:
            return wrong("too-long", f"is longer than {MAX_TEXT} characters")
        return value.strip() or None
    if item.type is FieldType.NUMBER:
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip().replace(",", "."))
            except ValueError:
                number = None
        if number is None or not math.isfinite(number):
            return wrong("not-a-number", "must be a number")
        if item.minimum is not None and number < item.minimum:
            return wrong("too-small", f"must be at least {item.minimum:g}")
        if item.maximum is not None and number > item.maximum:
            return wrong("too-large", f"must be at most {item.maximum:g}")
        return number
    if item.type is FieldType.DATE:
        day = _date(value) if isinstance(value, str) else None
        if day is None:
            return wrong("not-a-date", "must be a date, YYYY-MM-DD")
        return day
    options = item.option_values()
    if item.type is FieldType.CHOICE:
        if not isinstance(value, str | int | float) or isinstance(value, bool) \
                or str(value) not in options:
            return wrong("not-an-option", f"must be one of: {', '.join(options)}")
        return str(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return wrong("not-a-list", "must be a list of options")
    unknown = [v for v in value if v not in options]
    if unknown:
        return wrong("not-an-option", f"{', '.join(map(repr, unknown))}: not among "
                     f"{', '.join(options)}")
    return [v for v in options if v in value]  # in the script's order, each once


def _shown(condition: Condition | None, answers: Mapping[str, Answer]) -> bool:
    if condition is None:
        return True
    value = answers.get(condition.field)
    return condition.holds(value.isoformat() if isinstance(value, date) else value)


def evaluate(script: Script, answers: Mapping[str, Any], *,
             require: bool = True) -> Evaluation:
    """Which blocks and fields ``answers`` make visible, the visible answers typed, and every
    issue: an answer to no field of the script, an answer of the wrong type, and (with
    ``require``) a required visible field left empty. Fields are decided in order, so a
    condition sees only earlier, visible answers."""
    issues: list[ScriptIssue] = []
    for name in answers:
        if script.field(name) is None:
            issues.append(ScriptIssue("unknown-field", "no such field in this script",
                                      script.name, None, name))
    blocks: list[str] = []
    fields: list[str] = []
    typed: dict[str, Answer] = {}
    for block in script.blocks:
        if not _shown(block.show_if, typed):
            continue
        blocks.append(block.id)
        for item in block.fields:
            if not _shown(item.show_if, typed):
                continue
            fields.append(item.id)
            result = typed_answer(item, answers.get(item.id))
            if isinstance(result, ScriptIssue):
                issues.append(ScriptIssue(result.code, result.message, script.name, block.id,
                                          item.id))
            elif result is not None:
                typed[item.id] = result
            elif require and item.required:
                issues.append(ScriptIssue("required", "is required", script.name, block.id,
                                          item.id))
    return Evaluation(tuple(blocks), tuple(fields), typed, tuple(issues))
