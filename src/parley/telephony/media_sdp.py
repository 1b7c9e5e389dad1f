"""The audio part of SDP offer/answer for relayed calls (RFC 3264): PCMU, PCMA, telephone-event.

Parsing is :class:`parley.sdp.session.SessionDescription`'s; this module reads the one audio
stream Parley relays, picks codecs, and writes Parley's own offers and answers, which point the
phone at a relay port.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.errors import ParleyError
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
    """The relayable audio of an SDP offer or answer; raises :class:`MediaNegotiationError`."""
    try:
        session = SessionDescription.parse(body)
    except SdpError as exc:
        raise MediaNegotiationError(f"SDP could not be read: {exc}") from exc
    audio = session.audio
    if audio is None or audio.port == 0:
        raise MediaNegotiationError("SDP offers no audio stream")
    connection = session.connection_for(audio)
    if connection is None:
        raise MediaNegotiationError("SDP audio stream has no c= address")
    rtpmaps = audio.rtpmaps
    names = {pt: (rtpmap.encoding.upper(), rtpmap.clock_rate) for pt, rtpmap in rtpmaps.items()}
    chosen: list[Codec] = []
    dtmf: int | None = None
    for payload_type in audio.payload_types:
        encoding = names.get(payload_type)
        if encoding is not None and encoding == ("TELEPHONE-EVENT", 8000):
            dtmf = payload_type if dtmf is None else dtmf
            continue
        for codec in allowed:
            if (encoding is None and payload_type == codec.payload_type) or \
                    encoding == (codec.name, codec.rate):
                chosen.append(Codec(payload_type, codec.name, codec.rate))
    if not chosen:
        offered = " ".join(audio.formats)
        raise MediaNegotiationError(
            f"no common codec: offered payload types {offered}, Parley relays PCMU or PCMA")
    return RemoteAudio(connection.address, audio.port, tuple(chosen), dtmf, audio.direction)


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
