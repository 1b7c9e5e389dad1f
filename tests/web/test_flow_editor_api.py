"""The flow editor's API over real HTTP: a draft is checked with each problem on its node,
a flow with errors never goes live (the live version keeps its place), going live and rolling
back move the live version, the YAML layout survives the round trip, and every change is in
the audit log with who made it. The pages and the test call are in
tests/browser/test_admin_flows.py."""

from __future__ import annotations

from .conftest import Api

HANGUP = {"type": "hangup"}


def _flow(next_node: str, layout: bool = True) -> dict[str, object]:
    definition: dict[str, object] = {
        "start": "hello", "nodes": {
            "hello": {"type": "play", "prompt": [{"text": "Hello"}], "next": next_node},
            "bye": HANGUP, "loop": {"type": "play", "prompt": ["beep"], "next": "loop"}}}
    if layout:
        definition["layout"] = {"hello": {"x": 40, "y": 30}, "bye": {"x": 270, "y": 30}}
    return definition


def test_a_draft_goes_live_only_without_errors_and_rolls_back(api: Api) -> None:
    with api.client("admin") as admin, api.client("supervisor") as supervisor:
        # a new flow's draft with a dead end: not live, every problem on its node
        answer = admin.put("/api/flows/main/draft", json={
            "name": "main", "description": "Main line", "definition": _flow("loop")})
        assert answer.status_code == 200, answer.text
        assert answer.json()["ok"] is False
        codes = {(issue["node"], issue["code"]) for issue in answer.json()["issues"]}
        assert {("hello", "dead-end"), ("loop", "dead-end"), ("bye", "unreachable")} <= codes
        refused = admin.post("/api/flows/main/live")
        assert refused.status_code == 422
        assert "cannot go live" in refused.json()["detail"]
        assert {issue["node"] for issue in refused.json()["issues"]} >= {"hello", "loop"}
        assert admin.get("/api/flows/main").json()["version"] == 0  # nothing live yet

        # fixed: it goes live as version 1, layout and all
        fixed = _flow("bye")
        fixed["nodes"] = {key: value for key, value in fixed["nodes"].items()  # type: ignore[attr-defined]
                          if key != "loop"}
        assert admin.put("/api/flows/main/draft", json={
            "name": "main", "definition": fixed}).json() == {"version": 1, "ok": True,
                                                             "issues": []}
        assert admin.post("/api/flows/main/live").json()["live"] == 1
        stored = admin.get("/api/flows/main").json()
        assert stored["definition"]["layout"]["hello"] == {"x": 40, "y": 30}

        # a second version with an error: refused, version 1 stays live
        admin.put("/api/flows/main/draft", json={"name": "main", "definition": _flow("loop")})
        assert admin.post("/api/flows/main/live").status_code == 422
        history = supervisor.get("/api/flows/main/history").json()
        assert [(v["version"], v["status"]) for v in history["versions"]] == [
            (2, "draft"), (1, "live")]
        # over the plain API too, a flow with errors is never stored live
        put = admin.put("/api/flows/main", json={"name": "main", "definition": _flow("loop")})
        assert put.status_code == 422
        assert "dead end" in put.json()["detail"]

        # version 2 fixed and live, then rolled back in one call
        admin.put("/api/flows/main/draft", json={
            "name": "main", "definition": _flow("bye", layout=False) | {
                "nodes": {"hello": {"type": "play", "prompt": ["beep"], "next": "bye"},
                          "bye": HANGUP}}})
        assert admin.post("/api/flows/main/live").json()["live"] == 2
        back = admin.post("/api/flows/main/rollback").json()
        assert (back["live"], [v["status"] for v in back["versions"]]) == (1, ["draft", "live"])
        assert admin.get("/api/flows/main").json()["version"] == 1
        assert supervisor.post("/api/flows/main/rollback").status_code == 403
        assert admin.post("/api/flows/main/rollback").status_code == 409  # nothing before 1

        entries = admin.get("/api/audit", params={"target_type": "flows"}).json()["items"]
        actions = [(entry["actor"], entry["action"], entry["detail"].get("version"))
                   for entry in reversed(entries)]
        assert actions == [
            ("admin1", "draft", 1), ("admin1", "go_live_refused", 1),
            ("admin1", "draft", 1), ("admin1", "go_live", 1), ("admin1", "draft", 2),
            ("admin1", "go_live_refused", 2), ("admin1", "draft", 2), ("admin1", "go_live", 2),
            ("admin1", "rollback", 1)]
