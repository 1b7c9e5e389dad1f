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
import types
import typing
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


def _decode_value(kind: str, name: str, hint: Any, value: Any) -> Any:
    where = f"{kind}.{name}"
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(inner) == 1 and len(typing.get_args(hint)) == 2:  # X | None
            if value is None:
                return None
            hint = inner[0]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError as exc:
            raise CodecError(f"{where}: {value!r} is not a {hint.__name__}") from exc
    if hint is datetime:
        if not isinstance(value, str):
            raise CodecError(f"{where}: expected an ISO 8601 time, got {value!r}")
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise CodecError(f"{where}: {value!r} is not an ISO 8601 time") from exc
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CodecError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint in (str, int, bool):
        if type(value) is not hint:
            raise CodecError(f"{where}: expected {hint.__name__}, got {value!r}")
        return value
    if typing.get_origin(hint) is dict:
        if not isinstance(value, dict):
            raise CodecError(f"{where}: expected an object, got {value!r}")
        return value
    if typing.get_origin(hint) is tuple and typing.get_origin(typing.get_args(hint)[0]) is dict:
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise CodecError(f"{where}: expected a list of objects, got {value!r}")
        return tuple(value)
    raise CodecError(f"{where}: no codec for {hint!r}")  # pragma: no cover - CODED is fixed


def decode(obj: Any) -> object:
    """The event ``obj`` (as :func:`encode` made it) stands for."""
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str) \
            or not isinstance(obj.get("data"), dict):
        raise CodecError("expected an object with a 'type' string and a 'data' object")
    name, data = obj["type"], obj["data"]
    kind = _BY_NAME.get(name)
    if kind is None:
        raise CodecError(f"type: {name!r} is not a journaled event type")
    fields = _FIELDS[name]
    unknown = set(data) - {field for field, _ in fields}
    if unknown:
        raise CodecError(f"{name}: unknown field {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {}
    for field, hint in fields:
        if field in data:
            values[field] = _decode_value(name, field, hint, data[field])
    try:
        return kind(**values)
    except TypeError as exc:  # a required field is missing
        raise CodecError(f"{name}: {exc}") from exc
