"""Outbound routes: which trunks carry a call to an outside number, the number as each trunk
wants it, the caller ID shown, and whether the caller may make the call at all. Pure.

A route is a regular expression on the E.164 number and an ordered list of trunks; the first
route that matches wins and its trunks are tried in order (the telephony layer fails over).
The caller ID is the first set of the user's, the campaign's, the queue's, the route's and
the trunk's; the route's ``caller_id_rules`` and then the trunk's rewrite it last (the first
rule of each list that matches). An empty caller ID after the rules is sent as presentation
restricted.

Who may call out: a caller's :class:`~parley.numbering.LineRight` (the user's own, else the
highest of their roles') must cover the number's kind (national, international, premium),
and the number must match none of the site's ``blocked_destinations``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from parley.numbering import DestinationKind, LineRight, NumberFormat, Numbering, manipulate


class Refusal(StrEnum):
    """Why an outside call is not placed."""

    NO_ROUTE = "no_route"  # no route matches the number
    NO_RIGHT = "no_right"  # the caller's outside-line right does not cover the number
    BLOCKED = "blocked"  # a blocked destination of the site
    NO_TRUNK = "no_trunk"  # the route's trunks are all unknown or unavailable


class OutboundRefused(Exception):
    """An outside call Parley will not place; ``reason`` says which rule refused it."""

    def __init__(self, message: str, reason: Refusal) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class CallerIdRule:
    """Rewrite a caller ID matching ``match`` (a regular expression) to ``replace`` (which
    may use ``\\1`` groups); an empty result hides the number."""

    match: str
    replace: str

    def apply(self, caller_id: str) -> str | None:
        """The rewritten caller ID, or None when the rule does not match."""
        pattern = re.compile(self.match)
        if pattern.search(caller_id) is None:
            return None
        return pattern.sub(self.replace, caller_id, count=1)


def rewrite(caller_id: str, rules: Iterable[CallerIdRule]) -> str:
    """``caller_id`` rewritten by the first rule that matches (unchanged when none does)."""
    for rule in rules:
        rewritten = rule.apply(caller_id)
        if rewritten is not None:
            return rewritten
    return caller_id


@dataclass(frozen=True)
class TrunkRule:
    """What routing needs of a trunk: its caller ID and rules, and how it wants numbers."""

    name: str
    caller_id: str | None = None
    caller_id_rules: tuple[CallerIdRule, ...] = ()
    number_format: NumberFormat = NumberFormat.E164
    strip: int = 0
    prepend: str = ""


@dataclass(frozen=True)
class Route:
    """An outbound route: numbers matching ``match`` go out through ``trunks``, in order."""

    name: str
    match: str
    trunks: tuple[str, ...]
    caller_id: str | None = None
    caller_id_rules: tuple[CallerIdRule, ...] = ()

    def matches(self, number: str) -> bool:
        return re.search(self.match, number) is not None


@dataclass(frozen=True)
class CallerIds:
    """The caller IDs that come before the route's and the trunk's, first set wins."""

    user: str | None = None
    campaign: str | None = None
    queue: str | None = None


@dataclass(frozen=True)
class TrunkAttempt:
    """One try at the call: through ``trunk``, dialling ``number`` as that trunk wants it,
    showing ``caller_id`` (empty and ``restricted``: presentation restricted)."""

    trunk: str
    number: str
    caller_id: str
    restricted: bool = False


@dataclass(frozen=True)
class OutboundPlan:
    """How to reach an outside number: the route chosen and the trunks to try, in order."""

    number: str  # E.164 (or the short number a route matched)
    route: str
    kind: DestinationKind
    attempts: tuple[TrunkAttempt, ...]


@dataclass(frozen=True)
class Rights:
    """Outside-line rights: per role (``site.outside_line``) and per user (the user's own
    ``outside_line`` wins over their roles')."""

    by_role: Mapping[str, LineRight] = field(default_factory=dict)
    by_user: Mapping[str, LineRight] = field(default_factory=dict)

    def of(self, user: str, roles: Iterable[str]) -> LineRight:
        """``user``'s right: their own, else the highest of their roles' (none without)."""
        own = self.by_user.get(user)
        if own is not None:
            return own
        rights = [self.by_role.get(role, LineRight.NONE) for role in roles]
        return max(rights, key=lambda right: right.rank, default=LineRight.NONE)


@dataclass(frozen=True)
class OutboundRoutes:
    """The site's routes and trunks, and the decision for one outside call."""

    numbering: Numbering = field(default_factory=Numbering)
    routes: tuple[Route, ...] = ()
    trunks: Mapping[str, TrunkRule] = field(default_factory=dict)
    blocked: tuple[str, ...] = ()  # patterns of numbers nobody may dial

    def route_for(self, number: str) -> Route | None:
        """The first route matching ``number`` (E.164), or None."""
        for route in self.routes:
            if route.matches(number):
                return route
        return None

    def is_routable(self, number: str) -> bool:
        """Whether ``number`` (as dialled) would go out through a route."""
        return self.route_for(self.numbering.normalise(number)) is not None

    def plan(self, number: str, *, right: LineRight, caller_ids: CallerIds = CallerIds(),
             available: Callable[[str], bool] | None = None) -> OutboundPlan:
        """Decide how to call ``number`` (written any way) for a caller with ``right``;
        ``available`` leaves out trunks that cannot take a call now. Raises
        :class:`OutboundRefused` naming the rule that refuses it."""
        e164 = self.numbering.normalise(number)
        route = self.route_for(e164)
        if route is None:
            raise OutboundRefused(f"no outbound route matches {e164!r}", Refusal.NO_ROUTE)
        for pattern in self.blocked:
            if re.search(pattern, e164):
                raise OutboundRefused(f"{e164!r} is a blocked destination ({pattern})",
                                      Refusal.BLOCKED)
        kind = (self.numbering.kind(e164) if self.numbering.is_outside(e164)
                else DestinationKind.NATIONAL)
        if not right.allows(kind):
            article = "an" if kind is DestinationKind.INTERNATIONAL else "a"
            raise OutboundRefused(f"{e164!r} is {article} {kind} number; the outside-line "
                                  f"right {right.value!r} does not allow it",
                                  Refusal.NO_RIGHT)
        attempts = tuple(self._attempt(e164, route, self.trunks[name], caller_ids)
                         for name in route.trunks
                         if name in self.trunks and (available is None or available(name)))
        if not attempts:
            raise OutboundRefused(f"route {route.name!r} has no trunk available for {e164!r}",
                                  Refusal.NO_TRUNK)
        return OutboundPlan(e164, route.name, kind, attempts)

    def _attempt(self, e164: str, route: Route, trunk: TrunkRule,
                 caller_ids: CallerIds) -> TrunkAttempt:
        dialled = manipulate(self.numbering.format(e164, trunk.number_format),
                             strip=trunk.strip, prepend=trunk.prepend)
        shown = caller_id_for(caller_ids, route, trunk)
        return TrunkAttempt(trunk.name, dialled, shown, restricted=not shown)


def caller_id_for(caller_ids: CallerIds, route: Route, trunk: TrunkRule) -> str:
    """The first set of the user's, campaign's, queue's, route's and trunk's caller ID, then
    rewritten by the route's rules and the trunk's."""
    chosen = next((value for value in (caller_ids.user, caller_ids.campaign, caller_ids.queue,
                                       route.caller_id, trunk.caller_id) if value), "")
    return rewrite(rewrite(chosen, route.caller_id_rules), trunk.caller_id_rules)


__all__ = ["CallerIdRule", "CallerIds", "OutboundPlan", "OutboundRefused", "OutboundRoutes",
           "Refusal", "Rights", "Route", "TrunkAttempt", "TrunkRule", "caller_id_for",
           "rewrite"]
