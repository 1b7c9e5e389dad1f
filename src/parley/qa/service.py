"""Scoring calls against the store: the facts of a call, its scorecards, their views.

:func:`score_call` runs when a wrap-up is saved (and on request): it reads the call's
record, wrap-up and the operator's hold time, scores every scorecard that applies with
:mod:`parley.qa.scoring` and stores the automatic marks. :func:`card_view` joins a stored
card to its scorecard's current definition for the page and the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from parley.qa.scoring import (
    NOT_OVER,
    CallFacts,
    Scorecard,
    ScoredCall,
    Spread,
    Total,
    balanced,
    calibration,
    combined,
    score_automatic,
    total,
)
from parley.store import NotFound, Store
from parley.store.quality import QualityCardRecord, StoredCard
from parley.store.records import InteractionRecord, WrapupRecord
from parley.store.specs import ScorecardSpec, UserSpec


async def scorecards(store: Store) -> dict[str, Scorecard]:
    """Every configured scorecard by name."""
    return {spec.name: spec.scorecard() for spec in await store.config.records("scorecards")
            if isinstance(spec, ScorecardSpec)}


async def facts_of(store: Store, record: InteractionRecord,
                   wrapup: WrapupRecord) -> CallFacts:
    """What the automatic criteria look at for one call."""
    hold = 0.0
    if record.operator and record.answered_at is not None and record.ended_at is not None:
        hold = await store.quality.hold_seconds(record.operator, record.answered_at,
                                                record.ended_at)
    campaign = record.variables.get("campaign")
    return CallFacts(
        queue=record.queue, campaign=campaign if isinstance(campaign, str) else None,
        script=wrapup.script, result=wrapup.result, answers=wrapup.answers,
        talk_s=record.talk_s if record.ended_at is not None else None,
        hold_s=hold if record.ended_at is not None else None,
        transferred=any(event.kind == "transferred" for event in record.timeline))


async def score_call(store: Store, interaction_id: str, now: datetime) -> list[StoredCard]:
    """Score a call's wrap-up on every scorecard that applies and store the automatic marks
    (replacing earlier ones); a call with no wrap-up yet is not scored."""
    wrapup = await store.wrapups.find(interaction_id)
    if wrapup is None:
        return []
    record = await store.interactions.get(interaction_id)
    facts = await facts_of(store, record, wrapup)
    campaign = facts.campaign
    computed = []
    for card in (await scorecards(store)).values():
        if card.applies_to(facts):
            computed.append((QualityCardRecord(
                interaction_id, card.name, record.operator or wrapup.saved_by, record.queue,
                campaign, wrapup.result, record.started_at, now), score_automatic(card, facts)))
    await store.quality.replace_automatic(interaction_id, computed)
    return await store.quality.of_call(interaction_id)


@dataclass(frozen=True, slots=True)
class CriterionView:
    id: str
    label: str
    weight: float
    automatic: bool
    scale: int
    score: float | None  # combined: automatic, or the reviewers' mean
    marked: bool  # False: a reviewer criterion nobody marked yet
    detail: str
    reviews: dict[str, float | None]  # reviewer -> score


@dataclass(frozen=True, slots=True)
class CardView:
    """One call's scorecard as shown: each criterion, the total, the reviewers' notes and
    the spread between reviewers."""

    card: QualityCardRecord
    title: str
    criteria: tuple[CriterionView, ...]
    total: Total
    notes: dict[str, str]
    spreads: tuple[Spread, ...]

    @property
    def reviewed(self) -> bool:
        return bool(self.notes)


def _scores(definition: Scorecard, stored: StoredCard) -> tuple[
        dict[str, float | None], dict[str, dict[str, float | None]]]:
    known = {c.id for c in definition.criteria}
    automatic = {mark.criterion: mark.score for mark in stored.automatic
                 if mark.criterion in known}
    reviews = {review.reviewer: {mark.criterion: mark.score for mark in review.marks
                                 if mark.criterion in known} for review in stored.reviews}
    return {**automatic, **combined(reviews.values())}, reviews


def card_view(definition: Scorecard, stored: StoredCard) -> CardView:
    """A stored card under its scorecard's current definition."""
    scores, reviews = _scores(definition, stored)
    details = {mark.criterion: mark.detail for mark in stored.automatic}
    rows = tuple(CriterionView(
        c.id, c.label, c.weight, c.automatic, c.scale, scores.get(c.id), c.id in scores,
        details.get(c.id, ""),
        {who: marks[c.id] for who, marks in reviews.items() if c.id in marks})
        for c in definition.criteria)
    return CardView(stored.card, definition.title, rows, total(definition, scores),
                    {r.reviewer: r.note for r in stored.reviews},
                    tuple(calibration(definition, reviews)))


def view_out(view: CardView) -> dict[str, Any]:
    """A card view as the API answers it."""
    return {
        "interaction_id": view.card.interaction_id, "scorecard": view.card.scorecard,
        "title": view.title, "operator": view.card.operator, "queue": view.card.queue,
        "campaign": view.card.campaign, "result": view.card.result,
        "call_started_at": view.card.call_started_at.isoformat(),
        "computed_at": view.card.computed_at.isoformat(),
        "points": view.total.points, "possible": view.total.possible,
        "percent": view.total.percent, "pending": view.total.pending,
        "reviewed": view.reviewed,
        "criteria": [{"id": c.id, "label": c.label, "weight": c.weight,
                      "automatic": c.automatic, "scale": c.scale, "score": c.score,
                      "marked": c.marked, "detail": c.detail, "reviews": c.reviews}
                     for c in view.criteria],
        "reviews": [{"reviewer": who, "note": note} for who, note in view.notes.items()],
        "calibration": [{"criterion": s.criterion, "reviewers": s.reviewers,
                         "lowest": s.lowest, "highest": s.highest, "spread": s.spread}
                        for s in view.spreads],
    }


async def scored_cards(store: Store, since: datetime, until: datetime, now: datetime, *,
                       operators: frozenset[str] | None = None, scorecard: str | None = None,
                       limit: int = 5000) -> list[StoredCard]:
    """The stored cards of the calls started in [since, until) (as
    :meth:`~parley.store.quality.QualityRepository.cards`), each scored again first where it
    was scored before its call's end was recorded (a wrap-up saved as the operator hung up
    comes before the record's end: its talk and hold time were not known yet)."""
    stored = await store.quality.cards(since, until, operators=operators,
                                       scorecard=scorecard, limit=limit)
    early = sorted({s.card.interaction_id for s in stored
                    if any(mark.detail == NOT_OVER for mark in s.automatic)})
    fresh: dict[tuple[str, str], StoredCard] = {}
    for interaction_id in early:
        try:
            record = await store.interactions.get(interaction_id)
        except NotFound:
            continue
        if record.ended_at is None:
            continue
        for card in await score_call(store, interaction_id, now):
            fresh[(interaction_id, card.card.scorecard)] = card
    return [fresh.get((s.card.interaction_id, s.card.scorecard), s) for s in stored]


def views(definitions: dict[str, Scorecard], stored: list[StoredCard]) -> list[CardView]:
    """The views of the stored cards whose scorecard is still configured."""
    return [card_view(definitions[s.card.scorecard], s) for s in stored
            if s.card.scorecard in definitions]


async def call_views(store: Store, interaction_id: str) -> list[CardView]:
    """A call's scorecards as shown; 404 (NotFound) when the call does not exist."""
    await store.interactions.get(interaction_id)  # raises NotFound
    return views(await scorecards(store), await store.quality.of_call(interaction_id))


async def balanced_scorecard(store: Store, since: datetime, until: datetime, now: datetime, *,
                             by: str, every: str, zone: ZoneInfo, scorecard: str,
                             operators: frozenset[str] | None) -> list[dict[str, Any]]:
    """The balanced scorecard rows (:func:`parley.qa.scoring.balanced`) of one scorecard
    over a period."""
    definitions = await scorecards(store)
    if scorecard not in definitions:
        raise NotFound(f"no scorecard named {scorecard!r}")
    teams = {user.username: tuple(user.teams) for user in await store.config.records("users")
             if isinstance(user, UserSpec)}
    scored = views(definitions, await scored_cards(
        store, since, until, now, operators=operators, scorecard=scorecard, limit=100_000))
    calls = [ScoredCall(v.card.interaction_id, v.card.operator,
                        teams.get(v.card.operator, ()), v.card.campaign,
                        v.card.call_started_at,
                        {c.id: c.score for c in v.criteria if c.marked}, v.total, v.reviewed)
             for v in scored]
    return balanced(calls, by=by, every=every, zone=zone)
