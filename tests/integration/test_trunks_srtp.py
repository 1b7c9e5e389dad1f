"""SRTP keyed by SDES (RFC 4568) on a trunk, against a real carrier: baresip on 127.0.0.2 with
its srtp module and SRTP mandatory (``mediaenc=srtp-mand``), bridged by Parley to an operator's
baresip speaking plain RTP. Audio must cross both ways (each side's recording holds the
other's voice), and what the relay sends the carrier must be SRTP, not the PCMU it relays."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from parley.telephony.channel import Channel
from parley.telephony.dialplan import connect
from parley.telephony.server import Telephony
from parley.telephony.trunks import TrunkCall, TrunkConfig
from parley.testing.peers import Baresip, audio_similarity

from .conftest import needs_baresip

pytestmark = [pytest.mark.integration, needs_baresip]

CARRIER = "127.0.0.2"
DID = "84951110000"


def carrier_phone(tmp_path: Path, parley: Telephony, *, answers: bool,
                  user: str = "74957770000") -> Baresip:
    """The carrier: baresip finds the account by the Request-URI's user (the number)."""
    return Baresip(tmp_path / "carrier", user=user, server_port=parley.sip_port,
                   host=CARRIER, register=False, auto_answer=answers, mediaenc="srtp-mand")


def operator(tmp_path: Path, parley: Telephony) -> Baresip:
    return Baresip(tmp_path / "1001", user="1001", password="pw1001",
                   server_port=parley.sip_port, auto_answer=True)


def spy_on_the_wire(channel: Channel) -> list[tuple[bytes, bytes]]:
    """(packet as relayed, packet as sent) for what the relay sends the carrier from now."""
    seen: list[tuple[bytes, bytes]] = []
    protect = channel.media.protect
    assert protect is not None, "the carrier's leg is not keyed for SRTP"

    def spy(packet: bytes, protect: Callable[[bytes], bytes] = protect) -> bytes:
        sent = protect(packet)
        seen.append((packet, sent))
        return sent

    channel.media.protect = spy
    return seen


def carrier_leg(parley: Telephony) -> Channel:
    legs = [channel for channel in parley.channels() if channel.trunk == "carrier"]
    assert len(legs) == 1
    return legs[0]


async def talk(parley: Telephony, carrier: Baresip, phone: Baresip) -> None:
    """Both ends up: four seconds of audio each way, the wire watched; checks after."""
    await carrier.wait_event("CALL_ESTABLISHED", within=10)
    await phone.wait_event("CALL_ESTABLISHED", within=10)
    leg = carrier_leg(parley)
    wire = spy_on_the_wire(leg)
    await asyncio.sleep(4)
    assert leg.media.srtp_errors == 0
    assert leg.media.received_packets > 100  # decrypted and relayed
    assert len(wire) > 100
    for plain, sent in wire[:50]:
        assert plain[12:] != sent[12:len(plain)]  # the payload is encrypted
        assert len(sent) == len(plain) + 10  # AES_CM_128_HMAC_SHA1_80: an 80-bit tag
    await carrier.hangup()
    await phone.wait_event("CALL_CLOSED", within=10)


def assert_heard_both_ways(carrier: Baresip, phone: Baresip) -> None:
    assert carrier.source is not None
    assert phone.source is not None
    assert audio_similarity(phone.received_wav(), carrier.source) > 0.8
    assert audio_similarity(carrier.received_wav(), phone.source) > 0.8


async def test_a_carriers_srtp_call_is_answered_in_srtp_and_heard_both_ways(
        parley: Telephony, tmp_path: Path) -> None:
    async def to_operator(channel: Channel) -> None:
        await connect(channel, parley.originate("1001", caller_id=channel.caller, timeout=5))

    parley.route(DID, to_operator)
    await parley.set_trunks([TrunkConfig("carrier", CARRIER, kind="peer", options_interval=0,
                                         srtp="require")])
    carrier, phone = carrier_phone(tmp_path, parley, answers=False), operator(tmp_path, parley)
    try:
        await phone.start()
        await carrier.start()
        await carrier.dial(f"sip:{DID}@127.0.0.1:{parley.sip_port}")
        await talk(parley, carrier, phone)
    finally:
        await carrier.stop()
        await phone.stop()
    assert_heard_both_ways(carrier, phone)


async def test_a_call_out_through_an_srtp_trunk_offers_srtp_and_is_heard_both_ways(
        parley: Telephony, tmp_path: Path) -> None:
    carrier = carrier_phone(tmp_path, parley, answers=True, user="84951234567")
    phone = operator(tmp_path, parley)

    async def out(channel: Channel) -> None:
        outbound = await parley.dial_out([TrunkCall("carrier", "84951234567")], timeout=5)
        await connect(channel, outbound)

    parley.route("777", out, public=False)
    try:
        await carrier.start()
        await parley.set_trunks([TrunkConfig("carrier", CARRIER, port=carrier.sip_port,
                                             kind="peer", options_interval=0,
                                             srtp="require")])
        await phone.start()
        await phone.dial("777")
        await talk(parley, carrier, phone)
    finally:
        await carrier.stop()
        await phone.stop()
    assert_heard_both_ways(carrier, phone)


async def test_a_trunk_without_srtp_refuses_the_carriers_srtp_offer(
        parley: Telephony, tmp_path: Path) -> None:
    await parley.set_trunks([TrunkConfig("carrier", CARRIER, kind="peer", options_interval=0)])
    carrier = carrier_phone(tmp_path, parley, answers=False)
    try:
        await carrier.start()
        await carrier.dial(f"sip:{DID}@127.0.0.1:{parley.sip_port}")
        closed = await carrier.wait_event("CALL_CLOSED", within=10)
    finally:
        await carrier.stop()
    assert "488" in str(closed)
    assert not parley.channels()
