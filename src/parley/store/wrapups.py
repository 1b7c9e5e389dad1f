"""Wrap-ups: how operators closed their calls, with the script's answers.

One row per interaction (the result code, the disposition it meant, notes, a callback time
and the answers as JSON, for the form to show again) and one typed row per answer in
``interaction_answers``, so that reports and quality scores filter, group and sum answers in
plain SQL on SQLite and PostgreSQL alike (JSON functions differ between the two). A later
save replaces both; every save is on the call's timeline and in the audit log, in the same
transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.store import models as m
from parley.store.database import NotFound
from parley.store.lease import Fence
from parley.store.records import AnswerRecord, ScriptDraftRecord, WrapupRecord
from parley.store.reports import apply_result


class WrapupRepository:
    """Operators' wrap-ups and script drafts; their writes check the node's ``fence`` (a
    node that lost its lease answers the desk 503 and the page keeps the form)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 fence: Fence | None = None) -> None:
        self._sessions = sessions
        self._fence = fence or Fence()

    async def save(self, wrapup: WrapupRecord) -> WrapupRecord:
        """Store ``wrapup`` (replacing an earlier one of the same interaction); returns it
        as stored, ``saves`` counted."""
        async with self._fence.transaction(self._sessions) as session:
            call = await session.get(m.Interaction, wrapup.interaction_id)
            if call is None:
                raise NotFound(f"no interaction {wrapup.interaction_id!r}")
            row = await session.get(m.Wrapup, wrapup.interaction_id)
            previous = None if row is None else row.result
            saves = 1 if row is None else row.saves + 1
            values = {"script": wrapup.script, "result": wrapup.result,
                      "disposition": wrapup.disposition, "notes": wrapup.notes,
                      "callback_at": wrapup.callback_at, "answers": wrapup.answers,
                      "saved_by": wrapup.saved_by, "saved_at": wrapup.saved_at,
                      "saves": saves}
            if row is None:
                session.add(m.Wrapup(interaction_id=wrapup.interaction_id, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            await session.flush()
            await apply_result(await session.connection(), call.started_at, previous,
                               wrapup.result)
            await session.execute(delete(m.InteractionAnswer).where(
                m.InteractionAnswer.interaction_id == wrapup.interaction_id))
            for answer in wrapup.rows:
                session.add(_answer_row(wrapup.interaction_id, answer))
            detail = {"result": wrapup.result, "disposition": wrapup.disposition,
                      "script": wrapup.script, "saves": saves, "by": wrapup.saved_by}
            session.add(m.TimelineEvent(interaction_id=wrapup.interaction_id,
                                        at=wrapup.saved_at, kind="wrapup", detail=detail))
            session.add(m.AuditEntry(at=wrapup.saved_at, actor=wrapup.saved_by,
                                     action="wrapup", target_type="interactions",
                                     target=wrapup.interaction_id,
                                     detail={**detail, "previous_result": previous}))
        return await self.get(wrapup.interaction_id)

    async def get(self, interaction_id: str) -> WrapupRecord:
        async with self._sessions() as session:
            row = await session.get(m.Wrapup, interaction_id)
            if row is None:
                raise NotFound(f"interaction {interaction_id!r} has no wrap-up yet")
            answers = (await session.scalars(select(m.InteractionAnswer).where(
                m.InteractionAnswer.interaction_id == interaction_id)
                .order_by(m.InteractionAnswer.id))).all()
            return WrapupRecord(
                interaction_id=row.interaction_id, script=row.script, result=row.result,
                disposition=row.disposition, notes=row.notes, callback_at=row.callback_at,
                answers=row.answers, saved_by=row.saved_by, saved_at=row.saved_at,
                saves=row.saves, rows=tuple(_answer_record(a) for a in answers))

    async def find(self, interaction_id: str) -> WrapupRecord | None:
        try:
            return await self.get(interaction_id)
        except NotFound:
            return None

    async def save_draft(self, draft: ScriptDraftRecord) -> None:
        """Keep the answers a call is handed on with (replacing an earlier draft)."""
        async with self._fence.transaction(self._sessions) as session:
            if await session.get(m.Interaction, draft.interaction_id) is None:
                raise NotFound(f"no interaction {draft.interaction_id!r}")
            row = await session.get(m.ScriptDraft, draft.interaction_id)
            if row is None:
                row = m.ScriptDraft(interaction_id=draft.interaction_id)
                session.add(row)
            row.answers, row.notes = draft.answers, draft.notes
            row.saved_by, row.saved_at = draft.saved_by, draft.saved_at

    async def find_draft(self, interaction_id: str) -> ScriptDraftRecord | None:
        async with self._sessions() as session:
            row = await session.get(m.ScriptDraft, interaction_id)
            if row is None:
                return None
            return ScriptDraftRecord(row.interaction_id, row.answers, row.notes, row.saved_by,
                                     row.saved_at)


def _answer_row(interaction_id: str, answer: AnswerRecord) -> m.InteractionAnswer:
    value = answer.value
    row = m.InteractionAnswer(interaction_id=interaction_id, script=answer.script,
                              block=answer.block, field=answer.field, type=answer.type)
    if isinstance(value, float):
        row.number_value = value
    elif isinstance(value, str):
        row.text_value = value
    else:
        row.date_value = value
    return row


def _answer_record(row: m.InteractionAnswer) -> AnswerRecord:
    value = row.number_value if row.number_value is not None else (
        row.date_value if row.date_value is not None else row.text_value or "")
    return AnswerRecord(row.script, row.block, row.field, row.type, value)
