"""Configuration records: upserts that report change, references checked, secrets hashed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from parley.sip.auth import compute_ha1 as ha1
from parley.store import Conflict, NotFound, Store
from parley.store.credentials import verify_password
from parley.store.specs import (
    DeviceSpec,
    FlowSpec,
    NumberListSpec,
    QueueSpec,
    SiteSpec,
    SkillSpec,
    TeamSpec,
    UserSpec,
)


async def test_user_with_skills_teams_and_password(store: Store) -> None:
    assert await store.config.put("skills", SkillSpec(name="billing"))
    assert await store.config.put("teams", TeamSpec(name="blue"))
    spec = UserSpec(username="1001", display_name="Ann", roles=["agent"],
                    skills={"billing": 7}, teams=["blue"], password="secret-1001")
    assert await store.config.put("users", spec)
    stored = await store.config.get("users", "1001")
    assert isinstance(stored, UserSpec)
    assert stored.skills == {"billing": 7}
    assert stored.teams == ["blue"]
    assert stored.password is None
    assert stored.password_hash is not None
    assert verify_password(stored.password_hash, "secret-1001")
    # The same spec again, plaintext password included, changes nothing.
    assert not await store.config.put("users", spec)
    # A new level is a change.
    assert await store.config.put("users", spec.model_copy(update={"skills": {"billing": 3}}))
    assert (await store.config.get("users", "1001")).skills == {"billing": 3}  # type: ignore[union-attr]


async def test_unknown_reference_names_the_field(store: Store) -> None:
    with pytest.raises(NotFound, match=r"skills\.nope"):
        await store.config.put("users", UserSpec(username="u1", skills={"nope": 1}))
    with pytest.raises(NotFound, match=r"members\.ghost"):
        await store.config.put("queues", QueueSpec(name="sales", members=["ghost"]))
    assert await store.config.get("users", "u1") is None  # the failed write left nothing


async def test_skill_in_use_cannot_be_deleted(store: Store) -> None:
    await store.config.put("skills", SkillSpec(name="french"))
    await store.config.put("users", UserSpec(username="u2", skills={"french": 5}))
    with pytest.raises(Conflict, match="still in use"):
        await store.config.delete("skills", "french")
    await store.config.delete("users", "u2")
    await store.config.delete("skills", "french")
    assert await store.config.records("skills") == []


async def test_device_credentials_are_stored_as_ha1_only(store: Store) -> None:
    await store.config.put_site(SiteSpec(name="HQ", time_zone="Europe/Berlin",
                                         sip_realm="pbx.example"))
    await store.config.put("users", UserSpec(username="1001"))
    await store.config.put("devices", DeviceSpec(name="1001", user="1001",
                                                 sip_password="pw1001"))
    credentials = await store.directory.sip_credentials("1001")
    assert credentials is not None
    assert credentials.realm == "pbx.example"
    assert credentials.ha1("MD5") == ha1("1001", "pbx.example", "pw1001")
    assert credentials.ha1("SHA-256") == ha1("1001", "pbx.example", "pw1001", "SHA-256")
    assert credentials.user == "1001"
    assert await store.directory.devices_of("1001") == ["1001"]
    async with store.engine.connect() as connection:
        from sqlalchemy import text
        rows = (await connection.execute(text("SELECT * FROM devices"))).all()
    assert "pw1001" not in repr(rows)
    assert await store.directory.sip_credentials("nobody") is None


async def test_static_contacts_are_listed(store: Store) -> None:
    await store.config.put("devices", DeviceSpec(name="door", static_contact="sip:door@10.0.0.9"))
    await store.config.put("devices", DeviceSpec(name="1002"))
    contacts = await store.directory.static_contacts()
    assert [(c.username, c.static_contact) for c in contacts] == [("door", "sip:door@10.0.0.9")]
    assert [c.username for c in await store.directory.devices()] == ["1002", "door"]


async def test_the_sip_directory_loads_every_device_in_the_same_few_queries(
        store: Store) -> None:
    """The registrar's directory is loaded whole at start and at every configuration change
    (a query per device's user cost ~2 s at 1,400 devices, each change): the statements do
    not grow with the devices, and each device keeps its user."""
    async def add(first: int, last: int) -> None:
        for n in range(first, last):
            await store.config.put("users", UserSpec(username=f"op{n}"))
            await store.config.put("devices", DeviceSpec(
                name=f"{1000 + n}", user=f"op{n}" if n % 3 else None,
                static_contact=f"sip:{1000 + n}@10.0.0.9" if n % 5 == 0 else None))

    await add(0, 3)
    few = [await statements_of(store, read) for read in (
        store.directory.devices, store.directory.static_contacts)]
    await add(3, 40)
    many = [await statements_of(store, read) for read in (
        store.directory.devices, store.directory.static_contacts)]
    assert many == few
    devices = await store.directory.devices()
    assert [d.username for d in devices] == [f"{1000 + n}" for n in range(40)]
    assert [(d.username, d.user) for d in devices[:4]] == [
        ("1000", None), ("1001", "op1"), ("1002", "op2"), ("1003", None)]
    assert [c.username for c in await store.directory.static_contacts()] == [
        f"{1000 + n}" for n in range(0, 40, 5)]
    one = await store.directory.sip_credentials("1007")
    assert one is not None
    assert one.user == "op7"


async def test_flows_keep_every_version(store: Store) -> None:
    assert await store.config.put("flows", FlowSpec(name="main", definition={"start": "a"}))
    assert not await store.config.put("flows", FlowSpec(name="main",
                                                        definition={"start": "a"}))
    assert await store.config.put("flows", FlowSpec(name="main", definition={"start": "b"}))
    current = await store.config.get("flows", "main")
    assert isinstance(current, FlowSpec)
    assert current.version == 2
    assert current.definition == {"start": "b"}
    versions = await store.config.flow_versions("main")
    assert [(v.version, v.definition) for v in versions] == [(1, {"start": "a"}),
                                                              (2, {"start": "b"})]


async def test_number_list_entries_follow_the_spec(store: Store) -> None:
    await store.config.put("number_lists", NumberListSpec(name="gold", kind="vip",
                                                          numbers=["+15550001", "+15550002"]))
    assert await store.config.put("number_lists", NumberListSpec(
        name="gold", kind="vip", priority=30, numbers=["+15550002", "+15550003"]))
    stored = await store.config.get("number_lists", "gold")
    assert isinstance(stored, NumberListSpec)
    assert stored.numbers == ["+15550002", "+15550003"]
    assert stored.priority == 30


async def test_document_round_trip_changes_nothing(store: Store) -> None:
    await store.config.put("skills", SkillSpec(name="de"))
    await store.config.put("users", UserSpec(username="a", password="secret-a", skills={"de": 1}))
    await store.config.put("queues", QueueSpec(name="q", members=["a"], required_skills={"de": 1}))
    document = await store.config.document()
    assert await store.config.apply(document) == {}
    assert await store.config.document() == document


FULL_QUEUE = {
    "name": "sales", "strategy": "skills_based", "max_length": 12,
    "overflow_target": "queue:spill", "required_skills": {"de": 3},
    "members": ["b", "a"], "teams": ["south", "north"],
    "hours": {"timezone": "Europe/Berlin", "mon": ["08:00-12:00", "13:00-18:00"],
              "sat": ["10:00-14:00"], "holidays": ["2026-12-25"]},
    "overflow": [{"when": "closed", "target": "voicemail:sales"},
                 {"when": "wait", "threshold": 120, "target": "callback"},
                 {"when": "length", "threshold": 5, "target": "flow:busy"}],
    "relax": [{"after_s": 0, "min_level": 80}, {"after_s": 45, "min_level": 30}],
}


async def _queue_references(store: Store) -> None:
    await store.config.put("skills", SkillSpec(name="de"))
    for team in ("north", "south"):
        await store.config.put("teams", TeamSpec(name=team))
    for name in ("a", "b"):
        await store.config.put("users", UserSpec(username=name))
    await store.config.put("queues", QueueSpec(name="spill"))


async def test_every_queue_setting_is_stored_and_read_back(store: Store) -> None:
    await _queue_references(store)
    spec = QueueSpec.model_validate(FULL_QUEUE)
    assert await store.config.put("queues", spec)
    stored = await store.config.get("queues", "sales")
    assert stored == spec
    assert isinstance(stored, QueueSpec)
    assert stored.members == ["b", "a"]  # the order is kept: it is the fixed order
    assert stored.teams == ["north", "south"]
    assert not await store.config.put("queues", spec)
    # A new order of the same members is a change.
    assert await store.config.put("queues", spec.model_copy(update={"members": ["a", "b"]}))
    assert (await store.config.get("queues", "sales")).members == ["a", "b"]  # type: ignore[union-attr]
    document = await store.config.document()
    assert await store.config.apply(document) == {}


async def test_queue_references_are_checked(store: Store) -> None:
    await _queue_references(store)
    with pytest.raises(NotFound, match=r"teams\.west"):
        await store.config.put("queues", QueueSpec(name="q", teams=["west"]))
    with pytest.raises(NotFound, match="overflow_target: no queue named 'nowhere'"):
        await store.config.put("queues", QueueSpec(name="q", overflow_target="queue:nowhere"))
    with pytest.raises(NotFound, match=r"overflow\.0\.target: no queue named 'x'"):
        await store.config.put("queues", QueueSpec(name="q", overflow=[
            {"when": "no_agents", "target": "queue:x"}]))


async def test_site_reason_codes(store: Store) -> None:
    site = await store.config.site()
    assert site.reason_codes == ["break", "lunch", "training", "paperwork", "meeting"]
    assert not await store.config.put_site(site)
    assert await store.config.put_site(site.model_copy(update={"reason_codes": ["coaching"]}))
    assert (await store.config.site()).reason_codes == ["coaching"]


async def test_trunks_are_stored_with_kind_and_limits(store: Store) -> None:
    from parley.store.specs import InboundSpec, TrunkSpec

    trunk = TrunkSpec(name="carrier-a", kind="register", host="127.0.0.2", port=5070,
                      username="acct17", password="secret", max_channels=30, max_cps=10)
    assert trunk.auth == "credentials"  # the older field follows the kind
    assert await store.config.put("trunks", trunk)
    assert not await store.config.put("trunks", trunk)
    assert await store.config.get("trunks", "carrier-a") == trunk
    peer = TrunkSpec(name="carrier-b", host="10.1.1.1", auth="ip")
    assert peer.kind == "peer"
    assert await store.config.put("trunks", peer)
    assert await store.config.put("inbound", InboundSpec(trunk="carrier-b",
                                                         number_from="header:X-Called"))
    assert [spec.key for spec in await store.config.records("inbound")] == ["carrier-b"]


def test_a_trunks_kind_and_auth_must_agree() -> None:
    from pydantic import ValidationError

    from parley.store.specs import TrunkSpec

    with pytest.raises(ValidationError, match="disagree"):
        TrunkSpec(name="t", host="gw.example", kind="peer", auth="credentials")
    with pytest.raises(ValidationError, match="needs a username"):
        TrunkSpec(name="t", host="gw.example", kind="register")
    assert TrunkSpec(name="t", host="gw.example", kind="peer", auth="ip").auth == "ip"


async def test_a_tls_trunk_keeps_its_ca_client_certificate_and_sips(store: Store) -> None:
    from parley.store.specs import TrunkSpec

    trunk = TrunkSpec(name="carrier-tls", host="sip.carrier.example", port=5061,
                      transport="tls", username="acct17", password="secret", sips=True,
                      tls_ca_file="/etc/parley/carrier-ca.pem",
                      tls_cert_file="/etc/parley/client.pem",
                      tls_key_file="/etc/parley/client.key")
    assert await store.config.put("trunks", trunk)
    assert await store.config.get("trunks", "carrier-tls") == trunk


async def test_a_trunks_srtp_is_stored_off_by_default_and_checked(store: Store) -> None:
    from pydantic import ValidationError

    from parley.app import trunk_config
    from parley.store.specs import TrunkSpec

    assert TrunkSpec(name="t", host="gw.example", kind="peer").srtp == "off"
    trunk = TrunkSpec(name="carrier-srtp", host="gw.example", kind="peer", srtp="require")
    assert await store.config.put("trunks", trunk)
    stored = await store.config.get("trunks", "carrier-srtp")
    assert stored == trunk
    assert trunk_config(stored).srtp == "require"
    with pytest.raises(ValidationError, match="srtp"):
        TrunkSpec(name="t", host="gw.example", kind="peer", srtp="sdes")


def test_tls_settings_need_transport_tls_and_a_key_its_certificate() -> None:
    from pydantic import ValidationError

    from parley.store.specs import TrunkSpec

    with pytest.raises(ValidationError, match="sips, tls_ca_file need transport tls"):
        TrunkSpec(name="t", host="gw.example", kind="peer", sips=True,
                  tls_ca_file="/etc/ca.pem")
    with pytest.raises(ValidationError, match="tls_key_file needs tls_cert_file"):
        TrunkSpec(name="t", host="gw.example", kind="peer", transport="tls",
                  tls_key_file="/etc/client.key")


async def test_routes_name_existing_trunks_and_keep_their_order(store: Store) -> None:
    from parley.store import Conflict, NotFound
    from parley.store.specs import RouteSpec, TrunkSpec

    await store.config.put("trunks", TrunkSpec(name="carrier-a", host="gw.example",
                                               username="u", password="p",
                                               number_format="national", strip=1,
                                               prepend="9"))
    with pytest.raises(NotFound, match=r"trunks\.ghost: no trunk named 'ghost'"):
        await store.config.put("routes", RouteSpec(name="r", match="^\\+7",
                                                   trunks=["carrier-a", "ghost"]))
    await store.config.put("routes", RouteSpec(name="world", match="^\\+",
                                               trunks=["carrier-a"]))
    await store.config.put("routes", RouteSpec(name="russia", match="^\\+7",
                                               trunks=["carrier-a"], caller_id="+74951110000",
                                               position=1))
    routes = await store.config.records("routes")
    assert [route.key for route in routes] == ["russia", "world"]  # by position, not name
    assert routes[1].position == 1 or routes[0].position == 1
    trunk = await store.config.get("trunks", "carrier-a")
    assert trunk is not None
    assert (trunk.number_format, trunk.strip, trunk.prepend) == ("national", 1, "9")
    with pytest.raises(Conflict, match="in use by route"):
        await store.config.delete("trunks", "carrier-a")


async def test_site_region_and_outside_line_rights(store: Store) -> None:
    from parley.store.specs import SiteSpec

    site = await store.config.site()
    assert site.default_region is None
    assert site.outside_line == {"agent": "national", "supervisor": "national",
                                 "admin": "national"}
    assert not await store.config.put_site(site)
    changed = SiteSpec.model_validate({**site.model_dump(), "default_region": "ru",
                                       "outside_line": {"agent": "none", "admin": "all"},
                                       "blocked_destinations": ["^\\+7809"]})
    assert await store.config.put_site(changed)
    stored = await store.config.site()
    assert stored.default_region == "RU"
    assert stored.outside_line == {"agent": "none", "admin": "all"}
    assert stored.blocked_destinations == ["^\\+7809"]


async def statements_of(store: Store, read: Callable[[], Awaitable[object]]) -> int:
    """How many SQL statements ``read()`` sends to the database."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        await read()
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", count)
    return len(statements)


async def test_reading_every_user_or_queue_costs_the_same_few_queries(store: Store) -> None:
    """A floor of users is read in a constant number of statements (the console and the scope
    of a team supervisor read every user per request), with their skills, teams and queues."""
    await store.config.put("skills", SkillSpec(name="billing"))
    await store.config.put("teams", TeamSpec(name="blue"))

    async def cost(kind: str) -> int:
        return await statements_of(store, lambda: store.config.records(kind))

    async def add_users(first: int, last: int) -> None:
        for n in range(first, last):
            await store.config.put("users", UserSpec(
                username=f"u{n}", roles=["agent"], skills={"billing": n % 9 + 1},
                teams=["blue"] if n % 2 else []))
        await store.config.put("queues", QueueSpec(
            name=f"q{last}", members=[f"u{n}" for n in range(first, last)]))
        await store.config.put("devices", DeviceSpec(name=f"d{last}", user=f"u{first}"))

    await add_users(0, 3)
    few = {kind: await cost(kind) for kind in ("users", "queues", "devices")}
    await add_users(3, 40)
    many = {kind: await cost(kind) for kind in ("users", "queues", "devices")}
    assert many == few
    users = {user.username: user for user in await store.config.records("users")
             if isinstance(user, UserSpec)}
    assert len(users) == 40
    assert users["u7"].skills == {"billing": 8}
    assert users["u7"].teams == ["blue"]
    assert users["u8"].teams == []
    queues = {queue.key: queue for queue in await store.config.records("queues")}
    assert queues["q40"].members == [f"u{n}" for n in range(3, 40)]  # type: ignore[attr-defined]
    devices = {device.key: device for device in await store.config.records("devices")}
    assert devices["d40"].user == "u3"  # type: ignore[attr-defined]
    assert (await store.config.get("users", "u7")) == users["u7"]
