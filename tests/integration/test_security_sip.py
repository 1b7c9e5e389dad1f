"""The node's locks against what every SIP server on the internet meets, probed over raw SIP
on loopback as an attacker on another machine would: password guessing (banned past the
threshold, the right password refused from the attacking address until the ban ends, a
phone on another address unaffected), user enumeration (one answer for known and unknown
users), spent nonces, unauthenticated calls to outside numbers, and TCP connections that
hoard (idle, trickling, surplus) while the node keeps answering.

127.0.0.1 is the server, 127.0.0.9 the attacker, 127.0.0.2 a phone elsewhere.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from parley.app import security_figures
from parley.clock import MonotonicClock
from parley.events import SecurityEvent
from parley.metrics import MetricsSources, metrics_registry
from parley.net.transport import TcpLimits
from parley.sip.guard import GuardSettings
from parley.telephony.server import Telephony
from parley.telephony.users import demo_directory
from parley.testing.media import sipp_caller, sipp_request
from parley.testing.sipclient import RawSipClient

from .conftest import needs_baresip, needs_sipp, telephony_settings

ATTACKER = "127.0.0.9"
PHONE = "127.0.0.2"
BAN_S = 3.0


@pytest.fixture
async def guarded(tmp_path: object) -> AsyncIterator[tuple[Telephony, list[SecurityEvent]]]:
    events: list[SecurityEvent] = []
    settings = telephony_settings(
        guard=GuardSettings(address_failures=5, user_failures=50, window_s=60.0, ban_s=BAN_S),
        tcp=TcpLimits(first_message_s=1.0, message_s=1.0, idle_s=1.5, max_connections=60,
                      max_per_source=10))
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock(),
                          on_security_event=events.append)
    async with telephony:
        yield telephony, events


def client(parley: Telephony, transport: str, bind: str) -> RawSipClient:
    return RawSipClient("127.0.0.1", parley.sip_port, transport=transport, bind=bind)


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_guessing_is_banned_and_a_phone_elsewhere_keeps_working(
        guarded: tuple[Telephony, list[SecurityEvent]], transport: str) -> None:
    parley, events = guarded
    async with client(parley, transport, ATTACKER) as attacker, \
            client(parley, transport, PHONE) as phone:
        answers = [(await attacker.authenticated("REGISTER", "1001", f"guess{n}")).status
                   for n in range(8)]
        assert answers == [403] * 8  # five wrong answers, then refused unchecked
        assert parley.guard.failures_total == 5
        assert parley.guard.refused_total >= 3
        # The right password from the attacking address is refused while the ban holds...
        assert (await attacker.authenticated("REGISTER", "1001", "pw1001")).status == 403
        # ...even a request without credentials gets no challenge to work on.
        bare = await attacker.request(attacker.build("REGISTER", "1001"))
        assert bare.status == 403
        # A phone on another address registers as the same user at once.
        assert (await phone.authenticated("REGISTER", "1001", "pw1001")).status == 200
        assert [e.kind for e in events] == ["ban"]
        assert events[0].source == ATTACKER
        [ban] = parley.guard.bans()
        assert ban.subject == ATTACKER
        # The failures and the ban are visible to whoever scrapes /metrics.
        scraped = generate_latest(metrics_registry(MetricsSources(
            security=lambda: security_figures(parley)))).decode()
        assert "parley_sip_auth_failures_total 5.0" in scraped
        assert 'parley_sip_bans_in_force{kind="address"} 1.0' in scraped
        assert "parley_sip_bans_total 1.0" in scraped
    await asyncio.sleep(BAN_S + 0.2)  # (the node closes the quiet TCP connections meanwhile)
    async with client(parley, transport, ATTACKER) as again:
        assert (await again.authenticated("REGISTER", "1001", "pw1001")).status == 200


def _normalised(raw: bytes, user: str) -> bytes:
    """A response with what differs per request by design blanked: tags, Call-ID, branch,
    CSeq number, the client's own port, and the user name the request itself carried."""
    text = raw.decode().replace(f"sip:{user}@", "sip:USER@")
    text = re.sub(r"tag=[^;\r\n>]+", "tag=*", text)
    text = re.sub(r"(?im)^(call-id|i):.*$", "Call-ID: *", text)
    text = re.sub(r"branch=[^;\r\n]+", "branch=*", text)
    text = re.sub(r"(?im)^CSeq: \d+", "CSeq: *", text)
    text = re.sub(r"rport=\d+", "rport=*", text)
    text = re.sub(r"(127\.0\.0\.\d+):\d+", r"\1:*", text)
    return text.encode()


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_known_and_unknown_users_get_the_same_answer(
        guarded: tuple[Telephony, list[SecurityEvent]], transport: str) -> None:
    parley, _ = guarded
    async with client(parley, transport, PHONE) as prober:
        for user in ("1002", "7777"):
            before = len(prober.raw)
            response = await prober.authenticated("REGISTER", user, "not-the-password")
            assert response.status == 403
            assert response.reason == "Forbidden"
            assert len(prober.raw) == before + 2  # the 401, then the 403
        known_challenge, known, unknown_challenge, unknown = prober.raw[-4:]
        assert _normalised(known, "1002") == _normalised(unknown, "7777")
        # The challenges differ only in their nonce.
        strip = re.compile(rb'nonce="[^"]+"')
        assert strip.sub(b"", _normalised(known_challenge, "1002")) == \
            strip.sub(b"", _normalised(unknown_challenge, "7777"))


async def test_a_nonce_that_saw_a_wrong_answer_is_spent(
        guarded: tuple[Telephony, list[SecurityEvent]]) -> None:
    parley, _ = guarded
    async with client(parley, "UDP", PHONE) as phone:
        challenge = await phone.request(phone.build("REGISTER", "1003"))
        wrong = await phone.authenticated("REGISTER", "1003", "guess", challenge=challenge)
        assert wrong.status == 403
        again = await phone.authenticated("REGISTER", "1003", "pw1003", challenge=challenge)
        assert again.status == 401  # spent: a fresh challenge, not a verdict
        assert (await phone.authenticated("REGISTER", "1003", "pw1003",
                                          challenge=again)).status == 200


OFFER = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n"
         b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
OUTSIDE_SPELLINGS = ["+442071234567", "00442071234567", "011442071234567", "9011442071234567",
                     "0442071234567", "%2B442071234567", "+1-415-555-0100", "*67+14155550100",
                     "1001+442071234567", "442071234567#", "tel-+44207", "0"]


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_unauthenticated_calls_to_outside_numbers_are_refused(
        guarded: tuple[Telephony, list[SecurityEvent]], transport: str) -> None:
    parley, _ = guarded
    async with client(parley, transport, ATTACKER) as attacker:
        for number in OUTSIDE_SPELLINGS:
            invite = attacker.build("INVITE", "anonymous", target=number, body=OFFER)
            response = await attacker.request(invite)
            assert response.status in (401, 403), (number, response.status)
            if response.status == 401:  # the ACK of a failed INVITE
                attacker.send(attacker.build("ACK", "anonymous", target=number,
                                             call_id=invite.call_id))
    assert not parley.engine.active_channels
    assert parley.engine.stats.calls == 0


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(65536), seconds)
    except TimeoutError:
        return False
    except ConnectionError:
        return True  # reset: closed by the node
    return data == b""


async def _still_answers(parley: Telephony) -> None:
    """OPTIONS over UDP and over TCP from the phone's address get 200 OK."""
    for transport in ("UDP", "TCP"):
        async with client(parley, transport, PHONE) as phone:
            response = await phone.request(phone.build("OPTIONS", "1004", target="1004"),
                                           wait_s=3.0)
            assert response.status == 200, transport


async def test_idle_and_trickling_tcp_connections_are_closed_on_time(
        guarded: tuple[Telephony, list[SecurityEvent]]) -> None:
    parley, _ = guarded
    loop = asyncio.get_running_loop()
    port = parley.sip_port
    idle = [await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
            for _ in range(4)]
    trickle_reader, trickle_writer = await asyncio.open_connection(
        "127.0.0.1", port, local_addr=(ATTACKER, 0))
    message = bytes(client(parley, "TCP", ATTACKER).build("OPTIONS", "1", target="1"))
    started = loop.time()

    async def trickle() -> None:
        for byte in message[:40]:
            trickle_writer.write(bytes([byte]))
            await asyncio.sleep(0.1)  # ten bytes a second: never a whole message in time

    trickling = loop.create_task(trickle())
    await asyncio.sleep(0.3)
    await _still_answers(parley)  # served meanwhile
    assert parley.transport.tcp_connections >= 5
    closed = await asyncio.gather(*(_closed_within(reader, 3.0) for reader, _ in idle),
                                  _closed_within(trickle_reader, 3.0))
    elapsed = loop.time() - started
    assert all(closed)
    assert elapsed < 2.5  # first_message_s and message_s are 1 s
    trickling.cancel()
    for _, writer in [*idle, (trickle_reader, trickle_writer)]:
        writer.close()
    assert parley.transport.tcp_closed_slow >= 5

    # A connection that delivered a message and then went quiet is closed after idle_s.
    async with client(parley, "TCP", PHONE) as phone:
        response = await phone.request(phone.build("OPTIONS", "1004", target="1004"))
        assert response.status == 200
        assert phone._reader_task is not None
        await asyncio.wait_for(asyncio.shield(phone._reader_task), 3.0)  # EOF from the node
    assert parley.transport.tcp_closed_idle == 1
    await _still_answers(parley)


async def test_surplus_tcp_connections_are_refused_at_once(
        guarded: tuple[Telephony, list[SecurityEvent]]) -> None:
    parley, _ = guarded
    port = parley.sip_port
    held = [await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
            for _ in range(25)]
    await asyncio.sleep(0.2)
    closed = await asyncio.gather(*(_closed_within(reader, 0.3) for reader, _ in held))
    assert sum(closed) == 15  # the cap is ten per address
    assert parley.transport.tcp_refused == 15
    await _still_answers(parley)  # another address is not held to the attacker's cap
    # The overall cap (60): other "addresses" fill it; the next is refused too.
    more = []
    for n in range(60):
        more.append(await asyncio.open_connection("127.0.0.1", port,
                                                  local_addr=(f"127.0.1.{n % 6 + 1}", 0)))
    await asyncio.sleep(0.2)
    refused = await asyncio.gather(*(_closed_within(reader, 0.3) for reader, _ in more))
    assert sum(refused) == 10  # 10 held by the attacker + 50 here = 60
    for _, writer in held + more:
        writer.close()
    await asyncio.sleep(1.3)  # the rest are closed by first_message_s
    assert parley.transport.tcp_connections == 0
    await _still_answers(parley)


# --- an outside caller's REFER ------------------------------------------------------------

#: A caller from outside (ANI 5550199) answered by an operator, then trying to transfer the
#: call to an international number by REFER (403 expected), then hanging up.
OUTSIDE_CALLER_REFER = sipp_caller(
    '  <pause milliseconds="6000"/>\n'
    + sipp_request("REFER", 2, headers="Refer-To: <sip:00442071234567@[remote_ip]:[remote_port]>",
                   expect=403)
    + '  <pause milliseconds="1000"/>\n',
    requests_before_bye=1).replace("sip:sipp@", "sip:5550199@")


@needs_sipp
@needs_baresip
async def test_an_outside_callers_refer_is_refused(tmp_path: Path) -> None:
    """A caller from outside (no SIP password) reaches the support queue (602), operator
    1001 answers, and the caller's REFER to an international number gets 403: the call stays
    with the operator, nobody is dialled, and the attempt is in the audit log."""
    from .inbound_node import call_record, demo_node, dial, operator

    scenario = tmp_path / "refer.xml"
    scenario.write_text(OUTSIDE_CALLER_REFER)
    async with demo_node(tmp_path) as node:
        phone = operator(node, tmp_path, "1001")
        await phone.start()
        try:
            caller = await dial(node, tmp_path, "602", scenario)
            await phone.wait_event("CALL_ESTABLISHED", within=20)
            result = await caller.wait(within=40)
            assert result.ok, result.log  # the REFER got 403, the BYE 200
            await phone.wait_event("CALL_CLOSED", within=10)
        finally:
            await phone.stop()
        record = await call_record(node, number="602")
        assert record.operator == "1001"
        assert "transferred" not in [entry.kind for entry in record.timeline]
        assert all("0044" not in leg.endpoint for leg in record.legs)
        for _ in range(50):
            page = await node.store.audit.list(target_type="security")
            if page.items:
                break
            await asyncio.sleep(0.1)
        [entry] = page.items
        assert entry.action == "toll_fraud"
        assert entry.detail["number"] == "REFER to 00442071234567"
