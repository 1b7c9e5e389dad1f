"""Pausing a call's recording through the API while a customer gives card details: a real
call from a SIPp caller through the support queue to operator 1001's baresip phone; the stereo
file holds silence on both channels exactly in the marked gap and the call's audio around it,
and the marks and the audit entries are stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np

from parley.app import Node
from parley.store.specs import QueueSpec, UserSpec
from parley.telephony.flac import read_recording
from parley.testing.needs import HOLD_MUSIC, STOCK_PROMPTS, needs

from .conftest import needs_baresip, needs_sipp
from .inbound_node import call_record, caller_scenario, change, demo_node, dial, operator

pytestmark = needs(STOCK_PROMPTS, HOLD_MUSIC)
RATE = 8000


def read_stereo(path: Path) -> np.ndarray:
    """A stored recording's samples (a FLAC once compressed, else the WAV)."""
    return read_recording(path)[0]


def loud(samples: np.ndarray) -> float:
    """RMS level of a stretch of one channel."""
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


async def signed_in(node: Node, user: str) -> httpx.AsyncClient:
    """An API client signed in as demo operator ``user`` (password ``secret-<user>``)."""
    spec = await node.store.config.get("users", user)
    assert isinstance(spec, UserSpec)
    await node.store.config.put("users", spec.model_copy(
        update={"password": f"secret-{user}", "password_hash": None}))
    api = httpx.AsyncClient(base_url=node.url, timeout=10)
    login = await api.post("/api/auth/login", json={"username": user,
                                                    "password": f"secret-{user}"})
    assert login.status_code == 200, login.text
    api.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    return api


@needs_sipp
@needs_baresip
async def test_operator_pauses_the_recording_for_a_second_and_the_gap_is_silent(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        support = await node.store.config.get("queues", "support")
        assert isinstance(support, QueueSpec)
        await change(node, "queues", support.model_copy(update={"recording": "on_demand"}))
        own = await signed_in(node, "1001")
        other = await signed_in(node, "1002")
        phone = operator(node, tmp_path, "1001")
        await phone.start()
        try:
            scenario, _sent = caller_scenario(tmp_path, talk_s=7.0)
            caller = await dial(node, tmp_path, "602", scenario)
            await phone.wait_event("CALL_ESTABLISHED", within=20)
            [call] = (await own.get("/api/live/calls")).json()
            base = f"/api/live/calls/{call['id']}/recording"
            assert call["recording_id"] is None
            unrecorded = await own.post(f"{base}/pause")
            assert unrecorded.status_code == 409
            assert "not being recorded" in unrecorded.json()["detail"]
            missing = await own.post("/api/live/calls/no-such-call/recording/pause")
            assert missing.status_code == 404
            started = await own.put(base, json={"recording": True})
            assert started.status_code == 200, started.text
            await asyncio.sleep(1.5)
            foreign = await other.post(f"{base}/pause")
            assert foreign.status_code == 403  # 1002 is not this call's operator
            paused = await own.post(f"{base}/pause")
            assert paused.status_code == 200, paused.text
            assert paused.json()["paused"] is True
            [call] = (await own.get("/api/live/calls")).json()
            assert call["recording_paused"] is True
            twice = await own.post(f"{base}/pause")
            assert twice.status_code == 409
            assert "already paused" in twice.json()["detail"]
            await asyncio.sleep(1.0)
            resumed = await own.post(f"{base}/resume")
            assert resumed.status_code == 200, resumed.text
            assert resumed.json()["paused"] is False
            result = await caller.wait(within=40)
            assert result.ok, result.log
        finally:
            await own.aclose()
            await other.aclose()
            await phone.stop()
        record = await call_record(node, number="602")
        await node.recording_files.settled()
        [recording] = (await node.store.recordings.list(interaction_id=record.id)).items
        audits = (await node.store.audit.list(target_type="calls")).items
    [mark] = recording.pauses
    assert mark["by"] == "1001"
    assert [mark["start_s"], mark["end_s"]] == [paused.json()["offset_s"],
                                                resumed.json()["offset_s"]]
    assert resumed.json()["pauses"] == [{"start_s": mark["start_s"], "end_s": mark["end_s"]}]
    assert 0.8 < mark["end_s"] - mark["start_s"] < 1.6
    # the call's timeline says where the gap was, as it happened
    edges = {entry.kind: entry.detail for entry in record.timeline
             if entry.kind.startswith("recording ")}
    assert edges["recording paused"]["offset_s"] == mark["start_s"]
    assert edges["recording resumed"]["offset_s"] == mark["end_s"]
    assert [(a.action, a.actor, a.target) for a in audits
            if a.action.startswith("recording_")] == [
        ("recording_resumed", "1001", record.id), ("recording_paused", "1001", record.id),
        ("recording_started", "1001", record.id)]
    # silence on both channels exactly in the gap, the call's audio on both around it
    stereo = read_stereo(Path(recording.path))
    start, end = round(mark["start_s"] * RATE), round(mark["end_s"] * RATE)
    assert len(stereo) > end + RATE // 2
    assert not stereo[start:end].any()
    for side in (0, 1):  # the caller left, the operator right
        assert loud(stereo[start - RATE // 2:start, side]) > 300, side
        assert loud(stereo[end:end + RATE // 2, side]) > 300, side
        assert stereo[start - 160:start, side].any()  # the 20 ms frames at the edges
        assert stereo[end:end + 160, side].any()
