"""SDP session descriptions (RFC 4566): parse text into frozen values and serialise them back.

``SessionDescription.parse(body)`` accepts CRLF or bare LF line ends and keeps every line it
does not model (``i=``, ``b=``, ``t=``, unknown attributes…) so that ``str(sdp)`` loses nothing.
Errors raise :class:`SdpParseError` with the line number and the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from parley.errors import ParleyError

#: Static RTP payload types (RFC 3551) by number: (encoding name, clock rate).
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000), 3: ("GSM", 8000), 4: ("G723", 8000), 5: ("DVI4", 8000),
    6: ("DVI4", 16000), 7: ("LPC", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000),
    10: ("L16", 44100), 11: ("L16", 44100), 12: ("QCELP", 8000), 13: ("CN", 8000),
    14: ("MPA", 90000), 15: ("G728", 8000), 16: ("DVI4", 11025), 17: ("DVI4", 22050),
    18: ("G729", 8000),
}

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

_SESSION_ORDER = "vosiuepcbtrzka"
_MEDIA_ORDER = "icbka"

Attribute = tuple[str, str | None]


class SdpError(ParleyError):
    """Base of SDP errors."""


class SdpParseError(SdpError):
    """A body that is not valid SDP; the message names the line."""

    def __init__(self, reason: str, line_number: int | None = None) -> None:
        where = f"SDP line {line_number}: " if line_number is not None else "SDP: "
        super().__init__(where + reason)
        self.reason = reason
        self.line_number = line_number


@dataclass(frozen=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> IN IP4 <address>``."""

    username: str = "-"
    session_id: str = "0"
    version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"  # noqa: S104 - SDP placeholder, not a bind address

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.version} {self.nettype} "
                f"{self.addrtype} {self.address}")


@dataclass(frozen=True)
class Connection:
    """``c=IN IP4 <address>``."""

    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True)
class RtpMap:
    """``a=rtpmap:<pt> <name>/<rate>[/<channels>]``."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1


@dataclass(frozen=True)
class MediaDescription:
    """One ``m=`` section with its own lines."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    connection: Connection | None = None
    attributes: tuple[Attribute, ...] = ()
    lines: tuple[tuple[str, str], ...] = ()  # i=, b=, k= kept verbatim

    def __str__(self) -> str:
        port = f"{self.port}/{self.port_count}" if self.port_count else str(self.port)
        out = [f"m={self.media} {port} {self.proto} {' '.join(self.formats)}"]
        out += [f"{k}={v}" for k, v in self.lines if k == "i"]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"{k}={v}" for k, v in self.lines if k != "i"]
        out += [f"a={k}" if v is None else f"a={k}:{v}" for k, v in self.attributes]
        return "\r\n".join(out)

    def attribute(self, name: str) -> str | None:
        """The first value of attribute ``name`` ("" for a flag), or None when absent."""
        for key, value in self.attributes:
            if key == name:
                return "" if value is None else value
        return None

    def attribute_values(self, name: str) -> list[str]:
        return [v or "" for k, v in self.attributes if k == name]

    @property
    def payload_types(self) -> list[int]:
        """The formats as RTP payload type numbers (empty for non-RTP media)."""
        return [int(f) for f in self.formats if f.isdigit()]

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """Every payload type's encoding: ``a=rtpmap`` lines, else the static table."""
        maps: dict[int, RtpMap] = {}
        for key, value in self.attributes:
            if key != "rtpmap" or not value:
                continue
            pt_text, _, desc = value.partition(" ")
            parts = desc.strip().split("/")
            if not pt_text.isdigit() or len(parts) < 2 or not parts[1].isdigit():
                continue
            channels = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
            pt = int(pt_text)
            maps[pt] = RtpMap(pt, parts[0], int(parts[1]), channels)
        for f in self.formats:
            if f.isdigit():
                pt = int(f)
                if pt not in maps and pt in STATIC_PAYLOAD_TYPES:
                    name, rate = STATIC_PAYLOAD_TYPES[pt]
                    maps[pt] = RtpMap(pt, name, rate)
        return maps

    def fmtp(self, payload_type: int) -> str | None:
        for value in self.attribute_values("fmtp"):
            pt_text, _, params = value.partition(" ")
            if pt_text == str(payload_type):
                return params.strip()
        return None

    @property
    def direction(self) -> str:
        """This stream's own direction attribute, default sendrecv (RFC 4566 §6); a
        session-level one applies too: see :meth:`SessionDescription.direction_of`."""
        for key, value in self.attributes:
            if value is None and key in DIRECTIONS:
                return key
        return "sendrecv"

    @property
    def ptime(self) -> int | None:
        value = self.attribute("ptime")
        try:
            return int(float(value)) if value else None
        except ValueError:
            return None

    def with_direction(self, direction: str) -> MediaDescription:
        if direction not in DIRECTIONS:
            raise SdpError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
        attrs = [a for a in self.attributes if not (a[1] is None and a[0] in DIRECTIONS)]
        return replace(self, attributes=(*attrs, (direction, None)))


@dataclass(frozen=True)
class SessionDescription:
    """A whole SDP body."""

    origin: Origin = field(default_factory=Origin)
    name: str = "-"
    connection: Connection | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    lines: tuple[tuple[str, str], ...] = (("t", "0 0"),)  # i u e p b t r z k, verbatim
    version: int = 0

    @classmethod
    def parse(cls, body: bytes | str) -> SessionDescription:
        if isinstance(body, bytes):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SdpParseError(f"not UTF-8 text (byte {exc.start})") from None
        else:
            text = body
        raw = [line.rstrip("\r") for line in text.split("\n")]
        while raw and not raw[-1].strip():
            raw.pop()
        if not raw:
            raise SdpParseError("empty body")
        version: int | None = None
        origin: Origin | None = None
        name: str | None = None
        connection: Connection | None = None
        attributes: list[Attribute] = []
        lines: list[tuple[str, str]] = []
        media: list[MediaDescription] = []
        # the m= section being read: its m= line's fields, c=, a= and other lines
        m_line: tuple[str, int, str, tuple[str, ...], int | None] | None = None
        m_connection: Connection | None = None
        m_attributes: list[Attribute] = []
        m_lines: list[tuple[str, str]] = []

        for number, line in enumerate(raw, start=1):
            if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
                raise SdpParseError(f"{line[:60]!r} is not '<letter>=<value>'", number)
            key, value = line[0], line[2:]
            if key == "a" and number > 1:  # most lines: the other tests come after
                name_, colon, rest = value.partition(":")
                (m_attributes if m_line is not None else attributes).append(
                    (name_, rest if colon else None))
            elif number == 1 and key != "v":
                raise SdpParseError("the first line must be v=0", number)
            elif key == "v":
                if value.strip() != "0" or number != 1:
                    raise SdpParseError(f"bad version line v={value!r}", number)
                version = 0
            elif key == "m":
                if m_line is not None:
                    media.append(MediaDescription(*m_line, m_connection, tuple(m_attributes),
                                                  tuple(m_lines)))
                m_line = _media_line(value, number)
                m_connection, m_attributes, m_lines = None, [], []
            elif m_line is not None:
                if key == "c":
                    m_connection = _connection(value, number)
                elif key in _MEDIA_ORDER:
                    m_lines.append((key, value))
                else:
                    raise SdpParseError(f"'{key}=' is not allowed inside a media section",
                                        number)
            elif key == "o":
                origin = _origin(value, number)
            elif key == "s":
                name = value
            elif key == "c":
                connection = _connection(value, number)
            else:
                lines.append((key, value))
        if m_line is not None:
            media.append(MediaDescription(*m_line, m_connection, tuple(m_attributes),
                                          tuple(m_lines)))
        if version is None:
            raise SdpParseError("no v= line")
        if origin is None:
            raise SdpParseError("no o= line")
        if name is None:
            name = "-"
        return cls(origin, name, connection, tuple(attributes), tuple(media), tuple(lines))

    def __str__(self) -> str:
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.name}"]
        ordered = sorted(self.lines, key=_session_line_rank)
        out += [f"{k}={v}" for k, v in ordered if k in "iuep"]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"{k}={v}" for k, v in ordered if k not in "iuep"]
        out += [f"a={k}" if v is None else f"a={k}:{v}" for k, v in self.attributes]
        out += [str(m) for m in self.media]
        return "\r\n".join(out) + "\r\n"

    def __bytes__(self) -> bytes:
        return str(self).encode()

    def attribute(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return "" if value is None else value
        return None

    def direction_of(self, media: MediaDescription) -> str:
        """The stream's direction: its own attribute, else the session's, else sendrecv."""
        for key, value in media.attributes:
            if value is None and key in DIRECTIONS:
                return key
        for key, value in self.attributes:
            if value is None and key in DIRECTIONS:
                return key
        return "sendrecv"

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """The connection that applies to ``media``: its own c= or the session's."""
        return media.connection or self.connection

    @property
    def audio(self) -> MediaDescription | None:
        """The first audio stream, or None."""
        for m in self.media:
            if m.media == "audio":
                return m
        return None


def _session_line_rank(line: tuple[str, str]) -> int:
    return _SESSION_ORDER.find(line[0]) if line[0] in _SESSION_ORDER else 99


def _media_line(value: str, number: int) -> tuple[str, int, str, tuple[str, ...], int | None]:
    """An m= line's media, port, proto, formats and port count (checked)."""
    parts = value.split()
    if len(parts) < 3:
        raise SdpParseError(f"m={value!r} needs '<media> <port> <proto> <fmt> ...'", number)
    port_text, _, count_text = parts[1].partition("/")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise SdpParseError(f"m= port {parts[1]!r} is not 0-65535", number)
    if count_text and not count_text.isdigit():
        raise SdpParseError(f"m= port count {count_text!r} is not a number", number)
    if parts[2].upper().startswith("RTP/") or "/RTP/" in parts[2].upper():
        for fmt in parts[3:]:
            if not fmt.isdigit() or int(fmt) > 127:
                raise SdpParseError(f"m= payload type {fmt!r} is not 0-127", number)
    return (parts[0], int(port_text), parts[2], tuple(parts[3:]),
            int(count_text) if count_text else None)


def _connection(value: str, number: int) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpParseError(f"c={value!r} is not 'IN IP4 <address>'", number)
    return Connection(parts[2], parts[1], parts[0])


def _origin(value: str, number: int) -> Origin:
    parts = value.split()
    if len(parts) != 6 or not parts[2].isdigit():
        raise SdpParseError(
            f"o={value!r} is not '<user> <id> <version> IN IP4 <address>'", number)
    return Origin(parts[0], parts[1], int(parts[2]), parts[3], parts[4], parts[5])
