"""Scripts and result codes in the provisioning YAML: accepted, attached to queues, stored
and exported unchanged, and refused with the file, line and field at fault."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.config import ConfigError
from parley.provisioning import apply_document, export_text, parse_document
from parley.store import Store, open_store
from parley.store.credentials import Passwords
from parley.store.database import Conflict
from parley.store.specs import QueueSpec, ResultCodesSpec, ScriptSpec

SITE = """\
scripts:
  - name: sales-call
    title: Sales call
    blocks:
      - id: customer
        title: Customer information
        fields:
          - id: interested
            label: Interested?
            type: choice
            required: true
            options: [yes-please, no-thanks]
      - id: refusal
        title: Reasons for refusal
        show_if: {field: interested, equals: no-thanks}
        fields:
          - id: reasons
            label: Reasons
            type: checkboxes
            options: [price, quality]
result_codes:
  - name: sales
    codes:
      - {code: sold, label: Sold, disposition: success}
      - {code: later, label: Call back later, disposition: callback}
      - {code: refused, label: Refused, disposition: not_interested}
queues:
  - name: sales
    script: sales-call
    result_codes: sales
"""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'site.sqlite3'}",
                              passwords=Passwords.cheap())
    yield opened
    await opened.close()


async def test_a_script_and_result_codes_attach_to_a_queue_and_round_trip(store: Store) -> None:
    document, root = parse_document(SITE, "site.yaml")
    assert await apply_document(store, document, root, "site.yaml") == {
        "scripts": 1, "result_codes": 1, "queues": 1}
    queue = await store.config.get("queues", "sales")
    assert isinstance(queue, QueueSpec)
    assert (queue.script, queue.result_codes) == ("sales-call", "sales")
    script = await store.config.get("scripts", "sales-call")
    assert isinstance(script, ScriptSpec)
    assert [b.id for b in script.script().blocks] == ["customer", "refusal"]
    codes = await store.config.get("result_codes", "sales")
    assert isinstance(codes, ResultCodesSpec)
    assert [(c.code, c.disposition) for c in codes.codes] == [
        ("sold", "success"), ("later", "callback"), ("refused", "not_interested")]
    exported = await export_text(store)
    again, again_root = parse_document(exported, "export.yaml")
    assert await apply_document(store, again, again_root) == {}
    with pytest.raises(Conflict, match="script 'sales-call' is still in use by queue 'sales'"):
        await store.config.delete("scripts", "sales-call")


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_document(text, "site.yaml")
    return str(caught.value)


def test_a_bad_script_names_its_line_block_and_field() -> None:
    broken = SITE.replace("show_if: {field: interested, equals: no-thanks}",
                          "show_if: {field: interested, equals: maybe}")
    assert _error(broken) == (
        "site.yaml:15: script 'sales-call' block 'refusal': 'maybe' is not an option of "
        "'interested' (options: yes-please, no-thanks) "
        "(field 'scripts[0].blocks[1].show_if.equals')")
    unknown_type = SITE.replace("type: checkboxes", "type: tickboxes")
    message = _error(unknown_type)
    assert message.startswith("site.yaml:19: script 'sales-call' block 'refusal' field "
                              "'reasons': type must be one of")


def test_a_bad_result_code_names_its_line() -> None:
    message = _error(SITE.replace("disposition: callback", "disposition: later"))
    assert message.startswith("site.yaml:25: Input should be 'success', 'callback'")
    assert "(field 'result_codes[0].codes[1].disposition')" in message
    twice = _error(SITE.replace("code: refused", "code: sold"))
    assert "the code 'sold' is listed twice" in twice


async def test_a_queue_naming_an_unknown_script_is_refused_with_its_line(store: Store) -> None:
    document, root = parse_document(SITE.replace("script: sales-call", "script: ghost"),
                                    "site.yaml")
    with pytest.raises(ConfigError) as caught:
        await apply_document(store, document, root, "site.yaml")
    assert str(caught.value) == ("site.yaml:29: no script named 'ghost' "
                                 "(field 'queues[0].script')")


CAMPAIGN = """\
campaigns:
  - name: spring
    mode: preview
    queue: sales
    caller_id: "+74951110001"
    script: sales-call
    result_codes: sales
"""


async def test_a_campaign_names_its_script_and_result_codes(store: Store) -> None:
    document, root = parse_document(SITE + CAMPAIGN, "site.yaml")
    await apply_document(store, document, root, "site.yaml")
    campaign = await store.config.get("campaigns", "spring")
    assert (getattr(campaign, "script", None), getattr(campaign, "result_codes", None)) == (
        "sales-call", "sales")
    await store.config.put("queues", QueueSpec(name="sales"))  # the queue lets go of both
    with pytest.raises(Conflict, match="result code list 'sales' is still in use by "
                                       "campaign 'spring'"):
        await store.config.delete("result_codes", "sales")
    ghost = CAMPAIGN.replace("result_codes: sales", "result_codes: ghost")
    document, root = parse_document(SITE + ghost, "site.yaml")
    with pytest.raises(ConfigError) as caught:
        await apply_document(store, document, root, "site.yaml")
    assert str(caught.value) == ("site.yaml:37: no result_code_list named 'ghost' "
                                 "(field 'campaigns[0].result_codes')")


async def test_the_documented_example_imports(store: Store) -> None:
    docs = Path(__file__).parents[2] / "docs" / "scripts.md"
    examples = docs.read_text().split("```yaml\n")[1:]
    text = "".join(example.split("```")[0] for example in examples)
    document, root = parse_document(text, "docs/scripts.md")
    assert await apply_document(store, document, root, "docs/scripts.md") == {
        "scripts": 1, "result_codes": 1, "queues": 1}
