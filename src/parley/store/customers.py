"""Customers for the operator's desk: the card that pops when a known number calls, and the
card as the operator left it on each call (saved with the interaction, read back as the
number's contact history).

Numbers are stored as the web layer hands them: normalised to E.164 by the site's numbering
(:mod:`parley.numbering`), so that ``8 495 123-45-67`` and ``+74951234567`` are one customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.clock import Clock
from parley.ids import IdSource
from parley.store import models as m
from parley.store.database import Conflict, NotFound
from parley.store.records import Page


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    id: str
    name: str
    status: str
    fields: dict[str, Any]
    numbers: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CardRecord:
    """The card saved with one interaction: who the customer was and what the operator
    wrote (``card``: name, status, fields, notes)."""

    interaction_id: str
    customer_id: str | None
    number: str
    operator: str
    saved_at: datetime
    card: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One earlier call of a customer's numbers, as the desk lists it."""

    interaction_id: str
    started_at: datetime
    queue: str | None
    operator: str | None
    outcome: str | None
    result: str
    notes: str
    #: who saved the card on that call (an operator who handled it before a transfer)
    card_operator: str = ""


class CustomerRepository:
    """Customers, their numbers and the cards saved with interactions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ids = IdSource(clock)

    async def _numbers(self, session: AsyncSession, customer_id: str) -> tuple[str, ...]:
        rows = await session.scalars(select(m.CustomerNumber.number).where(
            m.CustomerNumber.customer_id == customer_id).order_by(m.CustomerNumber.number))
        return tuple(rows.all())

    async def _record(self, session: AsyncSession, row: m.Customer,
                      numbers: tuple[str, ...] | None = None) -> CustomerRecord:
        if numbers is None:
            numbers = await self._numbers(session, row.id)
        return CustomerRecord(row.id, row.name, row.status, dict(row.fields), numbers,
                              row.created_at, row.updated_at)

    async def _numbers_of(self, session: AsyncSession,
                          customer_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Each customer's numbers, in order, for a page of customers in one query (a query
        per customer made a page of 50 cost 51)."""
        found: dict[str, list[str]] = {customer_id: [] for customer_id in customer_ids}
        if found:
            rows = await session.execute(
                select(m.CustomerNumber.customer_id, m.CustomerNumber.number)
                .where(m.CustomerNumber.customer_id.in_(list(found)))
                .order_by(m.CustomerNumber.number))
            for customer_id, number in rows:
                found[customer_id].append(number)
        return {customer_id: tuple(numbers) for customer_id, numbers in found.items()}

    async def _claim(self, session: AsyncSession, customer_id: str,
                     numbers: Sequence[str]) -> None:
        """Give ``numbers`` to the customer; Conflict naming a number another one has."""
        taken = (await session.execute(select(m.CustomerNumber).where(
            m.CustomerNumber.number.in_(list(numbers)),
            m.CustomerNumber.customer_id != customer_id))).scalars().first()
        if taken is not None:
            raise Conflict(f"numbers: {taken.number} belongs to customer {taken.customer_id}")
        await session.execute(delete(m.CustomerNumber).where(
            m.CustomerNumber.customer_id == customer_id))
        for number in dict.fromkeys(numbers):
            session.add(m.CustomerNumber(number=number, customer_id=customer_id))

    async def create(self, *, name: str, status: str = "", fields: dict[str, Any] | None = None,
                     numbers: Sequence[str] = ()) -> CustomerRecord:
        now = self._clock.utcnow()
        customer_id = self._ids.new("cu")
        async with self._sessions() as session, session.begin():
            row = m.Customer(id=customer_id, name=name, status=status, fields=fields or {},
                             created_at=now, updated_at=now)
            session.add(row)
            await session.flush()
            await self._claim(session, customer_id, numbers)
            await session.flush()
            return await self._record(session, row)

    async def get(self, customer_id: str) -> CustomerRecord:
        async with self._sessions() as session:
            row = await session.get(m.Customer, customer_id)
            if row is None:
                raise NotFound(f"no customer {customer_id!r}")
            return await self._record(session, row)

    async def update(self, customer_id: str, *, name: str | None = None,
                     status: str | None = None, fields: dict[str, Any] | None = None,
                     numbers: Sequence[str] | None = None) -> CustomerRecord:
        """Change what is given; ``numbers`` replaces the customer's numbers."""
        async with self._sessions() as session, session.begin():
            row = await session.get(m.Customer, customer_id)
            if row is None:
                raise NotFound(f"no customer {customer_id!r}")
            if name is not None:
                row.name = name
            if status is not None:
                row.status = status
            if fields is not None:
                row.fields = dict(fields)
            if numbers is not None:
                await self._claim(session, customer_id, numbers)
            row.updated_at = self._clock.utcnow()
            await session.flush()
            return await self._record(session, row)

    async def delete(self, customer_id: str) -> None:
        async with self._sessions() as session, session.begin():
            row = await session.get(m.Customer, customer_id)
            if row is None:
                raise NotFound(f"no customer {customer_id!r}")
            await session.execute(delete(m.CustomerNumber).where(
                m.CustomerNumber.customer_id == customer_id))
            await session.delete(row)

    async def search(self, *, text: str = "", offset: int = 0,
                     limit: int = 50) -> Page[CustomerRecord]:
        """Customers whose name contains ``text`` or who have a number starting with it."""
        query = select(m.Customer)
        if text:
            numbers = select(m.CustomerNumber.customer_id).where(
                m.CustomerNumber.number.startswith(text))
            query = query.where(or_(func.lower(m.Customer.name).contains(text.lower()),
                                    m.Customer.id.in_(numbers)))
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = (await session.scalars(query.order_by(m.Customer.name, m.Customer.id)
                                          .offset(offset).limit(limit))).all()
            numbers_of = await self._numbers_of(session, [row.id for row in rows])
            items = [await self._record(session, row, numbers_of[row.id]) for row in rows]
            return Page(tuple(items), int(total or 0), offset, limit)

    async def by_number(self, number: str) -> CustomerRecord | None:
        """The customer who has ``number`` (E.164), or None."""
        async with self._sessions() as session:
            owner = await session.get(m.CustomerNumber, number)
            if owner is None:
                return None
            row = await session.get(m.Customer, owner.customer_id)
            return None if row is None else await self._record(session, row)

    async def save_card(self, *, interaction_id: str, number: str, operator: str,
                        customer_id: str | None, card: dict[str, Any]) -> CardRecord:
        """Keep the card as the operator left it on ``interaction_id`` (saved again: the
        newer one counts)."""
        now = self._clock.utcnow()
        async with self._sessions() as session, session.begin():
            row = await session.get(m.InteractionCard, interaction_id)
            if row is None:
                row = m.InteractionCard(interaction_id=interaction_id)
                session.add(row)
            row.customer_id = customer_id
            row.number = number
            row.operator = operator
            row.saved_at = now
            row.card = dict(card)
        return CardRecord(interaction_id, customer_id, number, operator, now, dict(card))

    async def card(self, interaction_id: str) -> CardRecord | None:
        async with self._sessions() as session:
            row = await session.get(m.InteractionCard, interaction_id)
            if row is None:
                return None
            return CardRecord(row.interaction_id, row.customer_id, row.number, row.operator,
                              row.saved_at, dict(row.card))

    async def history(self, numbers: Sequence[str], *, exclude: str | None = None,
                      limit: int = 20) -> list[HistoryEntry]:
        """Earlier calls from or to ``numbers``, newest first, with the result and notes the
        operators saved on their cards."""
        if not numbers:
            return []
        query = select(m.Interaction, m.InteractionCard).outerjoin(
            m.InteractionCard, m.InteractionCard.interaction_id == m.Interaction.id).where(
            or_(m.Interaction.caller.in_(list(numbers)),
                m.Interaction.called.in_(list(numbers))))
        if exclude:
            query = query.where(m.Interaction.id != exclude)
        async with self._sessions() as session:
            rows = (await session.execute(query.order_by(
                m.Interaction.started_at.desc()).limit(limit))).all()
        out = []
        for interaction, card in rows:
            saved = card.card if card is not None else {}
            out.append(HistoryEntry(
                interaction.id, interaction.started_at, interaction.queue,
                interaction.operator, interaction.outcome, str(saved.get("result", "")),
                str(saved.get("notes", "")), card.operator if card is not None else ""))
        return out
