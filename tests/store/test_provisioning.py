"""Provisioning documents: the demo, export/import round trips, and errors that name the
file, the line and the field."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from parley.config import ConfigError
from parley.provisioning import (
    apply_document,
    demo_document,
    export_text,
    import_file,
    load_demo,
    parse_document,
)
from parley.sip.auth import compute_ha1 as ha1
from parley.store import Store, open_store
from parley.store.credentials import Passwords, verify_password
from parley.store.specs import NumberSpec, QueueSpec, UserSpec

from .test_configuration import statements_of


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """The demo on SQLite; export/import round trips run on both databases in
    test_configuration.py."""
    opened = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}",
                              passwords=Passwords.cheap())
    yield opened
    await opened.close()


async def test_demo_contract_and_round_trip(sqlite_store: Store, tmp_path: Path) -> None:
    store = sqlite_store
    login = await load_demo(store)
    admin = await store.config.get("users", login.username)
    assert isinstance(admin, UserSpec)
    assert admin.roles == ["admin"]
    assert admin.password_hash is not None
    assert verify_password(admin.password_hash, login.password)
    for number in range(1001, 1011):
        credentials = await store.directory.sip_credentials(str(number))
        assert credentials is not None
        assert credentials.ha1("MD5") == ha1(str(number), "parley", f"pw{number}")
        assert credentials.user == str(number)
    sales = await store.config.get("queues", "sales")
    support = await store.config.get("queues", "support")
    assert isinstance(sales, QueueSpec)
    assert isinstance(support, QueueSpec)
    assert sales.members == [str(n) for n in range(1006, 1011)]
    assert support.members == [str(n) for n in range(1001, 1006)]
    assert (sales.script, sales.result_codes) == ("demo-sales", "demo-sales")
    numbers = {n.number: n.flow for n in await store.config.records("numbers")}  # type: ignore[attr-defined]
    assert set(numbers) == {"600", "601", "602", "610", "800"}
    assert numbers["601"] == "demo-sales"
    russian = await store.config.get("numbers", "610")
    assert isinstance(russian, NumberSpec)
    assert (russian.flow, russian.language) == ("demo-main-ru", "ru")
    assert (await store.config.site()).ready_on_register  # demo phones log operators in
    exported = await export_text(store)
    assert "pw1001" not in exported  # only digests and hashes leave the store
    path = tmp_path / "export.yaml"
    path.write_text(exported)
    assert await import_file(store, path) == {}
    assert await export_text(store) == exported
    # The demo file itself (plaintext passwords included) changes nothing the second time.
    document, root = demo_document()
    assert await apply_document(store, document, root) == {}


def _error(text: str, tmp_path: Path) -> ConfigError:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        parse_document(text, str(path))
    return caught.value


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    error = _error("users:\n  - username: a\n  - username: b\n    roles: [boss]\n", tmp_path)
    assert error.file is not None
    assert error.file.endswith("site.yaml")
    assert error.line == 4
    assert error.field == "users[1].roles[0]"
    assert str(error).startswith(f"{error.file}:4: ")
    assert "users[1].roles[0]" in str(error)

    error = _error("queues:\n  - name: q\n    max_wait: 5\n", tmp_path)
    assert error.line == 3
    assert error.field == "queues[0].max_wait"

    error = _error("site:\n  time_zone: Nowhere/City\n", tmp_path)
    assert error.line == 2
    assert "Nowhere/City" in str(error)

    error = _error("users: [\n", tmp_path)
    assert error.line == 2
    assert "YAML" in str(error)

    error = _error("- just\n- a list\n", tmp_path)
    assert "mapping" in str(error)


async def test_a_broken_reference_names_the_line_and_writes_nothing(store: Store,
                                                                    tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({
        "skills": [{"name": "de"}],
        "users": [{"username": "a", "skills": {"de": 2}}],
        "queues": [{"name": "q", "members": ["a", "ghost"]}],
    }, sort_keys=False))
    with pytest.raises(ConfigError) as caught:
        await import_file(store, path)
    assert "ghost" in str(caught.value)
    assert caught.value.line is not None
    assert path.read_text().splitlines()[caught.value.line - 1].strip() == "- ghost"
    assert await store.config.records("skills") == []  # rolled back: nothing half-written


async def test_the_documented_example_is_a_valid_document(sqlite_store: Store) -> None:
    docs = Path(__file__).parents[2] / "docs" / "provisioning.md"
    text = docs.read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    document, root = parse_document(example, "docs/provisioning.md")
    assert [u.username for u in document.users] == ["1001"]
    assert [rule.when for rule in document.queues[0].overflow] == ["closed", "wait"]
    assert [(lst.kind, lst.priority) for lst in document.number_lists] == [
        ("block", None), ("vip", 20), ("tag", None)]
    assert await apply_document(sqlite_store, document, root, "docs/provisioning.md")


ROUTING_YAML = """\
site:
  time_zone: Europe/Berlin
  reason_codes: [coaching, lunch]
skills:
  - name: de
teams:
  - name: north
  - name: south
users:
  - username: ann
    skills: {de: 8}
    teams: [north, south]
  - username: bob
queues:
  - name: sales
    strategy: fixed_order
    members: [bob, ann]
    teams: [north]
    max_length: 10
    overflow_target: queue:spill
    hours:
      mon: ["08:00-12:00", "13:00-18:00"]
      holidays: [2026-12-25]
    overflow:
      - when: closed
        target: flow:after-hours
      - when: wait
        threshold: 90
        target: callback
  - name: spill
    strategy: skills_based
    required_skills: {de: 2}
    relax:
      - {after_s: 0, min_level: 8}
      - {after_s: 60, min_level: 2}
number_lists:
  - name: gold
    kind: vip
    priority: 20
    numbers: ["+4930111"]
"""


async def test_routing_settings_import_and_export_unchanged(sqlite_store: Store,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING_YAML)
    changes = await import_file(sqlite_store, path)
    assert changes["queues"] == 2
    sales = await sqlite_store.config.get("queues", "sales")
    assert isinstance(sales, QueueSpec)
    assert sales.members == ["bob", "ann"]
    assert sales.hours is not None
    assert sales.hours.mon == ["08:00-12:00", "13:00-18:00"]
    assert [rule.when for rule in sales.overflow] == ["closed", "wait"]
    assert (await sqlite_store.config.site()).reason_codes == ["coaching", "lunch"]
    exported = await export_text(sqlite_store)
    assert "min_level: 8" in exported
    assert "kind: vip" in exported
    again = tmp_path / "export.yaml"
    again.write_text(exported)
    assert await import_file(sqlite_store, again) == {}
    assert await export_text(sqlite_store) == exported


def test_routing_errors_name_the_line_and_field(tmp_path: Path) -> None:
    queue = "queues:\n  - name: q\n"
    error = _error(queue + "    strategy: by_mood\n", tmp_path)
    assert (error.line, error.field) == (3, "queues[0].strategy")
    error = _error(queue + "    hours:\n      mon: [\"9-5\"]\n    overflow:\n"
                   "      - {when: closed, target: hangup}\n", tmp_path)
    assert (error.line, error.field) == (4, "queues[0].hours.mon[0]")
    error = _error(queue + "    overflow:\n      - when: wait\n        target: hangup\n",
                   tmp_path)
    assert (error.line, error.field) == (4, "queues[0].overflow[0]")
    assert "needs a threshold" in str(error)
    error = _error(queue + "    overflow_target: somewhere\n", tmp_path)
    assert (error.line, error.field) == (3, "queues[0].overflow_target")
    error = _error("number_lists:\n  - name: l\n    kind: do_not_call\n", tmp_path)
    assert (error.line, error.field) == (3, "number_lists[0].kind")
    assert "own section, do_not_call" in str(error)


async def test_trunks_and_inbound_are_imported(sqlite_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "trunk.yaml"
    path.write_text("trunks:\n  - name: carrier-a\n    kind: register\n    host: 127.0.0.1\n"
                    "    port: 5070\n    username: acct17\n    password: secret\n"
                    "    max_cps: 10\ninbound:\n  - trunk: carrier-a\n"
                    "    number_from: to\n")
    await import_file(sqlite_store, path)
    trunk = await sqlite_store.config.get("trunks", "carrier-a")
    assert trunk is not None
    assert trunk.model_dump()["max_cps"] == 10
    inbound = await sqlite_store.config.get("inbound", "carrier-a")
    assert inbound is not None
    assert inbound.model_dump()["number_from"] == "to"


async def test_a_trunk_whose_kind_and_auth_disagree_names_its_line(sqlite_store: Store,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "trunk.yaml"
    path.write_text("skills:\n  - name: de\ntrunks:\n  - name: carrier\n    host: gw.example\n"
                    "    kind: peer\n    auth: credentials\n")
    with pytest.raises(ConfigError) as caught:
        await import_file(sqlite_store, path)
    assert caught.value.line == 4
    assert caught.value.field == "trunks[0]"
    assert "disagree" in str(caught.value)
async def test_a_route_naming_a_missing_trunk_names_its_line(sqlite_store: Store,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("skills:\n  - name: de\ntrunks:\n  - name: carrier\n    host: gw.example\n"
                    "    username: u\nroutes:\n  - name: russia\n    match: '^\\+7'\n"
                    "    trunks: [carrier, ghost]\n")
    with pytest.raises(ConfigError) as caught:
        await import_file(sqlite_store, path)
    assert caught.value.line == 10
    assert caught.value.field == "routes[0].trunks.ghost"
    assert "no trunk named 'ghost'" in str(caught.value)
    assert await sqlite_store.config.records("skills") == []


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    ("routes:\n  - name: r\n    match: '^(+7'\n    trunks: [a]\n", 3, "routes[0].match",
     "not a regular expression"),
    ("routes:\n  - name: r\n    match: '^7'\n    trunks: []\n", 4, "routes[0].trunks",
     "at least 1"),
    ("site:\n  default_region: XX\n", 2, "site.default_region", "unknown region 'XX'"),
    ("site:\n  outside_line:\n    agent: abroad\n", 3, "site.outside_line.agent",
     "'none', 'national', 'international' or 'all'"),
    ("users:\n  - username: ann\n    outside_line: everywhere\n", 3,
     "users[0].outside_line", "'none', 'national'"),
    ("trunks:\n  - name: t\n    host: gw\n    username: u\n    number_format: local\n", 5,
     "trunks[0].number_format", "'e164', 'international' or 'national'"),
])
def test_route_and_rights_errors_name_the_field(text: str, line: int, field: str,
                                                message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_document(text, "site.yaml")
    assert (caught.value.line, caught.value.field) == (line, field)
    assert message in str(caught.value)


def test_routes_are_tried_in_the_order_written() -> None:
    document, _root = parse_document(
        "routes:\n  - name: b\n    match: '^1'\n    trunks: [t]\n"
        "  - name: a\n    match: '^2'\n    trunks: [t]\n")
    assert [(route.name, route.position) for route in document.routes] == [("b", 1), ("a", 2)]



async def test_an_overflow_to_a_missing_queue_names_the_line(sqlite_store: Store,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text("queues:\n  - name: a\n    overflow:\n      - when: no_agents\n"
                    "        target: queue:ghost\n")
    with pytest.raises(ConfigError) as caught:
        await import_file(sqlite_store, path)
    assert caught.value.field == "queues[0].overflow[0].target"
    assert caught.value.line == 5
    assert "ghost" in str(caught.value)


async def test_an_import_hashing_passwords_leaves_the_database_free_for_a_running_node(
        tmp_path: Path) -> None:
    """Plain-text passwords (argon2 at the production cost, ~0.1 s each) are hashed before
    the import's transaction: a node writing its records into the same SQLite file meanwhile
    is not held up (it waited for the whole import, minutes for hundreds of users), and the
    passwords are stored hashed all the same."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'site.sqlite3'}"
    importer = await open_store(url, passwords=Passwords())
    node = await open_store(url, passwords=Passwords.cheap())
    try:
        users = [{"username": f"op{n}", "password": f"password-{n}"} for n in range(12)]
        site = tmp_path / "site.yaml"
        site.write_text(yaml.safe_dump({"version": 1, "skills": [{"name": "billing"}],
                                        "users": users}))
        importing = asyncio.create_task(import_file(importer, site))
        await asyncio.sleep(0.3)  # the import is hashing
        await asyncio.wait_for(node.audit.record(
            node.clock.utcnow(), "node", "test", "config", "x", {}), 5)
        assert not importing.done()  # the node's write did not wait for the import
        assert (await importing)["users"] == 12
        stored = await node.config.get("users", "op7")
        assert isinstance(stored, UserSpec)
        assert stored.password_hash is not None
        assert verify_password(stored.password_hash, "password-7")
    finally:
        await importer.close()
        await node.close()


async def test_an_import_reads_the_stored_records_once_not_one_by_one(store: Store) -> None:
    """Importing a site again (an export applied back, a provisioning file kept in git) reads
    the stored users, devices and queues, and the users' skills and teams, in one query per
    kind: the statements do not grow with the operators (eight per operator at first, then
    two). New operators cost their writes only: a user, a skill, a team and a device each
    (nearly eight statements per operator before). Updates and new records are written all
    the same."""

    def site(operators: int) -> str:
        users = "".join(f"  - {{username: op{n}, skills: {{billing: 5}}, teams: [blue]}}\n"
                        for n in range(operators))
        devices = "".join(f"  - {{name: '{1000 + n}', user: op{n}, sip_password: pw-{n}-xx}}\n"
                          for n in range(operators))
        members = ", ".join(f"op{n}" for n in range(operators))
        return ("version: 1\nskills:\n  - name: billing\nteams:\n  - name: blue\n"
                f"users:\n{users}devices:\n{devices}queues:\n  - name: sales\n"
                f"    members: [{members}]\n")

    async def reimport(operators: int) -> int:
        document, root = parse_document(site(operators), "site.yaml")
        await apply_document(store, document, root)
        return await statements_of(store, lambda: apply_document(store, document, root))

    async def first_import(operators: int, prefix: str) -> int:
        text = site(operators).replace("op", prefix).replace("'1", f"'{prefix}1")
        document, root = parse_document(text, "site.yaml")
        return await statements_of(store, lambda: apply_document(store, document, root))

    fresh_few = await first_import(10, "a")
    assert await first_import(30, "b") - fresh_few <= 4 * 20
    few, many = await reimport(10), await reimport(30)
    assert many == few
    changed = site(30).replace("{username: op7, skills: {billing: 5}",
                               "{username: op7, skills: {billing: 9}") \
        .replace("members: [op0, ", "members: [op30, op0, ") \
        .replace("devices:\n", "  - {username: op30}\ndevices:\n")
    document, root = parse_document(changed, "site.yaml")
    assert await apply_document(store, document, root) == {"users": 2, "queues": 1}
    op7 = await store.config.get("users", "op7")
    assert isinstance(op7, UserSpec)
    assert op7.skills == {"billing": 9}
    sales = await store.config.get("queues", "sales")
    assert isinstance(sales, QueueSpec)
    assert sales.members[:2] == ["op30", "op0"]
    device = await store.directory.sip_credentials("1007")
    assert device is not None
    assert device.user == "op7"
