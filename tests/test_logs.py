"""Node logging: JSON lines for log shippers, plain tracebacks, levels below info dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog

from parley.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_json_lines_carry_the_call_and_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    log = structlog.get_logger("test").bind(call_id="c-1")
    log.debug("not shown")
    log.info("answered", queue="support")
    try:
        raise ValueError("bad input")
    except ValueError:
        log.exception("failed")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["answered", "failed"]
    assert lines[0]["call_id"] == "c-1"
    assert lines[0]["queue"] == "support"
    assert "ValueError: bad input" in lines[1]["exception"]


def test_console_lines_have_plain_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    log = structlog.get_logger("test")
    try:
        raise ValueError("bad input")
    except ValueError:
        log.exception("failed")
    out = capsys.readouterr().out
    assert "Traceback (most recent call last):" in out
    assert "ValueError: bad input" in out
    assert "│" not in out  # no boxed, highlighted rendering
