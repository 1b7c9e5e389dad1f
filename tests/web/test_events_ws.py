"""The live event stream over a real WebSocket: filtered by topic, queue and operator, and
limited by role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from parley.events import (
    AgentStateChanged,
    Answered,
    CallQueued,
    ChannelCreated,
    Direction,
    Hangup,
    HangupCause,
    NodeRoleChanged,
)

from .conftest import Api


@contextmanager
def _open(api: Api, role: str, query: str = "") -> Iterator[ClientConnection]:
    url = api.url.replace("http://", "ws://") + "/api/events" + query
    with connect(url, additional_headers={"Authorization": f"Bearer {api.tokens[role]}"},
                 open_timeout=10) as socket:
        hello = json.loads(socket.recv(timeout=10))
        assert hello["type"] == "subscribed"
        yield socket


def _next(socket: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(socket.recv(timeout=10))
    return message


def test_supervisor_receives_call_events_with_their_data(api: Api) -> None:
    with _open(api, "supervisor", "?topics=call") as socket:
        api.server.publish(AgentStateChanged("agent1", "ready", "on_call", "answer", 1.0))
        api.server.publish(ChannelCreated("ch-1", Direction.INBOUND, "+4930111", "601",
                                          interaction_id="ch-1"))
        api.server.publish(Answered("ch-1"))
        api.server.publish(Hangup("ch-1", HangupCause.NORMAL_CLEARING, "remote"))
        created, answered, ended = _next(socket), _next(socket), _next(socket)
        assert created["type"] == "ChannelCreated"
        assert created["topic"] == "call"
        assert created["data"] == {"channel_id": "ch-1", "direction": "inbound",
                                   "caller": "+4930111", "called": "601",
                                   "interaction_id": "ch-1", "trunk": ""}
        assert answered["type"] == "Answered"
        assert ended["data"]["cause"] == 16


def test_queue_filter(api: Api) -> None:
    with _open(api, "supervisor", "?topics=queue&queue=support") as socket:
        api.server.publish(CallQueued("c1", "sales", 1, 20.0))
        api.server.publish(CallQueued("c2", "support", 3, 95.0))
        event = _next(socket)
        assert event["data"]["call_id"] == "c2"
        assert event["data"]["position"] == 3


def test_operators_see_only_their_own_events(api: Api) -> None:
    with _open(api, "agent") as socket, _open(api, "admin", "?topics=node") as admin:
        api.server.publish(AgentStateChanged("someone", "ready", "not_ready", "request", 1.0))
        # a hot-standby node's role change: for admins and supervisors, not operators
        api.server.publish(NodeRoleChanged("b", "site", "active", 7, previous_node="a",
                                           takeover_s=3.2))
        role = _next(admin)
        assert (role["topic"], role["type"]) == ("node", "NodeRoleChanged")
        assert role["data"] == {"node": "b", "cluster": "site", "role": "active", "token": 7,
                                "reason": "", "previous_node": "a", "takeover_s": 3.2}
        api.server.publish(CallQueued("c1", "sales", 1, 20.0))
        api.server.publish(AgentStateChanged("agent1", "ready", "not_ready", "request", 2.0,
                                             "break"))
        event = _next(socket)
        assert event["type"] == "AgentStateChanged"
        assert event["data"]["agent_id"] == "agent1"
        assert event["data"]["reason"] == "break"


def test_unknown_topics_and_foreign_origins_are_refused(api: Api) -> None:
    url = api.url.replace("http://", "ws://") + "/api/events?topics=gossip"
    with connect(url, additional_headers={"Authorization": f"Bearer {api.tokens['admin']}"},
                 open_timeout=10) as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert "gossip" in closed.value.rcvd.reason
    # A session cookie sent from another site's page does not open the stream.
    with api.client() as client:
        response = client.post("/api/auth/login",
                               json={"username": "admin1", "password": "password-123"})
        cookie = response.cookies["parley_session"]
    url = api.url.replace("http://", "ws://") + "/api/events"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"Cookie": f"parley_session={cookie}",
                                         "Origin": "http://evil.example"}, open_timeout=10)
    assert refused.value.response.status_code == 403
    same_origin = {"Cookie": f"parley_session={cookie}",
                   "Origin": api.url}
    with connect(url, additional_headers=same_origin, open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["user"] == "admin1"


def test_configuration_changes_are_announced(api: Api) -> None:
    with _open(api, "admin", "?topics=config") as socket, api.client("admin") as admin:
        admin.post("/api/devices", json={"name": "1009", "sip_password": "pw1009"})
        event = _next(socket)
        assert event["type"] == "ConfigurationChanged"
        assert event["data"] == {"kind": "devices", "key": "1009", "action": "create"}
        admin.put("/api/devices/1009", json={"name": "1009"})  # unchanged: no notice
        admin.delete("/api/devices/1009")
        assert _next(socket)["data"] == {"kind": "devices", "key": "1009",
                                         "action": "delete"}

