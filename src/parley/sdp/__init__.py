"""Pure SDP (RFC 4566) and offer/answer (RFC 3264) for G.711 audio and RFC 4733 DTMF.

- ``parley.sdp.session``: ``SessionDescription.parse(body)``, ``str()``/``bytes()``,
  ``MediaDescription`` (``rtpmaps``, ``direction``, ``ptime``, ``with_direction``),
  ``SdpParseError`` (with the line number).
- ``parley.sdp.offer_answer``: ``build_offer``, ``build_answer`` (raises ``NoCommonCodec``
  whose ``warning`` is ready for a 488), ``negotiated`` (address, port, codec, payload types),
  ``with_direction`` (hold/resume re-offers), codecs ``PCMU``, ``PCMA``, ``TELEPHONE_EVENT``.
"""

from parley.sdp.offer_answer import (
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    NegotiatedMedia,
    NoCommonCodec,
    build_answer,
    build_offer,
    negotiated,
    with_direction,
)
from parley.sdp.session import (
    MediaDescription,
    SdpError,
    SdpParseError,
    SessionDescription,
)

__all__ = [
    "PCMA", "PCMU", "TELEPHONE_EVENT", "Codec", "MediaDescription", "NegotiatedMedia",
    "NoCommonCodec", "SdpError", "SdpParseError", "SessionDescription", "build_answer",
    "build_offer", "negotiated", "with_direction",
]
