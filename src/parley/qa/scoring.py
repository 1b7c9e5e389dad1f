"""Scorecards, pure: weighted criteria, scored from a call's script answers and facts, or
marked by a reviewer (docs/quality.md).

A scorecard's definition is data (the provisioning YAML's ``scorecards:`` section and
``/api/scorecards``). Each criterion has an ``id``, a ``label``, a ``weight`` (its points)
and exactly one test:

- ``answer``: a script answer, with the tests of a script's ``show_if`` (``answered``,
  ``equals``, ``one_of``, ``includes`` for a ticked checkbox), :class:`parley.scripts.Condition`;
- ``talk_s`` / ``hold_s``: the call's talk or hold time within ``{min, max}`` seconds;
- ``transferred``: whether the call was transferred (``false``: it must not have been);
- ``result``: the wrap-up's result code is one of a list;
- ``review``: a reviewer marks it, ``true`` (yes or no) or ``{scale: N}`` (0 to N).

``when_result`` limits a criterion to calls closed with some result codes (a refusal reason
is asked of refusals only); elsewhere it does not count. A call's total is the points earned
over the points possible: automatic criteria at once, reviewer criteria once marked (until
then they count as possible and are shown pending, so a review moves the total).

No I/O; the store keeps the marks, :mod:`parley.qa.service` joins them to calls.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from parley.errors import ParleyError
from parley.scripts import Condition

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
MAX_SCALE = 10
NOT_OVER = "the call is not over yet"
"""The detail of a time criterion scored before the call's end was recorded."""


class QualityError(ParleyError, ValueError):
    """A scorecard definition or a review is wrong; the message names the scorecard, the
    criterion and the key at fault, ``path`` the place inside the definition (provisioning
    turns it into a YAML line)."""

    def __init__(self, message: str, path: tuple[int | str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


class CriterionTest(StrEnum):
    """What a criterion looks at."""

    ANSWER = "answer"
    TALK = "talk_s"
    HOLD = "hold_s"
    TRANSFERRED = "transferred"
    RESULT = "result"
    REVIEW = "review"


@dataclass(frozen=True, slots=True)
class Bounds:
    """A range of seconds, either end open."""

    minimum: float | None = None
    maximum: float | None = None

    def holds(self, value: float) -> bool:
        return (self.minimum is None or value >= self.minimum) and \
            (self.maximum is None or value <= self.maximum)

    def __str__(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"{self.minimum:g}–{self.maximum:g} s"
        if self.minimum is not None:
            return f"≥ {self.minimum:g} s"
        return f"≤ {self.maximum:g} s"


@dataclass(frozen=True, slots=True)
class Criterion:
    id: str
    label: str
    test: CriterionTest
    weight: float = 1.0
    condition: Condition | None = None  # answer
    bounds: Bounds | None = None  # talk_s, hold_s
    transferred: bool = False  # transferred
    results: tuple[str, ...] = ()  # result
    scale: int = 1  # review: marks 0..scale
    when_result: tuple[str, ...] = ()

    @property
    def automatic(self) -> bool:
        return self.test is not CriterionTest.REVIEW


@dataclass(frozen=True, slots=True)
class Scorecard:
    """Criteria, and the calls they score: of ``queues``, ``campaigns`` or closed with
    ``scripts`` (any of them; none named: every call with a wrap-up)."""

    name: str
    title: str
    criteria: tuple[Criterion, ...]
    queues: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()

    def applies_to(self, facts: CallFacts) -> bool:
        if not (self.queues or self.campaigns or self.scripts):
            return True
        return (facts.queue in self.queues or facts.campaign in self.campaigns
                or facts.script in self.scripts)

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    @property
    def possible(self) -> float:
        return sum(c.weight for c in self.criteria)


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What a call's automatic criteria look at: its wrap-up (script, answers as stored,
    result code) and its record (talk and hold seconds, whether it was transferred; talk
    and hold are None until the record's end is stored)."""

    queue: str | None = None
    campaign: str | None = None
    script: str | None = None
    result: str = ""
    answers: Mapping[str, Any] = field(default_factory=dict)
    talk_s: float | None = None
    hold_s: float | None = 0.0
    transferred: bool = False


@dataclass(frozen=True, slots=True)
class Mark:
    """One criterion's score on one call: 0..1 of its weight, None where it does not apply;
    ``detail`` says what was seen."""

    criterion: str
    score: float | None
    detail: str = ""


# --- parsing ----------------------------------------------------------------------------------

_CRITERION_KEYS = {"id", "label", "weight", "when_result", *(t.value for t in CriterionTest)}
_CONDITION_TESTS = ("answered", "equals", "one_of", "includes")


def _fail(where: str, message: str, path: tuple[int | str, ...]) -> QualityError:
    return QualityError(f"{where}: {message}", path)


def _names(value: Any, where: str, key: str, path: tuple[int | str, ...]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(where, f"{key} is a list of names", (*path, key))
    return tuple(value)


def parse_scorecard(name: str, title: str, criteria: Any, *, queues: Sequence[str] = (),
                    campaigns: Sequence[str] = (), scripts: Sequence[str] = ()) -> Scorecard:
    """The scorecard ``criteria`` (a list of mappings, as YAML or JSON gives it) define;
    raises :class:`QualityError` naming the criterion and key at fault."""
    where = f"scorecard {name!r}"
    if not isinstance(criteria, list) or not criteria:
        raise _fail(where, "criteria must be a list with at least one criterion", ("criteria",))
    parsed: list[Criterion] = []
    for index, raw in enumerate(criteria):
        item = _criterion(raw, where, ("criteria", index))
        if any(c.id == item.id for c in parsed):
            raise _fail(where, f"the criterion id {item.id!r} is used twice",
                        ("criteria", index, "id"))
        parsed.append(item)
    return Scorecard(name, title or name, tuple(parsed), tuple(queues), tuple(campaigns),
                     tuple(scripts))


def _criterion(raw: Any, card: str, path: tuple[int | str, ...]) -> Criterion:
    if not isinstance(raw, Mapping):
        raise _fail(card, "a criterion is a mapping of keys", path)
    ident = raw.get("id")
    if not isinstance(ident, str) or not _ID.match(ident):
        raise _fail(card, "a criterion needs an id: a letter, then letters, digits, _ or - "
                    "(up to 64)", (*path, "id"))
    where = f"{card} criterion {ident!r}"
    for key in raw:
        if key not in _CRITERION_KEYS:
            raise _fail(where, f"unknown key {key!r}; known: "
                        f"{', '.join(sorted(_CRITERION_KEYS))}", (*path, str(key)))
    label = raw.get("label", ident)
    if not isinstance(label, str) or not label.strip() or len(label) > 200:
        raise _fail(where, "label is text of 1 to 200 characters", (*path, "label"))
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int | float) \
            or not math.isfinite(weight) or not 0 < weight <= 1000:
        raise _fail(where, "weight is a number of points above 0, at most 1000",
                    (*path, "weight"))
    tests = [t for t in CriterionTest if t.value in raw]
    if len(tests) != 1:
        raise _fail(where, "a criterion needs exactly one test: "
                    f"{', '.join(t.value for t in CriterionTest)}", path)
    test = tests[0]
    value = raw[test.value]
    at = (*path, test.value)
    base = Criterion(ident, label.strip(), test, float(weight),
                     when_result=_names(raw.get("when_result"), where, "when_result", path))
    if test is CriterionTest.ANSWER:
        return replace(base, condition=_answer(value, where, at))
    if test in (CriterionTest.TALK, CriterionTest.HOLD):
        return replace(base, bounds=_bounds(value, where, at))
    if test is CriterionTest.TRANSFERRED:
        if not isinstance(value, bool):
            raise _fail(where, "transferred is true or false", at)
        return replace(base, transferred=value)
    if test is CriterionTest.RESULT:
        results = _names(value, where, "result", path)
        if not results:
            raise _fail(where, "result lists the result codes that pass", at)
        return replace(base, results=results)
    return replace(base, scale=_scale(value, where, at))


def _answer(value: Any, where: str, at: tuple[int | str, ...]) -> Condition:
    if not isinstance(value, Mapping):
        raise _fail(where, "answer is a mapping: field and one test "
                    f"({', '.join(_CONDITION_TESTS)})", at)
    for key in value:
        if key not in ("field", *_CONDITION_TESTS):
            raise _fail(where, f"answer: unknown key {key!r}", (*at, str(key)))
    target = value.get("field")
    if not isinstance(target, str) or not _ID.match(target):
        raise _fail(where, "answer needs the script field's id as field", (*at, "field"))
    tests = [name for name in _CONDITION_TESTS if name in value]
    if len(tests) != 1:
        raise _fail(where, f"answer needs exactly one test: {', '.join(_CONDITION_TESTS)}", at)
    test = tests[0]
    given = value[test]
    if test == "answered":
        if not isinstance(given, bool):
            raise _fail(where, "answered is true or false", (*at, test))
        return Condition(target, answered=given)
    if test == "includes":
        if not isinstance(given, str) or not given:
            raise _fail(where, "includes names the option that must be ticked", (*at, test))
        return Condition(target, includes=given)
    values = given if test == "one_of" else [given]
    if not isinstance(values, list) or not values:
        raise _fail(where, "one_of is a list of values", (*at, test))
    typed: list[str | float] = []
    for item in values:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise _fail(where, f"{test} compares with text or a number", (*at, test))
        typed.append(float(item) if isinstance(item, int | float) else item)
    if test == "one_of":
        return Condition(target, one_of=tuple(typed))
    return Condition(target, equals=typed[0])


def _bounds(value: Any, where: str, at: tuple[int | str, ...]) -> Bounds:
    if not isinstance(value, Mapping) or not value or set(value) - {"min", "max"}:
        raise _fail(where, "a time test is a mapping with min and/or max seconds", at)
    ends: dict[str, float | None] = {}
    for key in ("min", "max"):
        end = value.get(key)
        if end is not None and (isinstance(end, bool) or not isinstance(end, int | float)
                                or not math.isfinite(end) or end < 0):
            raise _fail(where, f"{key} is a number of seconds, 0 or more", (*at, key))
        ends[key] = None if end is None else float(end)
    low, high = ends["min"], ends["max"]
    if low is not None and high is not None and low > high:
        raise _fail(where, "min is greater than max", (*at, "min"))
    return Bounds(low, high)


def _scale(value: Any, where: str, at: tuple[int | str, ...]) -> int:
    if value is True:
        return 1
    if isinstance(value, Mapping) and set(value) <= {"scale"}:
        scale = value.get("scale", 1)
        if isinstance(scale, int) and not isinstance(scale, bool) and 1 <= scale <= MAX_SCALE:
            return scale
    raise _fail(where, f"review is true (yes or no) or {{scale: N}} with N from 1 to "
                f"{MAX_SCALE}", at)


# --- scoring ----------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "nothing ticked"
    if isinstance(value, float):
        return f"{value:g}"
    return "unanswered" if value in (None, "") else str(value)


def score_criterion(criterion: Criterion, facts: CallFacts) -> Mark:
    """One automatic criterion on one call (a review criterion: not applicable here)."""
    if criterion.when_result and facts.result not in criterion.when_result:
        return Mark(criterion.id, None, f"result {facts.result!r}: not scored")
    test = criterion.test
    if test is CriterionTest.ANSWER:
        assert criterion.condition is not None  # noqa: S101 - parse_scorecard sets it
        value = facts.answers.get(criterion.condition.field)
        passed = criterion.condition.holds(value)
        return Mark(criterion.id, float(passed),
                    f"{criterion.condition.field}: {_shown(value)}")
    if test in (CriterionTest.TALK, CriterionTest.HOLD):
        assert criterion.bounds is not None  # noqa: S101 - parse_scorecard sets it
        seconds = facts.talk_s if test is CriterionTest.TALK else facts.hold_s
        if seconds is None:
            return Mark(criterion.id, None, NOT_OVER)
        return Mark(criterion.id, float(criterion.bounds.holds(seconds)),
                    f"{seconds:.0f} s ({criterion.bounds})")
    if test is CriterionTest.TRANSFERRED:
        return Mark(criterion.id, float(facts.transferred == criterion.transferred),
                    "transferred" if facts.transferred else "not transferred")
    if test is CriterionTest.RESULT:
        return Mark(criterion.id, float(facts.result in criterion.results),
                    f"result {facts.result or 'none'}")
    return Mark(criterion.id, None, "marked by a reviewer")


def score_automatic(card: Scorecard, facts: CallFacts) -> tuple[Mark, ...]:
    """The marks of every automatic criterion of ``card`` on a call."""
    return tuple(score_criterion(c, facts) for c in card.criteria if c.automatic)


def review_marks(card: Scorecard, marks: Mapping[str, Any]) -> tuple[Mark, ...]:
    """A reviewer's marks (criterion id -> 0..scale, or None: not applicable) as scores;
    raises :class:`QualityError` naming the criterion at fault. Unnamed ones stay pending."""
    out: list[Mark] = []
    for name, given in marks.items():
        criterion = card.criterion(name)
        if criterion is None or criterion.automatic:
            raise QualityError(f"marks.{name}: not a reviewer criterion of scorecard "
                               f"{card.name!r}", ("marks", name))
        if given is None:
            out.append(Mark(name, None, "not applicable"))
            continue
        if isinstance(given, bool) or not isinstance(given, int | float) \
                or given != int(given) or not 0 <= given <= criterion.scale:
            raise QualityError(f"marks.{name}: a mark is a whole number from 0 to "
                               f"{criterion.scale}", ("marks", name))
        out.append(Mark(name, int(given) / criterion.scale, f"{int(given)}/{criterion.scale}"))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Total:
    """Points earned of the points possible (criteria that apply), as a percentage too;
    ``pending``: reviewer criteria nobody has marked yet."""

    points: float
    possible: float
    pending: int

    @property
    def percent(self) -> float | None:
        return None if not self.possible else round(100 * self.points / self.possible, 1)


def total(card: Scorecard, scores: Mapping[str, float | None]) -> Total:
    """The call's total from each criterion's score (0..1; None: does not apply; missing:
    pending, counted as possible)."""
    points = possible = 0.0
    pending = 0
    for criterion in card.criteria:
        if criterion.id not in scores:
            possible += criterion.weight
            pending += 1
            continue
        score = scores[criterion.id]
        if score is None:
            continue
        points += criterion.weight * score
        possible += criterion.weight
    return Total(round(points, 3), possible, pending)


def combined(reviews: Iterable[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Several reviewers' scores of one call as one: the mean per criterion over those who
    found it applicable (None when nobody did)."""
    seen: dict[str, list[float]] = {}
    for review in reviews:
        for name, score in review.items():
            bucket = seen.setdefault(name, [])
            if score is not None:
                bucket.append(score)
    return {name: round(statistics.fmean(v), 4) if v else None for name, v in seen.items()}


@dataclass(frozen=True, slots=True)
class Spread:
    """How far reviewers of one call disagree on one criterion (scores 0..1)."""

    criterion: str
    reviewers: int
    lowest: float
    highest: float

    @property
    def spread(self) -> float:
        return round(self.highest - self.lowest, 4)


def calibration(card: Scorecard,
                reviews: Mapping[str, Mapping[str, float | None]]) -> list[Spread]:
    """Per reviewer criterion, the lowest and highest score the reviewers gave (those who
    marked it applicable), for calibration sessions."""
    out: list[Spread] = []
    for criterion in card.criteria:
        if criterion.automatic:
            continue
        given = [r[criterion.id] for r in reviews.values()
                 if r.get(criterion.id) is not None]
        scores = [s for s in given if s is not None]
        if scores:
            out.append(Spread(criterion.id, len(scores), min(scores), max(scores)))
    return out


# --- the balanced scorecard -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoredCall:
    """One call's scorecard result, for the balanced scorecard."""

    interaction_id: str
    operator: str
    teams: tuple[str, ...]
    campaign: str | None
    started_at: datetime
    scores: Mapping[str, float | None]
    total: Total
    reviewed: bool


def period_start(moment: datetime, every: str, zone: ZoneInfo) -> date:
    """The day (or the week's Monday) ``moment`` falls in, in the site's time zone."""
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday()) if every == "week" else day


def balanced(calls: Iterable[ScoredCall], *, by: str, every: str,
             zone: ZoneInfo) -> list[dict[str, Any]]:
    """One row per operator (``by="operator"``) or team, per day or week (``every``), per
    channel (incoming calls: ``campaign`` None; else each campaign): calls scored, reviewed,
    the mean total percentage, and each criterion's mean score (0..1) over the calls it
    applied to. A call of an operator in two teams counts in both."""
    groups: dict[tuple[str, date, str], list[ScoredCall]] = {}
    for call in calls:
        keys = (call.operator,) if by == "operator" else (call.teams or ("",))
        for key in keys:
            start = period_start(call.started_at, every, zone)
            groups.setdefault((key, start, call.campaign or ""), []).append(call)
    rows: list[dict[str, Any]] = []
    for (key, start, campaign), members in sorted(groups.items()):
        percents = [c.total.percent for c in members if c.total.percent is not None]
        criteria: dict[str, list[float]] = {}
        for call in members:
            for name, score in call.scores.items():
                if score is not None:
                    criteria.setdefault(name, []).append(score)
        rows.append({by: key or None, "period": start.isoformat(),
                     "campaign": campaign or None, "calls": len(members),
                     "reviewed": sum(1 for c in members if c.reviewed),
                     "percent": round(statistics.fmean(percents), 1) if percents else None,
                     "criteria": {name: round(statistics.fmean(v), 3)
                                  for name, v in sorted(criteria.items())}})
    return rows
