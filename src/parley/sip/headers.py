"""SIP headers: names (compact forms, case), the ordered header list, and typed values.

:class:`Headers` is an immutable, ordered list of ``(name, value)`` lines with case-insensitive
look-up; names are stored in their canonical spelling (``v`` and ``VIA`` both become ``Via``).
Typed values parse one header value each: :class:`Via`, :class:`NameAddr` (From, To, Contact,
Route, Record-Route), :class:`CSeq`. Multi-valued headers (``Via: a, b``) are split on commas
outside quotes and angle brackets by :meth:`Headers.values`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import cast

from parley.sip import compiled
from parley.sip.errors import SipParseError
from parley.sip.uri import SipUri, frozen_value

COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact", "b": "Referred-By", "c": "Content-Type", "d": "Request-Disposition",
    "e": "Content-Encoding", "f": "From", "i": "Call-ID", "j": "Reject-Contact",
    "k": "Supported", "l": "Content-Length", "m": "Contact", "n": "Identity-Info",
    "o": "Event", "r": "Refer-To", "s": "Subject", "t": "To", "u": "Allow-Events", "v": "Via",
    "x": "Session-Expires", "y": "Identity",
}

_CANONICAL = {name.lower(): name for name in (
    *COMPACT_FORMS.values(), "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info",
    "Allow", "Authentication-Info", "Authorization", "Call-Info", "Content-Disposition",
    "Content-Language", "CSeq", "Date", "Error-Info", "Expires", "In-Reply-To",
    "Max-Forwards", "MIME-Version", "Min-Expires", "Min-SE", "Organization", "Path",
    "P-Asserted-Identity", "Priority", "Proxy-Authenticate", "Proxy-Authorization",
    "Proxy-Require", "RAck", "Reason", "Record-Route", "Replaces", "Reply-To", "Require",
    "Retry-After", "Route", "RSeq", "Server", "Service-Route", "Subscription-State",
    "Timestamp", "Unsupported", "User-Agent", "Warning", "WWW-Authenticate",
)}

#: Headers whose value is a comma-separated list (RFC 3261 §7.3.1); others keep commas.
LIST_HEADERS = frozenset(name.lower() for name in (
    "Via", "Contact", "Route", "Record-Route", "Path", "Service-Route", "Allow", "Supported",
    "Require", "Proxy-Require", "Unsupported", "Accept", "Accept-Encoding", "Accept-Language",
    "Content-Encoding", "Content-Language", "Allow-Events", "In-Reply-To", "Alert-Info",
    "Call-Info", "Error-Info", "Warning", "Reason", "P-Asserted-Identity",
))


_CANONICAL.update({short: full for short, full in COMPACT_FORMS.items()})


@lru_cache(maxsize=1024)
def canonical_name(name: str) -> str:
    """The canonical spelling of a header name, expanding compact forms (``i`` → ``Call-ID``)."""
    return _CANONICAL.get(name.lower(), name)


_KEYS: dict[str, str] = {}
# A header name as written before its colon (a token, maybe followed by blanks) → its
# canonical spelling and look-up key; bounded like _KEYS. Public for the message parser's
# compiled scanner, which reads it (and fills it through name_info) as it goes.
NAMES_SEEN: dict[str, tuple[str, str]] = {}
_NAME_AS_WRITTEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+[ \t]*\Z")


def _key(name: str) -> str:
    """The look-up key of a header name (canonical, lower case), remembered for the names
    seen so far (a bounded number: names come from the network)."""
    key = _KEYS.get(name)
    if key is None:
        key = canonical_name(name).lower()
        if len(_KEYS) < 4096:
            _KEYS[name] = key
    return key


def name_info(written: str) -> tuple[str, str] | None:
    """The canonical name and look-up key of a header name as written, or None when it is
    not a token."""
    info = NAMES_SEEN.get(written)
    if info is None:
        if not _NAME_AS_WRITTEN.match(written):
            return None
        canonical = canonical_name(written.rstrip(" \t"))
        info = (canonical, canonical.lower())
        if len(NAMES_SEEN) < 4096:
            NAMES_SEEN[written] = info
    return info


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
# The common shapes, parsed in one match each; anything else takes the general parser, which
# accepts the same texts with the same result (tests/sip/test_message.py checks both agree).
_PARAMS_FAST = r'((?:;[^;=\s"<>,]+(?:=[^;"\s]*)?)*)'
_SENT_BY_FAST = re.compile(r"SIP/2\.0/([A-Za-z]+) ([A-Za-z0-9\-.]+)(?::(\d{1,5}))?\Z")
_NAME_ADDR_FAST = re.compile(r'(?:"((?:[^"\\]|\\.)*)"[ \t]*|([^"<>;,]*?)[ \t]*)?'
                             r'<([^<>"\s]+)>' + _PARAMS_FAST + r"\Z")
_LIST_ITEM = re.compile(r'(?:[^,"<]|"(?:[^"\\]|\\.)*"?|<[^>]*>?)+')
_PARAM_ITEM = re.compile(r'(?:[^;"]|"(?:[^"\\]|\\.)*"?)+')


def split_list(value: str) -> list[str]:
    """Split a header value on commas outside double quotes and angle brackets."""
    if "," not in value:
        item = value.strip()
        return [item] if item else []
    if '"' not in value and "<" not in value:
        return [item.strip() for item in value.split(",") if item.strip()]
    return [item.strip() for item in _LIST_ITEM.findall(value) if item.strip()]


def split_params(text: str) -> list[str]:
    """Split ``a;b=1;c="x;y"`` on semicolons outside double quotes."""
    if '"' not in text:
        return [p.strip() for p in text.split(";")]
    return [p.strip() for p in _PARAM_ITEM.findall(text)]


Params = tuple[tuple[str, str | None], ...]


_PARAMS_ONLY = re.compile(_PARAMS_FAST + r"\Z")


def _fast_params(text: str) -> Params:
    """Parameters already matched by ``_PARAMS_FAST`` (``;a=1;lr``, leading ``;`` kept)."""
    if not text:
        return ()
    params: list[tuple[str, str | None]] = []
    for item in text[1:].split(";"):
        k, eq, v = item.partition("=")
        params.append((k, v if eq else None))
    return tuple(params)


def parse_params(text: str, header: str) -> Params:
    """Parse header parameters ``;tag=x;lr`` (text after the first ``;``)."""
    out: list[tuple[str, str | None]] = []
    for item in split_params(text):
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip()
        if not name or any(c in name for c in ' \t"<>,'):
            raise SipParseError(f"{header}: bad parameter {item[:60]!r}", header=header)
        out.append((name, value.strip() if eq else None))
    return tuple(out)


def format_params(params: Params) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


def _param(params: Params, name: str) -> str | None:
    lname = name.lower()
    for key, value in params:
        if key.lower() == lname:
            return "" if value is None else value
    return None


def _set_param(params: Params, name: str, value: str | None) -> Params:
    lname = name.lower()
    if any(k.lower() == lname for k, _ in params):
        return tuple((k, value) if k.lower() == lname else (k, v) for k, v in params)
    return (*params, (name, value))


class Headers:
    """An immutable ordered list of header lines with case-insensitive look-up."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple(
            (canonical_name(name), value) for name, value in items)
        self._index: dict[str, tuple[str, ...]] | None = None

    @classmethod
    def _canonical(cls, items: Iterable[tuple[str, str]]) -> Headers:
        """Build from lines whose names are canonical already (no re-spelling pass)."""
        headers = cls.__new__(cls)
        headers._items = tuple(items)
        headers._index = None
        return headers

    @classmethod
    def built(cls, own: list[tuple[str, str]], extra: Iterable[tuple[str, str]] = (),
              length: int = 0, content_type: str | None = None) -> Headers:
        """The headers of a message Parley writes: ``own`` lines (a list the builder made,
        extended in place), named canonically by the builder, then ``extra`` (a caller's,
        re-spelled as :class:`Headers` does), then Content-Type (when given) and
        Content-Length. The builder's own names skip the re-spelling pass."""
        items = own
        items += [(canonical_name(name), value) for name, value in extra]
        if content_type:
            items.append(("Content-Type", content_type))
        items.append(("Content-Length", str(length)))
        return cls._canonical(items)

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> Headers | None:
        """Headers from unfolded ``Name: value`` lines free of control characters, with the
        look-up index built in the same pass; None when a line's name is not a token or it
        has no colon (the caller then parses line by line, which says what is wrong)."""
        items: list[tuple[str, str]] = []
        index: dict[str, tuple[str, ...]] = {}
        names = NAMES_SEEN
        for line in lines:
            written, colon, value = line.partition(":")
            info = names.get(written) or name_info(written)
            if info is None or not colon:
                return None
            canonical, key = info
            value = value.strip()
            items.append((canonical, value))
            values = index.get(key)
            index[key] = (value,) if values is None else (*values, value)
        return cls.indexed(tuple(items), index)

    @classmethod
    def indexed(cls, items: tuple[tuple[str, str], ...],
                index: dict[str, tuple[str, ...]]) -> Headers:
        """Headers from lines already split, canonically named and indexed (by
        :meth:`from_lines`, or the compiled head scanner)."""
        headers = cls.__new__(cls)
        headers._items = items
        headers._index = index
        return headers

    def _lookup(self, name: str) -> Sequence[str]:
        """Every line's value for ``name``, from an index built on first use."""
        index = self._index
        if index is None:
            index = self.index()
        return index.get(_KEYS.get(name) or _key(name), ())

    def index(self) -> dict[str, tuple[str, ...]]:
        """Every line's value by look-up key (the canonical name in lower case: ``call-id``),
        built on first use; for a reader of several headers at once, not to be changed.
        Values are tuples, not lists: the collector stops tracking a tuple of str at its
        first pass, and a received message's index lives as long as its dialog or its
        transaction (a lingering call's messages were a third of the collector's objects)."""
        index = self._index
        if index is None:
            index = {}
            for n, v in self._items:
                key = _KEYS.get(n) or _key(n)
                values = index.get(key)
                index[key] = (v,) if values is None else (*values, v)
            self._index = index
        return index

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return bool(self._lookup(name))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first line's value for ``name`` (whole line, commas kept), or ``default``."""
        values = self._lookup(name)
        return values[0] if values else default

    def lines(self, name: str) -> list[str]:
        """Every line's value for ``name``, not split on commas."""
        return list(self._lookup(name))

    def values(self, name: str) -> list[str]:
        """Every value for ``name``; list headers (Via, Contact, Route, …) split on commas."""
        lines = self._lookup(name)
        if _key(name) not in LIST_HEADERS:
            return list(lines)
        out: list[str] = []
        for line in lines:
            out.extend(split_list(line))
        return out

    def add(self, name: str, value: str) -> Headers:
        """A copy with one more line at the end."""
        return Headers._canonical((*self._items, (canonical_name(name), value)))

    def prepend(self, name: str, value: str) -> Headers:
        """A copy with one more line before every other (a new top Via)."""
        return Headers._canonical(((canonical_name(name), value), *self._items))

    def set(self, name: str, value: str) -> Headers:
        """A copy where ``name`` has exactly one line: replaced in place, or added at the end."""
        lname = _key(name)
        out: list[tuple[str, str]] = []
        done = False
        for n, v in self._items:
            if _key(n) == lname:
                if not done:
                    out.append((n, value))
                    done = True
            else:
                out.append((n, v))
        if not done:
            out.append((canonical_name(name), value))
        return Headers._canonical(out)

    def remove(self, name: str) -> Headers:
        """A copy without any line for ``name``."""
        lname = _key(name)
        return Headers._canonical(item for item in self._items if _key(item[0]) != lname)

    def replace_values(self, name: str, values: Iterable[str]) -> Headers:
        """A copy where ``name``'s lines become one line per value, where the first one was."""
        lname = _key(name)
        new = [(canonical_name(name), v) for v in values]
        out: list[tuple[str, str]] = []
        inserted = False
        for n, v in self._items:
            if _key(n) == lname:
                if not inserted:
                    out.extend(new)
                    inserted = True
            else:
                out.append((n, v))
        if not inserted:
            out.extend(new)
        return Headers(out)


@dataclass(frozen=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=z9hG4bK…;rport;received=…``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default=())

    @classmethod
    def parse(cls, text: str) -> Via:
        if (compiled_via := compiled.via) is not None \
                and (value := compiled_via(cls, text)) is not None:
            return cast(Via, value)
        # The common shape in one match (the sent-by holds no ';'). The branch is new in
        # every request; the sent-by before it is the peer's own and recurs, so its parsed
        # parts are looked up, and the rest must be plain parameters.
        semicolon = text.find(";")
        cut = len(text) if semicolon < 0 else semicolon
        sent_by = _sent_by(text[:cut])
        if sent_by is not None:
            tail = _PARAMS_ONLY.match(text, cut)
            if tail is not None:
                return frozen_value(cls, {"transport": sent_by[0], "host": sent_by[1],
                                          "port": sent_by[2],
                                          "params": _fast_params(tail.group(1))})
        return cls.parse_general(text)

    @classmethod
    def parse_general(cls, text: str) -> Via:
        """The full parser; :meth:`parse` takes a one-regex path for the common shape and
        gives the same result."""
        sent, _, ptext = text.partition(";")
        parts = sent.split(None, 1)
        if len(parts) != 2:
            raise SipParseError(f"Via: {text[:80]!r} is not 'SIP/2.0/<transport> host'",
                                header="Via")
        proto = [p.strip() for p in parts[0].split("/")]
        if len(proto) != 3 or proto[0].upper() != "SIP" or not proto[2]:
            raise SipParseError(f"Via: bad protocol {parts[0]!r} (expected SIP/2.0/UDP)",
                                header="Via")
        host, port = _hostport(parts[1].strip(), "Via")
        return cls(proto[2].upper(), host, port, parse_params(ptext, "Via"))

    def __str__(self) -> str:
        hp = f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            hp += f":{self.port}"
        return f"SIP/2.0/{self.transport} {hp}{format_params(self.params)}"

    def param(self, name: str) -> str | None:
        return _param(self.params, name)

    def with_param(self, name: str, value: str | None) -> Via:
        return replace(self, params=_set_param(self.params, name, value))

    @property
    def branch(self) -> str | None:
        return self.param("branch")

    @property
    def received(self) -> str | None:
        return self.param("received") or None

    @property
    def rport(self) -> int | None:
        """The ``rport`` value filled in by the server; None when absent or empty."""
        value = self.param("rport")
        return int(value) if value and value.isdigit() else None

    @property
    def wants_rport(self) -> bool:
        """The client asked for symmetric response routing (RFC 3581) with a bare ``;rport``."""
        return self.param("rport") is not None

    def response_address(self, default_port: int = 5060) -> tuple[str, int]:
        """Where responses go (RFC 3261 §18.2.2 with RFC 3581): received/rport over sent-by."""
        host = self.received or self.host
        port = self.rport or self.port or default_port
        return host, port


@dataclass(frozen=True)
class NameAddr:
    """``"Display" <sip:uri>;tag=x`` as in From, To, Contact, Route and Record-Route."""

    uri: SipUri
    display_name: str | None = None
    params: Params = field(default=())

    @classmethod
    def parse(cls, text: str, header: str = "From") -> NameAddr:
        """Parse one From/To/Contact/Route value; the same texts recur in every message of a
        dialog, so their (immutable) values are shared from a bounded cache (unless the
        compiled parser reads the common shape: faster than the look-up)."""
        if (compiled_name_addr := compiled.name_addr) is not None \
                and (value := compiled_name_addr(cls, SipUri, text)) is not None:
            return cast(NameAddr, value)
        if len(text) > 256:  # long values (rare, or hostile) are not kept
            return cls.parse_uncached(text, header)
        # A From's tag changes with each call, a Contact's parameters sometimes: the part up
        # to '>' is what recurs, so it alone is looked up when the rest is plain parameters.
        end = text.rfind(">") + 1
        if 0 < end < len(text):
            tail = _PARAMS_ONLY.match(text, end)
            if tail is not None:
                try:
                    base = _parse_name_addr(text[:end], header)
                except SipParseError:
                    base = None  # the whole text's own error is the one to give
                if base is not None and not base.params:
                    return frozen_value(cls, {"uri": base.uri,
                                              "display_name": base.display_name,
                                              "params": _fast_params(tail.group(1))})
        return _parse_name_addr(text, header)

    @classmethod
    def parse_uncached(cls, text: str, header: str = "From") -> NameAddr:
        """:meth:`parse` without the cache."""
        text = text.strip()
        fast = _NAME_ADDR_FAST.match(text)
        if fast is not None:
            quoted, plain, uri_text, ptext = fast.groups()
            if quoted is not None:
                display: str | None = quoted.replace('\\"', '"').replace("\\\\", "\\")
            else:
                display = (plain or "").strip()
            return frozen_value(cls, {"uri": SipUri.parse(uri_text, header=header),
                                      "display_name": display or None,
                                      "params": _fast_params(ptext)})
        return cls.parse_general(text, header)

    @classmethod
    def parse_general(cls, text: str, header: str = "From") -> NameAddr:
        """The full parser; :meth:`parse_uncached` takes a one-regex path for the common
        shape and gives the same result."""
        text = text.strip()
        start = 0
        if text.startswith('"'):  # a quoted display name may itself hold '<' or ';'
            match = _QUOTED.match(text)
            if match is None:
                raise SipParseError(f"{header}: unterminated quoted display name",
                                    header=header)
            start = match.end()
        if "<" in text[start:]:
            cut = text.index("<", start)
            before, rest = text[:cut], text[cut + 1:]
            uri_text, close, after = rest.partition(">")
            if not close:
                raise SipParseError(f"{header}: '<' without '>' in {text[:80]!r}",
                                    header=header)
            display = before.strip()
            if display.startswith('"'):
                if len(display) < 2 or not display.endswith('"'):
                    raise SipParseError(f"{header}: unterminated quoted display name",
                                        header=header)
                display = display[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            after = after.strip()
            if after and not after.startswith(";"):
                raise SipParseError(f"{header}: junk {after[:40]!r} after '>'", header=header)
            return cls(SipUri.parse(uri_text, header=header), display or None,
                       parse_params(after[1:], header))
        uri_text, _, ptext = text.partition(";")
        if any(c in uri_text for c in " \t\","):
            raise SipParseError(f"{header}: {text[:80]!r} is not a URI or name-addr",
                                header=header)
        return cls(SipUri.parse(uri_text, header=header), None, parse_params(ptext, header))

    def __str__(self) -> str:
        name = ""
        if self.display_name:
            escaped = self.display_name.replace("\\", "\\\\").replace('"', '\\"')
            name = f'"{escaped}" '
        return f"{name}<{self.uri}>{format_params(self.params)}"

    def param(self, name: str) -> str | None:
        return _param(self.params, name)

    def with_param(self, name: str, value: str | None) -> NameAddr:
        return replace(self, params=_set_param(self.params, name, value))

    @property
    def tag(self) -> str | None:
        return self.param("tag") or None

    def with_tag(self, tag: str) -> NameAddr:
        return self.with_param("tag", tag)

    @property
    def expires(self) -> int | None:
        """The ``expires`` parameter of a Contact, when present and numeric."""
        value = self.param("expires")
        if value is None:
            return None
        if not value.isascii() or not value.isdigit():
            raise SipParseError(f"Contact: expires={value!r} is not a number of seconds",
                                header="Contact")
        return int(value)

    @property
    def q(self) -> float:
        """The ``q`` preference of a Contact (0..1, default 1.0)."""
        value = self.param("q")
        if not value:
            return 1.0
        try:
            q = float(value)
        except ValueError:
            raise SipParseError(f"Contact: q={value!r} is not a number", header="Contact") from None
        if not 0.0 <= q <= 1.0:
            raise SipParseError(f"Contact: q={value!r} is outside 0..1", header="Contact")
        return q


@lru_cache(maxsize=4096)
def _parse_name_addr(text: str, header: str) -> NameAddr:
    return NameAddr.parse_uncached(text, header)


@lru_cache(maxsize=1024)
def _sent_by(text: str) -> tuple[str, str, int | None] | None:
    """Transport, host and port of a Via's ``SIP/2.0/UDP host:port`` of the common shape."""
    fast = _SENT_BY_FAST.match(text)
    if fast is None:
        return None
    transport, host, port_text = fast.groups()
    port = None if port_text is None else int(port_text)
    if port is not None and not 0 < port < 65536:
        return None
    return transport.upper(), host, port


@dataclass(frozen=True)
class CSeq:
    """``CSeq: 4711 INVITE``."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit():
            raise SipParseError(f"CSeq: {text[:60]!r} is not '<number> <METHOD>'", header="CSeq")
        seq = int(parts[0])
        if seq >= 2**31:
            raise SipParseError(f"CSeq: {seq} exceeds 2**31-1", header="CSeq")
        return frozen_value(cls, {"seq": seq, "method": parts[1].upper()})

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def _hostport(text: str, header: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"{header}: IPv6 host {text!r} has no ']'", header=header)
        host, tail = text[1:end], text[end + 1:].strip()
        port_text = tail[1:].strip() if tail.startswith(":") else None
        if tail and port_text is None:
            raise SipParseError(f"{header}: junk after host in {text!r}", header=header)
    else:
        host, colon, p = text.partition(":")
        host = host.strip()
        port_text = p.strip() if colon else None
    if not host or any(c in host for c in ' \t<>"@,'):
        raise SipParseError(f"{header}: bad host {host!r}", header=header)
    if port_text is None:
        return host, None
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SipParseError(f"{header}: bad port {port_text!r}", header=header)
    return host, int(port_text)


def parse_int_header(value: str, header: str, maximum: int = 2**32 - 1) -> int:
    """Parse a non-negative integer header such as Max-Forwards or Expires."""
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise SipParseError(f"{header}: {text[:40]!r} is not a non-negative integer",
                            header=header)
    number = int(text)
    if number > maximum:
        raise SipParseError(f"{header}: {number} is larger than {maximum}", header=header)
    return number
