"""The audio part of SDP offer/answer for relayed calls (RFC 3264): PCMU, PCMA, telephone-event.

Parsing and negotiation are :mod:`parley.sdp`'s; this module keeps what the relay needs of the
one audio stream (address, port, supported codecs in the phone's order, DTMF type, direction)
and writes Parley's own offers and answers, which point the phone at a relay port.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.errors import ParleyError
from parley.sdp import offer_answer
from parley.sdp.session import SdpError, SessionDescription


class MediaNegotiationError(ParleyError):
    """An SDP that cannot be used: unparsable, no audio, or no codec in common (488)."""


@dataclass(frozen=True, slots=True)
class Codec:
    payload_type: int
    name: str
    rate: int = 8000


PCMU = Codec(0, "PCMU")
PCMA = Codec(8, "PCMA")
SUPPORTED = (PCMU, PCMA)


@dataclass(frozen=True, slots=True)
class RemoteAudio:
    """A phone's audio stream: where it receives, the usable codecs (its order), DTMF type."""

    host: str
    port: int
    codecs: tuple[Codec, ...]
    dtmf_payload_type: int | None
    direction: str

    @property
    def codec(self) -> Codec:
        return self.codecs[0]


def read_audio(body: bytes, *, allowed: tuple[Codec, ...] = SUPPORTED) -> RemoteAudio:
    """The relayable audio of an SDP offer or answer; raises :class:`MediaNegotiationError`.

    Negotiation is :func:`parley.sdp.offer_answer.negotiated`'s; this keeps every supported
    codec in the phone's order, so that the other leg of a bridge can be offered the same.
    """
    try:
        session = SessionDescription.parse(body)
    except SdpError as exc:
        raise MediaNegotiationError(f"SDP could not be read: {exc}") from exc
    audio = session.audio
    if audio is None or audio.port == 0:
        raise MediaNegotiationError("SDP offers no audio stream")
    wanted = [offer_answer.Codec(codec.name, codec.rate, codec.payload_type) for codec in allowed]
    try:
        media = offer_answer.negotiated(session, wanted)
    except offer_answer.NoCommonCodec as exc:
        raise MediaNegotiationError(f"{exc} (Parley relays PCMU or PCMA)") from exc
    except SdpError as exc:
        raise MediaNegotiationError(f"SDP audio stream unusable: {exc}") from exc
    chosen = tuple(Codec(pt, codec.name.upper(), codec.clock_rate)
                   for pt, codec in media.payload_types.items())
    order = {pt: index for index, pt in enumerate(audio.payload_types)}
    chosen = tuple(sorted(chosen, key=lambda codec: order.get(codec.payload_type, 999)))
    return RemoteAudio(media.address, media.port, chosen, media.dtmf_payload_type,
                       media.direction)


_MIRROR = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive",
           "sendrecv": "sendrecv"}


def answer_direction(offered: str) -> str:
    """The direction that answers ``offered`` (sendonly is answered recvonly, RFC 3264 §6.1)."""
    return _MIRROR.get(offered, "sendrecv")


def build_sdp(host: str, port: int, codecs: tuple[Codec, ...], *, session_id: int,
              version: int, dtmf_payload_type: int | None = 101,
              direction: str = "sendrecv") -> bytes:
    """Parley's SDP for one audio stream on the relay's ``host:port``."""
    formats = [str(codec.payload_type) for codec in codecs]
    lines = ["v=0", f"o=parley {session_id} {version} IN IP4 {host}", "s=parley",
             f"c=IN IP4 {host}", "t=0 0"]
    if dtmf_payload_type is not None:
        formats.append(str(dtmf_payload_type))
    lines.append(f"m=audio {port} RTP/AVP {' '.join(formats)}")
    lines += [f"a=rtpmap:{codec.payload_type} {codec.name}/{codec.rate}" for codec in codecs]
    if dtmf_payload_type is not None:
        lines += [f"a=rtpmap:{dtmf_payload_type} telephone-event/8000",
                  f"a=fmtp:{dtmf_payload_type} 0-16"]
    lines += ["a=ptime:20", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()
