"""Simulation scenarios: queues, traffic per interval, operators with shifts (docs/acd.md).

A scenario is plain data, loaded from YAML by :func:`load_scenario` (errors name the field)
or built in code, e.g. by :func:`simple_scenario` for the one-queue case of the CLI flags.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from parley.acd.agent import AcdError
from parley.acd.config import QueueConfig, queue_from_mapping
from parley.errors import ParleyError


class ScenarioError(ParleyError):
    """A scenario file that cannot be run; the message names the file and field."""


@dataclass(frozen=True, slots=True)
class Distribution:
    """A positive random duration: ``exponential`` (mean) or ``lognormal`` (mean, sigma)."""

    kind: str
    mean_s: float
    sigma: float = 0.5

    def sample(self, rng: Any) -> float:
        if self.kind == "exponential":
            return float(rng.expovariate(1.0 / self.mean_s))
        mu = math.log(self.mean_s) - self.sigma * self.sigma / 2.0  # keeps the mean at mean_s
        return float(rng.lognormvariate(mu, self.sigma))


@dataclass(frozen=True, slots=True)
class Traffic:
    queue: str
    calls_per_hour: tuple[float, ...]  # one rate per interval (the last repeats)
    handle_time: Distribution
    patience: Distribution | None = None
    priority: int = 0

    def rate(self, interval: int) -> float:
        return self.calls_per_hour[min(interval, len(self.calls_per_hour) - 1)] / 3600.0


@dataclass(frozen=True, slots=True)
class AgentGroup:
    count: int
    prefix: str
    skills: Mapping[str, int]
    shifts: tuple[tuple[float, float], ...]  # (start, end) in seconds from the start
    wrap_up_s: float | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    queues: tuple[QueueConfig, ...]
    traffic: tuple[Traffic, ...]
    agents: tuple[AgentGroup, ...]
    hours: float
    interval_s: float = 1800.0
    seed: int = 0
    answer_delay_s: float = 0.0
    sl_threshold_s: float = 20.0
    name: str = "scenario"
    notes: tuple[str, ...] = field(default=())

    @property
    def duration_s(self) -> float:
        return self.hours * 3600.0


def simple_scenario(agents: int, calls_per_hour: float, aht_s: float, hours: float, *,
                    patience_s: float | None = None, sl_threshold_s: float = 20.0,
                    seed: int = 0) -> Scenario:
    """One queue, ``agents`` identical operators all day, exponential handle and patience."""
    if agents <= 0 or calls_per_hour < 0 or aht_s <= 0 or hours <= 0:
        raise ScenarioError("agents, aht and hours must be positive, arrival rate not negative")
    queue = QueueConfig("main", skills={"main": 1}, ring_timeout_s=3600.0,
                        sl_threshold_s=sl_threshold_s)
    traffic = Traffic("main", (calls_per_hour,), Distribution("exponential", aht_s),
                      Distribution("exponential", patience_s) if patience_s else None)
    group = AgentGroup(agents, "agent", {"main": 5}, ((0.0, float("inf")),))
    return Scenario((queue,), (traffic,), (group,), hours, interval_s=min(3600.0, hours * 3600),
                    seed=seed, sl_threshold_s=sl_threshold_s, name="simple")


def _distribution(data: Any, where: str) -> Distribution:
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return Distribution("exponential", float(data))
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where}: expected seconds or {{distribution, mean_s, sigma}}")
    kind = data.get("distribution", "exponential")
    if kind not in ("exponential", "lognormal"):
        raise ScenarioError(f"{where}.distribution: expected exponential or lognormal, "
                            f"got {kind!r}")
    mean = data.get("mean_s")
    if not isinstance(mean, (int, float)) or mean <= 0:
        raise ScenarioError(f"{where}.mean_s: expected a positive number of seconds")
    sigma = data.get("sigma", 0.5)
    if not isinstance(sigma, (int, float)) or sigma <= 0:
        raise ScenarioError(f"{where}.sigma: expected a positive number")
    return Distribution(kind, float(mean), float(sigma))


def _clock(text: Any, where: str) -> float:
    try:
        hours, minutes = str(text).split(":")
        return int(hours) * 3600.0 + int(minutes) * 60.0
    except ValueError:
        raise ScenarioError(f"{where}: expected HH:MM from the start, got {text!r}") from None


def _number(data: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = data.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ScenarioError(f"{where}.{key}: expected a number of at least 0, got {value!r}")
    return float(value)


def scenario_from_mapping(data: Any, where: str = "scenario") -> Scenario:
    """Build a :class:`Scenario` from parsed YAML; errors name the bad field."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where}: expected a mapping at the top")
    known = {"name", "seed", "hours", "interval_minutes", "answer_delay_s", "sl_threshold_s",
             "queues", "traffic", "agents"}
    unknown = set(data) - known
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    sl = _number(data, "sl_threshold_s", where, 20.0)
    queues = []
    for i, item in enumerate(data.get("queues") or []):
        if not isinstance(item, Mapping):
            raise ScenarioError(f"{where}.queues[{i}]: expected a mapping")
        item = {"sl_threshold_s": sl, **item}
        try:
            queues.append(queue_from_mapping(item, f"{where}.queues[{i}]"))
        except AcdError as exc:
            raise ScenarioError(str(exc)) from None
    if not queues:
        raise ScenarioError(f"{where}.queues: at least one queue is needed")
    names = {q.name for q in queues}
    traffic = []
    for i, item in enumerate(data.get("traffic") or []):
        spot = f"{where}.traffic[{i}]"
        if not isinstance(item, Mapping):
            raise ScenarioError(f"{spot}: expected a mapping")
        if item.get("queue") not in names:
            raise ScenarioError(f"{spot}.queue: unknown queue {item.get('queue')!r}")
        rates = item.get("calls_per_hour")
        rates = [rates] if isinstance(rates, (int, float)) else rates
        if not isinstance(rates, list) or not rates or not all(
                isinstance(r, (int, float)) and r >= 0 for r in rates):
            raise ScenarioError(f"{spot}.calls_per_hour: expected a number or a list of "
                                "numbers (one per interval)")
        if "handle_time" not in item:
            raise ScenarioError(f"{spot}.handle_time: required")
        patience = item.get("patience")
        traffic.append(Traffic(
            item["queue"], tuple(float(r) for r in rates),
            _distribution(item["handle_time"], f"{spot}.handle_time"),
            _distribution(patience, f"{spot}.patience") if patience is not None else None,
            int(item.get("priority", 0))))
    groups = []
    for i, item in enumerate(data.get("agents") or []):
        spot = f"{where}.agents[{i}]"
        if not isinstance(item, Mapping):
            raise ScenarioError(f"{spot}: expected a mapping")
        count = item.get("count")
        if not isinstance(count, int) or count <= 0:
            raise ScenarioError(f"{spot}.count: expected a positive whole number")
        skills = item.get("skills") or {}
        if not isinstance(skills, Mapping) or not all(
                isinstance(v, int) and 1 <= v <= 10 for v in skills.values()):
            raise ScenarioError(f"{spot}.skills: expected skill: level (1-10) pairs")
        shifts = []
        for j, shift in enumerate(item.get("shifts") or [["00:00", "999:00"]]):
            if not isinstance(shift, list) or len(shift) != 2:
                raise ScenarioError(f"{spot}.shifts[{j}]: expected [HH:MM, HH:MM]")
            start, end = (_clock(shift[0], f"{spot}.shifts[{j}]"),
                          _clock(shift[1], f"{spot}.shifts[{j}]"))
            if end <= start:
                raise ScenarioError(f"{spot}.shifts[{j}]: ends before it starts")
            shifts.append((start, end))
        wrap = item.get("wrap_up_s")
        groups.append(AgentGroup(count, str(item.get("prefix", f"g{i}-")), dict(skills),
                                 tuple(shifts), None if wrap is None else float(wrap)))
    if not groups:
        raise ScenarioError(f"{where}.agents: at least one group of operators is needed")
    interval = _number(data, "interval_minutes", where, 30.0) * 60.0
    hours = _number(data, "hours", where, 0.0) or (
        max(len(t.calls_per_hour) for t in traffic) * interval / 3600.0 if traffic else 1.0)
    if interval <= 0:
        raise ScenarioError(f"{where}.interval_minutes: must be positive")
    return Scenario(tuple(queues), tuple(traffic), tuple(groups), hours, interval,
                    int(data.get("seed", 0)), _number(data, "answer_delay_s", where, 0.0), sl,
                    str(data.get("name", "scenario")))


def load_scenario(path: Path) -> Scenario:
    """Read a scenario YAML file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ScenarioError(f"{path}{line}: not valid YAML") from None
    return scenario_from_mapping(data, str(path))
