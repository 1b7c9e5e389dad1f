"""The web layer's live seams (:mod:`parley.web.live`) over a running contact center.

:class:`LiveCalls` answers click-to-call, hang-up, transfer and the list of live calls from
the node's telephony and contact center; :class:`LiveCenter` applies operators' state
requests to the ACD and reads live queue figures from it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING

from parley import events as ev
from parley.acd.agent import AcdError, AgentState
from parley.center.calls import InboundCall
from parley.telephony.channel import Bridge, Channel
from parley.telephony.dialplan import first_of
from parley.telephony.engine import OriginateError
from parley.web.live import (
    LiveCall,
    LiveCallNotFound,
    OperationRefused,
    OperatorEvent,
    QueueFigures,
)

if TYPE_CHECKING:
    from parley.center.shell import ContactCenter

CLICK_TO_CALL_RING_S = 30.0


class LiveCalls:
    """Click-to-call, hang-up, transfer and live calls (``parley.web.live.CallControl``)."""

    def __init__(self, center: ContactCenter) -> None:
        self.center = center
        self.telephony = center.telephony
        self._started: dict[str, datetime] = {}  # channel id -> when it appeared
        self._answered: dict[str, datetime] = {}
        self.telephony.subscribe(self._note)

    def _note(self, event: object) -> None:
        if isinstance(event, ev.ChannelCreated):
            self._started[event.channel_id] = self.center.wall()
        elif isinstance(event, ev.Answered):
            self._answered.setdefault(event.channel_id, self.center.wall())
        elif isinstance(event, ev.Hangup):
            self._started.pop(event.channel_id, None)
            self._answered.pop(event.channel_id, None)

    def _groups(self) -> dict[str, list[Channel]]:
        groups: dict[str, list[Channel]] = defaultdict(list)
        for channel in self.telephony.channels():
            if not channel.ended:
                groups[channel.interaction_id or channel.id].append(channel)
        return groups

    def live_calls(self) -> list[LiveCall]:
        calls: list[LiveCall] = []
        for interaction, legs in sorted(self._groups().items()):
            first = legs[0]
            handled: InboundCall | None = self.center.live.get(interaction)
            started = min(self._started.get(leg.id, self.center.wall()) for leg in legs)
            answered = [self._answered[leg.id] for leg in legs[1:] if leg.id in self._answered]
            operator = handled.operator or None if handled is not None else (
                legs[1].called if len(legs) > 1 else None)
            state = "talking" if len(legs) > 1 and all(leg.is_up for leg in legs) else (
                "queued" if handled is not None and handled.queue and handled.operator_leg
                is None else str(first.state))
            calls.append(LiveCall(
                id=interaction, direction=str(first.direction), caller=first.caller,
                called=first.called, state=state, started_at=started,
                queue=(handled.queue or None) if handled is not None else None,
                operator=operator,
                answered_at=(handled.answered_at if handled is not None
                             else (min(answered) if answered else None))))
        return calls

    async def hang_up(self, call_id: str, *, requested_by: str) -> None:
        legs = self._groups().get(call_id)
        if not legs:
            raise LiveCallNotFound(f"no live call {call_id!r}")
        for leg in legs:
            leg.hangup(ev.HangupCause.NORMAL_CLEARING)

    async def transfer(self, call_id: str, *, target: str, requested_by: str) -> None:
        call = self.center.live.get(call_id)
        if call is None:
            if call_id in self._groups():
                raise OperationRefused(f"call {call_id!r} is not a contact-center call; only "
                                       "queued or flow calls can be transferred")
            raise LiveCallNotFound(f"no live call {call_id!r}")
        if self.center.target_step(target) is None:
            raise OperationRefused(f"target: {target!r} is no queue, flow number, operator "
                                   "or extension")
        if not self.center.transfer(call, target, by=requested_by):
            raise OperationRefused(f"call {call_id!r} is not in a conversation with an "
                                   "operator")

    async def originate(self, *, device: str, number: str, caller_id: str | None,
                        requested_by: str) -> LiveCall:
        """Ring the operator's ``device``; when they answer, call ``number`` and connect."""
        endpoint = self.center.dialable(number)
        if endpoint is None:
            raise OperationRefused(f"number: {number!r} cannot be reached (no extension of "
                                   "this site, and no trunk to outside numbers)")
        interaction = f"ctc-{secrets.token_hex(6)}"
        try:
            first = self.telephony.originate(
                device, caller_id=number, timeout=CLICK_TO_CALL_RING_S,
                variables={"click_to_call": requested_by}, interaction_id=interaction,
                headers={"X-Parley-Interaction": interaction, "X-Parley-Dialling": number})
        except (OriginateError, ValueError) as exc:
            raise OperationRefused(f"device: {device!r} cannot be called now ({exc})") \
                from exc
        self.center.spawn(self._connect(first, endpoint, caller_id or device, interaction),
                          f"click-to-call-{interaction}")
        return LiveCall(id=interaction, direction="outbound", caller=device, called=number,
                        state=str(first.state), started_at=self.center.wall(),
                        operator=requested_by)

    async def _connect(self, first: Channel, endpoint: str, caller_id: str,
                       interaction: str) -> None:
        if not await first.wait_answered():
            return
        try:
            second = self.telephony.originate(endpoint, caller_id=caller_id,
                                              timeout=CLICK_TO_CALL_RING_S,
                                              interaction_id=interaction)
        except (OriginateError, ValueError):
            first.hangup()
            return
        await first_of(second.wait_answered(), first.wait_ended())
        if first.ended or not second.is_up:
            second.hangup()
            first.hangup()
            return
        bridge: Bridge = self.telephony.bridge(first, second)
        await first_of(first.wait_ended(), second.wait_ended())
        bridge.destroy()
        first.hangup()
        second.hangup()
        await asyncio.sleep(0)


class LiveCenter:
    """Operator state requests and live queue figures (``parley.web.live.ContactCenter``)."""

    def __init__(self, center: ContactCenter) -> None:
        self.center = center

    async def operator_event(self, event: OperatorEvent) -> None:
        acd = self.center.acd
        agent = acd.agents.get(event.agent_id)
        if agent is None:
            raise OperationRefused(f"{event.agent_id!r} is not an operator of any queue "
                                   "(a user with the agent role)")
        if isinstance(event, ev.AgentLogin) and agent.state is not AgentState.LOGGED_OUT:
            return  # logging in twice changes nothing
        if isinstance(event, ev.AgentLogout) and agent.state is AgentState.LOGGED_OUT:
            return
        if isinstance(event, ev.AgentReady | ev.AgentNotReady) \
                and agent.state is AgentState.LOGGED_OUT:
            raise OperationRefused(f"operator {event.agent_id!r} is not logged in")
        try:
            self.center.feed(event, raise_errors=True)
        except AcdError as exc:
            raise OperationRefused(str(exc)) from exc

    def queue_figures(self) -> list[QueueFigures]:
        acd = self.center.acd
        now = self.center.clock.monotonic()
        figures: list[QueueFigures] = []
        for name in sorted(acd.queues):
            snapshot = acd.queue_snapshot(name, now)
            runtime = acd.queues[name]
            busy = sum(1 for agent_id in runtime.members
                       if acd.agents[agent_id].state in (
                           AgentState.RESERVED, AgentState.RINGING, AgentState.ON_CALL,
                           AgentState.ON_HOLD, AgentState.WRAP_UP))
            answered_or_abandoned = snapshot.answered + snapshot.abandoned
            figures.append(QueueFigures(
                queue=name, waiting=snapshot.waiting,
                longest_wait_s=round(snapshot.longest_wait, 1),
                expected_wait_s=round(acd.expected_wait_on_arrival(name, now), 1),
                operators_logged_in=snapshot.logged_in, operators_ready=snapshot.ready,
                operators_busy=busy, offered=snapshot.offered, answered=snapshot.answered,
                abandoned=snapshot.abandoned,
                service_level=snapshot.service_level if answered_or_abandoned else None))
        return figures
