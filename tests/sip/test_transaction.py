"""RFC 3261 §17 transactions on a virtual clock over a lossy, duplicating, reordering network."""

from __future__ import annotations

import gc
import itertools
import weakref
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.clock import VirtualClock
from parley.sip.errors import TransactionError
from parley.sip.headers import NameAddr, Via
from parley.sip.message import SipRequest, SipResponse, build_request, build_response, new_branch
from parley.sip.transaction import (
    INVITE_CLIENT,
    TABLES,
    CancelRequested,
    Command,
    Deliver,
    Event,
    Kind,
    Send,
    StartTimer,
    State,
    Terminated,
    TerminationReason,
    TimerConfig,
    Transaction,
    TransactionKey,
    TransactionLayer,
    build_cancel,
    server_key,
    step,
    tables_markdown,
)
from parley.sip.uri import SipUri
from parley.testing.network import MemoryNetwork, SipEndpoint

UAC = ("10.0.0.1", 5060)
UAS = ("10.0.0.2", 5060)


def request(method: str, cseq: int = 1, *, branch: str | None = None) -> SipRequest:
    return build_request(
        method, SipUri.parse("sip:1002@10.0.0.2"),
        from_=NameAddr.parse("<sip:1001@10.0.0.1>;tag=from1"),
        to=NameAddr.parse("<sip:1002@10.0.0.2>"), call_id="call-1@10.0.0.1", cseq=cseq,
        via=Via("UDP", "10.0.0.1", 5060, (("branch", branch or new_branch()), ("rport", None))),
        contact=NameAddr(SipUri.parse("sip:1001@10.0.0.1:5060")))


def delivered(endpoint: SipEndpoint, kind: type = SipRequest) -> list[SipRequest | SipResponse]:
    return [c.message for c in endpoint.received
            if isinstance(c, Deliver) and isinstance(c.message, kind)]


def terminations(endpoint: SipEndpoint) -> list[TerminationReason]:
    return [c.reason for c in endpoint.received if isinstance(c, Terminated)]


class Callee:
    """A UAS transaction user: rings, then answers with ``status`` after ``delay``."""

    def __init__(self, status: int = 200, delay: float = 1.0) -> None:
        self.status = status
        self.delay = delay

    def __call__(self, endpoint: SipEndpoint, command: Command) -> None:
        if isinstance(command, Deliver) and isinstance(command.message, SipRequest):
            req = command.message
            if req.method == "INVITE" and command.key is not None:
                endpoint.send_response(build_response(req, 180, to_tag="callee"))
                key = command.key

                def answer() -> None:
                    txn = endpoint.layer.get(key)
                    if txn is not None and txn.state is State.PROCEEDING:  # not cancelled
                        endpoint.send_response(build_response(req, self.status,
                                                              to_tag="callee"))

                endpoint.clock.call_later(self.delay, answer)
            elif req.method not in ("ACK", "INVITE"):
                endpoint.send_response(build_response(req, 200, to_tag="callee"))
        if isinstance(command, CancelRequested):
            invite = endpoint.layer.get(command.invite_key)
            assert invite is not None
            endpoint.send_response(build_response(invite.request, 487, to_tag="callee"))


def caller_acks_2xx(endpoint: SipEndpoint, command: Command) -> None:
    """The UAC dialog's job under RFC 6026: ACK every 2xx, retransmissions included."""
    if isinstance(command, Deliver) and isinstance(command.message, SipResponse):
        response = command.message
        if response.is_success and response.cseq.method == "INVITE":
            ack = build_request(
                "ACK", SipUri.parse("sip:1002@10.0.0.2"), from_=response.from_, to=response.to,
                call_id=response.call_id, cseq=response.cseq.seq,
                via=Via("UDP", "10.0.0.1", 5060, (("branch", new_branch()),)))
            endpoint.send_raw(ack, UAS)


def pair(net: MemoryNetwork, callee: Callee | None = None,
         config: TimerConfig | None = None) -> tuple[SipEndpoint, SipEndpoint]:
    uac = SipEndpoint(net, UAC, config=config, on_command=caller_acks_2xx)
    uas = SipEndpoint(net, UAS, config=config, on_command=callee or Callee())
    return uac, uas


def run_call(seed: int) -> tuple[SipEndpoint, SipEndpoint, MemoryNetwork]:
    clock = VirtualClock()
    net = MemoryNetwork(clock, loss=0.3, duplicate=0.1, max_delay=0.3, seed=seed)
    uac, uas = pair(net)
    uac.send_request(request("INVITE"), UAS)
    clock.advance(120)
    return uac, uas, net


def test_invite_completes_over_30_percent_loss() -> None:
    dropped = 0
    for seed in range(30):
        uac, uas, net = run_call(seed)
        dropped += net.stats.dropped
        finals = [r for r in delivered(uac, SipResponse) if r.status >= 200]
        assert finals, seed
        assert {r.status for r in finals} == {200}, seed
        # The callee's TU saw the INVITE once and the ACK once, however often they were sent.
        assert [r.method for r in delivered(uas)] == ["INVITE", "ACK"], seed
        assert terminations(uas) == [TerminationReason.NORMAL], seed
        assert terminations(uac) == [TerminationReason.NORMAL], seed
        assert len(uac.layer) == len(uas.layer) == 0
        assert uac.pending_timers == uas.pending_timers == 0
    assert dropped > 40  # about 30% of roughly 200 datagrams


@pytest.mark.parametrize("seed", range(8))
def test_non_invite_duplicates_absorbed_and_last_response_resent(seed: int) -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock, loss=0.3, duplicate=0.5, max_delay=0.8, seed=seed)
    uac, uas = pair(net)
    uac.send_request(request("OPTIONS"), UAS)
    clock.advance(60)
    assert [r.method for r in delivered(uas)] == ["OPTIONS"]
    assert [r.status for r in delivered(uac, SipResponse)][-1:] == [200]
    assert len({r.status for r in delivered(uac, SipResponse)}) == 1
    # Every 200 the UAS sent after the first is a re-send of the same response.
    sent = [m for m in uas.sent if isinstance(m, SipResponse)]
    assert all(bytes(m) == bytes(sent[0]) for m in sent)
    assert len(uac.layer) == len(uas.layer) == 0


def test_invite_timeout_takes_no_real_time_and_follows_timer_a() -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock)
    uac = SipEndpoint(net, UAC)
    times: list[float] = []
    net.attach(UAS, lambda data, source: times.append(clock.monotonic()))
    uac.send_request(request("INVITE"), UAS)
    clock.advance(40)
    # Sent at 0, then timer A at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5; timer B ends it at 32.
    assert [round(t, 1) for t in times] == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    (end,) = [c for c in uac.received if isinstance(c, Terminated)]
    assert end.reason is TerminationReason.TIMEOUT
    assert len(uac.layer) == 0


def test_non_invite_retransmissions_cap_at_t2_and_t1_is_configurable() -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock, min_delay=0, max_delay=0)
    uac = SipEndpoint(net, UAC, config=TimerConfig(t1=0.25, t2=2.0))
    times: list[float] = []
    net.attach(UAS, lambda data, source: times.append(clock.monotonic()))
    uac.send_request(request("REGISTER"), UAS)
    clock.advance(20)
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(times)]
    assert gaps[:5] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert all(gap == 2.0 for gap in gaps[3:])
    assert terminations(uac) == [TerminationReason.TIMEOUT]
    assert times[-1] < 16.0  # timer F = 64 * T1 = 16 s


@pytest.mark.parametrize("seed", range(6))
def test_busy_is_acked_by_the_transaction_and_retransmitted_until_then(seed: int) -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock, loss=0.3, duplicate=0.2, seed=seed)
    uac, uas = pair(net, Callee(486, delay=0.2))
    uac.send_request(request("INVITE"), UAS)
    clock.advance(80)
    statuses = [r.status for r in delivered(uac, SipResponse)]
    assert statuses[-1] == 486
    assert statuses.count(486) == 1  # retransmitted 486s are absorbed
    acks = [m for m in uac.sent if isinstance(m, SipRequest) and m.method == "ACK"]
    assert acks
    assert acks[0].to.tag == "callee"
    assert acks[0].branch == uac.sent[0].branch  # §17.1.1.3: same branch as the INVITE
    assert [r.method for r in delivered(uas)] == ["INVITE"]  # ACK absorbed by transaction
    assert terminations(uas) == [TerminationReason.NORMAL]
    assert len(uac.layer) == len(uas.layer) == 0


def test_server_gives_up_without_ack() -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock)
    uas = SipEndpoint(net, UAS, on_command=Callee(486, delay=0.1))
    sink: list[bytes] = []
    net.attach(UAC, lambda data, source: sink.append(data))
    net.send(bytes(request("INVITE")), UAC, UAS)
    clock.advance(60)
    assert terminations(uas) == [TerminationReason.TIMEOUT]  # timer H
    assert sum(b" 486 " in d for d in sink) >= 7


def test_2xx_never_acked_ends_with_no_ack() -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock)
    uas = SipEndpoint(net, UAS, on_command=Callee(200, delay=0.1))
    sink: list[bytes] = []
    net.attach(UAC, lambda data, source: sink.append(data))
    net.send(bytes(request("INVITE")), UAC, UAS)
    clock.advance(60)
    assert terminations(uas) == [TerminationReason.NO_ACK]
    assert sum(b" 200 OK" in d for d in sink) >= 7  # 2xx retransmitted on timer G


def test_cancel_before_answer() -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock, loss=0.2, seed=3)
    uac, uas = pair(net, Callee(200, delay=30))
    invite = request("INVITE")
    uac.send_request(invite, UAS)
    clock.advance(2)
    uac.send_request(build_cancel(invite), UAS)
    clock.advance(60)
    responses = delivered(uac, SipResponse)
    assert (200, "CANCEL") in {(r.status, r.cseq.method) for r in responses}
    assert [r.status for r in responses if r.cseq.method == "INVITE" and r.status >= 200] == [487]
    assert any(isinstance(c, CancelRequested) for c in uas.received)
    assert len(uac.layer) == len(uas.layer) == 0


def test_cancel_without_invite_gets_481_and_after_200_changes_nothing() -> None:
    layer = TransactionLayer()
    invite = request("INVITE")
    out = layer.receive(build_cancel(request("INVITE")), UAC, "UDP", 0.0)
    assert [c.message.status for c in out if isinstance(c, Send)] == [481]  # type: ignore[union-attr]
    out = layer.receive(invite, UAC, "UDP", 1.0)
    assert isinstance(out[0], Deliver)
    layer.send_response(build_response(invite, 200, to_tag="t"), 2.0)
    out = layer.receive(build_cancel(invite), UAC, "UDP", 3.0)
    assert [c.message.status for c in out if isinstance(c, Send)] == [200]  # type: ignore[union-attr]
    assert not any(isinstance(c, CancelRequested) for c in out)  # the 200 wins


def test_reliable_transport_skips_retransmissions_and_waits() -> None:
    layer = TransactionLayer()
    key, out = layer.send_request(request("OPTIONS"), UAS, "tcp", 0.0)
    assert [c.timer for c in out if isinstance(c, StartTimer)] == ["F"]
    reply = build_response(request("OPTIONS", branch=key.branch), 200, to_tag="t")
    out = layer.receive(reply, UAS, "TCP", 0.1)
    assert [type(c).__name__ for c in out] == ["CancelTimer", "Deliver", "Terminated"]
    assert len(layer) == 0


def test_a_transaction_waiting_out_retransmissions_keeps_no_answer_it_passed_up() -> None:
    """A finished client transaction waits 5 s (Timer K) to absorb retransmissions of the
    answer; the answer itself, passed up to the caller, is not kept for that time (at 500
    calls a second a node holds thousands of such transactions)."""
    layer = TransactionLayer()
    key, _ = layer.send_request(request("OPTIONS"), UAS, "udp", 0.0)
    reply = build_response(request("OPTIONS", branch=key.branch), 200, to_tag="t")
    kept = weakref.ref(reply)
    out = layer.receive(reply, UAS, "UDP", 0.1)
    assert [type(c).__name__ for c in out] == ["CancelTimer", "CancelTimer", "Deliver",
                                              "StartTimer"]
    txn = layer.get(key)
    assert txn is not None
    assert txn.state is State.COMPLETED
    del reply, out
    gc.collect()
    assert kept() is None
    with pytest.raises(TransactionError, match="only while it handles an event"):
        txn.send(request("OPTIONS"))
    assert layer.receive(build_response(request("OPTIONS", branch=key.branch), 200,
                                        to_tag="t"), UAS, "UDP", 0.2) == []  # absorbed


def test_responses_follow_rport_and_via() -> None:
    layer = TransactionLayer(auto_trying=True)
    out = layer.receive(request("INVITE"), ("192.0.2.9", 40000), "UDP", 0.0)
    (trying,) = [c for c in out if isinstance(c, Send)]
    assert trying.destination == ("192.0.2.9", 40000)  # rport: back to the source port
    plain = request("INVITE").headers.set("Via", "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKx")
    out = layer.receive(SipRequest("INVITE", SipUri.parse("sip:a@b"), plain), ("192.0.2.9", 40000),
                        "UDP", 0.0)
    (trying,) = [c for c in out if isinstance(c, Send)]
    assert trying.destination == ("192.0.2.9", 5070)


def test_transport_error_terminates() -> None:
    layer = TransactionLayer()
    key, _ = layer.send_request(request("INVITE"), UAS, "UDP", 0.0)
    out = layer.transport_error(key, 0.1)
    assert [c.reason for c in out if isinstance(c, Terminated)] == [
        TerminationReason.TRANSPORT_ERROR]
    assert len(layer) == 0


def test_unknown_pair_raises_and_stale_timer_is_ignored() -> None:
    layer = TransactionLayer()
    key, _ = layer.send_request(request("INVITE"), UAS, "UDP", 0.0)
    txn = layer.get(key)
    assert txn is not None
    with pytest.raises(TransactionError, match=r"INVITE client transaction .* Calling cannot "
                                               r"handle timer K"):
        step(txn, Event.TIMER_K, None, 0.0)
    assert layer.timer_expired(key, "D", 1.0) == []
    assert layer.timer_expired(TransactionKey("nope", "INVITE"), "A", 1.0) == []
    with pytest.raises(TransactionError, match="ACK is not sent in a transaction"):
        layer.send_request(request("ACK"), UAS, "UDP", 0.0)


def test_tables_only_name_real_states() -> None:
    for kind, table in TABLES.items():
        targets = {state for state, _ in table}
        assert State.TERMINATED not in targets, kind
    assert (State.CALLING, Event.TIMER_B) in INVITE_CLIENT


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(list(Kind)), st.lists(st.sampled_from(list(Event)), max_size=25))
def test_any_event_sequence_steps_or_raises(kind: Kind, events: list[Event]) -> None:
    req = request("INVITE" if kind in (Kind.INVITE_CLIENT, Kind.INVITE_SERVER) else "OPTIONS")
    start = {Kind.INVITE_CLIENT: State.CALLING, Kind.NON_INVITE_CLIENT: State.TRYING,
             Kind.INVITE_SERVER: State.PROCEEDING, Kind.NON_INVITE_SERVER: State.TRYING}[kind]
    txn = Transaction(TransactionKey("b", req.method), kind, start, req, UAS, "UDP",
                      TimerConfig(), intervals={t: 0.5 for t in "AEG"})
    responses = {Event.RECV_1XX: 180, Event.RECV_2XX: 200, Event.RECV_FINAL: 486,
                 Event.SEND_1XX: 180, Event.SEND_2XX: 200, Event.SEND_FINAL: 486}
    for now, event in enumerate(events):
        message: SipRequest | SipResponse | None = None
        if event in responses:
            message = build_response(req, responses[event], to_tag="t")
        elif event in (Event.RECV_REQUEST, Event.RECV_ACK):
            message = req
        try:
            step(txn, event, message, float(now))
        except TransactionError:
            assert (txn.state, event) not in TABLES[kind]
        if txn.state is State.TERMINATED:
            break


def test_docs_show_the_tables_in_the_code() -> None:
    docs = Path(__file__).parents[2] / "docs" / "sip.md"
    assert tables_markdown() in docs.read_text(encoding="utf-8")


def test_invite_over_tcp_has_no_retransmission_timers_and_no_waits() -> None:
    client = TransactionLayer()
    invite = request("INVITE")
    _, out = client.send_request(invite, UAS, "TCP", 0.0)
    assert [c.timer for c in out if isinstance(c, StartTimer)] == ["B"]
    busy = build_response(invite, 486, to_tag="t")
    out = client.receive(busy, UAS, "TCP", 0.2)
    sent = [c.message for c in out if isinstance(c, Send)]
    assert [m.method for m in sent if isinstance(m, SipRequest)] == ["ACK"]
    assert [c.reason for c in out if isinstance(c, Terminated)] == [TerminationReason.NORMAL]
    server = TransactionLayer()
    server.receive(invite, UAC, "TCP", 0.0)
    out = server.send_response(busy, 0.1)
    assert [c.timer for c in out if isinstance(c, StartTimer)] == ["H"]  # no G over TCP
    ack = build_request("ACK", invite.uri, from_=invite.from_, to=busy.to,
                        call_id=invite.call_id, cseq=invite.cseq.seq, via=invite.via)
    out = server.receive(ack, UAC, "TCP", 0.2)
    assert [c.reason for c in out if isinstance(c, Terminated)] == [TerminationReason.NORMAL]
    assert len(client) == len(server) == 0


def test_tu_answering_after_the_end_is_told() -> None:
    layer = TransactionLayer()
    invite = request("INVITE")
    layer.receive(invite, UAC, "TCP", 0.0)
    layer.transport_error(server_key(invite), 0.1)
    with pytest.raises(TransactionError, match="no server transaction"):
        layer.send_response(build_response(invite, 200, to_tag="t"), 0.2)


@settings(max_examples=60, deadline=None)
@given(
    method=st.sampled_from(["INVITE", "OPTIONS", "BYE"]),
    status=st.sampled_from([200, 404, 486, 503]),
    answer_after=st.floats(0.0, 40.0),
    cancel_after=st.none() | st.floats(0.0, 10.0),
    loss=st.floats(0.0, 0.4),
    duplicate=st.floats(0.0, 0.3),
    seed=st.integers(0, 2**16),
)
def test_random_conditions_keep_the_invariants(
    method: str, status: int, answer_after: float, cancel_after: float | None, loss: float,
    duplicate: float, seed: int,
) -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock, loss=loss, duplicate=duplicate, max_delay=0.5, seed=seed)
    uac, uas = pair(net, Callee(status, delay=answer_after))
    sent = request(method)
    uac.send_request(sent, UAS)
    if cancel_after is not None and method == "INVITE":
        clock.advance(cancel_after)
        uac.send_request(build_cancel(sent), UAS)
    clock.advance(400)
    # Every transaction ended and no timer is left behind, whatever happened.
    assert len(uac.layer) == len(uas.layer) == 0
    assert uac.pending_timers == uas.pending_timers == 0
    # The callee's TU saw the request at most once, however often it was sent.
    seen = [r for r in delivered(uas) if r.method == method]
    assert len(seen) <= 1
    finals = [r for r in delivered(uac, SipResponse)
              if r.status >= 200 and r.cseq.method == method]
    ends = [c for c in uac.received if isinstance(c, Terminated) and c.key.method == method]
    assert len(ends) == 1
    if not finals:
        assert ends[0].reason is TerminationReason.TIMEOUT
    elif finals[0].status >= 300:
        assert len(finals) == 1  # non-2xx finals are absorbed after the first
        assert finals[0].status in (status, 487)
    else:
        assert {r.status for r in finals} == {200}
        acked = any(r.method == "ACK" for r in delivered(uas)) or method != "INVITE"
        no_ack = TerminationReason.NO_ACK in terminations(uas)
        assert acked != no_ack


def test_new_request_is_delivered_with_its_real_source() -> None:
    layer = TransactionLayer()
    plain = request("OPTIONS").headers.set("Via", "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKs")
    out = layer.receive(SipRequest("OPTIONS", SipUri.parse("sip:a@b"), plain),
                        ("192.0.2.9", 40000), "UDP", 0.0)
    (deliver,) = [c for c in out if isinstance(c, Deliver)]
    assert deliver.source == ("192.0.2.9", 40000)
    assert deliver.transport == "UDP"
