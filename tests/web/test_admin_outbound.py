"""The admin pages for trunks, routes, campaigns and prompts, and the APIs they add, over real
HTTP: pages for admins only, a trunk's password never sent back, the route check as the route
engine decides, prompts uploaded (a bad WAV refused naming what is wrong) or spoken by
espeak-ng and played back. What the pages do in a browser is in
tests/browser/test_admin_outbound.py.
"""

from __future__ import annotations

import io
import wave

import pytest

from parley.store.specs import QueueSpec, RouteSpec, TrunkSpec
from parley.testing.needs import ESPEAK, require

from .conftest import Api


def _wav(rate: int = 16000, seconds: float = 0.5, channels: int = 1) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x10\x00" * int(rate * seconds) * channels)
    return out.getvalue()


# One backend: these pages and routes reach the store only through the configuration and
# campaign repositories, which their own tests run on both.
@pytest.mark.parametrize("database_backend", ["sqlite"])
def test_trunk_route_campaign_and_prompt_pages_and_their_apis(api: Api) -> None:
    store = api.server.store
    assert store is not None

    async def put() -> None:
        await store.config.put("trunks", TrunkSpec(name="carrier", host="sip.example.net",
                                                   username="acct", password="s3cret-pw"))
        await store.config.put("trunks", TrunkSpec(name="backup", host="10.0.0.9",
                                                   kind="peer"))
        await store.config.put("routes", RouteSpec(name="russia", match=r"^\+7",
                                                   trunks=["carrier", "backup"], position=1))
        await store.config.put("queues", QueueSpec(name="sales"))

    api.server.call(put)
    with api.client() as anonymous:
        assert anonymous.get("/admin/trunks").headers["location"] == "/login"
    with api.client("supervisor") as supervisor:
        for path in ("trunks", "routes", "campaigns", "dnc", "prompts", "trunks/carrier"):
            assert supervisor.get(f"/admin/{path}").status_code == 403, path
    with api.client("admin") as admin:
        for path in ("trunks", "trunks/new", "routes", "routes/new", "routes/russia",
                     "campaigns", "campaigns/new", "dnc", "dnc/new", "prompts"):
            assert admin.get(f"/admin/{path}").status_code == 200, path
        assert admin.get("/admin/dnc/x").status_code == 404
        assert "There is no do-not-call list x." in admin.get("/admin/dnc/x").text
        trunk = admin.get("/admin/trunks/carrier").text
        assert "sip.example.net" in trunk
        assert "s3cret-pw" not in trunk  # never sent to the page, only that one is set
        assert "A password is set" in trunk
        assert "carrier → backup" in admin.get("/admin/routes").text
        assert admin.get("/admin/trunks/nothing").status_code == 404
        assert "There is no campaign x." in admin.get("/admin/campaigns/x").text
        # a route's form that leaves the password out keeps it (what the page sends)
        kept = admin.put("/api/trunks/carrier", json={
            "name": "carrier", "host": "sip2.example.net", "kind": "register",
            "username": "acct", "max_channels": 10})
        assert kept.status_code == 200, kept.text
        stored = api.server.call(lambda: store.config.get("trunks", "carrier"))
        assert isinstance(stored, TrunkSpec)
        assert (stored.host, stored.password) == ("sip2.example.net", "s3cret-pw")

        # which trunk would dial this: the first matching route, its trunks in order, the
        # number as each trunk wants it
        check = admin.get("/api/routes/check", params={"number": "+7 495 123-45-67"})
        assert check.status_code == 200, check.text
        plan = check.json()
        assert (plan["route"], [a["trunk"] for a in plan["attempts"]]) == (
            "russia", ["carrier", "backup"])
        assert plan["attempts"][0]["number"] == "+74951234567"
        refused = admin.get("/api/routes/check", params={"number": "+44 20 7946 0000"})
        assert refused.status_code == 422
        assert refused.json()["detail"].startswith("number: no outbound route matches")

        # a campaign through the API the page uses; its page shows the counters and import
        made = admin.post("/api/campaigns", json={
            "name": "spring", "mode": "progressive", "queue": "sales",
            "caller_id": "+74950000000", "call_window": "09:00-20:00"})
        assert made.status_code == 201, made.text
        # the dialer's own checks name the field (the page shows it there)
        no_one = admin.post("/api/campaigns", json={
            "name": "autumn", "mode": "predictive", "caller_id": "+74950000000"})
        assert no_one.status_code == 422
        assert "campaign 'autumn': queue: name the queue" in no_one.json()["detail"][0]["msg"]
        page = admin.get("/admin/campaigns/spring").text
        assert "Add contacts from CSV" in page
        assert "/api/campaigns/spring/contacts" in page
        assert "spring" in admin.get("/admin/campaigns").text
        for path in ("trunks/carrier", "routes", "campaigns/spring", "prompts"):
            russian = admin.get(f"/admin/{path}", params={"lang": "ru"})
            assert russian.status_code == 200, path
            assert "Исходящие маршруты" in russian.text
    with api.client("agent") as agent:
        assert agent.get("/api/routes/check", params={"number": "+7"}).status_code == 403

    # prompts: a recording uploaded (a bad one refused, saying what is wrong), a text spoken
    require(ESPEAK)
    with api.client("admin") as admin:
        wav = {"Content-Type": "audio/wav"}
        not_wav = admin.put("/api/prompts/en/welcome", content=b"ID3 not audio", headers=wav)
        assert not_wav.status_code == 422
        assert not_wav.json()["detail"].startswith("file: not a WAV file")
        bad_name = admin.put("/api/prompts/en/Welcome Here", content=_wav(), headers=wav)
        assert bad_name.json()["detail"].startswith("name: ")
        bad_language = admin.put("/api/prompts/de/welcome", content=_wav(), headers=wav)
        assert bad_language.json()["detail"].startswith("language: ")
        uploaded = admin.put("/api/prompts/en/welcome", content=_wav(44100, 1.0, 2),
                             headers=wav)
        assert uploaded.status_code == 200, uploaded.text
        assert (uploaded.json()["duration_s"], uploaded.json()["text"]) == (1.0, None)
        played = admin.get("/api/prompts/en/welcome")
        with wave.open(io.BytesIO(played.content)) as stored:  # stored as it is played
            assert (stored.getframerate(), stored.getnchannels()) == (8000, 1)
        spoken = admin.put("/api/prompts/ru/goodbye", json={"text": "До свидания"})
        assert spoken.status_code == 200, spoken.text
        assert spoken.json()["text"] == "До свидания"
        assert spoken.json()["duration_s"] > 0.3
        empty = admin.put("/api/prompts/ru/goodbye", json={"text": "  "})
        assert empty.json()["detail"].startswith("text: ")
        listed = admin.get("/api/prompts").json()
        assert ([p["name"] for p in listed["en"]], [p["name"] for p in listed["ru"]]) == (
            ["welcome"], ["goodbye"])
        page = admin.get("/admin/prompts").text
        assert "/api/prompts/ru/goodbye" in page
        assert "До свидания" in page
        # the library a node plays from finds the upload first, without a restart
        library = api.server.prompts
        assert library is not None
        assert library.path_of("welcome", "en").parent == library.upload_dir("en")
        assert admin.delete("/api/prompts/en/welcome").status_code == 204
        assert admin.get("/api/prompts/en/welcome").status_code == 404
        audit = admin.get("/api/audit", params={"target_type": "prompts"}).json()["items"]
        assert {(entry["action"], entry["target"]) for entry in audit} >= {
            ("update", "en/welcome"), ("update", "ru/goodbye"), ("delete", "en/welcome")}
    with api.client("supervisor") as supervisor:
        assert supervisor.get("/api/prompts/ru/goodbye").status_code == 200
        assert supervisor.delete("/api/prompts/ru/goodbye").status_code == 403
