"""The limits and routing of SIP-over-WebSocket connections (parley.net.websocket): each
frame is one SIP message; too big, too many or not SIP closes that connection only."""

from __future__ import annotations

import pytest

from parley.net.websocket import (
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_LATER,
    WsClosed,
    WsConnection,
    WsConnections,
    WsLimits,
)
from parley.sip.message import SipRequest

OPTIONS = ("OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
           "Via: SIP/2.0/WS abc.invalid;branch=z9hG4bK1\r\n"
           "From: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:127.0.0.1>\r\n"
           "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


def opened(limits: WsLimits | None = None) -> tuple[WsConnections, list[tuple[SipRequest, str]],
                                                    list[str]]:
    connections = WsConnections(limits)
    delivered: list[tuple[SipRequest, str]] = []
    closed: list[str] = []
    connections.deliver = lambda message, connection: delivered.append(
        (message, str(connection)))  # type: ignore[arg-type]
    connections.on_closed = lambda connection: closed.append(str(connection))
    return connections, delivered, closed


def test_a_frame_is_one_sip_message_delivered_with_its_connection() -> None:
    connections, delivered, _closed = opened()
    sent: list[str] = []
    connection = connections.open("10.0.0.5", 50000, "WS", sent.append, now=0.0)
    connections.received(connection, OPTIONS, now=0.1)
    connections.received(connection, "\r\n\r\n", now=0.2)  # a keep-alive: nothing delivered
    assert [(m.method, where) for m, where in delivered] == [("OPTIONS", "ws:10.0.0.5:50000")]
    assert connections.send("10.0.0.5", 50000, b"SIP/2.0 200 OK\r\n\r\n")
    assert sent == ["SIP/2.0 200 OK\r\n\r\n"]
    assert not connections.send("10.0.0.5", 50001, b"x")  # no such connection: not sent


def test_too_big_too_many_and_not_sip_each_close_their_connection_only() -> None:
    connections, delivered, closed = opened(WsLimits(max_message_bytes=1000,
                                                     messages_per_second=2, burst=3))
    big = connections.open("10.0.0.1", 1, "WS", lambda _t: None, now=0.0)
    chatty = connections.open("10.0.0.2", 2, "WS", lambda _t: None, now=0.0)
    garbled = connections.open("10.0.0.3", 3, "WSS", lambda _t: None, now=0.0)
    calm = connections.open("10.0.0.4", 4, "WS", lambda _t: None, now=0.0)
    with pytest.raises(WsClosed) as too_big:
        connections.received(big, "x" * 1001, now=0.0)
    assert too_big.value.code == CLOSE_TOO_BIG
    for _ in range(3):
        connections.received(chatty, OPTIONS, now=0.0)
    with pytest.raises(WsClosed) as too_many:
        connections.received(chatty, OPTIONS, now=0.1)
    assert too_many.value.code == CLOSE_POLICY
    assert "2 messages per second" in too_many.value.reason
    with pytest.raises(WsClosed) as not_sip:
        connections.received(garbled, "GET / HTTP/1.1\r\n\r\n", now=0.0)
    assert not_sip.value.code == CLOSE_POLICY
    assert not_sip.value.reason.startswith("not a SIP message")
    connections.received(calm, OPTIONS, now=0.0)
    connections.received(chatty, OPTIONS, now=1.0)  # tokens come back with time
    assert connections.closed_by_limit == 3
    for connection in (big, chatty, garbled):
        connections.close(connection, "limit")
    assert closed == ["ws:10.0.0.1:1", "ws:10.0.0.2:2", "wss:10.0.0.3:3"]
    assert len(connections) == 1
    assert len(delivered) == 5


def test_a_shared_or_unknown_port_gets_a_number_of_its_own() -> None:
    connections, _delivered, _closed = opened()
    first = connections.open("192.0.2.1", 0, "WS", lambda _t: None, now=0.0)
    second = connections.open("192.0.2.1", 0, "WS", lambda _t: None, now=0.0)
    third = connections.open("192.0.2.1", second.port, "WS", lambda _t: None, now=0.0)
    assert len({first.key, second.key, third.key}) == 3
    assert all(0 < c.port < 65536 for c in (first, second, third))


def test_connections_beyond_the_cap_are_refused() -> None:
    connections, _delivered, _closed = opened(WsLimits(max_connections=1))
    connections.open("192.0.2.1", 1, "WS", lambda _t: None, now=0.0)
    with pytest.raises(WsClosed) as refused:
        connections.open("192.0.2.2", 1, "WS", lambda _t: None, now=0.0)
    assert refused.value.code == CLOSE_TRY_LATER
    assert connections.refused == 1


@pytest.mark.parametrize("field", ["max_message_bytes", "burst", "max_connections",
                                   "messages_per_second", "idle_s"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        WsLimits(**{field: 0})  # type: ignore[arg-type]


def test_a_closed_connection_sends_nothing() -> None:
    sent: list[str] = []
    connection = WsConnection(("h", 1), "WS", sent.append, WsLimits(), 0.0)
    connection.closed = True
    connection.send(b"x")
    assert sent == []
