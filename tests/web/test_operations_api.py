"""Operational routes over a running server without telephony: the checks of live requests
that come before any call, callbacks, call records with CSV export, recordings, voicemail.
The live operations themselves run against the demo node in tests/integration/test_api_live."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from parley.store.records import RecordingRecord, VoicemailRecord
from parley.testing.api import ApiServer

from .conftest import Api


def test_live_requests_are_checked_before_they_reach_telephony(api: Api) -> None:
    """Malformed or forbidden live requests are refused by the API itself, naming the field;
    what a running node answers to well-formed ones is in tests/integration/test_api_live."""
    with api.client("agent") as agent, api.client("supervisor") as supervisor:
        bad = agent.put("/api/operators/me/state", json={"state": "sleeping"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "state"]
        foreign = agent.post("/api/operators/me/login", json={"device": "someone-else"})
        assert foreign.status_code == 403
        assert foreign.json()["detail"] == "device: 'someone-else' is not yours"
        spoofed = agent.post("/api/live/calls", json={"number": "123", "caller_id": "110"})
        assert spoofed.status_code == 403
        assert spoofed.json()["detail"].startswith("caller_id:")
        # A supervisor has no device of their own to ring.
        deviceless = supervisor.post("/api/live/calls", json={"number": "123"})
        assert deviceless.status_code == 422
        assert deviceless.json()["detail"].startswith("device:")
        unknown = supervisor.post("/api/live/calls", json={"number": "123", "device": "nope"})
        assert unknown.status_code == 422
        assert unknown.json()["detail"] == "device: no device named 'nope'"
        for path, body, field in (
                ("/api/live/calls", {"number": "call me"}, "number"),
                ("/api/live/calls/x/transfer", {"target": "not a target!"}, "target"),
                ("/api/live/calls/x/recording", {"recording": "maybe"}, "recording")):
            method = agent.put if path.endswith("recording") else agent.post
            refused = method(path, json=body)
            assert refused.status_code == 422, (path, refused.text)
            assert refused.json()["detail"][0]["loc"] == ["body", field]


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
    folder.mkdir(parents=True)
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
        # a player's further range requests are not new listenings
        rest = supervisor.get("/api/recordings/r1/audio", headers={"Range": "bytes=100-"})
        assert rest.status_code == 206
        assert rest.content == audio.read_bytes()[100:]
        refused = agent.get("/api/recordings/r1/audio")  # not a call agent1 handled
        assert refused.status_code == 403
        assert "agents_hear_recordings is 'own'" in refused.json()["detail"]
        audit = admin.get("/api/audit", params={"target_type": "recordings"}).json()["items"]
        assert [(e["actor"], e["action"], e["target"]) for e in audit][:3] == [
            ("agent1", "recording_refused", "r1"), ("super1", "recording_download", "r1"),
            ("super1", "recording_list", "*")]


def test_operators_hear_the_recordings_the_site_allows(api: Api) -> None:
    """site.agents_hear_recordings: own (the default: calls they handled), all, none; the
    route that streams the file decides, whatever a page shows."""
    folder = api.server.recordings_dir
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    audio = Path(folder) / "mine.wav"
    audio.write_bytes(b"RIFF....WAVEfmt " + bytes(64))
    store = api.server.store
    assert store is not None
    now = datetime.now(UTC)

    async def seed() -> None:
        for call_id, operator in (("c-mine", "agent1"), ("c-other", "1006")):
            await store.interactions.open(call_id, direction="inbound", caller="+4930555",
                                          called="601", started_at=now)
            await store.interactions.answered(call_id, now, operator=operator)
            await store.recordings.add(RecordingRecord(
                f"rec-{call_id}", call_id, str(audio), "audio/wav", now, 1.0))
        # agent1 took c-other first and saved its card before transferring it to 1006
        await store.customers.save_card(interaction_id="c-other", number="+4930555",
                                        operator="agent1", customer_id=None, card={})

    api.server.call(seed)
    with api.client("admin") as admin, api.client("agent") as agent:
        assert agent.get("/api/recordings/rec-c-mine/audio").status_code == 200
        assert agent.get("/api/recordings/rec-c-other/audio").status_code == 200
        site = admin.get("/api/site").json()
        assert site["agents_hear_recordings"] == "own"
        assert admin.put("/api/site", json={**site, "agents_hear_recordings": "none"}
                         ).status_code == 200
        refused = agent.get("/api/recordings/rec-c-mine/audio")
        assert refused.status_code == 403
        assert "operators hear no recordings" in refused.json()["detail"]
        wrong = admin.put("/api/site", json={**site, "agents_hear_recordings": "some"})
        assert wrong.status_code == 422
        assert wrong.json()["detail"][0]["loc"] == ["body", "agents_hear_recordings"]
        listened = admin.get("/api/audit", params={"target_type": "recordings"}).json()
        assert [(e["actor"], e["action"], e["target"]) for e in listened["items"]][:3] == [
            ("agent1", "recording_refused", "rec-c-mine"),
            ("agent1", "recording_download", "rec-c-other"),
            ("agent1", "recording_download", "rec-c-mine")]


def test_voicemail_is_listed_downloaded_with_audit_and_marked_heard(api: Api) -> None:
    data = api.server.data_dir
    assert data is not None
    # where the contact center leaves a message: <data>/voicemail/<mailbox>/<id>.wav
    message = data / "voicemail" / "800" / "vm1.wav"
    message.parent.mkdir(parents=True)
    message.write_bytes(b"RIFF" + bytes(400))
    # a record naming a file outside the voicemail folder is never served
    (data / "recordings").mkdir()
    elsewhere = data / "recordings" / "r9.wav"
    elsewhere.write_bytes(b"RIFF a recording")
    escaping = data / "voicemail" / "800" / ".." / ".." / "secret.wav"
    escaping.write_bytes(b"not a message")
    store = api.server.store
    assert store is not None
    now = datetime.now(UTC)
    api.server.call(lambda: store.voicemails.add(VoicemailRecord(
        "vm1", "800", "+4930555", now, str(message), 6.5, False)))
    api.server.call(lambda: store.voicemails.add(VoicemailRecord(
        "vm2", "800", "+4930555", now, str(elsewhere), 1.0, False)))
    api.server.call(lambda: store.voicemails.add(VoicemailRecord(
        "vm3", "800", "+4930555", now, str(escaping), 1.0, False)))
    with api.client("supervisor") as supervisor, api.client("admin") as admin:
        listed = supervisor.get("/api/voicemails", params={"mailbox": "800"}).json()
        assert sorted((v["id"], v["heard"]) for v in listed) == [
            ("vm1", False), ("vm2", False), ("vm3", False)]
        audio = supervisor.get("/api/voicemails/vm1/audio")
        assert audio.status_code == 200
        assert audio.content == message.read_bytes()
        assert audio.headers["content-type"] == "audio/wav"
        assert supervisor.get("/api/voicemails/vm2/audio").status_code == 404
        assert supervisor.get("/api/voicemails/vm3/audio").status_code == 404
        assert supervisor.post("/api/voicemails/vm1/heard").status_code == 204
        heard = {v["id"]: v["heard"] for v in supervisor.get("/api/voicemails").json()}
        assert heard == {"vm1": True, "vm2": False, "vm3": False}
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


def test_an_operator_hears_marks_and_deletes_their_own_voicemail_only(api: Api) -> None:
    data = api.server.data_dir
    store = api.server.store
    assert data is not None
    assert store is not None
    with api.client("admin") as admin:
        user = admin.get("/api/users/agent1").json()
        assert admin.put("/api/users/agent1", json={**user, "extension": "801"}
                         ).status_code == 200
    now = datetime.now(UTC)
    files = {}
    for number, (message_id, mailbox) in enumerate(
            [("own1", "agent1"), ("own2", "801"), ("other", "800")]):
        path = data / "voicemail" / mailbox / f"{message_id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF" + bytes(100 + number))
        files[message_id] = path
        api.server.call(lambda i=message_id, b=mailbox, p=path: store.voicemails.add(
            VoicemailRecord(i, b, "+4930555", now, str(p), 3.0, False)))
    with api.client("agent") as agent, api.client("admin") as admin:
        mine = agent.get("/api/me/voicemails").json()
        assert sorted(v["id"] for v in mine) == ["own1", "own2"]
        assert agent.get("/api/voicemails/own2/audio").content == files["own2"].read_bytes()
        # another operator's message is not there for this one
        assert agent.get("/api/voicemails/other/audio").status_code == 404
        assert agent.post("/api/voicemails/other/heard").status_code == 404
        assert agent.delete("/api/voicemails/other").status_code == 404
        assert files["other"].exists()
        assert agent.post("/api/voicemails/own1/heard").status_code == 204
        assert agent.delete("/api/voicemails/own2").status_code == 204
        assert not files["own2"].exists()
        assert [(v["id"], v["heard"]) for v in agent.get("/api/me/voicemails").json()] == [
            ("own1", True)]
        deleted = admin.get("/api/audit", params={"action": "voicemail_delete"}).json()
        assert [(e["actor"], e["target"]) for e in deleted["items"]] == [("agent1", "own2")]
    with httpx.Client(base_url=api.url, timeout=30) as desk:
        desk.post("/login", data={"username": "agent1", "password": "password-123"})
        panel = desk.get("/desk/voicemail").text
        assert "My voicemail" in panel
        assert 'src="/api/voicemails/own1/audio"' in panel
        assert "Delete the message from +4930555" in panel
        assert "Mark heard" not in panel  # heard already
        assert "other" not in panel
