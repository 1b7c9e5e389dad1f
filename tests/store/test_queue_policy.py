"""Queue call handling and the site's ready-on-register switch: defaults that change nothing,
values kept through the store and through export/import, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from parley.config import ConfigError
from parley.provisioning import export_text, import_file, parse_document
from parley.store import Store
from parley.store.specs import ConfigDocument, QueueSpec, SiteSpec, UserSpec


def test_defaults() -> None:
    queue = QueueSpec(name="sales")
    assert (queue.recording, queue.ring_timeout_s, queue.announce_every_s,
            queue.callback_offer_s, queue.music) == ("none", 15, 30, None, "default")
    assert SiteSpec().ready_on_register is False


@pytest.mark.parametrize(("field", "value"), [
    ("recording", "sometimes"),
    ("ring_timeout_s", 0),
    ("ring_timeout_s", 301),
    ("announce_every_s", 5),
    ("announce_every_s", 3601),
    ("announce_every_s", -1),
    ("callback_offer_s", 0),
    ("callback_offer_s", 86401),
    ("music", "no spaces"),
])
def test_out_of_range_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        QueueSpec.model_validate({"name": "q", field: value})
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


def test_announcements_are_off_or_at_least_ten_seconds_apart() -> None:
    assert QueueSpec(name="q", announce_every_s=0).announce_every_s == 0
    assert QueueSpec(name="q", announce_every_s=10).announce_every_s == 10
    with pytest.raises(ValidationError, match="0 for no announcements"):
        QueueSpec(name="q", announce_every_s=9)


def test_a_provisioning_error_names_the_line_and_field() -> None:
    text = "queues:\n  - name: q\n    ring_timeout_s: 900\n"
    with pytest.raises(ConfigError) as caught:
        parse_document(text, "site.yaml")
    assert caught.value.line == 3
    assert caught.value.field == "queues[0].ring_timeout_s"


async def test_policy_is_stored_and_changed(store: Store) -> None:
    policy = QueueSpec(name="support", recording="all", ring_timeout_s=25,
                       announce_every_s=0, callback_offer_s=120, music="calm")
    assert await store.config.put("queues", policy)
    assert await store.config.get("queues", "support") == policy
    assert not await store.config.put("queues", policy)  # the same again changes nothing
    changed = policy.model_copy(update={"recording": "on_demand", "callback_offer_s": None})
    assert await store.config.put("queues", changed)
    assert await store.config.get("queues", "support") == changed


async def test_site_ready_on_register(store: Store) -> None:
    assert not await store.config.put_site(SiteSpec())
    assert await store.config.put_site(SiteSpec(ready_on_register=True))
    assert (await store.config.site()).ready_on_register is True
    assert not await store.config.put_site(SiteSpec(ready_on_register=True))
    assert await store.config.put_site(SiteSpec())
    assert (await store.config.site()).ready_on_register is False


async def test_export_import_keeps_the_policy(store: Store, tmp_path: Path) -> None:
    document = ConfigDocument(
        site=SiteSpec(name="HQ", ready_on_register=True),
        users=[UserSpec(username="1001", extension="1001")],
        queues=[QueueSpec(name="support", members=["1001"], recording="all",
                          ring_timeout_s=20, announce_every_s=60, callback_offer_s=300,
                          music="jazz"),
                QueueSpec(name="sales")])
    await store.config.apply(document)
    exported = await export_text(store)
    assert "callback_offer_s: 300" in exported
    assert "ready_on_register: true" in exported
    path = tmp_path / "export.yaml"
    path.write_text(exported)
    assert await import_file(store, path) == {}  # importing the export changes nothing
    assert await export_text(store) == exported
    stored = await store.config.document()
    assert stored.site == document.site
    assert stored.queues == sorted(document.queues, key=lambda queue: queue.name)
