"""The stored configuration as the routes and numbers the running site uses: numbers and
lists in E.164 however they were written, routes in order over the trunks, and each user's
outside-line right and caller ID."""

from __future__ import annotations

import pytest

from parley.center.config import CenterConfig
from parley.numbering import LineRight, NumberFormat
from parley.routes import TrunkAttempt
from parley.store.records import SipCredentials
from parley.store.specs import (
    FlowSpec,
    NumberListSpec,
    NumberSpec,
    QueueSpec,
    RouteSpec,
    SiteSpec,
    TrunkSpec,
    UserSpec,
)

SITE = SiteSpec.model_validate({"default_region": "RU", "outside_line": {
    "agent": "national", "admin": "international"}})


def config(**values: object) -> CenterConfig:
    base: dict[str, object] = {
        "site": SITE,
        "users": [UserSpec(username="ann", roles=["agent"], caller_id="+74952220001"),
                  UserSpec(username="bob", roles=["agent"], outside_line="none"),
                  UserSpec(username="eve", roles=["agent", "admin"]),
                  UserSpec(username="gone", roles=["admin"], active=False),
                  UserSpec(username="sue", roles=["supervisor"])],
        "devices": [SipCredentials("1001", "parley", None, None, None, "ann")],
        "trunks": [TrunkSpec(name="a", host="127.0.0.1", username="u",
                             caller_id="+74950000001"),
                   TrunkSpec(name="b", host="127.0.0.1", username="u",
                             number_format=NumberFormat.NATIONAL, strip=1, prepend="9")],
        "routes": [RouteSpec(name="world", match=r"^\+", trunks=["a"], position=2),
                   RouteSpec(name="russia", match=r"^\+7", trunks=["b", "a"], position=1,
                             caller_id="+74951110000")],
        "queues": [QueueSpec(name="support", caller_id="+74951110002")],
    }
    base.update(values)
    return CenterConfig(**base)  # type: ignore[arg-type]


def test_numbers_and_lists_written_any_way_match_callers_in_e164() -> None:
    site = config(numbers=[NumberSpec(number="84951110000", flow="main"),
                           NumberSpec(number="600", flow="main")],
                  flows=[FlowSpec(name="main", definition={})],
                  lists=[NumberListSpec(name="bad", kind="block",
                                        numbers=["84957654321", "+74957654322"])])
    registry = site.registry()
    assert registry.route("+74951110000") is not None
    assert registry.route("600") is not None
    lists = site.number_lists()
    assert lists.match("+74957654321").blocked
    assert lists.match("+74957654322").blocked
    assert not lists.match("+74957654323").blocked


def test_without_a_region_numbers_stay_as_written() -> None:
    site = config(site=SiteSpec(), lists=[NumberListSpec(name="bad", numbers=["84957654321"])])
    assert site.number_lists().match("84957654321").blocked
    assert site.numbering().normalise("84957654321") == "84957654321"


@pytest.mark.parametrize(("name", "right"), [
    ("ann", LineRight.NATIONAL),
    ("1001", LineRight.NATIONAL),  # a device: its owner's right
    ("bob", LineRight.NONE),  # the user's own, below the role's
    ("eve", LineRight.INTERNATIONAL),  # the highest of the roles'
    ("gone", LineRight.NONE),  # inactive
    ("sue", LineRight.NONE),  # a role the site gave no right
    ("nobody", LineRight.NONE),
])
def test_rights_of_users_and_their_devices(name: str, right: LineRight) -> None:
    assert config().right_of(name) is right


def test_a_site_that_names_no_rights_lets_every_role_call_national_numbers() -> None:
    assert config(site=None).right_of("sue") is LineRight.NATIONAL


def test_routes_in_order_over_the_trunks_with_the_caller_id_chain() -> None:
    site = config()
    routes = site.outbound_routes()
    assert [route.name for route in routes.routes] == ["russia", "world"]
    plan = routes.plan("84951234567", right=site.right_of("ann"))
    assert plan.route == "russia"
    assert plan.attempts == (TrunkAttempt("b", "94951234567", "+74951110000"),
                             TrunkAttempt("a", "+74951234567", "+74951110000"))
    assert site.caller_id_of("1001") == "+74952220001"
    assert site.queue_caller_id("support") == "+74951110002"
