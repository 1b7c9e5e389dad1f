"""Flow validation: every kind of error located by file, line, node id and field, all at once."""

from __future__ import annotations

import pytest

from parley.ivr.errors import FlowIssue, FlowValidationError, Severity
from parley.ivr.validator import validate_flow


def issues_of(text: str) -> list[FlowIssue]:
    return list(validate_flow(text, "flows/test.yaml").issues)


def only(issues: list[FlowIssue], code: str) -> FlowIssue:
    matching = [issue for issue in issues if issue.code == code]
    assert len(matching) == 1, (code, [str(issue) for issue in issues])
    return matching[0]


def where(issue: FlowIssue) -> tuple[str, int | None, str | None, str | None]:
    return issue.file, issue.line, issue.node, issue.field


GOOD = """\
flow: good
start: hello
nodes:
  hello:
    type: play
    prompt: hello-world
    next: bye
  bye:
    type: hangup
"""


def test_a_good_flow_has_no_issues() -> None:
    result = validate_flow(GOOD, "flows/good.yaml")
    assert result.ok
    assert result.issues == ()
    assert result.require().nodes["hello"].line == 4
    described = validate_flow(GOOD.replace("type: hangup", "type: hangup\n    description: End"))
    assert described.require().nodes["bye"].description == "End"


def test_unknown_node_reference() -> None:
    text = GOOD.replace("next: bye", "next: by")
    issue = only(issues_of(text), "unknown-node")
    assert where(issue) == ("flows/test.yaml", 7, "hello", "next")
    assert "'by'" in issue.message
    assert "did you mean 'bye'" in issue.message


def test_unknown_start_node() -> None:
    issue = only(issues_of(GOOD.replace("start: hello", "start: welcome")), "unknown-node")
    assert where(issue) == ("flows/test.yaml", 2, None, "start")


def test_unreachable_node() -> None:
    text = GOOD + "  lost:\n    type: hangup\n"
    issue = only(issues_of(text), "unreachable")
    assert where(issue) == ("flows/test.yaml", 10, "lost", "id")


def test_dead_end_node() -> None:
    text = """\
flow: t
start: ask
nodes:
  ask:
    type: menu
    prompt: choose
    options:
      "1": again
    on_failure: ask
  again:
    type: play
    prompt: again
    next: ask
"""
    issues = issues_of(text)
    dead = sorted((i.node, i.line, i.field) for i in issues if i.code == "dead-end")
    assert dead == [("again", 10, "next"), ("ask", 4, "options.1")]


def test_missing_required_field_and_exit() -> None:
    text = """\
flow: t
start: hello
nodes:
  hello:
    type: play
    prompt: hi
  choose:
    type: menu
    prompt: choose
    options: {"1": hello}
"""
    issues = issues_of(text)
    missing = only(issues, "missing-field")
    assert where(missing) == ("flows/test.yaml", 5, "hello", "next")
    exit_issue = only(issues, "missing-exit")
    assert where(exit_issue) == ("flows/test.yaml", 8, "choose", "on_failure")


def test_bad_expression_reports_the_column() -> None:
    text = """\
flow: t
start: check
nodes:
  check:
    type: condition
    if: in_list("vip", ani) and (
    then: bye
    else: bye
  bye:
    type: hangup
"""
    issue = only(issues_of(text), "bad-expression")
    assert where(issue) == ("flows/test.yaml", 6, "check", "if")
    assert "column 26" in issue.message


def test_unknown_function_and_bad_arguments() -> None:
    text = """\
flow: t
start: check
nodes:
  check:
    type: condition
    if: is_vip(ani)
    then: hours
    else: bye
  hours:
    type: condition
    if: time_between("9am", "18:00")
    then: bye
    else: bye
  bye:
    type: hangup
"""
    issues = [i for i in issues_of(text) if i.code == "bad-expression"]
    assert [(i.line, i.node, i.field) for i in issues] == [(6, "check", "if"),
                                                           (11, "hours", "if")]
    assert "unknown function 'is_vip'" in issues[0].message
    assert "'9am' is not a time of day" in issues[1].message


def test_wrong_types() -> None:
    text = """\
flow: t
start: ask
nodes:
  ask:
    type: collect
    prompt: enter
    variable: account
    timeout: soon
    retries: 1.5
    next: bye
    on_failure: bye
  check:
    type: condition
    if: 1 + 2
    then: bye
    else: bye
  bye:
    type: hangup
    prompt: [1, {file: a, text: b}]
"""
    issues = [i for i in issues_of(text) if i.code == "wrong-type"]
    assert [(i.line, i.node, i.field) for i in issues] == [
        (8, "ask", "timeout"), (9, "ask", "retries"), (14, "check", "if"),
        (19, "bye", "prompt")]
    assert "must be a number, not 'soon'" in issues[0].message
    assert "must be a whole number" in issues[1].message
    assert "a condition must be true or false" in issues[2].message


def test_duplicate_ids() -> None:
    text = GOOD + "  hello:\n    type: hangup\n"
    issue = only(issues_of(text), "duplicate-id")
    assert where(issue) == ("flows/test.yaml", 10, "hello", "id")
    assert "first defined on line 4" in issue.message


def test_unknown_node_type_and_field() -> None:
    text = GOOD.replace("type: hangup", "type: hang-up") + "    nxet: hello\n"
    issues = issues_of(text)
    issue = only(issues, "unknown-type")
    assert where(issue) == ("flows/test.yaml", 9, "bye", "type")
    assert "known:" in issue.message
    text = GOOD.replace("next: bye", "next: bye\n    nxet: bye")
    issue = only(issues_of(text), "unknown-field")
    assert where(issue) == ("flows/test.yaml", 8, "hello", "nxet")


def test_bad_values() -> None:
    text = """\
flow: t
start: ask
timezone: Mars/Olympus
nodes:
  ask:
    type: menu
    prompt: choose
    options:
      "12": bye
      "1": bye
    on_failure: bye
  fetch:
    type: lookup
    url: ftp://crm/${ani}
    variable: ani
    next: bye
    fallback: bye
  bye:
    type: hangup
    cause: went_home
"""
    issues = [i for i in issues_of(text) if i.code == "bad-value"]
    assert [(i.line, i.node, i.field) for i in issues] == [
        (3, None, "timezone"), (9, "ask", "options.12"), (14, "fetch", "url"),
        (15, "fetch", "variable"), (20, "bye", "cause")]


def test_yaml_syntax_error_has_the_line() -> None:
    issue = only(issues_of("flow: t\nstart: a\nnodes:\n  a: [unclosed\n"), "yaml-syntax")
    assert issue.file == "flows/test.yaml"
    assert issue.line == 5


def test_busy_loop_is_a_warning() -> None:
    text = """\
flow: t
start: count
nodes:
  count:
    type: set
    variables: {n: "default(n, 0) + 1"}
    next: check
  check:
    type: condition
    if: n < 3
    then: count
    else: bye
  bye:
    type: hangup
"""
    result = validate_flow(text, "t.yaml")
    assert result.ok
    (warning,) = result.warnings
    assert warning.code == "busy-loop"
    assert warning.severity is Severity.WARNING
    assert "check -> count -> check" in warning.message


def test_all_errors_are_reported_together() -> None:
    text = """\
flow: t
start: a
nodes:
  a:
    type: play
    prompt: x
    next: b
  b:
    type: condition
    if: "1 +"
    then: nowhere
    else: c
  c:
    type: teleport
  d:
    type: hangup
"""
    result = validate_flow(text, "t.yaml")
    assert not result.ok
    codes = sorted(issue.code for issue in result.errors)
    assert codes == ["bad-expression", "unknown-node", "unknown-type", "unreachable"]
    with pytest.raises(FlowValidationError) as info:
        result.require()
    message = str(info.value)
    assert "4 error(s)" in message
    assert "t.yaml:10: error node 'b' field 'if'" in message
    assert "t.yaml:11: error node 'b' field 'then'" in message
    assert "t.yaml:14: error node 'c' field 'type'" in message
    assert "t.yaml:15: error node 'd' field 'id'" in message


def test_duplicate_keys_inside_a_node() -> None:
    text = """\
flow: t
start: ask
nodes:
  ask:
    type: menu
    prompt: choose
    options:
      "1": bye
      "1": ask
    on_failure: bye
  bye:
    type: hangup
"""
    issue = only(issues_of(text), "duplicate-key")
    assert where(issue) == ("flows/test.yaml", 9, "ask", "options")
    assert "first defined on line 8" in issue.message


def test_empty_names_are_refused() -> None:
    text = GOOD.replace("prompt: hello-world", "prompt: ''") + \
        "  q:\n    type: queue\n    queue: ' '\n"
    issues = [i for i in issues_of(text) if i.code == "bad-value"]
    assert [(i.line, i.node, i.field) for i in issues] == [(6, "hello", "prompt"),
                                                           (12, "q", "queue")]
    assert issues[0].message == "must not be empty"


def test_a_variable_set_nowhere_is_a_warning_with_a_hint() -> None:
    text = """\
flow: t
start: fetch
nodes:
  fetch:
    type: lookup
    url: https://crm/api?phone=${ani}&id=${acount}
    variable: customer
    next: check
    fallback: check
  check:
    type: condition
    if: custmer.tier == "gold" or attached_vip
    then: bye
    else: bye
  bye:
    type: hangup
"""
    result = validate_flow(text, "t.yaml")
    assert result.ok  # warnings never block activation
    found = [(w.line, w.node, w.field, w.message) for w in result.warnings]
    assert [(line, node, field) for line, node, field, _ in found] == [
        (6, "fetch", "url"), (12, "check", "if"), (12, "check", "if")]
    assert "variable 'acount' is set nowhere" in found[0][3]
    assert "variable 'attached_vip'" in found[1][3]
    assert "did you mean 'customer'?" in found[2][3]


def test_the_editors_layout_block_is_accepted_and_checked_for_shape_only() -> None:
    good = validate_flow(
        "flow: f\nstart: a\nnodes:\n  a:\n    type: hangup\n"
        "layout:\n  a: {x: 40, y: 30.5}\n  gone: {x: 1, y: 2}\n", "f.yaml")
    assert good.ok, good.issues
    assert good.flow is not None
    assert set(good.flow.nodes) == {"a"}  # nothing of the layout reaches the flow
    bad = validate_flow(
        "flow: f\nstart: a\nnodes:\n  a:\n    type: hangup\n"
        "layout:\n  a: {x: left, z: 1}\n", "f.yaml")
    assert {(issue.code, issue.field) for issue in bad.errors} == {
        ("wrong-type", "x"), ("unknown-field", "layout.a.z")}
