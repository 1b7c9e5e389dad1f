"""The simulator's model and scenarios: traffic, shifts, skills, outputs, and clear errors."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parley.cli import app
from parley.sim.inbound import simulate
from parley.sim.scenario import (
    Distribution,
    ScenarioError,
    load_scenario,
    scenario_from_mapping,
)

EXAMPLE = Path(__file__).parents[2] / "src" / "parley" / "sim" / "examples" / "two_queues.yaml"


def base(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "seed": 1, "interval_minutes": 60,
        "queues": [{"name": "sales", "skills": {"sales": 1}},
                   {"name": "support", "skills": {"support": 1}}],
        "traffic": [{"queue": "sales", "calls_per_hour": [120, 0, 240],
                     "handle_time": 60, "patience": 30}],
        "agents": [{"count": 4, "prefix": "s", "skills": {"sales": 5}}],
    }
    data.update(changes)
    return data


def test_every_call_is_accounted_for_in_the_example_day() -> None:
    result = simulate(load_scenario(EXAMPLE))
    total = result.total
    assert total.offered > 500
    assert total.offered == (total.answered + total.abandoned + total.overflowed
                             + result.extra["unfinished"])
    assert len(result.intervals) == 8
    assert sum(i.offered for i in result.intervals) == total.offered
    assert 0 < total.occupancy < 1
    assert 0 < total.abandon_rate < 0.2


def test_arrivals_follow_the_rate_of_each_interval() -> None:
    result = simulate(scenario_from_mapping(base()))
    first, quiet, busy = result.intervals
    assert quiet.offered == 0
    assert 90 < first.offered < 150  # Poisson(120)
    assert 200 < busy.offered < 280  # Poisson(240)


def test_operators_work_only_during_their_shifts() -> None:
    data = base(agents=[{"count": 2, "prefix": "s", "skills": {"sales": 5},
                         "shifts": [["01:00", "02:00"]]}])
    result = simulate(scenario_from_mapping(data))
    first, second, third = result.intervals
    # Nobody is logged in during the first hour: only callers still holding on at 01:00 get
    # through (counted in the interval they arrived in); the rest run out of patience.
    assert first.answered < 10
    assert first.abandoned > 0.9 * first.offered
    assert second.busy_s + second.ready_s == pytest.approx(2 * 3600)
    assert third.answered < 10
    assert first.busy_s + first.ready_s == 0


def test_calls_only_reach_operators_with_the_queues_skill() -> None:
    data = base(agents=[{"count": 5, "prefix": "t", "skills": {"support": 9}}])
    result = simulate(scenario_from_mapping(data))
    assert result.total.answered == 0
    assert result.total.abandoned == result.total.offered
    assert result.total.occupancy == 0


def test_same_seed_same_day_and_another_seed_another_day() -> None:
    one = simulate(scenario_from_mapping(base())).summary()
    assert one == simulate(scenario_from_mapping(base())).summary()
    assert one != simulate(scenario_from_mapping(base(seed=2))).summary()


def test_lognormal_handle_times_keep_the_configured_mean() -> None:
    rng = random.Random(5)
    lognormal = Distribution("lognormal", 240.0, 0.8)
    samples = [lognormal.sample(rng) for _ in range(50_000)]
    assert statistics.mean(samples) == pytest.approx(240.0, rel=0.03)
    assert statistics.median(samples) < 200  # skewed: most calls are shorter than the mean


@pytest.mark.parametrize(("change", "message"), [
    ({"queues": []}, "scenario.queues: at least one queue"),
    ({"traffic": [{"queue": "billing", "calls_per_hour": 5, "handle_time": 60}]},
     r"scenario.traffic\[0\].queue: unknown queue 'billing'"),
    ({"traffic": [{"queue": "sales", "calls_per_hour": "lots", "handle_time": 60}]},
     r"scenario.traffic\[0\].calls_per_hour"),
    ({"traffic": [{"queue": "sales", "calls_per_hour": 5,
                   "handle_time": {"distribution": "gamma", "mean_s": 60}}]},
     r"scenario.traffic\[0\].handle_time.distribution"),
    ({"agents": [{"count": 0, "skills": {}}]}, r"scenario.agents\[0\].count"),
    ({"agents": [{"count": 2, "skills": {"sales": 11}}]}, r"scenario.agents\[0\].skills"),
    ({"agents": [{"count": 2, "shifts": [["09:00", "08:00"]]}]},
     r"scenario.agents\[0\].shifts\[0\]: ends before it starts"),
    ({"queues": [{"name": "sales", "strategy": "psychic"}]},
     r"scenario.queues\[0\] sales.strategy: unknown 'psychic'"),
    ({"weather": "sunny"}, "scenario: unknown field"),
])
def test_bad_scenarios_name_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario_from_mapping(base(**change))


def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("queues:\n  - name: [sales\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"broken.yaml line \d+: not valid YAML"):
        load_scenario(path)


def test_cli_flags_print_one_json_object_with_the_contract_keys() -> None:
    result = CliRunner().invoke(app, ["simulate", "--agents", "10", "--arrival-rate", "420",
                                      "--aht", "60", "--patience", "90",
                                      "--sl-threshold", "15", "--hours", "2", "--seed", "4",
                                      "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("asa_s", "service_level", "abandon_rate", "occupancy", "offered"):
        assert isinstance(data[key], (int, float)), key
    assert 700 < data["offered"] < 980
    assert data["erlang_a"]["abandon_rate"] > 0


def test_cli_runs_a_scenario_file_into_a_table_and_a_chart(tmp_path: Path) -> None:
    chart = tmp_path / "day.png"
    result = CliRunner().invoke(app, ["simulate", str(EXAMPLE), "--chart", str(chart)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "SL20s" in lines[1]
    assert any(line.strip().startswith("00:00-00:30") for line in lines)
    assert any(line.strip().startswith("total") for line in lines)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors_say_what_to_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--agents", "3"])
    assert result.exit_code == 2
    assert "--arrival-rate and --aht" in result.output
    missing = CliRunner().invoke(app, ["simulate", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2
    assert "none.yaml" in missing.output


def test_the_yaml_examples_in_the_acd_docs_are_valid() -> None:
    import re

    import yaml

    from parley.acd.config import queue_from_mapping

    text = (Path(__file__).parents[2] / "docs" / "acd.md").read_text(encoding="utf-8")
    queues, scenario = (yaml.safe_load(block)
                        for block in re.findall(r"```yaml\n(.*?)```", text, re.S))
    assert [queue_from_mapping(q).name for q in queues] == ["support"]
    assert scenario_from_mapping(scenario).hours == 4
