"""SIP dialogs (RFC 3261 §12-15): creation, in-dialog requests, matching, termination.

A :class:`Dialog` holds what RFC 3261 §12 calls the dialog state: Call-ID, local and remote
tags, local and remote URIs, CSeq numbers, the remote target (from Contact) and the route
set (from Record-Route). Build it with :meth:`Dialog.from_response` on the caller's side (a
1xx with a To tag makes an early dialog, a 2xx a confirmed one) or :meth:`Dialog.from_request`
on the callee's side. It builds in-dialog requests (:meth:`~Dialog.ack` for a 2xx,
:meth:`~Dialog.bye`, :meth:`~Dialog.reinvite` for hold and resume, :meth:`~Dialog.info`,
:meth:`~Dialog.refer`) with the route set applied (loose and strict routing) and checks
requests that arrive in it (:meth:`~Dialog.receive_request`: CSeq order, target refresh,
re-INVITE glare). :class:`DialogSet` finds the dialog of a request or response; a request
for no known dialog gets :func:`unknown_dialog_response` (481).

CANCEL racing a 200: if our INVITE is answered with 200 although we sent CANCEL (the answer
crossed the CANCEL, which then gets 200 or 481), the 200 wins: a dialog exists and must be
acknowledged and ended. :func:`late_answer_requests` gives the ACK and the BYE to send. On
the callee side the transaction layer answers such a CANCEL with 200 and leaves the answered
call up (no :class:`~parley.sip.transaction.CancelRequested` is reported).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from parley.sip.errors import DialogError, SipParseError
from parley.sip.headers import Headers, NameAddr, Via
from parley.sip.message import SipRequest, SipResponse, build_response, new_branch
from parley.sip.uri import SipUri

ALLOW = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "REFER", "NOTIFY", "REGISTER")
ACCEPT = ("application/sdp", "application/dtmf-relay")
SUPPORTED = ("replaces",)
TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})


class DialogState(Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class DialogId:
    call_id: str
    local_tag: str
    remote_tag: str


@dataclass
class Dialog:
    """One dialog's state; in-dialog requests come from its methods."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr
    remote_uri: NameAddr
    remote_target: SipUri
    local_contact: NameAddr
    local_via: Via
    route_set: tuple[NameAddr, ...] = ()
    local_seq: int = 0
    remote_seq: int | None = None
    is_caller: bool = True
    state: DialogState = DialogState.EARLY
    invite_seq: int = 0
    pending_reinvite: bool = False
    extra_headers: tuple[tuple[str, str], ...] = field(default=())
    _acks: dict[int, SipRequest] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    # creation -------------------------------------------------------------------------

    @classmethod
    def from_response(cls, invite: SipRequest, response: SipResponse, *,
                      local_via: Via | None = None) -> Dialog:
        """The caller's dialog from a 1xx (with To tag) or 2xx to ``invite`` (§12.1.2)."""
        remote_tag = response.to.tag
        if remote_tag is None or not 100 < response.status < 300:
            raise DialogError(f"a {response.status} without To tag creates no dialog")
        local_tag = invite.from_.tag
        if local_tag is None:
            raise DialogError("our INVITE has no From tag")
        contact = response.contact
        if contact is None and response.is_success:
            raise DialogError("Contact: missing in the 2xx to INVITE; no remote target")
        contact_from = invite.headers.get("Contact")
        return cls(
            call_id=invite.call_id, local_tag=local_tag, remote_tag=remote_tag,
            local_uri=invite.from_, remote_uri=response.to,
            remote_target=contact.uri if contact else invite.uri,
            local_contact=NameAddr.parse(contact_from, "Contact") if contact_from
            else invite.from_,
            local_via=_template(local_via or invite.via),
            route_set=tuple(reversed(response.record_routes)),
            local_seq=invite.cseq.seq, is_caller=True, invite_seq=invite.cseq.seq,
            state=DialogState.CONFIRMED if response.is_success else DialogState.EARLY)

    @classmethod
    def from_request(cls, invite: SipRequest, *, local_tag: str, local_contact: NameAddr,
                     local_via: Via, local_seq: int = 0) -> Dialog:
        """The callee's dialog for ``invite`` (§12.1.1); send responses with ``local_tag``.

        It starts EARLY; call :meth:`confirm` once the 2xx is sent.
        """
        remote_tag = invite.from_.tag
        if remote_tag is None:
            raise DialogError("From: tag missing in the INVITE")
        contact = invite.contact
        if contact is None:
            raise DialogError("Contact: missing in the INVITE; no remote target")
        return cls(
            call_id=invite.call_id, local_tag=local_tag, remote_tag=remote_tag,
            local_uri=invite.to.with_tag(local_tag), remote_uri=invite.from_,
            remote_target=contact.uri, local_contact=local_contact,
            local_via=_template(local_via), route_set=tuple(invite.record_routes),
            local_seq=local_seq, remote_seq=invite.cseq.seq, is_caller=False,
            invite_seq=invite.cseq.seq)

    def state_of(self) -> dict[str, object]:
        """A confirmed dialog's state as JSON values: what another node needs to go on with
        it (:meth:`restored`; a hot standby carrying a call over, docs/deployment.md)."""
        return {"call_id": self.call_id, "local_tag": self.local_tag,
                "remote_tag": self.remote_tag, "local_uri": str(self.local_uri),
                "remote_uri": str(self.remote_uri), "remote_target": str(self.remote_target),
                "local_contact": str(self.local_contact),
                "route_set": [str(route) for route in self.route_set],
                "local_seq": self.local_seq, "remote_seq": self.remote_seq,
                "is_caller": self.is_caller, "invite_seq": self.invite_seq}

    @classmethod
    def restored(cls, state: Mapping[str, Any], *, local_via: Via, seq_gap: int = 0
                 ) -> Dialog:
        """The confirmed dialog :meth:`state_of` gave, our requests stamped with
        ``local_via``. ``seq_gap`` is added to our CSeq: requests the writer sent after its
        last copy must not be outnumbered (§12.2.2 allows gaps). Raises :class:`DialogError`
        for a state that is not one."""
        try:
            remote_seq = state["remote_seq"]
            return cls(
                call_id=str(state["call_id"]), local_tag=str(state["local_tag"]),
                remote_tag=str(state["remote_tag"]),
                local_uri=NameAddr.parse(str(state["local_uri"]), "From"),
                remote_uri=NameAddr.parse(str(state["remote_uri"]), "To"),
                remote_target=SipUri.parse(str(state["remote_target"])),
                local_contact=NameAddr.parse(str(state["local_contact"]), "Contact"),
                local_via=_template(local_via),
                route_set=tuple(NameAddr.parse(str(route), "Route")
                                for route in state["route_set"]),
                local_seq=int(state["local_seq"]) + seq_gap,
                remote_seq=None if remote_seq is None else int(remote_seq),
                is_caller=bool(state["is_caller"]), state=DialogState.CONFIRMED,
                invite_seq=int(state["invite_seq"]))
        except (KeyError, TypeError, ValueError, SipParseError) as exc:
            raise DialogError(f"not a dialog's state: {exc}") from exc

    def confirm(self, response: SipResponse | None = None) -> None:
        """Early → confirmed (a 2xx sent or received). A 2xx received by the caller also
        refreshes the route set and the remote target (§12.1.2)."""
        if self.state is DialogState.TERMINATED:
            raise DialogError("the dialog has ended")
        self.state = DialogState.CONFIRMED
        if response is not None and self.is_caller:
            self.route_set = tuple(reversed(response.record_routes))
            if response.contact is not None:
                self.remote_target = response.contact.uri

    # building requests ----------------------------------------------------------------

    def create_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        cseq: int | None = None,
    ) -> SipRequest:
        """An in-dialog request (§12.2.1.1). CSeq increases except for ACK and CANCEL."""
        if self.state is DialogState.TERMINATED:
            raise DialogError(f"cannot send {method}: the dialog has ended")
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        uri, routes = self._request_uri_and_routes()
        via = self.local_via.with_param("branch", new_branch())
        items: list[tuple[str, str]] = [("Via", str(via))]
        items += [("Route", str(r)) for r in routes]
        items += [("Max-Forwards", "70"), ("From", str(self.local_uri.with_tag(self.local_tag))),
                  ("To", str(self.remote_uri.with_tag(self.remote_tag))),
                  ("Call-ID", self.call_id), ("CSeq", f"{cseq} {method}")]
        if method in TARGET_REFRESH or method in ("REFER", "NOTIFY", "SUBSCRIBE"):
            items.append(("Contact", str(self.local_contact)))
        return SipRequest(method, uri, Headers.built(
            items, (*self.extra_headers, *headers), len(body), content_type if body else None),
            body)

    def _request_uri_and_routes(self) -> tuple[SipUri, list[NameAddr]]:
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0]
        if first.uri.is_loose_router:
            return self.remote_target, list(self.route_set)
        # Strict router (RFC 2543): it goes in the Request-URI, the target last in Route.
        uri = replace(first.uri, params=tuple(
            (k, v) for k, v in first.uri.params if k.lower() not in ("method", "maddr", "ttl",
                                                                    "transport", "lr")),
            headers=())
        return uri, [*self.route_set[1:], NameAddr(self.remote_target)]

    @property
    def next_hop(self) -> SipUri:
        """Where in-dialog requests are sent: the first route, else the remote target."""
        return self.route_set[0].uri if self.route_set else self.remote_target

    def ack(self, response: SipResponse, *, body: bytes = b"",
            content_type: str | None = None) -> SipRequest:
        """The ACK for a 2xx to our INVITE (§13.2.2.4): CSeq number of that INVITE.

        A retransmitted 2xx gets the very same ACK again, as §13.2.2.4 asks."""
        if not response.is_success or response.cseq.method != "INVITE":
            raise DialogError("only a 2xx to INVITE is acknowledged by the dialog")
        seq = response.cseq.seq
        if seq in self._acks:
            return self._acks[seq]
        if self.state is DialogState.EARLY:
            self.confirm(response)
        ack = self.create_request("ACK", cseq=seq, body=body, content_type=content_type)
        self._acks = {seq: ack}  # only the latest INVITE's ACK can still be needed
        return ack

    def bye(self, reason: str | None = None) -> SipRequest:
        """BYE, optionally with a Reason header (RFC 3326, e.g. ``Q.850;cause=16``)."""
        headers = (("Reason", reason),) if reason else ()
        request = self.create_request("BYE", headers=headers)
        self.state = DialogState.TERMINATED
        return request

    def reinvite(self, sdp: bytes) -> SipRequest:
        """A re-INVITE with a new offer (hold: sendonly/inactive; resume: sendrecv)."""
        if self.state is not DialogState.CONFIRMED:
            raise DialogError("re-INVITE needs a confirmed dialog")
        if self.pending_reinvite:
            raise DialogError("a re-INVITE is already pending in this dialog")
        request = self.create_request("INVITE", body=sdp, content_type="application/sdp")
        self.invite_seq = request.cseq.seq
        self.pending_reinvite = True
        return request

    def info(self, body: bytes, content_type: str = "application/dtmf-relay") -> SipRequest:
        return self.create_request("INFO", body=body, content_type=content_type)

    def refer(self, target: SipUri, *, referred_by: NameAddr | None = None) -> SipRequest:
        headers = [("Refer-To", f"<{target}>")]
        if referred_by is not None:
            headers.append(("Referred-By", str(referred_by)))
        return self.create_request("REFER", headers=tuple(headers))

    # receiving ------------------------------------------------------------------------

    def receive_request(self, request: SipRequest) -> SipResponse | None:
        """Check a request that matched this dialog (§12.2.2).

        Returns the error response to send (500 for an out-of-order CSeq, 491 for a
        re-INVITE crossing ours) or None when the TU should handle the request. A BYE ends
        the dialog; a target-refresh request updates the remote target.
        """
        if request.method in ("ACK", "CANCEL"):
            return None
        seq = request.cseq.seq
        if self.remote_seq is not None and seq <= self.remote_seq:
            return build_response(request, 500, "CSeq Out of Order",
                                  headers=(("Retry-After", "1"),))
        if request.method == "INVITE" and self.pending_reinvite:
            return build_response(request, 491)
        self.remote_seq = seq
        if request.method in TARGET_REFRESH and request.contact is not None:
            self.remote_target = request.contact.uri
        if request.method == "BYE":
            self.state = DialogState.TERMINATED
        return None

    def receive_response(self, response: SipResponse) -> None:
        """A response to one of our in-dialog requests (§12.2.1.2)."""
        if response.status in (408, 481):
            self.state = DialogState.TERMINATED
            return
        if response.cseq.method == "INVITE" and response.status >= 200:
            self.pending_reinvite = False
            if response.is_success and response.contact is not None:
                self.remote_target = response.contact.uri


def _template(via: Via) -> Via:
    """A Via to stamp on our requests: the given one without branch, received, rport value."""
    params = tuple((k, v) for k, v in via.params
                   if k.lower() not in ("branch", "received", "rport"))
    return replace(via, params=(*params, ("rport", None)))


class DialogSet:
    """Every dialog of one endpoint, found by Call-ID and tags."""

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def add(self, dialog: Dialog) -> None:
        self._dialogs[dialog.id] = dialog

    def remove(self, dialog: Dialog) -> None:
        self._dialogs.pop(dialog.id, None)

    def get(self, dialog_id: DialogId) -> Dialog | None:
        return self._dialogs.get(dialog_id)

    def find_for_request(self, request: SipRequest) -> Dialog | None:
        """The dialog an incoming request belongs to: To tag ours, From tag theirs."""
        local = request.to.tag
        remote = request.from_.tag
        if local is None or remote is None:
            return None
        return self._dialogs.get(DialogId(request.call_id, local, remote))

    def find_for_response(self, response: SipResponse) -> Dialog | None:
        """The dialog a response to our request belongs to: From tag ours, To tag theirs."""
        local = response.from_.tag
        remote = response.to.tag
        if local is None or remote is None:
            return None
        return self._dialogs.get(DialogId(response.call_id, local, remote))

    def prune(self) -> list[Dialog]:
        """Remove and return terminated dialogs."""
        ended = [d for d in self._dialogs.values() if d.state is DialogState.TERMINATED]
        for dialog in ended:
            del self._dialogs[dialog.id]
        return ended


def is_in_dialog(request: SipRequest) -> bool:
    """A request with a To tag claims to belong to a dialog (§12.2.2)."""
    return request.to.tag is not None


def unknown_dialog_response(request: SipRequest) -> SipResponse:
    """481 for an in-dialog request that matches no dialog (§12.2.2)."""
    return build_response(request, 481)


def options_response(request: SipRequest, to_tag: str, *,
                     allow: tuple[str, ...] = ALLOW, accept: tuple[str, ...] = ACCEPT,
                     supported: tuple[str, ...] = SUPPORTED) -> SipResponse:
    """200 to OPTIONS with what we understand (§11.2)."""
    return build_response(request, 200, to_tag=to_tag, headers=(
        ("Allow", ", ".join(allow)), ("Accept", ", ".join(accept)),
        ("Supported", ", ".join(supported)), ("Accept-Language", "en")))


def late_answer_requests(invite: SipRequest, response: SipResponse, *,
                         reason: str = "SIP;cause=487;text=\"Call cancelled\""
                         ) -> tuple[Dialog, SipRequest, SipRequest]:
    """A 2xx that crossed our CANCEL: the dialog, its ACK and a BYE, to end the call."""
    dialog = Dialog.from_response(invite, response)
    ack = dialog.ack(response)
    bye = dialog.bye(reason)
    return dialog, ack, bye
