"""Call transfer by SIP REFER (RFC 3515) inside an established call, with Replaces (RFC 3891).

A phone that transfers (blind: "transfer to 601"; attended: "connect the caller to the
operator I am talking to") sends REFER in its call with Parley. The engine hands it here:

- a malformed REFER (no Refer-To, two of them, a URI that does not parse, a Replaces without
  both tags) gets ``400 Bad Request`` with a ``Warning`` naming the header at fault;
- with no handler given (``Telephony.handle_refers``) Parley answers ``603 Decline``: the
  node understands REFER but transfers are not enabled on it (501 would claim the method is
  unknown, which ``Allow`` contradicts);
- a REFER on a call that is not answered yet gets ``403 Forbidden``;
- a REFER from a leg that is not one of the site's phones (:func:`may_transfer`: an outside
  caller, through a trunk or as a guest, or a customer Parley dialled) gets ``403
  Forbidden``: only the operator's phone, or a site user calling in, may transfer a call
  (an outside caller could otherwise send the call, at the site's cost, anywhere);
- otherwise ``202 Accepted``, a NOTIFY with ``SIP/2.0 100 Trying`` at once, then the handler
  runs as a task of the engine, and a final NOTIFY reports ``SIP/2.0 200 OK`` when it returns
  True, ``SIP/2.0 503 Service Unavailable`` when it returns False or raises. Phones hang up
  their leg after the 200 (baresip does at once). With ``Refer-Sub: false`` (RFC 4488) no
  NOTIFY is sent and the 202 says so.

The NOTIFYs belong to the REFER's implicit subscription: ``Event: refer;id=<REFER CSeq>``,
``Subscription-State: active`` then ``terminated;reason=noresource``, a
``message/sipfrag;version=2.0`` body; they go through the channel's dialog (its route set,
next CSeq), and their responses are absorbed by the transaction layer.

:func:`parse_refer` and :meth:`Replaces.parse` are pure and raise :class:`SipParseError`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from parley.events import Direction
from parley.sip.errors import SipParseError
from parley.sip.headers import NameAddr, split_list
from parley.sip.message import SipRequest
from parley.telephony.policy import CallerClass

if TYPE_CHECKING:
    from parley.net.transport import Peer
    from parley.telephony.channel import Channel
    from parley.telephony.engine import SipEngine

SIPFRAG = "message/sipfrag;version=2.0"
SUBSCRIPTION_EXPIRES = 60  # seconds the implicit subscription is said to last while active


@dataclass(frozen=True)
class Replaces:
    """The dialog an attended transfer replaces (RFC 3891 §6.1), as the phone wrote it.

    The Replaces header is written for the party that will receive it: ``to_tag`` is that
    party's local tag, ``from_tag`` its remote tag. Parley is that party for the phone's
    calls through it, so look the dialog up with
    ``telephony.find_dialog(call_id, local_tag=to_tag, remote_tag=from_tag)``.
    """

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False

    @classmethod
    def parse(cls, text: str) -> Replaces:
        """``callid;to-tag=a;from-tag=b[;early-only]`` (already URL-decoded)."""
        call_id, *params = (part.strip() for part in text.split(";"))
        if not call_id:
            raise SipParseError("Replaces: no Call-ID", header="Replaces")
        values: dict[str, str | None] = {}
        for param in params:
            if not param:
                continue
            name, eq, value = param.partition("=")
            values[name.strip().lower()] = value.strip() if eq else None
        to_tag, from_tag = values.get("to-tag"), values.get("from-tag")
        if not to_tag or not from_tag:
            raise SipParseError("Replaces: both to-tag and from-tag are required",
                                header="Replaces")
        return cls(call_id, to_tag, from_tag, "early-only" in values)


@dataclass(frozen=True)
class ReferRequest:
    """What a phone asked for with REFER.

    ``target``: the user part of the Refer-To URI (``"601"``, ``"1002"``); ``uri``: that URI
    without its headers (``sip:601@pbx``); ``replaces``: the dialog to replace (attended
    transfer), from the URI's ``?Replaces=`` header; ``referred_by``: the Referred-By URI,
    else the REFER's From URI (the transferring phone).
    """

    target: str
    uri: str
    replaces: Replaces | None = None
    referred_by: str = ""


ReferHandler = Callable[["Channel", ReferRequest], Awaitable[bool]]


def parse_refer(request: SipRequest) -> ReferRequest:
    """The :class:`ReferRequest` of a REFER; :class:`SipParseError` names what is wrong."""
    lines = request.headers.lines("Refer-To")
    if not lines:
        raise SipParseError("Refer-To: missing", header="Refer-To")
    if len(lines) > 1 or len(split_list(lines[0])) != 1:
        raise SipParseError("Refer-To: more than one target", header="Refer-To")
    refer_to = NameAddr.parse(lines[0], "Refer-To")
    uri = refer_to.uri
    if uri.scheme not in ("sip", "sips", "tel"):
        raise SipParseError(f"Refer-To: {uri.scheme}: URIs cannot be called",
                            header="Refer-To")
    if not uri.user:
        raise SipParseError("Refer-To: the URI has no user part (no number to call)",
                            header="Refer-To")
    replaces: Replaces | None = None
    for name, value in uri.headers:
        if name.lower() == "replaces":
            try:
                replaces = Replaces.parse(value)
            except SipParseError as exc:
                raise SipParseError(f"Refer-To: {exc.reason}", header="Refer-To") from None
    referred_by = str(request.from_.uri)
    header = request.header("Referred-By")
    if header:
        try:
            referred_by = str(NameAddr.parse(header, "Referred-By").uri)
        except SipParseError as exc:
            raise SipParseError(exc.reason, header="Referred-By") from None
    return ReferRequest(target=uri.user, uri=str(replace(uri, headers=())),
                        replaces=replaces, referred_by=referred_by)


def sipfrag(status: int, reason: str) -> bytes:
    """A ``message/sipfrag`` body holding just a status line (RFC 3420)."""
    return f"SIP/2.0 {status} {reason}\r\n".encode()


def may_transfer(engine: SipEngine, channel: Channel) -> bool:
    """Whether ``channel``'s far end may transfer the call: an inbound leg from a user who
    authenticated with a SIP password, or a leg Parley placed to one of its users (an
    operator's phone); never an outside caller or a customer dialled out, and nothing that
    came or went through a carrier's trunk."""
    if channel.trunk:
        return False
    if channel.direction is Direction.INBOUND:
        return channel.variables.get("caller_class") == CallerClass.USER.value
    return bool(channel.called) and engine.users.lookup(channel.called) is not None


def handle_refer(engine: SipEngine, channel: Channel, request: SipRequest, peer: Peer) -> None:
    """Answer an in-dialog REFER and run the transfer handler (see the module docstring)."""
    try:
        refer = parse_refer(request)
    except SipParseError as exc:
        channel.log.info("bad_refer", header=exc.header, error=exc.reason)
        engine.respond(request, peer, 400, f"Bad Request ({exc.reason})"[:120],
                       headers=(("Warning", f'399 parley "{_quoted(exc.reason)}"'),))
        return
    handler = engine.on_refer
    if handler is None:
        engine.respond(request, peer, 603, "Decline (call transfer is not enabled)")
        return
    if not channel.is_up:
        engine.respond(request, peer, 403, "Forbidden (the call is not answered)")
        return
    if not may_transfer(engine, channel):
        channel.log.warning("refer_refused", target=refer.target, peer=str(peer),
                            reason="not a phone of this site")
        if engine.guard is not None:
            engine.guard.refused_call(peer.host, None, f"REFER to {refer.target}")
        engine.respond(request, peer, 403, "Forbidden")
        return
    subscribe = (request.header("Refer-Sub") or "true").strip().lower() != "false"
    engine.respond(request, peer, 202, contact=True,
                   headers=() if subscribe else (("Refer-Sub", "false"),))
    channel.log.info("refer", target=refer.target, replaces=refer.replaces is not None)
    seq = request.cseq.seq
    if subscribe:
        notify(engine, channel, seq, 100, "Trying")
    engine.spawn(_transfer(engine, channel, refer, handler, seq, subscribe),
                 f"refer-{channel.id}-{seq}")


async def _transfer(engine: SipEngine, channel: Channel, refer: ReferRequest,
                    handler: ReferHandler, seq: int, subscribe: bool) -> None:
    done = False
    try:
        done = bool(await handler(channel, refer))
    except Exception:
        channel.log.exception("refer_handler_failed", target=refer.target)
    channel.log.info("refer_done", target=refer.target, ok=done)
    if subscribe:
        if done:
            notify(engine, channel, seq, 200, "OK", final=True)
        else:
            notify(engine, channel, seq, 503, "Service Unavailable", final=True)


def notify(engine: SipEngine, channel: Channel, refer_seq: int, status: int, reason: str, *,
           final: bool = False) -> None:
    """A NOTIFY of the REFER's implicit subscription carrying the transfer's progress."""
    state = ("terminated;reason=noresource" if final
             else f"active;expires={SUBSCRIPTION_EXPIRES}")
    engine.send_in_dialog(channel, "NOTIFY", body=sipfrag(status, reason),
                          content_type=SIPFRAG,
                          headers=(("Event", f"refer;id={refer_seq}"),
                                   ("Subscription-State", state)))


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')[:100]


__all__ = ["SIPFRAG", "ReferHandler", "ReferRequest", "Replaces", "handle_refer",
           "may_transfer", "notify", "parse_refer", "sipfrag"]
