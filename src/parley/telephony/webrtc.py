"""Telephony's side of WebRTC legs: when a leg is one, what its SDP says, how it ends.

The media itself is the relay's (:mod:`parley.net.webrtc`); this module only decides:

- a SIP offer or answer whose audio is ``UDP/TLS/RTP/SAVPF`` with ICE makes a WebRTC leg,
  whatever transport the SIP came over (:class:`~parley.telephony.media_sdp.RemoteAudio`'s
  ``webrtc``);
- a call Parley places toward a browser offers WebRTC: a contact registered over WebSocket
  (``transport=ws``/``wss`` in its Contact, or a binding that came in over WS/WSS) is a
  browser (:func:`is_browser_binding`);
- a leg whose browser stops giving consent (RFC 7675), fails DTLS or closes it ends with a
  cause the record shows, hung up by the remote side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley.events import HangupCause
from parley.net.webrtc import LostReason, WebRtcEndpoint
from parley.sip.registrar import Binding
from parley.sip.uri import SipUri
from parley.telephony.media_sdp import LocalWebRtc, WebRtcTransport, answer_setup, dtls_role

if TYPE_CHECKING:
    from parley.telephony.channel import Channel

BROWSER_TRANSPORTS = ("ws", "wss")

#: How a WebRTC leg that stopped on its own is recorded.
LOST_CAUSES = {
    LostReason.CONSENT: HangupCause.CONSENT_EXPIRED,
    LostReason.DTLS_FAILED: HangupCause.INCOMPATIBLE_DESTINATION,
    LostReason.CLOSED: HangupCause.NORMAL_CLEARING,
}


def is_browser_uri(uri: SipUri) -> bool:
    """A contact URI with ``;transport=ws`` or ``wss`` (RFC 7118 §5.3)."""
    return any(name.lower() == "transport" and (value or "").lower() in BROWSER_TRANSPORTS
               for name, value in uri.params)


def is_browser_binding(binding: Binding) -> bool:
    """A registration of a browser: registered over WebSocket, or its Contact says so."""
    return ((binding.transport or "").lower() in BROWSER_TRANSPORTS
            or is_browser_uri(binding.uri))


def answer_webrtc(endpoint: WebRtcEndpoint, offer: WebRtcTransport) -> LocalWebRtc:
    """Set the endpoint up from the browser's offer; returns what our answer says."""
    setup = answer_setup(offer.setup)
    endpoint.local_setup = setup
    endpoint.configure(offer.ice_ufrag, offer.ice_pwd, offer.fingerprints,
                       dtls_role(setup, offer.setup))
    return LocalWebRtc(endpoint.ice.local_ufrag, endpoint.ice.local_pwd,
                       endpoint.relay.certificate.fingerprint, setup,
                       offer.mid if offer.mid is not None else None)


def offer_webrtc(endpoint: WebRtcEndpoint) -> LocalWebRtc:
    """Our offer toward a browser: actpass, one BUNDLEd stream with mid 0."""
    endpoint.local_setup = "actpass"
    return LocalWebRtc(endpoint.ice.local_ufrag, endpoint.ice.local_pwd,
                       endpoint.relay.certificate.fingerprint, "actpass", "0")


def answered_webrtc(endpoint: WebRtcEndpoint, answer: WebRtcTransport) -> None:
    """The browser answered our offer (or re-offered): its credentials and our DTLS role."""
    endpoint.configure(answer.ice_ufrag, answer.ice_pwd, answer.fingerprints,
                       dtls_role(endpoint.local_setup, answer.setup))


def watch_webrtc(channel: Channel) -> None:
    """End the channel when its WebRTC media stops on its own, and say when it comes up (its
    bridge changed then: a hot-standby node keeps the call from that moment); no-op for
    other legs."""
    endpoint = channel.media
    if not isinstance(endpoint, WebRtcEndpoint):
        return

    def connected(up: WebRtcEndpoint) -> None:
        channel.log.info("webrtc_media_up", browser=f"{up.remote[0]}:{up.remote[1]}"
                         if up.remote is not None else None,
                         after_s=round(up.relay.clock.monotonic() - up.created_at, 3))
        channel.media_changed()

    def lost(lost_endpoint: WebRtcEndpoint, reason: str) -> None:
        cause = LOST_CAUSES.get(reason, HangupCause.NORMAL_UNSPECIFIED)
        channel.log.info("webrtc_media_lost", reason=reason, detail=lost_endpoint.ended_detail)
        if channel.ended:
            return
        channel.leg.hangup(cause)
        channel.ended_by(cause, "remote")

    endpoint.on_lost = lost
    endpoint.on_connected = connected
