"""Consulting from the desk: the operator puts the customer on hold, talks to someone, then
completes the transfer, makes it a three-way conference, or goes back to the customer.

The operator's phone keeps its one call throughout (any phone: the browser's or a desk
phone): Parley moves the operator's leg out of the customer's bridge (the customer hears
hold music) into a bridge with a new leg to the consulted party. Completing the transfer
hands the customer to that leg as an attended transfer by REFER does
(:class:`~parley.center.calls.AttendedTransfer`: same interaction, card and script answers);
a conference puts all three legs into the customer's bridge, which then mixes
(:class:`~parley.center.calls.Conference`, run by the call's coroutine in
:mod:`parley.center.shell`). Every step is told to both desks
(:class:`~parley.events.ConsultationChanged`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from parley import events as ev
from parley.center.calls import (
    AttendedTransfer,
    Conference,
    Consultation,
    InboundCall,
    ToOperator,
    ToOutside,
    ToQueue,
)
from parley.center.ports import InvalidRequest, OperationRefused
from parley.telephony.channel import BridgeError, Channel, ChannelError, until
from parley.telephony.engine import OriginateError

if TYPE_CHECKING:
    from parley.center.acd_shell import AcdShell
    from parley.center.shell import ContactCenter

log = structlog.get_logger("parley.center.consult")

CONSULT_RING_S = 30.0


def tell(shell: AcdShell, call: InboundCall, *, operator: str, party: str,
         state: str) -> None:
    """Tell the consulting operator's desk and the consulted person's desk (each its own
    notice) that the consultation is now ``state``, and put it on the call's timeline."""
    for agent in dict.fromkeys(name for name in (operator, party) if name):
        shell.publish(ev.ConsultationChanged(call.interaction_id, agent, operator, party,
                                             state, call.ani, shell.wall()))
    shell.progress(call, f"consultation {state}", {"by": operator, "with": party})


class Consultations:
    """Consult, complete, conference and cancel for the live-call API."""

    def __init__(self, center: ContactCenter) -> None:
        self.center = center
        self.shell = center.shell

    async def start(self, call: InboundCall, target: str, *, by: str) -> Consultation:
        """Ring ``target`` (an operator or user, a free operator of a queue, or an outside
        number) for the operator of ``call`` and put the customer on hold with music.
        Raises :class:`InvalidRequest` for a target that is none of these, and
        :class:`OperationRefused` when the call is not in a conversation or already in a
        consultation."""
        if call.consult is not None:
            raise OperationRefused(f"call {call.interaction_id!r} is already consulting "
                                   f"{call.consult.party!r}: complete, conference or cancel "
                                   "that first")
        caller, operator_leg = call.caller, call.operator_leg
        if caller is None or caller.ended or operator_leg is None or not operator_leg.is_up \
                or call.bridge is None or call.outcome is None or call.outcome.done():
            raise OperationRefused(f"call {call.interaction_id!r} is not in a conversation "
                                   "with an operator")
        step = self.center.target_step(target, by=by)
        interaction = self.center.ids.new("cons")
        headers = {**call.headers(), "X-Parley-Consult": by}
        if isinstance(step, ToQueue):
            party = self._free_operator(step.queue, besides=call.operator)
            if party is None:
                raise OperationRefused(f"target: no operator of queue {step.queue!r} is free "
                                       "to consult now (transfer the call to the queue "
                                       "instead)")
            step = ToOperator(party)
        if isinstance(step, ToOperator):
            party = step.user
            if party in (call.operator, by):
                raise InvalidRequest(f"target: {target!r} is the operator of this call")
            try:
                leg = self.center.telephony.originate(
                    self.center.device_of(party), caller_id=by, timeout=CONSULT_RING_S,
                    variables={"consulted_by": by}, headers=headers,
                    interaction_id=interaction)
            except (OriginateError, ValueError) as exc:
                raise OperationRefused(f"target: {party!r} cannot be called now ({exc})") \
                    from exc
        elif isinstance(step, ToOutside):
            party = step.number
            refused: list[str] = []
            found = await self.shell.call_customer(
                step.number, operator=by, interaction_id=interaction, caller_id=call.ani,
                queue=call.queue, ring_s=CONSULT_RING_S, variables={"consulted_by": by},
                on_refused=refused.append)
            if found is None:
                raise OperationRefused(f"target: {step.number!r} cannot be called now"
                                       + (f" ({refused[0]})" if refused else ""))
            leg = found
        else:
            raise InvalidRequest(f"target: {target!r} is no operator, user, queue or number "
                                 "that can be consulted (a flow cannot: transfer to it)")
        consult = Consultation(by, party, leg)
        call.consult = consult
        call.bridge.remove(operator_leg)  # the customer alone in the bridge: on hold
        self._hold(call)
        tell(self.shell, call, operator=by, party=party, state="ringing")
        self.shell.spawn(self._follow(call, consult), f"consult-{leg.id}")
        return consult

    def _free_operator(self, queue: str, *, besides: str) -> str | None:
        """The ready operator of ``queue`` who has waited longest (not ``besides``)."""
        runtime = self.shell.acd.queues.get(queue)
        if runtime is None:
            return None
        for agent_id in runtime.ready:
            if agent_id != besides:
                return agent_id
        return None

    def _hold(self, call: InboundCall) -> None:
        caller = call.caller
        if caller is not None and not caller.ended:
            policy = self.shell.policies.get(call.queue)
            caller.start_moh(policy.music if policy is not None else "default")

    def _consult_of(self, call: InboundCall, *states: str) -> Consultation:
        consult = call.consult
        if consult is None:
            raise OperationRefused(f"call {call.interaction_id!r} is in no consultation")
        if states and consult.state not in states:
            raise OperationRefused(f"the consultation with {consult.party!r} is "
                                   f"{consult.state}; this needs it {' or '.join(states)}")
        return consult

    def complete(self, call: InboundCall, *, by: str) -> None:
        """Hand the customer to the consulted party (answered: talking, or in a conference,
        where the operator then leaves); the operator's leg ends."""
        consult = self._consult_of(call, "talking", "conference")
        operator_leg = call.operator_leg
        if operator_leg is None:
            raise OperationRefused(f"call {call.interaction_id!r} has no operator leg")
        if consult.state == "conference":
            operator_leg.hangup()  # the conference's coroutine hands the call over
            return
        consult.done.set()
        call.consult = None
        if consult.bridge is not None:
            consult.bridge.destroy()
            consult.bridge = None
        call.resolve(AttendedTransfer(consult.leg, operator_leg, by))

    def conference(self, call: InboundCall, *, by: str) -> None:
        """Join the customer, the operator and the consulted party in one mix."""
        consult = self._consult_of(call, "talking")
        caller, operator_leg, bridge = call.caller, call.operator_leg, call.bridge
        if caller is None or operator_leg is None or bridge is None:
            raise OperationRefused(f"call {call.interaction_id!r} has no conversation now")
        consult.done.set()
        consult.state = "conference"
        if consult.bridge is not None:
            consult.bridge.destroy()
            consult.bridge = None
        try:
            caller.stop_moh()
            bridge.add(operator_leg)
            bridge.add(consult.leg)
        except (BridgeError, ChannelError) as exc:
            raise OperationRefused(f"the conference could not be joined ({exc})") from exc
        consult.leg.interaction_id = call.interaction_id  # one live call of three legs
        call.resolve(Conference(consult.leg, operator_leg, by))
        tell(self.shell, call, operator=consult.by, party=consult.party, state="conference")

    def cancel(self, call: InboundCall, *, by: str) -> None:
        """End the consultation: the consulted party is hung up, the operator is back with
        the customer."""
        consult = self._consult_of(call, "ringing", "talking")
        consult.leg.hangup()  # the consultation's coroutine takes the operator back

    async def _follow(self, call: InboundCall, consult: Consultation) -> None:
        """Ring the consulted party; once answered, bridge them with the operator until one
        of the three leaves or the call's coroutine takes over; then back to the customer."""
        leg, operator_leg, caller = consult.leg, call.operator_leg, call.caller
        if operator_leg is None or caller is None:
            leg.hangup()
            return

        gone = (leg.ended_signal, operator_leg.ended_signal, caller.ended_signal, consult.done)
        try:
            await until(None, (leg.answered_signal, *gone), None)
            if consult.done.is_set():
                return
            if leg.is_up and operator_leg.is_up and not caller.ended:
                consult.bridge = self.center.telephony.bridge(operator_leg, leg)
                consult.state = "talking"
                tell(self.shell, call, operator=consult.by, party=consult.party,
                     state="talking")
                await until(None, gone, None)
            if consult.done.is_set():
                return
            self._back_to_customer(call, consult)
        except Exception:
            log.exception("consultation_failed", interaction=call.interaction_id)
            if not consult.done.is_set():
                self._back_to_customer(call, consult)

    def _back_to_customer(self, call: InboundCall, consult: Consultation) -> None:
        """The consultation ended without a transfer: hang up its leg and, while both are
        still there, put the operator back with the customer."""
        call.consult = None
        if consult.bridge is not None:
            consult.bridge.destroy()
        consult.leg.hangup()
        caller, operator_leg, bridge = call.caller, call.operator_leg, call.bridge
        if caller is not None and not caller.ended and operator_leg is not None \
                and operator_leg.is_up and bridge is not None and not bridge.destroyed:
            try:
                caller.stop_moh()
                bridge.add(operator_leg)
            except (BridgeError, ChannelError):
                log.warning("operator_not_rejoined", interaction=call.interaction_id,
                            exc_info=True)
            else:
                self._release(caller, operator_leg)
        tell(self.shell, call, operator=consult.by, party=consult.party, state="ended")

    @staticmethod
    def _release(*channels: Channel) -> None:
        """Give relayed legs back to the relay alone (nothing to decode), as a new
        conversation does."""
        for channel in channels:
            shell = channel.engine.media
            if shell is not None:
                shell.release(channel)
