"""Inbound calls end to end through the demo node: the IVR at 600, queues, operators on
baresip phones, no-answer redirection, callbacks, voicemail, REFER transfers and the
blacklist, each checked against the stored call record."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from parley.app import Node
from parley.center.live import LiveCenter
from parley.events import AgentLogin, AgentNotReady, AgentReady
from parley.media.analysis import find
from parley.media.audio import decode_wav, to_telephony
from parley.store.specs import NumberListSpec, QueueSpec
from parley.telephony.flac import read_recording
from parley.testing.media import SIPP_AWAIT_BYE, sipp_answer
from parley.testing.needs import HOLD_MUSIC, STOCK_PROMPTS, needs
from parley.testing.peers import Sipp, audio_similarity

from .conftest import needs_baresip, needs_sipp
from .inbound_node import call_record, caller_scenario, change, demo_node, dial, operator

pytestmark = needs(STOCK_PROMPTS, HOLD_MUSIC)  # the IVR, queue announcements, voicemail
LIMIT = ("-timeout", "90s", "-timeout_error")  # no sipp outlives a failed test


def kinds(record: object) -> list[str]:
    return [entry.kind for entry in record.timeline]  # type: ignore[attr-defined]


def load(path: Path) -> np.ndarray:
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


def file_bytes(path: Path) -> bytes:
    return path.read_bytes()


def read_stereo(path: Path) -> np.ndarray:
    """A stored recording's samples (a FLAC once compressed, else the WAV)."""
    return read_recording(path)[0]


@needs_sipp
@needs_baresip
async def test_caller_presses_2_and_talks_with_support_operator_1001(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from parley.telephony.flac import Compressor

    # what the WAV held when the compressor took it (it is gone once the FLAC is committed)
    replaced: dict[str, np.ndarray] = {}
    compress = Compressor.compress

    def keeping_the_wav(self: Compressor, wav: Path, *args: Any, **kwargs: Any) -> Any:
        replaced[wav.stem] = read_recording(wav)[0]
        return compress(self, wav, *args, **kwargs)

    monkeypatch.setattr(Compressor, "compress", keeping_the_wav)
    async with demo_node(tmp_path) as node:
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={"recording": "all"}))
        phone = operator(node, tmp_path, "1001")
        await phone.start()
        try:
            # registering made 1001 ready (the demo's ready_on_register)
            for _ in range(50):
                if node.center.shell.acd.agents["1001"].state == "ready":
                    break
                await asyncio.sleep(0.1)
            assert node.center.shell.acd.agents["1001"].state == "ready"
            scenario, sent = caller_scenario(tmp_path, digits="2", talk_s=8.0)
            caller = await dial(node, tmp_path, "600", scenario)
            established = await phone.wait_event("CALL_ESTABLISHED", within=20)
            assert established is not None
            result = await caller.wait(within=40)
            assert result.ok, result.log
            await phone.wait_event("CALL_CLOSED", within=10)
        finally:
            await phone.stop()
        record = await call_record(node, number="600")
        await node.recording_files.settled()  # the finished recording is compressed
        recordings = (await node.store.recordings.list(interaction_id=record.id)).items
        assert len(recordings) == 1
        assert node.demo_login is not None
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as api:
            login = await api.post("/api/auth/login", json={
                "username": node.demo_login.username, "password": node.demo_login.password})
            assert login.status_code == 200, login.text
            listed = (await api.get("/api/recordings",
                                    params={"interaction_id": record.id})).json()["items"]
            audio = await api.get(f"/api/recordings/{recordings[0].id}/audio")
            rest = await api.get(f"/api/recordings/{recordings[0].id}/audio",
                                 headers={"Range": "bytes=1000-"})
    # the operator heard the caller
    assert audio_similarity(phone.received_wav(), sent) > 0.5
    assert record.queue == "support"
    assert record.operator == "1001"
    assert record.outcome == "answered"
    assert record.answered_at is not None
    assert record.wait_s is not None
    assert record.talk_s is not None
    assert record.talk_s > 4
    timeline = kinds(record)
    for expected in ("entered flow", "menu choice", "queued", "offered", "answered",
                     "hung up", "ended"):
        assert expected in timeline, timeline
    assert [entry.detail["by"] for entry in record.timeline if entry.kind == "hung up"] == [
        "caller"]
    assert timeline.index("menu choice") < timeline.index("queued") \
        < timeline.index("offered") < timeline.index("answered")
    assert [leg.endpoint for leg in record.legs][1:] == ["1001"]
    # the stereo recording, compressed once the call ended: a FLAC with the very samples of
    # the WAV it replaced (which is gone), served as audio/flac, byte ranges too
    stored = Path(recordings[0].path)
    assert stored.suffix == ".flac"
    assert not stored.with_suffix(".wav").exists()
    assert recordings[0].media_type == "audio/flac"
    stored_bytes = file_bytes(stored)
    assert recordings[0].size_bytes == len(stored_bytes)
    assert listed[0]["size_bytes"] == recordings[0].size_bytes
    stereo, rate = read_recording(stored)
    assert rate == 8000
    assert stereo.shape == replaced[stored.stem].shape  # the same length, both channels
    assert np.array_equal(stereo, replaced[stored.stem])  # and the same samples
    assert abs(len(stereo) - recordings[0].duration_s * 8000) <= 8
    assert recordings[0].size_bytes < 0.9 * stereo.nbytes  # smaller even for pure noise
    assert audio.status_code == 200, audio.text
    assert audio.headers["content-type"] == "audio/flac"
    assert audio.content == stored_bytes
    assert rest.status_code == 206
    assert rest.content == stored_bytes[1000:]
    # the caller on the left, the operator (1001's phone) on the right
    assert stereo.shape[1] == 2
    assert len(stereo) > 8000 * 5
    assert phone.source is not None
    assert find(stereo[8000:8000 * 3, 1], load(phone.source)).correlation > 0.8  # operator
    assert find(stereo[8000:8000 * 3, 0], load(sent)).correlation > 0.8  # caller


@needs_sipp
@needs_baresip
async def test_operator_1002_does_not_answer_and_the_call_moves_on_to_1003(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={"ring_timeout_s": 3}))
        silent = operator(node, tmp_path, "1002", auto_answer=False)
        answering = operator(node, tmp_path, "1003")
        await silent.start()
        await asyncio.sleep(1.5)  # 1002 has waited longest: the first choice
        await answering.start()
        try:
            scenario, _ = caller_scenario(tmp_path, talk_s=7.0)
            caller = await dial(node, tmp_path, "602", scenario)
            await silent.wait_event("CALL_INCOMING", within=15)
            await answering.wait_event("CALL_ESTABLISHED", within=20)
            result = await caller.wait(within=40)
            assert result.ok, result.log
        finally:
            await silent.stop()
            await answering.stop()
        record = await call_record(node, number="602")
    assert record.operator == "1003"
    assert record.outcome == "answered"
    timeline = [(entry.kind, entry.detail.get("operator")) for entry in record.timeline]
    assert ("offered", "1002") in timeline
    assert ("not answered", "1002") in timeline
    assert timeline.index(("not answered", "1002")) < timeline.index(("offered", "1003")) \
        < timeline.index(("answered", "1003"))


@needs_sipp
async def test_a_blacklisted_caller_is_rejected(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        await change(node, "number_lists", NumberListSpec(name="blacklist", kind="block",
                                                          numbers=["5550100"]))
        scenario, _ = caller_scenario(tmp_path, ani="5550100", talk_s=1.0)
        caller = await dial(node, tmp_path, "600", scenario)
        result = await caller.wait(within=20)
        assert not result.ok  # the INVITE got a final failure instead of 200
        assert result.failed == 1
        record = await call_record(node, number="5550100")
    assert record.answered_at is None
    assert record.outcome == "rejected"
    assert [entry.detail["by"] for entry in record.timeline if entry.kind == "hung up"] == [
        "parley"]
    assert "rejected" in kinds(record)
    assert record.legs[0].hangup_cause in (17, 21)


@needs_sipp
async def test_a_voicemail_is_left_at_800_and_stored(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        scenario, sent = caller_scenario(tmp_path, talk_s=11.0, ani="5550177")
        caller = await dial(node, tmp_path, "800", scenario)
        result = await caller.wait(within=40)
        assert result.ok, result.log
        record = await call_record(node, number="5550177")
        for _ in range(50):  # who hung up comes just after the caller's leg closed the record
            if "hung up" in kinds(record):
                break
            await asyncio.sleep(0.1)
            record = await node.store.interactions.get(record.id)
        await node.recording_files.settled()
        messages = await node.store.voicemails.list("general")
    assert record.outcome == "voicemail"
    assert "voicemail" in kinds(record)
    assert [entry.detail["by"] for entry in record.timeline if entry.kind == "hung up"] == [
        "caller"]
    assert len(messages) == 1
    message = messages[0]
    assert message.caller == "5550177"
    assert abs((message.received_at - record.ended_at).total_seconds()) < 5
    assert message.duration_s > 3
    stored = read_stereo(Path(message.path))
    assert Path(message.path).parent.name == "general"
    assert Path(message.path).suffix == ".flac"  # compressed once left
    # the end of the message is the caller's noise
    assert find(stored[-8000 * 3:-8000, 0], load(sent)).correlation > 0.8


@needs_sipp
async def test_a_voicemail_left_at_800_is_downloaded_through_the_api(tmp_path: Path) -> None:
    import httpx

    async with demo_node(tmp_path) as node:
        assert node.demo_login is not None
        scenario, sent = caller_scenario(tmp_path, talk_s=11.0, ani="5550188")
        caller = await dial(node, tmp_path, "800", scenario)
        result = await caller.wait(within=40)
        assert result.ok, result.log
        await call_record(node, number="5550188")
        await node.recording_files.settled()
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as api:
            assert (await api.get("/api/voicemails")).status_code == 401
            login = await api.post("/api/auth/login", json={
                "username": node.demo_login.username,
                "password": node.demo_login.password})
            assert login.status_code == 200, login.text
            [message] = (await api.get("/api/voicemails",
                                       params={"mailbox": "general"})).json()
            assert message["caller"] == "5550188"
            audio = await api.get(f"/api/voicemails/{message['id']}/audio")
    assert audio.status_code == 200, audio.text
    assert audio.headers["content-type"] == "audio/flac"  # compressed once left
    assert message["size_bytes"] == len(audio.content)
    downloaded = tmp_path / "downloaded.flac"
    downloaded.write_bytes(audio.content)
    heard, rate = read_recording(downloaded)
    seconds = len(heard) / rate
    assert 3 < seconds < 11  # the caller's 11 s less the greeting and beep
    assert abs(seconds - message["duration_s"]) < 0.5
    # the end of the message is the noise the caller sent
    assert find(heard[-8000 * 3:-8000, 0], load(sent)).correlation > 0.8


@needs_sipp
@needs_baresip
async def test_caller_asks_for_a_callback_then_parley_calls_operator_then_caller(
        tmp_path: Path) -> None:
    from parley.store.specs import DeviceSpec
    from parley.testing.media import sipp_answerer
    from parley.testing.ports import free_port

    async with demo_node(tmp_path) as node:
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={
            "callback_offer_s": 5, "announce_every_s": 0}))
        # the customer's line: a phone at a fixed address, reachable for the callback
        customer_port, customer_rtp = free_port(), free_port()
        await change(node, "devices", DeviceSpec(
            name="5550123", sip_password="pw5550123",
            static_contact=f"sip:5550123@127.0.0.1:{customer_port}"))
        answer_scenario = tmp_path / "customer.xml"
        answer_scenario.write_text(sipp_answerer(customer_rtp))
        customer_phone = Sipp(tmp_path / "customer", answer_scenario, port=customer_port,
                              calls=1, extra=LIMIT)
        await customer_phone.start()
        try:
            # nobody serves support: the expected wait is long, the callback is offered
            scenario, _ = caller_scenario(tmp_path, digits="1", ani="5550123", talk_s=1.0,
                                          before_digits_ms=6000, parley_hangs_up=True)
            caller = await dial(node, tmp_path, "602", scenario)
            result = await caller.wait(within=40)
            assert result.ok, result.log  # Parley said thank you and hung up
            first = await call_record(node, number="5550123")
            assert first.outcome == "callback"
            assert "callback requested" in kinds(first)
            assert any(call.callback for call in node.center.shell.calls.values())
            # an operator becomes free: Parley rings the operator first, then the customer
            phone = operator(node, tmp_path, "1004")
            await phone.start()
            try:
                for _ in range(200):
                    if node.center.shell.acd.agents["1004"].state == "on_call":
                        break
                    await asyncio.sleep(0.1)
                assert node.center.shell.acd.agents["1004"].state == "on_call"
                await asyncio.sleep(2)
                # the operator ends the conversation: the customer's line is hung up too
                operator_leg = next(channel for channel in node.telephony.channels()
                                    if channel.called == "1004")
                operator_leg.hangup()
            finally:
                await phone.stop()
            done = await customer_phone.wait(within=15)
            assert done.ok, done.log
        finally:
            await customer_phone.stop()
        callback = await call_record(node, number="5550123", operator="1004")
        [stored] = await node.store.callbacks.list(queue="support")
    assert (stored.number, stored.requested_by, stored.status, stored.attempts) == (
        "5550123", "caller", "done", 1)
    assert callback.id.startswith(f"{stored.id}-cb-")  # one record per attempt
    assert callback.outcome == "answered"
    assert [leg.endpoint for leg in callback.legs] == ["1004", "5550123"]
    assert callback.legs[0].answered_at is not None
    assert callback.legs[1].answered_at is not None
    # the operator answered before the customer was dialled
    assert callback.legs[0].answered_at <= callback.legs[1].started_at
    timeline = kinds(callback)
    assert timeline.index("callback dialling operator") \
        < timeline.index("callback dialling customer")


@needs_sipp
@needs_baresip
async def test_operator_1001_transfers_by_refer_to_sales_and_1006_gets_the_same_call(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        support_phone = operator(node, tmp_path, "1001")
        sales_phone = operator(node, tmp_path, "1006")
        await support_phone.start()
        await sales_phone.start()
        try:
            scenario, sent = caller_scenario(tmp_path, talk_s=9.0)
            caller = await dial(node, tmp_path, "602", scenario)
            await support_phone.wait_event("CALL_ESTABLISHED", within=20)
            await asyncio.sleep(1.5)
            await support_phone.command("transfer", "601")
            closed = await support_phone.wait_event("CALL_CLOSED", within=15)
            assert "transfer" in closed.param.lower()
            await sales_phone.wait_event("CALL_ESTABLISHED", within=20)
            result = await caller.wait(within=40)
            assert result.ok, result.log
            await sales_phone.wait_event("CALL_CLOSED", within=10)
        finally:
            await support_phone.stop()
            await sales_phone.stop()
        record = await call_record(node, number="602")
    assert [leg.endpoint for leg in record.legs][1:] == ["1001", "1006"]
    assert record.operator == "1006"
    assert record.outcome == "answered"
    timeline = [(entry.kind, entry.detail) for entry in record.timeline]
    transferred = [detail for kind, detail in timeline if kind == "transferred"
                   and detail.get("to") == "601"]
    assert transferred
    assert transferred[0]["by"] == "1001"
    queues = [detail.get("queue") for kind, detail in timeline if kind == "queued"]
    assert queues == ["support", "sales"]
    # the sales operator heard the caller after the transfer
    assert audio_similarity(sales_phone.received_wav(), sent) > 0.5


def _operator_phone_scenario(rtp_port: int, parley_port: int) -> str:
    """Operator 1001's phone for an attended transfer: answers the queue's call, waits for
    the test to say which consultation call to join (a MESSAGE in the call carrying the
    Replaces value), then sends REFER with Replaces, takes the NOTIFYs and Parley's BYE."""
    ok = """SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="operator attended transfer">
  <recv request="INVITE"><action>
    <ereg regexp="^.*$" search_in="hdr" header="From:" check_it="true" assign_to="them" />
    <ereg regexp="&lt;(sip:[^&gt;]*)&gt;" search_in="hdr" header="Contact:" check_it="true"
          assign_to="junk,contact" />
  </action></recv>
{sipp_answer(rtp_port, user="1001")}  <recv request="ACK" />
  <recv request="MESSAGE"><action>
    <ereg regexp="[^ ]+" search_in="body" check_it="true" assign_to="replaces" />
  </action></recv>
  <send><![CDATA[
{ok}
]]></send>
  <send retrans="500"><![CDATA[
REFER [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:1001@[local_ip]:[local_port]>;tag=[pid]media[call_number]
To: [$them]
Call-ID: [call_id]
CSeq: 1 REFER
Contact: <sip:1001@[local_ip]:[local_port]>
Refer-To: <sip:1006@127.0.0.1:{parley_port}?Replaces=[$replaces]>
Referred-By: <sip:1001@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="202" />
  <recv request="NOTIFY" />
  <send><![CDATA[
{ok}
]]></send>
  <recv request="NOTIFY" />
  <send><![CDATA[
{ok}
]]></send>
{SIPP_AWAIT_BYE}  <Reference variables="junk" />
</scenario>
"""


def _consultation_scenario() -> str:
    """Operator 1001's second line: calls 1006 (digest as 1001) and stays until Parley ends
    the consultation (BYE) once the customer is joined to 1006."""
    head = """Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:1001@[remote_ip]:[remote_port]>;tag=consult[call_number]
To: <sip:1006@[remote_ip]:[remote_port]>
Call-ID: [call_id]
Contact: <sip:1001@[local_ip]:[local_port]>
Max-Forwards: 70"""
    sdp = """v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="consultation">
  <send retrans="500"><![CDATA[
INVITE sip:1006@[remote_ip]:[remote_port] SIP/2.0
{head}
CSeq: 1 INVITE
Content-Type: application/sdp
Content-Length: [len]

{sdp}]]></send>
  <recv response="100" optional="true" />
  <recv response="401" auth="true" />
  <send><![CDATA[
ACK sip:1006@[remote_ip]:[remote_port] SIP/2.0
{head}
CSeq: 1 ACK
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
INVITE sip:1006@[remote_ip]:[remote_port] SIP/2.0
{head}
CSeq: 2 INVITE
[authentication username=1001 password=pw1001]
Content-Type: application/sdp
Content-Length: [len]

{sdp}]]></send>
  <recv response="100" optional="true" />
  <recv response="180" optional="true" />
  <recv response="200" rrs="true" />
  <send><![CDATA[
ACK sip:1006@[remote_ip]:[remote_port] SIP/2.0
{head.replace("To: <sip:1006@[remote_ip]:[remote_port]>", "[last_To:]")}
CSeq: 2 ACK
Content-Length: 0

]]></send>
{SIPP_AWAIT_BYE}</scenario>
"""


@needs_sipp
@needs_baresip
async def test_attended_transfer_joins_the_customer_to_the_consulted_operator(
        tmp_path: Path) -> None:
    import socket
    from urllib.parse import quote

    from parley.events import Direction
    from parley.store.specs import DeviceSpec
    from parley.testing.ports import free_port

    async with demo_node(tmp_path) as node:
        phone_port, phone_rtp, consult_port = free_port(), free_port(), free_port()
        await change(node, "devices", DeviceSpec(
            name="1001", user="1001", sip_password="pw1001",
            static_contact=f"sip:1001@127.0.0.1:{phone_port}"))
        scenario_file = tmp_path / "operator.xml"
        scenario_file.write_text(_operator_phone_scenario(phone_rtp, node.telephony.sip_port))
        operator_phone = Sipp(tmp_path / "op", scenario_file, port=phone_port, calls=1,
                              extra=LIMIT)
        consulted = operator(node, tmp_path, "1006")
        await operator_phone.start()
        await consulted.start()
        consult_file = tmp_path / "consult.xml"
        consult_file.write_text(_consultation_scenario())
        consultation = Sipp(tmp_path / "consult", consult_file, port=consult_port, calls=1,
                            target=f"127.0.0.1:{node.telephony.sip_port}", service="1006",
                            extra=(*LIMIT, "-cid_str", "consult-%u-%p@%s"))
        try:
            scenario, sent = caller_scenario(tmp_path, talk_s=9.0)
            caller = await dial(node, tmp_path, "602", scenario)
            for _ in range(100):  # the customer reaches 1001 (its phone answers at once)
                if node.center.shell.acd.agents["1001"].state == "on_call":
                    break
                await asyncio.sleep(0.1)
            assert node.center.shell.acd.agents["1001"].state == "on_call"
            await consultation.start()  # 1001 consults 1006 on a second line
            await consulted.wait_event("CALL_ESTABLISHED", within=15)
            channels = node.telephony.channels()
            consult_leg = next(c for c in channels if c.call_id.startswith("consult-"))
            operator_leg = next(c for c in channels if c.direction is Direction.OUTBOUND
                                and c.called == "1001")
            replaces = quote(f"{consult_leg.call_id};to-tag={consult_leg.local_tag};"
                             f"from-tag={consult_leg.remote_tag}", safe="")
            # tell the phone which call to join (in its dialog with Parley, by Call-ID)
            trigger = (f"MESSAGE sip:1001@127.0.0.1:{phone_port} SIP/2.0\r\n"
                       f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKtest1\r\n"
                       f"From: <sip:test@127.0.0.1>;tag=t1\r\nTo: <sip:1001@127.0.0.1>\r\n"
                       f"Call-ID: {operator_leg.call_id}\r\nCSeq: 1 MESSAGE\r\n"
                       f"Content-Type: text/plain\r\nContent-Length: {len(replaces)}\r\n\r\n"
                       f"{replaces}")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(trigger.encode(), ("127.0.0.1", phone_port))
            done = await operator_phone.wait(within=20)
            assert done.ok, done.log  # REFER 202, NOTIFY 100 and 200, BYE
            ended = await consultation.wait(within=10)
            assert ended.ok, ended.log  # the consultation leg was ended by Parley
            result = await caller.wait(within=40)
            assert result.ok, result.log
            await consulted.wait_event("CALL_CLOSED", within=10)
        finally:
            await consulted.stop()
            await operator_phone.stop()
            await consultation.stop()
        record = await call_record(node, number="602")
    assert record.operator == "1006"
    transferred = [entry.detail for entry in record.timeline if entry.kind == "transferred"]
    assert transferred
    assert transferred[0]["attended"] is True
    assert transferred[0]["to"] == "1006"
    # 1006's desk was told to take the customer's card and script (ConsultationChanged)
    assert [entry.detail["with"] for entry in record.timeline
            if entry.kind == "consultation transferred"] == ["1006"]
    # after the transfer the consulted operator heard the customer
    assert audio_similarity(consulted.received_wav(), sent) > 0.5


@needs_sipp
@needs_baresip
async def test_an_operator_records_on_demand_through_the_api(tmp_path: Path) -> None:
    import httpx

    from parley.store.specs import UserSpec

    async with demo_node(tmp_path) as node:
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={"recording": "on_demand"}))
        user = await node.store.config.get("users", "1001")
        assert isinstance(user, UserSpec)
        await node.store.config.put("users", user.model_copy(
            update={"password": "secret-1001", "password_hash": None}))
        phone = operator(node, tmp_path, "1001")
        await phone.start()
        try:
            scenario, sent = caller_scenario(tmp_path, talk_s=9.0)
            caller = await dial(node, tmp_path, "602", scenario)
            await phone.wait_event("CALL_ESTABLISHED", within=20)
            async with httpx.AsyncClient(base_url=node.url, timeout=10) as api:
                login = await api.post("/api/auth/login", json={"username": "1001",
                                                                "password": "secret-1001"})
                assert login.status_code == 200, login.text
                api.headers["X-CSRF-Token"] = login.json()["csrf_token"]
                [call] = (await api.get("/api/live/calls")).json()
                url = f"/api/live/calls/{call['id']}/recording"
                started = await api.put(url, json={"recording": True})
                assert started.status_code == 200, started.text
                assert started.json()["recording_id"]
                await asyncio.sleep(4)
                stopped = await api.put(url, json={"recording": False})
                assert stopped.json() == {"recording": False, "recording_id": None}
            result = await caller.wait(within=40)
            assert result.ok, result.log
        finally:
            await phone.stop()
        record = await call_record(node, number="602")
        await node.recording_files.settled()
        recordings = (await node.store.recordings.list(interaction_id=record.id)).items
    assert len(recordings) == 1
    assert 3 < recordings[0].duration_s < 6  # only the part asked for
    assert "recording started" in kinds(record)
    assert "recording stopped" in kinds(record)
    stereo = read_stereo(Path(recordings[0].path))
    assert find(stereo[4000:8000 * 2, 0], load(sent)).correlation > 0.8


async def test_callbacks_requested_through_the_api_survive_a_restart_and_can_be_cancelled(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    import httpx

    async def admin(node: Node) -> httpx.AsyncClient:
        assert node.demo_login is not None
        client = httpx.AsyncClient(base_url=node.url, timeout=10)
        login = await client.post("/api/auth/login", json={
            "username": node.demo_login.username, "password": node.demo_login.password})
        assert login.status_code == 200, login.text
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        return client

    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    async with demo_node(tmp_path) as node:
        api = await admin(node)
        try:
            kept = (await api.post("/api/callbacks", json={
                "number": "5550123", "queue": "support", "due_at": later})).json()
            dropped = (await api.post("/api/callbacks", json={
                "number": "5550124", "queue": "support", "due_at": later})).json()
            for _ in range(50):
                if {kept["id"], dropped["id"]} <= set(node.center.shell.acd.calls):
                    break
                await asyncio.sleep(0.1)
            assert {kept["id"], dropped["id"]} <= set(node.center.shell.acd.calls)
            cancelled = await api.post(f"/api/callbacks/{dropped['id']}/cancel")
            assert cancelled.json()["status"] == "cancelled"
            for _ in range(50):
                if dropped["id"] not in node.center.shell.acd.calls:
                    break
                await asyncio.sleep(0.1)
            assert dropped["id"] not in node.center.shell.acd.calls
        finally:
            await api.aclose()
    # the node stops and starts again on the same data: the pending callback is still due
    async with demo_node(tmp_path) as node:
        for _ in range(50):
            if kept["id"] in node.center.shell.acd.calls:
                break
            await asyncio.sleep(0.1)
        assert kept["id"] in node.center.shell.acd.calls
        assert dropped["id"] not in node.center.shell.acd.calls
        assert node.center.shell.acd.calls[kept["id"]].number == "5550123"


@needs_sipp
@needs_baresip
async def test_an_operator_on_a_personal_call_is_not_ready_until_it_ends(tmp_path: Path) -> None:
    """1001 calls colleague 1002 on their extensions: both are not ready ("personal call")
    while it lasts (1001 pressing Ready changes nothing), so a caller for support goes to
    1003 without either of them being tried; when they hang up, 1001 is ready again and 1002,
    who chose a break meanwhile, stays on it."""
    async with demo_node(tmp_path) as node:
        acd = node.dialer.acd.acd
        talking = operator(node, tmp_path, "1001")  # waited longest: the ACD's first choice
        colleague = operator(node, tmp_path, "1002")
        free = operator(node, tmp_path, "1003")
        for phone in (talking, colleague):
            await phone.start()
        await asyncio.sleep(1.0)
        await free.start()
        try:
            await talking.dial("1002")  # 1001 and 1002 talk on their extensions
            await colleague.wait_event("CALL_ESTABLISHED", within=10)
            live = LiveCenter(node.center)
            await live.operator_event(AgentReady("1001"))
            during = {user: (acd.agents[user].state.value, acd.agents[user].reason)
                      for user in ("1001", "1002", "1003")}
            await live.operator_event(AgentNotReady("1002", "break"))
            incoming_before = sum(1 for event in talking.events
                                  if event.type == "CALL_INCOMING")
            scenario, _ = caller_scenario(tmp_path, talk_s=6.0)
            caller = await dial(node, tmp_path, "602", scenario)
            await free.wait_event("CALL_ESTABLISHED", within=20)
            result = await caller.wait(within=40)
            assert result.ok, result.log
            assert sum(1 for event in talking.events
                       if event.type == "CALL_INCOMING") == incoming_before
            await talking.hangup()
            for _ in range(50):
                after = {user: (acd.agents[user].state.value, acd.agents[user].reason)
                         for user in ("1001", "1002")}
                if after["1001"][0] == "ready":
                    break
                await asyncio.sleep(0.1)
        finally:
            for phone in (talking, colleague, free):
                await phone.stop()
        record = await call_record(node, number="602")
    assert during == {"1001": ("not_ready", "personal call"),
                      "1002": ("not_ready", "personal call"), "1003": ("ready", "")}
    assert after == {"1001": ("ready", ""), "1002": ("not_ready", "break")}
    assert record.operator == "1003"
    tried = [entry.detail.get("operator") for entry in record.timeline
             if entry.kind in ("offered", "not reachable")]
    assert tried == ["1003"]


@needs_sipp
@needs_baresip
async def test_an_operator_ready_with_no_phone_is_tried_again_not_in_a_loop(
        tmp_path: Path) -> None:
    """1001 logs in ready before any phone of theirs registered; a caller waits for
    support. Each offer fails at once (nothing to ring): the ACD tries again a second later,
    never in a loop that leaves the node no time for anything else; when 1001's phone
    registers, the caller is put through."""
    async with demo_node(tmp_path) as node:
        await LiveCenter(node.center).operator_event(AgentLogin("1001", "1001", True))
        scenario, _ = caller_scenario(tmp_path, talk_s=8.0)
        caller = await dial(node, tmp_path, "602", scenario)
        await asyncio.sleep(3.0)
        phone = operator(node, tmp_path, "1001")
        await phone.start()
        try:
            await phone.wait_event("CALL_ESTABLISHED", within=10)
            result = await caller.wait(within=40)
            assert result.ok, result.log
        finally:
            await phone.stop()
        record = await call_record(node, number="602")
    assert record.operator == "1001"
    unreachable = [entry for entry in record.timeline if entry.kind == "not reachable"]
    assert 1 <= len(unreachable) <= 8, len(unreachable)  # about one a second


@needs_sipp
async def test_callers_gone_together_are_not_missed_calls_of_the_operator_who_comes(
        tmp_path: Path) -> None:
    """Twelve callers wait for support with no operator; they all end at once (as the
    callers of a takeover's gap do, when their silence is noticed), and 1001 logs in ready
    at that moment, before the calls' own coroutines have said so to the ACD. The ACD offers
    1001 those calls one after another: each leaves the queue as abandoned; none counts as
    a call 1001 missed, and 1001 stays ready."""
    from parley import events as ev
    from parley.acd.agent import AgentState
    from parley.events import HangupCause

    async with demo_node(tmp_path) as node:
        scenario, _ = caller_scenario(tmp_path, talk_s=0.5, parley_hangs_up=True)
        callers = Sipp(tmp_path / "callers", scenario, service="602", calls=12,
                       target=f"127.0.0.1:{node.telephony.sip_port}",
                       extra=("-timeout", "60s", "-timeout_error"))
        await callers.start()
        shell = node.center.shell
        acd = shell.acd
        deadline = asyncio.get_running_loop().time() + 20
        while acd.queue_snapshot("support", 0.0).waiting < 12:
            assert asyncio.get_running_loop().time() < deadline, "the callers never waited"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # each caller waiting for Parley's BYE now
        for call in list(shell.calls.values()):  # in one step of the event loop
            assert call.caller is not None
            call.caller.hangup(HangupCause.MEDIA_TIMEOUT)
        shell.feed(ev.AgentLogin("1001", "1001", True))
        await asyncio.sleep(1.0)
        assert acd.agents["1001"].state is AgentState.READY
        assert acd.agent_stats["1001"].missed == 0
        assert acd.agent_stats["1001"].offered == 0  # no phone of theirs rang
        snapshot = acd.queue_snapshot("support", 0.0)
        assert (snapshot.waiting, snapshot.abandoned) == (0, 12)
        assert (await callers.wait(within=30)).ok


def _operator_checking_headers() -> str:
    """An operator's phone that answers only if the call brings the customer card: the
    X-Parley headers with the flow's look-up result."""
    return """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="operator with a CRM">
  <recv request="INVITE"><action>
    <ereg regexp="^ *Ada Lovelace$" search_in="hdr" header="X-Parley-Var-customer_name:"
          check_it="true" assign_to="name" />
    <ereg regexp="\\"tier\\":\\"gold\\"" search_in="hdr" header="X-Parley-Data:"
          check_it="true" assign_to="card" />
    <ereg regexp="^ *support$" search_in="hdr" header="X-Parley-Queue:" check_it="true"
          assign_to="queue" />
    <ereg regexp="^ *5550142$" search_in="hdr" header="X-Parley-Caller:" check_it="true"
          assign_to="caller" />
  </action></recv>
""" + sipp_answer("[media_port]", user="1001") + """  <recv request="ACK" />
""" + SIPP_AWAIT_BYE + """  <Reference variables="name,card,queue,caller" />
</scenario>
"""


@needs_sipp
async def test_the_customer_card_from_a_lookup_reaches_the_operators_phone(
        tmp_path: Path) -> None:
    import json as json_module

    from parley.store.specs import DeviceSpec, FlowSpec, NumberSpec
    from parley.testing.ports import free_port

    asked: list[str] = []

    async def crm(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readuntil(b"\r\n\r\n")).decode()
        asked.append(request.split(" ")[1])
        body = json_module.dumps({"name": "Ada Lovelace", "tier": "gold"}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                     b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(crm, "127.0.0.1", 0)
    crm_port = server.sockets[0].getsockname()[1]
    async with server, demo_node(tmp_path) as node:
        phone_port = free_port()
        await change(node, "devices", DeviceSpec(
            name="1001", user="1001", sip_password="pw1001",
            static_contact=f"sip:1001@127.0.0.1:{phone_port}"))
        await change(node, "flows", FlowSpec(name="crm-card", definition={
            "start": "card", "nodes": {
                "card": {"type": "lookup", "url": f"http://127.0.0.1:{crm_port}/customers"
                         "?phone=${ani}", "variable": "customer", "timeout": 2,
                         "next": "to_support", "fallback": "to_support"},
                "to_support": {"type": "queue", "queue": "support",
                               "data": {"customer_name": "customer.name"}}}}))
        await change(node, "numbers", NumberSpec(number="650", flow="crm-card"))
        answering = tmp_path / "crm-operator.xml"
        answering.write_text(_operator_checking_headers())
        phone = Sipp(tmp_path / "phone", answering, port=phone_port, calls=1, extra=LIMIT)
        await phone.start()
        try:
            scenario, _ = caller_scenario(tmp_path, talk_s=4.0, ani="5550142")
            caller = await dial(node, tmp_path, "650", scenario)
            result = await caller.wait(within=40)
            assert result.ok, result.log
            answered = await phone.wait(within=15)
            assert answered.ok, answered.log  # every header check passed
        finally:
            await phone.stop()
        record = await call_record(node, number="5550142")
    assert asked == ["/customers?phone=5550142"]
    assert record.operator == "1001"
    assert "lookup succeeded" in kinds(record)


@needs_sipp
async def test_two_calls_with_a_restart_between_them_leave_two_separate_complete_records(
        tmp_path: Path) -> None:
    records = []
    for attempt in range(2):  # the same data directory: the second node is a restart
        folder = tmp_path / f"call-{attempt}"
        folder.mkdir()
        async with demo_node(tmp_path) as node:
            # the greeting (vm-intro, 5.7 s) and the beep come before the recording starts
            scenario, _sent = caller_scenario(folder, talk_s=8.0, ani="5550188")
            caller = await dial(node, folder, "800", scenario)
            result = await caller.wait(within=40)
            assert result.ok, result.log
            for _ in range(50):
                page = await node.store.interactions.search(number="5550188", limit=10)
                records = [await node.store.interactions.get(record.id)
                           for record in page.items if record.ended_at is not None]
                if len(records) == attempt + 1 and all("hung up" in kinds(record)
                                                       for record in records):
                    break
                await asyncio.sleep(0.2)
    assert len(records) == 2, records
    first, second = sorted(records, key=lambda record: record.started_at)
    assert first.id != second.id
    assert first.ended_at is not None
    assert first.ended_at <= second.started_at
    for record in (first, second):  # each complete, none holding the other's steps
        assert record.outcome == "voicemail"
        assert len(record.legs) == 1
        assert kinds(record).count("voicemail") == 1
        assert kinds(record).count("hung up") == 1
