"""The call history of one customer (the ready-made report): every finished call from or to
the customer's numbers, inbound and outbound, and every campaign attempt dialled to them,
newest first. Read from the raw records as the calls behind a figure are
(:func:`parley.store.reports.finished_calls`), with each call's wrap-up result code and
recordings; an attempt that became a call is that call's line (with its campaign), one that
never connected is a line of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.store import models as m
from parley.store.report_rows import DRILL_LIMIT
from parley.store.reports import ATTEMPTS, INTERACTIONS, finished_calls


@dataclass(frozen=True, slots=True)
class CustomerCall:
    """One line of a customer's history: a call record (``id``), or a campaign attempt that
    never became one (``id`` empty, ``attempt`` set)."""

    id: str
    started_at: datetime
    direction: str
    caller: str
    called: str
    #: the customer's number on this call
    number: str
    queue: str | None
    campaign: str | None
    operator: str | None
    outcome: str | None
    #: the wrap-up's result code (or the attempt's disposition)
    result: str | None
    wait_s: float | None
    talk_s: float | None
    transfers: int
    recordings: list[str]
    attempt: str | None = None


async def customer_calls(sessions: async_sessionmaker[AsyncSession], numbers: Sequence[str],
                         since: datetime, until: datetime, limit: int = DRILL_LIMIT
                         ) -> tuple[int, list[CustomerCall]]:
    """The finished calls and attempts from or to ``numbers`` that began in [since, until),
    newest first: (how many there are, the first ``limit`` of them)."""
    wanted = sorted(set(numbers))
    if not wanted:
        return 0, []
    async with sessions() as session:
        connection = await session.connection()
        calls = await finished_calls(connection, and_(
            INTERACTIONS.c.started_at >= since, INTERACTIONS.c.started_at < until,
            or_(INTERACTIONS.c.caller.in_(wanted), INTERACTIONS.c.called.in_(wanted))))
        ids = [call.call_id for call in calls]
        attempts = (await connection.execute(
            select(ATTEMPTS.c.attempt_id, ATTEMPTS.c.campaign, ATTEMPTS.c.number,
                   ATTEMPTS.c.started_at, ATTEMPTS.c.call_id, ATTEMPTS.c.outcome,
                   ATTEMPTS.c.operator, ATTEMPTS.c.talk_s, ATTEMPTS.c.disposition)
            .where(ATTEMPTS.c.number.in_(wanted), ATTEMPTS.c.started_at >= since,
                   ATTEMPTS.c.started_at < until, ATTEMPTS.c.ended_at.is_not(None))
        )).all()
        campaign_of: dict[str, str] = {}
        if ids:
            campaign_of = {row.call_id: row.campaign for row in await connection.execute(
                select(ATTEMPTS.c.call_id, ATTEMPTS.c.campaign)
                .where(ATTEMPTS.c.call_id.in_(ids)))}
        callers: dict[str, str] = {}
        results: dict[str, str] = {}
        recordings: dict[str, list[str]] = {}
        if ids:
            callers = {row.id: row.caller for row in await connection.execute(
                select(INTERACTIONS.c.id, INTERACTIONS.c.caller)
                .where(INTERACTIONS.c.id.in_(ids)))}
            results = {row[0]: row[1] for row in await connection.execute(
                select(m.Wrapup.interaction_id, m.Wrapup.result)
                .where(m.Wrapup.interaction_id.in_(ids)))}
            for recording_id, interaction_id in await connection.execute(
                    select(m.Recording.id, m.Recording.interaction_id)
                    .where(m.Recording.interaction_id.in_(ids))
                    .order_by(m.Recording.started_at)):
                if interaction_id is not None:
                    recordings.setdefault(interaction_id, []).append(recording_id)
    known = set(ids)
    lines = [CustomerCall(
        call.call_id, call.started_at, call.direction, callers[call.call_id], call.called,
        callers[call.call_id] if callers[call.call_id] in wanted else call.called,
        call.queue, campaign_of.get(call.call_id), call.operator, call.outcome,
        results.get(call.call_id), call.wait_s, call.talk_s, call.transfers,
        recordings.get(call.call_id, [])) for call in calls]
    lines += [CustomerCall(
        "", row.started_at, "outbound", "", row.number, row.number, None, row.campaign,
        row.operator, row.outcome, row.disposition, None, row.talk_s, 0, [], row.attempt_id)
        for row in attempts if row.call_id is None or row.call_id not in known]
    lines.sort(key=lambda line: (line.started_at, line.id, line.attempt or ""), reverse=True)
    return len(lines), lines[:limit]
