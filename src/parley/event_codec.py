"""Events as JSON objects and back, exactly: what the journal writes to disk for the store's
recorders (:mod:`parley.journal`). Pure: no I/O.

``encode(event)`` gives ``{"type": "Hangup", "data": {...}}``; ``decode`` turns it back into an
equal frozen dataclass. Field types are read from the dataclasses' annotations: ``str``,
``int``, ``float``, ``bool`` (each also as ``X | None``), the enums of :mod:`parley.events`,
``datetime`` (ISO 8601 with its offset), ``dict[str, object]`` (free JSON) and
``tuple[dict[str, object], ...]`` (a list of JSON objects). Only the
types in :data:`CODED` are coded; anything else is refused with :class:`CodecError` naming
the type or field at fault.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any

from parley import events as ev

CODED: tuple[type[Any], ...] = (
    ev.ChannelCreated, ev.Answered, ev.Hangup, ev.CallProgress, ev.VoicemailLeft,
    ev.RecordingStored, ev.AgentStateChanged, ev.CallCarried,
)
"""The event types that can be journaled: those the store's recorders consume."""

_BY_NAME: dict[str, type[Any]] = {kind.__name__: kind for kind in CODED}


class CodecError(ValueError):
    """An event that cannot be encoded, or a JSON object that is not a coded event."""


def _field_types(kind: type[Any]) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(kind)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(kind))


_FIELDS: dict[str, tuple[tuple[str, Any], ...]] = {
    kind.__name__: _field_types(kind) for kind in CODED}


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CodecError(f"a naive datetime {value!r} (times are UTC, with an offset)")
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [dict(item) for item in value]
    return value


def encode(event: object) -> dict[str, Any]:
    """``event`` as ``{"type": name, "data": {field: JSON value}}``."""
    kind = type(event)
    if _BY_NAME.get(kind.__name__) is not kind:
        raise CodecError(f"{kind.__name__} is not a journaled event type")
    fields = _FIELDS[kind.__name__]
    return {"type": kind.__name__,
            "data": {name: _encode_value(getattr(event, name)) for name, _ in fields}}


Reader = Callable[[Any], Any]
"""Turns one field's JSON value back into its Python value (CodecError naming the field)."""


def _reader(where: str, hint: Any) -> Reader:
    """The reader of a field of type ``hint``, chosen once per field: decoding runs for
    every journal line each recorder reads, so the type is not worked out per value."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(inner) == 1 and len(typing.get_args(hint)) == 2:  # X | None
            present = _reader(where, inner[0])
            return lambda value: None if value is None else present(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_reader(where, hint)
    if hint is datetime:
        return functools.partial(_read_time, where)
    if hint is float:
        return functools.partial(_read_number, where)
    if hint in (str, int, bool):
        return functools.partial(_read_exact, where, hint)
    if typing.get_origin(hint) is dict:
        return functools.partial(_read_object, where)
    if typing.get_origin(hint) is tuple and typing.get_origin(typing.get_args(hint)[0]) is dict:
        return functools.partial(_read_objects, where)
    raise CodecError(f"{where}: no codec for {hint!r}")  # pragma: no cover - CODED is fixed


def _enum_reader(where: str, kind: type[enum.Enum]) -> Reader:
    def read(value: Any) -> Any:
        try:
            return kind(value)
        except ValueError as exc:
            raise CodecError(f"{where}: {value!r} is not a {kind.__name__}") from exc
    return read


def _read_time(where: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise CodecError(f"{where}: expected an ISO 8601 time, got {value!r}")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise CodecError(f"{where}: {value!r} is not an ISO 8601 time") from exc


def _read_number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CodecError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _read_exact(where: str, kind: type[Any], value: Any) -> Any:
    if type(value) is not kind:
        raise CodecError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _read_object(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CodecError(f"{where}: expected an object, got {value!r}")
    return value


def _read_objects(where: str, value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise CodecError(f"{where}: expected a list of objects, got {value!r}")
    return tuple(value)


_READERS: dict[str, tuple[type[Any], frozenset[str], tuple[tuple[str, Reader], ...]]] = {
    name: (_BY_NAME[name], frozenset(field for field, _ in fields),
           tuple((field, _reader(f"{name}.{field}", hint)) for field, hint in fields))
    for name, fields in _FIELDS.items()}


def decode(obj: Any) -> object:
    """The event ``obj`` (as :func:`encode` made it) stands for."""
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str) \
            or not isinstance(obj.get("data"), dict):
        raise CodecError("expected an object with a 'type' string and a 'data' object")
    name, data = obj["type"], obj["data"]
    found = _READERS.get(name)
    if found is None:
        raise CodecError(f"type: {name!r} is not a journaled event type")
    kind, known, readers = found
    if not known.issuperset(data):
        raise CodecError(f"{name}: unknown field {sorted(set(data) - known)[0]!r}")
    values = {field: read(data[field]) for field, read in readers if field in data}
    try:
        return kind(**values)
    except TypeError as exc:  # a required field is missing
        raise CodecError(f"{name}: {exc}") from exc
