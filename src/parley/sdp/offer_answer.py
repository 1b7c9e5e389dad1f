"""The offer/answer model (RFC 3264) for Parley's G.711 audio: PCMU, PCMA, telephone-event.

- :func:`build_offer` makes our offer (originate, re-INVITE for hold/resume).
- :func:`build_answer` answers a peer's offer with our codec preferences, keeping the
  offerer's payload type numbers; no common codec raises :class:`NoCommonCodec`, which the
  caller turns into ``488 Not Acceptable Here`` with ``error.warning`` as the Warning header.
- :func:`negotiated` reads what to send where from an answer (or an offer): address, port,
  codec and payload type, telephone-event payload type, direction, ptime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from parley.sdp.session import (
    DIRECTIONS,
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    SdpError,
    SessionDescription,
)


@dataclass(frozen=True)
class Codec:
    """An audio encoding as SDP names it; ``static_pt`` is its RFC 3551 number if any."""

    name: str
    clock_rate: int = 8000
    static_pt: int | None = None

    def matches(self, encoding: str, clock_rate: int) -> bool:
        return encoding.lower() == self.name.lower() and clock_rate == self.clock_rate


PCMU = Codec("PCMU", 8000, 0)
PCMA = Codec("PCMA", 8000, 8)
TELEPHONE_EVENT = Codec("telephone-event", 8000, None)
SUPPORTED_CODECS: tuple[Codec, ...] = (PCMU, PCMA)
DEFAULT_DTMF_PT = 101
RTP_PROFILES = ("RTP/AVP", "RTP/AVPF")

_ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
                     "inactive": "inactive"}


class NoCommonCodec(SdpError):
    """The offer has no audio codec we support; answer 488 with :attr:`warning`."""

    def __init__(self, offered: Sequence[str], supported: Sequence[str]) -> None:
        offered_text = ", ".join(offered) if offered else "nothing"
        self.offered = tuple(offered)
        self.supported = tuple(supported)
        super().__init__(f"no common codec: offered {offered_text}, "
                         f"supported {', '.join(supported)}")

    @property
    def warning(self) -> str:
        """A Warning header value (RFC 3261 §20.43, code 305 Incompatible media format)."""
        return f'305 parley "{self}"'

    @property
    def reason(self) -> str:
        """A Reason header value (RFC 3326) carrying the same text."""
        return f'SIP;cause=488;text="{self}"'


@dataclass(frozen=True)
class NegotiatedMedia:
    """What to send and where, read from one side's SDP."""

    address: str
    port: int
    codec: Codec
    payload_type: int
    dtmf_payload_type: int | None
    direction: str
    ptime: int
    payload_types: dict[int, Codec]

    @property
    def on_hold(self) -> bool:
        """The side that wrote this SDP does not want to receive: sendonly or inactive, or
        the RFC 2543 style hold with connection address 0.0.0.0."""
        held_address = self.address in ("0.0.0.0", "::")  # noqa: S104 - compared, not bound
        return self.direction in ("sendonly", "inactive") or held_address


def _media_attributes(
    codecs: Sequence[tuple[int, Codec]], dtmf_pt: int | None, direction: str, ptime: int
) -> tuple[Attribute, ...]:
    attrs: list[Attribute] = [("rtpmap", f"{pt} {c.name}/{c.clock_rate}") for pt, c in codecs]
    if dtmf_pt is not None:
        attrs += [("rtpmap", f"{dtmf_pt} telephone-event/8000"), ("fmtp", f"{dtmf_pt} 0-16")]
    attrs += [("ptime", str(ptime)), (direction, None)]
    return tuple(attrs)


def build_offer(
    address: str,
    port: int,
    *,
    codecs: Sequence[Codec] = SUPPORTED_CODECS,
    dtmf: bool = True,
    dtmf_payload_type: int = DEFAULT_DTMF_PT,
    direction: str = "sendrecv",
    ptime: int = 20,
    session_id: str = "0",
    version: int = 0,
    username: str = "parley",
) -> SessionDescription:
    """Our audio offer on ``address:port`` listing ``codecs`` in preference order."""
    if direction not in DIRECTIONS:
        raise SdpError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    numbered: list[tuple[int, Codec]] = []
    next_dynamic = 96
    for codec in codecs:
        pt = codec.static_pt
        if pt is None:
            while next_dynamic == dtmf_payload_type:
                next_dynamic += 1
            pt, next_dynamic = next_dynamic, next_dynamic + 1
        numbered.append((pt, codec))
    dtmf_pt = dtmf_payload_type if dtmf else None
    formats = [str(pt) for pt, _ in numbered] + ([str(dtmf_pt)] if dtmf_pt is not None else [])
    addrtype = "IP6" if ":" in address else "IP4"
    media = MediaDescription("audio", port, "RTP/AVP", tuple(formats),
                             attributes=_media_attributes(numbered, dtmf_pt, direction, ptime))
    return SessionDescription(
        origin=Origin(username, session_id, version, "IN", addrtype, address),
        connection=Connection(address, addrtype), media=(media,))


def build_answer(
    offer: SessionDescription,
    address: str,
    port: int,
    *,
    codecs: Sequence[Codec] = SUPPORTED_CODECS,
    dtmf: bool = True,
    direction: str = "sendrecv",
    ptime: int | None = None,
    session_id: str = "0",
    version: int = 0,
    username: str = "parley",
) -> SessionDescription:
    """Answer ``offer``: one audio stream accepted on ``address:port``, the others refused.

    Accepted codecs are those of ``codecs`` the offer has, in our preference order, under the
    offerer's payload type numbers; telephone-event/8000 is kept when offered and ``dtmf``.
    The direction is the offer's mirrored and limited by ``direction`` (ours: e.g. sendonly
    while we hold). ``ptime`` defaults to the offer's, else 20 ms. Non-audio streams, audio
    over other profiles (SRTP, DTLS) and audio after the first accepted are refused with
    port 0, as RFC 3264 §6 requires (the answer has as many m= lines as the offer).
    """
    if direction not in DIRECTIONS:
        raise SdpError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    answered: list[MediaDescription] = []
    accepted = False
    offered_names: list[str] = []
    for m in offer.media:
        chosen: list[tuple[int, Codec]] = []
        dtmf_pt: int | None = None
        if m.media == "audio" and m.proto.upper() in RTP_PROFILES and m.port != 0 \
                and not accepted:
            maps = m.rtpmaps
            for pt in m.payload_types:
                rtpmap = maps.get(pt)
                if rtpmap is None:
                    continue
                label = rtpmap.encoding if rtpmap.clock_rate == 8000 else (
                    f"{rtpmap.encoding}/{rtpmap.clock_rate}")
                if rtpmap.encoding.lower() != "telephone-event" and label not in offered_names:
                    offered_names.append(label)
                if dtmf and dtmf_pt is None and TELEPHONE_EVENT.matches(rtpmap.encoding,
                                                                       rtpmap.clock_rate):
                    dtmf_pt = pt
            for codec in codecs:
                for pt in m.payload_types:
                    rtpmap = maps.get(pt)
                    if rtpmap is not None and codec.matches(rtpmap.encoding, rtpmap.clock_rate):
                        chosen.append((pt, codec))
                        break
        elif m.media == "audio":
            offered_names += [f"{m.proto} audio"] if m.port != 0 else []
        if not chosen:
            answered.append(MediaDescription(m.media, 0, m.proto, m.formats[:1] or ("0",)))
            continue
        accepted = True
        mirrored = _ANSWER_DIRECTION[offer.direction_of(m)]
        final = _combine(mirrored, direction)
        formats = [str(pt) for pt, _ in chosen] + ([str(dtmf_pt)] if dtmf_pt is not None else [])
        dtmf_attr_pt = dtmf_pt
        attrs = list(_media_attributes(chosen, None, final, ptime or m.ptime or 20))
        if dtmf_attr_pt is not None:
            events = m.fmtp(dtmf_attr_pt) or "0-16"
            attrs[len(chosen):len(chosen)] = [
                ("rtpmap", f"{dtmf_attr_pt} telephone-event/8000"),
                ("fmtp", f"{dtmf_attr_pt} {events}")]
        answered.append(MediaDescription("audio", port, m.proto, tuple(formats),
                                         attributes=tuple(attrs)))
    if not accepted:
        raise NoCommonCodec(offered_names, [c.name for c in codecs])
    addrtype = "IP6" if ":" in address else "IP4"
    return SessionDescription(
        origin=Origin(username, session_id, version, "IN", addrtype, address),
        connection=Connection(address, addrtype), media=tuple(answered))


def _combine(offered_view: str, ours: str) -> str:
    """Intersect two directions: each side sends only if both allow it."""
    send = offered_view in ("sendrecv", "sendonly") and ours in ("sendrecv", "sendonly")
    recv = offered_view in ("sendrecv", "recvonly") and ours in ("sendrecv", "recvonly")
    return {(True, True): "sendrecv", (True, False): "sendonly", (False, True): "recvonly",
            (False, False): "inactive"}[(send, recv)]


def negotiated(sdp: SessionDescription, codecs: Sequence[Codec] = SUPPORTED_CODECS
               ) -> NegotiatedMedia:
    """Where and how to send audio to the side that wrote ``sdp`` (its first live audio m=).

    The codec is the first of its formats that we support (the answerer's preference).
    Raises :class:`NoCommonCodec` when there is none.
    """
    offered: list[str] = []
    wanted = [(codec.name.lower(), codec.clock_rate, codec) for codec in codecs]
    for m in sdp.media:
        if m.media != "audio" or m.port == 0:
            continue
        maps = m.rtpmaps
        dtmf_pt: int | None = None
        table: dict[int, Codec] = {}  # in the m= line's order
        for pt in m.payload_types:
            rtpmap = maps.get(pt)
            if rtpmap is None:
                continue
            offered.append(rtpmap.encoding)
            if dtmf_pt is None and TELEPHONE_EVENT.matches(rtpmap.encoding, rtpmap.clock_rate):
                dtmf_pt = pt
            encoding = rtpmap.encoding.lower()
            for name, clock_rate, codec in wanted:
                if encoding == name and rtpmap.clock_rate == clock_rate:
                    table[pt] = codec
        if not table:
            continue
        first_pt = next(iter(table))
        connection = sdp.connection_for(m)
        if connection is None:
            raise SdpError("SDP: audio stream has no c= line (session or media level)")
        return NegotiatedMedia(connection.address, m.port, table[first_pt], first_pt, dtmf_pt,
                               sdp.direction_of(m), m.ptime or 20, table)
    raise NoCommonCodec(offered, [c.name for c in codecs])


def with_direction(sdp: SessionDescription, direction: str) -> SessionDescription:
    """Our previous SDP with every live stream set to ``direction`` and o= version bumped.

    Use it for re-INVITEs: ``sendonly`` (or ``inactive``) to hold, ``sendrecv`` to resume.
    """
    media = tuple(m.with_direction(direction) if m.port else m for m in sdp.media)
    return replace(sdp, media=media, origin=replace(sdp.origin, version=sdp.origin.version + 1))
