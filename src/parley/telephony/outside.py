"""Calls to outside numbers: the route decision (:mod:`parley.routes`) carried out on trunks.

:class:`OutsideCalls` is what everything that calls a customer uses (a phone dialling an
outside number, click-to-call, callbacks, transfers): it asks the routes for a plan with the
caller's outside-line right and caller IDs, then hands the plan to an :class:`OutsideLine`,
the trunk machinery that places the call through the plan's trunks in order.

:class:`TrunkLine` is the line of a running node: the live trunks of
:mod:`parley.telephony.trunks`, which go on to the next trunk when one fails with a 5xx, a
408, no answer at all or is down or full, never when the answer speaks of the number (404,
486, 603...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from parley.events import HangupCause
from parley.numbering import LineRight
from parley.routes import CallerIds, OutboundPlan, OutboundRefused, OutboundRoutes
from parley.telephony.channel import Channel
from parley.telephony.engine import OriginateError
from parley.telephony.trunks import TrunkCall

if TYPE_CHECKING:
    from parley.telephony.media_sdp import Codec
    from parley.telephony.server import Telephony

class OutsideLine(Protocol):
    """The trunk machinery: place a call through a plan's trunks in order."""

    async def call(self, plan: OutboundPlan, *, ring_s: float,
                   variables: Mapping[str, str] | None = None, interaction_id: str = "",
                   codecs: tuple[Codec, ...] | None = None) -> Channel:
        """The leg that reached the number: ringing, answered, or ended with the last
        trunk's answer. Raises :class:`OriginateError` when no trunk could be tried."""
        ...


class TrunkLine:
    """The outside line over the live trunks: a plan's attempts become
    :meth:`Telephony.dial_out`'s trunk calls, which register, answer digest challenges, keep
    each trunk's caps and fail over as :mod:`parley.telephony.trunks` says."""

    def __init__(self, telephony: Telephony) -> None:
        self.telephony = telephony

    async def call(self, plan: OutboundPlan, *, ring_s: float,
                   variables: Mapping[str, str] | None = None, interaction_id: str = "",
                   codecs: tuple[Codec, ...] | None = None) -> Channel:
        calls = [TrunkCall(attempt.trunk, attempt.number, attempt.caller_id or None,
                           restricted=attempt.restricted) for attempt in plan.attempts]
        if not calls:
            raise OriginateError(f"no trunk of route {plan.route!r} can be called",
                                 HangupCause.NO_ROUTE_DESTINATION)
        leg = await self.telephony.dial_out(
            calls, timeout=ring_s, interaction_id=interaction_id, codecs=codecs,
            variables={**(variables or {}), "route": plan.route, "number": plan.number})
        leg.log.info("outside_call", trunk=leg.trunk, route=plan.route, number=plan.number)
        return leg


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
    "OutboundRefused",
    "OutsideCalls",
    "OutsideLine",
    "TrunkLine",
]
