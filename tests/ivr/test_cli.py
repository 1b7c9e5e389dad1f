"""``parley check-flows``: admins validate flow files before loading them."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from parley.cli import app

GOOD = "flow: good\nstart: bye\nnodes:\n  bye:\n    type: hangup\n"
BAD = ("flow: bad\nstart: hello\nnodes:\n  hello:\n    type: play\n    prompt: x\n"
       "    next: nowhere\n")


def test_check_flows_reports_every_issue_and_fails(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(BAD, encoding="utf-8")
    result = CliRunner().invoke(app, ["check-flows", str(tmp_path)])
    assert result.exit_code == 1
    bad = tmp_path / "bad.yaml"
    assert f"{bad}:7: error node 'hello' field 'next': next refers to node 'nowhere'" \
        in result.output
    assert f"{bad}: 1 error(s)" in result.output
    assert f"{tmp_path / 'good.yaml'}: ok" in result.output


def test_check_flows_passes_the_shipped_flows() -> None:
    folder = Path(__file__).parents[2] / "src" / "parley" / "flows"
    result = CliRunner().invoke(app, ["check-flows", str(folder)])
    assert result.exit_code == 0, result.output
    assert "demo-main.yaml: ok" in result.output
