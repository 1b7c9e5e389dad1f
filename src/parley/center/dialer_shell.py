"""The dialer over real calls: the pure :class:`~parley.dialer.engine.Dialer` joined to the ACD
and to telephony, beside the ACD shell (DESIGN.md §4, "An outbound campaign").

One task runs the dialer on the node's clock (woken at ``next_deadline()`` or by an event).
Its commands become real actions:

- ``ReserveAgent`` / ``ReleaseAgent`` / ``ConnectAgent`` go into the ACD as
  ``ReserveForOutbound`` / ``OutboundReleased`` / ``OutboundConnected``, so an operator busy
  for a campaign is never offered an inbound call; every batch the ACD answers comes back as
  one net ``AgentStateChanged`` per operator (:func:`parley.acd.outbound.net_changes`);
- ``Dial`` calls the number through the outbound routes and trunks with the campaign's
  caller ID (:mod:`parley.center.dialer_calls` follows each call);
- the answered leg is bridged to the operator's phone as the ACD shell bridges an inbound
  call, the contact's fields, the campaign and its script riding along as the call's data;
- agentless messages are the campaign's ``${...}`` template spoken by text-to-speech, and
  "press 1" takes the call into the ACD queue with the task attached.

Every attempt is written through :class:`~parley.center.ports.CampaignStore` as it starts,
answers and ends, and every contact's progress after each change, so a restart resumes from
the store (nothing is lost, DESIGN.md §1.6).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import structlog

from parley import events as ev
from parley.acd.outbound import net_changes
from parley.center.dialer_calls import LiveAttempt, OutboundCalls
from parley.center.dialer_carry import CampaignCarry
from parley.center.ports import (
    AttemptFacts,
    CampaignAction,
    CampaignFigures,
    CampaignStore,
    ContactCancelled,
    ContactProgress,
    InvalidRequest,
    OperationRefused,
    OperatorPreview,
    PreviewAction,
    PreviewNumber,
    StoredCampaign,
    figures_event,
)
from parley.clock import serve_deadlines
from parley.dialer.campaign import CampaignStatus
from parley.dialer.contacts import DncList
from parley.dialer.engine import Dialer
from parley.dialer.model import (
    CloseReason,
    ContactStatus,
    DialerError,
    MachinePolicy,
    NumberType,
)
from parley.dialer.strategy import ContactState
from parley.store import Fenced

if TYPE_CHECKING:
    from parley.center.shell import ContactCenter
    from parley.clock import Clock
    from parley.ids import IdSource

log = structlog.get_logger("parley.center.dialer")

FIGURES_EVERY_S = 1.0
WRITE_BATCH = 200  # store writes committed together at most

#: A store write waiting: an attempt's or a contact's latest snapshot, or another write.
_Write = AttemptFacts | tuple[str, ContactProgress] | Callable[[], Awaitable[None]]

_ACTIONS: dict[str, type[ev.CampaignStart | ev.CampaignPause | ev.CampaignStop]] = {
    "start": ev.CampaignStart, "pause": ev.CampaignPause, "stop": ev.CampaignStop}


class DialerShell:
    """Every campaign of the node over real calls; implements
    :class:`~parley.center.ports.CampaignControl` for the web and provisioning."""

    def __init__(self, center: ContactCenter, store: CampaignStore, clock: Clock, *,
                 publish: Callable[[object], object], ids: IdSource) -> None:
        self.center = center
        self.acd = center.shell
        self.telephony = center.telephony
        self.store = store
        self.clock = clock
        self.publish = publish
        self.ids = ids
        self.global_dnc = DncList("global")
        self.dialer = Dialer([], wall_at=self.wall_at, global_dnc=self.global_dnc,
                             new_id=lambda _campaign: ids.new("att"))
        self.campaigns: dict[str, StoredCampaign] = {}
        self.calls = OutboundCalls(self)
        #: campaign conversations carried over from the other node of a cluster
        self.carry = CampaignCarry(self)
        self._joined: set[str] = set()
        self._dirty: set[str] = set()  # campaigns whose figures changed since published
        #: Operators whose campaign conversation has no disposition yet, with its attempt.
        self._undisposed: dict[str, LiveAttempt] = {}
        self._inbound: dict[str, int] = {}
        self._pending: deque[object] = deque()
        self._feeding = False
        self._wake = asyncio.Event()
        #: store writes not done yet, oldest change first; a newer snapshot of the same
        #: attempt or contact replaces the older one (and moves to the end)
        # taken from the front in batches: an OrderedDict finds its first key in O(1), a
        # dict scans the slots deleted before it
        self._writes: OrderedDict[Hashable, _Write] = OrderedDict()
        self._write_wake = asyncio.Event()
        self._opt_out_writes = itertools.count()
        self._group: asyncio.TaskGroup | None = None
        self._loaded = asyncio.Event()
        self._lock = asyncio.Lock()  # loads from the store, one at a time
        self._opt_outs_unsaved: set[str] = set()  # "do not call" numbers not yet written

        #: called after each load of the campaigns (inbound matching binds caller IDs)
        self.on_reload: list[Callable[[], None]] = []

    # --- time ----------------------------------------------------------------------------

    def wall_at(self, now: float) -> datetime:
        """The UTC wall time at the monotonic reading ``now``."""
        return self.clock.utcnow() - timedelta(seconds=self.clock.monotonic() - now)

    def monotonic_at(self, at: datetime) -> float:
        return self.clock.monotonic() + (at - self.clock.utcnow()).total_seconds()

    # --- running -------------------------------------------------------------------------

    async def run(self) -> None:
        """Load campaigns and contacts, then serve the dialer's deadlines, until cancelled."""
        unsubscribe = self.telephony.subscribe(self.calls.telephony_event)
        self.acd.observers.append(self._acd_batch)
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(self._writer(), name="dialer-store-writer")
                group.create_task(self._figures(), name="dialer-figures")
                cut_short = await self._open_attempts()
                await self._reload(first=True)
                self._close_cut_short(cut_short)
                self._join_operators()
                self._loaded.set()
                await serve_deadlines(self.clock, self._wake, self.dialer.next_deadline,
                                      lambda now: self._apply(self.dialer.on_time(now)))
        finally:
            self._group = None
            self.acd.observers.remove(self._acd_batch)
            unsubscribe()

    async def _open_attempts(self) -> list[AttemptFacts]:
        """The attempts with no end in the store before this dialer dials (empty when they
        cannot be read: logged)."""
        try:
            return await self.store.open_attempts()
        except Exception:
            log.exception("open_attempts_not_read")
            return []

    def _close_cut_short(self, attempts: Iterable[AttemptFacts]) -> None:
        """Close the attempts that the stop or failure of the node running them cut short
        (their contacts are taken back as waiting, due at once): ended now, with their
        outcome so far, else "failed". One carried over with its call goes on."""
        now = self.clock.utcnow()
        closed = [facts for facts in attempts if not self.carry.keeps(facts.attempt_id)]
        for facts in closed:
            self.save_attempt(dataclasses.replace(facts, ended_at=now,
                                                  outcome=facts.outcome or "failed"))
        if closed:
            log.warning("attempts_cut_short_closed", attempts=len(closed),
                        first=[facts.attempt_id for facts in closed[:10]])

    async def wait_loaded(self) -> None:
        """Until the campaigns are loaded from the store (for callers right after start)."""
        await self._loaded.wait()

    def spawn(self, coroutine: Awaitable[None], name: str) -> None:
        """Run ``coroutine`` in the dialer's task group (logged if it fails)."""

        async def guarded() -> None:
            try:
                await coroutine
            except Exception:
                log.exception("dialer_task_failed", task=name)

        if self._group is not None:
            self._group.create_task(guarded(), name=name)
        else:
            self.acd.spawn(guarded(), name)

    async def _figures(self) -> None:
        """Each campaign's live figures on the bus (``/api/events``, topic ``campaign``) at
        most once a second, when they changed."""
        while True:
            await self.clock.sleep(FIGURES_EVERY_S)
            dirty, self._dirty = self._dirty, set()
            for campaign in sorted(dirty):
                if campaign in self.campaigns:
                    self.publish(figures_event(self.figures(campaign)))

    async def _writer(self) -> None:
        """Store writes in the order of their latest change (an attempt's end before the
        contact's close that follows it). Attempts and contacts are written as whole
        snapshots, so while the store is busy only the newest of each waits: a floor that
        dials faster than the store commits costs fewer writes, not a growing backlog."""
        while True:
            await self._write_wake.wait()
            self._write_wake.clear()
            while self._writes:
                batch: list[AttemptFacts | tuple[str, ContactProgress]] = []
                while self._writes and len(batch) < WRITE_BATCH:
                    key = next(iter(self._writes))
                    item = self._writes[key]
                    if callable(item):
                        if batch:
                            break  # the snapshots before it first
                        del self._writes[key]
                        try:
                            await item()
                        except Exception:
                            log.exception("dialer_store_write_failed", key=repr(key))
                        continue
                    del self._writes[key]
                    batch.append(item)
                if batch:
                    try:
                        await self.store.save_batch(batch)
                    except Fenced as exc:  # the new active node's dialer carries on
                        log.error("dialer_writes_left_to_the_active_node", writes=len(batch),
                                  error=str(exc))
                    except Exception:
                        log.exception("dialer_store_write_failed", writes=len(batch))

    def _put_write(self, key: Hashable, write: _Write) -> None:
        self._writes.pop(key, None)
        self._writes[key] = write
        self._write_wake.set()

    @property
    def writes_waiting(self) -> int:
        """Store writes not done yet (the benchmarks watch it)."""
        return len(self._writes)

    def save_attempt(self, facts: AttemptFacts) -> None:
        self._put_write(("attempt", facts.attempt_id), facts)

    def _save_progress(self, campaign: str, contact_ids: Iterable[str]) -> None:
        if campaign not in self.campaigns:
            return
        book = self.dialer.book(campaign)
        for contact_id in dict.fromkeys(contact_ids):
            state = book.states.get(contact_id)
            if state is not None:
                self._put_write(("contact", campaign, contact_id),
                                (campaign, self._progress_of(state)))

    # --- loading from the store ---------------------------------------------------------

    async def _reload(self, *, first: bool = False) -> None:
        """Campaigns, do-not-call lists and (for campaigns new to this node) open contacts."""
        async with self._lock:
            stored = await self.store.load_campaigns()
            lists = await self.store.do_not_call()
            # Opt-outs not yet written stay listed (the store catches up in order).
            self.global_dnc.replace({*lists.get("global", ()), *self._opt_outs_unsaved})
            fresh: list[str] = []
            for campaign in stored:
                name = campaign.config.campaign_id
                config = campaign.config
                if config.dnc is None:
                    config = dataclasses.replace(config, dnc=DncList(name, lists.get(name, ())))
                elif name in lists:
                    config.dnc.replace(lists[name])
                if config.mode.value == "agentless" and not config.agentless_queue \
                        and campaign.queue:
                    config = dataclasses.replace(config, agentless_queue=campaign.queue)
                try:
                    policy = MachinePolicy(campaign.machine_policy)
                except ValueError:
                    log.error("campaign_machine_policy_unknown", campaign=name,
                              machine=campaign.machine_policy)
                    policy = MachinePolicy.DROP
                config = dataclasses.replace(config, machine_policy=policy)
                try:
                    self._apply(self.dialer.set_campaign(config, self.clock.monotonic()))
                except DialerError as exc:
                    log.error("campaign_not_taken", campaign=name, error=str(exc))
                    continue
                if name not in self.campaigns:
                    fresh.append(name)
                self.campaigns[name] = dataclasses.replace(campaign, config=config)
            for name in fresh:
                await self._load_contacts(name, None)
            for campaign in stored:
                self._take_status(campaign.config.campaign_id, campaign.status)
            if not first:
                log.info("campaigns_reloaded", campaigns=len(stored))
        for hook in self.on_reload:
            hook()

    def _take_status(self, name: str, status: str) -> None:
        if name not in self.campaigns:
            return
        current = self.dialer.status(name)
        if status == current.value or current is CampaignStatus.STOPPED:
            return
        action = {"running": ev.CampaignStart, "paused": ev.CampaignPause,
                  "stopped": ev.CampaignStop}.get(status)
        if action is not None:
            self.feed(action(name))

    async def _load_contacts(self, campaign: str, contact_ids: Sequence[str] | None
                             ) -> list[str]:
        """Take the store's open contacts of ``campaign`` (or just ``contact_ids``); the ids
        of those to dial at once."""
        progress = await self.store.load_contacts(campaign, contact_ids)
        book = self.dialer.book(campaign)
        now = self.clock.monotonic()
        states = [self._state_of(p, now) for p in progress if p.contact.id not in book.states]
        talking = self.carry.talking(campaign)  # not dialled again: their calls go on
        self._apply(self.dialer.restore_contacts(campaign, states, now, talking=talking))
        self.carry.taken_back(talking)
        return [p.contact.id for p in progress if p.dial_now]

    def _state_of(self, progress: ContactProgress, now: float) -> ContactState:
        """A stored contact as the dialer core keeps it."""
        by_type: dict[NumberType, int] = {}
        for number in progress.contact.numbers:
            count = progress.attempts_by_number.get(number.e164, 0)
            if count:
                by_type[number.type] = by_type.get(number.type, 0) + count
        done = progress.status == "done"
        callback = progress.callback_at is not None and not done
        due_at = progress.callback_at if callback else progress.due_at
        due = now if due_at is None or progress.dial_now else self.monotonic_at(due_at)
        return ContactState(
            progress.contact, status=ContactStatus.DONE if done else ContactStatus.PENDING,
            due=due, attempts=progress.attempts, attempts_by_type=by_type,
            attempts_by_number=dict(progress.attempts_by_number),
            dead_numbers=set(progress.dead_numbers), callback=callback,
            callback_agent=progress.callback_agent if callback else None,
            needs_reservation=callback,
            close_reason=CloseReason(progress.close_reason) if progress.close_reason else None)

    def _progress_of(self, state: ContactState) -> ContactProgress:
        pending = state.status is ContactStatus.PENDING
        return ContactProgress(
            contact=state.contact, status=state.status.value,
            due_at=self.wall_at(state.due) if pending else None,
            attempts=state.attempts, attempts_by_number=dict(state.attempts_by_number),
            dead_numbers=frozenset(state.dead_numbers),
            close_reason=state.close_reason.value if state.close_reason else None,
            callback_at=self.wall_at(state.due) if pending and state.callback else None,
            callback_agent=state.callback_agent)

    # --- CampaignControl ------------------------------------------------------------------

    async def control(self, campaign: str, action: CampaignAction, *,
                      requested_by: str) -> str:
        await self._loaded.wait()
        if campaign not in self.campaigns:
            await self._reload()
        if campaign not in self.campaigns:
            raise InvalidRequest(f"campaign: no campaign {campaign!r}")
        kind = _ACTIONS.get(action)
        if kind is None:
            raise InvalidRequest(f"action: {action!r} is not one of start, pause, stop")
        try:
            out = self.dialer.handle(kind(campaign), self.clock.monotonic())
        except DialerError as exc:
            raise OperationRefused(str(exc)) from None
        self._apply(out)
        status = self.dialer.status(campaign).value
        await self.store.save_status(campaign, status, by=requested_by)
        self._dirty.add(campaign)
        return status

    async def contacts_added(self, campaign: str, contact_ids: Sequence[str], *,
                             now: bool = False) -> None:
        await self._loaded.wait()
        if campaign not in self.campaigns:
            await self._reload()
            if campaign not in self.campaigns:
                raise InvalidRequest(f"campaign: no campaign {campaign!r}")
            return  # a campaign new to this node loads all its open contacts
        async with self._lock:
            at_once = await self._load_contacts(campaign, list(contact_ids))
        if now:
            at_once = list(dict.fromkeys([*at_once, *contact_ids]))
        for contact_id in at_once:
            self._apply(self.dialer.dial_now(campaign, contact_id, self.clock.monotonic()))
            self._save_progress(campaign, [contact_id])

    async def contact_cancelled(self, campaign: str, contact_id: str, *,
                                requested_by: str) -> ContactCancelled:
        """Withdraw the task wherever it is (see :meth:`Dialer.cancel_contact`): a ringing
        call is hung up, a conversation goes on and the contact closes when it ends."""
        await self._loaded.wait()
        if campaign not in self.campaigns:
            raise InvalidRequest(f"campaign: no campaign {campaign!r}")
        where, operator = self.dialer.engagement(campaign, contact_id)
        self._apply(self.dialer.cancel_contact(campaign, contact_id, self.clock.monotonic()))
        log.info("contact_cancelled", campaign=campaign, contact=contact_id, was=where,
                 operator=operator, by=requested_by)
        if where in ("waiting", "preview"):
            return ContactCancelled("withdrawn", operator)
        if where == "ringing":
            return ContactCancelled("call_cancelled", operator,
                                    "the call was ringing: it is hung up, and its attempt is "
                                    "stored as it ended")
        if where == "talking":
            return ContactCancelled("after_call", operator,
                                    f"in a conversation with operator {operator}: the call "
                                    "goes on, and the contact is not called again")
        if where in ("waiting_for_operator", "message"):
            said = ("answered, waiting for an operator" if where == "waiting_for_operator"
                    else "answered, hearing the campaign's message")
            return ContactCancelled("after_call", None,
                                    f"{said}: the call goes on, and the contact is not "
                                    "called again")
        return ContactCancelled("none")

    async def campaigns_changed(self) -> None:
        await self._loaded.wait()
        await self._reload()

    def figures(self, campaign: str) -> CampaignFigures:
        if campaign not in self.campaigns:
            raise InvalidRequest(f"campaign: no campaign {campaign!r}")
        now = self.clock.monotonic()
        pacing = self.dialer.pacing_input(campaign, now)
        return CampaignFigures(
            campaign=campaign, status=self.dialer.status(campaign).value,
            contacts_open=self.dialer.book(campaign).open_count(),
            in_flight=pacing.in_flight, operators_ready=pacing.ready,
            operators_talking=pacing.talking, stats=self.dialer.stats(campaign, now))

    def is_attempt(self, interaction_id: str) -> bool:
        """Whether the interaction is one of this dialer's attempts still awaiting its
        disposition (in the call, or in the operator's wrap-up)."""
        return interaction_id in self.calls.attempts or any(
            held.attempt_id == interaction_id for held in self._undisposed.values())

    def conversation_closed(self, attempt_id: str, *, operator: str, disposition: str,
                            callback_at: datetime | None = None) -> bool:
        """The desk's wrap-up of a campaign conversation (see :meth:`disposition`)."""
        awaiting = attempt_id in self.calls.attempts or any(
            held.attempt_id == attempt_id for held in self._undisposed.values())
        if awaiting:
            self.disposition(attempt_id, operator, disposition, callback_at)
        return awaiting

    def awaiting_disposition(self, agent_id: str, live: LiveAttempt) -> None:
        """The operator's conversation on ``live`` is connected: its disposition comes from
        their wrap-up (else the contact closes as a success when the wrap-up ends)."""
        self._undisposed[agent_id] = live

    def not_connected(self, live: LiveAttempt, agent_id: str, cause: str, *,
                      customer_gone: bool) -> None:
        """The operator given ``live``'s answered customer did not take the call: no
        disposition is awaited from them, the dialer hears it first (so the ACD's release of
        the operator is not taken for the end of a conversation), then the ACD."""
        if self._undisposed.get(agent_id) is live:
            del self._undisposed[agent_id]
        self.feed(ev.ConnectFailed(live.attempt_id, agent_id, customer_gone))
        self.acd.feed(ev.OutboundMissed(agent_id, live.attempt_id, cause,
                                        counted=not customer_gone))

    def disposition(self, attempt_id: str, agent_id: str, disposition: str,
                    callback_at: datetime | None = None) -> None:
        """The operator's disposition of a campaign conversation (success, callback with
        its time in the customer's zone, not interested, wrong number, do not call,
        machine); raises :class:`InvalidRequest` naming what is wrong."""
        live = self.calls.attempts.get(attempt_id)
        try:
            out = self.dialer.handle(ev.DispositionSet(attempt_id, agent_id, disposition,
                                                       callback_at), self.clock.monotonic())
        except DialerError as exc:
            raise InvalidRequest(f"disposition: {exc}") from None
        if live is None:
            live = next((held for held in self._undisposed.values()
                         if held.attempt_id == attempt_id), None)
        self._undisposed.pop(agent_id, None)
        if live is not None:
            live.disposed = True
            self.calls.update(live, disposition=disposition)
        self._apply(out)
        if live is not None:
            self._save_progress(live.command.campaign_id, [live.command.contact_id])

    # --- preview ------------------------------------------------------------------------

    def preview_of(self, operator: str) -> OperatorPreview | None:
        """The contact the operator is previewing now: its fields, its numbers with their
        type and zone (the one the dialer would dial marked), and the customer's zone."""
        found = self.dialer.preview(operator)
        if found is None:
            return None
        campaign, pick = found
        contact = pick.state.contact
        numbers = tuple(PreviewNumber(n.e164, n.type.value, _zone_of(n.time_zones),
                                      n.e164 == pick.number.e164) for n in contact.numbers)
        stored = self.campaigns.get(campaign)
        return OperatorPreview(
            operator=operator, campaign=campaign, contact_id=contact.id,
            fields=dict(contact.attributes), numbers=numbers,
            time_zone=contact.time_zone or _zone_of(pick.number.time_zones),
            script=stored.script if stored is not None else "")

    def preview_decided(self, operator: str, contact_id: str, action: PreviewAction, *,
                        number: str = "", at: datetime | None = None) -> None:
        """The operator's decision on their own preview (see
        :meth:`~parley.center.ports.CampaignControl.preview_decided`)."""
        shown = self.preview_of(operator)
        if shown is None or shown.contact_id != contact_id:
            now_shown = f" (you are previewing {shown.contact_id!r})" if shown else ""
            raise InvalidRequest(f"contact_id: you have no preview of contact "
                                 f"{contact_id!r}{now_shown}")
        if action not in ("dial", "skip", "reschedule"):
            raise InvalidRequest(f"action: {action!r} is not one of dial, skip, reschedule")
        if number and number not in {n.number for n in shown.numbers}:
            raise InvalidRequest(f"number: {number} is not one of the contact's numbers "
                                 f"({', '.join(n.number for n in shown.numbers)})")
        if action == "reschedule":
            if at is None:
                raise InvalidRequest("at: a reschedule needs the time to call again")
            if at.tzinfo is None or at.utcoffset() is None:
                raise InvalidRequest("at: give the time with its zone offset (the customer's "
                                     f"zone is {shown.time_zone})")
            if at <= self.clock.utcnow():
                raise InvalidRequest(f"at: {at.isoformat()} is in the past")
        elif at is not None:
            raise InvalidRequest(f"at: only a reschedule takes a time, not {action!r}")
        decision = ev.PreviewDecision(operator, contact_id, dial=action == "dial",
                                      number=number if action == "dial" else "",
                                      reschedule_at=at if action == "reschedule" else None)
        try:
            out = self.dialer.handle(decision, self.clock.monotonic())
        except DialerError as exc:
            # What is left once the request is checked: the chosen number may not be
            # dialled now (window, limit, do-not-call), or the time is past by now.
            field = {"dial": "number", "reschedule": "at"}.get(action, "contact_id")
            raise InvalidRequest(f"{field}: {exc}") from None
        log.info("preview_decided", operator=operator, campaign=shown.campaign,
                 contact_id=contact_id, action=action, number=number,
                 at=at.isoformat() if at is not None else None)
        self._apply(out)
        self._save_progress(shown.campaign, [contact_id])

    async def answered_inbound(self, campaign: str, contact_id: str, facts: AttemptFacts
                               ) -> bool:
        """The contact called in and an operator answered: the task closes with
        "answered_inbound" and ``facts`` (the inbound call) join its attempts, before its
        closed-contact webhook. A contact being dialled now, or closed, is left alone
        (False)."""
        await self._loaded.wait()
        state = (self.dialer.book(campaign).states.get(contact_id)
                 if campaign in self.campaigns else None)
        if state is None:  # not loaded here: the store closes it if it still waits
            progress = await self.store.load_contacts(campaign, [contact_id])
            if not progress or progress[0].status != "pending":
                return False
            await self.store.save_attempt(facts)
            return await self.store.close_contact(campaign, contact_id,
                                                  CloseReason.ANSWERED_INBOUND.value)
        if state.status is not ContactStatus.PENDING:
            return False
        self.save_attempt(facts)
        self._apply(self.dialer.cancel_contact(campaign, contact_id,
                                               reason=CloseReason.ANSWERED_INBOUND))
        return True

    # --- the dialer -----------------------------------------------------------------------

    def feed(self, event: object) -> None:
        """Hand one event to the dialer and carry out what it answers (events caused by
        those commands queue behind: the dialer sees one event at a time)."""
        self._pending.append(event)
        if self._feeding:
            return
        while self._pending:
            item = self._pending.popleft()
            try:
                out = self.dialer.handle(item, self.clock.monotonic())
            except DialerError:
                log.warning("dialer_refused", dialer_event=repr(item), exc_info=True)
                continue
            self._apply(out)

    def _apply(self, out: list[Any]) -> None:
        was = self._feeding
        self._feeding = True
        touched: dict[str, list[str]] = {}
        try:
            for item in out:
                handler = self._commands.get(type(item))
                if handler is not None:
                    try:
                        handler(self, item)
                    except Exception:
                        log.exception("dialer_command_failed", command=repr(item))
                contact = getattr(item, "contact_id", None)
                campaign = getattr(item, "campaign_id", None)
                if isinstance(contact, str) and isinstance(campaign, str):
                    touched.setdefault(campaign, []).append(contact)
                if isinstance(item, ev.AttemptRecorded | ev.ContactClosed | ev.ShowPreview):
                    self.publish(item)
        finally:
            self._feeding = was
        for campaign, contacts in touched.items():
            self._save_progress(campaign, contacts)
        self._dirty.update(touched)
        self._wake.set()
        if not was and self._pending:
            self.feed(self._pending.popleft())

    def _reserve(self, command: ev.ReserveAgent) -> None:
        self.acd.feed(ev.ReserveForOutbound(command.agent_id, command.campaign_id,
                                            command.call_id, command.outbound_first_s))

    def _release(self, command: ev.ReleaseAgent) -> None:
        self.acd.feed(ev.OutboundReleased(command.agent_id))

    def _dial(self, command: ev.Dial) -> None:
        self.calls.dial(command, self.campaigns[command.campaign_id])

    def _connect(self, command: ev.ConnectAgent) -> None:
        stored = self.campaigns.get(command.campaign_id)
        queue = self.acd.acd.queues.get(stored.queue) if stored is not None else None
        wrap = queue.config.wrap_up_s if queue is not None else None
        live = self.calls.attempts.get(command.attempt_id)
        if live is not None:
            self.awaiting_disposition(command.agent_id, live)
        self.acd.feed(ev.OutboundConnected(command.agent_id, command.attempt_id,
                                           command.campaign_id, wrap_up_s=wrap,
                                           outbound_first_s=command.outbound_first_s))
        self.calls.connect(command.attempt_id, command.agent_id)

    def _compliance(self, command: ev.PlayComplianceMessage) -> None:
        self.calls.compliance(command.attempt_id)

    def _message(self, command: ev.PlayAgentlessMessage) -> None:
        self.calls.message(command.attempt_id)

    def _to_queue(self, command: ev.TransferToQueue) -> None:
        self.calls.to_queue(command.attempt_id, command.queue)

    def _hang_up(self, command: ev.HangupAttempt) -> None:
        self.calls.hang_up(command.attempt_id, command.reason)

    def _recorded(self, notice: ev.AttemptRecorded) -> None:
        live = self.calls.attempts.get(notice.attempt_id)
        if live is not None:
            self.calls.update(live, outcome=notice.outcome)

    def _opt_out(self, notice: ev.DoNotCallAdded) -> None:
        """The customer asked never to be called: the numbers are on the site's list in the
        dialer already; write them to the store's list as an opt-out, which a restart
        loads and a re-import of the provisioning file keeps."""
        numbers = set(notice.numbers)
        self._opt_outs_unsaved |= numbers
        note = (f"do not call: campaign {notice.campaign_id}, contact {notice.contact_id}, "
                f"attempt {notice.attempt_id}, operator {notice.agent_id}")

        async def write() -> None:
            await self.store.add_to_do_not_call(numbers, notice.list_name, note=note)
            self._opt_outs_unsaved -= numbers

        self._put_write(("opt-out", next(self._opt_out_writes)), write)
        log.info("do_not_call_added", campaign=notice.campaign_id,
                 contact=notice.contact_id, numbers=sorted(numbers))

    def _defaulted(self, notice: ev.DispositionDefaulted) -> None:
        """The dialer closed a conversation the operator gave no disposition for (connected
        to the next call, or logged out): the attempt's row says so."""
        live = self._undisposed.get(notice.agent_id)
        if live is None or live.attempt_id != notice.attempt_id:
            live = self.calls.attempts.get(notice.attempt_id)
        else:
            del self._undisposed[notice.agent_id]
        if live is not None:
            live.disposed = True
            self.calls.update(live, disposition=notice.disposition)
        log.info("disposition_defaulted", attempt=notice.attempt_id,
                 campaign=notice.campaign_id, contact=notice.contact_id,
                 operator=notice.agent_id, disposition=notice.disposition,
                 reason=notice.reason)

    _commands: ClassVar[dict[type, Callable[[DialerShell, Any], None]]] = {
        ev.ReserveAgent: _reserve,
        ev.ReleaseAgent: _release,
        ev.Dial: _dial,
        ev.ConnectAgent: _connect,
        ev.PlayComplianceMessage: _compliance,
        ev.PlayAgentlessMessage: _message,
        ev.TransferToQueue: _to_queue,
        ev.HangupAttempt: _hang_up,
        ev.AttemptRecorded: _recorded,
        ev.DoNotCallAdded: _opt_out,
        ev.DispositionDefaulted: _defaulted,
    }

    # --- operators from the ACD -----------------------------------------------------------

    def _join_operators(self) -> None:
        """Tell the dialer every operator (with the team campaigns select on) and the state
        each is in now."""
        for agent in list(self.acd.acd.agents.values()):
            self._join(agent.agent_id)
            if agent.state.value != "logged_out":
                self.feed(ev.AgentStateChanged(agent.agent_id, "logged_out",
                                               agent.state.value, "dialer start",
                                               self.clock.monotonic(),
                                               call_id=agent.call_id or ""))

    def _join(self, agent_id: str) -> None:
        if agent_id in self._joined:
            return
        agent = self.acd.acd.agents.get(agent_id)
        self._joined.add(agent_id)
        self.feed(ev.DialerAgentJoined(agent_id, agent.team if agent is not None else ""))

    def _acd_batch(self, out: list[Any]) -> None:
        """One batch the ACD answered: operators' net state changes, and how many inbound
        calls wait in the queues blended campaigns serve."""
        if not self._loaded.is_set():
            return
        for change in net_changes(out):
            self._join(change.agent_id)
            held = self._undisposed.get(change.agent_id)
            if held is not None and change.old == "wrap_up" and change.new != "wrap_up":
                self._default_disposition(change.agent_id, held)
            self.feed(change)
        blended = {q for s in self.campaigns.values() for q in s.config.blend_queues}
        for name in blended:
            runtime = self.acd.acd.queues.get(name)
            waiting = len(runtime.waiting) if runtime is not None else 0
            if self._inbound.get(name) != waiting:
                self._inbound[name] = waiting
                self.feed(ev.InboundWaiting(name, waiting))

    def _default_disposition(self, agent_id: str, live: LiveAttempt) -> None:
        """The operator left after-call work without a disposition: the conversation took
        place, so the contact closes as a success (an operator who wants it called again
        says so with "callback" before the wrap-up ends)."""
        self._undisposed.pop(agent_id, None)
        live.disposed = True
        self.calls.update(live, disposition="success")
        self.feed(ev.DispositionSet(live.attempt_id, agent_id, "success"))

    def attempt_ended(self, live: LiveAttempt) -> None:
        """A call's customer leg is gone: the dialer hears it, the contact's progress is
        kept."""
        self.feed(ev.AttemptHungUp(live.command.attempt_id))
        self._save_progress(live.command.campaign_id, [live.command.contact_id])


def _zone_of(zones: tuple[str, ...]) -> str:
    """The one zone of a number (the first, when a caller of the core gave several)."""
    return zones[0] if zones else "UTC"
