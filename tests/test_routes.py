"""Outbound routes: the route and trunks chosen, the number each trunk gets, the caller ID
shown, and who may call what."""

from __future__ import annotations

import pytest

from parley.numbering import DestinationKind, LineRight, NumberFormat, Numbering
from parley.routes import (
    CallerIdRule,
    CallerIds,
    OutboundRefused,
    OutboundRoutes,
    Refusal,
    Rights,
    Route,
    TrunkAttempt,
    TrunkRule,
    caller_id_for,
)

TRUNKS = {
    "carrier-a": TrunkRule("carrier-a", caller_id="+74950000001"),
    "carrier-b": TrunkRule("carrier-b", number_format=NumberFormat.NATIONAL),
    "carrier-c": TrunkRule("carrier-c", number_format=NumberFormat.INTERNATIONAL, strip=1,
                           prepend="0077#"),
    "abroad": TrunkRule("abroad", caller_id="+74950000009"),
}
ROUTES = OutboundRoutes(
    numbering=Numbering("RU"),
    routes=(
        Route("moscow-mobile", r"^\+79", ("carrier-b",)),
        Route("russia", r"^\+7\d{10}$", ("carrier-a", "carrier-b", "carrier-c"),
              caller_id="+74951110000"),
        Route("world", r"^\+", ("abroad", "ghost")),
    ),
    trunks=TRUNKS,
    blocked=(r"^\+7900555",),
)


@pytest.mark.parametrize(("dialled", "route", "attempts"), [
    ("8 495 123-45-67", "russia", (
        TrunkAttempt("carrier-a", "+74951234567", "+74951110000"),
        TrunkAttempt("carrier-b", "84951234567", "+74951110000"),
        TrunkAttempt("carrier-c", "0077#4951234567", "+74951110000"))),
    ("+79161234567", "moscow-mobile", (
        TrunkAttempt("carrier-b", "89161234567", "", restricted=True),)),
    ("+442079460958", "world", (
        TrunkAttempt("abroad", "+442079460958", "+74950000009"),)),  # ghost: not a trunk
])
def test_the_first_matching_route_and_its_trunks_in_order(
        dialled: str, route: str, attempts: tuple[TrunkAttempt, ...]) -> None:
    plan = ROUTES.plan(dialled, right=LineRight.ALL)
    assert plan.route == route
    assert plan.attempts == attempts


def test_an_empty_caller_id_is_sent_restricted() -> None:
    plan = ROUTES.plan("+79161234567", right=LineRight.NATIONAL)
    assert plan.attempts[0].restricted


def test_trunks_that_cannot_take_a_call_are_left_out() -> None:
    plan = ROUTES.plan("+74951234567", right=LineRight.NATIONAL,
                       available=lambda name: name != "carrier-a")
    assert [attempt.trunk for attempt in plan.attempts] == ["carrier-b", "carrier-c"]
    with pytest.raises(OutboundRefused) as refused:
        ROUTES.plan("+74951234567", right=LineRight.NATIONAL, available=lambda _name: False)
    assert refused.value.reason is Refusal.NO_TRUNK


@pytest.mark.parametrize(("dialled", "right", "reason"), [
    ("1001", LineRight.ALL, Refusal.NO_ROUTE),  # a short number no route matches
    ("+74951234567", LineRight.NONE, Refusal.NO_RIGHT),
    ("+442079460958", LineRight.NATIONAL, Refusal.NO_RIGHT),
    ("+78091234567", LineRight.INTERNATIONAL, Refusal.NO_RIGHT),  # premium rate
    ("+79005551234", LineRight.ALL, Refusal.BLOCKED),
])
def test_refusals_say_which_rule(dialled: str, right: LineRight, reason: Refusal) -> None:
    with pytest.raises(OutboundRefused) as refused:
        ROUTES.plan(dialled, right=right)
    assert refused.value.reason is reason


@pytest.mark.parametrize(("right", "allowed"), [
    (LineRight.NATIONAL, ["+74951234567"]),
    (LineRight.INTERNATIONAL, ["+74951234567", "+442079460958"]),
    (LineRight.ALL, ["+74951234567", "+442079460958", "+78091234567"]),
])
def test_what_each_right_may_dial(right: LineRight, allowed: list[str]) -> None:
    reached = []
    for number in ("+74951234567", "+442079460958", "+78091234567"):
        try:
            plan = ROUTES.plan(number, right=right)
        except OutboundRefused:
            continue
        reached.append(plan.number)
    assert reached == allowed


def test_premium_numbers_are_classed_as_such() -> None:
    assert ROUTES.plan("+78091234567", right=LineRight.ALL).kind is DestinationKind.PREMIUM


ROUTE = Route("russia", r"^\+7", ("t",), caller_id="+74951110000")
TRUNK = TrunkRule("t", caller_id="+74950000001")


@pytest.mark.parametrize(("ids", "route", "trunk", "shown"), [
    (CallerIds(user="+74952220001", campaign="+74953330000", queue="+74954440000"),
     ROUTE, TRUNK, "+74952220001"),
    (CallerIds(campaign="+74953330000", queue="+74954440000"), ROUTE, TRUNK, "+74953330000"),
    (CallerIds(queue="+74954440000"), ROUTE, TRUNK, "+74954440000"),
    (CallerIds(), ROUTE, TRUNK, "+74951110000"),
    (CallerIds(), Route("r", ".", ("t",)), TRUNK, "+74950000001"),
    (CallerIds(), Route("r", ".", ("t",)), TrunkRule("t"), ""),
    # the route's rules, then the trunk's, rewrite it last
    (CallerIds(user="+74952220001"),
     Route("r", ".", ("t",), caller_id_rules=(CallerIdRule(r"^\+7495222(\d+)$", r"+7495111\1"),)),
     TRUNK, "+74951110001"),
    (CallerIds(user="+74952220001"), ROUTE,
     TrunkRule("t", caller_id_rules=(CallerIdRule(r"^\+7", "8"),)), "84952220001"),
    (CallerIds(user="+74952220001"),
     Route("r", ".", ("t",), caller_id_rules=(CallerIdRule(r"^\+7", "007"),)),
     TrunkRule("t", caller_id_rules=(CallerIdRule(r"^007", "8"),)), "84952220001"),
    # the first rule that matches applies; a rule emptying the number hides it
    (CallerIds(user="+74952220001"), ROUTE,
     TrunkRule("t", caller_id_rules=(CallerIdRule("^nope", "x"), CallerIdRule(".*", ""),
                                     CallerIdRule(".*", "never"))), ""),
])
def test_caller_id_first_set_then_rules(ids: CallerIds, route: Route, trunk: TrunkRule,
                                        shown: str) -> None:
    assert caller_id_for(ids, route, trunk) == shown


@pytest.mark.parametrize(("user", "roles", "right"), [
    ("ann", ["agent"], LineRight.NATIONAL),
    ("ann", ["agent", "admin"], LineRight.INTERNATIONAL),  # the highest of the roles'
    ("bob", ["agent"], LineRight.NONE),  # the user's own wins, also when it is lower
    ("eve", ["admin"], LineRight.ALL),
    ("ann", [], LineRight.NONE),
    ("ann", ["supervisor"], LineRight.NONE),  # a role the site gave no right
])
def test_rights_per_role_and_per_user(user: str, roles: list[str], right: LineRight) -> None:
    rights = Rights(by_role={"agent": LineRight.NATIONAL, "admin": LineRight.INTERNATIONAL},
                    by_user={"bob": LineRight.NONE, "eve": LineRight.ALL})
    assert rights.of(user, roles) is right


def test_is_routable_sees_numbers_as_written() -> None:
    assert ROUTES.is_routable("8 495 123 45 67")
    assert not ROUTES.is_routable("1001")
