"""Provisioning: the whole configuration as one YAML document (``parley import``/``export``).

Importing creates or updates every record the document names and leaves others alone;
importing an export changes nothing. The document is checked completely before anything is
written, and an import that fails half-way is rolled back. Errors name the file, the line and
the field, e.g. ``site.yaml:42: users[3].roles[0]: Input should be 'agent', …``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from parley.config import ConfigError, read_yaml
from parley.dialer.ranges import NumberRanges
from parley.store import NotFound, Store
from parley.store.database import Conflict, Refused
from parley.store.specs import KINDS, ConfigDocument, Role, UserSpec

DEMO_ADMIN = "admin"


def _node_at(node: yaml.Node | None, path: tuple[int | str, ...]) -> yaml.Node | None:
    """The deepest YAML node along ``path`` (mapping keys and sequence indices)."""
    for step in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(step):
                    node = value
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if step >= len(node.value):
                return node
            node = node.value[step]
        elif isinstance(node, yaml.SequenceNode):  # a list of names: the item naming ``step``
            for item in node.value:
                if isinstance(item, yaml.ScalarNode) and item.value == step:
                    node = item
                    break
            else:
                return node
        else:
            return node
    return node


def _line(root: yaml.Node | None, path: tuple[int | str, ...]) -> int | None:
    node = _node_at(root, path)
    return None if node is None else node.start_mark.line + 1


def _field(path: tuple[int | str, ...]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def parse_document(text: str, file: str = "<document>") -> tuple[ConfigDocument, yaml.Node]:
    """Parse and validate a provisioning document; raises :class:`ConfigError`."""
    try:
        root, data = read_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {exc.problem or exc}", file=file,
                          line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the document must be a mapping of sections (site, users, …)",
                          file=file, line=1)
    try:
        document = ConfigDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = tuple(first["loc"])
        cause = first.get("ctx", {}).get("error")
        path += tuple(getattr(cause, "path", ()))  # a script's error names its field's path
        # A model-level check (e.g. a trunk's auth) points at the item, not a field.
        message = first["msg"].removeprefix("Value error, ")
        more = f" ({exc.error_count() - 1} more errors)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{message}{more}", file=file, line=_line(root, path),
                          field=_field(path)) from exc
    assert root is not None  # noqa: S101 - data was a mapping
    return document, root


def load_document(path: Path) -> tuple[ConfigDocument, yaml.Node]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", file=str(path)) from exc
    return parse_document(text, str(path))


async def apply_document(store: Store, document: ConfigDocument, root: yaml.Node | None = None,
                         file: str = "<document>") -> dict[str, int]:
    """Write the document in one transaction (plain-text passwords hashed before it begins);
    returns the number of changed records per kind.

    A reference to something that does not exist (a user's skill, a queue member) fails the
    whole import with the line of the record that names it.
    """
    changes: dict[str, int] = {}
    if any(user.password is not None for user in document.users):  # before the write lock
        document = document.model_copy(update={"users": [
            await store.config.with_password_hashed(user) for user in document.users]})
    async with store.config.transaction() as tx:
        await tx.prepare_bulk(kind for kind in KINDS if document.items(kind))
        if document.site is not None and await tx.put_site(document.site):
            changes["site"] = 1
        for kind in KINDS:
            for index, spec in enumerate(document.items(kind)):
                with _at_record(root, file, kind, index):
                    changed = await tx.put(kind, spec, check_targets=False)
                    await tx.session.flush()
                if changed:
                    changes[kind] = changes.get(kind, 0) + 1
        for index, queue in enumerate(document.queues):  # now that every queue is in
            with _at_record(root, file, "queues", index):
                await tx.check_targets(queue)
    return changes


@contextmanager
def _at_record(root: yaml.Node | None, file: str, kind: str, index: int) -> Iterator[None]:
    """Turn a store error about record ``kind[index]`` into a :class:`ConfigError` with the
    line of the field it names (``members.ghost: no user named 'ghost'``) or of the record."""
    try:
        yield
    except (NotFound, Conflict, Refused) as exc:
        path: tuple[int | str, ...] = (kind, index)
        field, _, reason = str(exc).partition(": ")
        if isinstance(exc, Refused) or not reason:
            raise ConfigError(str(exc), file=file, line=_line(root, path),
                              field=f"{kind}[{index}]") from exc
        steps = tuple(int(p) if p.isdigit() else p for p in field.split("."))
        field_path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in steps)
        raise ConfigError(reason, file=file, line=_line(root, path + steps),
                          field=f"{kind}[{index}]{field_path}") from exc


async def import_file(store: Store, path: Path) -> dict[str, int]:
    """``parley import FILE``: validate the whole file (and the number-range table it names),
    then write it."""
    document, root = load_document(path)
    ranges = read_number_ranges(document, root, path)
    changes = await apply_document(store, document, root, str(path))
    if ranges is not None:
        text, rows = ranges
        stored = await store.campaigns.number_ranges()
        if stored is None or stored.csv != text:
            await store.campaigns.save_number_ranges(text, rows, by=f"import {path.name}")
            changes["number_ranges"] = 1
    return changes


def read_number_ranges(document: ConfigDocument, root: yaml.Node | None,
                       path: Path) -> tuple[str, int] | None:
    """The CSV text and size of the number-range table the document names (``number_ranges:
    ranges.csv``, relative to the document), checked whole; raises :class:`ConfigError`
    naming the CSV file and every bad line and field."""
    if document.number_ranges is None:
        return None
    table_path = path.parent / document.number_ranges
    try:
        text = table_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the number-range table {str(table_path)!r}: {reason}",
                          file=str(path), line=_line(root, ("number_ranges",)),
                          field="number_ranges") from exc
    table, problems = NumberRanges.check_csv(text)
    if problems:
        first, rest = problems[0], problems[1:]
        more = "".join(f"\n{table_path}:{p.line}: {p.reason} (field {p.field!r})"
                       for p in rest)
        raise ConfigError(f"{first.reason} (field {first.field!r}){more}",
                          file=str(table_path), line=first.line)
    if not len(table):
        raise ConfigError("the number-range table has no ranges or prefixes",
                          file=str(table_path), line=1)
    return text, len(table)


def dump_document(document: ConfigDocument) -> str:
    """The YAML text of a document, sections in import order, unset fields left out."""
    data: dict[str, Any] = document.model_dump(mode="json", exclude_none=True)
    for kind in KINDS:
        if not data.get(kind):
            data.pop(kind, None)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


async def export_text(store: Store) -> str:
    """``parley export``: the whole configuration as YAML."""
    return dump_document(await store.config.document())


@dataclass(frozen=True)
class DemoLogin:
    """The demo admin's login, printed by ``parley demo``."""

    username: str
    password: str


def demo_document() -> tuple[ConfigDocument, yaml.Node]:
    text = resources.files("parley").joinpath("demo.yaml").read_text(encoding="utf-8")
    return parse_document(text, "demo.yaml")


async def load_demo(store: Store) -> DemoLogin:
    """Import the demo configuration and give the demo admin a fresh random password."""
    document, root = demo_document()
    await apply_document(store, document, root, "demo.yaml")
    password = secrets.token_urlsafe(12)
    await store.config.put("users", UserSpec(username=DEMO_ADMIN, display_name="Demo admin",
                                             roles=[Role.ADMIN], password=password))
    return DemoLogin(DEMO_ADMIN, password)
