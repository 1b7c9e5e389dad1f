"""Number strategy and contact scheduling: which contact, which number, and when.

:class:`ContactBook` holds every contact of a campaign in exactly one place: waiting in the
ready heap (by the monotonic time it may next be dialled), waiting in the reserved heap (callbacks
and numbers whose last call was abandoned: they need an operator reserved before the dial), in
progress, or done. Outcomes and dispositions move it between those places.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

from parley.dialer.contacts import Contact, DncList, PhoneNumber
from parley.dialer.model import (
    CloseReason,
    ContactStatus,
    DialerError,
    Disposition,
    NumberType,
    Outcome,
)
from parley.dialer.windows import Calendar

ABANDON_QUARANTINE_S = 72 * 3600.0

_DEFAULT_DELAYS: Mapping[Outcome, float] = MappingProxyType({
    Outcome.BUSY: 15 * 60.0,
    Outcome.NO_ANSWER: 2 * 3600.0,
    Outcome.MACHINE: 4 * 3600.0,
    Outcome.FAILED: 30 * 60.0,
    Outcome.ABANDONED: 10 * 60.0,
})
_DEFAULT_WINDOWS: Mapping[NumberType, Calendar] = MappingProxyType({
    NumberType.MOBILE: Calendar.of(["09:00-21:00"]),
    NumberType.HOME: Calendar.of(["09:00-21:00 mon-sat"]),
    NumberType.WORK: Calendar.of(["09:00-18:00 mon-fri"]),
})
_DEFAULT_TYPE_LIMITS: Mapping[NumberType, int] = MappingProxyType({
    NumberType.MOBILE: 4, NumberType.HOME: 3, NumberType.WORK: 2})


@dataclass(frozen=True)
class Strategy:
    """How a campaign works through its contacts (docs/dialer.md, "Strategy").

    Delays are seconds after an outcome before the contact is dialled again (any number).
    Windows are per number type in the called party's local time; holidays are local dates on
    which nobody is called. ``abandon_quarantine_s``: after an abandoned call a number is not
    dialled again without a reserved operator for this long (72 hours by rule).
    """

    number_order: tuple[NumberType, ...] = (NumberType.MOBILE, NumberType.HOME, NumberType.WORK)
    max_attempts_per_contact: int = 6
    max_attempts_per_type: Mapping[NumberType, int] = field(
        default_factory=lambda: dict(_DEFAULT_TYPE_LIMITS))
    retry_delays: Mapping[Outcome, float] = field(default_factory=lambda: dict(_DEFAULT_DELAYS))
    windows: Mapping[NumberType, Calendar] = field(
        default_factory=lambda: dict(_DEFAULT_WINDOWS))
    holidays: frozenset[date] = frozenset()
    abandon_quarantine_s: float = ABANDON_QUARANTINE_S
    skip_delay_s: float = 3600.0  # a preview the operator skipped comes back after this

    def __post_init__(self) -> None:
        if self.max_attempts_per_contact < 1:
            raise DialerError("strategy: max_attempts_per_contact must be at least 1")
        if len(set(self.number_order)) != len(self.number_order) or not self.number_order:
            raise DialerError("strategy: number_order must list number types once each")
        for outcome, delay in self.retry_delays.items():
            if delay < 0:
                raise DialerError(f"strategy: retry delay for {outcome} must not be negative")
        missing = [t for t in self.number_order if t not in self.windows]
        if missing:
            raise DialerError(f"strategy: no call window for number type {missing[0]}")

    def delay_after(self, outcome: Outcome) -> float:
        return self.retry_delays.get(outcome, _DEFAULT_DELAYS.get(outcome, 3600.0))

    def type_limit(self, number_type: NumberType) -> int:
        return self.max_attempts_per_type.get(number_type, self.max_attempts_per_contact)

    def calendar(self, number_type: NumberType) -> Calendar:
        cal = self.windows[number_type]
        if self.holidays:
            return Calendar(cal.windows, cal.holidays | self.holidays)
        return cal


@dataclass
class ContactState:
    """Progress of one contact in one campaign."""

    contact: Contact
    status: ContactStatus = ContactStatus.PENDING
    due: float = 0.0  # monotonic time it may next be dialled
    attempts: int = 0  # attempts that count towards the limits (callbacks do not)
    attempts_by_type: dict[NumberType, int] = field(default_factory=dict)
    attempts_by_number: dict[str, int] = field(default_factory=dict)
    dead_numbers: set[str] = field(default_factory=set)
    abandoned_at: dict[str, float] = field(default_factory=dict)
    callback: bool = False  # a callback the customer asked for is pending
    callback_agent: str | None = None
    needs_reservation: bool = False  # in the reserved heap
    close_reason: CloseReason | None = None
    last_outcome: Outcome | None = None
    version: int = 0  # heap entries with an older version are stale


@dataclass(frozen=True, slots=True)
class Pick:
    """A contact and number chosen for dialling; ``reserved`` says an operator must be first."""

    state: ContactState
    number: PhoneNumber
    reserved: bool
    callback: bool


WallAt = Callable[[float], datetime]


class ContactBook:
    """The contacts of one campaign and the logic that picks the next one to dial."""

    def __init__(self, strategy: Strategy, dnc_lists: Iterable[DncList]) -> None:
        self.strategy = strategy
        self.dnc_lists = list(dnc_lists)
        self.states: dict[str, ContactState] = {}
        self._ready: list[tuple[float, int, int, str]] = []
        self._reserved: list[tuple[float, int, int, str]] = []
        self._seq = itertools.count()
        self._order = {t: i for i, t in enumerate(strategy.number_order)}
        self.closed_count = 0
        self.closures: list[tuple[str, CloseReason]] = []  # drained by the dialer as notices

    # --- loading and inspection ------------------------------------------------------------

    def add(self, contacts: Iterable[Contact], now: float) -> int:
        """Add contacts due at ``now``; raises DialerError on a contact id already present."""
        added = 0
        for contact in contacts:
            if contact.id in self.states:
                raise DialerError(f"contact {contact.id!r} is already in this campaign")
            state = ContactState(contact, due=now)
            self.states[contact.id] = state
            self._push(state)
            added += 1
        return added

    def set_strategy(self, strategy: Strategy) -> None:
        """Changed settings apply from the next pick on."""
        self.strategy = strategy
        self._order = {t: i for i, t in enumerate(strategy.number_order)}

    def restore(self, state: ContactState, *, in_call: bool = False) -> None:
        """Take a contact back as the store kept it (a restart): waiting, due at
        ``state.due``, with its attempts counted; a closed one stays closed; one ``in_call``
        (its conversation carried over from another node) stays in progress."""
        if state.contact.id in self.states:
            raise DialerError(f"contact {state.contact.id!r} is already in this campaign")
        self.states[state.contact.id] = state
        if state.status is ContactStatus.DONE:
            self.closed_count += 1
            return
        if in_call:
            state.status = ContactStatus.IN_PROGRESS
            return
        state.status = ContactStatus.PENDING  # an attempt cut short by the restart is over
        self._push(state)

    def pick_contact(self, contact_id: str, now: float, wall_at: WallAt) -> Pick | None:
        """This waiting contact and a number to dial at ``now``, marked in progress (a task
        to dial at once); None, filed again for later, when no number may be called now."""
        state = self.states.get(contact_id)
        if state is None or state.status is not ContactStatus.PENDING:
            return None
        state.version += 1  # its queue entry is stale from here on
        chosen = self._choose_number(state, now, wall_at, reserved=True)
        if chosen is None:  # filed again for when a window opens, or closed
            return None
        state.status = ContactStatus.IN_PROGRESS
        state.version += 1
        return Pick(state, chosen, False, state.callback)

    def __len__(self) -> int:
        return len(self.states)

    def open_count(self) -> int:
        """Contacts not yet closed (waiting or in progress)."""
        return len(self.states) - self.closed_count

    def pending_count(self) -> int:
        return sum(1 for s in self.states.values() if s.status is ContactStatus.PENDING)

    def in_progress(self) -> Iterator[ContactState]:
        return (s for s in self.states.values() if s.status is ContactStatus.IN_PROGRESS)

    def is_dnc(self, e164: str) -> bool:
        return any(e164 in dnc for dnc in self.dnc_lists)

    def next_due(self) -> float | None:
        """The earliest time a waiting contact becomes due (for the shell's wake-up timer)."""
        times = [h[0][0] for h in (self._ready, self._reserved) if h]
        return min(times) if times else None

    def reserved_waiting(self, now: float) -> bool:
        return bool(self._reserved) and self._reserved[0][0] <= now

    # --- picking -------------------------------------------------------------------------------

    def pick(self, now: float, wall_at: WallAt, *, reserved: bool,
             agent: str | None = None, only_reserved: bool = False) -> Pick | None:
        """The next contact and number to dial at ``now``, marked in progress; None if none.

        With ``reserved`` an operator is held for the call, so the reserved heap (callbacks,
        abandoned numbers) is served first; without it only the ready heap is used and a
        contact that needs an operator is moved to the reserved heap.
        """
        if reserved:
            found = self._pick_from(self._reserved, now, wall_at, reserved=True, agent=agent)
            if found is not None or only_reserved:
                return found
        return self._pick_from(self._ready, now, wall_at, reserved=reserved, agent=agent)

    def _pick_from(self, heap: list[tuple[float, int, int, str]], now: float, wall_at: WallAt,
                   *, reserved: bool, agent: str | None) -> Pick | None:
        skipped: list[tuple[float, int, int, str]] = []
        try:
            while heap and heap[0][0] <= now:
                entry = heapq.heappop(heap)
                state = self.states[entry[3]]
                if state.version != entry[2] or state.status is not ContactStatus.PENDING:
                    continue  # stale entry
                if (state.callback_agent is not None and agent is not None
                        and state.callback_agent != agent and entry[0] + 600 > now):
                    skipped.append(entry)  # kept ten minutes for the operator who promised it
                    continue
                chosen = self._choose_number(state, now, wall_at, reserved=reserved)
                if chosen is not None:
                    state.status = ContactStatus.IN_PROGRESS
                    state.version += 1
                    return Pick(state, chosen, reserved, state.callback)
        finally:
            for entry in skipped:
                heapq.heappush(heap, entry)
        return None

    def _choose_number(self, state: ContactState, now: float, wall_at: WallAt, *,
                       reserved: bool) -> PhoneNumber | None:
        """Choose a number callable now, or re-file/close the contact and return None."""
        strategy = self.strategy
        if state.attempts >= strategy.max_attempts_per_contact and not state.callback:
            self._close(state, CloseReason.ATTEMPTS_EXHAUSTED)
            return None
        utc = wall_at(now)
        live: list[PhoneNumber] = []
        for number in state.contact.numbers:
            if number.e164 in state.dead_numbers or number.type not in self._order:
                continue
            if self.is_dnc(number.e164):
                state.dead_numbers.add(number.e164)
                continue
            if (state.attempts_by_type.get(number.type, 0) >= strategy.type_limit(number.type)
                    and not state.callback):
                continue
            live.append(number)
        if not live:
            exhausted = any(n.e164 not in state.dead_numbers for n in state.contact.numbers)
            self._close(state, CloseReason.ATTEMPTS_EXHAUSTED if exhausted
                        else CloseReason.NO_VALID_NUMBER)
            return None
        live.sort(key=lambda n: (state.attempts_by_number.get(n.e164, 0), self._order[n.type]))
        earliest: datetime | None = None
        needs_operator = False
        for number in live:
            calendar = strategy.calendar(number.type)
            if calendar.open_in_all(utc, number.time_zones):
                quarantined = (now - state.abandoned_at.get(number.e164, -1e18)
                               < strategy.abandon_quarantine_s)
                if reserved or not (quarantined or state.callback):
                    return number
                needs_operator = True
                continue
            opens = calendar.next_open_in_all(utc, number.time_zones)
            if opens is not None and (earliest is None or opens < earliest):
                earliest = opens
        if needs_operator:
            state.needs_reservation = True
            self._refile(state, now)
            return None
        if earliest is None:
            self._close(state, CloseReason.NO_CALL_WINDOW)
            return None
        self._refile(state, now + max(1.0, (earliest - utc).total_seconds()))
        return None

    # --- outcomes ------------------------------------------------------------------------------

    def dialled(self, state: ContactState, number: PhoneNumber, *, callback: bool) -> None:
        """Count an attempt on ``number`` (callbacks the customer asked for do not count)."""
        state.attempts_by_number[number.e164] = state.attempts_by_number.get(number.e164, 0) + 1
        if not callback:
            state.attempts += 1
            state.attempts_by_type[number.type] = state.attempts_by_type.get(number.type, 0) + 1
        state.callback = False
        state.callback_agent = None
        state.needs_reservation = False

    def release(self, state: ContactState, now: float, delay: float = 0.0, *,
                needs_reservation: bool = False) -> None:
        """Put an in-progress contact back to wait (a skipped preview, a cancelled dial)."""
        state.status = ContactStatus.PENDING
        state.needs_reservation = needs_reservation or state.needs_reservation
        self._refile(state, now + delay)

    def outcome(self, state: ContactState, number: PhoneNumber, outcome: Outcome,
                now: float) -> None:
        """Apply an attempt's outcome. A HUMAN answer keeps the contact in progress until the
        operator's disposition; every other outcome files it for its next attempt."""
        state.last_outcome = outcome
        if outcome is Outcome.HUMAN:
            return
        if outcome is Outcome.INVALID:
            self._drop_number(state, number, now)
            return
        if outcome is Outcome.ABANDONED:
            state.abandoned_at[number.e164] = now
            state.needs_reservation = True
        state.status = ContactStatus.PENDING
        self._refile(state, now + self.strategy.delay_after(outcome))

    def disposition(self, state: ContactState, number: PhoneNumber, disposition: Disposition,
                    now: float, *, callback_due: float | None = None,
                    agent: str | None = None, dnc: DncList | None = None) -> None:
        """Apply the operator's disposition after a live conversation."""
        if disposition is Disposition.SUCCESS:
            self._close(state, CloseReason.SUCCESS)
        elif disposition is Disposition.NOT_INTERESTED:
            self._close(state, CloseReason.NOT_INTERESTED)
        elif disposition is Disposition.DO_NOT_CALL:
            if dnc is not None:
                for n in state.contact.numbers:
                    dnc.add(n.e164)
            self._close(state, CloseReason.DO_NOT_CALL)
        elif disposition is Disposition.WRONG_NUMBER:
            self._drop_number(state, number, now)
        elif disposition is Disposition.CALLBACK:
            if callback_due is None:
                raise DialerError("a callback disposition needs the time to call back")
            state.callback = True
            state.callback_agent = agent
            state.needs_reservation = True
            state.status = ContactStatus.PENDING
            self._refile(state, max(now, callback_due))
        else:  # MACHINE heard by the operator
            self.outcome(state, number, Outcome.MACHINE, now)

    def cancel(self, contact_id: str, reason: CloseReason = CloseReason.CANCELLED) -> bool:
        """Close a waiting contact (its task was withdrawn, or the customer called in);
        False if it is being dialled or already closed."""
        state = self.states.get(contact_id)
        if state is None or state.status is not ContactStatus.PENDING:
            return False
        self._close(state, reason)
        return True

    def stop(self) -> None:
        """Close every contact that is not in progress (a stopped campaign)."""
        for state in self.states.values():
            if state.status is ContactStatus.PENDING:
                self._close(state, CloseReason.CAMPAIGN_STOPPED)

    def audit(self) -> list[str]:
        """Every contact in exactly one place: a waiting contact has exactly one live queue
        entry, any other none. Returns the problems found (empty when sound)."""
        live: dict[str, int] = {}
        for heap in (self._ready, self._reserved):
            for entry in heap:
                if self.states[entry[3]].version == entry[2]:
                    live[entry[3]] = live.get(entry[3], 0) + 1
        problems = []
        for contact_id, state in self.states.items():
            count = live.get(contact_id, 0)
            expected = 1 if state.status is ContactStatus.PENDING else 0
            if count != expected:
                problems.append(f"contact {contact_id}: {state.status} with {count} queue "
                                "entries")
        return problems

    # --- internals -----------------------------------------------------------------------------

    def _drop_number(self, state: ContactState, number: PhoneNumber, now: float) -> None:
        """Never dial ``number`` again; close the contact at once if it has no other."""
        state.dead_numbers.add(number.e164)
        if all(n.e164 in state.dead_numbers for n in state.contact.numbers):
            self._close(state, CloseReason.NO_VALID_NUMBER)
            return
        state.status = ContactStatus.PENDING
        self._refile(state, now)

    def _refile(self, state: ContactState, due: float) -> None:
        state.due = due
        state.version += 1
        self._push(state)

    def _push(self, state: ContactState) -> None:
        heap = self._reserved if state.needs_reservation else self._ready
        heapq.heappush(heap, (state.due, next(self._seq), state.version, state.contact.id))

    def _close(self, state: ContactState, reason: CloseReason) -> None:
        state.status = ContactStatus.DONE
        state.close_reason = reason
        state.version += 1
        self.closed_count += 1
        self.closures.append((state.contact.id, reason))
