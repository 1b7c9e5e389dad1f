"""The answered calls the active node relays, in the store (table ``live_calls``), so that a
hot standby taking over carries them on (docs/deployment.md, "Hot standby").

The state of a call is the telephony layer's (:mod:`parley.telephony.carry`): JSON values
the store keeps as given. Writes are fenced like the other live state: a node that lost the
lease cannot overwrite what the active node keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.store import models as m
from parley.store.lease import Fence

_TABLE: Table = m.LiveCall.__table__  # type: ignore[assignment]
_CHUNK = 200  # bounded statements on both databases


@dataclass(frozen=True, slots=True)
class StoredCall:
    """One relayed call: its bridge, its call record and its state."""

    bridge_id: str
    interaction_id: str
    state: dict[str, Any]
    updated_at: datetime


class LiveCallRepository:
    """Relayed calls: replaced and removed in batches, read back at a takeover."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 fence: Fence | None = None) -> None:
        self._sessions = sessions
        self._fence = fence or Fence()

    async def apply(self, kept: Sequence[tuple[str, str, dict[str, Any]]],
                    gone: Sequence[str], at: datetime) -> None:
        """In one transaction: store ``kept`` (bridge id, call record, state: each replacing
        its bridge's row, written ``at``) and delete the bridges ``gone``."""
        ids = [bridge_id for bridge_id, _, _ in kept] + list(gone)
        async with self._fence.transaction(self._sessions) as session:
            connection = await session.connection()
            for start in range(0, len(ids), _CHUNK):
                await connection.execute(delete(_TABLE).where(
                    _TABLE.c.bridge_id.in_(ids[start:start + _CHUNK])))
            if kept:
                await connection.execute(insert(_TABLE), [
                    {"bridge_id": bridge_id, "interaction_id": interaction_id, "state": state,
                     "updated_at": at} for bridge_id, interaction_id, state in kept])

    async def all(self) -> list[StoredCall]:
        """Every kept call, the oldest change first."""
        async with self._sessions() as session:
            rows = (await session.execute(select(_TABLE).order_by(_TABLE.c.updated_at))).all()
        return [StoredCall(r.bridge_id, r.interaction_id, r.state, r.updated_at) for r in rows]

    async def states(self) -> list[dict[str, Any]]:
        """The kept calls' states (:mod:`parley.telephony.carry`)."""
        return [call.state for call in await self.all()]
