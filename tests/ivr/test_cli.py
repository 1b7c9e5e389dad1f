"""``parley check-flows``: admins validate flow files before loading them."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from parley.cli import app
from parley.testing.needs import RU_STOCK_PROMPTS as RU_PROMPTS
from parley.testing.needs import STOCK_PROMPTS, needs

TWO_LANGUAGES = """\
flow: two
languages: [en, ru]
start: amount
nodes:
  amount:
    type: say
    kind: number
    value: "22"
    next: bye
  bye:
    type: hangup
    prompt: please-try-call-later
"""

GOOD = "flow: good\nstart: bye\nnodes:\n  bye:\n    type: hangup\n"
BAD = ("flow: bad\nstart: hello\nnodes:\n  hello:\n    type: play\n    prompt: beep\n"
       "    next: nowhere\n")


@needs(STOCK_PROMPTS)
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


@needs(STOCK_PROMPTS, RU_PROMPTS)
def test_check_flows_passes_the_shipped_flows() -> None:
    folder = Path(__file__).parents[2] / "src" / "parley" / "flows"
    result = CliRunner().invoke(app, ["check-flows", str(folder)])
    assert result.exit_code == 0, result.output
    assert "demo-main.yaml: ok" in result.output
    assert "demo-main-ru.yaml: ok" in result.output


@needs(STOCK_PROMPTS, RU_PROMPTS)
def test_check_flows_reports_a_prompt_missing_in_one_language(tmp_path: Path) -> None:
    """English ships "please-try-call-later", Russian does not: the file, the node and the
    language are named; the Russian number words are all there (or spoken)."""
    flow = tmp_path / "two.yaml"
    flow.write_text(TWO_LANGUAGES, encoding="utf-8")
    result = CliRunner().invoke(app, ["check-flows", str(flow)])
    assert result.exit_code == 1
    assert (f"{flow}:10: error node 'bye' field 'prompts': prompt 'please-try-call-later' "
            "does not exist in language 'ru' [missing-prompt]") in result.output
    assert f"{flow}: 1 error(s)" in result.output
    assert CliRunner().invoke(app, ["check-flows", "--no-prompts", str(flow)]).exit_code == 0


def test_importing_a_flow_with_errors_says_it_will_not_go_live(tmp_path: Path) -> None:
    """A provisioning document's flows are stored as given (a whole site is not refused
    for one flow), but a flow with errors does not go live on the node: the admin who
    imports it is told which and why, not only "changed"."""
    site = tmp_path / "site.yaml"
    site.write_text("""\
version: 1
flows:
  - name: good
    definition:
      flow: good
      start: bye
      nodes: {bye: {type: hangup}}
  - name: broken
    definition:
      flow: broken
      start: hello
      nodes:
        hello: {type: play, prompt: beep, next: nowhere}
""")
    database = f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"
    result = CliRunner().invoke(app, ["import", str(site), "--database-url", database,
                                      "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert "2 flows changed" in result.stdout
    assert "warning: flow 'broken' is stored but will not go live until it is fixed" \
        in result.output
    assert "node 'hello' field 'next'" in result.output
    assert "flow 'good'" not in result.output
