"""Queue and site settings for the ACD: strategies, skills, limits, overflow rules, hours.

Plain frozen dataclasses, built in code or from a mapping (a YAML provisioning file) by
:func:`queue_from_mapping`, which names the field that is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from parley.acd.agent import AcdError
from parley.acd.schedule import WeeklySchedule


class Strategy(StrEnum):
    """How a queue picks among the ready operators who can take a call."""

    LONGEST_IDLE = "longest_idle"
    FEWEST_CALLS = "fewest_calls"
    ROUND_ROBIN = "round_robin"
    RING_ALL = "ring_all"
    SKILLS_BASED = "skills_based"
    RANDOM = "random"
    FIXED_ORDER = "fixed_order"


class Condition(StrEnum):
    """When an overflow rule fires."""

    NO_AGENTS = "no_agents"  # nobody who can serve the queue is logged in
    WAIT = "wait"  # the caller has waited more than N seconds
    EXPECTED_WAIT = "expected_wait"  # on arrival, the expected wait exceeds N seconds
    LENGTH = "length"  # on arrival, more than N callers already wait
    CLOSED = "closed"  # on arrival, outside the queue's opening hours


class TargetKind(StrEnum):
    QUEUE = "queue"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    FLOW = "flow"
    HANGUP = "hangup"


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    name: str = ""


@dataclass(frozen=True, slots=True)
class OverflowRule:
    condition: Condition
    target: Target
    threshold: float = 0.0


@dataclass(frozen=True, slots=True)
class RelaxStep:
    """From ``after_s`` of waiting on, operators with ``min_level`` or more may take the call."""

    after_s: float
    min_level: int


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One queue. ``skills`` maps a skill to the minimum level an operator needs to be a
    member (operators listed in ``members``, or in one of ``teams``, belong regardless);
    skills-based routing ranks members by their level on those skills and relaxes the
    minimum along ``relax``."""

    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    skills: Mapping[str, int] = field(default_factory=dict)
    members: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()  # every operator of these teams belongs too
    priority: int = 0  # added to every caller's priority: weights queues against each other
    ring_timeout_s: float = 15.0
    wrap_up_s: float = 0.0
    max_length: int | None = None
    max_wait_s: float | None = None
    overflow_target: Target = Target(TargetKind.HANGUP)  # where max_length / max_wait send
    overflow: tuple[OverflowRule, ...] = ()
    relax: tuple[RelaxStep, ...] = ()
    hours: WeeklySchedule | None = None
    sl_threshold_s: float = 20.0
    short_abandon_s: float = 5.0  # abandons within this long are "short" (parley.kpi)
    seed: int = 0  # for the random strategy


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """Site-wide settings."""

    reason_codes: tuple[str, ...] = ("break", "lunch", "training", "paperwork", "meeting")
    missed_call_limit: int | None = None  # N misses in a row -> not ready "missed call"
    missed_call_reason: str = "missed call"
    personal_call_reason: str = "personal call"  # on a call the ACD did not give (the shell)
    watchdog_grace_s: float = 10.0  # beyond the ring timeout, a stuck offer is freed
    callback_priority: int = 0
    ewt_blend: float = 0.5  # weight of the queue-state estimate against the average wait
    ewt_alpha: float = 0.25  # smoothing of the averages (app_queue uses 1/4)


def _get(data: Mapping[str, Any], key: str, where: str, kind: type, default: Any) -> Any:
    value = data.get(key, default)
    if value is default:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise AcdError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def target_from_text(text: str, where: str) -> Target:
    """``"queue:billing"``, ``"voicemail:sales"``, ``"callback"``, ``"flow:after-hours"``."""
    kind, _, name = str(text).partition(":")
    try:
        return Target(TargetKind(kind), name)
    except ValueError:
        kinds = ", ".join(k.value for k in TargetKind)
        raise AcdError(f"{where}: unknown target {text!r} (one of {kinds})") from None


def queue_from_mapping(data: Mapping[str, Any], where: str = "queue") -> QueueConfig:
    """Build a :class:`QueueConfig` from provisioning data; errors name the bad field."""
    name = _get(data, "name", where, str, None)
    if not name:
        raise AcdError(f"{where}.name: required")
    where = f"{where} {name}"
    known = set(QueueConfig.__slots__)
    unknown = set(data) - known
    if unknown:
        raise AcdError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        strategy = Strategy(data.get("strategy", Strategy.LONGEST_IDLE))
    except ValueError:
        raise AcdError(f"{where}.strategy: unknown {data.get('strategy')!r} (one of "
                       f"{', '.join(s.value for s in Strategy)})") from None
    skills = dict(_get(data, "skills", where, dict, {}))
    for skill, level in skills.items():
        if not isinstance(level, int) or not 1 <= level <= 10:
            raise AcdError(f"{where}.skills.{skill}: level must be 1-10, got {level!r}")
    rules = []
    for i, rule in enumerate(_get(data, "overflow", where, list, [])):
        spot = f"{where}.overflow[{i}]"
        if not isinstance(rule, dict):
            raise AcdError(f"{spot}: expected a mapping")
        try:
            condition = Condition(str(rule.get("when")))
        except ValueError:
            raise AcdError(f"{spot}.when: unknown {rule.get('when')!r} (one of "
                           f"{', '.join(c.value for c in Condition)})") from None
        rules.append(OverflowRule(condition, target_from_text(rule.get("target", ""),
                                                              f"{spot}.target"),
                                  float(_get(rule, "threshold", spot, float, 0.0))))
    relax = tuple(RelaxStep(float(step[0]), int(step[1]))
                  for step in _get(data, "relax", where, list, []))
    hours = data.get("hours")
    return QueueConfig(
        name=name,
        strategy=strategy,
        skills=skills,
        members=tuple(_get(data, "members", where, list, [])),
        teams=tuple(_get(data, "teams", where, list, [])),
        priority=_get(data, "priority", where, int, 0),
        ring_timeout_s=_get(data, "ring_timeout_s", where, float, 15.0),
        wrap_up_s=_get(data, "wrap_up_s", where, float, 0.0),
        max_length=_get(data, "max_length", where, int, None),
        max_wait_s=_get(data, "max_wait_s", where, float, None),
        overflow_target=target_from_text(data.get("overflow_target", "hangup"),
                                         f"{where}.overflow_target"),
        overflow=tuple(rules),
        relax=relax,
        hours=WeeklySchedule.from_mapping(hours, f"{where}.hours") if hours else None,
        sl_threshold_s=_get(data, "sl_threshold_s", where, float, 20.0),
        short_abandon_s=_get(data, "short_abandon_s", where, float, 5.0),
        seed=_get(data, "seed", where, int, 0),
    )
