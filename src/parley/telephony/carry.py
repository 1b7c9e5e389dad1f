"""Answered calls carried over to a hot standby (docs/deployment.md, "Hot standby").

The active node of a cluster keeps, for every answered two-party call it relays packet for
packet, what another node needs to go on with it: both legs' dialogs (Call-ID, tags, CSeq,
remote target, route set), the phones' transport addresses, the negotiated codecs and the
media ports with the phones' media addresses. :class:`CallKeeper` is told each change of a
bridge (the engine's ``bridge_changed`` hook) and writes the state of the calls that changed,
coalesced, every ``interval_s``; a call that ends, is mixed (a supervisor listening, a
conference) or put to music is removed.

The node that takes over binds the same ports on the floating address (the phones go on
sending there), rebuilds both legs as answered calls, bridges them and ends both when one
hangs up: audio resumes without a re-INVITE, the call record goes on (``CallCarried``) and
is closed by the hang-up. Plain RTP legs are carried, their SIP over UDP or TCP (a TCP
connection dies with the node: the new one reaches the phone at its Contact over a
connection of its own, and answers the phone over whichever connection it opens), and
browsers' legs once their DTLS is done: the keys and ICE credentials go with the leg
(:meth:`parley.net.webrtc.WebRtcEndpoint.carried_state`), the new node goes on with SRTP
where each stream was, and the browser's requests follow its new WebSocket once it
registers again; a carrier's SDES keys likewise go with its leg. Calls with SRTP are
written again every :data:`SRTP_REFRESH_S` (where their streams are). A TLS session does
not survive the process that held it. The owner of a call
may keep its own details with it (:attr:`CallKeeper.call_details`: the contact center
keeps its queue, operator and times, the dialer its campaign's attempt): the node taking
over hands the restored call to it
(:attr:`CallKeeper.converse`), so the operator is known to be on that call and the
wrap-up follows; a call without such details (or one its owner cannot take) goes on as a
bridge of two legs.

Single legs are kept too, each of a kind with the details its owner gives
(:meth:`CallKeeper.keep`): the contact center keeps every caller waiting in a queue, and the
node taking over hands the restored leg and those details to the owner of that kind on it
(:attr:`CallKeeper.resumers`), which puts the caller back in line in its place.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from parley.clock import Clock, every
from parley.events import Direction, HangupCause
from parley.media.srtp import SDES_SUITES, Crypto, SrtpError, SrtpKeys
from parley.net.relay import MediaEndpoint
from parley.net.rtp_ports import PortPoolExhausted
from parley.net.transport import RECONNECTING_TRANSPORTS, WS_TRANSPORTS, Peer
from parley.net.webrtc import WebRtcEndpoint
from parley.sip.dialog import Dialog
from parley.sip.errors import DialogError, SipParseError
from parley.sip.message import SipRequest, parse_message
from parley.sip.session import InviteSession, Role, SessionState
from parley.sip.transaction import build_cancel
from parley.telephony.channel import Bridge, BridgeRole, Channel
from parley.telephony.leg import SipLeg
from parley.telephony.media_sdp import Codec, LocalWebRtc, RemoteAudio, WebRtcTransport
from parley.telephony.webrtc import watch_webrtc

if TYPE_CHECKING:
    from parley.telephony.engine import SipEngine

log = structlog.get_logger("parley.telephony.carry")

VERSION = 1
#: added to our CSeq in a carried dialog: requests sent after the last copy was written
#: must not be outnumbered (RFC 3261 §12.2.2 lets a CSeq jump)
SEQ_GAP = 100
#: a carried leg whose phone sends no RTP within this long is ended: it hung up just
#: before the takeover (its BYE went to the node that died), or the phone is gone
CARRIED_SILENCE_S = 10.0
UP = frozenset({SessionState.ANSWERED, SessionState.CONFIRMED})
#: the kind of a kept two-party call (the states of single legs name their own kind)
CALL = "call"
#: a call this node placed that was still ringing (an operator's phone offered a caller):
#: not carried, but cancelled by the node taking over, so that the phone stops ringing
OFFER = "offer"

#: Goes on with a kept single leg on this node: the restored channel, the details its owner
#: kept, the node it comes from. Raises :class:`CarryError` (or ValueError, KeyError,
#: TypeError on details it cannot read) when it cannot.
Resumer = Callable[[Channel, Mapping[str, Any], str], None]
#: Goes on with a kept two-party call its owner gave details of (:attr:`CallKeeper.
#: call_details`): the bridge and its legs restored, the details, the node it comes from;
#: returns the coroutine that follows the call to its end (in place of ``talk``). Raises
#: :class:`CarryError` (or ValueError, KeyError, TypeError) when it cannot: the call then
#: goes on as a bridge of two legs.
Converser = Callable[[Bridge, Channel, Channel, Mapping[str, Any], str], Awaitable[None]]


class CarryError(ValueError):
    """A kept call that cannot be carried on (its state is not one, a port is taken)."""


class CallStore(Protocol):
    """Where the calls' states are kept (:class:`parley.store.live_calls.LiveCallRepository`)."""

    async def apply(self, kept: Sequence[tuple[str, str, dict[str, Any]]],
                    gone: Sequence[str], at: datetime) -> None: ...

    async def states(self) -> list[dict[str, Any]]: ...


def carriable(bridge: Bridge) -> bool:
    """Whether ``bridge`` is a call another node can go on with: two answered legs (plain
    RTP, their SIP over UDP or TCP; or a browser's, its DTLS done), relayed packet for
    packet."""
    if bridge.destroyed or bridge.mixing or len(bridge.members) != 2:
        return False
    return all(role is BridgeRole.PARTICIPANT and _carried(channel)
               for channel, role in bridge.members.items())


#: the SIP transports of a leg another node can go on with: UDP as it is; TCP over a new
#: connection (the phone's dies with the node), to the phone's Contact from the new node,
#: from the phone over whatever connection it opens to the floating address
CARRIED_TRANSPORTS = frozenset({"UDP", "TCP"})
#: a browser's too: its WebSocket dies with the node, it connects to the floating address
#: again and registers, and its calls' requests go over the new connection from then on
BROWSER_TRANSPORTS = CARRIED_TRANSPORTS | frozenset(WS_TRANSPORTS)
#: how often a call with an SRTP leg (a browser's, a carrier's keyed by SDES) is written
#: again while nothing changes: where its SRTP streams are (the node taking over goes on
#: past that, rollover counters included)
SRTP_REFRESH_S = 60.0


def _carried(channel: Channel) -> bool:
    """An answered leg another node can go on with: RTP, or SRTP keyed by SDES once
    answered, its SIP over UDP or TCP; or a browser's once its DTLS is done (the keys are
    carried, not the DTLS)."""
    leg = channel.leg
    if not channel.is_up or leg.session.dialog is None or leg.session.state not in UP:
        return False
    media = channel.media
    if type(media) is MediaEndpoint:
        return (leg.webrtc is None and leg.peer.transport in CARRIED_TRANSPORTS
                and (not leg.crypto or (leg.remote_crypto is not None
                                        and media.protect is not None)))
    return (isinstance(media, WebRtcEndpoint) and leg.webrtc is not None
            and media.carriable and leg.peer.transport in BROWSER_TRANSPORTS)


def call_state(bridge: Bridge) -> dict[str, Any]:
    """What another node needs to go on with the call in ``bridge`` (:func:`carriable`)."""
    first, second = bridge.members
    return {"version": VERSION, "bridge_id": bridge.id,
            "interaction_id": first.interaction_id,
            "legs": [leg_state(first), leg_state(second)]}


def leg_state(channel: Channel) -> dict[str, Any]:
    """One answered leg as JSON values."""
    leg = channel.leg
    session = leg.session
    dialog = session.dialog
    if dialog is None:
        raise CarryError(f"channel {channel.id} has no dialog")
    remote = leg.remote_audio
    media = channel.media
    return {
        "channel_id": channel.id, "interaction_id": channel.interaction_id,
        "direction": channel.direction.value, "caller": channel.caller,
        "called": channel.called, "trunk": channel.trunk, "variables": dict(channel.variables),
        "on_hold": channel.on_hold, "role": session.role.value,
        "invite": bytes(session.invite).decode("utf-8", "replace"),
        "dialog": dialog.state_of(),
        "peer": [leg.peer.transport, leg.peer.host, leg.peer.port],
        "session_id": leg.session_id, "sdp_version": leg.sdp_version,
        "codec": None if leg.codec is None else _codec(leg.codec),
        "dtmf_payload_type": leg.dtmf_payload_type, "dtmf_mode": leg.dtmf_mode,
        "allowed": None if leg.allowed is None else [_codec(c) for c in leg.allowed],
        "remote_audio": None if remote is None else {
            "host": remote.host, "port": remote.port,
            "codecs": [_codec(c) for c in remote.codecs],
            "dtmf_payload_type": remote.dtmf_payload_type, "direction": remote.direction,
            "webrtc": None if remote.webrtc is None else _transport(remote.webrtc)},
        "media": {"port": media.port,
                  "remote": None if media.remote is None else list(media.remote)},
        "webrtc": _webrtc_state(channel), "sdes": _sdes_state(channel),
        "created_at": channel.created_at.isoformat(),
        "answered_at": None if channel.answered_at is None
        else channel.answered_at.isoformat(),
    }


def _webrtc_state(channel: Channel) -> dict[str, Any] | None:
    """A browser leg's side of the call: what our SDP said (ICE, fingerprint, setup) and
    the media's ICE and SRTP state (:meth:`WebRtcEndpoint.carried_state`), when written."""
    local, media = channel.leg.webrtc, channel.media
    if local is None or not isinstance(media, WebRtcEndpoint):
        return None
    return {"local": [local.ice_ufrag, local.ice_pwd, local.fingerprint, local.setup,
                      local.mid],
            "media": media.carried_state(), "written_at": time.time()}


def _sdes_state(channel: Channel) -> dict[str, Any] | None:
    """An SDES-keyed leg's keys (our ``a=crypto`` line and the carrier's, with the trunk's
    ``srtp`` mode) and how far its SRTP streams went, when written; None for others."""
    leg = channel.leg
    if not leg.crypto or leg.remote_crypto is None:
        return None
    return {"local": leg.crypto[0].attribute(), "remote": leg.remote_crypto.attribute(),
            "srtp": leg.srtp, **channel.media.srtp_position(), "written_at": time.time()}


def _elapsed(state: Mapping[str, Any]) -> float:
    """Seconds since another node wrote ``state`` (its ``written_at``, wall clock)."""
    return max(0.0, time.time() - float(state["written_at"]))


def _transport(webrtc: WebRtcTransport) -> dict[str, Any]:
    return {"ice_ufrag": webrtc.ice_ufrag, "ice_pwd": webrtc.ice_pwd,
            "fingerprints": [list(f) for f in webrtc.fingerprints], "setup": webrtc.setup,
            "mid": webrtc.mid, "bundle": webrtc.bundle}


def _transport_of(value: Mapping[str, Any] | None) -> WebRtcTransport | None:
    if value is None:
        return None
    return WebRtcTransport(str(value["ice_ufrag"]), str(value["ice_pwd"]),
                           tuple((str(a), str(f)) for a, f in value["fingerprints"]),
                           str(value["setup"]),
                           None if value["mid"] is None else str(value["mid"]),
                           bool(value["bundle"]))


def _codec(codec: Codec) -> list[Any]:
    return [codec.payload_type, codec.name, codec.rate]


def _codec_of(value: Sequence[Any]) -> Codec:
    payload_type, name, rate = value
    return Codec(int(payload_type), str(name), int(rate))


def restore_leg(engine: SipEngine, state: Mapping[str, Any], *,
                silence_s: float = CARRIED_SILENCE_S) -> Channel:
    """The answered leg ``state`` describes, on this node: its media bound on the same port,
    its dialog going on; ended if its phone sends nothing within ``silence_s``. Raises
    :class:`CarryError`."""
    try:
        transport, host, port = state["peer"]
        peer = Peer(str(transport), str(host), int(port))
        invite = parse_message(str(state["invite"]).encode())
        if not isinstance(invite, SipRequest):
            raise CarryError("the kept INVITE is a response")
        local_via = engine.local_via(peer.transport)
        dialog = Dialog.restored(state["dialog"], local_via=local_via, seq_gap=SEQ_GAP)
        if peer.transport == "TCP" and not dialog.route_set:
            # the connection died with the other node: reach the phone where its Contact
            # says it listens (a connection it opens itself is answered as it comes)
            target = dialog.remote_target
            peer = Peer("TCP", target.host, target.port or 5060)
        session = InviteSession.resumed(Role(state["role"]), invite, dialog,
                                        local_contact=dialog.local_contact,
                                        local_via=local_via)
        remote = state["remote_audio"]
        remote_audio = None if remote is None else RemoteAudio(
            str(remote["host"]), int(remote["port"]),
            tuple(_codec_of(c) for c in remote["codecs"]),
            remote["dtmf_payload_type"], str(remote["direction"]),
            _transport_of(remote.get("webrtc")))
        allowed = state["allowed"]
        browser = state.get("webrtc")
        local_webrtc = None if browser is None else LocalWebRtc(*browser["local"])
        sdes = state.get("sdes")
        local_crypto = None if sdes is None else Crypto.parse(str(sdes["local"]))
        remote_crypto = None if sdes is None else Crypto.parse(str(sdes["remote"]))
        leg = SipLeg(engine, session, peer, session_id=int(state["session_id"]),
                     remote_audio=remote_audio,
                     codec=None if state["codec"] is None else _codec_of(state["codec"]),
                     dtmf_payload_type=state["dtmf_payload_type"],
                     sdp_version=int(state["sdp_version"]),
                     allowed=None if allowed is None else tuple(_codec_of(c) for c in allowed),
                     dtmf_mode=str(state["dtmf_mode"]), webrtc=local_webrtc,
                     srtp="off" if sdes is None else str(sdes["srtp"]),
                     crypto=() if local_crypto is None else (local_crypto,),
                     remote_crypto=remote_crypto)
        media_state = state["media"]
        media_port = int(media_state["port"])
        direction = Direction(state["direction"])
        if browser is not None and (browser["media"] is None or remote_audio is None):
            raise CarryError("a browser leg kept before its DTLS was done")
    except (KeyError, TypeError, ValueError, SipParseError, DialogError, SrtpError) as exc:
        raise CarryError(f"not a carried leg's state: {exc!r}") from exc
    label = f"carried:{dialog.call_id}"
    try:
        media = engine.relay.open_at(media_port, label=label) if browser is None \
            else engine.relay.open_webrtc_at(media_port, label=label)
    except (PortPoolExhausted, OSError) as exc:
        raise CarryError(f"RTP port {media_port}: {exc}") from exc
    try:
        if isinstance(media, WebRtcEndpoint) and browser is not None:
            media.carry_on(browser["media"], elapsed_s=_elapsed(browser))
        elif media_state["remote"] is not None:
            media_host, media_remote_port = media_state["remote"]
            media.set_remote(str(media_host), int(media_remote_port))
        if sdes is not None and local_crypto is not None and remote_crypto is not None:
            keys = SrtpKeys(local_crypto.key, remote_crypto.key,
                            SDES_SUITES[local_crypto.suite][0])
            media.protect, media.unprotect = media.resume_srtp(
                keys, *keys.sessions(), sdes, elapsed_s=_elapsed(sdes))
        channel = Channel(engine=engine, direction=direction, caller=str(state["caller"]),
                          called=str(state["called"]), media=media, leg=leg,
                          variables={str(k): str(v) for k, v in state["variables"].items()},
                          id=str(state["channel_id"]),
                          interaction_id=str(state["interaction_id"]),
                          trunk=str(state["trunk"]))
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        media.close()
        raise CarryError(f"not a carried leg's state: {exc!r}") from exc
    channel.on_hold = media.on_hold = bool(state.get("on_hold", False))
    watch_webrtc(channel)  # a browser leg ends when its consent does
    if peer.transport in RECONNECTING_TRANSPORTS:
        engine.await_reconnect(channel)  # its connection died with the other node
    with contextlib.suppress(KeyError, TypeError, ValueError):  # kept before they were
        channel.created_at = datetime.fromisoformat(str(state["created_at"]))
        channel.answered_at = datetime.fromisoformat(str(state["answered_at"]))
    channel.carried_on()
    media.on_timeout = lambda _endpoint: channel.hangup(HangupCause.MEDIA_TIMEOUT)
    media.expect_audio_within(silence_s)
    return channel


def restore_call(engine: SipEngine, state: Mapping[str, Any], node: str,
                 talk: Callable[[Bridge, Channel, Channel], Any], *,
                 silence_s: float = CARRIED_SILENCE_S) -> Bridge:
    """The call ``state`` describes going on here (from ``node``): both legs restored and
    bridged under the same bridge id, ``talk(bridge, first, second)`` spawned to end them
    together. Raises :class:`CarryError` (nothing is left open)."""
    if state.get("version") != VERSION:
        raise CarryError(f"kept by another version ({state.get('version')!r})")
    legs = state.get("legs")
    if not isinstance(legs, list) or len(legs) != 2:
        raise CarryError("a carried call has two legs")
    first = restore_leg(engine, legs[0], silence_s=silence_s)
    try:
        second = restore_leg(engine, legs[1], silence_s=silence_s)
    except CarryError:
        first.media.close()
        raise
    for channel in (first, second):
        engine.adopt(channel, node)
    bridge = Bridge(engine.relay, id=str(state["bridge_id"]))
    bridge.add(first)
    bridge.add(second)
    engine.spawn(talk(bridge, first, second), f"carried-{bridge.id}")
    first.log.info("call_carried_over", bridge_id=bridge.id, from_node=node,
                   other_channel=second.id)
    return bridge


def restore_single(engine: SipEngine, state: Mapping[str, Any], node: str,
                   resumers: Mapping[str, Resumer], *,
                   silence_s: float = CARRIED_SILENCE_S) -> Channel:
    """The single leg ``state`` describes going on here (from ``node``), handed with its
    details to the resumer of its kind. Raises :class:`CarryError` (the leg, once restored,
    is hung up when its owner cannot go on with it)."""
    if state.get("version") != VERSION:
        raise CarryError(f"kept by another version ({state.get('version')!r})")
    kind = str(state.get("kind", ""))
    resume = resumers.get(kind)
    if resume is None:
        raise CarryError(f"nothing on this node goes on with a kept {kind!r} leg")
    leg, details = state.get("leg"), state.get("details")
    if not isinstance(leg, Mapping) or not isinstance(details, Mapping):
        raise CarryError(f"a kept {kind!r} leg has a leg and its details")
    channel = restore_leg(engine, leg, silence_s=silence_s)
    engine.adopt(channel, node)
    try:
        resume(channel, details, node)
    except (CarryError, KeyError, TypeError, ValueError) as exc:
        channel.hangup(HangupCause.TEMPORARY_FAILURE)
        raise CarryError(f"a kept {kind!r} leg: {exc}") from exc
    channel.log.info("leg_carried_over", kind=kind, from_node=node)
    return channel


def offer_state(channel: Channel) -> dict[str, Any] | None:
    """What the node taking over needs to cancel ``channel``, a call this node placed that
    is still ringing: the INVITE as sent, and where it went; None when it is not one."""
    leg = channel.leg
    if channel.ended or channel.is_up or channel.direction is not Direction.OUTBOUND \
            or leg.peer.transport not in CARRIED_TRANSPORTS:
        return None
    return {"invite": bytes(leg.session.invite).decode("utf-8", "replace"),
            "peer": [leg.peer.transport, leg.peer.host, leg.peer.port]}


def cancel_offer(engine: SipEngine, state: Mapping[str, Any]) -> None:
    """CANCEL the INVITE another node sent (``state`` as :func:`offer_state` kept it): the
    same Request-URI, Call-ID, From, To, CSeq number, Via and Route (RFC 3261 §9.1), from
    the floating address that Via names. Raises :class:`CarryError`."""
    try:
        offer = state["offer"]
        transport, host, port = offer["peer"]
        invite = parse_message(str(offer["invite"]).encode())
    except (KeyError, TypeError, ValueError, SipParseError) as exc:
        raise CarryError(f"not a kept offer: {exc!r}") from exc
    if not isinstance(invite, SipRequest) or invite.method != "INVITE":
        raise CarryError("a kept offer is not an INVITE")
    engine.send_request(build_cancel(invite), Peer(str(transport), str(host), int(port)),
                        lambda _response: None)


@dataclass(eq=False, slots=True)
class _KeptLeg:
    """A single leg kept by its owner (:meth:`CallKeeper.keep`)."""

    kind: str
    channel: Channel
    details: Callable[[], dict[str, Any]]


class CallKeeper:
    """Keeps the node's relayed calls in the store (:meth:`changed`, the engine's
    ``bridge_changed`` hook) and carries on those another node kept when this one starts
    serving (:meth:`restore`)."""

    def __init__(self, store: CallStore, engine: SipEngine, clock: Clock, *,
                 talk: Callable[[Bridge, Channel, Channel], Any], node: str = "",
                 interval_s: float = 0.5, silence_s: float = CARRIED_SILENCE_S) -> None:
        self._store = store
        self._engine = engine
        self._clock = clock
        self._talk = talk
        self._node = node
        self._interval_s = interval_s
        self._silence_s = silence_s  # a carried leg that hears nothing this long is ended
        self._dirty: set[Bridge] = set()
        self._stored: set[str] = set()  # the bridges and legs the store has
        self._legs: dict[str, _KeptLeg] = {}  # single legs kept by their owners, by key
        self._key_of: dict[str, str] = {}  # the key each such leg is kept under, by channel
        self._dirty_legs: set[str] = set()
        #: calls with an SRTP leg: written again every SRTP_REFRESH_S while kept (where
        #: their streams are)
        self._srtp_bridges: set[Bridge] = set()
        self._srtp_written_at = 0.0
        #: who goes on with a kept single leg of each kind on this node (the contact
        #: center: a caller waiting in a queue)
        self.resumers: dict[str, Resumer] = {}
        #: what the owner of a call knows of it, kept with it (the contact center: its
        #: queue, its operator, when it was answered); None: nothing
        self.call_details: Callable[[Bridge], dict[str, Any] | None] | None = None
        #: who goes on with a kept call that has such details on this node
        self.converse: Converser | None = None
        #: set once the kept calls are carried on (or found not to be carriable)
        self.restored = asyncio.Event()

    def not_ready_reason(self) -> str | None:
        """Why the node takes no new call yet: the kept calls are not carried on yet (their
        ports must not go to new calls); None once they are."""
        return None if self.restored.is_set() else "the calls of the other node are being " \
            "carried over"

    def keeps(self, channel: Channel) -> bool:
        """Whether ``channel`` is a leg of a call another node can carry on, or a single
        leg its owner keeps (a planned switch-over leaves it up:
        :attr:`SipEngine.handed_over`)."""
        bridge = channel.bridge
        if bridge is not None and carriable(bridge):
            return True
        key = self._key_of.get(channel.id)
        kept = None if key is None else self._legs.get(key)
        return kept is not None and kept.channel is channel and _carried(channel)

    def keep(self, key: str, kind: str, channel: Channel,
             details: Callable[[], dict[str, Any]]) -> None:
        """Keep the single leg ``channel`` under ``key`` (at most 64 characters) until
        :meth:`forget`: a node taking over gives it and ``details()`` (JSON values, read when
        written) to its resumer of ``kind``. Only a plain RTP leg (SIP over UDP or TCP) is
        kept, and only while it is not in a call kept whole: a caller whose conversation
        cannot be carried (its operator's leg is a browser's, or a supervisor listens)
        is kept on its own, a caller in a call that can be carried goes with that call."""
        self._legs[key] = _KeptLeg(kind, channel, details)
        self._key_of[channel.id] = key
        self._dirty_legs.add(key)

    def keep_offer(self, key: str, channel: Channel) -> None:
        """Keep ``channel``, a call this node placed, while it rings (until :meth:`forget`):
        the node taking over cancels it, so that the phone does not ring on for a caller
        who is offered again there."""
        self._legs[key] = _KeptLeg(OFFER, channel, dict)
        self._dirty_legs.add(key)

    def forget(self, key: str) -> None:
        """The leg kept under ``key`` is no longer the owner's to carry (it left the queue,
        it ended); one handed over to the other node (a planned switch-over) stays kept."""
        kept = self._legs.get(key)
        if kept is None or kept.channel.handed_over():
            return
        del self._legs[key]
        if self._key_of.get(kept.channel.id) == key:
            del self._key_of[kept.channel.id]
        self._dirty_legs.add(key)

    def changed(self, bridge: Bridge) -> None:
        """The engine's hook: the call in ``bridge`` changed (its state is read when
        written, so a burst of changes costs one write); a single leg kept in it is
        written again too (kept with the call, or on its own)."""
        self._dirty.add(bridge)
        for member in bridge.members:
            key = self._key_of.get(member.id)
            if key is not None:
                self._dirty_legs.add(key)
            if isinstance(member.media, WebRtcEndpoint) or member.leg.crypto:
                self._srtp_bridges.add(bridge)

    async def restore(self) -> int:
        """Carry on the calls the store keeps (another node's, before it failed); returns
        how many. A call that cannot be carried on is removed (logged)."""
        try:
            return await self._restore()
        finally:
            self.restored.set()  # new calls may come now, whatever happened

    async def _restore(self) -> int:
        carried, failed = 0, []
        states = await self._store.states()
        # two-party calls first: a port both a call and a single leg name (a caller kept as
        # waiting, then answered just before the failure) goes to the call
        states.sort(key=lambda state: state.get("kind", CALL) != CALL)
        for state in states:
            kind = str(state.get("kind", CALL))
            key = str(state.get("bridge_id" if kind == CALL else "key", ""))
            node = str(state.get("node", ""))
            try:
                if kind == OFFER:  # cancelled, not carried: removed from the store
                    cancel_offer(self._engine, state)
                    log.info("offer_cancelled_after_takeover", key=key, from_node=node)
                    failed.append(key)
                    continue
                if kind == CALL:
                    self._dirty.add(restore_call(self._engine, state, node,
                                                 self._talk_for(state, node),
                                                 silence_s=self._silence_s))
                else:
                    restore_single(self._engine, state, node, self.resumers,
                                   silence_s=self._silence_s)
            except CarryError as exc:
                log.warning("call_not_carried_over", key=key, kind=kind, from_node=node,
                            error=str(exc))
                failed.append(key)
                continue
            carried += 1
            # written again as this node's (its new CSeq): a call as it is now, a single
            # leg by its owner (kept again under the same key), else removed
            self._stored.add(key)
            if kind != CALL:
                self._dirty_legs.add(key)
        if failed:
            await self._store.apply((), failed, self._clock.utcnow())
        if carried:
            log.info("calls_carried_over", calls=carried, not_carried=len(failed))
        return carried

    def _talk_for(self, state: Mapping[str, Any], node: str
                  ) -> Callable[[Bridge, Channel, Channel], Any]:
        """What follows a restored call: its owner's conversation when it gave details
        (:attr:`converse`), else ``talk`` (also when the owner cannot go on with it)."""
        details, converse = state.get("center"), self.converse
        if not isinstance(details, Mapping) or converse is None:
            return self._talk

        def talk(bridge: Bridge, first: Channel, second: Channel) -> Any:
            try:
                return converse(bridge, first, second, details, node)
            except (CarryError, KeyError, TypeError, ValueError) as exc:
                log.warning("conversation_not_carried_over", bridge_id=bridge.id,
                            from_node=node, error=str(exc))
                return self._talk(bridge, first, second)
        return talk

    async def run(self) -> None:
        """Restore, then write the changes every ``interval_s`` until cancelled; what is
        pending when cancelled is written before returning."""
        await self.restore()
        await every(self._clock, self._interval_s, self.flush)

    async def flush(self) -> None:
        """Write the calls that changed in one transaction (kept for the next try on
        failure)."""
        self._srtp_changed()
        if not self._dirty and not self._dirty_legs:
            return
        dirty, self._dirty = self._dirty, set()
        dirty_legs, self._dirty_legs = self._dirty_legs, set()
        kept: list[tuple[str, str, dict[str, Any]]] = []
        gone: list[str] = []
        for bridge in dirty:
            if carriable(bridge):
                state = call_state(bridge)
                state["node"] = self._node
                details = self._details_of(bridge)
                if details is not None:
                    state["center"] = details
                kept.append((bridge.id, str(state["interaction_id"]), state))
            elif bridge.id in self._stored:
                gone.append(bridge.id)
        for key in dirty_legs:
            leg = self._legs.get(key)
            single = None if leg is None else self._single_state(key, leg)
            if single is not None:
                kept.append((key, str(single["interaction_id"]), single))
            elif key in self._stored:
                gone.append(key)
        if not kept and not gone:
            return
        try:
            await self._store.apply(kept, gone, self._clock.utcnow())
        except Exception:
            self._dirty |= dirty
            self._dirty_legs |= dirty_legs
            log.exception("live_calls_not_stored", changes=len(dirty) + len(dirty_legs))
            return
        self._stored.update(bridge_id for bridge_id, _, _ in kept)
        self._stored.difference_update(gone)

    def _srtp_changed(self) -> None:
        """Mark the kept calls with an SRTP leg not written for SRTP_REFRESH_S (where their
        streams are). One whose browser's DTLS is not done yet is written when it is: the
        leg says so (``webrtc_media_up``, a change of its bridge)."""
        now = self._clock.monotonic()
        refresh = now - self._srtp_written_at >= SRTP_REFRESH_S
        if refresh:
            self._srtp_written_at = now
        for bridge in list(self._srtp_bridges):
            if bridge.destroyed:  # let go at once: nothing keeps a finished call
                self._srtp_bridges.discard(bridge)
            elif refresh and bridge.id in self._stored:
                self._dirty.add(bridge)

    def _details_of(self, bridge: Bridge) -> dict[str, Any] | None:
        """The owner's details of the call in ``bridge`` (None when it has none, or fails:
        logged, and the call is kept as a bridge of two legs)."""
        if self.call_details is None:
            return None
        try:
            return self.call_details(bridge)
        except Exception:
            log.exception("kept_call_details_failed", bridge_id=bridge.id)
            return None

    def _single_state(self, key: str, kept: _KeptLeg) -> dict[str, Any] | None:
        """A kept single leg as stored; None when it is not one to carry (ended, not plain
        RTP, SIP over UDP or TCP), goes with the call it is in, or its details cannot be
        read (logged)."""
        channel = kept.channel
        if kept.kind == OFFER:
            offer = offer_state(channel)
            return None if offer is None else {
                "version": VERSION, "kind": OFFER, "key": key,
                "interaction_id": channel.interaction_id, "node": self._node, "offer": offer}
        if not _carried(channel) or (channel.bridge is not None and carriable(channel.bridge)):
            return None
        try:
            details = kept.details()
        except Exception:
            log.exception("kept_leg_details_failed", key=key, kind=kept.kind)
            return None
        return {"version": VERSION, "kind": kept.kind, "key": key,
                "interaction_id": channel.interaction_id, "node": self._node,
                "leg": leg_state(channel), "details": details}
