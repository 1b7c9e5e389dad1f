"""The INVITE session of one call leg (RFC 3261 §13-15, §9 CANCEL) as transition tables.

Sans-IO, like :mod:`parley.sip.transaction`, one layer up: an :class:`InviteSession` is the
transaction user of one INVITE dialog usage, caller side (:meth:`InviteSession.outgoing`) or
callee side (:meth:`InviteSession.incoming`). It takes events:

- local call control: :meth:`~InviteSession.ring`, :meth:`~InviteSession.answer`,
  :meth:`~InviteSession.hangup` (a final failure, CANCEL or BYE, as the state calls for),
  :meth:`~InviteSession.reinvite` (hold and unhold), :meth:`~InviteSession.answer_reinvite`;
- what the transaction layer passes up: :meth:`~InviteSession.receive_response`,
  :meth:`~InviteSession.receive_request` (ACK, BYE, re-INVITE and other in-dialog requests),
  :meth:`~InviteSession.request_failed` (a client transaction timed out),
  :meth:`~InviteSession.cancelled` (a CANCEL matched the INVITE), :meth:`~InviteSession.no_ack`
  (the 2xx was never acknowledged);
- :meth:`~InviteSession.timer_fired` for a timer it asked for (``no-answer``, ``glare``).

Each returns a list of commands for the shell:

- :class:`SendRequest` (start a client transaction; feed its responses back),
  :class:`SendResponse` (through the request's server transaction), :class:`SendAck` (the ACK
  for a 2xx, outside any transaction);
- :class:`StartTimer` / :class:`CancelTimer` of the session's own timers;
- reports: :class:`Ringing`, :class:`Answered`, :class:`ReinviteOffered`,
  :class:`ReinviteDone`, :class:`RequestReceived` (INFO, REFER, NOTIFY...: the shell answers
  them) and :class:`Ended` with an :class:`EndReason`, once, for every end the shell did not ask
  for itself (a local hang-up is the shell's own doing and is not reported back).

Retransmissions (the INVITE, the 2xx until its ACK, RFC 3261 §13.3.1.4) are the transaction
layer's; the session ACKs every 2xx it is given (retransmissions included), sends BYE when no ACK
came, holds a callee's BYE until the ACK (§15), sends CANCEL only after a provisional response
(§9.1), ACKs and BYEs a 2xx that crossed its CANCEL, and retries a re-INVITE refused with 491
after the random wait of §14.1. Session timers (RFC 4028) are not supported.

The caller and callee tables map ``(state, event)`` to a handler; a pair missing from the table
raises :class:`~parley.sip.errors.SessionError`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from parley.sip.auth import AuthError, authorize_request, challenges
from parley.sip.dialog import Dialog
from parley.sip.errors import DialogError, SessionError
from parley.sip.headers import NameAddr, Via
from parley.sip.message import SipRequest, SipResponse, build_response
from parley.sip.transaction import build_cancel

SDP = "application/sdp"
NO_ANSWER = "no-answer"
GLARE = "glare"

# --- commands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendRequest:
    """Send ``request`` in a new client transaction; its responses go to receive_response."""
    request: SipRequest


@dataclass(frozen=True)
class SendResponse:
    """Send ``response`` through the server transaction of the request it answers."""
    response: SipResponse


@dataclass(frozen=True)
class SendAck:
    """Send the ACK of a 2xx directly to the dialog's next hop (no transaction)."""
    request: SipRequest


@dataclass(frozen=True)
class StartTimer:
    """Call timer_fired(name) after ``delay`` seconds (replacing a running one of that name)."""
    name: str
    delay: float


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class Ringing:
    """The callee's phone rings (the first 180 or 183)."""
    response: SipResponse


@dataclass(frozen=True)
class EarlyMedia:
    """The first 180/183 with an SDP body: the callee's side sends early media (ringback,
    tones, announcements) to the address it gives, before any answer."""
    response: SipResponse


@dataclass(frozen=True)
class Answered:
    """The callee answered (already acknowledged); ``response.body`` holds the SDP answer."""
    response: SipResponse


@dataclass(frozen=True)
class ReinviteOffered:
    """The phone sent a re-INVITE; answer it with answer_reinvite (a 2xx with SDP or a
    failure such as 488)."""
    request: SipRequest


@dataclass(frozen=True)
class ReinviteDone:
    """Our re-INVITE got its final response (None: it timed out)."""
    response: SipResponse | None


@dataclass(frozen=True)
class RequestReceived:
    """An in-dialog request the session does not handle itself (INFO, REFER, NOTIFY,
    OPTIONS, UPDATE...); the shell answers it."""
    request: SipRequest


class EndReason(Enum):
    REJECTED = "rejected"  # a 3xx-6xx to our INVITE (``Ended.status``)
    CANCELLED = "cancelled"  # the caller cancelled before the answer
    BYE = "bye"  # the other side hung up
    TIMEOUT = "timeout"  # no final response to our INVITE
    NO_ANSWER = "no-answer"  # our no-answer timer ran out (CANCEL sent)
    NO_ACK = "no-ack"  # our 2xx was never acknowledged (BYE sent)
    UNUSABLE_ANSWER = "unusable-answer"  # a 2xx that makes no dialog (no Contact)


@dataclass(frozen=True)
class Ended:
    """The session ended without the shell asking; ``by`` is "remote" or "local"."""
    reason: EndReason
    by: str
    status: int | None = None


Command = (SendRequest | SendResponse | SendAck | StartTimer | CancelTimer | Ringing | EarlyMedia
           | Answered | ReinviteOffered | ReinviteDone | RequestReceived | Ended)


# --- states and events -----------------------------------------------------------------------

class Role(Enum):
    CALLER = "caller"  # UAC of the INVITE
    CALLEE = "callee"  # UAS of the INVITE


class SessionState(Enum):
    CALLING = "Calling"  # caller: INVITE sent, nothing but 100 back
    OFFERED = "Offered"  # callee: INVITE received, nothing but 100 sent
    EARLY = "Early"  # a 1xx received (caller) or sent (callee)
    CANCELLING = "Cancelling"  # caller: hung up before the answer; CANCEL after the first 1xx
    ANSWERED = "Answered"  # callee: 2xx sent, its ACK not in yet
    CLOSING = "Closing"  # callee: hung up while the 2xx awaited its ACK; BYE after the ACK
    CONFIRMED = "Confirmed"  # the call is up
    ENDED = "Ended"


class SessionEvent(Enum):
    RING = "ring"
    ANSWER = "answer"
    HANGUP = "hang up"
    REINVITE = "send re-INVITE"
    ANSWER_REINVITE = "answer re-INVITE"
    RECV_1XX = "1xx to INVITE"
    RECV_2XX = "2xx to INVITE"
    RECV_FAILURE = "3xx-6xx to INVITE"
    INVITE_FAILED = "INVITE timed out"
    RECV_REINVITE_FINAL = "final response to re-INVITE"
    RECV_ACK = "ACK"
    RECV_BYE = "BYE"
    RECV_CANCEL = "CANCEL"
    RECV_REINVITE = "re-INVITE"
    RECV_REQUEST = "other in-dialog request"
    NO_ACK = "no ACK for our 2xx"
    TIMER_NO_ANSWER = "no-answer timer"
    TIMER_GLARE = "glare retry timer"


@dataclass(frozen=True)
class _Input:
    """What an event carries; handlers read the fields their event fills in."""

    request: SipRequest | None = None
    response: SipResponse | None = None
    status: int = 0
    reason: str | None = None
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def req(self) -> SipRequest:
        if self.request is None:  # the tables pair events and handlers: a bug if reached
            raise SessionError("this event carries no request")
        return self.request

    @property
    def resp(self) -> SipResponse:
        if self.response is None:
            raise SessionError("this event carries no response")
        return self.response


@dataclass
class InviteSession:
    """One INVITE dialog usage; state changes only through its tables (module docstring)."""

    role: Role
    invite: SipRequest  # the initial INVITE: sent (caller) or received (callee)
    local_tag: str
    local_contact: NameAddr
    local_via: Via
    state: SessionState
    dialog: Dialog | None = None
    remote_tag: str | None = None
    no_answer_after: float | None = None
    rand: Callable[[], float] = field(default=random.random, repr=False)
    timers: set[str] = field(default_factory=set)
    cancel_sent: bool = False
    ringing_reported: bool = False
    early_media_reported: bool = False
    offer: SipRequest | None = None  # a re-INVITE received, awaiting answer_reinvite
    our_offer: bytes | None = None  # the body of our re-INVITE in flight (for a 491 retry)
    queued_offer: bytes | None = None  # a re-INVITE asked for while another was in flight
    bye_reason: str | None = None  # the Reason of a callee's BYE held back until the ACK
    #: (username, password) answering a carrier's 401/407 to our INVITE (trunks)
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    credentials_sent: bool = False  # the INVITE in flight carries an answer to a challenge
    out: list[Command] = field(default_factory=list, repr=False)

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def outgoing(cls, invite: SipRequest, *, local_via: Via,
                 no_answer_after: float | None = None,
                 rand: Callable[[], float] = random.random,
                 credentials: tuple[str, str] | None = None) -> InviteSession:
        """The caller's session for ``invite`` (which carries our From tag and Contact);
        :meth:`start` sends it. ``credentials`` (user name, password) answer a digest
        challenge (401/407) to the INVITE by sending it again with them."""
        tag = invite.from_.tag
        contact = invite.contact
        if tag is None or contact is None:
            raise SessionError("an outgoing INVITE needs a From tag and a Contact")
        return cls(Role.CALLER, invite, tag, contact, local_via, SessionState.CALLING,
                   no_answer_after=no_answer_after, rand=rand, credentials=credentials)

    @classmethod
    def incoming(cls, invite: SipRequest, *, local_tag: str, local_contact: NameAddr,
                 local_via: Via, rand: Callable[[], float] = random.random) -> InviteSession:
        """The callee's session for a received INVITE; raises DialogError when the INVITE
        makes no dialog (no From tag, no Contact)."""
        dialog = Dialog.from_request(invite, local_tag=local_tag, local_contact=local_contact,
                                     local_via=local_via)
        return cls(Role.CALLEE, invite, local_tag, local_contact, local_via,
                   SessionState.OFFERED, dialog=dialog, remote_tag=invite.from_.tag, rand=rand)

    @classmethod
    def resumed(cls, role: Role, invite: SipRequest, dialog: Dialog, *,
                local_contact: NameAddr, local_via: Via,
                rand: Callable[[], float] = random.random) -> InviteSession:
        """A confirmed session taken over from another node: ``invite`` opened it,
        ``dialog`` is its state (:meth:`Dialog.restored`). It takes in-dialog requests and
        ends with BYE like one this node answered or placed."""
        return cls(role, invite, dialog.local_tag, local_contact, local_via,
                   SessionState.CONFIRMED, dialog=dialog, remote_tag=dialog.remote_tag,
                   rand=rand)

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    @property
    def is_up(self) -> bool:
        return self.state in (SessionState.ANSWERED, SessionState.CONFIRMED)

    # --- inputs ---------------------------------------------------------------------------

    def start(self) -> list[Command]:
        """Send the caller's INVITE and start the no-answer timer."""
        if self.role is not Role.CALLER or self.state is not SessionState.CALLING or self.out:
            raise SessionError("start() sends a new caller's INVITE once")
        self._send(self.invite)
        if self.no_answer_after is not None:
            self._start(NO_ANSWER, self.no_answer_after)
        out, self.out = self.out, []
        return out

    def ring(self) -> list[Command]:
        return self._run(SessionEvent.RING, _Input())

    def answer(self, sdp: bytes) -> list[Command]:
        return self._run(SessionEvent.ANSWER, _Input(body=sdp))

    def hangup(self, status: int = 480, reason: str | None = None,
               headers: tuple[tuple[str, str], ...] = ()) -> list[Command]:
        """End the call: ``status`` (with ``headers``) before a callee answers, CANCEL before
        a caller is answered, BYE once up (with a Reason header when ``reason`` is given)."""
        return self._run(SessionEvent.HANGUP,
                         _Input(status=status, reason=reason, headers=headers))

    def reinvite(self, sdp: bytes) -> list[Command]:
        """Offer ``sdp`` in a re-INVITE (queued while another INVITE is in flight)."""
        return self._run(SessionEvent.REINVITE, _Input(body=sdp))

    def answer_reinvite(self, status: int, sdp: bytes = b"", reason: str | None = None,
                        headers: tuple[tuple[str, str], ...] = ()) -> list[Command]:
        """Answer the re-INVITE reported by ReinviteOffered."""
        return self._run(SessionEvent.ANSWER_REINVITE,
                         _Input(status=status, body=sdp, reason=reason, headers=headers))

    def receive_response(self, response: SipResponse) -> list[Command]:
        """A response to one of the session's requests."""
        method = response.cseq.method
        if method == "INVITE" and response.cseq.seq == self.invite.cseq.seq \
                and self.role is Role.CALLER:
            if response.status < 200:
                event = SessionEvent.RECV_1XX
            else:
                event = SessionEvent.RECV_2XX if response.is_success \
                    else SessionEvent.RECV_FAILURE
            return self._run(event, _Input(response=response))
        if method == "INVITE":
            if response.status < 200:
                return []
            return self._run(SessionEvent.RECV_REINVITE_FINAL, _Input(response=response))
        if self.dialog is not None and method != "CANCEL":
            self.dialog.receive_response(response)
        return []

    def request_failed(self, request: SipRequest) -> list[Command]:
        """One of the session's requests got no final response (timeout, transport error)."""
        if request.method == "INVITE" and request.cseq.seq == self.invite.cseq.seq \
                and self.role is Role.CALLER:
            return self._run(SessionEvent.INVITE_FAILED, _Input(request=request))
        if request.method == "INVITE":
            return self._run(SessionEvent.RECV_REINVITE_FINAL, _Input(request=request))
        return []

    def receive_request(self, request: SipRequest) -> list[Command]:
        """An in-dialog request (To tag ours). The dialog checks CSeq order (500) and
        re-INVITE glare (491) first; what passes goes to the table."""
        method = request.method
        if method == "CANCEL":
            return self.cancelled()
        if self.dialog is not None and method != "ACK" and self.state is not SessionState.ENDED:
            refusal = self.dialog.receive_request(request)
            if refusal is not None:
                kept = tuple((n, v) for n, v in refusal.headers if n.lower() == "retry-after")
                return [SendResponse(build_response(request, refusal.status, refusal.reason,
                                                    headers=kept))]
        event = {"ACK": SessionEvent.RECV_ACK, "BYE": SessionEvent.RECV_BYE,
                 "INVITE": SessionEvent.RECV_REINVITE}.get(method, SessionEvent.RECV_REQUEST)
        return self._run(event, _Input(request=request))

    def cancelled(self) -> list[Command]:
        """The transaction layer matched a CANCEL to our pending INVITE (and answered it)."""
        return self._run(SessionEvent.RECV_CANCEL, _Input())

    def no_ack(self) -> list[Command]:
        """Our 2xx was never acknowledged (the transaction's timer L, NO_ACK)."""
        return self._run(SessionEvent.NO_ACK, _Input())

    def timer_fired(self, name: str) -> list[Command]:
        if name not in self.timers:
            return []  # cancelled or replaced: a stale expiry
        self.timers.discard(name)
        event = SessionEvent.TIMER_NO_ANSWER if name == NO_ANSWER else SessionEvent.TIMER_GLARE
        return self._run(event, _Input())

    # --- the engine -----------------------------------------------------------------------

    def _run(self, event: SessionEvent, data: _Input) -> list[Command]:
        table = CALLER if self.role is Role.CALLER else CALLEE
        handler = table.get((self.state, event))
        if handler is None:
            raise SessionError(f"{self.role.value} session {self.call_id} in state "
                               f"{self.state.value} cannot handle {event.value}")
        self.out = []
        self.state = handler(self, data)
        if self.state is SessionState.ENDED:
            for name in sorted(self.timers):
                self.out.append(CancelTimer(name))
            self.timers.clear()
        out, self.out = self.out, []
        return out

    # helpers used by handlers
    def _send(self, request: SipRequest) -> None:
        self.out.append(SendRequest(request))

    def _respond(self, request: SipRequest, status: int, *, body: bytes = b"",
                 reason: str | None = None, headers: tuple[tuple[str, str], ...] = ()) -> None:
        dialog_forming = request.method == "INVITE" and 100 < status < 300
        self.out.append(SendResponse(build_response(
            request, status, reason, to_tag=self.local_tag,
            contact=self.local_contact if dialog_forming else None, headers=headers, body=body,
            content_type=SDP if body else None)))

    def _start(self, name: str, delay: float) -> None:
        self.timers.add(name)
        self.out.append(StartTimer(name, delay))

    def _cancel(self, name: str) -> None:
        if name in self.timers:
            self.timers.discard(name)
            self.out.append(CancelTimer(name))

    def _end(self, reason: EndReason, by: str, status: int | None = None) -> SessionState:
        self.out.append(Ended(reason, by, status))
        return SessionState.ENDED

    def _bye(self, reason: str | None = None) -> None:
        if self.dialog is not None:
            with contextlib.suppress(DialogError):  # ended by a 408/481 already
                self._send(self.dialog.bye(reason))

    def _send_reinvite(self, sdp: bytes) -> None:
        assert self.dialog is not None  # noqa: S101 - only up sessions re-INVITE
        self.our_offer = sdp
        self._send(self.dialog.reinvite(sdp))

    def _next_offer(self) -> None:
        """Send the re-INVITE that waited for the one in flight (or the initial INVITE)."""
        if self.queued_offer is not None and self.dialog is not None \
                and not self.dialog.pending_reinvite:
            sdp, self.queued_offer = self.queued_offer, None
            self._send_reinvite(sdp)

    def _ack(self, response: SipResponse) -> bool:
        """ACK a 2xx to our INVITE; False when the 2xx makes no usable dialog."""
        try:
            if self.dialog is None:
                self.dialog = Dialog.from_response(self.invite, response,
                                                   local_via=self.local_via)
            self.out.append(SendAck(self.dialog.ack(response)))
        except DialogError:
            return False
        self.remote_tag = response.to.tag
        return True


Handler = Callable[[InviteSession, _Input], SessionState]


def _stay(s: InviteSession, data: _Input) -> SessionState:
    """absorb"""
    return s.state


# --- caller (UAC) -----------------------------------------------------------------------------

def _c_provisional(s: InviteSession, data: _Input) -> SessionState:
    """note the To tag; report the first 180/183, the first with SDP as EarlyMedia → Early (100 stays Calling)"""  # noqa: E501 (one table row)
    response = data.resp
    if response.to.tag:
        s.remote_tag = response.to.tag
    if response.status == 100:
        return s.state
    if response.status in (180, 183) and not s.ringing_reported:
        s.ringing_reported = True
        s.out.append(Ringing(response))
    if response.status in (180, 183) and response.body and not s.early_media_reported and \
            (response.content_type or "").lower() == "application/sdp":
        s.early_media_reported = True
        s.out.append(EarlyMedia(response))
    return SessionState.EARLY


def _c_answered(s: InviteSession, data: _Input) -> SessionState:
    """ACK the 2xx, stop no-answer, report Answered → Confirmed"""
    response = data.resp
    s._cancel(NO_ANSWER)
    if not s._ack(response):
        return s._end(EndReason.UNUSABLE_ANSWER, "remote", response.status)
    s.out.append(Answered(response))
    return SessionState.CONFIRMED


def _c_rejected(s: InviteSession, data: _Input) -> SessionState:
    """a 401/407 with credentials: re-send the INVITE answering it (once per nonce, again
    when stale); else report Ended(rejected, status) → Ended (the transaction ACKs it)"""
    response = data.resp
    if response.status in (401, 407) and s.credentials is not None:
        found = challenges(response)
        if found and (not s.credentials_sent or found[0].stale):
            username, password = s.credentials
            try:
                s.invite = authorize_request(s.invite, response, username=username,
                                             password=password)
            except AuthError:
                return s._end(EndReason.REJECTED, "remote", response.status)
            s.credentials_sent = True
            s._send(s.invite)
            return s.state
    return s._end(EndReason.REJECTED, "remote", response.status)


def _c_timeout(s: InviteSession, data: _Input) -> SessionState:
    """report Ended(timeout) → Ended"""
    return s._end(EndReason.TIMEOUT, "remote")


def _c_cancel(s: InviteSession, data: _Input) -> SessionState:
    """CANCEL now if a 1xx came, else when one comes → Cancelling"""
    s._cancel(NO_ANSWER)
    if s.state is SessionState.EARLY:
        s.cancel_sent = True
        s._send(build_cancel(s.invite))
    return SessionState.CANCELLING


def _c_no_answer(s: InviteSession, data: _Input) -> SessionState:
    """cancel as on hang-up; report Ended(no-answer) → Cancelling"""
    state = _c_cancel(s, data)
    s.out.append(Ended(EndReason.NO_ANSWER, "local"))
    return state


def _c_cancelling_1xx(s: InviteSession, data: _Input) -> SessionState:
    """send the CANCEL held back for this first provisional response"""
    response = data.resp
    if response.to.tag:
        s.remote_tag = response.to.tag
    if response.status > 100 and not s.cancel_sent:
        s.cancel_sent = True
        s._send(build_cancel(s.invite))
    return SessionState.CANCELLING


def _c_late_answer(s: InviteSession, data: _Input) -> SessionState:
    """the 2xx crossed our CANCEL: ACK it and BYE → Ended"""
    if s._ack(data.resp):
        s._bye('SIP;cause=487;text="Call cancelled"')
    return SessionState.ENDED


def _c_end_quietly(s: InviteSession, data: _Input) -> SessionState:
    """→ Ended (the shell already ended the call)"""
    return SessionState.ENDED


def _c_reack(s: InviteSession, data: _Input) -> SessionState:
    """ACK the retransmitted 2xx again (a first one after we gave up: ACK and BYE)"""
    if s.dialog is None:
        if s._ack(data.resp):
            s._bye()
    else:
        with contextlib.suppress(DialogError):
            s.out.append(SendAck(s.dialog.ack(data.resp)))
    return s.state


# --- both roles, once up ------------------------------------------------------------------

def _bye(s: InviteSession, data: _Input) -> SessionState:
    """send BYE → Ended"""
    s._bye(data.reason)
    return SessionState.ENDED


def _remote_bye(s: InviteSession, data: _Input) -> SessionState:
    """200 to the BYE; report Ended(bye) → Ended"""
    s._respond(data.req, 200)
    return s._end(EndReason.BYE, "remote")


def _reinvite(s: InviteSession, data: _Input) -> SessionState:
    """send the re-INVITE (queue it while an INVITE is in flight)"""
    if s.state is SessionState.ANSWERED or (s.dialog is not None and s.dialog.pending_reinvite)\
            or GLARE in s.timers:
        s.queued_offer = data.body
    else:
        s._send_reinvite(data.body)
    return s.state


def _reinvite_final(s: InviteSession, data: _Input) -> SessionState:
    """2xx: ACK; 491: retry after the §14.1 wait; report ReinviteDone; send a queued offer"""
    response = data.response
    if s.dialog is not None:
        if response is None:
            s.dialog.pending_reinvite = False
        else:
            s.dialog.receive_response(response)
    if response is not None and response.is_success and s.dialog is not None:
        with contextlib.suppress(DialogError):
            s.out.append(SendAck(s.dialog.ack(response)))
    if response is not None and response.status == 491 and s.our_offer is not None \
            and s.state is not SessionState.ENDED:
        wait = (2.1 + 1.9 * s.rand()) if s.role is Role.CALLER else 2.0 * s.rand()
        s._start(GLARE, round(wait, 2))
        return s.state
    if s.state is not SessionState.ENDED:
        s.out.append(ReinviteDone(response))
        s._next_offer()
    return s.state


def _glare_retry(s: InviteSession, data: _Input) -> SessionState:
    """re-send our re-INVITE (a newer queued offer wins)"""
    offer = s.queued_offer or s.our_offer
    s.queued_offer = None
    if offer is not None and s.dialog is not None and not s.dialog.pending_reinvite:
        s._send_reinvite(offer)
    elif offer is not None:
        s.queued_offer = offer
    return s.state


def _offered(s: InviteSession, data: _Input) -> SessionState:
    """report ReinviteOffered (the shell answers it)"""
    s.offer = data.req
    s.out.append(ReinviteOffered(data.req))
    return s.state


def _answer_offer(s: InviteSession, data: _Input) -> SessionState:
    """answer the pending re-INVITE with the shell's status and SDP"""
    if s.offer is None:
        raise SessionError("no re-INVITE is waiting for an answer")
    request, s.offer = s.offer, None
    s._respond(request, data.status, body=data.body, reason=data.reason, headers=data.headers)
    return s.state


def _report(s: InviteSession, data: _Input) -> SessionState:
    """report RequestReceived (the shell answers it)"""
    s.out.append(RequestReceived(data.req))
    return s.state


def _gone(s: InviteSession, data: _Input) -> SessionState:
    """481: the call has ended"""
    s._respond(data.req, 481)
    return s.state


def _crossing_bye(s: InviteSession, data: _Input) -> SessionState:
    """200 to a BYE crossing ours"""
    s._respond(data.req, 200)
    return s.state


def _no_ack(s: InviteSession, data: _Input) -> SessionState:
    """send BYE; report Ended(no-ack) → Ended"""
    s._bye()
    return s._end(EndReason.NO_ACK, "local")


CALLER: dict[tuple[SessionState, SessionEvent], Handler] = {
    (SessionState.CALLING, SessionEvent.RECV_1XX): _c_provisional,
    (SessionState.CALLING, SessionEvent.RECV_2XX): _c_answered,
    (SessionState.CALLING, SessionEvent.RECV_FAILURE): _c_rejected,
    (SessionState.CALLING, SessionEvent.INVITE_FAILED): _c_timeout,
    (SessionState.CALLING, SessionEvent.HANGUP): _c_cancel,
    (SessionState.CALLING, SessionEvent.TIMER_NO_ANSWER): _c_no_answer,
    (SessionState.CALLING, SessionEvent.RECV_REQUEST): _report,
    (SessionState.EARLY, SessionEvent.RECV_1XX): _c_provisional,
    (SessionState.EARLY, SessionEvent.RECV_2XX): _c_answered,
    (SessionState.EARLY, SessionEvent.RECV_FAILURE): _c_rejected,
    (SessionState.EARLY, SessionEvent.INVITE_FAILED): _c_timeout,
    (SessionState.EARLY, SessionEvent.HANGUP): _c_cancel,
    (SessionState.EARLY, SessionEvent.TIMER_NO_ANSWER): _c_no_answer,
    (SessionState.EARLY, SessionEvent.RECV_REQUEST): _report,
    (SessionState.CANCELLING, SessionEvent.RECV_1XX): _c_cancelling_1xx,
    (SessionState.CANCELLING, SessionEvent.RECV_2XX): _c_late_answer,
    (SessionState.CANCELLING, SessionEvent.RECV_FAILURE): _c_end_quietly,
    (SessionState.CANCELLING, SessionEvent.INVITE_FAILED): _c_end_quietly,
    (SessionState.CANCELLING, SessionEvent.HANGUP): _stay,
    (SessionState.CANCELLING, SessionEvent.RECV_REQUEST): _gone,
    (SessionState.CONFIRMED, SessionEvent.RECV_2XX): _c_reack,
    (SessionState.CONFIRMED, SessionEvent.RECV_1XX): _stay,
    (SessionState.CONFIRMED, SessionEvent.RECV_FAILURE): _stay,
    (SessionState.CONFIRMED, SessionEvent.HANGUP): _bye,
    (SessionState.CONFIRMED, SessionEvent.REINVITE): _reinvite,
    (SessionState.CONFIRMED, SessionEvent.RECV_REINVITE_FINAL): _reinvite_final,
    (SessionState.CONFIRMED, SessionEvent.TIMER_GLARE): _glare_retry,
    (SessionState.CONFIRMED, SessionEvent.RECV_REINVITE): _offered,
    (SessionState.CONFIRMED, SessionEvent.ANSWER_REINVITE): _answer_offer,
    (SessionState.CONFIRMED, SessionEvent.RECV_ACK): _stay,
    (SessionState.CONFIRMED, SessionEvent.RECV_BYE): _remote_bye,
    (SessionState.CONFIRMED, SessionEvent.RECV_REQUEST): _report,
    (SessionState.CONFIRMED, SessionEvent.NO_ACK): _no_ack,
    (SessionState.ENDED, SessionEvent.RECV_1XX): _stay,
    (SessionState.ENDED, SessionEvent.NO_ACK): _stay,
    (SessionState.ENDED, SessionEvent.RECV_2XX): _c_reack,
    (SessionState.ENDED, SessionEvent.RECV_FAILURE): _stay,
    (SessionState.ENDED, SessionEvent.INVITE_FAILED): _stay,
    (SessionState.ENDED, SessionEvent.HANGUP): _stay,
    (SessionState.ENDED, SessionEvent.RECV_REINVITE_FINAL): _reinvite_final,
    (SessionState.ENDED, SessionEvent.RECV_ACK): _stay,
    (SessionState.ENDED, SessionEvent.RECV_BYE): _crossing_bye,
    (SessionState.ENDED, SessionEvent.RECV_REINVITE): _gone,
    (SessionState.ENDED, SessionEvent.RECV_REQUEST): _gone,
    (SessionState.ENDED, SessionEvent.RECV_CANCEL): _stay,
}


# --- callee (UAS) ----------------------------------------------------------------------------

def _e_ring(s: InviteSession, data: _Input) -> SessionState:
    """send 180 Ringing → Early"""
    s._respond(s.invite, 180)
    return SessionState.EARLY


def _e_answer(s: InviteSession, data: _Input) -> SessionState:
    """send 200 with the SDP answer (retransmitted by the transaction until the ACK)
    → Answered"""
    s._respond(s.invite, 200, body=data.body)
    if s.dialog is not None:
        s.dialog.confirm()
    return SessionState.ANSWERED


def _e_reject(s: InviteSession, data: _Input) -> SessionState:
    """send the final failure status → Ended"""
    s._respond(s.invite, data.status, reason=None, headers=data.headers)
    return SessionState.ENDED


def _e_cancelled(s: InviteSession, data: _Input) -> SessionState:
    """487 to the INVITE; report Ended(cancelled) → Ended"""
    s._respond(s.invite, 487)
    return s._end(EndReason.CANCELLED, "remote")


def _e_early_bye(s: InviteSession, data: _Input) -> SessionState:
    """200 to the BYE, 487 to the INVITE; report Ended(bye) → Ended"""
    s._respond(data.req, 200)
    s._respond(s.invite, 487)
    return s._end(EndReason.BYE, "remote")


def _e_early_reinvite(s: InviteSession, data: _Input) -> SessionState:
    """500 with Retry-After: the first INVITE is not answered yet (§14.2)"""
    s._respond(data.req, 500, headers=(("Retry-After", "1"),))
    return s.state


def _e_acked(s: InviteSession, data: _Input) -> SessionState:
    """the ACK came; send a re-INVITE that waited for it → Confirmed"""
    s.state = SessionState.CONFIRMED
    s._next_offer()
    return SessionState.CONFIRMED


def _e_close_later(s: InviteSession, data: _Input) -> SessionState:
    """hold the BYE until the ACK (§15) → Closing"""
    s.bye_reason = data.reason
    s.queued_offer = None
    s.offer = None
    return SessionState.CLOSING


def _e_close_now(s: InviteSession, data: _Input) -> SessionState:
    """send the held BYE → Ended"""
    s._bye(s.bye_reason)
    return SessionState.ENDED


def _e_closing_bye(s: InviteSession, data: _Input) -> SessionState:
    """200 to the BYE → Ended"""
    s._respond(data.req, 200)
    return SessionState.ENDED


CALLEE: dict[tuple[SessionState, SessionEvent], Handler] = {
    (SessionState.OFFERED, SessionEvent.RING): _e_ring,
    (SessionState.OFFERED, SessionEvent.ANSWER): _e_answer,
    (SessionState.OFFERED, SessionEvent.HANGUP): _e_reject,
    (SessionState.OFFERED, SessionEvent.RECV_CANCEL): _e_cancelled,
    (SessionState.OFFERED, SessionEvent.RECV_BYE): _e_early_bye,
    (SessionState.OFFERED, SessionEvent.RECV_REINVITE): _e_early_reinvite,
    (SessionState.OFFERED, SessionEvent.RECV_REQUEST): _report,
    (SessionState.EARLY, SessionEvent.RING): _stay,
    (SessionState.EARLY, SessionEvent.ANSWER): _e_answer,
    (SessionState.EARLY, SessionEvent.HANGUP): _e_reject,
    (SessionState.EARLY, SessionEvent.RECV_CANCEL): _e_cancelled,
    (SessionState.EARLY, SessionEvent.RECV_BYE): _e_early_bye,
    (SessionState.EARLY, SessionEvent.RECV_REINVITE): _e_early_reinvite,
    (SessionState.EARLY, SessionEvent.RECV_REQUEST): _report,
    (SessionState.ANSWERED, SessionEvent.RECV_ACK): _e_acked,
    (SessionState.ANSWERED, SessionEvent.NO_ACK): _no_ack,
    (SessionState.ANSWERED, SessionEvent.HANGUP): _e_close_later,
    (SessionState.ANSWERED, SessionEvent.RECV_BYE): _remote_bye,
    (SessionState.ANSWERED, SessionEvent.REINVITE): _reinvite,
    (SessionState.ANSWERED, SessionEvent.RECV_REINVITE): _offered,
    (SessionState.ANSWERED, SessionEvent.ANSWER_REINVITE): _answer_offer,
    (SessionState.ANSWERED, SessionEvent.RECV_REQUEST): _report,
    (SessionState.ANSWERED, SessionEvent.RECV_CANCEL): _stay,
    (SessionState.CLOSING, SessionEvent.RECV_ACK): _e_close_now,
    (SessionState.CLOSING, SessionEvent.NO_ACK): _e_close_now,
    (SessionState.CLOSING, SessionEvent.RECV_BYE): _e_closing_bye,
    (SessionState.CLOSING, SessionEvent.HANGUP): _stay,
    (SessionState.CLOSING, SessionEvent.RECV_CANCEL): _stay,
    (SessionState.CLOSING, SessionEvent.RECV_REINVITE): _gone,
    (SessionState.CLOSING, SessionEvent.RECV_REQUEST): _gone,
    (SessionState.CONFIRMED, SessionEvent.HANGUP): _bye,
    (SessionState.CONFIRMED, SessionEvent.REINVITE): _reinvite,
    (SessionState.CONFIRMED, SessionEvent.RECV_REINVITE_FINAL): _reinvite_final,
    (SessionState.CONFIRMED, SessionEvent.TIMER_GLARE): _glare_retry,
    (SessionState.CONFIRMED, SessionEvent.RECV_REINVITE): _offered,
    (SessionState.CONFIRMED, SessionEvent.ANSWER_REINVITE): _answer_offer,
    (SessionState.CONFIRMED, SessionEvent.RECV_ACK): _stay,
    (SessionState.CONFIRMED, SessionEvent.RECV_BYE): _remote_bye,
    (SessionState.CONFIRMED, SessionEvent.RECV_REQUEST): _report,
    (SessionState.CONFIRMED, SessionEvent.RECV_CANCEL): _stay,
    (SessionState.CONFIRMED, SessionEvent.NO_ACK): _no_ack,
    (SessionState.ENDED, SessionEvent.HANGUP): _stay,
    (SessionState.ENDED, SessionEvent.RECV_ACK): _stay,
    (SessionState.ENDED, SessionEvent.RECV_CANCEL): _stay,
    (SessionState.ENDED, SessionEvent.NO_ACK): _stay,
    (SessionState.ENDED, SessionEvent.RECV_REINVITE_FINAL): _reinvite_final,
    (SessionState.ENDED, SessionEvent.RECV_BYE): _crossing_bye,
    (SessionState.ENDED, SessionEvent.RECV_REINVITE): _gone,
    (SessionState.ENDED, SessionEvent.RECV_REQUEST): _gone,
}

TABLES: dict[Role, dict[tuple[SessionState, SessionEvent], Handler]] = {
    Role.CALLER: CALLER, Role.CALLEE: CALLEE}


def tables_markdown() -> str:
    """The caller and callee tables as Markdown (docs/sip.md embeds this text verbatim)."""
    out: list[str] = []
    for role, table in TABLES.items():
        out += [f"#### INVITE session, {role.value}", "", "| state | event | action |",
                "|---|---|---|"]
        for (state, event), handler in table.items():
            action = " ".join((handler.__doc__ or "").split())
            out.append(f"| {state.value} | {event.value} | {action} |")
        out.append("")
    return "\n".join(out)


__all__ = ["CALLEE", "CALLER", "TABLES", "Answered", "CancelTimer", "Command", "EndReason",
           "Ended", "InviteSession", "ReinviteDone", "ReinviteOffered", "RequestReceived",
           "Ringing", "Role", "SendAck", "SendRequest", "SendResponse", "SessionEvent",
           "SessionState", "StartTimer", "tables_markdown"]
