"""The SIP side of one channel: its INVITE session and the shell that runs its commands.

A :class:`~parley.telephony.channel.Channel` is the public call-control handle; its
:class:`SipLeg` holds what only SIP needs: the pure :class:`parley.sip.session.InviteSession`
(dialog, tags, CANCEL, BYE, re-INVITE, retries), where the phone is, and the media negotiated
(remote audio, codec, telephone-event payload type, our SDP versions).

:meth:`SipLeg.run` carries out the session's commands: requests go out as client transactions
of the engine (their responses and timeouts come back to the session), responses through the
server transaction of the request they answer, ACKs straight to the dialog's next hop, timers
on the engine's injected clock. The session's reports become channel state (ringing, answered,
hung up with a cause) and SDP work (an answer to read, a re-INVITE offer to answer); INFO and
REFER go to the media shell and the transfer handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from parley.clock import Cancellable
from parley.events import HangupCause
from parley.media.srtp import Crypto, SrtpError
from parley.net.transport import Peer
from parley.net.webrtc import WebRtcEndpoint
from parley.sip.dialog import Dialog
from parley.sip.errors import DialogError, SessionError
from parley.sip.message import SipRequest, SipResponse
from parley.sip.session import (
    Answered,
    CancelTimer,
    Command,
    EarlyMedia,
    Ended,
    EndReason,
    InviteSession,
    ReinviteDone,
    ReinviteOffered,
    RequestReceived,
    Ringing,
    SendAck,
    SendRequest,
    SendResponse,
    StartTimer,
)
from parley.sip.uri import SipUri
from parley.telephony.causes import cause_for_status, status_for_cause
from parley.telephony.media_sdp import (
    Codec,
    LocalWebRtc,
    MediaNegotiationError,
    RemoteAudio,
    answer_direction,
    build_sdp,
    read_audio,
)
from parley.telephony.refer import handle_refer
from parley.telephony.sdes import answered_crypto, key_endpoint
from parley.telephony.webrtc import answered_webrtc

if TYPE_CHECKING:
    from parley.telephony.channel import Channel
    from parley.telephony.engine import SipEngine

SDP = "application/sdp"

#: How each end the session reports becomes a hang-up cause, and who hung up.
END_CAUSES: dict[EndReason, tuple[HangupCause, str]] = {
    EndReason.CANCELLED: (HangupCause.ORIGINATOR_CANCEL, "remote"),
    EndReason.BYE: (HangupCause.NORMAL_CLEARING, "remote"),
    EndReason.TIMEOUT: (HangupCause.RECOVERY_ON_TIMER_EXPIRE, "remote"),
    EndReason.NO_ANSWER: (HangupCause.NO_ANSWER, "local"),
    EndReason.NO_ACK: (HangupCause.RECOVERY_ON_TIMER_EXPIRE, "local"),
    EndReason.UNUSABLE_ANSWER: (HangupCause.INTERWORKING, "remote"),
}

#: The SIP status a leg's record shows for an end that carried none.
END_STATUSES: dict[EndReason, int] = {
    EndReason.TIMEOUT: 408,  # no final response to our INVITE (timer B)
    EndReason.NO_ANSWER: 487,  # we cancelled when nobody answered in time
    EndReason.CANCELLED: 487,  # the caller cancelled
}


def peer_of(uri: SipUri) -> Peer:
    """Where to send to ``uri``: its host and port over its transport (UDP unless TCP or
    TLS; a sips: URI is TLS, by default on port 5061)."""
    transport = "TLS" if uri.scheme == "sips" else "UDP"
    for name, value in uri.params:
        if name.lower() == "transport" and value and transport != "TLS":
            transport = value.upper()
    if transport not in ("UDP", "TCP", "TLS"):
        transport = "UDP"
    return Peer(transport, uri.host, uri.port or (5061 if transport == "TLS" else 5060))


def q850(cause: HangupCause) -> str | None:
    """The Reason header value for ``cause`` (RFC 3326), None for Parley's own causes."""
    return f"Q.850;cause={int(cause)}" if int(cause) < 128 else None


@dataclass(eq=False)
class SipLeg:
    """One channel's SIP: session, phone address, negotiated media (module docstring)."""

    engine: SipEngine
    session: InviteSession
    peer: Peer
    session_id: int
    remote_audio: RemoteAudio | None = None
    codec: Codec | None = None
    dtmf_payload_type: int | None = 101
    sdp_version: int = 0
    webrtc: LocalWebRtc | None = None  # our ICE/DTLS side when the phone is a browser
    #: A trunk's ``srtp`` (off | offer | require) and our a=crypto lines (several in an
    #: offer, the one in use once answered; empty: plain RTP)
    srtp: str = "off"
    crypto: tuple[Crypto, ...] = ()
    remote_crypto: Crypto | None = None  # the carrier's line in use
    channel: Channel | None = None
    timers: dict[str, Cancellable] = field(default_factory=dict)
    #: The codecs this leg may use (a trunk's ``codecs``); None: every one Parley speaks.
    allowed: tuple[Codec, ...] | None = None
    #: How key presses travel: "rfc4733" (telephone-event in RTP) or "info" (SIP INFO;
    #: no telephone-event is offered or answered).
    dtmf_mode: str = "rfc4733"
    #: Whether any response (100 Trying included) came to our INVITE: a trunk that said
    #: nothing at all within its set-up time is given up for the next one.
    heard: bool = False

    @property
    def codecs(self) -> tuple[Codec, ...]:
        return self.allowed if self.allowed is not None else self.engine.codecs

    @property
    def call_id(self) -> str:
        return self.session.call_id

    @property
    def local_tag(self) -> str:
        return self.session.local_tag

    @property
    def remote_tag(self) -> str | None:
        return self.session.remote_tag

    @property
    def dialog(self) -> Dialog | None:
        return self.session.dialog

    @property
    def next_hop(self) -> Peer:
        """Where requests go: the first Record-Route hop, else where the phone is."""
        dialog = self.session.dialog
        if dialog is not None and dialog.route_set:
            return peer_of(dialog.next_hop)
        return self.peer

    # --- what the channel asks ---------------------------------------------------------------

    def ring(self) -> None:
        self.run(self.session.ring())

    def answer(self, sdp: bytes) -> None:
        self.run(self.session.answer(sdp))

    def hangup(self, cause: HangupCause) -> None:
        """A final failure (callee not answered), CANCEL (caller not answered) or BYE."""
        reason = q850(cause)
        self.run(self.session.hangup(status_for_cause(cause), reason=reason,
                                     headers=(("Reason", reason),) if reason else ()))

    def reinvite(self, sdp: bytes) -> None:
        self.run(self.session.reinvite(sdp))

    def request(self, method: str, *, body: bytes = b"", content_type: str | None = None,
                headers: tuple[tuple[str, str], ...] = ()) -> None:
        """A non-INVITE request in the dialog (NOTIFY, INFO...); its responses update it."""
        dialog = self.session.dialog
        if dialog is None:
            return
        try:
            request = dialog.create_request(method, body=body, headers=headers,
                                            content_type=content_type or
                                            (SDP if body else None))
        except DialogError as exc:
            self._log("in_dialog_request_refused", method=method, error=str(exc))
            return
        self.run([SendRequest(request)])

    def local_sdp(self, port: int, direction: str = "sendrecv") -> bytes:
        """Our SDP: the chosen codec (else what the phone offered, else ours), next version."""
        self.sdp_version += 1
        codecs: tuple[Codec, ...] = (self.codec,) if self.codec is not None else ()
        if not codecs and self.remote_audio is not None:
            codecs = self.remote_audio.codecs
        return build_sdp(self.engine.media_host, port, codecs or self.codecs,
                         session_id=self.session_id, version=self.sdp_version,
                         dtmf_payload_type=None if self.dtmf_mode == "info"
                         else self.dtmf_payload_type, direction=direction,
                         webrtc=self.webrtc, crypto=self.crypto)

    # --- what the engine feeds in ------------------------------------------------------------

    def feed(self, step: Callable[[], list[Command]]) -> None:
        """Run one session input (``lambda: leg.session.cancelled()``) and its commands;
        input its state does not accept is logged and dropped, as the transaction layer
        drops network input that fits no transaction."""
        try:
            commands = step()
        except SessionError as exc:
            self._log("sip_session_dropped", error=str(exc))
            return
        self.run(commands)

    # --- the session's commands --------------------------------------------------------------

    def run(self, commands: list[Command]) -> None:
        engine = self.engine
        for command in commands:
            if isinstance(command, SendRequest):
                request = command.request
                engine.send_request(request, self.next_hop, self._answered_by(request))
            elif isinstance(command, SendResponse):
                engine.send_response(command.response)
            elif isinstance(command, SendAck):
                engine.send_direct(command.request, self.next_hop)
            elif isinstance(command, StartTimer):
                old = self.timers.pop(command.name, None)
                if old is not None:
                    old.cancel()
                self.timers[command.name] = engine.clock.call_later(
                    command.delay, self._firing(command.name))
            elif isinstance(command, CancelTimer):
                handle = self.timers.pop(command.name, None)
                if handle is not None:
                    handle.cancel()
            else:
                self._report(command)

    def _answered_by(self, request: SipRequest) -> Callable[[SipResponse | None], None]:
        session = self.session

        def answered(response: SipResponse | None) -> None:
            if response is not None and request.method == "INVITE":
                self.heard = True
            if response is None:
                self.feed(lambda: session.request_failed(request))
            else:
                self.feed(lambda: session.receive_response(response))
        return answered

    def _firing(self, name: str) -> Callable[[], None]:
        def fire() -> None:
            self.timers.pop(name, None)
            self.feed(lambda: self.session.timer_fired(name))
        return fire

    def _report(self, report: Command) -> None:
        channel = self.channel
        if channel is None:
            return
        if isinstance(report, Ringing):
            channel.remote_ringing()
        elif isinstance(report, EarlyMedia):
            self._early_media(channel, report.response)
        elif isinstance(report, Answered):
            self._answered(channel, report.response)
        elif isinstance(report, Ended):
            if report.reason is EndReason.REJECTED:
                cause, by = cause_for_status(report.status or 500), "remote"
            else:
                cause, by = END_CAUSES[report.reason]
            if channel.sip_status is None:
                channel.sip_status = report.status or END_STATUSES.get(report.reason)
            if report.reason is EndReason.UNUSABLE_ANSWER:
                self._log("unusable_2xx")
            if report.reason is EndReason.NO_ACK:
                self._log("no_ack_for_200")
            channel.ended_by(cause, by)
        elif isinstance(report, ReinviteOffered):
            self._offered(channel, report.request)
        elif isinstance(report, RequestReceived):
            self._request(channel, report.request)
        elif isinstance(report, ReinviteDone) and report.response is not None \
                and not report.response.is_success:
            self._log("reinvite_refused", status=report.response.status)

    def _early_media(self, channel: Channel, response: SipResponse) -> None:
        """A 180/183 with SDP: the carrier's early media comes from the address it gives.
        Its audio becomes the leg's remote audio until the answer's replaces it, so that the
        media shell can decode it (early-media detection). SRTP and WebRTC early media are
        not decoded (their keys are settled by the answer)."""
        if self.crypto or self.webrtc is not None:
            self._log("early_media_not_decoded", reason="srtp")
            return
        try:
            remote = read_audio(response.body, allowed=self.codecs)
        except MediaNegotiationError as exc:
            self._log("bad_early_media_sdp", error=str(exc))
            return
        self.remote_audio = remote
        channel.media.set_remote(remote.host, remote.port)
        channel.early_media_started()

    def _answered(self, channel: Channel, response: SipResponse) -> None:
        """The callee answered (ACKed already): take its SDP answer, or hang up."""
        try:
            remote = read_audio(response.body, allowed=self.codecs,
                                srtp=self.srtp if self.crypto else "off")
            if self.crypto and remote.crypto:
                chosen = answered_crypto(channel.media, self.crypto, remote.crypto)
                self.crypto = (chosen,)
                self.remote_crypto = next(line for line in remote.crypto
                                          if line.tag == chosen.tag)
                self._log("srtp_keyed", suite=chosen.suite, keying="sdes")
            elif self.crypto:  # srtp offer: the carrier answered plain RTP/AVP
                self.crypto = ()
        except (MediaNegotiationError, SrtpError) as exc:
            self._log("bad_answer_sdp", error=str(exc))
            channel.hangup(HangupCause.INCOMPATIBLE_DESTINATION)
            return
        if (self.webrtc is None) != (remote.webrtc is None):
            self._log("bad_answer_sdp", error="the answer's media profile is not the offer's")
            channel.hangup(HangupCause.INCOMPATIBLE_DESTINATION)
            return
        self.remote_audio = remote
        self.codec = remote.codec
        self.dtmf_payload_type = None if self.dtmf_mode == "info" else remote.dtmf_payload_type
        channel.media.set_remote(remote.host, remote.port)
        if remote.webrtc is not None and isinstance(channel.media, WebRtcEndpoint):
            answered_webrtc(channel.media, remote.webrtc)
        channel.sip_status = response.status
        channel.remote_answered()

    def _offered(self, channel: Channel, request: SipRequest) -> None:
        """A re-INVITE from the phone: follow its address and direction, answer in kind."""
        direction = "sendrecv"
        if request.body:
            try:
                remote = read_audio(request.body, allowed=self.codecs,
                                    srtp=self.srtp if self.crypto else "off")
                if bool(remote.crypto) != bool(self.crypto):
                    raise MediaNegotiationError("a re-INVITE may not turn SRTP on or off")
                self._rekey(channel, remote)
            except (MediaNegotiationError, SrtpError) as exc:
                self.run(self.session.answer_reinvite(
                    488, headers=(("Warning", f'304 parley "{exc}"'),)))
                return
            if self.remote_audio is None or (remote.host, remote.port) != (
                    self.remote_audio.host, self.remote_audio.port):
                channel.media.set_remote(remote.host, remote.port)
            if remote.webrtc is not None and isinstance(channel.media, WebRtcEndpoint):
                channel.media.ice.set_remote(remote.webrtc.ice_ufrag, remote.webrtc.ice_pwd)
            self.remote_audio = remote
            direction = remote.direction
        channel.media.on_hold = direction in ("inactive", "recvonly")
        self.run(self.session.answer_reinvite(
            200, self.local_sdp(channel.media.port, answer_direction(direction))))
        channel.media_changed()

    def _rekey(self, channel: Channel, remote: RemoteAudio) -> None:
        """A carrier's re-INVITE may bring a new key (RFC 4568 §7.1.4): take it, and answer
        with a new key of ours too (new sessions start their rollover counters afresh, so a
        key must not be used on)."""
        if not self.crypto or self.remote_crypto is None:
            return
        ours = self.crypto[0]
        line = next((line for line in remote.crypto if line.suite == ours.suite), None)
        if line is None:
            raise SrtpError(f"the re-INVITE offers no a=crypto line of suite {ours.suite}")
        if line.key != self.remote_crypto.key:
            fresh = Crypto.fresh(line.tag, ours.suite)
            key_endpoint(channel.media, fresh, line)
            self.crypto = (fresh,)
            self._log("srtp_rekeyed", suite=ours.suite)
        elif line.tag != ours.tag:
            self.crypto = (Crypto(line.tag, ours.suite, ours.key),)
        self.remote_crypto = line

    def _request(self, channel: Channel, request: SipRequest) -> None:
        """INFO (key presses), REFER (transfer); anything else in the dialog gets 200."""
        engine = self.engine
        if request.method == "REFER":
            handle_refer(engine, channel, request, self.peer)
            return
        engine.respond(request, self.peer, 200)
        if request.method == "INFO" and engine.media is not None:
            engine.media.info(channel, request)

    def _log(self, event: str, **fields: object) -> None:
        if self.channel is not None:
            self.channel.log.info(event, **fields)
