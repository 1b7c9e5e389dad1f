"""Campaigns, their contacts and attempts, and do-not-call lists in the store.

:class:`CampaignRepository` is the dialer shell's :class:`parley.center.ports.CampaignStore`
and what the campaign API needs besides. Every write is at once durable; a finished attempt
and a closed contact put their webhooks (``campaign.attempt``, ``campaign.contact_closed``)
into the webhook outbox in the same transaction, so a crash loses neither the record nor the
notice.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.center.ports import (
    AttemptFacts,
    CampaignTask,
    ContactProgress,
    StoredCampaign,
)
from parley.clock import Clock
from parley.dialer.contacts import Contact, PhoneNumber
from parley.dialer.model import NumberType
from parley.store import models as m
from parley.store.campaign_config import campaign_config
from parley.store.database import Conflict, NotFound
from parley.store.lease import Fence
from parley.store.records import Page
from parley.store.reports import apply_attempt
from parley.store.specs import CampaignSpec

log = structlog.get_logger("parley.store.campaigns")

GLOBAL_DNC = "global"
ATTEMPT_EVENT = "campaign.attempt"
CLOSED_EVENT = "campaign.contact_closed"
OUTBOX_EVENTS = frozenset({ATTEMPT_EVENT, CLOSED_EVENT})
"""Webhook events the store itself puts in the outbox (the dispatcher polls for them)."""

ATTEMPT_FIELDS = tuple(f.name for f in dataclasses.fields(AttemptFacts))
"""Every field of an attempt, in order: the CSV export's columns."""

CANCELLED = "cancelled"


def _settled(values: dict[str, object]) -> bool:
    """An attempt the outside system can act on: ended, and either nobody took the call or
    the operator who did has given the disposition."""
    return values["ended_at"] is not None and (
        values["operator"] is None or values["disposition"] is not None)
SITE_RANGES = "site"  # the one number-range table a site has (the key leaves room for more)


@dataclass(frozen=True, slots=True)
class NumberRangeRecord:
    """The stored number-range table: the CSV as uploaded, its rows, who and when."""

    csv: str
    rows: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """A stored campaign as the API shows it: settings, wanted and runtime state, counts."""

    spec: CampaignSpec
    status: str
    status_by: str
    status_at: datetime | None
    contacts: Mapping[str, int]  # pending, in_progress, done


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A contact with its progress and every attempt, oldest first."""

    campaign: str
    progress: ContactProgress
    cancelled: bool
    added_at: datetime
    added_by: str
    closed_at: datetime | None
    attempts: tuple[AttemptFacts, ...]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def attempt_json(facts: AttemptFacts) -> dict[str, Any]:
    """An attempt as a JSON object (API answers and webhooks)."""
    return {name: _plain(getattr(facts, name)) for name in ATTEMPT_FIELDS}


def _numbers_json(contact: Contact) -> list[dict[str, Any]]:
    return [{"number": n.e164, "type": n.type.value, "time_zones": list(n.time_zones)}
            for n in contact.numbers]


def _contact(row: m.CampaignContact) -> Contact:
    numbers = tuple(PhoneNumber(n["number"], NumberType(n["type"]), tuple(n["time_zones"]))
                    for n in row.numbers)
    return Contact(row.contact_id, numbers, dict(row.fields), row.time_zone)


def _progress(row: m.CampaignContact) -> ContactProgress:
    return ContactProgress(
        contact=_contact(row), status=row.status, due_at=row.due_at, attempts=row.attempts,
        attempts_by_number=dict(row.attempts_by_number),
        dead_numbers=frozenset(row.dead_numbers), close_reason=row.close_reason,
        callback_at=row.callback_at, callback_agent=row.callback_agent, dial_now=row.dial_now)


def _facts(row: m.CampaignAttempt) -> AttemptFacts:
    return AttemptFacts(**{name: getattr(row, name) for name in ATTEMPT_FIELDS})


def contact_json(campaign: str, progress: ContactProgress, *, cancelled: bool = False,
                 closed_at: datetime | None = None) -> dict[str, Any]:
    """A contact and its progress as a JSON object (API answers and webhooks)."""
    contact = progress.contact
    return {"campaign": campaign, "contact_id": contact.id, "fields": dict(contact.attributes),
            "numbers": _numbers_json(contact), "time_zone": contact.time_zone,
            "status": progress.status, "close_reason": progress.close_reason,
            "cancelled": cancelled, "attempts_made": progress.attempts,
            "due_at": _plain(progress.due_at), "callback_at": _plain(progress.callback_at),
            "callback_agent": progress.callback_agent, "dial_now": progress.dial_now,
            "closed_at": _plain(closed_at)}


class CampaignRepository:
    """Campaign runtime state, contacts, attempts and do-not-call lists.

    The dialer's live writes (status, attempts, contacts' progress and closes) check the
    node's ``fence``: a node that lost its lease cannot move a campaign the new active node
    now dials. Contact imports, number ranges and opt-outs are not fenced (an opt-out is
    additive and must never be lost)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 fence: Fence | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self._fence = fence or Fence()

    # --- campaigns -----------------------------------------------------------------------

    async def _site_defaults(self, session: AsyncSession) -> tuple[str, str]:
        site = await session.scalar(select(m.Site))
        if site is None:
            return "US", "UTC"
        return site.default_region or "US", site.time_zone or "UTC"

    async def load_campaigns(self) -> list[StoredCampaign]:
        """Every campaign with the dialer's settings and its runtime status."""
        async with self._sessions() as session:
            region, zone = await self._site_defaults(session)
            rows = (await session.scalars(select(m.Campaign).order_by(m.Campaign.name))).all()
            return [self._stored(row, region, zone) for row in rows]

    async def stored(self, name: str) -> StoredCampaign:
        async with self._sessions() as session:
            region, zone = await self._site_defaults(session)
            return self._stored(await self._campaign_row(session, name), region, zone)

    @staticmethod
    def _stored(row: m.Campaign, region: str, zone: str) -> StoredCampaign:
        spec = CampaignSpec.model_validate({**row.settings, "name": row.name,
                                            "active": row.active})
        return StoredCampaign(
            config=campaign_config(spec, default_region=region, default_time_zone=zone),
            status=row.status, queue=spec.queue or "", script=spec.script or "",
            message=spec.message, compliance_message=spec.compliance_message,
            machine_policy=spec.machine, machine_message=spec.machine_message,
            match_inbound=spec.match_inbound)

    @staticmethod
    async def _campaign_row(session: AsyncSession, name: str) -> m.Campaign:
        row = await session.scalar(select(m.Campaign).where(m.Campaign.name == name))
        if row is None:
            raise NotFound(f"no campaign named {name!r}")
        return row

    async def campaign(self, name: str) -> CampaignRecord:
        async with self._sessions() as session:
            row = await self._campaign_row(session, name)
            counts = {"pending": 0, "in_progress": 0, "done": 0}
            for status, count in (await session.execute(
                    select(m.CampaignContact.status, func.count())
                    .where(m.CampaignContact.campaign == name)
                    .group_by(m.CampaignContact.status))).all():
                counts[status] = int(count)
            spec = CampaignSpec.model_validate({**row.settings, "name": row.name,
                                                "active": row.active})
            return CampaignRecord(spec, row.status, row.status_by, row.status_at, counts)

    async def save_status(self, campaign: str, status: str, *, by: str) -> None:
        """A supervisor's start, pause or stop (or the dialer's own change)."""
        async with self._fence.transaction(self._sessions) as session:
            row = await self._campaign_row(session, campaign)
            if row.status == "stopped" and status != "stopped":
                raise Conflict(f"status: campaign {campaign!r} is stopped and cannot be "
                               f"{status} again")
            if row.status != status:
                row.status, row.status_by, row.status_at = status, by, self._clock.utcnow()

    # --- contacts ------------------------------------------------------------------------

    async def open_contacts(self, campaign: str) -> list[Contact]:
        """The campaign's contacts not yet closed (for duplicate checks on a new load)."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(m.CampaignContact).where(
                m.CampaignContact.campaign == campaign,
                m.CampaignContact.status != "done"))).all()
            return [_contact(row) for row in rows]

    async def add_contacts(self, campaign: str, contacts: Iterable[Contact], *,
                           dial_now: bool = False, by: str = "") -> list[str]:
        """Store new contacts, due at once; returns their ids. A contact id the campaign
        already has (open or closed) is a :class:`Conflict` and nothing is stored."""
        now = self._clock.utcnow()
        async with self._sessions() as session, session.begin():
            await self._campaign_row(session, campaign)
            ids: list[str] = []
            for contact in contacts:
                session.add(m.CampaignContact(
                    campaign=campaign, contact_id=contact.id, fields=dict(contact.attributes),
                    numbers=_numbers_json(contact), time_zone=contact.time_zone,
                    status="pending", due_at=None, attempts=0, attempts_by_number={},
                    dead_numbers=[], close_reason=None, callback_at=None,
                    callback_agent=None, dial_now=dial_now, cancelled=False, added_at=now,
                    added_by=by, closed_at=None))
                for number in dict.fromkeys(n.e164 for n in contact.numbers):
                    session.add(m.CampaignContactNumber(campaign=campaign,
                                                        contact_id=contact.id, number=number))
                ids.append(contact.id)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise Conflict(f"contact_id: campaign {campaign!r} already has one of the "
                               f"contact ids {', '.join(ids)}") from exc
            return ids

    async def known_contact_ids(self, campaign: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` the campaign already has (open or closed)."""
        if not ids:
            return set()
        async with self._sessions() as session:
            found = (await session.scalars(select(m.CampaignContact.contact_id).where(
                m.CampaignContact.campaign == campaign,
                m.CampaignContact.contact_id.in_(list(ids))))).all()
            return set(found)

    async def load_contacts(self, campaign: str, contact_ids: Sequence[str] | None = None
                            ) -> list[ContactProgress]:
        """The campaign's open contacts (``contact_ids``: just those, if still open)."""
        query = select(m.CampaignContact).where(m.CampaignContact.campaign == campaign,
                                                m.CampaignContact.status != "done")
        if contact_ids is not None:
            query = query.where(m.CampaignContact.contact_id.in_(list(contact_ids)))
        async with self._sessions() as session:
            rows = (await session.scalars(query.order_by(m.CampaignContact.id))).all()
            return [_progress(row) for row in rows]

    async def open_tasks_by_number(self, number: str) -> list[CampaignTask]:
        """The open contacts (not closed) that hold the E.164 ``number``, across campaigns,
        the latest added first (an index on the number finds them)."""
        async with self._sessions() as session:
            rows = (await session.scalars(
                select(m.CampaignContact).join(m.CampaignContactNumber, and_(
                    m.CampaignContactNumber.campaign == m.CampaignContact.campaign,
                    m.CampaignContactNumber.contact_id == m.CampaignContact.contact_id))
                .where(m.CampaignContactNumber.number == number,
                       m.CampaignContact.status != "done")
                .order_by(m.CampaignContact.added_at.desc(), m.CampaignContact.id.desc())
            )).all()
            return [CampaignTask(row.campaign, _progress(row)) for row in rows]

    async def close_contact(self, campaign: str, contact_id: str, reason: str, *,
                            by: str = "") -> bool:
        """Close a waiting contact with ``reason`` (its webhook sent), as the dialer would;
        False when it is being dialled or already closed. For a node whose dialer has not
        loaded the campaign; a running dialer closes its contacts itself."""
        async with self._fence.transaction(self._sessions) as session:
            row = await self._contact_row(session, campaign, contact_id)
            if row.status != "pending":
                return False
            row.status = "done"
            row.close_reason = reason
            row.due_at = None
            row.callback_at = None
            row.closed_at = self._clock.utcnow()
            await session.flush()
            await self._contact_closed(session, row)
            return True

    async def contact(self, campaign: str, contact_id: str) -> ContactRecord:
        async with self._sessions() as session:
            row = await self._contact_row(session, campaign, contact_id)
            return ContactRecord(campaign, _progress(row), row.cancelled, row.added_at,
                                 row.added_by, row.closed_at,
                                 tuple(await self._attempts_of(session, campaign, contact_id)))

    @staticmethod
    async def _contact_row(session: AsyncSession, campaign: str,
                           contact_id: str) -> m.CampaignContact:
        row = await session.scalar(select(m.CampaignContact).where(
            m.CampaignContact.campaign == campaign,
            m.CampaignContact.contact_id == contact_id))
        if row is None:
            raise NotFound(f"campaign {campaign!r} has no contact {contact_id!r}")
        return row

    @staticmethod
    async def _attempts_of(session: AsyncSession, campaign: str,
                           contact_id: str) -> list[AttemptFacts]:
        rows = (await session.scalars(select(m.CampaignAttempt).where(
            m.CampaignAttempt.campaign == campaign,
            m.CampaignAttempt.contact_id == contact_id)
            .order_by(m.CampaignAttempt.started_at, m.CampaignAttempt.attempt_id))).all()
        return [_facts(row) for row in rows]

    async def cancel_contact(self, campaign: str, contact_id: str, *, by: str) -> bool:
        """Withdraw a task: closed with reason ``cancelled`` (and its webhook sent); False
        when it had already closed."""
        async with self._fence.transaction(self._sessions) as session:
            row = await self._contact_row(session, campaign, contact_id)
            if row.status == "done":
                return False
            row.cancelled = True
            row.status = "done"
            row.close_reason = CANCELLED
            row.closed_at = self._clock.utcnow()
            await self._contact_closed(session, row)
            return True

    async def save_progress(self, campaign: str, progress: ContactProgress) -> None:
        """The contact's state after an attempt, a disposition, a reschedule or its close; a
        close puts the ``campaign.contact_closed`` webhook, with every attempt, in the outbox.
        A cancelled contact stays closed whatever the dialer still reports."""
        async with self._fence.transaction(self._sessions) as session:
            await self._progress_in(session, campaign, progress)

    async def save_batch(self, items: Sequence[AttemptFacts | tuple[str, ContactProgress]]
                         ) -> None:
        """Attempts and contacts' progress (``(campaign, progress)``), in this order, in one
        transaction: a busy dialer commits once per batch, not once per change. A batch
        that meets a concurrent first write of an attempt is written again item by item."""
        try:
            async with self._fence.transaction(self._sessions) as session:
                for item in items:
                    if isinstance(item, AttemptFacts):
                        await self._attempt_in(session, item)
                    else:
                        await self._progress_in(session, *item)
        except (IntegrityError, NotFound):
            for item in items:  # one by one: what is wrong is named, the rest written
                try:
                    if isinstance(item, AttemptFacts):
                        await self.save_attempt(item)
                    else:
                        await self.save_progress(*item)
                except NotFound as exc:
                    log.warning("campaign_write_skipped", reason=str(exc))

    async def _progress_in(self, session: AsyncSession, campaign: str,
                           progress: ContactProgress) -> None:
        row = await self._contact_row(session, campaign, progress.contact.id)
        was_open = row.status != "done"
        row.attempts = progress.attempts
        row.attempts_by_number = dict(progress.attempts_by_number)
        row.dead_numbers = sorted(progress.dead_numbers)
        if row.cancelled:
            return
        row.status = progress.status
        row.due_at = progress.due_at
        row.close_reason = progress.close_reason
        row.callback_at = progress.callback_at
        row.callback_agent = progress.callback_agent
        row.dial_now = progress.dial_now
        if progress.status == "done" and was_open:
            row.closed_at = self._clock.utcnow()
            await session.flush()
            await self._contact_closed(session, row)

    async def _contact_closed(self, session: AsyncSession, row: m.CampaignContact) -> None:
        attempts = await self._attempts_of(session, row.campaign, row.contact_id)
        data = contact_json(row.campaign, _progress(row), cancelled=row.cancelled,
                            closed_at=row.closed_at)
        data["attempts"] = [attempt_json(a) for a in attempts]
        await self._webhook(session, CLOSED_EVENT, data)

    # --- attempts ------------------------------------------------------------------------

    async def save_attempt(self, facts: AttemptFacts) -> None:
        """Create or update the attempt (idempotent); when it first has an end, its
        ``campaign.attempt`` webhook goes to the outbox in the same transaction."""
        for _try in range(2):  # a concurrent first write of the same attempt: update it
            try:
                await self._save_attempt(facts)
                return
            except IntegrityError:
                continue
        await self._save_attempt(facts)

    async def _save_attempt(self, facts: AttemptFacts) -> None:
        async with self._fence.transaction(self._sessions) as session:
            await self._attempt_in(session, facts)

    async def _attempt_in(self, session: AsyncSession, facts: AttemptFacts) -> None:
        values = {name: getattr(facts, name) for name in ATTEMPT_FIELDS}
        row = await session.get(m.CampaignAttempt, facts.attempt_id)
        before = None if row is None else {name: getattr(row, name) for name in ATTEMPT_FIELDS}
        # One webhook per attempt, once it is settled: ended, and, when an operator talked
        # to the customer, with the disposition of their wrap-up (which comes later).
        was_settled = before is not None and _settled(before)
        finished_now = _settled(values) and not was_settled
        if row is None:
            session.add(m.CampaignAttempt(**values))
        else:
            for name, value in values.items():
                setattr(row, name, value)
        await session.flush()
        await apply_attempt(await session.connection(), before, values)
        if finished_now:
            data = attempt_json(facts)
            contact = await session.scalar(select(m.CampaignContact.fields).where(
                m.CampaignContact.campaign == facts.campaign,
                m.CampaignContact.contact_id == facts.contact_id))
            data["fields"] = dict(contact or {})
            await self._webhook(session, ATTEMPT_EVENT, data)

    async def open_attempts(self) -> list[AttemptFacts]:
        """Every campaign's attempts with no end yet, oldest first: under way, or cut short
        by a node that stopped or failed while they were (the starting dialer closes
        those)."""
        async with self._sessions() as session:
            rows = (await session.scalars(
                select(m.CampaignAttempt).where(m.CampaignAttempt.ended_at.is_(None))
                .order_by(m.CampaignAttempt.started_at, m.CampaignAttempt.attempt_id))).all()
            return [_facts(row) for row in rows]

    async def attempts(self, campaign: str, *, since: datetime | None = None,
                       until: datetime | None = None, contact_id: str | None = None,
                       outcome: str | None = None, number: str | None = None,
                       operator: str | None = None, offset: int = 0,
                       limit: int = 100) -> Page[AttemptFacts]:
        """The campaign's attempts, oldest first, filtered."""
        query = select(m.CampaignAttempt).where(m.CampaignAttempt.campaign == campaign)
        for column, value in ((m.CampaignAttempt.contact_id, contact_id),
                              (m.CampaignAttempt.outcome, outcome),
                              (m.CampaignAttempt.number, number),
                              (m.CampaignAttempt.operator, operator)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(m.CampaignAttempt.started_at >= since)
        if until is not None:
            query = query.where(m.CampaignAttempt.started_at < until)
        async with self._sessions() as session:
            await self._campaign_row(session, campaign)
            total = int(await session.scalar(
                select(func.count()).select_from(query.subquery())) or 0)
            rows = (await session.scalars(query.order_by(
                m.CampaignAttempt.started_at, m.CampaignAttempt.attempt_id)
                .offset(offset).limit(limit))).all()
            return Page(tuple(_facts(row) for row in rows), total, offset, limit)

    # --- do-not-call -----------------------------------------------------------------------

    async def do_not_call(self) -> dict[str, frozenset[str]]:
        """Every do-not-call list by name (``global`` is the site's own)."""
        async with self._sessions() as session:
            rows = (await session.execute(
                select(m.DoNotCallList.name, m.DoNotCallNumber.number)
                .join(m.DoNotCallNumber, isouter=True))).all()
        lists: dict[str, set[str]] = {}
        for name, number in rows:
            bucket = lists.setdefault(name, set())
            if number is not None:
                bucket.add(number)
        return {name: frozenset(numbers) for name, numbers in lists.items()}

    async def add_to_do_not_call(self, numbers: Iterable[str],
                                 list_name: str = GLOBAL_DNC, *, note: str = "") -> int:
        """Add E.164 numbers to a list as the customer's opt-out (the list is created if
        missing; a "do not call" disposition adds to ``global``); returns how many were new.
        An opt-out is never removed by a re-import of the provisioning file; a number already
        on the list as provisioned becomes an opt-out."""
        wanted = set(numbers)
        async with self._sessions() as session, session.begin():
            row = await session.scalar(select(m.DoNotCallList).where(
                m.DoNotCallList.name == list_name))
            if row is None:
                row = m.DoNotCallList(name=list_name, description="")
                session.add(row)
                await session.flush()
            current = {number: listed for number, listed in (await session.execute(
                select(m.DoNotCallNumber.number, m.DoNotCallNumber)
                .where(m.DoNotCallNumber.list_id == row.id))).all()}
            now = self._clock.utcnow()
            for number in sorted(wanted & set(current)):
                if current[number].source != m.DNC_OPT_OUT:
                    current[number].source = m.DNC_OPT_OUT
                    current[number].note = note[:200]
            new = sorted(wanted - set(current))
            for number in new:
                session.add(m.DoNotCallNumber(list_id=row.id, number=number,
                                              source=m.DNC_OPT_OUT, added_at=now,
                                              note=note[:200]))
            return len(new)

    async def remove_opt_out(self, number: str, list_name: str = GLOBAL_DNC) -> bool:
        """Lift a customer's opt-out (they asked to be called again); False when the number
        is not an opt-out of that list (a provisioned number is changed in the file)."""
        async with self._sessions() as session, session.begin():
            row = await session.scalar(
                select(m.DoNotCallNumber).join(m.DoNotCallList).where(
                    m.DoNotCallList.name == list_name, m.DoNotCallNumber.number == number,
                    m.DoNotCallNumber.source == m.DNC_OPT_OUT))
            if row is None:
                return False
            await session.delete(row)
            return True

    # --- the number-range table ------------------------------------------------------------

    async def number_ranges(self) -> NumberRangeRecord | None:
        """The site's table of number ranges to regions and zones, as uploaded."""
        async with self._sessions() as session:
            row = await session.get(m.NumberRangeTable, SITE_RANGES)
            if row is None:
                return None
            return NumberRangeRecord(row.csv, row.rows, row.updated_at, row.updated_by)

    async def number_ranges_updated_at(self) -> datetime | None:
        """When the table last changed (None: there is none), to reuse a parsed copy."""
        async with self._sessions() as session:
            return await session.scalar(select(m.NumberRangeTable.updated_at).where(
                m.NumberRangeTable.name == SITE_RANGES))

    async def save_number_ranges(self, text: str, rows: int, *, by: str) -> None:
        """Replace the site's table (checked by the caller: see
        :meth:`parley.dialer.ranges.NumberRanges.from_csv`)."""
        async with self._sessions() as session, session.begin():
            row = await session.get(m.NumberRangeTable, SITE_RANGES)
            if row is None:
                row = m.NumberRangeTable(name=SITE_RANGES)
                session.add(row)
            row.csv, row.rows = text, rows
            row.updated_at, row.updated_by = self._clock.utcnow(), by

    async def delete_number_ranges(self) -> bool:
        """Remove the site's table; False when there was none."""
        async with self._sessions() as session, session.begin():
            row = await session.get(m.NumberRangeTable, SITE_RANGES)
            if row is None:
                return False
            await session.delete(row)
            return True

    # --- webhooks --------------------------------------------------------------------------

    async def _webhook(self, session: AsyncSession, event: str, data: dict[str, Any]) -> None:
        """Put one delivery per subscribed webhook in the outbox (this transaction)."""
        hooks = (await session.scalars(select(m.Webhook).where(m.Webhook.active))).all()
        now = self._clock.utcnow()
        event_id = uuid.uuid4().hex
        body = json.dumps({"id": event_id, "event": event, "at": now.isoformat(),
                           "data": data}, separators=(",", ":"))
        for hook in hooks:
            if event in hook.events or "*" in hook.events:
                session.add(m.WebhookOutbox(webhook=hook.name, event_id=event_id,
                                            event_type=event, body=body, attempts=0,
                                            next_attempt_at=now))
