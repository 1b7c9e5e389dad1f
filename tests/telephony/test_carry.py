"""Calls carried over to another node (parley.telephony.carry): a kept call is rebuilt on a
running node with its media on the same ports and relayed at once; one that cannot be
carried on is refused with what is wrong, leaves no port bound, and the keeper removes it
from the store. Real UDP sockets on loopback, a real store."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from parley.center.ivr_shell import prompt_and_collect
from parley.clock import MonotonicClock
from parley.events import CallCarried, Direction, HangupCause, TelephonyEvent
from parley.media.srtp import SDES_SUITES, Crypto, srtp_sessions
from parley.sip.dialog import Dialog
from parley.sip.headers import NameAddr, Via
from parley.sip.message import SipRequest, SipResponse, parse_message
from parley.store import open_store
from parley.store.credentials import Passwords
from parley.telephony import engine as engine_module
from parley.telephony.carry import CallKeeper, CarryError, call_state, restore_call
from parley.telephony.channel import Bridge, BridgeRole, Channel
from parley.telephony.dialplan import stay_bridged
from parley.telephony.media import Tone
from parley.telephony.server import Telephony
from parley.testing.sipclient import RawSipClient

DATA = Path(__file__).parents[1] / "sip" / "data"


def leg(telephony: Telephony, *, channel: str, port: int, phone: tuple[str, int],
        call_id: str) -> dict[str, Any]:
    """A callee leg's kept state: baresip's INVITE (Call-ID ``call_id``) answered by the
    node, the phone's media at ``phone``, ours at ``port``."""
    raw = (DATA / "015-baresip-req-invite.sip").read_bytes()
    captured = parse_message(raw)
    assert isinstance(captured, SipRequest)
    raw = raw.replace(captured.call_id.encode(), call_id.encode())
    invite = parse_message(raw)
    assert isinstance(invite, SipRequest)
    engine = telephony.engine
    dialog = Dialog.from_request(invite, local_tag=f"tag-{channel}",
                                 local_contact=NameAddr.parse("<sip:parley@127.0.0.1>",
                                                              "Contact"),
                                 local_via=Via("UDP", "127.0.0.1", engine.config.port))
    return {"channel_id": channel, "interaction_id": "call-1", "direction": "inbound",
            "caller": "1001", "called": "1002", "trunk": "", "variables": {"queue": "x"},
            "on_hold": False, "role": "callee", "invite": raw.decode(),
            "dialog": dialog.state_of(),
            "peer": ["UDP", "127.0.0.1", 5999], "session_id": 7, "sdp_version": 2,
            "codec": [0, "PCMU", 8000], "dtmf_payload_type": 101, "dtmf_mode": "rfc4733",
            "allowed": None, "remote_audio": {"host": phone[0], "port": phone[1],
                                              "codecs": [[0, "PCMU", 8000]],
                                              "dtmf_payload_type": 101,
                                              "direction": "sendrecv"},
            "media": {"port": port, "remote": list(phone)},
            "created_at": "2026-12-06T09:00:00+00:00", "answered_at": "2026-12-06T09:00:01+00:00"}


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    return sock


async def talk(bridge: Bridge, first: Channel, second: Channel) -> None:
    await asyncio.gather(first.wait_ended(), second.wait_ended())
    bridge.destroy()


async def test_a_kept_call_goes_on_relayed_on_its_own_ports(node: Telephony) -> None:
    events: list[TelephonyEvent] = []
    node.engine.subscribe(events.append)
    caller, operator = udp(), udp()
    first_port = node.pool.first + 4
    state = {"version": 1, "bridge_id": "br-kept", "interaction_id": "call-1", "legs": [
        leg(node, channel="ch-caller", port=first_port, phone=caller.getsockname(),
            call_id="c1"),
        leg(node, channel="ch-operator", port=first_port + 2,
            phone=operator.getsockname(), call_id="c2")]}
    bridge = restore_call(node.engine, json.loads(json.dumps(state)), "a", talk)
    try:
        first, second = bridge.members
        assert (first.id, second.id, bridge.id) == ("ch-caller", "ch-operator", "br-kept")
        assert first.is_up
        assert second.is_up
        assert (first.media.port, second.media.port) == (first_port, first_port + 2)
        assert node.engine.by_id["ch-caller"] is first
        # each leg as it began: what opens its record if node a died before writing it
        began, answered = (datetime(2026, 12, 6, 9, 0, second, tzinfo=UTC) for second in (0, 1))
        assert [e for e in events if isinstance(e, CallCarried)] == [
            CallCarried(channel, "call-1", "a", direction=Direction.INBOUND, caller="1001",
                        called="1002", started_at=began, answered_at=answered)
            for channel in ("ch-caller", "ch-operator")]
        packet = bytes([0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9]) + bytes(160)
        caller.sendto(packet, ("127.0.0.1", first_port))
        data = await asyncio.to_thread(operator.recv, 2048)
        assert data[12:] == packet[12:]  # the caller heard by the operator, and back:
        operator.sendto(packet, ("127.0.0.1", first_port + 2))
        assert (await asyncio.to_thread(caller.recv, 2048))[12:] == packet[12:]
        again = call_state(bridge)  # kept again as this node's: the same call
        assert again["legs"][0]["media"] == state["legs"][0]["media"]
        assert again["legs"][0]["dialog"]["local_seq"] == \
            state["legs"][0]["dialog"]["local_seq"] + 100
        assert again["legs"][1]["variables"] == {"queue": "x"}
    finally:
        for channel in list(bridge.members):
            channel.hangup()
        caller.close()
        operator.close()


@pytest.mark.parametrize(("change", "why"), [
    (lambda s: s.update(version=99), "another version"),
    (lambda s: s["legs"].pop(), "two legs"),
    (lambda s: s["legs"][1]["media"].update(port=1), "RTP port 1"),
    (lambda s: s["legs"][1].pop("dialog"), "not a carried leg's state"),
    (lambda s: s["legs"][1].update(invite="garbage"), "not a carried leg's state"),
])
async def test_a_kept_call_that_cannot_go_on_is_refused_and_binds_nothing(
        node: Telephony, change: Any, why: str) -> None:
    port = node.pool.first + 4
    state = {"version": 1, "bridge_id": "br-bad", "interaction_id": "call-1", "legs": [
        leg(node, channel="ch-1", port=port, phone=("127.0.0.1", 40000), call_id="c1"),
        leg(node, channel="ch-2", port=port + 2, phone=("127.0.0.1", 40002), call_id="c2")]}
    change(state)
    with pytest.raises(CarryError, match=why):
        restore_call(node.engine, state, "a", talk)
    assert node.relay.endpoints == 0
    assert node.pool.in_use == 0
    assert not node.engine.channels


async def test_the_keeper_removes_what_it_cannot_carry_on(node: Telephony,
                                                          tmp_path: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}",
                             passwords=Passwords.cheap())
    try:
        good = {"version": 1, "bridge_id": "br-good", "interaction_id": "call-1", "legs": [
            leg(node, channel="ch-1", port=node.pool.first, phone=("127.0.0.1", 40000),
                call_id="c1"),
            leg(node, channel="ch-2", port=node.pool.first + 2,
                phone=("127.0.0.1", 40002), call_id="c2")], "node": "a"}
        bad = {**good, "bridge_id": "br-bad", "version": 0}
        now = MonotonicClock().utcnow()
        await store.live_calls.apply([("br-good", "call-1", good), ("br-bad", "call-2", bad)],
                                     (), now)
        keeper = CallKeeper(store.live_calls, node.engine, MonotonicClock(), talk=talk,
                            node="b")
        node.engine.bridge_changed = keeper.changed  # as the node is put together
        # until the kept calls have their ports back, no new call may take one
        assert keeper.not_ready_reason() == "the calls of the other node are being carried over"
        assert await keeper.restore() == 1
        assert keeper.not_ready_reason() is None
        assert [call.bridge_id for call in await store.live_calls.all()] == ["br-good"]
        await keeper.flush()  # written again as node b's
        (kept,) = await store.live_calls.all()
        assert kept.state["node"] == "b"
        for channel in list(node.engine.channels.values()):
            channel.hangup()
        await keeper.flush()  # ended: no longer kept
        assert await store.live_calls.all() == []
    finally:
        await store.close()


async def test_a_kept_waiting_caller_goes_to_its_owner_and_stays_kept_until_forgotten(
        node: Telephony, tmp_path: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}",
                             passwords=Passwords.cheap())
    caller = udp()
    try:
        port = node.pool.first + 6

        def single(kind: str, key: str, channel: str, offset: int, queue: str
                   ) -> dict[str, Any]:
            return {"version": 1, "kind": kind, "key": key, "interaction_id": f"i-{key}",
                    "node": "a", "details": {"queue": queue},
                    "leg": leg(node, channel=channel, port=port + offset,
                               phone=caller.getsockname(), call_id=f"c-{channel}")}

        states = [single("waiting", "waiting:call-7", "ch-w", 0, "sales"),
                  single("waiting", "waiting:call-8", "ch-r", 2, "closed"),
                  single("parked", "parked:1", "ch-p", 4, "sales")]
        now = MonotonicClock().utcnow()
        await store.live_calls.apply([(s["key"], s["interaction_id"], s) for s in states], (),
                                     now)
        keeper = CallKeeper(store.live_calls, node.engine, MonotonicClock(), talk=talk,
                            node="b")
        resumed: list[tuple[Channel, dict[str, Any], str]] = []

        def resume(channel: Channel, details: Any, from_node: str) -> None:
            if details["queue"] == "closed":
                raise CarryError("no queue 'closed' on this node")
            resumed.append((channel, dict(details), from_node))
            keeper.keep("waiting:call-7", "waiting", channel,
                        lambda: {"queue": "sales", "place": 1})

        keeper.resumers["waiting"] = resume
        assert await keeper.restore() == 1
        ((channel, details, from_node),) = resumed
        assert (channel.id, channel.media.port, details, from_node) == (
            "ch-w", port, {"queue": "sales"}, "a")
        assert channel.is_up
        assert node.engine.by_id["ch-w"] is channel
        # its owner refused one (hung up), nobody here takes the other kind (never bound)
        assert node.engine.by_id["ch-r"].ended
        assert "ch-p" not in node.engine.by_id
        assert [c.bridge_id for c in await store.live_calls.all()] == ["waiting:call-7"]
        await keeper.flush()  # written again as node b's, with what its owner says now
        (kept,) = await store.live_calls.all()
        assert (kept.state["node"], kept.state["details"]) == ("b", {"queue": "sales",
                                                                    "place": 1})
        assert kept.state["leg"]["media"]["port"] == port
        assert keeper.keeps(channel)  # a planned switch-over would leave it up

        node.engine.handed_over = keeper.keeps  # the switch-over began: it stays kept
        keeper.forget("waiting:call-7")
        assert keeper.keeps(channel)
        node.engine.handed_over = None
        keeper.forget("waiting:call-7")  # answered, gone: no longer the keeper's
        assert not keeper.keeps(channel)
        await keeper.flush()
        assert await store.live_calls.all() == []
        channel.hangup()
    finally:
        caller.close()
        await store.close()


async def test_a_kept_call_with_its_owners_details_goes_to_the_owner_or_stays_bridged(
        node: Telephony, tmp_path: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}",
                             passwords=Passwords.cheap())
    try:
        port = node.pool.first + 8

        def kept(bridge_id: str, offset: int, operator: str) -> dict[str, Any]:
            return {"version": 1, "bridge_id": bridge_id, "interaction_id": bridge_id,
                    "node": "a", "center": {"operator": operator}, "legs": [
                        leg(node, channel=f"{bridge_id}-1", port=port + offset,
                            phone=("127.0.0.1", 40000), call_id=f"{bridge_id}-c1"),
                        leg(node, channel=f"{bridge_id}-2", port=port + offset + 2,
                            phone=("127.0.0.1", 40002), call_id=f"{bridge_id}-c2")]}

        now = MonotonicClock().utcnow()
        await store.live_calls.apply([("br-ann", "br-ann", kept("br-ann", 0, "ann")),
                                      ("br-bob", "br-bob", kept("br-bob", 4, "bob"))], (), now)
        keeper = CallKeeper(store.live_calls, node.engine, MonotonicClock(), talk=talk,
                            node="b")
        node.engine.bridge_changed = keeper.changed
        conversations: list[tuple[str, dict[str, Any], str]] = []
        ended = asyncio.Event()

        def converse(bridge: Bridge, first: Channel, second: Channel, details: Any,
                     from_node: str) -> Any:
            if details["operator"] == "bob":
                raise CarryError("operator bob is not free")
            conversations.append((bridge.id, dict(details), from_node))

            async def follow() -> None:
                await talk(bridge, first, second)
                ended.set()
            return follow()

        keeper.converse = converse
        keeper.call_details = lambda bridge: {"operator": "ann", "on": "b"} \
            if bridge.id == "br-ann" else None
        assert await keeper.restore() == 2  # bob's goes on as a bridge of two legs
        assert conversations == [("br-ann", {"operator": "ann"}, "a")]
        await keeper.flush()
        stored = {call.bridge_id: call.state for call in await store.live_calls.all()}
        assert stored["br-ann"]["center"] == {"operator": "ann", "on": "b"}
        assert "center" not in stored["br-bob"]
        for channel in list(node.engine.channels.values()):
            channel.hangup()
        await asyncio.wait_for(ended.wait(), 2)  # the owner's coroutine followed the call
    finally:
        await store.close()


async def test_a_carried_call_whose_phone_sends_nothing_is_ended(node: Telephony) -> None:
    """A caller who hung up just before the takeover (the BYE went to the node that died)
    is still in the store: carried on, its phone sends nothing, and the call is ended
    within the carried silence limit, not the relay's minute."""
    caller, operator = udp(), udp()
    port = node.pool.first + 12
    state = {"version": 1, "bridge_id": "br-gone", "interaction_id": "call-1", "legs": [
        leg(node, channel="ch-gone", port=port, phone=caller.getsockname(), call_id="g1"),
        leg(node, channel="ch-talks", port=port + 2, phone=operator.getsockname(),
            call_id="g2")]}
    bridge = restore_call(node.engine, state, "a", stay_bridged, silence_s=1.0)
    gone, talks = bridge.members
    packet = bytes([0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9]) + bytes(160)
    try:
        for _ in range(100):  # the operator's phone goes on sending; the caller's is gone
            operator.sendto(packet, ("127.0.0.1", port + 2))
            if gone.ended:
                break
            await asyncio.sleep(0.05)
        assert gone.ended
        assert gone.hangup_cause is HangupCause.MEDIA_TIMEOUT
        await asyncio.wait_for(talks.wait_ended(), 2)  # the call ends, both legs
    finally:
        for channel in (gone, talks):
            channel.hangup()
        caller.close()
        operator.close()


def tcp_leg(telephony: Telephony, *, channel: str, port: int, phone: tuple[str, int],
            call_id: str, connection: int, contact: int) -> dict[str, Any]:
    """:func:`leg` of a phone on TCP: reached over its connection from port ``connection``
    (which died with the node the call was kept by), its Contact at port ``contact``."""
    state = leg(telephony, channel=channel, port=port, phone=phone, call_id=call_id)
    invite = parse_message(state["invite"].encode())
    assert isinstance(invite, SipRequest)
    raw = state["invite"].replace(
        str(invite.header("Contact")), f"<sip:1002@127.0.0.1:{contact};transport=tcp>"
    ).replace("SIP/2.0/UDP", "SIP/2.0/TCP")
    invite = parse_message(raw.encode())
    assert isinstance(invite, SipRequest)
    dialog = Dialog.from_request(invite, local_tag=f"tag-{channel}",
                                 local_contact=NameAddr.parse("<sip:parley@127.0.0.1>",
                                                              "Contact"),
                                 local_via=Via("TCP", "127.0.0.1",
                                               telephony.engine.config.port))
    return {**state, "invite": raw, "dialog": dialog.state_of(),
            "peer": ["TCP", "127.0.0.1", connection]}


def closed_port() -> int:
    """A TCP port of loopback nothing listens on (a connection there is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def carried_tcp_call(node: Telephony, port: int, caller: socket.socket,
                     operator: socket.socket, *, connection: int, contact: int) -> Bridge:
    """A call carried on here between ``caller`` (UDP) and a phone on TCP (its media at
    ``operator``, its leg's Call-ID ``phone-call``): :func:`tcp_leg`'s ``connection`` and
    ``contact``; ending one leg ends the call."""
    state = {"version": 1, "bridge_id": "br-tcp", "interaction_id": "call-1", "legs": [
        leg(node, channel="ch-caller", port=port, phone=caller.getsockname(),
            call_id="caller-call"),
        tcp_leg(node, channel="ch-phone", port=port + 2, phone=operator.getsockname(),
                call_id="phone-call", connection=connection, contact=contact)]}
    return restore_call(node.engine, state, "a", stay_bridged)


async def test_a_tcp_phones_carried_call_is_hung_up_where_its_contact_listens(
        node: Telephony) -> None:
    """A phone registered over TCP that listens where its Contact says (as desk phones
    do): its connection died with the node the call was carried from, so the BYE goes over
    a new connection to that address, not to the dead connection's port."""
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def phone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.put_nowait(await reader.read(65536))
        writer.close()

    server = await asyncio.start_server(phone, "127.0.0.1", 0)
    listening = int(server.sockets[0].getsockname()[1])
    caller, operator = udp(), udp()
    bridge = carried_tcp_call(node, node.pool.first + 14, caller, operator,
                              connection=closed_port(), contact=listening)
    first, second = bridge.members
    try:
        first.hangup()  # the caller hangs up: the phone's leg is hung up too
        data = await asyncio.wait_for(received.get(), 5)
        assert data.startswith(b"BYE "), data[:200]
        assert b"Call-ID: phone-call" in data
    finally:
        for channel in (first, second):
            channel.hangup()
        server.close()
        caller.close()
        operator.close()


async def test_a_tcp_phones_carried_call_follows_it_to_its_new_connection(
        node: Telephony) -> None:
    """A phone registered over TCP whose Contact is its connection's own port (libre's
    phones, baresip): nothing listens there once the connection died with the other node.
    When it registers again over a new connection, its carried call's BYE goes over that."""
    caller, operator = udp(), udp()
    dead = closed_port()
    bridge = carried_tcp_call(node, node.pool.first + 16, caller, operator,
                              connection=dead, contact=dead)
    first, second = bridge.members
    client = RawSipClient("127.0.0.1", node.engine.config.port, transport="TCP")
    try:
        async with client:
            answer = await client.authenticated("REGISTER", "1002", "pw1002")
            assert answer.status == 200
            first.hangup()
            for _ in range(50):
                if any(data.startswith(b"BYE ") for data in client.raw):
                    break
                await asyncio.sleep(0.05)
            (bye,) = [data for data in client.raw if data.startswith(b"BYE ")]
            assert b"Call-ID: phone-call" in bye
    finally:
        for channel in (first, second):
            channel.hangup()
        caller.close()
        operator.close()


async def test_a_menu_whose_caller_hangs_up_before_it_listens_ends_quietly(
        node: Telephony) -> None:
    """A carried caller whose BYE (sent during the takeover) reaches the new node just as
    its menu starts again: the menu's prompt is playing, the key listener not yet started.
    The menu ends with no key, as for any caller who hangs up; no error (a traceback each,
    for a takeover's hundreds of such callers, held the new node's loop for seconds)."""
    caller, operator = udp(), udp()
    port = node.pool.first + 6
    state = {"version": 1, "bridge_id": "br-menu", "interaction_id": "call-1", "legs": [
        leg(node, channel="ch-menu", port=port, phone=caller.getsockname(), call_id="m1"),
        leg(node, channel="ch-other", port=port + 2, phone=operator.getsockname(),
            call_id="m2")]}
    bridge = restore_call(node.engine, state, "a", stay_bridged)
    menu_caller, other = bridge.members
    try:
        asking = asyncio.ensure_future(prompt_and_collect(
            menu_caller, [Tone("beep")], max_digits=1, timeout=5.0, inter_digit_timeout=3.0,
            terminators="#"))
        await asyncio.sleep(0)  # the prompt plays; its key listener starts next
        menu_caller.hangup()
        assert await asyncio.wait_for(asking, 2) == ""
    finally:
        for channel in (menu_caller, other):
            channel.hangup()
        caller.close()
        operator.close()


async def test_a_kept_caller_goes_with_its_call_while_that_can_be_carried(
        node: Telephony, tmp_path: Path) -> None:
    """The contact center keeps its caller from the queue to the end of the conversation:
    while the call can be carried whole it goes with it; once it cannot (a supervisor
    listens; a browser's leg) the caller is written on its own, to be put back in line."""
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}",
                             passwords=Passwords.cheap())
    try:
        port = node.pool.first
        state = {"version": 1, "bridge_id": "br-talk", "interaction_id": "call-1", "legs": [
            leg(node, channel="ch-cust", port=port, phone=("127.0.0.1", 40000),
                call_id="t1"),
            leg(node, channel="ch-op", port=port + 2, phone=("127.0.0.1", 40002),
                call_id="t2")]}
        keeper = CallKeeper(store.live_calls, node.engine, MonotonicClock(), talk=talk,
                            node="a")
        node.engine.bridge_changed = keeper.changed
        bridge = restore_call(node.engine, state, "z", talk)
        customer, operator = bridge.members
        keeper.changed(bridge)
        keeper.keep("waiting:call-1", "waiting", customer, lambda: {"queue": "sales"})
        await keeper.flush()
        assert [c.bridge_id for c in await store.live_calls.all()] == ["br-talk"]
        assert keeper.keeps(customer)
        assert keeper.keeps(operator)

        listener = restore_call(node.engine, {**state, "bridge_id": "br-sup", "legs": [
            leg(node, channel="ch-sup", port=port + 4, phone=("127.0.0.1", 40004),
                call_id="t3"),
            leg(node, channel="ch-x", port=port + 6, phone=("127.0.0.1", 40006),
                call_id="t4")]}, "z", talk).members
        supervisor = next(iter(listener))
        bridge.add(supervisor, BridgeRole.LISTEN)  # mixed now: not carriable whole
        await keeper.flush()
        kept = {c.bridge_id: c.state for c in await store.live_calls.all()}
        assert "br-talk" not in kept
        assert kept["waiting:call-1"]["details"] == {"queue": "sales"}
        assert kept["waiting:call-1"]["leg"]["channel_id"] == "ch-cust"
        assert keeper.keeps(customer)  # a switch-over leaves the customer up
        assert not keeper.keeps(operator)

        bridge.remove(supervisor)  # the supervisor leaves: the whole call again
        await keeper.flush()
        assert "waiting:call-1" not in {c.bridge_id for c in await store.live_calls.all()}
        keeper.forget("waiting:call-1")
        for channel in list(node.engine.channels.values()):
            channel.hangup()
        await keeper.flush()
        assert [c.bridge_id for c in await store.live_calls.all()] == []
    finally:
        await store.close()


async def test_a_kept_offer_is_cancelled_by_the_node_taking_over(
        node: Telephony, tmp_path: Path) -> None:
    """A call this node placed rings a phone; kept while it rings, it is cancelled by the
    node that takes over: the same Call-ID, CSeq number and Via branch (RFC 3261 §9.1)."""
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}",
                             passwords=Passwords.cheap())
    phone = udp()
    try:
        host, port = phone.getsockname()
        channel = node.originate(f"sip:2101@{host}:{port}", caller_id="555001", timeout=30)
        invite = parse_message(await asyncio.to_thread(phone.recv, 65536))
        assert isinstance(invite, SipRequest)
        assert invite.method == "INVITE"
        keeper = CallKeeper(store.live_calls, node.engine, MonotonicClock(), talk=talk,
                            node="a")
        keeper.keep_offer(f"offer:{channel.id}", channel)
        await keeper.flush()
        (kept,) = await store.live_calls.all()
        assert kept.state["kind"] == "offer"

        other = CallKeeper(store.live_calls, node.engine, MonotonicClock(), talk=talk,
                           node="b")
        assert await other.restore() == 0  # nothing carried: the offer is cancelled
        cancel = parse_message(await asyncio.to_thread(phone.recv, 65536))
        assert isinstance(cancel, SipRequest)
        assert (cancel.method, cancel.call_id, cancel.cseq.seq, cancel.via.branch) == (
            "CANCEL", invite.call_id, invite.cseq.seq, invite.via.branch)
        assert str(cancel.uri) == str(invite.uri)
        assert await store.live_calls.all() == []  # and no longer kept
        channel.hangup()
    finally:
        phone.close()
        await store.close()


async def test_a_carriers_srtp_leg_goes_on_with_its_keys_past_a_rollover(
        node: Telephony) -> None:
    """A call to a carrier keyed by SDES, both streams past sequence number 65535 (SRTP's
    rollover counter 1) before the takeover: the carried leg decrypts the carrier's next
    packets and encrypts what it sends so that the carrier's own session takes it, on
    from where the other node was; the state says the trunk's srtp mode and both lines."""
    suite = "AES_CM_128_HMAC_SHA1_80"
    ours, theirs = Crypto.fresh(1, suite), Crypto.fresh(1, suite)
    profile = SDES_SUITES[suite][0]
    carrier_tx, carrier_rx = srtp_sessions(theirs.key, ours.key, profile)
    old_tx, _old_rx = srtp_sessions(ours.key, theirs.key, profile)

    def rtp(seq: int, ssrc: int) -> bytes:
        return bytes([0x80, 0]) + (seq & 0xFFFF).to_bytes(2, "big") + \
            (seq * 160 & 0xFFFFFFFF).to_bytes(4, "big") + ssrc.to_bytes(4, "big") + bytes(160)

    for seq in range(65_500, 65_600):  # the other node's call: both ways across 65535
        carrier_rx.unprotect(old_tx.protect(rtp(seq, 0xAAAA)))
        carrier_tx.protect(rtp(seq, 0xC0C0))
    carrier, phone = udp(), udp()
    port = node.pool.first + 6
    carried = leg(node, channel="ch-carrier", port=port, phone=carrier.getsockname(),
                  call_id="s1")
    carried["sdes"] = {"local": ours.attribute(), "remote": theirs.attribute(),
                       "srtp": "require", "sent": [0xAAAA, 65_599, 65_599 * 160],
                       "received": 65_599, "written_at": time.time()}
    state = {"version": 1, "bridge_id": "br-srtp", "interaction_id": "call-1", "legs": [
        carried, leg(node, channel="ch-phone", port=port + 2, phone=phone.getsockname(),
                     call_id="s2")]}
    bridge = restore_call(node.engine, json.loads(json.dumps(state)), "a", talk)
    try:
        first, _second = bridge.members
        assert first.leg.srtp == "require"
        assert first.leg.remote_crypto == theirs
        # the carrier goes on (its next packets, rollover counter 1): the phone hears them
        carrier.sendto(carrier_tx.protect(rtp(65_600, 0xC0C0)), ("127.0.0.1", port))
        heard = await asyncio.to_thread(phone.recv, 2048)
        assert heard[12:] == bytes(160)
        assert int.from_bytes(heard[2:4], "big") == 65_600 & 0xFFFF
        # the phone talks: the carrier's session, at rollover counter 1, takes it
        phone.sendto(rtp(7, 0x1234), ("127.0.0.1", port + 2))
        got = await asyncio.to_thread(carrier.recv, 2048)
        clear = carrier_rx.unprotect(got)
        assert clear[8:12] == (0xAAAA).to_bytes(4, "big")  # the stream the carrier had
        assert clear[12:] == bytes(160)
        again = call_state(bridge)["legs"][0]["sdes"]  # kept again, on from here
        assert (again["local"], again["remote"]) == (ours.attribute(), theirs.attribute())
        assert again["sent"][1] > 65_599  # past what the other node may have sent
        assert again["received"] == 65_600  # the carrier's packet index, not its number
    finally:
        for channel in list(bridge.members):
            channel.hangup()
        carrier.close()
        phone.close()


async def final_answer(phone: RawSipClient, call_id: str, within_s: float) -> SipResponse:
    """The final response to the request ``call_id`` that ``phone`` sent."""
    async with asyncio.timeout(within_s):
        while True:
            response = await phone.replies.get()
            if response.call_id == call_id and response.status >= 200:
                return response


async def test_new_work_coming_while_calls_are_carried_over_waits_for_them(
        node: Telephony, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node that has just taken the lease takes no new call before it has carried the
    other node's calls on (their ports first). A request that comes meanwhile waits and
    is then taken as usual (here: challenged), not refused 503: a caller who dialled at
    the takeover gets through. One still waiting after NEW_WORK_WAIT_S is refused."""
    carried = asyncio.Event()
    node.engine.refusing = lambda: None if carried.is_set() else "calls being carried over"
    node.engine.new_work_waits = lambda: None if carried.is_set() else carried
    async with RawSipClient("127.0.0.1", node.sip_port) as phone:
        first = phone.build("REGISTER", "1001")
        phone.send(first)
        with pytest.raises(TimeoutError):
            await final_answer(phone, first.call_id, 0.5)
        carried.set()
        assert (await final_answer(phone, first.call_id, 2.0)).status == 401

        monkeypatch.setattr(engine_module, "NEW_WORK_WAIT_S", 0.2)
        carried.clear()
        second = phone.build("INVITE", "1001", target="1002")
        phone.send(second)
        refused = await final_answer(phone, second.call_id, 2.0)
        assert refused.status == 503, refused
