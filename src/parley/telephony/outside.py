"""Calls to outside numbers: the route decision (:mod:`parley.routes`) carried out on trunks.

:class:`OutsideCalls` is what everything that calls a customer uses (a phone dialling an
outside number, click-to-call, callbacks, transfers): it asks the routes for a plan with the
caller's outside-line right and caller IDs, then hands the plan to an :class:`OutsideLine`,
the trunk machinery that places the call through the plan's trunks in order.

:class:`DirectTrunks` is the plain outside line: it sends the INVITE straight to each trunk's
address (trunks by address, no registration) and goes on to the next trunk when one fails
with a 5xx, 408 or no answer at all, never when the answer speaks of the number (404, 486,
603...). Trunks that register with digest credentials need the trunk machinery in its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from parley.events import HangupCause
from parley.numbering import LineRight
from parley.routes import CallerIds, OutboundPlan, OutboundRefused, OutboundRoutes
from parley.telephony.channel import Channel, ChannelState
from parley.telephony.engine import OriginateError

if TYPE_CHECKING:
    from parley.telephony.media_sdp import Codec
    from parley.telephony.server import Telephony

#: Causes after which the next trunk is tried: the trunk, not the number, failed.
FAILOVER_CAUSES = frozenset({
    HangupCause.TEMPORARY_FAILURE, HangupCause.NETWORK_OUT_OF_ORDER,
    HangupCause.RECOVERY_ON_TIMER_EXPIRE, HangupCause.NO_USER_RESPONSE,
    HangupCause.INTERWORKING, HangupCause.NORMAL_CIRCUIT_CONGESTION,
    HangupCause.SWITCH_CONGESTION, HangupCause.DESTINATION_OUT_OF_ORDER})


def fails_over(cause: HangupCause | None) -> bool:
    """Whether a leg that ended with ``cause`` before answer should try the next trunk."""
    return cause in FAILOVER_CAUSES


class OutsideLine(Protocol):
    """The trunk machinery: place a call through a plan's trunks in order."""

    async def call(self, plan: OutboundPlan, *, ring_s: float,
                   variables: Mapping[str, str] | None = None, interaction_id: str = "",
                   codecs: tuple[Codec, ...] | None = None) -> Channel:
        """The leg that reached the number: ringing, answered, or ended with the last
        trunk's answer. Raises :class:`OriginateError` when no trunk could be tried."""
        ...


@dataclass(frozen=True)
class TrunkAddress:
    """Where a trunk takes calls."""

    host: str
    port: int = 5060
    transport: str = "udp"

    def uri(self, number: str) -> str:
        params = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:{number}@{self.host}:{self.port}{params}"


class DirectTrunks:
    """The plain outside line (see the module docstring)."""

    def __init__(self, telephony: Telephony, trunks: Mapping[str, TrunkAddress]) -> None:
        self.telephony = telephony
        self.trunks = dict(trunks)

    async def call(self, plan: OutboundPlan, *, ring_s: float,
                   variables: Mapping[str, str] | None = None, interaction_id: str = "",
                   codecs: tuple[Codec, ...] | None = None) -> Channel:
        last: Channel | None = None
        for attempt in plan.attempts:
            address = self.trunks.get(attempt.trunk)
            if address is None:
                continue
            leg = self.telephony.originate(
                address.uri(attempt.number), caller_id=attempt.caller_id or "anonymous",
                timeout=ring_s, codecs=codecs, interaction_id=interaction_id,
                variables={**(variables or {}), "trunk": attempt.trunk, "route": plan.route,
                           "number": plan.number})
            leg.log.info("outside_call", trunk=attempt.trunk, route=plan.route,
                         number=attempt.number, caller_id=attempt.caller_id)
            last = leg
            await _progress(leg)
            if leg.ended and fails_over(leg.hangup_cause):
                leg.log.info("trunk_failed", trunk=attempt.trunk,
                             cause=str(leg.hangup_cause))
                continue
            return leg
        if last is None:
            raise OriginateError(f"no trunk of route {plan.route!r} can be called",
                                 HangupCause.NO_ROUTE_DESTINATION)
        return last


async def _progress(leg: Channel) -> None:
    """Wait until ``leg`` rings, answers or ends."""
    if leg.state is not ChannelState.DOWN:
        return
    changed = asyncio.get_running_loop().create_future()

    def note(channel: Channel) -> None:
        if channel.state is not ChannelState.DOWN and not changed.done():
            changed.set_result(None)

    leg.on_change(note)
    await changed


@dataclass
class OutsideCalls:
    """The site's outside calls: routes, who may call, and the line that places them."""

    routes: OutboundRoutes = field(default_factory=OutboundRoutes)
    line: OutsideLine | None = None
    #: a user's (or device's) outside-line right and own caller ID
    right_of: Callable[[str], LineRight] = lambda _user: LineRight.NONE
    caller_id_of: Callable[[str], str | None] = lambda _user: None
    available: Callable[[str], bool] | None = None

    def routable(self, number: str) -> bool:
        """Whether ``number`` would go out through a route (and a line exists to carry it)."""
        return self.line is not None and self.routes.is_routable(number)

    def plan(self, number: str, *, user: str, right: LineRight | None = None,
             queue_caller_id: str | None = None,
             campaign_caller_id: str | None = None) -> OutboundPlan:
        """The plan to call ``number`` for ``user`` (whose right applies unless ``right``
        is given); raises :class:`OutboundRefused`."""
        ids = CallerIds(user=self.caller_id_of(user), campaign=campaign_caller_id,
                        queue=queue_caller_id)
        return self.routes.plan(number, right=self.right_of(user) if right is None else right,
                                caller_ids=ids, available=self.available)

    async def call(self, plan: OutboundPlan, *, ring_s: float,
                   variables: Mapping[str, str] | None = None, interaction_id: str = "",
                   codecs: tuple[Codec, ...] | None = None) -> Channel:
        """Place ``plan``'s call on the line; :class:`OriginateError` without one."""
        if self.line is None:
            raise OriginateError("no outside line (no trunk is configured)",
                                 HangupCause.NO_ROUTE_DESTINATION)
        return await self.line.call(plan, ring_s=ring_s, variables=variables,
                                    interaction_id=interaction_id, codecs=codecs)


__all__ = [
    "FAILOVER_CAUSES",
    "DirectTrunks",
    "OutboundRefused",
    "OutsideCalls",
    "OutsideLine",
    "TrunkAddress",
    "fails_over",
]
