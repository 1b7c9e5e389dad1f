"""The supervisor console and the wallboard over real HTTP, and supervisors scoped to their
teams on the API (no telephony on this server: the console with real calls is tested in
tests/browser/test_supervisor.py)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import httpx
from websockets.sync.client import connect

from parley.center.call_feed import row_changes
from parley.center.ports import LiveCall, QueueFigures
from parley.store.specs import QueueThresholds
from parley.web.locale import PageLocale
from parley.web.supervisor import queue_row

from .conftest import Api


def _sign_in(api: Api, username: str) -> tuple[httpx.Client, httpx.Response]:
    """A client signed in at /login (open: the caller closes it)."""
    client = httpx.Client(base_url=api.url, timeout=30)
    signed = client.post("/login", data={"username": username, "password": "password-123"})
    return client, signed


def test_a_team_supervisor_sees_and_acts_on_their_team_only(api: Api) -> None:
    with api.client("admin") as admin:
        for team in ("blue", "green"):
            assert admin.put(f"/api/teams/{team}", json={"name": team}).status_code < 300
        for name, team in (("op-blue", "blue"), ("op-green", "green")):
            assert admin.put(f"/api/users/{name}", json={
                "username": name, "roles": ["agent"], "teams": [team],
                "password": "password-123"}).status_code < 300
        assert admin.put("/api/users/boss-blue", json={
            "username": "boss-blue", "roles": ["supervisor"], "teams": ["blue"],
            "password": "password-123"}).status_code < 300
        # the admin is site-wide: green's operator is theirs to act on (503: no ACD here)
        assert admin.put("/api/operators/op-green/state",
                         json={"state": "not_ready", "reason": "Break"}).status_code == 503
    boss, signed = _sign_in(api, "boss-blue")
    with contextlib.closing(boss):
        assert signed.headers["location"] == "/supervisor"  # a supervisor lands on it
        page = boss.get("/supervisor")
        assert page.status_code == 200
        for name in ("Queues", "Operators", "Calls", "Teams: blue", "Service level"):
            assert name in page.text, name
        rows = boss.get("/supervisor/live", params={"parts": "operators"}).json()
        assert [row["key"] for row in rows["operators"]] == ["op-blue"]
        csrf = boss.cookies["parley_csrf"]
        refused = boss.put("/api/operators/op-green/state", headers={"X-CSRF-Token": csrf},
                           json={"state": "not_ready", "reason": "Break"})
        assert refused.status_code == 403
        assert "outside your teams" in refused.json()["detail"]
        mine = boss.put("/api/operators/op-blue/state", headers={"X-CSRF-Token": csrf},
                        json={"state": "logged_out", "reason": "Sent home"})
        assert mine.status_code == 503  # past the scope check; this server runs no ACD
        assert boss.get("/api/operators/op-green/states").status_code == 403
        assert boss.get("/wallboard").status_code == 200
    operator, _ = _sign_in(api, "op-blue")
    with contextlib.closing(operator):
        refused_page = operator.get("/supervisor")
        assert refused_page.status_code == 403
        assert "This page is for supervisors." in refused_page.text
        assert operator.get("/wallboard").status_code == 200
    anonymous = httpx.get(f"{api.url}/supervisor")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login"


def test_a_queue_past_its_thresholds_has_its_cells_marked_with_the_alert() -> None:
    figures = QueueFigures(queue="support", waiting=4, longest_wait_s=95.0,
                           expected_wait_s=40.0, operators_logged_in=5, operators_ready=0,
                           operators_busy=4, offered=20, answered=15, abandoned=5,
                           service_level=0.6, operators_wrap_up=1, operators_not_ready=1,
                           asa_s=12.0, abandon_rate=0.25)
    row = queue_row(figures, QueueThresholds(waiting=5, longest_wait_s=60,
                                             service_level=0.8, abandon_rate=0.3),
                    PageLocale("en"))
    assert row["cells"]["longest_wait"] == "1:35"
    assert row["cells"]["busy"] == "3"  # wrap-up is counted apart
    assert row["cells"]["service_level"] == "60%"
    assert row["alerts"] == {
        "longest_wait": "support: a caller has waited 1:35 (threshold 1:00)",
        "service_level": "support: service level 60% (threshold 80%)"}
    russian = queue_row(figures, QueueThresholds(longest_wait_s=60), PageLocale("ru"))
    assert russian["alerts"] == {"longest_wait": "support: клиент ждёт 1:35 (порог 1:00)"}


def test_a_team_supervisors_event_stream_carries_their_teams_events_only() -> None:
    from datetime import UTC, datetime

    from parley.bus import Envelope
    from parley.events import AgentStateChanged, CallQueued, HelpRequested
    from parley.store.records import Principal
    from parley.web.events_ws import TOPICS, event_filter
    from parley.web.scope import Scope

    now = datetime.now(UTC)
    boss = Principal(1, "boss-blue", ("supervisor",), "")
    scope = Scope(False, frozenset({"blue"}), frozenset({"op-blue"}), frozenset({"support"}))
    accept = event_filter(boss, TOPICS, None, None, scope)

    def seen(event: object, topic: str) -> bool:
        return accept(Envelope("1", now, topic, event))  # type: ignore[operator, no-any-return]

    assert seen(AgentStateChanged("op-blue", "ready", "not_ready", "", 0.0), "operator")
    assert not seen(AgentStateChanged("op-green", "ready", "not_ready", "", 0.0), "operator")
    assert seen(HelpRequested("op-blue", "c1", "support", ("blue",), now), "operator")
    assert not seen(HelpRequested("op-green", "c2", "sales", ("green",), now), "operator")
    assert seen(CallQueued("c3", "support", 1, 10.0), "queue")
    assert not seen(CallQueued("c4", "sales", 1, 10.0), "queue")


def test_call_rows_reach_a_team_supervisor_as_changes_within_their_teams(api: Api) -> None:
    """The node pushes call rows as changes keyed by call id; a supervisor of team blue hears
    those of blue's calls only, and a call that moves to another team leaves their view as
    removed."""
    with api.client("admin") as admin:
        for team in ("blue", "green"):
            assert admin.put(f"/api/teams/{team}", json={"name": team}).status_code < 300
        for name, team, roles in (("op-blue", "blue", ["agent"]),
                                  ("op-green", "green", ["agent"]),
                                  ("boss-blue", "blue", ["supervisor"])):
            assert admin.put(f"/api/users/{name}", json={
                "username": name, "roles": roles, "teams": [team],
                "password": "password-123"}).status_code < 300
    boss, _signed = _sign_in(api, "boss-blue")
    with contextlib.closing(boss), connect(
            api.url.replace("http://", "ws://") + "/api/events?topics=call",
            additional_headers={"Cookie": f"parley_session={boss.cookies['parley_session']}",
                                "Origin": api.url}, open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "subscribed"
        at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

        def talking(call_id: str, operator: str) -> LiveCall:
            return LiveCall(id=call_id, direction="inbound", caller="+4930111",
                            called="602", state="talking", started_at=at, operator=operator)

        pictures = [[talking("c-blue", "op-blue"), talking("c-green", "op-green")],
                    [talking("c-blue", "op-green"), talking("c-green", "op-green")],
                    [talking("c-green", "op-green")]]
        rows: dict[str, LiveCall] = {}
        for picture in pictures:
            rows, changes = row_changes(rows, picture)
            for change in changes:
                api.server.publish(change)
        api.server.publish(row_changes({}, [talking("c-next", "op-blue")])[1][0])
        heard = [json.loads(socket.recv(timeout=10)) for _ in range(3)]
    assert [(m["type"], m["data"]["call_id"], m["data"]["change"]) for m in heard] == [
        ("LiveCallChanged", "c-blue", "added"),
        ("LiveCallChanged", "c-blue", "removed"),  # moved to green: gone from blue's view
        ("LiveCallChanged", "c-next", "added")]  # and nothing of green's calls
    assert heard[0]["data"]["state"] == "talking"
    assert heard[0]["data"]["operator"] == "op-blue"


def test_operator_rows_reach_a_team_supervisor_as_changed_fields(api: Api) -> None:
    """The node pushes operators' rows as their changed fields keyed by operator (so the
    console patches rows and never asks again): a supervisor of team blue hears blue's
    operators only, first every field, then only what changed."""
    import asyncio
    from typing import cast

    from parley.bus import LiveBus
    from parley.center.operator_feed import OperatorFeed
    from parley.center.ports import OperatorNow
    from parley.clock import VirtualClock

    with api.client("admin") as admin:
        for team in ("blue", "green"):
            assert admin.put(f"/api/teams/{team}", json={"name": team}).status_code < 300
        for name, team, roles in (("op-blue", "blue", ["agent"]),
                                  ("op-green", "green", ["agent"]),
                                  ("boss-blue", "blue", ["supervisor"])):
            assert admin.put(f"/api/users/{name}", json={
                "username": name, "roles": roles, "teams": [team],
                "password": "password-123"}).status_code < 300
    clock = VirtualClock(100.0, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    acd = [OperatorNow("op-blue", "ready", "", 0.0, 100.0),
           OperatorNow("op-green", "ready", "", 0.0, 100.0)]
    calls: list[LiveCall] = []
    feed = OperatorFeed(cast(LiveBus, api.server), lambda: acd, lambda: calls, clock)
    boss, _signed = _sign_in(api, "boss-blue")
    with contextlib.closing(boss), connect(
            api.url.replace("http://", "ws://") + "/api/events?topics=operator",
            additional_headers={"Cookie": f"parley_session={boss.cookies['parley_session']}",
                                "Origin": api.url}, open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "subscribed"
        assert len(feed.refresh()) == 2  # both operators, every field
        clock.advance(30)
        acd[0] = OperatorNow("op-blue", "not_ready", "Break", 0.0, 130.0)
        acd[1] = OperatorNow("op-green", "not_ready", "Lunch", 0.0, 130.0)
        assert len(feed.refresh()) == 2
        assert feed.refresh() == []  # nothing changed: nothing sent
        clock.advance(5)
        acd[0] = OperatorNow("op-blue", "on_call", "", 0.0, 135.0)
        calls.append(LiveCall(id="c1", direction="inbound", caller="+4930111", called="602",
                              state="talking", started_at=clock.utcnow(), queue="support",
                              operator="op-blue", answered_at=clock.utcnow()))
        feed.refresh()

        async def today() -> dict[str, tuple[int, float]]:
            return {"op-blue": (3, 125.5), "op-green": (1, 10.0)}

        feed.today = today
        asyncio.run(feed.read_today())
        feed.refresh()
        heard = [json.loads(socket.recv(timeout=10)) for _ in range(4)]
    assert {m["type"] for m in heard} == {"OperatorRowChanged"}
    assert {m["data"]["operator"] for m in heard} == {"op-blue"}  # nothing of green's
    assert heard[0]["data"]["fields"] == {
        "state": "ready", "reason": "", "since": "2026-03-02T09:00:00+00:00", "call": "",
        "call_since": None}
    assert heard[1]["data"]["fields"] == {
        "state": "not_ready", "reason": "Break", "since": "2026-03-02T09:00:30+00:00"}
    assert heard[2]["data"]["fields"] == {
        "state": "on_call", "reason": "", "since": "2026-03-02T09:00:35+00:00",
        "call": "support · +4930111", "call_since": "2026-03-02T09:00:35+00:00"}
    assert heard[3]["data"]["fields"] == {"calls_today": "3", "talk_today_s": "125"}
