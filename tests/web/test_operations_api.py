"""Operational routes over a running server: operator state, click-to-call, hang-up and
transfer, live figures, callbacks, call records with CSV export, recordings."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from parley.events import AgentLogin, AgentNotReady
from parley.store.records import RecordingRecord, VoicemailRecord
from parley.testing.api import ApiServer

from .conftest import Api


def _eventually(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_operator_login_and_state_changes_reach_the_acd_and_the_log(api: Api) -> None:
    with api.client("agent") as agent, api.client("supervisor") as supervisor:
        assert agent.post("/api/operators/me/login", json={}).status_code == 202
        assert api.center.events[-1] == AgentLogin("agent1", "agent1", True)
        response = agent.put("/api/operators/me/state",
                             json={"state": "not_ready", "reason": "lunch"})
        assert response.status_code == 202
        assert api.center.events[-1] == AgentNotReady("agent1", "lunch")

        def logged() -> bool:
            states = supervisor.get("/api/operators").json()
            return any(s["username"] == "agent1" and s["state"] == "not_ready" for s in states)

        _eventually(logged)
        history = supervisor.get("/api/operators/agent1/states").json()
        assert [h["state"] for h in history] == ["not_ready", "ready"]
        assert history[0]["reason"] == "lunch"
        bad = agent.put("/api/operators/me/state", json={"state": "sleeping"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "state"]
        assert agent.post("/api/operators/me/login",
                          json={"device": "someone-else"}).status_code == 403


def test_click_to_call_hang_up_and_transfer(api: Api) -> None:
    with api.client("agent") as agent, api.client("supervisor") as supervisor:
        call = agent.post("/api/live/calls", json={"number": "+4930123456"})
        assert call.status_code == 201
        call_id = call.json()["id"]
        assert api.calls.commands[-1] == ("originate", "agent1", "+4930123456", "", "agent1")
        assert [c["id"] for c in agent.get("/api/live/calls").json()] == [call_id]
        assert agent.post(f"/api/live/calls/{call_id}/transfer",
                          json={"target": "queue:sales"}).status_code == 202
        assert api.calls.commands[-1] == ("transfer", call_id, "queue:sales", "agent1")
        assert agent.post(f"/api/live/calls/{call_id}/transfer",
                          json={"target": "not a target!"}).status_code == 422
        started = agent.put(f"/api/live/calls/{call_id}/recording", json={"recording": True})
        assert started.json() == {"recording": True, "recording_id": f"rec-{call_id}"}
        assert api.calls.commands[-1] == ("record", call_id, "on", "agent1")
        assert agent.put(f"/api/live/calls/{call_id}/recording",
                         json={"recording": "maybe"}).status_code == 422
        assert supervisor.delete(f"/api/live/calls/{call_id}").status_code == 204
        assert api.calls.commands[-1] == ("hang_up", call_id, "super1")
        assert supervisor.delete(f"/api/live/calls/{call_id}").status_code == 404
        spoofed = agent.post("/api/live/calls", json={"number": "123", "caller_id": "110"})
        assert spoofed.status_code == 403
        assert "caller_id" in spoofed.json()["detail"]
        # A supervisor has no device of their own to ring.
        response = supervisor.post("/api/live/calls", json={"number": "123"})
        assert response.status_code == 422
        assert "device" in response.json()["detail"]


def test_operators_may_only_handle_their_own_calls(api: Api) -> None:
    with api.client("supervisor") as supervisor, api.client("agent") as agent:
        api.server.add_user("agent2", ["agent"], device=True)
        other = supervisor.post("/api/live/calls", json={"number": "555", "device": "agent2"})
        assert other.status_code == 201
        call_id = other.json()["id"]
        assert agent.get("/api/live/calls").json() == []  # not theirs, not shown
        assert agent.delete(f"/api/live/calls/{call_id}").status_code == 403
        assert ("hang_up", call_id, "agent1") not in api.calls.commands


def test_live_queue_figures(api: Api) -> None:
    with api.client("agent") as agent:
        figures = agent.get("/api/live/queues").json()
        assert figures[0]["queue"] == "sales"
        assert figures[0]["waiting"] == 2


def test_live_routes_say_when_telephony_is_not_running(database_url: str) -> None:
    with ApiServer(database_url) as server:
        token = server.add_user("agent9", ["agent"], device=True)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers) as client:
            response = client.post("/api/live/calls", json={"number": "123"})
            assert response.status_code == 503
            assert "telephony is not running" in response.json()["detail"]
            assert client.get("/api/live/queues").status_code == 503
            assert client.post("/api/operators/me/logout").status_code == 503


def test_callbacks_are_stored_and_announced(api: Api) -> None:
    with api.client("admin") as admin, api.client("agent") as agent:
        admin.post("/api/queues", json={"name": "support"})
        due = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        created = agent.post("/api/callbacks", json={"number": "+4930999", "queue": "support",
                                                     "due_at": due, "note": "invoice"})
        assert created.status_code == 201
        assert created.json()["status"] == "pending"
        listed = admin.get("/api/callbacks", params={"queue": "support"}).json()
        assert [c["number"] for c in listed] == ["+4930999"]
        unknown = agent.post("/api/callbacks", json={"number": "1", "queue": "nope"})
        assert unknown.status_code == 422
        assert "queue" in unknown.json()["detail"]
        callback_id = created.json()["id"]
        cancelled = admin.post(f"/api/callbacks/{callback_id}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        again = admin.post(f"/api/callbacks/{callback_id}/cancel")
        assert again.status_code == 409
        assert "cancelled" in again.json()["detail"]


def _seed_calls(api: Api) -> datetime:
    store = api.server.store
    assert store is not None
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    async def seed() -> None:
        for index in range(7):
            call_id = f"call-{index}"
            began = start + timedelta(minutes=index)
            await store.interactions.open(call_id, direction="inbound", caller=f"+49301{index}",
                                          called="601", started_at=began)
            await store.interactions.queued(call_id, "sales" if index < 4 else "support", began)
            await store.interactions.answered(call_id, began + timedelta(seconds=10),
                                              operator="1006")
            await store.interactions.close(call_id, began + timedelta(seconds=70),
                                           outcome="answered", hangup_cause=16)

    api.server.call(seed)
    return start


def test_call_record_search_paging_and_csv(api: Api) -> None:
    start = _seed_calls(api)
    with api.client("supervisor") as supervisor:
        page = supervisor.get("/api/interactions", params={"limit": 3, "offset": 0}).json()
        assert page["total"] == 7
        assert [i["id"] for i in page["items"]] == ["call-6", "call-5", "call-4"]
        assert page["items"][0]["talk_s"] == 60.0
        assert page["items"][0]["wait_s"] == 10.0
        sales = supervisor.get("/api/interactions", params={"queue": "sales"}).json()
        assert sales["total"] == 4
        window = supervisor.get("/api/interactions", params={
            "since": (start + timedelta(minutes=2)).isoformat(),
            "until": (start + timedelta(minutes=4)).isoformat()}).json()
        assert sorted(i["id"] for i in window["items"]) == ["call-2", "call-3"]
        by_number = supervisor.get("/api/interactions", params={"number": "+493015"}).json()
        assert [i["id"] for i in by_number["items"]] == ["call-5"]
        detail = supervisor.get("/api/interactions/call-1").json()
        assert [t["kind"] for t in detail["timeline"]] == ["started", "queued", "answered",
                                                           "ended"]
        exported = supervisor.get("/api/interactions.csv", params={"queue": "support"})
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert sorted(r["id"] for r in rows) == ["call-4", "call-5", "call-6"]
        assert rows[0]["duration_s"] == "70.0"
        assert supervisor.get("/api/interactions", params={"limit": 0}).status_code == 422
        assert supervisor.get("/api/interactions/nope").status_code == 404


def test_recordings_are_listed_streamed_and_every_access_audited(api: Api) -> None:
    folder = api.server.recordings_dir
    assert folder is not None
    audio = Path(folder) / "r1.wav"
    audio.write_bytes(b"RIFF....WAVEfmt " + bytes(range(256)) * 8)
    outside = Path(folder).parent / "secret.wav"
    outside.write_bytes(b"not a recording")
    store = api.server.store
    assert store is not None
    now = datetime.now(UTC)
    api.server.call(lambda: store.recordings.add(RecordingRecord(
        "r1", None, str(audio), "audio/wav", now, 4.0)))
    api.server.call(lambda: store.recordings.add(RecordingRecord(
        "r2", None, str(outside), "audio/wav", now, 1.0)))
    with api.client("supervisor") as supervisor, api.client("admin") as admin, \
            api.client("agent") as agent:
        listed = supervisor.get("/api/recordings").json()
        assert {r["id"] for r in listed["items"]} == {"r1", "r2"}
        assert "path" not in listed["items"][0]
        download = supervisor.get("/api/recordings/r1/audio")
        assert download.status_code == 200
        assert download.content == audio.read_bytes()
        assert download.headers["content-type"] == "audio/wav"
        assert supervisor.get("/api/recordings/r2/audio").status_code == 404  # outside folder
        assert agent.get("/api/recordings/r1/audio").status_code == 403
        audit = admin.get("/api/audit", params={"target_type": "recordings"}).json()["items"]
        assert [(e["actor"], e["action"], e["target"]) for e in audit][:2] == [
            ("super1", "recording_download", "r1"), ("super1", "recording_list", "*")]


def test_voicemail_is_listed_downloaded_with_audit_and_marked_heard(api: Api) -> None:
    folder = api.server.recordings_dir
    assert folder is not None
    message = Path(folder) / "vm1.wav"
    message.write_bytes(b"RIFF" + bytes(400))
    store = api.server.store
    assert store is not None
    api.server.call(lambda: store.voicemails.add(VoicemailRecord(
        "vm1", "800", "+4930555", datetime.now(UTC), str(message), 6.5, False)))
    with api.client("supervisor") as supervisor, api.client("admin") as admin:
        listed = supervisor.get("/api/voicemails", params={"mailbox": "800"}).json()
        assert [(v["id"], v["heard"]) for v in listed] == [("vm1", False)]
        audio = supervisor.get("/api/voicemails/vm1/audio")
        assert audio.content == message.read_bytes()
        assert supervisor.post("/api/voicemails/vm1/heard").status_code == 204
        assert supervisor.get("/api/voicemails").json()[0]["heard"] is True
        assert supervisor.get("/api/voicemails/nope/audio").status_code == 404
        audit = admin.get("/api/audit", params={"action": "voicemail_download"}).json()
        assert [(e["actor"], e["target"]) for e in audit["items"]] == [("super1", "vm1")]


def test_operators_see_only_their_own_call_records(api: Api) -> None:
    _seed_calls(api)  # every seeded call was answered by operator 1006
    token = api.server.add_user("1006", ["agent"])
    with api.client("agent") as stranger, api.client() as client:
        assert stranger.get("/api/interactions").json()["total"] == 0
        assert stranger.get("/api/interactions", params={"operator": "1006"}
                            ).json()["total"] == 0
        assert stranger.get("/api/interactions/call-1").status_code == 404
        client.headers["Authorization"] = f"Bearer {token}"
        mine = client.get("/api/interactions").json()
        assert mine["total"] == 7
        assert client.get("/api/interactions/call-1").status_code == 200
        assert client.get("/api/interactions.csv").status_code == 403
