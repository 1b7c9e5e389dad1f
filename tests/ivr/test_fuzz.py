"""Robustness: expressions parse or raise ExpressionError; flow files validate without raising."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from parley.ivr.environment import IvrEnvironment, NumberLists, QueueFigure, QueueSnapshot
from parley.ivr.errors import ExpressionError
from parley.ivr.expr import check, evaluate, parse
from parley.ivr.files import shipped_flows
from parley.ivr.interpreter import FlowRun, _Context
from parley.ivr.validator import validate_flow

TOKENS = ["1", "2.5", "0", '"a"', "'+33'", "ani", "dnis", "x", "customer", ".", "name", "[",
          "]", "(", ")", ",", "+", "-", "*", "/", "%", "==", "!=", "<", ">=", "and", "or",
          "not", "!", "in", "true", "null", "len", "in_list", "matches", "time_between",
          "weekday_in", "queue_expected_wait", "num", "str", "default", '"09:00"', '"mon"',
          '"(["', "'vip'", " "]
expressions = st.lists(st.sampled_from(TOKENS), max_size=14).map("".join) | st.text(max_size=30)


def context() -> _Context:
    flow = shipped_flows()[0].require()
    run = FlowRun(flow, call_id="c", ani="+331", dnis="600",
                  variables={"x": 3, "customer": {"name": "Ada", "orders": [1, 2]}},
                  env=IvrEnvironment(lists=NumberLists({"vip": ["+331"]}),
                                     queues=QueueSnapshot({"a": QueueFigure(10.0, 1, 2)})))
    return _Context(run, datetime(2026, 1, 5, 10, 0, tzinfo=UTC))


CTX = context()


@settings(max_examples=400, deadline=None)
@given(source=expressions)
def test_expressions_parse_check_and_evaluate_or_raise_expression_error(source: str) -> None:
    position: int | None = 0
    try:
        tree = parse(source)
    except ExpressionError as exc:
        position = exc.position
        tree = None
    if tree is None:
        assert position is not None
        assert 1 <= position <= len(source) + 1
        return
    check(tree)
    try:
        value: Any = evaluate(tree, CTX, source)
    except ExpressionError:
        return
    assert value is None or isinstance(value, bool | int | float | str | list | dict)


DEMO = shipped_flows()[0].require().source


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(0, len(DEMO)), junk=st.text(max_size=12), drop=st.integers(0, 60))
def test_damaged_flow_files_are_reported_not_raised(cut: int, junk: str, drop: int) -> None:
    text = DEMO[:cut] + junk + DEMO[cut + drop:]
    result = validate_flow(text, "damaged.yaml")
    for issue in result.issues:
        assert issue.file == "damaged.yaml"
        assert issue.line is None or issue.line >= 1
        assert issue.message
