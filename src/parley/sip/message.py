"""SIP messages (RFC 3261 §7): parse bytes into requests and responses and serialise them back.

``parse_message(data)`` returns a frozen :class:`SipRequest` or :class:`SipResponse`, or raises
:class:`SipParseError` naming the header and the fault. ``bytes(message)`` serialises it,
recomputing ``Content-Length``. Typed accessors (``vias``, ``from_``, ``to``, ``cseq``,
``contacts``…) return values built at parse time, so a message that parsed never raises from
them (a message built in code computes them on first use). Messages are values:
``with_header``/``set_header``/``replace`` return new ones. :class:`StreamFramer` splits a
TCP byte stream into messages by ``Content-Length``.
"""

from __future__ import annotations

import contextlib
import functools
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Self, TypeVar

from parley.sip import compiled
from parley.sip.errors import SipFramingError, SipParseError
from parley.sip.headers import (
    NAMES_SEEN,
    CSeq,
    Headers,
    NameAddr,
    Via,
    canonical_name,
    name_info,
    parse_int_header,
    split_list,
)
from parley.sip.uri import SipUri, frozen_value

#: Largest message accepted (the largest UDP payload; TCP messages are held to it as well).
MAX_MESSAGE_SIZE = 65_535
#: Most header lines in one message.
MAX_HEADERS = 128
#: Longest single header line (after unfolding), in characters.
MAX_HEADER_LENGTH = 8_192

REASON_PHRASES: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 400: "Bad Request",
    401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 410: "Gone", 413: "Request Entity Too Large",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    421: "Extension Required", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 500: "Server Internal Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_LINE_SPLIT = re.compile(r"\r?\n")
_CONTROL_CHAR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The control characters refused anywhere in the head (CR and LF only as line ends).
_CONTROL = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0e, 0x20)) + b"\x7f"
_REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq")


_T = TypeVar("_T")


class cached_property(Generic[_T]):
    """functools.cached_property without its per-access lock (Python 3.11): parse once."""

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> _T:
        value = self.func(obj)
        obj.__dict__[self.name] = value  # later reads find it in the instance dict
        return value


class _Message:
    """Accessors shared by requests and responses (parsed on first use, then cached)."""

    headers: Headers
    body: bytes

    @cached_property
    def vias(self) -> tuple[Via, ...]:
        return _vias(self.headers)

    @property
    def via(self) -> Via:
        """The top Via (the hop that sent this request, or the one this response returns to)."""
        vias = self.vias
        if not vias:
            raise SipParseError("Via: missing", header="Via")
        return vias[0]

    @property
    def branch(self) -> str | None:
        return self.via.branch

    @cached_property
    def from_(self) -> NameAddr:
        return _name_addr(self.headers, "From")

    @cached_property
    def to(self) -> NameAddr:
        return _name_addr(self.headers, "To")

    @property
    def call_id(self) -> str:
        value = self.headers.get("Call-ID")
        if not value or not value.strip():
            raise SipParseError("Call-ID: missing or empty", header="Call-ID")
        return value.strip()

    @cached_property
    def cseq(self) -> CSeq:
        return _cseq(self.headers)

    @cached_property
    def contacts(self) -> tuple[NameAddr, ...]:
        """Contact values; empty for none and for ``Contact: *`` (see :attr:`is_star_contact`)."""
        return _contacts(self.headers)

    @property
    def contact(self) -> NameAddr | None:
        contacts = self.contacts
        return contacts[0] if contacts else None

    @property
    def is_star_contact(self) -> bool:
        return _is_star(self.headers.values("Contact"))

    @cached_property
    def routes(self) -> tuple[NameAddr, ...]:
        return _name_addrs(self.headers, "Route")

    @cached_property
    def record_routes(self) -> tuple[NameAddr, ...]:
        return _name_addrs(self.headers, "Record-Route")

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("Max-Forwards")
        return None if value is None else parse_int_header(value, "Max-Forwards", 255)

    @property
    def expires(self) -> int | None:
        value = self.headers.get("Expires")
        return None if value is None else parse_int_header(value, "Expires")

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("Content-Type")
        return None if value is None else value.split(";")[0].strip().lower()

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive, compact forms accepted)."""
        return self.headers.get(name, default)

    def with_header(self, name: str, value: str) -> Self:
        """A copy with one more header line at the end."""
        return replace(self, headers=self.headers.add(name, value))  # type: ignore[type-var]

    def set_header(self, name: str, value: str) -> Self:
        """A copy where ``name`` has exactly this one value."""
        return replace(self, headers=self.headers.set(name, value))  # type: ignore[type-var]

    def without_header(self, name: str) -> Self:
        return replace(self, headers=self.headers.remove(name))  # type: ignore[type-var]

    def with_body(self, body: bytes, content_type: str | None) -> Self:
        """A copy carrying ``body`` (Content-Length is computed when serialised)."""
        headers = self.headers
        headers = headers.set("Content-Type", content_type) if content_type and body else (
            headers.remove("Content-Type"))
        headers = headers.set("Content-Length", str(len(body)))
        return replace(self, headers=headers, body=body)  # type: ignore[type-var]

    def _serialise(self, start_line: str) -> bytes:
        lines = [start_line]
        length_done = False
        for name, value in self.headers:
            if name == "Content-Length":
                if length_done:
                    continue
                value = str(len(self.body))
                length_done = True
            lines.append(f"{name}: {value}")
        if not length_done:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass(frozen=True, eq=True)
class SipRequest(_Message):
    """A SIP request: method, Request-URI, headers, body."""

    method: str
    uri: SipUri
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __bytes__(self) -> bytes:
        return self._serialise(f"{self.method} {self.uri} SIP/2.0")

    def __str__(self) -> str:
        return bytes(self).decode("utf-8", "replace")


@dataclass(frozen=True, eq=True)
class SipResponse(_Message):
    """A SIP response: status code, reason phrase, headers, body."""

    status: int
    reason: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def method(self) -> str:
        """The method of the request this responds to (from CSeq)."""
        return self.cseq.method

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def __bytes__(self) -> bytes:
        return self._serialise(f"SIP/2.0 {self.status} {self.reason}")

    def __str__(self) -> str:
        return bytes(self).decode("utf-8", "replace")


SipMessage = SipRequest | SipResponse


def _name_addr(headers: Headers, name: str) -> NameAddr:
    value = headers.get(name)
    if value is None:
        raise SipParseError(f"{name}: missing", header=name)
    return NameAddr.parse(value, name)


def _name_addrs(headers: Headers, name: str) -> tuple[NameAddr, ...]:
    return tuple(NameAddr.parse(v, name) for v in headers.values(name))


def _vias(headers: Headers) -> tuple[Via, ...]:
    return tuple(Via.parse(v) for v in headers.values("Via"))


def _cseq(headers: Headers) -> CSeq:
    value = headers.get("CSeq")
    if value is None:
        raise SipParseError("CSeq: missing", header="CSeq")
    return CSeq.parse(value)


def _is_star(values: list[str]) -> bool:
    return len(values) == 1 and values[0] == "*"


def _contacts(headers: Headers) -> tuple[NameAddr, ...]:
    values = headers.values("Contact")
    if _is_star(values):
        return ()
    return tuple(NameAddr.parse(v, "Contact") for v in values)


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n", 0, len(data) if crlf < 0 else crlf)  # not through the body
    if crlf < 0 and lf < 0:
        raise SipParseError("message has no empty line after the headers (truncated?)")
    # A CR left before the end (a CRLF line then an LF one, or CR CR LF) is let go.
    if crlf >= 0 and (lf < 0 or crlf <= lf):
        return data[:crlf].removesuffix(b"\r"), data[crlf + 4:]
    return data[:lf].removesuffix(b"\r"), data[lf + 2:]


def parse_message(data: bytes) -> SipRequest | SipResponse:
    """Parse one whole SIP message (one UDP datagram or one framed TCP message).

    Leading CRLFs are ignored (RFC 3261 §7.5). With ``Content-Length`` the body is that many
    bytes (extra bytes after it are dropped, RFC 3261 §18.3); without it the rest of the data.
    """
    if len(data) > MAX_MESSAGE_SIZE:
        raise SipParseError(f"message of {len(data)} bytes exceeds the {MAX_MESSAGE_SIZE}-byte "
                            "limit")
    data = data.lstrip(b"\r\n")
    if not data:
        raise SipParseError("empty message")
    raw_head, rest = _split_head(data)
    fast = _fast_head(raw_head)
    if fast is not None:
        start, headers = fast
    else:
        try:
            head = raw_head.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SipParseError(f"headers are not UTF-8 text (byte {exc.start})") from None
        if _CONTROL_CHAR.search(head) or head.count("\r") != head.count("\r\n"):
            raise SipParseError("control characters in the start line or headers")
        start, _, rest_of_head = head.partition("\n")
        start = start.removesuffix("\r")
        headers = Headers(_header_lines(_LINE_SPLIT.split(rest_of_head)) if rest_of_head
                          else [])
    try:
        body = _take_body(headers, rest)
    except SipParseError as exc:
        if not start.startswith("SIP/"):  # keep what is needed to answer 400
            with contextlib.suppress(SipParseError):
                partial = _start_line(start, headers, b"")
                exc.partial = partial if isinstance(partial, SipRequest) else None
        raise
    message = _start_line(start, headers, body)
    _validate(message)
    return message


def _fast_head(raw: bytes) -> tuple[str, Headers] | None:
    """The start line and headers of a head of the common shape (CRLF line ends, no folding,
    no control characters, UTF-8, short, token names); None sends it to the line-by-line
    parser, which gives the same headers or says what is wrong. A head in printable ASCII
    is scanned in compiled code where it was built; the rest here."""
    if (scan := compiled.scan) is not None:
        scanned = scan(raw, NAMES_SEEN, name_info, MAX_HEADER_LENGTH, MAX_HEADERS + 1)
        if scanned is not None:
            return scanned[0], Headers.indexed(scanned[1], scanned[2])
    return _python_fast_head(raw)


def _python_fast_head(raw: bytes) -> tuple[str, Headers] | None:
    """:func:`_fast_head` in Python, for any head (UTF-8 too), where the compiled scanner
    was not built or gave the head up."""
    if len(raw) > MAX_HEADER_LENGTH or len(raw.translate(None, _CONTROL)) != len(raw):
        return None
    try:
        head = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = head.split("\r\n")
    if not raw.count(b"\r") == raw.count(b"\n") == len(lines) - 1:
        return None  # a CR or LF on its own
    if len(lines) == 1:
        return head, Headers()
    if len(lines) > MAX_HEADERS + 1:
        return None
    headers = Headers.from_lines(lines[1:])  # folded lines have no token before the colon
    return None if headers is None else (lines[0], headers)


def _header_lines(lines: list[str]) -> list[tuple[str, str]]:
    """Unfold, check and split header lines one by one, naming the first bad one."""
    items: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not items:
                raise SipParseError("continuation line before any header")
            name, value = items[-1]
            items[-1] = (name, f"{value} {line.strip()}".strip())
            if len(items[-1][1]) > MAX_HEADER_LENGTH:
                raise SipParseError(f"{name}: header longer than {MAX_HEADER_LENGTH} characters",
                                    header=name)
            continue
        if len(line) > MAX_HEADER_LENGTH:
            raise SipParseError(
                f"{line.partition(':')[0][:40]}: header longer than {MAX_HEADER_LENGTH} "
                "characters", header=canonical_name(line.partition(":")[0].strip()[:40]))
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or not _TOKEN.match(name):
            raise SipParseError(f"header line {line[:60]!r} is not 'Name: value'")
        items.append((name, value.strip()))
        if len(items) > MAX_HEADERS:
            raise SipParseError(f"more than {MAX_HEADERS} header lines")
    return items


def _take_body(headers: Headers, rest: bytes) -> bytes:
    lengths = headers.lines("Content-Length")
    if not lengths:
        return rest
    if len(lengths) > 1 and len(set(v.strip() for v in lengths)) > 1:
        raise SipParseError("Content-Length: appears more than once with different values",
                            header="Content-Length")
    length = parse_int_header(lengths[0], "Content-Length", MAX_MESSAGE_SIZE)
    if length > len(rest):
        raise SipParseError(
            f"Content-Length: says {length} bytes but the body has only {len(rest)}",
            header="Content-Length")
    return rest[:length]


def _start_line(start: str, headers: Headers, body: bytes) -> SipRequest | SipResponse:
    if start.startswith("SIP/"):
        parts = start.split(" ", 2)
        if parts[0] != "SIP/2.0":
            raise SipParseError(f"unsupported version {parts[0][:20]!r} (only SIP/2.0)")
        if len(parts) < 2 or len(parts[1]) != 3 or not parts[1].isascii() \
                or not parts[1].isdigit() or not 100 <= int(parts[1]) <= 699:
            raise SipParseError(f"status line {start[:60]!r} has no status code 100-699")
        return SipResponse(int(parts[1]), parts[2].strip() if len(parts) > 2 else "",
                           headers, body)
    parts = start.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0":
        raise SipParseError(f"start line {start[:60]!r} is not 'METHOD uri SIP/2.0' "
                            "or 'SIP/2.0 code reason'")
    method = parts[0]
    if method not in _METHODS and not _TOKEN.match(method):
        raise SipParseError(f"method {method[:20]!r} is not a token")
    try:
        uri = _request_uri(parts[1]) if len(parts[1]) <= 256 else SipUri.parse(parts[1])
    except SipParseError as exc:
        raise SipParseError(f"Request-URI: {exc.reason}",
                            partial=SipRequest(method, SipUri(host="invalid"), headers,
                                               body)) from None
    return frozen_value(SipRequest, {"method": method, "uri": uri, "headers": headers,
                                     "body": body})


_METHODS = frozenset(("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK",
                      "UPDATE", "INFO", "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PUBLISH"))


@functools.lru_cache(maxsize=1024)
def _request_uri(text: str) -> SipUri:
    """A Request-URI (the numbers and operators called recur: their values are shared)."""
    return SipUri.parse(text)


def _validate(message: SipRequest | SipResponse) -> None:
    partial = message if isinstance(message, SipRequest) else None
    index = message.headers.index()
    for name, key in _REQUIRED_KEYS:
        if key not in index:
            raise SipParseError(f"{name}: missing (mandatory header)", header=name,
                                partial=partial)
    try:  # the typed values the accessors would compute, stored where they look first
        vias = tuple(Via.parse(v) for line in index["via"] for v in split_list(line))
        if not vias:
            raise SipParseError("Via: empty", header="Via")
        from_ = NameAddr.parse(index["from"][0], "From")
        to = NameAddr.parse(index["to"][0], "To")
        if not index["call-id"][0].strip():
            raise SipParseError("Call-ID: missing or empty", header="Call-ID")
        cseq = CSeq.parse(index["cseq"][0])
        contacts = _typed_list(index.get("contact"), "Contact")
        for contact in contacts:
            if contact.params:
                _ = contact.expires, contact.q
        routes = _typed_list(index.get("route"), "Route")
        record_routes = _typed_list(index.get("record-route"), "Record-Route")
        message.__dict__.update(vias=vias, from_=from_, to=to, cseq=cseq, contacts=contacts,
                                routes=routes, record_routes=record_routes)
        _ = message.max_forwards, message.expires  # parsed now: a bad value refused here
        if partial is not None and cseq.method != partial.method:
            raise SipParseError(
                f"CSeq: method {cseq.method} differs from the request's {partial.method}",
                header="CSeq")
    except SipParseError as exc:
        exc.partial = partial
        raise


_REQUIRED_KEYS = tuple((name, name.lower()) for name in _REQUIRED)


def _typed_list(lines: Sequence[str] | None, name: str) -> tuple[NameAddr, ...]:
    """The name-addrs of a list header's lines (Contact, Route, Record-Route); a lone ``*``
    Contact is left to the caller. A tuple, not a list: an empty one is shared, and the
    message keeps it as long as it lives (a finished call's, for 64·T1)."""
    if not lines:
        return ()
    values = [v for line in lines for v in split_list(line)]
    if name == "Contact" and values == ["*"]:
        return ()
    return tuple(NameAddr.parse(v, name) for v in values)


# --- building messages ---------------------------------------------------------------------

def new_branch() -> str:
    """A fresh RFC 3261 branch (magic cookie ``z9hG4bK`` plus 64 random bits)."""
    return "z9hG4bK" + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def new_call_id(host: str = "parley") -> str:
    return f"{secrets.token_hex(10)}@{host}"


def build_request(
    method: str,
    uri: SipUri,
    *,
    from_: NameAddr,
    to: NameAddr,
    call_id: str,
    cseq: int,
    via: Via,
    contact: NameAddr | None = None,
    routes: Iterable[NameAddr] = (),
    max_forwards: int = 70,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> SipRequest:
    """A new request with the mandatory headers in the usual order."""
    items: list[tuple[str, str]] = [("Via", str(via))]
    items += [("Route", str(route)) for route in routes]
    items += [("Max-Forwards", str(max_forwards)), ("From", str(from_)), ("To", str(to)),
              ("Call-ID", call_id), ("CSeq", f"{cseq} {method}")]
    if contact is not None:
        items.append(("Contact", str(contact)))
    return SipRequest(method, uri, Headers.built(items, headers, len(body),
                                                 content_type if body else None), body)


def build_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    contact: NameAddr | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> SipResponse:
    """A response to ``request`` (RFC 3261 §8.2.6): Via, From, To, Call-ID, CSeq copied.

    ``to_tag`` is added to To when the request's To has none (never on 100 Trying).
    Record-Route is copied on 1xx/2xx answers to dialog-creating requests (§12.1.1).
    """
    items: list[tuple[str, str]] = [("Via", v) for v in request.headers.lines("Via")]
    if 100 < status < 300 and request.method in ("INVITE", "SUBSCRIBE"):
        items += [("Record-Route", v) for v in request.headers.lines("Record-Route")]
    # Headers are copied as text, so that a request that failed to parse (SipParseError's
    # ``partial``) can still be answered 400 whatever header was wrong.
    to = request.headers.get("To") or ""
    if to_tag and status > 100:
        try:
            if request.to.tag is None:
                to = str(request.to.with_tag(to_tag))
        except SipParseError:
            pass
    items += [("From", request.headers.get("From") or ""), ("To", to),
              ("Call-ID", request.headers.get("Call-ID") or ""),
              ("CSeq", request.headers.get("CSeq") or "")]
    if contact is not None:
        items.append(("Contact", str(contact)))
    return SipResponse(status, reason or REASON_PHRASES.get(status, "Unknown"),
                       Headers.built(items, headers, len(body), content_type if body else None),
                       body)


#: Headers Parley writes itself in a request it builds; callers may not add them again.
MANAGED_HEADERS = frozenset({"via", "from", "to", "call-id", "cseq", "contact", "route",
                             "max-forwards", "content-type", "content-length"})


def extra_headers(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """Caller-supplied headers (``X-Parley-Queue: support``...) checked for a request.

    Names must be SIP tokens and not one Parley manages itself (Via, From, To, Call-ID, CSeq,
    Contact, Route, Max-Forwards, Content-Type, Content-Length); values must not hold CR, LF
    or NUL (which would let a value inject headers). Raises :class:`ValueError` saying which.
    """
    checked: list[tuple[str, str]] = []
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValueError(f"header name {name!r} is not a SIP token")
        if canonical_name(name).lower() in MANAGED_HEADERS:
            raise ValueError(f"header {name!r} is set by Parley and cannot be given")
        if not isinstance(value, str) or any(c in value for c in "\r\n\x00"):
            raise ValueError(f"value of header {name!r} must be text without CR, LF or NUL")
        checked.append((name, value))
    return tuple(checked)


def precheck_request(request: SipRequest, *, supported: Iterable[str] = ("replaces",)
                     ) -> SipResponse | None:
    """The checks every Parley UAS makes before call control sees a request (RFC 3261
    §8.2.2, §16.3): ``420 Bad Extension`` (with Unsupported) for a Require option we lack,
    ``483 Too Many Hops`` when Max-Forwards is 0 (a B2BUA forwards; this breaks loops).
    Returns the response to send, or None. An ACK is never answered."""
    if request.method == "ACK":
        return None
    known = {option.lower() for option in supported}
    missing = [option for option in request.headers.values("Require")
               if option.lower() not in known]
    if missing and request.method != "CANCEL":
        return build_response(request, 420, headers=(("Unsupported", ", ".join(missing)),))
    if request.max_forwards == 0:
        return build_response(request, 483)
    return None


# --- TCP framing ---------------------------------------------------------------------------

@dataclass(frozen=True)
class KeepAlive:
    """A CRLF CRLF keep-alive ping on a stream (RFC 5626 §4.4.1); answer it with one CRLF."""


_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\S*)[ \t]*$",
                             re.IGNORECASE | re.MULTILINE)


class StreamFramer:
    """Split a TCP (or TLS/WS-less) byte stream into whole messages by ``Content-Length``.

    ``feed(data)`` returns the frames completed so far: the bytes of each message (hand them to
    :func:`parse_message`) and :class:`KeepAlive` for each CRLF CRLF ping between messages. A
    stream that cannot be framed (no or bad Content-Length, oversized message) raises
    :class:`SipFramingError`; the connection must then be closed.
    """

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max = max_message_size
        self._broken: SipFramingError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | KeepAlive]:
        if self._broken is not None:
            raise self._broken
        self._buffer += data
        frames: list[bytes | KeepAlive] = []
        try:
            while True:
                frame = self._next()
                if frame is None:
                    break
                frames.append(frame)
        except SipFramingError as exc:
            self._broken = exc
            raise
        return frames

    def _next(self) -> bytes | KeepAlive | None:
        buf = self._buffer
        if buf.startswith(b"\r\n\r\n"):
            del buf[:4]
            return KeepAlive()
        skip = 0
        while skip < len(buf) and buf[skip] in (13, 10):
            skip += 1
        if skip == len(buf):
            return None  # only CRLFs so far: maybe a ping still arriving
        if skip:
            del buf[:skip]
        end = buf.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end = buf.find(b"\n\n")
            sep = 2
        if end < 0:
            if len(buf) > self._max:
                raise SipFramingError(f"headers exceed {self._max} bytes without an empty line")
            return None
        head = bytes(buf[:end])
        matches = _CONTENT_LENGTH.findall(head.replace(b"\r\n", b"\n"))
        if not matches:
            raise SipFramingError("Content-Length: missing; it is mandatory over TCP",
                                  header="Content-Length")
        value = matches[0]
        if not value.isdigit() or any(m != value for m in matches):
            raise SipFramingError(f"Content-Length: bad value {value[:20]!r}",
                                  header="Content-Length")
        total = end + sep + int(value)
        if total > self._max:
            raise SipFramingError(f"message of {total} bytes exceeds the {self._max}-byte limit")
        if len(buf) < total:
            return None
        frame = bytes(buf[:total])
        del buf[:total]
        return frame
