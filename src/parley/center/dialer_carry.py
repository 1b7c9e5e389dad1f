"""Campaign conversations carried over to a hot standby (docs/deployment.md, "Hot standby").

When the active node fails while an operator talks to a customer a campaign dialled, the
call itself goes on on the node taking over (:mod:`parley.telephony.carry`). What the
dialer knew goes with it, kept beside the call (:meth:`CampaignCarry.details`): the attempt
as stored so far, its number, caller ID, operator and device, when they were connected, the
contact's card and the recording. The node taking over (:meth:`CampaignCarry.resume`):

- puts the operator on that outbound call in its ACD at once (``OutboundCarried``: offered
  no inbound call, never reserved by the dialer), and goes on recording;
- once its dialer has loaded the campaign, restores the contact in its call instead of as
  waiting (it is not dialled again) with the attempt connected and the operator talking
  (:meth:`parley.dialer.engine.Dialer.restore_contacts`);
- at the hang-up closes the attempt's row (end, talk time) and takes the operator's
  disposition from the wrap-up, or closes the contact as a success when the wrap-up ends
  without one, as for any campaign conversation.

A conversation the dialer cannot take back (its campaign or contact gone, its number no
longer the contact's) goes on all the same; its attempt's row is closed at the hang-up.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from parley import events as ev
from parley.acd.agent import AcdError
from parley.center.calls import InboundCall
from parley.center.dialer_calls import LiveAttempt, talk_to_the_end
from parley.center.ports import AttemptFacts
from parley.dialer.model import CarriedConversation
from parley.telephony.carry import CarryError

if TYPE_CHECKING:
    from parley.center.dialer_shell import DialerShell
    from parley.telephony.channel import Bridge, Channel

log = structlog.get_logger("parley.center.dialer")

#: the ``kind`` of a kept call's details that are a campaign conversation's
CAMPAIGN = "campaign"
_TIMES = ("started_at", "answered_at", "ended_at")


def facts_state(facts: AttemptFacts) -> dict[str, Any]:
    """An attempt's facts as JSON values (times in ISO 8601)."""
    state = dataclasses.asdict(facts)
    for name in _TIMES:
        if state[name] is not None:
            state[name] = state[name].isoformat()
    return state


def facts_from(state: Mapping[str, Any]) -> AttemptFacts:
    """:func:`facts_state` read back; KeyError, TypeError or ValueError when it is not."""
    values = dict(state)
    for name in _TIMES:
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(str(values[name]))
    return AttemptFacts(**values)


@dataclass(eq=False)
class _Carried:
    """A campaign conversation carried over, from :meth:`CampaignCarry.resume` to its end."""

    details: dict[str, Any]  # as kept, for the next node should this one fail too
    command: ev.Dial
    facts: AttemptFacts
    call: InboundCall
    customer: Channel
    operator_leg: Channel
    talk_from: float  # monotonic, when the operator was connected
    live: LiveAttempt | None = None  # the dialer's, once it took the conversation back
    offered: bool = False  # handed to the dialer's load of its campaign


class CampaignCarry:
    """The campaign side of carrying calls over, for :class:`DialerShell` (see the module
    docstring)."""

    def __init__(self, shell: DialerShell) -> None:
        self.shell = shell
        self._carried: dict[str, _Carried] = {}  # by attempt

    def keeps(self, attempt_id: str) -> bool:
        """Whether the attempt's conversation was carried over and goes on here."""
        return attempt_id in self._carried

    def details(self, bridge: Bridge) -> dict[str, Any] | None:
        """What another node needs to go on with the campaign conversation in ``bridge``;
        None for a bridge that is not an operator talking to a customer a campaign
        dialled (``CallKeeper.call_details``)."""
        acd = self.shell.acd
        call = acd.conversations.get(bridge.id)
        if call is None or call.bridge is not bridge or call.caller is None \
                or call.operator_leg is None or not call.operator:
            return None
        carried = self._carried.get(call.acd_id)
        if carried is not None:
            facts = carried.live.facts if carried.live is not None else carried.facts
            return {**carried.details, "attempt": facts_state(facts),
                    "customer_leg": call.caller.id, "operator_leg": call.operator_leg.id,
                    "recording": acd.recording_details(call)}
        live = self.shell.calls.attempts.get(call.acd_id)
        work = acd.acd.outbound.get(call.operator)
        agent = acd.acd.agents.get(call.operator)
        if live is None or live.call is not call or live.talk_from is None or agent is None \
                or work is None or not work.connected or work.call_id != call.acd_id:
            return None
        command = live.command
        connected_at = self.shell.wall_at(live.talk_from)
        return {"kind": CAMPAIGN, "attempt": facts_state(live.facts),
                "caller_id": command.caller_id, "ring_timeout_s": command.ring_timeout_s,
                "detect_machine": command.detect_machine, "operator": call.operator,
                "device": agent.device, "wrap_up_s": work.wrap_up_s,
                "connected_at": connected_at.isoformat(), "queue": call.queue,
                "customer_leg": call.caller.id, "operator_leg": call.operator_leg.id,
                "card": json.loads(json.dumps(call.variables, default=str)),
                "recording": acd.recording_details(call)}

    def resume(self, bridge: Bridge, first: Channel, second: Channel,
               details: Mapping[str, Any], node: str) -> Awaitable[None]:
        """A campaign conversation connected on ``node`` before the takeover (the call in
        ``bridge``, carried over; ``details`` as :meth:`details` kept them): the operator
        is on it in the ACD here at once, the dialer takes the attempt back when it loads
        the campaign. Returns the coroutine that follows the call. Raises
        :class:`CarryError`, ValueError, KeyError or TypeError when it cannot."""
        shell, acd = self.shell, self.shell.acd
        legs = {first.id: first, second.id: second}
        customer, leg = legs[str(details["customer_leg"])], legs[str(details["operator_leg"])]
        if customer is leg:
            raise CarryError("the customer's leg is the operator's")
        attempt = details["attempt"]
        card = details["card"]
        if not isinstance(attempt, Mapping) or not isinstance(card, Mapping):
            raise TypeError("the attempt or the card is not a mapping")
        facts = facts_from(attempt)
        attempt_id = facts.attempt_id
        if attempt_id in self._carried or attempt_id in shell.calls.attempts \
                or attempt_id in acd.live:
            raise CarryError(f"attempt {attempt_id} is already here")
        operator, device = str(details["operator"]), str(details["device"])
        wrap = details.get("wrap_up_s")
        connected_at = datetime.fromisoformat(str(details["connected_at"]))
        talked = max(0.0, (shell.clock.utcnow() - connected_at).total_seconds())
        command = ev.Dial(attempt_id, facts.campaign, facts.contact_id, facts.number,
                          facts.number_type, str(details["caller_id"]), operator,
                          float(details["ring_timeout_s"]), bool(details["detect_machine"]))
        call = InboundCall(attempt_id, attempt_id, facts.number, command.caller_id, customer,
                           connected_at, variables=dict(card), queue=str(details["queue"]))
        try:
            acd.feed(ev.OutboundCarried(operator, device, attempt_id, facts.campaign,
                                        wrap_up_s=None if wrap is None else float(wrap),
                                        talked=talked), raise_errors=True)
        except AcdError as exc:
            raise CarryError(str(exc)) from exc
        call.operator, call.operator_leg, call.bridge = operator, leg, bridge
        call.answered_at = connected_at
        acd.conversations[bridge.id] = call
        kept = {key: value for key, value in details.items() if key != "recording"}
        carried = _Carried(kept, command, facts, call, customer, leg,
                           shell.clock.monotonic() - talked)
        self._carried[attempt_id] = carried
        recorded = details.get("recording")
        if isinstance(recorded, Mapping):  # recorded there: the recording goes on here
            shell.center.record_carried(call, bridge, recorded)
        log.info("campaign_conversation_carried_over", attempt=attempt_id,
                 campaign=facts.campaign, contact=facts.contact_id, operator=operator,
                 from_node=node,
                 recording=call.recording.id if call.recording is not None else None)
        return self._follow(carried)

    def talking(self, campaign: str) -> list[CarriedConversation]:
        """The carried conversations of ``campaign`` its dialer has not taken back yet, as
        the dialer core restores them (:meth:`taken_back` follows the restore)."""
        agents = self.shell.acd.acd.agents
        found = []
        for carried in self._carried.values():
            if carried.command.campaign_id != campaign or carried.offered:
                continue
            carried.offered = True
            operator = carried.call.operator
            agent = agents.get(operator)
            found.append(CarriedConversation(
                carried.command.attempt_id, carried.command.contact_id, carried.facts.number,
                operator, agent.team if agent is not None else "",
                max(0.0, self.shell.clock.monotonic() - carried.talk_from)))
        return found

    def taken_back(self, conversations: list[CarriedConversation]) -> None:
        """After the dialer core restored ``conversations``: each it took back becomes the
        dialer's live attempt (its disposition expected from its operator)."""
        shell = self.shell
        for conversation in conversations:
            carried = self._carried.get(conversation.attempt_id)
            if carried is None:
                continue
            campaign = carried.command.campaign_id
            where, operator = shell.dialer.engagement(campaign, conversation.contact_id)
            stored = shell.campaigns.get(campaign)
            if (where, operator) != ("talking", conversation.agent_id) or stored is None:
                log.warning("carried_attempt_not_taken_back", attempt=conversation.attempt_id,
                            campaign=campaign, contact=conversation.contact_id,
                            contact_is=where)
                continue
            contact = shell.dialer.book(campaign).states[conversation.contact_id].contact
            fields = dict(contact.attributes)
            fields.setdefault("number", carried.command.number)
            live = LiveAttempt(carried.command, stored, carried.facts, fields,
                               leg=carried.customer, call=carried.call,
                               talk_from=carried.talk_from)
            carried.live = live
            shell.calls.attempts[live.attempt_id] = live
            shell.awaiting_disposition(conversation.agent_id, live)

    async def _follow(self, carried: _Carried) -> None:
        """The carried conversation to its end: as the dialer's own (``OutboundCalls``)."""
        shell, acd = self.shell, self.shell.acd
        call, customer, leg = carried.call, carried.customer, carried.operator_leg
        operator = call.operator
        acd.live[call.interaction_id] = call
        try:
            await talk_to_the_end(acd, call, customer, leg, operator)
            await shell.wait_loaded()
            ended_at, talk_s = shell.clock.utcnow(), round(
                shell.clock.monotonic() - carried.talk_from, 3)
            live = carried.live
            if live is None:  # not the dialer's: the row is closed all the same
                shell.save_attempt(dataclasses.replace(
                    carried.facts, ended_at=ended_at, talk_s=talk_s, operator=operator))
                return
            shell.calls.update(live, ended_at=ended_at, talk_s=talk_s, operator=operator)
            shell.attempt_ended(live)
        finally:
            acd.live.pop(call.interaction_id, None)
            self._carried.pop(call.acd_id, None)
            shell.calls.attempts.pop(call.acd_id, None)
