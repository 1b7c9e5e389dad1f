"""Inbound calls end to end through the demo node: the IVR at 600, queues, operators on
baresip phones, no-answer redirection, callbacks, voicemail, REFER transfers and the
blacklist, each checked against the stored call record."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from parley.media.analysis import find
from parley.media.audio import decode_wav, to_telephony
from parley.store.specs import NumberListSpec, QueueSpec
from parley.testing.peers import Sipp, audio_similarity

from .conftest import needs_baresip, needs_sipp
from .inbound_node import call_record, caller_scenario, change, demo_node, dial, operator

LIMIT = ("-timeout", "90s", "-timeout_error")  # no sipp outlives a failed test


def kinds(record: object) -> list[str]:
    return [entry.kind for entry in record.timeline]  # type: ignore[attr-defined]


def load(path: Path) -> np.ndarray:
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


def read_stereo(path: Path) -> np.ndarray:
    audio = decode_wav(path.read_bytes(), str(path))
    return np.rint(audio.samples * 32768).clip(-32768, 32767).astype(np.int16)


@needs_sipp
@needs_baresip
async def test_caller_presses_2_and_talks_with_support_operator_1001(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        assert node.web is not None
        assert node.telephony is not None
        support = await node.web.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={"recording": "all"}))
        phone = operator(node, tmp_path, "1001")
        await phone.start()
        try:
            # registering made 1001 ready (the demo's ready_on_register)
            assert node.center is not None
            for _ in range(50):
                if node.center.acd.agents["1001"].state == "ready":
                    break
                await asyncio.sleep(0.1)
            assert node.center.acd.agents["1001"].state == "ready"
            scenario, sent = caller_scenario(tmp_path, digits="2", talk_s=14.0)
            caller = await dial(node, tmp_path, "600", scenario)
            established = await phone.wait_event("CALL_ESTABLISHED", within=20)
            assert established is not None
            result = await caller.wait(within=40)
            assert result.ok, result.log
            await phone.wait_event("CALL_CLOSED", within=10)
        finally:
            await phone.stop()
        record = await call_record(node, number="600")
        recordings = (await node.web.store.recordings.list(interaction_id=record.id)).items
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
    for expected in ("entered flow", "menu choice", "queued", "offered", "answered", "ended"):
        assert expected in timeline, timeline
    assert timeline.index("menu choice") < timeline.index("queued") \
        < timeline.index("offered") < timeline.index("answered")
    assert [leg.endpoint for leg in record.legs][1:] == ["1001"]
    # the stereo recording: the caller on the left, the operator (1001's phone) on the right
    assert len(recordings) == 1
    stereo = read_stereo(Path(recordings[0].path))
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
        assert node.web is not None
        assert node.telephony is not None
        assert node.center is not None
        support = await node.web.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={"ring_timeout_s": 3}))
        silent = operator(node, tmp_path, "1002", auto_answer=False)
        answering = operator(node, tmp_path, "1003")
        await silent.start()
        await asyncio.sleep(1.5)  # 1002 has waited longest: the first choice
        await answering.start()
        try:
            scenario, _ = caller_scenario(tmp_path, talk_s=12.0)
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
        assert node.telephony is not None
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
    assert "rejected" in kinds(record)
    assert record.legs[0].hangup_cause in (17, 21)


@needs_sipp
async def test_a_voicemail_is_left_at_800_and_stored(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        assert node.web is not None
        assert node.telephony is not None
        scenario, sent = caller_scenario(tmp_path, talk_s=14.0, ani="5550177")
        caller = await dial(node, tmp_path, "800", scenario)
        result = await caller.wait(within=40)
        assert result.ok, result.log
        record = await call_record(node, number="5550177")
        messages = await node.web.store.voicemails.list("general")
    assert record.outcome == "voicemail"
    assert "voicemail" in kinds(record)
    assert len(messages) == 1
    message = messages[0]
    assert message.caller == "5550177"
    assert abs((message.received_at - record.ended_at).total_seconds()) < 5
    assert message.duration_s > 3
    stored = read_stereo(Path(message.path))
    assert Path(message.path).parent.name == "general"
    # the end of the message is the caller's noise
    assert find(stored[-8000 * 3:-8000, 0], load(sent)).correlation > 0.8


@needs_sipp
@needs_baresip
async def test_caller_asks_for_a_callback_then_parley_calls_operator_then_caller(
        tmp_path: Path) -> None:
    from parley.store.specs import DeviceSpec
    from parley.testing.media import sipp_answerer
    from parley.testing.ports import free_port

    async with demo_node(tmp_path) as node:
        assert node.web is not None
        assert node.telephony is not None
        assert node.center is not None
        support = await node.web.store.config.get("queues", "support")
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
            assert any(call.callback for call in node.center.calls.values())
            # an operator becomes free: Parley rings the operator first, then the customer
            phone = operator(node, tmp_path, "1004")
            await phone.start()
            try:
                for _ in range(200):
                    if node.center.acd.agents["1004"].state == "on_call":
                        break
                    await asyncio.sleep(0.1)
                assert node.center.acd.agents["1004"].state == "on_call"
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
    assert callback.id.endswith("-cb1")
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
        assert node.web is not None
        assert node.telephony is not None
        support_phone = operator(node, tmp_path, "1001")
        sales_phone = operator(node, tmp_path, "1006")
        await support_phone.start()
        await sales_phone.start()
        try:
            scenario, sent = caller_scenario(tmp_path, talk_s=16.0)
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
