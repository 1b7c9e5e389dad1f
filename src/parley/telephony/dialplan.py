"""The first dial plan: users call each other by extension.

An inbound channel for a known extension is connected to that user (registered contacts or a
static contact): the caller hears ringing while the user's phone rings, the call is answered
and bridged when the user answers, and either hang-up ends both legs. Unknown numbers get 404,
a registering user already in a call 486 (busy; a static contact such as a gateway
takes many calls), a user who does not answer within the timeout 480, and a
user's phone refusing the call passes its status back (busy, declined...). Numbers with a
handler of their own (IVR, queues: later subsystems) go to that handler instead. A user of
the site who dials an outside number goes out through the routes' trunks
(:mod:`parley.telephony.outside`) when their outside-line right allows it (403 otherwise,
counted as a toll-fraud refusal of the phone's address, like a guest's: docs/sip.md); a
caller who is not a user never reaches a trunk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from parley.events import Direction, HangupCause
from parley.routes import OutboundRefused, Refusal
from parley.telephony.channel import Bridge, Channel, ChannelState, until
from parley.telephony.engine import OriginateError
from parley.telephony.policy import CallerClass

if TYPE_CHECKING:
    from parley.telephony.server import Telephony

NumberHandler = Callable[[Channel], Awaitable[None]]


class ExtensionDialPlan:
    """Routes inbound channels: number handlers first, then extensions."""

    def __init__(self, telephony: Telephony, *, no_answer_timeout: float = 30.0,
                 busy_when_in_call: bool = True) -> None:
        self.telephony = telephony
        self.no_answer_timeout = no_answer_timeout
        self.busy_when_in_call = busy_when_in_call
        self.numbers: dict[str, NumberHandler] = {}

    def add_number(self, number: str, handler: NumberHandler) -> None:
        """Route calls to ``number`` to ``handler`` (an IVR flow, a queue)."""
        self.numbers[number] = handler

    def is_busy(self, user: str, calling: Channel | None = None) -> bool:
        """Whether ``user``'s phone has a call other than ``calling``."""
        for other in self.telephony.engine.active_channels:
            if other is calling:
                continue
            if (other.direction is Direction.OUTBOUND and other.called == user) or \
                    (other.direction is Direction.INBOUND and other.caller == user):
                return True
        return False

    async def __call__(self, channel: Channel) -> None:
        handler = self.numbers.get(channel.called)
        if handler is not None:
            await handler(channel)
            return
        user = self.telephony.users.lookup(channel.called)
        if user is None:
            outside = self.telephony.outside
            if channel.variables.get("caller_class") == CallerClass.USER.value \
                    and outside.routable(channel.called):
                await self.call_outside(channel)
                return
            channel.hangup(HangupCause.UNALLOCATED_NUMBER)
            return
        if self.busy_when_in_call and user.static_contact is None \
                and self.is_busy(user.name, channel):
            channel.hangup(HangupCause.USER_BUSY)
            return
        codecs = channel.remote_audio.codecs if channel.remote_audio is not None else None
        try:
            outbound = self.telephony.originate(
                user.name, caller_id=channel.caller, timeout=self.no_answer_timeout,
                variables=channel.variables, codecs=codecs,
                interaction_id=channel.interaction_id)
        except OriginateError as exc:
            channel.log.info("callee_unavailable", reason=str(exc))
            channel.hangup(exc.cause)
            return
        await connect(channel, outbound)


    async def call_outside(self, channel: Channel) -> None:
        """A user of the site dials an outside number: through the routes' trunks when
        their outside-line right allows it, else 403."""
        outside = self.telephony.outside
        try:
            plan = outside.plan(channel.called, user=channel.caller)
        except OutboundRefused as exc:
            channel.log.warning("outside_call_refused", number=channel.called,
                                reason=str(exc.reason), detail=str(exc))
            guard = self.telephony.engine.guard
            if guard is not None and exc.reason in (Refusal.NO_RIGHT, Refusal.BLOCKED):
                guard.refused_call(channel.leg.peer.host, channel.caller, channel.called)
            channel.hangup(HangupCause.CALL_REJECTED)
            return
        codecs = channel.remote_audio.codecs if channel.remote_audio is not None else None
        try:
            outbound = await outside.call(plan, ring_s=self.no_answer_timeout,
                                          variables=channel.variables, codecs=codecs,
                                          interaction_id=channel.interaction_id)
        except OriginateError as exc:
            channel.log.info("outside_unavailable", reason=str(exc))
            channel.hangup(exc.cause)
            return
        await connect(channel, outbound)


async def echo_test(channel: Channel) -> None:
    """The echo test (500 in the demo): answer and send the caller its own voice back."""
    channel.answer()
    channel.echo()
    await channel.wait_ended()


async def connect(inbound: Channel, outbound: Channel) -> None:
    """Ring ``inbound`` while ``outbound`` rings, answer and bridge, then end both together."""

    def ringing(changed: Channel) -> None:
        if changed.state is ChannelState.RINGING:
            inbound.ring()

    outbound.on_change(ringing)
    if outbound.state is ChannelState.RINGING:
        inbound.ring()
    await until(None, (outbound.answered_signal, outbound.ended_signal, inbound.ended_signal),
                None)
    if inbound.ended:
        outbound.hangup(HangupCause.ORIGINATOR_CANCEL)
        return
    if not outbound.is_up:
        inbound.hangup(outbound.hangup_cause or HangupCause.NORMAL_UNSPECIFIED)
        return
    inbound.answer(codec=outbound.codec)
    bridge = Bridge(inbound.engine.relay)
    bridge.add(inbound)
    bridge.add(outbound)
    await stay_bridged(bridge, inbound, outbound)


async def stay_bridged(bridge: Bridge, first: Channel, second: Channel) -> None:
    """Keep ``first`` and ``second`` talking in ``bridge`` until one hangs up; then end the
    other (a call carried over from another node ends the same way)."""
    await until(None, (first.ended_signal, second.ended_signal), None)
    stayed = [channel for channel in (first, second) if channel.bridge is bridge]
    bridge.destroy()
    for channel in stayed:  # a leg moved out of the bridge (a transfer) is not ours to end
        channel.hangup(HangupCause.NORMAL_CLEARING)
