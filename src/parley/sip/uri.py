"""SIP and SIPS URIs (RFC 3261 §19.1): parse, serialise, compare the parts that matter.

``SipUri.parse("sip:1001@10.0.0.5:5060;transport=udp?Subject=hi")`` gives a frozen value;
``str(uri)`` gives the text back. Parameters and headers keep their order; parameter names
compare case-insensitively through :meth:`SipUri.param`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, cast
from urllib.parse import quote, unquote

from parley.sip import compiled
from parley.sip.errors import SipParseError

_V = TypeVar("_V")


def frozen_value(cls: type[_V], fields: dict[str, Any]) -> _V:
    """An instance of the frozen dataclass ``cls`` holding ``fields`` (every field named):
    what its ``__init__`` gives, without one ``object.__setattr__`` call per field, which is
    most of a parsed value's cost on the parser's hot path."""
    value = object.__new__(cls)
    value.__dict__.update(fields)
    return value


_SCHEMES = ("sip", "sips", "tel")
# The common shape (sip:user@host:port;params, nothing escaped), parsed in one match.
_FAST = re.compile(r"(sips?):(?:([A-Za-z0-9\-_.!~*'()&=+$,]+)@)?([A-Za-z0-9\-.]+)"
                   r"(?::(\d{1,5}))?((?:;[A-Za-z0-9\-_.!~*'()/:&+$=]+)*)\Z")
_USER_SAFE = "-_.!~*'()&=+$,;?/"
_PARAM_SAFE = "-_.!~*'()[]/:&+$"
# What quote() would leave as it is with those safe sets: most users (numbers, names) and
# parameter values (tags, transport, lr) need no escaping, and the test is cheaper than quote
_USER_PLAIN = re.compile(r"[A-Za-z0-9_.\-~!*'()&=+$,;?/]*\Z").match
_PARAM_PLAIN = re.compile(r"[A-Za-z0-9_.\-~!*'()\[\]/:&+$]*\Z").match


@dataclass(frozen=True)
class SipUri:
    """A ``sip:``, ``sips:`` or ``tel:`` URI. ``port`` is None when the URI names none."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = field(default=())
    headers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def parse(cls, text: str, *, header: str | None = None) -> SipUri:
        """Parse ``text``; a malformed URI raises :class:`SipParseError` naming ``header``."""
        if (compiled_uri := compiled.uri) is not None \
                and (value := compiled_uri(cls, text)) is not None:
            return cast(SipUri, value)
        text = text.strip()
        fast = _FAST.match(text)
        if fast is not None:
            scheme_, user_, host_, port_, ptext_ = fast.groups()
            port = None
            if port_ is not None:
                port = int(port_)
                if not 0 < port < 65536:
                    return cls.parse_general(text, header=header)
            params_: tuple[tuple[str, str | None], ...] = ()
            if ptext_:
                items: list[tuple[str, str | None]] = []
                for item in ptext_[1:].split(";"):
                    k, eq, v = item.partition("=")
                    if not k:
                        items = list(_parse_params(ptext_, "", header))
                        break
                    items.append((k, v if eq else None))
                params_ = tuple(items)
            return frozen_value(cls, {"scheme": scheme_, "user": user_, "password": None,
                                      "host": host_, "port": port, "params": params_,
                                      "headers": ()})
        return cls.parse_general(text, header=header)

    @classmethod
    def parse_general(cls, text: str, *, header: str | None = None) -> SipUri:
        """The full parser (escapes, IPv6, passwords, URI headers, tel:); :meth:`parse`
        takes a one-regex fast path for the common shape and gives the same result."""
        text = text.strip()
        where = f"{header}: " if header else ""
        scheme, sep, rest = text.partition(":")
        scheme = scheme.lower()
        if not sep or scheme not in _SCHEMES:
            raise SipParseError(f"{where}URI {text[:80]!r} is not a sip:, sips: or tel: URI",
                                header=header)
        if scheme == "tel":
            number, _, ptext = rest.partition(";")
            if not number:
                raise SipParseError(f"{where}tel: URI has no number", header=header)
            return cls(scheme="tel", user=unquote(number), host="",
                       params=_parse_params(ptext, where, header))
        rest, _, htext = rest.partition("?")
        userinfo, at, hostpart = rest.rpartition("@")
        if not at:
            hostpart = rest
        user: str | None = None
        password: str | None = None
        if at:
            u, colon, pw = userinfo.partition(":")
            user = unquote(u)
            password = unquote(pw) if colon else None
        hostport, _, ptext = hostpart.partition(";")
        host, port = _split_hostport(hostport, where, header)
        headers: list[tuple[str, str]] = []
        if htext:
            for item in htext.split("&"):
                name, _, value = item.partition("=")
                if not name:
                    raise SipParseError(f"{where}URI header {item!r} has no name", header=header)
                headers.append((unquote(name), unquote(value)))
        return cls(scheme=scheme, user=user, password=password, host=host, port=port,
                   params=_parse_params(ptext, where, header), headers=tuple(headers))

    def __str__(self) -> str:
        if self.scheme == "tel":
            out = f"tel:{self.user or ''}"
        else:
            out = f"{self.scheme}:"
            if self.user is not None:
                user = self.user
                out += user if _USER_PLAIN(user) else quote(user, safe=_USER_SAFE)
                if self.password is not None:
                    out += ":" + quote(self.password, safe=_USER_SAFE)
                out += "@"
            out += f"[{self.host}]" if ":" in self.host else self.host
            if self.port is not None:
                out += f":{self.port}"
        for name, value in self.params:
            if value is None:
                out += f";{name}"
            else:
                out += f";{name}={value if _PARAM_PLAIN(value) else quote(value, safe=_PARAM_SAFE)}"
        if self.headers:
            out += "?" + "&".join(
                f"{quote(n, safe=_PARAM_SAFE)}={quote(v, safe=_PARAM_SAFE)}"
                for n, v in self.headers)
        return out

    def param(self, name: str, default: str | None = None) -> str | None:
        """The value of parameter ``name`` (``""`` for a flag such as ``;lr``), or default."""
        lname = name.lower()
        for key, value in self.params:
            if key.lower() == lname:
                return "" if value is None else value
        return default

    def has_param(self, name: str) -> bool:
        lname = name.lower()
        return any(key.lower() == lname for key, _ in self.params)

    def with_param(self, name: str, value: str | None = None) -> SipUri:
        """A copy with parameter ``name`` set (replacing an existing one)."""
        lname = name.lower()
        kept = tuple((k, v) for k, v in self.params if k.lower() != lname)
        return replace(self, params=(*kept, (name, value)))

    def without_param(self, name: str) -> SipUri:
        lname = name.lower()
        return replace(self, params=tuple((k, v) for k, v in self.params if k.lower() != lname))

    @property
    def transport(self) -> str:
        """The transport this URI asks for: ``transport`` param, else tls for sips, else udp."""
        value = self.param("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"

    @property
    def address_of_record(self) -> str:
        """``scheme:user@host`` lower-cased host, no port or params: the key of a registration."""
        if self.user is None:
            return f"{self.scheme}:{self.host.lower()}"
        return f"{self.scheme}:{self.user}@{self.host.lower()}"

    @property
    def is_loose_router(self) -> bool:
        return self.has_param("lr")


def _split_hostport(text: str, where: str, header: str | None) -> tuple[str, int | None]:
    if not text:
        raise SipParseError(f"{where}URI has no host", header=header)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"{where}IPv6 host {text!r} has no closing ]", header=header)
        host, tail = text[1:end], text[end + 1:]
        if tail and not tail.startswith(":"):
            raise SipParseError(f"{where}junk after IPv6 host in {text!r}", header=header)
        port_text = tail[1:] if tail else None
    else:
        host, colon, port_text_ = text.partition(":")
        port_text = port_text_ if colon else None
    if not host or any(c in host for c in " \t<>\"@"):
        raise SipParseError(f"{where}bad host {host!r}", header=header)
    port: int | None = None
    if port_text is not None:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SipParseError(f"{where}bad port {port_text!r} (must be 1-65535)",
                                header=header)
        port = int(port_text)
    return host, port


def _parse_params(
    text: str, where: str, header: str | None
) -> tuple[tuple[str, str | None], ...]:
    params: list[tuple[str, str | None]] = []
    if not text:
        return ()
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        if not name.strip():
            raise SipParseError(f"{where}URI parameter {item!r} has no name", header=header)
        params.append((unquote(name.strip()), unquote(value.strip()) if eq else None))
    return tuple(params)
