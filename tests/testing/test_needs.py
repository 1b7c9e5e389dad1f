"""A test's missing peer: skipped on a developer's machine, failed under CI=true, and the
message names the Debian package to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from parley.testing.needs import Need, in_ci, missing, program, require

ABSENT = Need("the frobnicator", "frobnicator-tools", lambda: False)
HERE = Need("the interpreter", "python3", lambda: True)


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("TRUE", True), ("1", True), ("yes", True),
    ("", False), ("false", False), ("0", False),
])
def test_ci_is_recognised_as_ci_services_set_it(value: str, expected: bool) -> None:
    assert in_ci({"CI": value}) is expected
    assert in_ci({}) is False


def test_a_met_need_lets_the_test_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    require(HERE)  # neither skips nor fails


def test_a_missing_need_skips_locally_naming_the_package(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception,
                       match=r"the frobnicator is missing \(install Debian's frobnicator-tools\)"):
        require(HERE, ABSENT)


def test_a_missing_need_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"frobnicator-tools.*CI=true"):
        require(ABSENT)


def test_a_program_needs_its_files_too(tmp_path: Path) -> None:
    python = Path(sys.executable).name
    assert missing(program(python, "python3")) == []
    with_file = program(python, "python3", tmp_path / "data.bin")
    assert missing(with_file) == [with_file]
    (tmp_path / "data.bin").write_bytes(b"x")
    assert missing(with_file) == []
    assert missing(program("no-such-program-here", "nothing")) != []


MARKED_TEST = """
import pytest
from parley.testing.needs import Need, needs

ABSENT = Need("the frobnicator", "frobnicator-tools", lambda: False)

@pytest.fixture
def server(tmp_path_factory):
    (tmp_path_factory.getbasetemp().parent / "server-started").touch()

@needs(ABSENT)
def test_with_peer(server):
    pass

def test_without_peer():
    pass
"""


@pytest.mark.parametrize("ci", [False, True])
def test_the_mark_is_checked_before_the_fixtures(pytester: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 ci: bool) -> None:
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(MARKED_TEST)
    result = pytester.runpytest("-p", "parley.testing.needs", "-rsE", "--strict-markers",
                                "-o", "asyncio_default_fixture_loop_scope=function")
    if ci:
        result.assert_outcomes(passed=1, errors=1)
    else:
        result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*the frobnicator is missing (install Debian's "
                                 "frobnicator-tools)*"])
    assert not list(pytester.path.parent.rglob("server-started"))
