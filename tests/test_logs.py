"""Node logging: JSON lines for log shippers, plain tracebacks, levels below info dropped."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
import structlog

from parley.logs import LineWriter, PlainConsoleRenderer, configure_logging


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


def test_a_reader_that_falls_behind_never_holds_up_the_node() -> None:
    """A node's output read too slowly (journald under pressure, a pipe nobody drains):
    its log lines wait in order, the surplus is dropped and said, and writing them never
    blocks (one blocked write stops every call, and a standby's lease renewal)."""
    read_fd, write_fd = os.pipe()
    target = os.fdopen(write_fd, "w")
    writer = LineWriter(target, max_lines=2_000)
    pad = "x" * 200

    def log_lines() -> None:  # 2 MB into a pipe of 64 KB nobody reads yet
        for n in range(10_000):
            writer.write(f"{n} {pad}\n")

    logging_thread = threading.Thread(target=log_lines)
    logging_thread.start()
    logging_thread.join(timeout=30)
    assert not logging_thread.is_alive(), "a write waited for the reader"
    received: list[bytes] = []

    def read_all() -> None:
        with os.fdopen(read_fd, "rb") as reader:
            received.append(reader.read())

    reading = threading.Thread(target=read_all)
    reading.start()
    assert writer.drain(30)
    target.close()
    reading.join(timeout=30)
    lines = b"".join(received).decode().splitlines()
    numbers = [int(line.split()[0]) for line in lines if line[0].isdigit()]
    assert numbers == sorted(set(numbers))  # in order, each once
    notice = [line for line in lines if "dropped" in line]
    assert notice
    said = sum(int(re.findall(r"\d+", line)[0]) for line in notice)
    assert said == writer.dropped > 0
    assert len(numbers) + said == 10_000  # none lost without a word


def _plain_and_structlog() -> tuple[PlainConsoleRenderer, structlog.dev.ConsoleRenderer]:
    console = structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback)
    return PlainConsoleRenderer(console), structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback)


@pytest.mark.parametrize("fields", [
    {},
    {"call_id": "2999-7190@127.0.0.1", "channel_id": "ch-01a2", "cause": "NORMAL_CLEARING",
     "by": "remote"},
    {"zeta": 1, "alpha": 2.5, "mid": None, "flag": True, "items": [1, "a"], "map": {"k": "v"}},
    {"spaced": "two words", "equals": "a=b", "quote": "it's", "double": 'say "hi"',
     "tab": "a\tb", "newline": "a\nb", "empty": "", "unicode": "Привет"},
    {"raw": b"\x00bytes", "status": HTTPStatus.OK, "when": datetime(2026, 12, 7, tzinfo=UTC)},
])
@pytest.mark.parametrize("level", ["debug", "info", "warning", "error", "critical",
                                   "exception"])
@pytest.mark.parametrize("event", ["channel_hangup", "an_event_name_longer_than_thirty_chars",
                                   "Parley stopped.", ""])
def test_the_plain_console_lines_are_structlogs_own(
        fields: dict[str, object], level: str, event: str) -> None:
    """A node's console lines read as structlog's ConsoleRenderer writes them, however the
    fields look: the faster renderer writes the same text."""
    plain, reference = _plain_and_structlog()
    for timestamp in ("2026-12-07T17:31:39.061907Z", ""):
        event_dict = {"timestamp": timestamp, "level": level, "event": event, **fields}
        assert plain(None, level, dict(event_dict)) == reference(None, level, dict(event_dict))


def test_tracebacks_stacks_and_logger_names_go_to_structlogs_renderer() -> None:
    """What the plain renderer does not write itself (a traceback, a stack, a logger's name,
    a line without a time) comes out exactly as structlog writes it."""
    plain, reference = _plain_and_structlog()
    try:
        raise ValueError("bad input")
    except ValueError as error:
        caught = error
    cases: list[dict[str, object]] = [
        {"exc_info": (ValueError, caught, caught.__traceback__)},
        {"exception": "Traceback (most recent call last):\nValueError: bad input"},
        {"stack": "Stack (most recent call last):\n  File x"},
        {"logger_name": "parley.telephony"},
        {"logger": "parley.telephony"},
    ]
    for extra in cases:
        event_dict = {"timestamp": "2026-12-07T17:31:39Z", "level": "error", "event": "failed",
                      "call_id": "c-1", **extra}
        assert plain(None, "error", dict(event_dict)) == reference(None, "error",
                                                                   dict(event_dict))
    without_time = {"level": "info", "event": "started", "port": 5060}
    assert plain(None, "info", dict(without_time)) == reference(None, "info",
                                                                dict(without_time))
