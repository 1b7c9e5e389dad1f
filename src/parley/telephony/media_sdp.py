"""The audio part of SDP offer/answer for relayed calls (RFC 3264): PCMU, PCMA, telephone-event.

Parsing and negotiation are :mod:`parley.sdp`'s; this module keeps what the relay needs of the
one audio stream (address, port, supported codecs in the phone's order, DTMF type, direction)
and writes Parley's own offers and answers, which point the phone at a relay port.

A browser's stream (``UDP/TLS/RTP/SAVPF``, RFC 8829) also carries its ICE credentials, DTLS
fingerprint and setup role (:class:`WebRtcTransport`); Parley answers and offers it as an
ICE-lite agent with one host candidate on the relay port, rtcp-mux and one BUNDLEd audio stream
(:class:`LocalWebRtc`).

A carrier's SRTP stream (``RTP/SAVP`` keyed by ``a=crypto``, RFC 4568) is read only where the
trunk allows it (``srtp``: off refuses it, require refuses plain RTP); its usable ``a=crypto``
lines are :attr:`RemoteAudio.crypto`, and Parley's own go into :func:`build_sdp`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from parley.errors import ParleyError
from parley.media.srtp import SDES_SUITES, Crypto, SrtpError
from parley.sdp import offer_answer
from parley.sdp.session import MediaDescription, SdpError, SessionDescription


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


WEBRTC_PROFILES = ("UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP")
SDES_PROFILES = ("RTP/SAVP", "RTP/SAVPF")


@dataclass(frozen=True, slots=True)
class WebRtcTransport:
    """The ICE and DTLS attributes of a browser's audio stream."""

    ice_ufrag: str
    ice_pwd: str
    fingerprints: tuple[tuple[str, str], ...]  # (hash function, AA:BB:…)
    setup: str  # actpass, active or passive
    mid: str | None = None
    bundle: bool = False


@dataclass(frozen=True, slots=True)
class LocalWebRtc:
    """What Parley's SDP says of its side of a WebRTC leg."""

    ice_ufrag: str
    ice_pwd: str
    fingerprint: str  # SHA-256, AA:BB:…
    setup: str  # actpass in an offer, active or passive in an answer
    mid: str | None = "0"


@dataclass(frozen=True, slots=True)
class RemoteAudio:
    """A phone's audio stream: where it receives, the usable codecs (its order), DTMF type,
    and for a browser its ICE/DTLS attributes."""

    host: str
    port: int
    codecs: tuple[Codec, ...]
    dtmf_payload_type: int | None
    direction: str
    webrtc: WebRtcTransport | None = None
    crypto: tuple[Crypto, ...] = ()  # RTP/SAVP: the usable a=crypto lines, offerer's order

    @property
    def codec(self) -> Codec:
        return self.codecs[0]


def read_audio(body: bytes, *, allowed: tuple[Codec, ...] = SUPPORTED,
               srtp: str = "off") -> RemoteAudio:
    """The relayable audio of an SDP offer or answer; raises :class:`MediaNegotiationError`.

    ``srtp`` is the trunk's setting: ``off`` refuses RTP/SAVP, ``offer`` takes RTP/SAVP (with
    a usable ``a=crypto``) or plain RTP/AVP, ``require`` only RTP/SAVP.

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
    proto = audio.proto.upper()
    crypto: tuple[Crypto, ...] = ()
    if proto in SDES_PROFILES:
        if srtp == "off":
            raise MediaNegotiationError(
                f"m=audio uses {audio.proto} (SRTP keyed by a=crypto), which Parley accepts "
                "only from a trunk with srtp: offer or require: offer RTP/AVP, or "
                "UDP/TLS/RTP/SAVPF with DTLS")
        crypto = _crypto_lines(audio)
    elif srtp == "require" and proto not in WEBRTC_PROFILES:
        raise MediaNegotiationError(
            f"m=audio uses {audio.proto}, but this trunk requires SRTP (RTP/SAVP with "
            "a=crypto)")
    webrtc = _webrtc_transport(session, audio) if proto in WEBRTC_PROFILES else None
    try:
        media = offer_answer.negotiated(session, _wanted(allowed))
    except offer_answer.NoCommonCodec as exc:
        raise MediaNegotiationError(f"{exc} (Parley relays PCMU or PCMA)") from exc
    except SdpError as exc:
        raise MediaNegotiationError(f"SDP audio stream unusable: {exc}") from exc
    # in the phone's order: negotiated() lists the payload types as the m= line does
    chosen = tuple(Codec(pt, codec.name.upper(), codec.clock_rate)
                   for pt, codec in media.payload_types.items())
    return RemoteAudio(media.address, media.port, chosen, media.dtmf_payload_type,
                       media.direction, webrtc, crypto)


@functools.lru_cache(maxsize=64)
def _wanted(allowed: tuple[Codec, ...]) -> tuple[offer_answer.Codec, ...]:
    """The offer/answer codecs of ``allowed`` (a trunk's or the node's codec list, so few
    distinct ones: made once each)."""
    return tuple(offer_answer.Codec(codec.name, codec.rate, codec.payload_type)
                 for codec in allowed)


def _crypto_lines(audio: MediaDescription) -> tuple[Crypto, ...]:
    """The ``a=crypto`` lines Parley can use (unknown suites skipped, as RFC 4568 §6.1
    lets an answerer do); none at all is an error naming why."""
    lines = audio.attribute_values("crypto")
    if not lines:
        raise MediaNegotiationError(f"m=audio uses {audio.proto} but has no a=crypto line "
                                    "(Parley keys SRTP to a carrier by SDES, RFC 4568)")
    usable: list[Crypto] = []
    errors: list[str] = []
    for value in lines:
        try:
            usable.append(Crypto.parse(value or ""))
        except SrtpError as exc:
            errors.append(str(exc))
    if not usable:
        raise MediaNegotiationError(
            f"no a=crypto line is usable: {'; '.join(errors)} (Parley speaks "
            f"{', '.join(SDES_SUITES)})")
    return tuple(usable)


def _webrtc_transport(session: SessionDescription, audio: MediaDescription) -> WebRtcTransport:
    """ICE credentials, fingerprints and setup of a DTLS-SRTP stream (media level first, then
    session level, as Firefox writes some of them there)."""

    def values(name: str) -> list[str]:
        return audio.attribute_values(name) or [v or "" for k, v in session.attributes
                                                if k == name]

    ufrag = values("ice-ufrag")
    pwd = values("ice-pwd")
    if not ufrag or not ufrag[0]:
        raise MediaNegotiationError(f"SDP {audio.proto} stream has no a=ice-ufrag")
    if not pwd or not pwd[0]:
        raise MediaNegotiationError(f"SDP {audio.proto} stream has no a=ice-pwd")
    fingerprints: list[tuple[str, str]] = []
    for value in values("fingerprint"):
        algorithm, _, digest = value.strip().partition(" ")
        if not digest:
            raise MediaNegotiationError(f"SDP a=fingerprint:{value} is not '<hash> <AA:BB:…>'")
        fingerprints.append((algorithm.lower(), digest.strip().upper()))
    if not fingerprints:
        raise MediaNegotiationError(f"SDP {audio.proto} stream has no a=fingerprint")
    setup = (values("setup") or ["actpass"])[0].strip().lower()
    if setup not in ("actpass", "active", "passive"):
        raise MediaNegotiationError(f"SDP a=setup:{setup} is not actpass, active or passive")
    mid = audio.attribute("mid")
    bundle = any(k == "group" and (v or "").split()[:1] == ["BUNDLE"]
                 for k, v in session.attributes)
    return WebRtcTransport(ufrag[0].strip(), pwd[0].strip(), tuple(fingerprints), setup,
                           mid, bundle)


def answer_setup(offered: str) -> str:
    """Our a=setup answering ``offered`` (RFC 5763 §5): passive unless the offerer is."""
    return "active" if offered == "passive" else "passive"


def dtls_role(local_setup: str, remote_setup: str) -> str:
    """Which DTLS side we are once both setups are known: the active side is the client."""
    if local_setup == "active" or (local_setup == "actpass" and remote_setup == "passive"):
        return "client"
    return "server"


_MIRROR = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive",
           "sendrecv": "sendrecv"}


def answer_direction(offered: str) -> str:
    """The direction that answers ``offered`` (sendonly is answered recvonly, RFC 3264 §6.1)."""
    return _MIRROR.get(offered, "sendrecv")


def build_sdp(host: str, port: int, codecs: tuple[Codec, ...], *, session_id: int,
              version: int, dtmf_payload_type: int | None = 101,
              direction: str = "sendrecv", webrtc: LocalWebRtc | None = None,
              crypto: tuple[Crypto, ...] = ()) -> bytes:
    """Parley's SDP for one audio stream on the relay's ``host:port`` (with ``webrtc``: as
    an ICE-lite DTLS-SRTP endpoint, rtcp-mux, the stream BUNDLEd alone; with ``crypto``: as
    RTP/SAVP keyed by those ``a=crypto`` lines)."""
    formats = [str(codec.payload_type) for codec in codecs]
    lines = ["v=0", f"o=parley {session_id} {version} IN IP4 {host}", "s=parley",
             f"c=IN IP4 {host}", "t=0 0"]
    if dtmf_payload_type is not None:
        formats.append(str(dtmf_payload_type))
    if webrtc is None:
        profile = "RTP/SAVP" if crypto else "RTP/AVP"
        lines.append(f"m=audio {port} {profile} {' '.join(formats)}")
        lines += [f"a=crypto:{line.attribute()}" for line in crypto]
    else:
        if webrtc.mid is not None:
            lines.append(f"a=group:BUNDLE {webrtc.mid}")
        lines += ["a=ice-lite", f"m=audio {port} UDP/TLS/RTP/SAVPF {' '.join(formats)}"]
        if webrtc.mid is not None:
            lines.append(f"a=mid:{webrtc.mid}")
        lines += [f"a=ice-ufrag:{webrtc.ice_ufrag}", f"a=ice-pwd:{webrtc.ice_pwd}",
                  f"a=fingerprint:sha-256 {webrtc.fingerprint}", f"a=setup:{webrtc.setup}",
                  f"a=candidate:1 1 udp 2130706431 {host} {port} typ host",
                  "a=end-of-candidates", "a=rtcp-mux"]
    lines += [f"a=rtpmap:{codec.payload_type} {codec.name}/{codec.rate}" for codec in codecs]
    if dtmf_payload_type is not None:
        lines += [f"a=rtpmap:{dtmf_payload_type} telephone-event/8000",
                  f"a=fmtp:{dtmf_payload_type} 0-16"]
    lines += ["a=ptime:20", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()
