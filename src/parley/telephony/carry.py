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
is closed by the hang-up. Only plain RTP legs over UDP are carried: a browser's DTLS-SRTP
or a carrier's SDES keys and a TCP or TLS connection do not survive the process that held
them. What the contact center knew of the call (its queue, the operator's state and
wrap-up) is not carried yet: the call goes on as a bridge of two legs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from parley.clock import Clock, every
from parley.events import Direction, HangupCause
from parley.net.relay import MediaEndpoint
from parley.net.rtp_ports import PortPoolExhausted
from parley.net.transport import Peer
from parley.sip.dialog import Dialog
from parley.sip.errors import DialogError, SipParseError
from parley.sip.message import SipRequest, parse_message
from parley.sip.session import InviteSession, Role, SessionState
from parley.telephony.channel import Bridge, BridgeRole, Channel
from parley.telephony.leg import SipLeg
from parley.telephony.media_sdp import Codec, RemoteAudio

if TYPE_CHECKING:
    from parley.telephony.engine import SipEngine

log = structlog.get_logger("parley.telephony.carry")

VERSION = 1
#: added to our CSeq in a carried dialog: requests sent after the last copy was written
#: must not be outnumbered (RFC 3261 §12.2.2 lets a CSeq jump)
SEQ_GAP = 100
UP = frozenset({SessionState.ANSWERED, SessionState.CONFIRMED})


class CarryError(ValueError):
    """A kept call that cannot be carried on (its state is not one, a port is taken)."""


class CallStore(Protocol):
    """Where the calls' states are kept (:class:`parley.store.live_calls.LiveCallRepository`)."""

    async def apply(self, kept: Sequence[tuple[str, str, dict[str, Any]]],
                    gone: Sequence[str], at: datetime) -> None: ...

    async def states(self) -> list[dict[str, Any]]: ...


def carriable(bridge: Bridge) -> bool:
    """Whether ``bridge`` is a call another node can go on with: two answered plain-RTP
    legs over UDP relayed packet for packet."""
    if bridge.destroyed or bridge.mixing or len(bridge.members) != 2:
        return False
    return all(role is BridgeRole.PARTICIPANT and _plain(channel)
               for channel, role in bridge.members.items())


def _plain(channel: Channel) -> bool:
    leg = channel.leg
    return (channel.is_up and type(channel.media) is MediaEndpoint and leg.webrtc is None
            and not leg.crypto and leg.peer.transport == "UDP"
            and leg.session.dialog is not None and leg.session.state in UP)


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
            "dtmf_payload_type": remote.dtmf_payload_type, "direction": remote.direction},
        "media": {"port": media.port,
                  "remote": None if media.remote is None else list(media.remote)},
    }


def _codec(codec: Codec) -> list[Any]:
    return [codec.payload_type, codec.name, codec.rate]


def _codec_of(value: Sequence[Any]) -> Codec:
    payload_type, name, rate = value
    return Codec(int(payload_type), str(name), int(rate))


def restore_leg(engine: SipEngine, state: Mapping[str, Any]) -> Channel:
    """The answered leg ``state`` describes, on this node: its media bound on the same port,
    its dialog going on. Raises :class:`CarryError`."""
    try:
        transport, host, port = state["peer"]
        peer = Peer(str(transport), str(host), int(port))
        invite = parse_message(str(state["invite"]).encode())
        if not isinstance(invite, SipRequest):
            raise CarryError("the kept INVITE is a response")
        local_via = engine.local_via(peer.transport)
        dialog = Dialog.restored(state["dialog"], local_via=local_via, seq_gap=SEQ_GAP)
        session = InviteSession.resumed(Role(state["role"]), invite, dialog,
                                        local_contact=dialog.local_contact,
                                        local_via=local_via)
        remote = state["remote_audio"]
        remote_audio = None if remote is None else RemoteAudio(
            str(remote["host"]), int(remote["port"]),
            tuple(_codec_of(c) for c in remote["codecs"]),
            remote["dtmf_payload_type"], str(remote["direction"]))
        allowed = state["allowed"]
        leg = SipLeg(engine, session, peer, session_id=int(state["session_id"]),
                     remote_audio=remote_audio,
                     codec=None if state["codec"] is None else _codec_of(state["codec"]),
                     dtmf_payload_type=state["dtmf_payload_type"],
                     sdp_version=int(state["sdp_version"]),
                     allowed=None if allowed is None else tuple(_codec_of(c) for c in allowed),
                     dtmf_mode=str(state["dtmf_mode"]))
        media_state = state["media"]
        media_port = int(media_state["port"])
        direction = Direction(state["direction"])
    except (KeyError, TypeError, ValueError, SipParseError, DialogError) as exc:
        raise CarryError(f"not a carried leg's state: {exc!r}") from exc
    try:
        media = engine.relay.open_at(media_port, label=f"carried:{dialog.call_id}")
    except (PortPoolExhausted, OSError) as exc:
        raise CarryError(f"RTP port {media_port}: {exc}") from exc
    try:
        if media_state["remote"] is not None:
            media_host, media_remote_port = media_state["remote"]
            media.set_remote(str(media_host), int(media_remote_port))
        channel = Channel(engine=engine, direction=direction, caller=str(state["caller"]),
                          called=str(state["called"]), media=media, leg=leg,
                          variables={str(k): str(v) for k, v in state["variables"].items()},
                          id=str(state["channel_id"]),
                          interaction_id=str(state["interaction_id"]),
                          trunk=str(state["trunk"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        media.close()
        raise CarryError(f"not a carried leg's state: {exc!r}") from exc
    channel.on_hold = media.on_hold = bool(state.get("on_hold", False))
    channel.carried_on()
    media.on_timeout = lambda _endpoint: channel.hangup(HangupCause.MEDIA_TIMEOUT)
    return channel


def restore_call(engine: SipEngine, state: Mapping[str, Any], node: str,
                 talk: Callable[[Bridge, Channel, Channel], Any]) -> Bridge:
    """The call ``state`` describes going on here (from ``node``): both legs restored and
    bridged under the same bridge id, ``talk(bridge, first, second)`` spawned to end them
    together. Raises :class:`CarryError` (nothing is left open)."""
    if state.get("version") != VERSION:
        raise CarryError(f"kept by another version ({state.get('version')!r})")
    legs = state.get("legs")
    if not isinstance(legs, list) or len(legs) != 2:
        raise CarryError("a carried call has two legs")
    first = restore_leg(engine, legs[0])
    try:
        second = restore_leg(engine, legs[1])
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


class CallKeeper:
    """Keeps the node's relayed calls in the store (:meth:`changed`, the engine's
    ``bridge_changed`` hook) and carries on those another node kept when this one starts
    serving (:meth:`restore`)."""

    def __init__(self, store: CallStore, engine: SipEngine, clock: Clock, *,
                 talk: Callable[[Bridge, Channel, Channel], Any], node: str = "",
                 interval_s: float = 0.5) -> None:
        self._store = store
        self._engine = engine
        self._clock = clock
        self._talk = talk
        self._node = node
        self._interval_s = interval_s
        self._dirty: set[Bridge] = set()
        self._stored: set[str] = set()  # the bridges whose calls the store has
        #: set once the kept calls are carried on (or found not to be carriable)
        self.restored = asyncio.Event()

    def not_ready_reason(self) -> str | None:
        """Why the node takes no new call yet: the kept calls are not carried on yet (their
        ports must not go to new calls); None once they are."""
        return None if self.restored.is_set() else "the calls of the other node are being " \
            "carried over"

    def keeps(self, channel: Channel) -> bool:
        """Whether ``channel`` is a leg of a call another node can carry on (a planned
        switch-over leaves it up: :attr:`SipEngine.handed_over`)."""
        bridge = channel.bridge
        return bridge is not None and carriable(bridge)

    def changed(self, bridge: Bridge) -> None:
        """The engine's hook: the call in ``bridge`` changed (its state is read when
        written, so a burst of changes costs one write)."""
        self._dirty.add(bridge)

    async def restore(self) -> int:
        """Carry on the calls the store keeps (another node's, before it failed); returns
        how many. A call that cannot be carried on is removed (logged)."""
        try:
            return await self._restore()
        finally:
            self.restored.set()  # new calls may come now, whatever happened

    async def _restore(self) -> int:
        carried, failed = 0, []
        for state in await self._store.states():
            bridge_id = str(state.get("bridge_id", ""))
            node = str(state.get("node", ""))
            try:
                bridge = restore_call(self._engine, state, node, self._talk)
            except CarryError as exc:
                log.warning("call_not_carried_over", bridge_id=bridge_id, from_node=node,
                            error=str(exc))
                failed.append(bridge_id)
                continue
            carried += 1
            self._stored.add(bridge_id)
            self._dirty.add(bridge)  # written again as this node's (its new CSeq)
        if failed:
            await self._store.apply((), failed, self._clock.utcnow())
        if carried:
            log.info("calls_carried_over", calls=carried, not_carried=len(failed))
        return carried

    async def run(self) -> None:
        """Restore, then write the changes every ``interval_s`` until cancelled; what is
        pending when cancelled is written before returning."""
        await self.restore()
        await every(self._clock, self._interval_s, self.flush)

    async def flush(self) -> None:
        """Write the calls that changed in one transaction (kept for the next try on
        failure)."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        kept: list[tuple[str, str, dict[str, Any]]] = []
        gone: list[str] = []
        for bridge in dirty:
            if carriable(bridge):
                state = call_state(bridge)
                state["node"] = self._node
                kept.append((bridge.id, str(state["interaction_id"]), state))
            elif bridge.id in self._stored:
                gone.append(bridge.id)
        if not kept and not gone:
            return
        try:
            await self._store.apply(kept, gone, self._clock.utcnow())
        except Exception:
            self._dirty |= dirty
            log.exception("live_calls_not_stored", changes=len(dirty))
            return
        self._stored.update(bridge_id for bridge_id, _, _ in kept)
        self._stored.difference_update(gone)
