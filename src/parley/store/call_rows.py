"""The rows one batch of call-record steps writes: plain dictionaries keyed by column name,
gathered in memory by the call recorder and written by
:meth:`parley.store.activity.InteractionRepository.write_rows` with a few SQLAlchemy Core
statements in one transaction (DESIGN.md §1.6; one ORM object and lookup per step cost
about 1.6 ms, so the recorder fell behind from about 60 calls per second).

A new row carries its final values: the steps that change a call record opened in the same
batch change its pending row, so each row is inserted once and updated only in later
batches. Adding a column to a call record or a leg is a keyword argument of :meth:`open`,
:meth:`add_leg` or :meth:`change` at the recorder's call site; nothing here names columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Row = dict[str, Any]
LegKey = tuple[str, str]
"""(interaction id, channel id): a leg of one call record."""


@dataclass
class CallRows:
    """What a batch inserts and updates, in the order :meth:`write_rows` applies it."""

    interactions: dict[str, Row] = field(default_factory=dict)
    """New call records, by id (with every step of the batch applied to them)."""
    interaction_changes: dict[str, Row] = field(default_factory=dict)
    """Changed columns of call records written before this batch, by id."""
    legs: dict[LegKey, Row] = field(default_factory=dict)
    leg_changes: dict[LegKey, Row] = field(default_factory=dict)
    timeline: list[Row] = field(default_factory=list)
    answered_amends: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The new detail of each call's latest stored "answered" timeline entry, by call id."""
    recordings: list[Row] = field(default_factory=list)
    voicemails: list[Row] = field(default_factory=list)
    _answered_entries: dict[str, Row] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.interactions or self.interaction_changes or self.legs
                    or self.leg_changes or self.timeline or self.answered_amends
                    or self.recordings or self.voicemails)

    @property
    def count(self) -> int:
        """Rows to insert or update (for logs and benchmarks)."""
        return (len(self.interactions) + len(self.interaction_changes) + len(self.legs)
                + len(self.leg_changes) + len(self.timeline) + len(self.answered_amends)
                + len(self.recordings) + len(self.voicemails))

    def open(self, interaction_id: str, **columns: Any) -> None:
        """A new call record."""
        self.interactions[interaction_id] = {"id": interaction_id, **columns}

    def change(self, interaction_id: str, **columns: Any) -> None:
        """Set columns of a call record (pending in this batch or written before)."""
        row = self.interactions.get(interaction_id)
        if row is None:
            row = self.interaction_changes.setdefault(interaction_id, {})
        row.update(columns)

    def add_leg(self, interaction_id: str, channel_id: str, **columns: Any) -> None:
        self.legs[(interaction_id, channel_id)] = {
            "interaction_id": interaction_id, "channel_id": channel_id, **columns}

    def change_leg(self, interaction_id: str, channel_id: str, **columns: Any) -> None:
        key = (interaction_id, channel_id)
        row = self.legs.get(key)
        if row is None:
            row = self.leg_changes.setdefault(key, {})
        row.update(columns)

    def add_entry(self, interaction_id: str, at: datetime, kind: str,
                  detail: dict[str, Any]) -> None:
        """A timeline entry (entries keep the order they are added in)."""
        row = {"interaction_id": interaction_id, "at": at, "kind": kind, "detail": detail}
        self.timeline.append(row)
        if kind == "answered":
            self._answered_entries[interaction_id] = row

    def amend_answered(self, interaction_id: str, detail: dict[str, Any]) -> None:
        """Give the call's latest "answered" entry ``detail`` (the whole new detail)."""
        pending = self._answered_entries.get(interaction_id)
        if pending is not None:
            pending["detail"] = detail
        else:
            self.answered_amends[interaction_id] = detail

    def add_recording(self, **columns: Any) -> None:
        self.recordings.append(columns)

    def add_voicemail(self, **columns: Any) -> None:
        self.voicemails.append(columns)
