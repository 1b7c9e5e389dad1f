"""Quality scores: each call's scorecards, their automatic marks and reviewers' marks.

A call scored on a scorecard is one ``quality_cards`` row (its operator, queue, campaign and
start, so that the review list and the balanced scorecard filter in SQL); each criterion's
score is a ``quality_marks`` row, automatic ones with an empty ``reviewer``. Automatic marks
are replaced whole each time the call is scored again (a later wrap-up save); a reviewer's
marks are replaced by that reviewer's next review, never by a rescoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.qa.scoring import Mark
from parley.store import models as m
from parley.store.database import NotFound

AUTOMATIC = ""
"""The ``reviewer`` of automatic marks."""


@dataclass(frozen=True, slots=True)
class QualityCardRecord:
    """A call scored on one scorecard."""

    interaction_id: str
    scorecard: str
    operator: str
    queue: str | None
    campaign: str | None
    result: str
    call_started_at: datetime
    computed_at: datetime


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    reviewer: str
    note: str
    at: datetime
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredCard:
    """A scored call with its automatic marks and each reviewer's review."""

    card: QualityCardRecord
    automatic: tuple[Mark, ...] = ()
    reviews: tuple[ReviewRecord, ...] = field(default_factory=tuple)


class QualityRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def replace_automatic(self, interaction_id: str,
                                cards: Sequence[tuple[QualityCardRecord, Sequence[Mark]]]
                                ) -> None:
        """Store a call's scorecards and automatic marks as just computed, replacing the
        earlier ones; a scorecard that no longer applies is dropped unless reviewed."""
        async with self._sessions() as session, session.begin():
            await session.execute(delete(m.QualityMark).where(
                m.QualityMark.interaction_id == interaction_id,
                m.QualityMark.reviewer == AUTOMATIC))
            reviewed = set((await session.scalars(select(m.QualityReview.scorecard).where(
                m.QualityReview.interaction_id == interaction_id))).all())
            kept = {card.scorecard for card, _ in cards} | reviewed
            await session.execute(delete(m.QualityCard).where(
                m.QualityCard.interaction_id == interaction_id,
                m.QualityCard.scorecard.not_in(kept)))
            for card, marks in cards:
                row = await session.get(m.QualityCard, (interaction_id, card.scorecard))
                values = {"operator": card.operator, "queue": card.queue,
                          "campaign": card.campaign, "result": card.result,
                          "call_started_at": card.call_started_at,
                          "computed_at": card.computed_at}
                if row is None:
                    session.add(m.QualityCard(interaction_id=interaction_id,
                                              scorecard=card.scorecard, **values))
                else:
                    for name, value in values.items():
                        setattr(row, name, value)
                session.add_all(_mark_rows(interaction_id, card.scorecard, AUTOMATIC, marks,
                                           card.computed_at))

    async def save_review(self, interaction_id: str, scorecard: str, reviewer: str,
                          marks: Sequence[Mark], note: str, at: datetime) -> None:
        """Store one reviewer's review of a scored call (replacing their earlier one)."""
        async with self._sessions() as session, session.begin():
            if await session.get(m.QualityCard, (interaction_id, scorecard)) is None:
                raise NotFound(f"interaction {interaction_id!r} is not scored on scorecard "
                               f"{scorecard!r}")
            await session.execute(delete(m.QualityMark).where(
                m.QualityMark.interaction_id == interaction_id,
                m.QualityMark.scorecard == scorecard, m.QualityMark.reviewer == reviewer))
            row = await session.get(m.QualityReview, (interaction_id, scorecard, reviewer))
            if row is None:
                session.add(m.QualityReview(interaction_id=interaction_id, scorecard=scorecard,
                                            reviewer=reviewer, note=note, at=at))
            else:
                row.note, row.at = note, at
            session.add_all(_mark_rows(interaction_id, scorecard, reviewer, marks, at))

    async def of_call(self, interaction_id: str) -> list[StoredCard]:
        """A call's scorecards with their marks (none: not scored)."""
        return await self._load(m.QualityCard.interaction_id == interaction_id)

    async def cards(self, since: datetime, until: datetime, *,
                    operators: frozenset[str] | None = None, scorecard: str | None = None,
                    limit: int = 5000) -> list[StoredCard]:
        """The calls started in [since, until) scored on ``scorecard`` (None: any), of
        ``operators`` (None: anyone), newest first."""
        where = [m.QualityCard.call_started_at >= since, m.QualityCard.call_started_at < until]
        if operators is not None:
            where.append(m.QualityCard.operator.in_(operators))
        if scorecard is not None:
            where.append(m.QualityCard.scorecard == scorecard)
        return await self._load(and_(*where), limit)

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(m.QualityCard))
                       or 0)

    async def _load(self, where: object, limit: int = 5000) -> list[StoredCard]:
        async with self._sessions() as session:
            rows = (await session.scalars(
                select(m.QualityCard).where(where)  # type: ignore[arg-type]
                .order_by(m.QualityCard.call_started_at.desc(),
                          m.QualityCard.interaction_id, m.QualityCard.scorecard)
                .limit(limit))).all()
            if not rows:
                return []
            ids = list({row.interaction_id for row in rows})
            marks: dict[tuple[str, str, str], list[Mark]] = {}
            reviews: dict[tuple[str, str], list[m.QualityReview]] = {}
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                for mark in (await session.scalars(select(m.QualityMark).where(
                        m.QualityMark.interaction_id.in_(part))
                        .order_by(m.QualityMark.id))).all():
                    marks.setdefault((mark.interaction_id, mark.scorecard, mark.reviewer),
                                     []).append(Mark(mark.criterion, mark.score, mark.detail))
                for review in (await session.scalars(select(m.QualityReview).where(
                        m.QualityReview.interaction_id.in_(part))
                        .order_by(m.QualityReview.at))).all():
                    reviews.setdefault((review.interaction_id, review.scorecard),
                                       []).append(review)
            out: list[StoredCard] = []
            for row in rows:
                key = (row.interaction_id, row.scorecard)
                out.append(StoredCard(
                    QualityCardRecord(row.interaction_id, row.scorecard, row.operator,
                                      row.queue, row.campaign, row.result,
                                      row.call_started_at, row.computed_at),
                    tuple(marks.get((*key, AUTOMATIC), ())),
                    tuple(ReviewRecord(r.reviewer, r.note, r.at,
                                       tuple(marks.get((*key, r.reviewer), ())))
                          for r in reviews.get(key, ()))))
            return out

    async def hold_seconds(self, operator: str, since: datetime, until: datetime) -> float:
        """How long ``operator`` was on hold between ``since`` and ``until`` (a call's
        answer and end), from the operator state log."""
        async with self._sessions() as session:
            before = (await session.scalars(select(m.OperatorStateEntry).where(
                m.OperatorStateEntry.username == operator, m.OperatorStateEntry.at <= since)
                .order_by(m.OperatorStateEntry.at.desc(), m.OperatorStateEntry.id.desc())
                .limit(1))).all()
            during = (await session.scalars(select(m.OperatorStateEntry).where(
                m.OperatorStateEntry.username == operator, m.OperatorStateEntry.at > since,
                m.OperatorStateEntry.at < until)
                .order_by(m.OperatorStateEntry.at, m.OperatorStateEntry.id))).all()
        held = 0.0
        states = [(since, before[0].state if before else "")] + [(r.at, r.state)
                                                                 for r in during]
        for (at, state), (following, _next) in zip(states, [*states[1:], (until, "")],
                                                   strict=True):
            if state == "on_hold":
                held += (following - at).total_seconds()
        return held


def _mark_rows(interaction_id: str, scorecard: str, reviewer: str, marks: Sequence[Mark],
               at: datetime) -> list[m.QualityMark]:
    return [m.QualityMark(interaction_id=interaction_id, scorecard=scorecard,
                          criterion=mark.criterion, reviewer=reviewer, score=mark.score,
                          detail=mark.detail[:500], at=at) for mark in marks]
