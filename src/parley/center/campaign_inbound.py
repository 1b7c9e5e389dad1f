"""Inbound calls meet the dialer's campaigns.

Two things a customer does reach the campaigns (docs/dialer.md, "Customers who call in"):

- a customer with an open task calls any of the site's numbers: the call carries the task's
  fields, the campaign and its dialog script into the interaction (the operator's card and the
  desk's script), and once an operator answers, the task closes with the reason
  ``answered_inbound`` (the outside system tells it from its own cancel, ``cancelled``). The
  campaign setting ``match_inbound: false`` leaves its tasks out of this;
- a customer calls back a campaign's caller ID: with no inbound number configured for it, the
  call waits in the campaign's queue with its script (and the task's card when the caller has
  one); a number the admin bound to a flow runs that flow, the campaign data attached.

A contact being dialled at that moment is not closed (its attempt decides); nothing here
changes a call to a number that is no campaign's caller ID and has no flow.

:func:`match_call` is the rule, pure; :class:`CampaignInbound` applies it to live calls for
the contact center, with the dialer shell and the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from parley import events as ev
from parley.center.calls import InboundCall, Step, ToQueue
from parley.center.ports import AttemptFacts, CampaignStore, CampaignTask, StoredCampaign
from parley.dialer.model import CloseReason
from parley.numbering import to_e164

if TYPE_CHECKING:
    from parley.center.dialer_shell import DialerShell
    from parley.ids import IdSource

log = structlog.get_logger("parley.center.campaigns")

INBOUND_OUTCOME = CloseReason.ANSWERED_INBOUND.value
"""The outcome of the attempt row an inbound call of a task's customer leaves."""


@dataclass(frozen=True, slots=True)
class InboundMatch:
    """What an inbound call is to the campaigns: ``campaign``'s call, with the caller's open
    task of it (None: no task) and whether the campaign's caller ID was dialled."""

    campaign: StoredCampaign
    task: CampaignTask | None
    called_back: bool

    def data(self) -> dict[str, Any]:
        """The attached data: the task's fields, the campaign, its script and the contact."""
        data: dict[str, Any] = {}
        if self.task is not None:
            data.update(self.task.progress.contact.attributes)
            data["contact_id"] = self.task.progress.contact.id
        data["campaign"] = self.campaign.config.campaign_id
        if self.campaign.script:
            data["script"] = self.campaign.script
        return data


def caller_id_of(campaign: StoredCampaign) -> str:
    """The campaign's caller ID in E.164 (as written when it is no phone number)."""
    config = campaign.config
    return to_e164(config.caller_id, config.default_region) or config.caller_id


def caller_ids(campaigns: Mapping[str, StoredCampaign]) -> dict[str, tuple[str, ...]]:
    """Each caller ID in E.164 and the campaigns (by name) that call with it."""
    out: dict[str, tuple[str, ...]] = {}
    for name in sorted(campaigns):
        number = caller_id_of(campaigns[name])
        if number:
            out[number] = (*out.get(number, ()), name)
    return out


def match_call(called: str, tasks: Sequence[CampaignTask],
               campaigns: Mapping[str, StoredCampaign],
               numbers: Mapping[str, tuple[str, ...]]) -> InboundMatch | None:
    """The campaign a call to ``called`` from a caller with open ``tasks`` (latest first)
    belongs to, or None.

    A call to a campaign's caller ID is that campaign's, with the caller's task of it when
    there is one (campaigns sharing the caller ID: the one the caller has a task in, else
    the first by name). Any other call is the campaign of the caller's latest task. Tasks of
    campaigns with ``match_inbound`` off, or unknown here, are not matched."""
    usable = [task for task in tasks
              if task.campaign in campaigns and campaigns[task.campaign].match_inbound]
    dialled = [name for name in numbers.get(called, ()) if name in campaigns]
    if dialled:
        for task in usable:
            if task.campaign in dialled:
                return InboundMatch(campaigns[task.campaign], task, called_back=True)
        return InboundMatch(campaigns[dialled[0]], None, called_back=True)
    if usable:
        return InboundMatch(campaigns[usable[0].campaign], usable[0], called_back=False)
    return None


class CampaignInbound:
    """The contact center's view of the campaigns for inbound calls (see the module
    docstring): :meth:`arriving` is its ``on_arrival`` hook."""

    def __init__(self, dialer: DialerShell, store: CampaignStore, ids: IdSource) -> None:
        self.dialer = dialer
        self.store = store
        self.ids = ids
        self.numbers: dict[str, tuple[str, ...]] = {}
        dialer.on_reload.append(self.campaigns_loaded)

    def campaigns_loaded(self) -> None:
        """Bind the caller IDs of campaigns with a queue, so that calls back reach them."""
        self.numbers = caller_ids(self.dialer.campaigns)
        routed = frozenset(number for number, names in self.numbers.items()
                           if number.startswith("+") and any(
                               self.dialer.campaigns[name].queue for name in names))
        self.dialer.acd.bind_campaign_numbers(routed)

    async def arriving(self, call: InboundCall, step: Step | None) -> Step | None:
        """Attach the campaign data to a new inbound call and say where it goes: ``step``
        (the number's flow) unless it is a call back to a caller ID with no flow, which
        goes to the campaign's queue. Errors leave the call as it was."""
        try:
            match = await self._match(call)
        except Exception:
            log.exception("campaign_match_failed", interaction=call.interaction_id)
            return step
        if match is None:
            return step
        data = match.data()
        call.variables.update(data)
        self.dialer.publish(ev.CallProgress(call.interaction_id, ev.DATA_ATTACHED, data))
        task = match.task
        if task is not None and task.progress.status == "pending":
            call.on_answered.append(
                lambda answered: self.dialer.spawn(self._answered(answered, task),
                                                   f"inbound-task-{call.interaction_id}"))
        if step is None and match.called_back and match.campaign.queue:
            return ToQueue(match.campaign.queue)
        return step

    async def _match(self, call: InboundCall) -> InboundMatch | None:
        campaigns = self.dialer.campaigns
        if not campaigns:
            return None
        tasks: list[CampaignTask] = []
        if call.ani.startswith("+"):  # a phone number, not an extension or "anonymous"
            tasks = await self.store.open_tasks_by_number(call.ani)
        return match_call(call.dnis, tasks, campaigns, self.numbers)

    async def _answered(self, call: InboundCall, task: CampaignTask) -> None:
        """An operator answered the task's customer: close the task (its attempt row is
        this call), and complete the row when the call ends."""
        contact = task.progress.contact
        kind = next((n.type.value for n in contact.numbers if n.e164 == call.ani), "")
        facts = AttemptFacts(
            self.ids.new("att"), task.campaign, contact.id, call.ani, kind, call.started_at,
            trunk=(call.caller.trunk or None) if call.caller is not None else None,
            call_id=call.interaction_id, answered_at=call.answered_at,
            outcome=INBOUND_OUTCOME, operator=call.operator or None)
        closed = await self.dialer.answered_inbound(task.campaign, contact.id, facts)
        self.dialer.publish(ev.CallProgress(
            call.interaction_id, "campaign task closed" if closed else "campaign task kept",
            {"campaign": task.campaign, "contact_id": contact.id,
             "reason": INBOUND_OUTCOME if closed else "being dialled or closed"}))
        if not closed or call.caller is None:
            return
        await call.caller.wait_ended()
        ended = self.dialer.clock.utcnow()
        talk = (ended - call.answered_at).total_seconds() if call.answered_at else None
        self.dialer.save_attempt(dataclasses.replace(
            facts, ended_at=ended, talk_s=None if talk is None else round(talk, 3)))
