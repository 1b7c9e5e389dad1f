"""Dialog scripts: definitions checked with every problem named by script, block and field,
and answers evaluated (branching, required fields, types) as the wrap-up needs them."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from parley.scripts import (
    FieldType,
    ScriptError,
    evaluate,
    parse_script,
    script_issues,
)

SALES: dict[str, Any] = {
    "name": "sales-call",
    "title": "Sales call",
    "blocks": [
        {"id": "customer", "title": "Customer information", "fields": [
            {"id": "name", "label": "Name", "required": True},
            {"id": "age", "label": "Age", "type": "number", "min": 18, "max": 120},
            {"id": "born", "label": "Date of birth", "type": "date"},
            {"id": "interested", "label": "Interested?", "type": "choice", "required": True,
             "options": [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No"}],
             "objections": [{"objection": "Too expensive",
                             "response": "The first month is free."}]},
        ]},
        {"id": "refusal", "title": "Reasons for refusal",
         "show_if": {"field": "interested", "equals": "no"}, "fields": [
             {"id": "reasons", "label": "Reasons", "type": "checkboxes", "required": True,
              "options": ["price", "quality", "other"]},
             {"id": "other_reason", "label": "Other reason", "required": True,
              "show_if": {"field": "reasons", "includes": "other"}},
         ]},
        {"id": "extra", "title": "Additional information", "fields": [
            {"id": "notes", "label": "Notes", "hint": "Anything the customer added"},
        ]},
    ],
}


def test_a_full_script_parses_into_blocks_and_typed_fields() -> None:
    script = parse_script(SALES)
    assert [b.id for b in script.blocks] == ["customer", "refusal", "extra"]
    found = script.field("interested")
    assert found is not None
    block, interested = found
    assert block.title == "Customer information"
    assert interested.type is FieldType.CHOICE
    assert interested.option_values() == ("yes", "no")
    assert interested.objections[0].response == "The first month is free."
    refusal = script.blocks[1]
    assert refusal.show_if is not None
    assert refusal.show_if.equals == "no"


def _broken(**changes: Any) -> dict[str, Any]:
    blocks = [dict(block, fields=[dict(f) for f in block["fields"]])
              for block in SALES["blocks"]]
    data = dict(SALES, blocks=blocks)
    for path, value in changes.items():
        block, _, key = path.partition("__")
        index, _, field_index = block.partition("_")
        target = blocks[int(index.removeprefix("b"))]
        if field_index:
            target = target["fields"][int(field_index)]
        target[key] = value
    return data


@pytest.mark.parametrize(("changes", "code", "block", "field", "path", "words"), [
    ({"b0_1__type": "integer"}, "bad-type", "customer", "age",
     ("blocks", 0, "fields", 1, "type"), "type must be one of text, number"),
    ({"b0_3__options": []}, "no-options", "customer", "interested",
     ("blocks", 0, "fields", 3, "options"), "needs options"),
    ({"b1__show_if": {"field": "interested", "equals": "maybe"}}, "unknown-option",
     "refusal", None, ("blocks", 1, "show_if", "equals"), "'maybe' is not an option"),
    ({"b0_0__show_if": {"field": "notes", "answered": True}}, "unknown-field", "customer",
     "name", ("blocks", 0, "fields", 0, "show_if", "field"), "not a field defined before"),
    ({"b0_1__id": "name"}, "duplicate-id", "customer", "name",
     ("blocks", 0, "fields", 1, "id"), "used twice"),
    ({"b0_0__colour": "red"}, "unknown-key", "customer", "name",
     ("blocks", 0, "fields", 0, "colour"), "unknown key 'colour'"),
    ({"b0_1__min": "eighteen"}, "not-a-number", "customer", "age",
     ("blocks", 0, "fields", 1, "min"), "min must be a number"),
    ({"b1_1__show_if": {"field": "reasons", "equals": "other"}}, "bad-condition", "refusal",
     "other_reason", ("blocks", 1, "fields", 1, "show_if", "equals"), "tested with includes"),
    ({"b0_0__label": None}, "missing", "customer", "name",
     ("blocks", 0, "fields", 0, "label"), "label is required"),
])
def test_each_problem_names_the_script_block_field_and_path(
        changes: dict[str, Any], code: str, block: str, field: str | None,
        path: tuple[Any, ...], words: str) -> None:
    with pytest.raises(ScriptError) as caught:
        parse_script(_broken(**changes))
    issue = caught.value.issues[0]
    assert (issue.code, issue.script, issue.block, issue.field, issue.path) == (
        code, "sales-call", block, field, path)
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"script 'sales-call' block '{block}'")


def test_every_problem_is_reported_not_only_the_first() -> None:
    issues = script_issues(_broken(b0_1__type="integer", b2_0__required="yes"))
    assert [(i.code, i.field) for i in issues] == [("bad-type", "age"),
                                                  ("not-a-boolean", "notes")]


def test_a_script_without_blocks_is_refused() -> None:
    with pytest.raises(ScriptError, match="a script needs blocks"):
        parse_script({"name": "empty", "blocks": []})


def test_branching_shows_the_refusal_block_only_for_a_no() -> None:
    script = parse_script(SALES)
    yes = evaluate(script, {"name": "Ann", "interested": "yes"})
    assert yes.visible_blocks == ("customer", "extra")
    assert yes.ok
    no = evaluate(script, {"name": "Ann", "interested": "no"})
    assert no.visible_blocks == ("customer", "refusal", "extra")
    assert no.missing == ("reasons",)
    other = evaluate(script, {"name": "Ann", "interested": "no", "reasons": ["other"]})
    assert "other_reason" in other.visible_fields
    assert other.missing == ("other_reason",)


def test_answers_to_hidden_fields_are_dropped() -> None:
    script = parse_script(SALES)
    result = evaluate(script, {"name": "Ann", "interested": "yes", "reasons": ["price"]})
    assert result.ok
    assert "reasons" not in result.answers


def test_answers_come_back_typed() -> None:
    script = parse_script(SALES)
    result = evaluate(script, {"name": " Ann ", "age": "42", "born": "1984-02-29",
                               "interested": "no", "reasons": ["other", "price"],
                               "other_reason": "moving abroad"})
    assert result.ok, result.issues
    assert result.answers == {"name": "Ann", "age": 42.0, "born": date(1984, 2, 29),
                              "interested": "no", "reasons": ["price", "other"],
                              "other_reason": "moving abroad"}


@pytest.mark.parametrize(("answers", "field", "code"), [
    ({"age": "forty"}, "age", "not-a-number"),
    ({"age": 12}, "age", "too-small"),
    ({"age": True}, "age", "not-a-number"),
    ({"born": "1984-02-30"}, "born", "not-a-date"),
    ({"born": "29.02.1984"}, "born", "not-a-date"),
    ({"interested": "perhaps"}, "interested", "not-an-option"),
    ({"interested": "no", "reasons": ["price", "weather"]}, "reasons", "not-an-option"),
    ({"interested": "no", "reasons": "price"}, "reasons", "not-a-list"),
    ({"name": 7}, "name", "not-text"),
    ({"shoe_size": 44}, "shoe_size", "unknown-field"),
])
def test_a_wrong_answer_names_its_field(answers: dict[str, Any], field: str, code: str) -> None:
    script = parse_script(SALES)
    result = evaluate(script, {"name": "Ann", "interested": "yes", **answers})
    assert [(i.field, i.code) for i in result.issues if i.code != "required"] == [(field, code)]


def test_required_fields_are_missing_until_answered() -> None:
    script = parse_script(SALES)
    result = evaluate(script, {"name": "  "})
    assert result.missing == ("name", "interested")
    assert [i.block for i in result.issues] == ["customer", "customer"]
    assert evaluate(script, {}, require=False).ok
