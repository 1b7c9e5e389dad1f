"""Scorecards, pure: definitions refused naming the criterion and key, each test scored from
answers and call facts, totals with pending and inapplicable criteria, reviewers' marks
combined and their spread, and the balanced scorecard per operator/team and day/week."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from parley.qa.scoring import (
    CallFacts,
    CriterionTest,
    QualityError,
    ScoredCall,
    balanced,
    calibration,
    combined,
    parse_scorecard,
    review_marks,
    score_automatic,
    total,
)

CRITERIA: list[dict[str, Any]] = [
    {"id": "purpose", "label": "Purpose stated", "weight": 20,
     "answer": {"field": "purpose", "answered": True}},
    {"id": "interested", "label": "Interest asked", "weight": 10,
     "answer": {"field": "interest", "equals": "yes"}},
    {"id": "promo", "label": "Promo code offered", "weight": 30,
     "answer": {"field": "offers", "includes": "promo"}},
    {"id": "reason", "label": "Refusal reason picked", "weight": 10,
     "answer": {"field": "reason", "answered": True}, "when_result": ["refused"]},
    {"id": "talk", "label": "Talk 30 s to 10 min", "weight": 5, "talk_s": {"min": 30, "max": 600}},
    {"id": "hold", "label": "Hold under a minute", "weight": 5, "hold_s": {"max": 60}},
    {"id": "direct", "label": "Not transferred", "weight": 5, "transferred": False},
    {"id": "sold", "label": "Sold", "weight": 5, "result": ["sold"]},
    {"id": "polite", "label": "Polite", "weight": 10, "review": True},
    {"id": "clarity", "label": "Clear speech", "weight": 10, "review": {"scale": 4}},
]
CARD = parse_scorecard("sales", "Sales calls", CRITERIA, queues=["sales"])
GOOD = CallFacts(queue="sales", script="sales", result="sold",
                 answers={"purpose": "renewal", "interest": "yes", "offers": ["promo", "gift"]},
                 talk_s=95.0, hold_s=10.0, transferred=False)


def test_every_automatic_test_is_scored_from_answers_and_facts() -> None:
    marks = {m.criterion: m for m in score_automatic(CARD, GOOD)}
    assert {k: m.score for k, m in marks.items()} == {
        "purpose": 1.0, "interested": 1.0, "promo": 1.0, "reason": None, "talk": 1.0,
        "hold": 1.0, "direct": 1.0, "sold": 1.0}
    assert marks["promo"].detail == "offers: promo, gift"
    assert marks["talk"].detail == "95 s (30–600 s)"
    assert marks["reason"].detail == "result 'sold': not scored"
    bad = CallFacts(queue="sales", result="refused", answers={"interest": "no",
                                                              "offers": ["gift"]},
                    talk_s=700.0, hold_s=61.0, transferred=True)
    scores = {m.criterion: m.score for m in score_automatic(CARD, bad)}
    assert scores == {"purpose": 0.0, "interested": 0.0, "promo": 0.0, "reason": 0.0,
                      "talk": 0.0, "hold": 0.0, "direct": 0.0, "sold": 0.0}
    unfinished = score_automatic(CARD, CallFacts(talk_s=None))
    assert next(m for m in unfinished if m.criterion == "talk").score is None


def test_totals_count_pending_review_criteria_as_possible() -> None:
    scores: dict[str, float | None] = {m.criterion: m.score for m in score_automatic(CARD, GOOD)}
    before = total(CARD, scores)
    # 80 automatic points earned ("reason" does not apply: 10 points out), 20 pending
    assert (before.points, before.possible, before.pending) == (80.0, 100.0, 2)
    assert before.percent == 80.0
    marks = review_marks(CARD, {"polite": 1, "clarity": 2})
    after = total(CARD, {**scores, **{m.criterion: m.score for m in marks}})
    assert (after.points, after.possible, after.pending, after.percent) == (95.0, 100.0, 0, 95.0)
    na = review_marks(CARD, {"polite": None})
    assert total(CARD, {**scores, "polite": na[0].score}).possible == 90.0


def test_reviews_combine_as_the_mean_and_show_their_spread() -> None:
    reviews = {"ann": {m.criterion: m.score for m in review_marks(CARD, {"polite": 1,
                                                                         "clarity": 4})},
               "bob": {m.criterion: m.score for m in review_marks(CARD, {"polite": 0,
                                                                         "clarity": 3})},
               "cat": {m.criterion: m.score for m in review_marks(CARD, {"polite": None})}}
    assert combined(reviews.values()) == {"polite": 0.5, "clarity": 0.875}
    spreads = {s.criterion: (s.reviewers, s.lowest, s.highest, s.spread)
               for s in calibration(CARD, reviews)}
    assert spreads == {"polite": (2, 0.0, 1.0, 1.0), "clarity": (2, 0.75, 1.0, 0.25)}


@pytest.mark.parametrize(("marks", "message"), [
    ({"purpose": 1}, "marks.purpose: not a reviewer criterion of scorecard 'sales'"),
    ({"ghost": 1}, "marks.ghost: not a reviewer criterion"),
    ({"polite": 2}, "marks.polite: a mark is a whole number from 0 to 1"),
    ({"clarity": 1.5}, "marks.clarity: a mark is a whole number from 0 to 4"),
    ({"clarity": True}, "marks.clarity: a mark is a whole number"),
])
def test_a_wrong_mark_is_refused_naming_the_criterion(marks: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(QualityError, match=message):
        review_marks(CARD, marks)


@pytest.mark.parametrize(("criteria", "message", "path"), [
    ([], "criteria must be a list with at least one", ("criteria",)),
    ([{"label": "x", "review": True}], "a criterion needs an id", ("criteria", 0, "id")),
    ([{"id": "a", "review": True}, {"id": "a", "review": True}], "'a' is used twice",
     ("criteria", 1, "id")),
    ([{"id": "a", "wieght": 2, "review": True}], "criterion 'a': unknown key 'wieght'",
     ("criteria", 0, "wieght")),
    ([{"id": "a"}], "criterion 'a': a criterion needs exactly one test", ("criteria", 0)),
    ([{"id": "a", "review": True, "result": ["x"]}], "exactly one test", ("criteria", 0)),
    ([{"id": "a", "weight": 0, "review": True}], "weight is a number of points above 0",
     ("criteria", 0, "weight")),
    ([{"id": "a", "answer": {"field": "x"}}], "answer needs exactly one test",
     ("criteria", 0, "answer")),
    ([{"id": "a", "answer": {"field": "x", "answered": "yes"}}],
     "answered is true or false", ("criteria", 0, "answer", "answered")),
    ([{"id": "a", "talk_s": {"min": 60, "max": 30}}], "min is greater than max",
     ("criteria", 0, "talk_s", "min")),
    ([{"id": "a", "hold_s": {"max": -1}}], "max is a number of seconds",
     ("criteria", 0, "hold_s", "max")),
    ([{"id": "a", "transferred": "no"}], "transferred is true or false",
     ("criteria", 0, "transferred")),
    ([{"id": "a", "result": []}], "result lists the result codes", ("criteria", 0, "result")),
    ([{"id": "a", "review": {"scale": 11}}], "scale: N", ("criteria", 0, "review")),
])
def test_a_wrong_definition_names_the_criterion_and_key(
        criteria: list[dict[str, Any]], message: str, path: tuple[Any, ...]) -> None:
    with pytest.raises(QualityError, match=message) as caught:
        parse_scorecard("sales", "", criteria)
    assert str(caught.value).startswith("scorecard 'sales'")
    assert caught.value.path == path


def test_a_scorecard_applies_to_its_queues_campaigns_and_scripts() -> None:
    assert CARD.applies_to(GOOD)
    assert not CARD.applies_to(CallFacts(queue="support"))
    everyone = parse_scorecard("all", "", [{"id": "a", "review": True}])
    assert everyone.applies_to(CallFacts())
    assert everyone.title == "all"
    by_campaign = parse_scorecard("c", "", [{"id": "a", "review": True}], campaigns=["spring"])
    assert by_campaign.applies_to(CallFacts(campaign="spring"))
    assert [c.test for c in CARD.criteria][-2:] == [CriterionTest.REVIEW, CriterionTest.REVIEW]


def _call(ident: str, operator: str, teams: tuple[str, ...], campaign: str | None,
          day: int, scores: dict[str, float | None], reviewed: bool = False) -> ScoredCall:
    return ScoredCall(ident, operator, teams, campaign, datetime(2026, 3, day, 10, tzinfo=UTC),
                      scores, total(CARD, scores), reviewed)


def test_the_balanced_scorecard_groups_by_operator_team_day_week_and_campaign() -> None:
    zone = ZoneInfo("Europe/Moscow")
    calls = [
        _call("a", "1001", ("north",), None, 2, {"purpose": 1.0, "sold": 1.0}),  # Monday
        _call("b", "1001", ("north",), None, 2, {"purpose": 0.0, "sold": 1.0}, True),
        _call("c", "1001", ("north",), None, 4, {"purpose": 1.0}),  # Wednesday
        _call("d", "1002", ("north", "south"), "spring", 4, {"purpose": 1.0, "reason": None}),
    ]
    daily = balanced(calls, by="operator", every="day", zone=zone)
    assert [(r["operator"], r["period"], r["campaign"], r["calls"], r["reviewed"])
            for r in daily] == [("1001", "2026-03-02", None, 2, 1),
                                ("1001", "2026-03-04", None, 1, 0),
                                ("1002", "2026-03-04", "spring", 1, 0)]
    assert daily[0]["criteria"] == {"purpose": 0.5, "sold": 1.0}
    # of 110 points (the criteria not scored count as pending): call a 25, call b 5
    assert daily[0]["percent"] == round((25 / 110 + 5 / 110) / 2 * 100, 1) == 13.6
    weekly = balanced(calls, by="team", every="week", zone=zone)
    assert [(r["team"], r["period"], r["campaign"], r["calls"]) for r in weekly] == [
        ("north", "2026-03-02", None, 3), ("north", "2026-03-02", "spring", 1),
        ("south", "2026-03-02", "spring", 1)]
    assert weekly[1]["criteria"] == {"purpose": 1.0}
