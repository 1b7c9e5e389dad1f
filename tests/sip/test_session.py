"""INVITE sessions (RFC 3261 §13-15) of a caller and a callee over the transaction layer, on a
virtual clock and an in-memory network: the shell of each side is the few lines of
:class:`Side`, everything else is the real pure core."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from parley.clock import TimerHandle, VirtualClock
from parley.sip.auth import AuthOutcome, DigestAuthenticator, compute_ha1
from parley.sip.errors import SessionError
from parley.sip.headers import NameAddr, Via
from parley.sip.message import SipRequest, SipResponse, build_request, new_branch
from parley.sip.session import (
    CALLEE,
    CALLER,
    Answered,
    Command,
    Ended,
    EndReason,
    InviteSession,
    ReinviteDone,
    ReinviteOffered,
    RequestReceived,
    Ringing,
    SendAck,
    SendRequest,
    SendResponse,
    SessionState,
    StartTimer,
    tables_markdown,
)
from parley.sip.session import CancelTimer as CancelSessionTimer
from parley.sip.transaction import (
    CancelRequested,
    Deliver,
    Terminated,
    TerminationReason,
    TransactionKey,
)
from parley.sip.transaction import Command as TxnCommand
from parley.sip.uri import SipUri
from parley.testing.network import MemoryNetwork, SipEndpoint

CALLER_ADDR = ("10.0.0.1", 5060)
CALLEE_ADDR = ("10.0.0.2", 5060)
T1 = 0.5


def sdp(direction: str = "sendrecv", host: str = "10.0.0.1") -> bytes:
    return (f"v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio 4000 RTP/AVP 0\r\na={direction}\r\n").encode()


def invite(cseq: int = 1) -> SipRequest:
    return build_request(
        "INVITE", SipUri.parse("sip:1002@10.0.0.2"),
        from_=NameAddr.parse("<sip:1001@10.0.0.1>;tag=caller-tag"),
        to=NameAddr.parse("<sip:1002@10.0.0.2>"), call_id="call-1@10.0.0.1", cseq=cseq,
        via=Via("UDP", "10.0.0.1", 5060, (("branch", new_branch()), ("rport", None))),
        contact=NameAddr(SipUri.parse("sip:1001@10.0.0.1:5060")), body=sdp(),
        content_type="application/sdp")


class Side:
    """One phone: a SipEndpoint (transactions) plus an InviteSession (the call), and the
    shell between them that a real engine would be."""

    def __init__(self, network: MemoryNetwork, address: tuple[str, int],
                 peer: tuple[str, int], *, rand: float = 0.5) -> None:
        self.clock = network.clock
        self.peer = peer
        self.endpoint = SipEndpoint(network, address, on_command=self._on_command)
        self.session: InviteSession | None = None
        self.reports: list[Command] = []
        self.timers: dict[str, TimerHandle] = {}
        self.pending: dict[TransactionKey, SipRequest] = {}
        self.rand = rand
        self.drop_acks = 0  # the next n ACKs for 2xx are "lost" on the way
        self.acks_sent = 0
        self.on_incoming: Callable[[Side], None] = lambda side: None
        self.on_offer: Callable[[Side, SipRequest], None] = \
            lambda side, request: side.run(side.s.answer_reinvite(200, sdp(host="10.0.0.2")))

    @property
    def s(self) -> InviteSession:
        assert self.session is not None
        return self.session

    def call(self, no_answer_after: float | None = None,
             credentials: tuple[str, str] | None = None) -> None:
        request = invite()
        self.session = InviteSession.outgoing(
            request, local_via=Via("UDP", "10.0.0.1", 5060, ()),
            no_answer_after=no_answer_after, rand=lambda: self.rand, credentials=credentials)
        self.run(self.session.start())

    def run(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, SendRequest):
                key = self.endpoint.send_request(command.request, self.peer)
                self.pending[key] = command.request
            elif isinstance(command, SendResponse):
                self.endpoint.send_response(command.response)
            elif isinstance(command, SendAck):
                self.acks_sent += 1
                if self.drop_acks:
                    self.drop_acks -= 1
                else:
                    self.endpoint.send_raw(command.request, self.peer)
            elif isinstance(command, StartTimer):
                old = self.timers.pop(command.name, None)
                if old is not None:
                    old.cancel()
                self.timers[command.name] = self.clock.call_later(
                    command.delay, self._firing(command.name))
            elif isinstance(command, CancelSessionTimer):
                handle = self.timers.pop(command.name, None)
                if handle is not None:
                    handle.cancel()
            else:
                self.reports.append(command)
                if isinstance(command, ReinviteOffered):
                    self.on_offer(self, command.request)

    def _firing(self, name: str) -> Callable[[], None]:
        def fire() -> None:
            self.timers.pop(name, None)
            self.run(self.s.timer_fired(name))
        return fire

    def _on_command(self, endpoint: SipEndpoint, command: TxnCommand) -> None:
        if isinstance(command, Deliver):
            message = command.message
            if isinstance(message, SipResponse):
                self.run(self.s.receive_response(message))
            elif self.session is None and message.method == "INVITE":
                self.session = InviteSession.incoming(
                    message, local_tag="callee-tag",
                    local_contact=NameAddr(SipUri.parse("sip:1002@10.0.0.2:5060")),
                    local_via=Via("UDP", "10.0.0.2", 5060, ()), rand=lambda: self.rand)
                self.on_incoming(self)
            else:
                self.run(self.s.receive_request(message))
        elif isinstance(command, CancelRequested):
            self.run(self.s.cancelled())
        elif isinstance(command, Terminated):
            request = self.pending.pop(command.key, None)
            if command.reason is TerminationReason.NO_ACK:
                self.run(self.s.no_ack())
            elif command.reason is not TerminationReason.NORMAL and request is not None:
                self.run(self.s.request_failed(request))

    def ended(self) -> list[Ended]:
        return [r for r in self.reports if isinstance(r, Ended)]

    def sent(self, method: str | int) -> list[SipRequest | SipResponse]:
        """Every message this side put on the wire with this method (or response status)."""
        return [m for m in self.endpoint.sent
                if (isinstance(m, SipRequest) and m.method == method)
                or (isinstance(m, SipResponse) and m.status == method)]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def network(clock: VirtualClock) -> MemoryNetwork:
    return MemoryNetwork(clock, min_delay=0.005, max_delay=0.005)


@pytest.fixture
def caller(network: MemoryNetwork) -> Side:
    return Side(network, CALLER_ADDR, CALLEE_ADDR)


@pytest.fixture
def callee(network: MemoryNetwork) -> Side:
    return Side(network, CALLEE_ADDR, CALLER_ADDR)


def rings_then_answers(after: float) -> Callable[[Side], None]:
    def incoming(side: Side) -> None:
        side.run(side.s.ring())
        side.clock.call_later(after, lambda: side.run(side.s.answer(sdp(host="10.0.0.2"))))
    return incoming


def up(clock: VirtualClock, caller: Side, callee: Side) -> None:
    callee.on_incoming = rings_then_answers(1.0)
    caller.call()
    clock.advance(2.0)
    assert caller.s.state is callee.s.state is SessionState.CONFIRMED


# --- a call, both ways of ending it ------------------------------------------------------------

def test_call_rings_answers_and_the_caller_hangs_up(clock: VirtualClock, caller: Side,
                                                     callee: Side) -> None:
    callee.on_incoming = rings_then_answers(1.0)
    caller.call()
    clock.advance(0.5)
    assert caller.s.state is SessionState.EARLY
    assert callee.s.state is SessionState.EARLY
    assert [type(r) for r in caller.reports] == [Ringing]
    clock.advance(1.0)
    answered = [r for r in caller.reports if isinstance(r, Answered)]
    assert len(answered) == 1
    assert b"10.0.0.2" in answered[0].response.body
    assert len(callee.sent("ACK")) == 0
    assert len(caller.sent("ACK")) == 1
    assert callee.s.state is SessionState.CONFIRMED
    assert len(callee.sent(200)) == 1  # the ACK came in time: no retransmission

    caller.run(caller.s.hangup(reason="Q.850;cause=16"))
    clock.advance(1.0)
    bye = caller.sent("BYE")
    assert len(bye) == 1
    assert bye[0].header("Reason") == "Q.850;cause=16"
    assert caller.s.state is callee.s.state is SessionState.ENDED
    assert callee.ended() == [Ended(EndReason.BYE, "remote")]
    assert caller.ended() == []  # the caller's own hang-up is not reported back
    clock.advance(40.0)
    assert not caller.timers
    assert not callee.timers


def test_the_callee_hangs_up(clock: VirtualClock, caller: Side, callee: Side) -> None:
    up(clock, caller, callee)
    callee.run(callee.s.hangup())
    clock.advance(1.0)
    assert len(callee.sent("BYE")) == 1
    assert caller.ended() == [Ended(EndReason.BYE, "remote")]
    assert caller.sent(200)[0].cseq.method == "BYE"


@pytest.mark.parametrize("status", [302, 404, 480, 486, 603])
def test_a_failure_ends_the_call_with_its_status(clock: VirtualClock, caller: Side,
                                                 callee: Side, status: int) -> None:
    def refuse(side: Side) -> None:
        side.run(side.s.ring())
        side.clock.call_later(0.5, lambda: side.run(side.s.hangup(
            status, headers=(("Reason", "Q.850;cause=17"),))))

    callee.on_incoming = refuse
    caller.call()
    clock.advance(1.0)
    assert caller.ended() == [Ended(EndReason.REJECTED, "remote", status)]
    assert callee.sent(status)[0].header("Reason") == "Q.850;cause=17"
    assert len(caller.sent("ACK")) == 1  # the transaction acknowledged the failure
    assert caller.s.state is callee.s.state is SessionState.ENDED
    caller.run(caller.s.hangup())  # hanging up an ended call does nothing
    assert caller.sent("CANCEL") == []


# --- a carrier's digest challenge to our INVITE ------------------------------------------------

CARRIER = DigestAuthenticator("carrier", b"carrier-secret-for-the-tests-0123")


def challenging(password: str) -> Callable[[Side], None]:
    """A carrier that answers 401 until the INVITE carries the right digest, then answers."""
    def incoming(side: Side) -> None:
        result = CARRIER.verify(side.s.invite, 0.0, lambda user, algorithm: compute_ha1(
            user, "carrier", password, algorithm))
        if result.outcome is AuthOutcome.OK:
            rings_then_answers(0.5)(side)
            return
        side.run(side.s.hangup(401, headers=tuple(CARRIER.challenge(0.0))))
        side.session = None  # the answered INVITE comes as a new transaction
    return incoming


def test_the_carriers_challenge_is_answered_once(clock: VirtualClock, caller: Side,
                                                 callee: Side) -> None:
    callee.on_incoming = challenging("secret")
    caller.call(credentials=("acct17", "secret"))
    clock.advance(2.0)
    invites = caller.sent("INVITE")
    assert len(invites) == 2
    assert invites[0].header("Authorization") is None
    assert 'username="acct17"' in (invites[1].header("Authorization") or "")
    assert invites[1].cseq.seq == 2
    assert invites[1].call_id == invites[0].call_id
    assert caller.s.state is SessionState.CONFIRMED
    assert [type(r) for r in caller.reports] == [Ringing, Answered]


def test_refused_credentials_end_the_call_with_the_401(clock: VirtualClock, caller: Side,
                                                       callee: Side) -> None:
    callee.on_incoming = challenging("other")
    caller.call(credentials=("acct17", "secret"))
    clock.advance(2.0)
    assert len(caller.sent("INVITE")) == 2  # answered once, not again and again
    assert caller.ended() == [Ended(EndReason.REJECTED, "remote", 401)]


def test_without_credentials_a_challenge_ends_the_call(clock: VirtualClock, caller: Side,
                                                       callee: Side) -> None:
    callee.on_incoming = challenging("secret")
    caller.call()
    clock.advance(2.0)
    assert len(caller.sent("INVITE")) == 1
    assert caller.ended() == [Ended(EndReason.REJECTED, "remote", 401)]


# --- 2xx retransmission until the ACK (RFC 3261 §13.3.1.4) -----------------------------------

def test_the_2xx_is_retransmitted_until_the_ack_comes(clock: VirtualClock, caller: Side,
                                                      callee: Side) -> None:
    caller.drop_acks = 2
    callee.on_incoming = rings_then_answers(1.0)
    caller.call()
    clock.advance(1.01)
    assert callee.s.state is SessionState.ANSWERED
    clock.advance(T1 + 2 * T1 + 0.1)  # G fires at T1 and 2·T1 later; the third ACK gets there
    assert len(callee.sent(200)) == 3
    assert caller.acks_sent == 3  # every 2xx copy was acknowledged again, the same ACK
    assert callee.s.state is SessionState.CONFIRMED
    clock.advance(10.0)
    assert len(callee.sent(200)) == 3  # and then no more
    assert len([r for r in caller.reports if isinstance(r, Answered)]) == 1


def test_no_ack_at_all_ends_the_call_with_bye(clock: VirtualClock, caller: Side,
                                              callee: Side) -> None:
    caller.drop_acks = 100
    callee.on_incoming = rings_then_answers(0.0)
    caller.call()
    clock.advance(64 * T1 + 1.0)
    times = len(callee.sent(200))
    assert 7 <= times <= 12  # T1, 2T1, 4T1, then every T2 up to 64·T1
    assert callee.ended() == [Ended(EndReason.NO_ACK, "local")]
    assert len(callee.sent("BYE")) == 1
    assert caller.ended() == [Ended(EndReason.BYE, "remote")]


def test_a_callee_that_hangs_up_before_the_ack_sends_bye_after_it(
        clock: VirtualClock, caller: Side, callee: Side) -> None:
    def answer_and_hang_up(side: Side) -> None:
        side.run(side.s.answer(sdp(host="10.0.0.2")))
        side.run(side.s.hangup())

    callee.on_incoming = answer_and_hang_up
    caller.call()
    clock.advance(0.007)  # the 200 is on its way, no ACK yet
    assert callee.s.state is SessionState.CLOSING
    assert callee.sent("BYE") == []
    clock.advance(1.0)
    bye = callee.sent("BYE")
    assert len(bye) == 1
    ack_at = [m for m in callee.endpoint.received if isinstance(m, Deliver)
              and isinstance(m.message, SipRequest) and m.message.method == "ACK"]
    assert ack_at, "the ACK arrived before the BYE left"
    assert caller.ended() == [Ended(EndReason.BYE, "remote")]


def test_a_late_2xx_retransmission_after_the_end_is_acknowledged(
        clock: VirtualClock, caller: Side, callee: Side) -> None:
    up(clock, caller, callee)
    caller.run(caller.s.hangup())
    ok = callee.sent(200)[0]
    assert isinstance(ok, SipResponse)
    before = caller.acks_sent
    caller.run(caller.s.receive_response(ok))
    assert caller.acks_sent == before + 1


# --- CANCEL ------------------------------------------------------------------------------

def test_cancel_waits_for_a_provisional_response(clock: VirtualClock, caller: Side,
                                                 callee: Side) -> None:
    callee.on_incoming = lambda side: side.clock.call_later(2.0, lambda: side.run(side.s.ring()))
    caller.call()
    clock.advance(0.5)  # only 100 Trying so far
    caller.run(caller.s.hangup())
    assert caller.s.state is SessionState.CANCELLING
    clock.advance(1.0)
    assert caller.sent("CANCEL") == []  # §9.1: not before a provisional response
    clock.advance(1.0)
    assert len(caller.sent("CANCEL")) == 1
    clock.advance(1.0)
    assert callee.ended() == [Ended(EndReason.CANCELLED, "remote")]
    assert len(callee.sent(487)) == 1
    assert caller.s.state is SessionState.ENDED
    assert caller.ended() == []


def test_a_2xx_that_crosses_the_cancel_is_acknowledged_and_ended(
        clock: VirtualClock, caller: Side, callee: Side) -> None:
    callee.on_incoming = rings_then_answers(1.0)
    caller.call()
    clock.advance(1.003)  # the callee answers at 1.005, the CANCEL arrives at 1.008
    caller.run(caller.s.hangup())  # the CANCEL and the 200 cross on the wire
    clock.advance(1.0)
    assert len(caller.sent("CANCEL")) == 1
    assert len(caller.sent("ACK")) == 1
    assert len(caller.sent("BYE")) == 1
    assert callee.ended() == [Ended(EndReason.BYE, "remote")]
    assert callee.sent(487) == []  # the answered INVITE is not cancelled
    assert caller.s.state is callee.s.state is SessionState.ENDED


def test_no_answer_timer_cancels(clock: VirtualClock, caller: Side, callee: Side) -> None:
    callee.on_incoming = lambda side: side.run(side.s.ring())
    caller.call(no_answer_after=5.0)
    clock.advance(4.9)
    assert caller.sent("CANCEL") == []
    clock.advance(0.2)
    assert caller.ended() == [Ended(EndReason.NO_ANSWER, "local")]
    assert len(caller.sent("CANCEL")) == 1
    clock.advance(1.0)
    assert callee.ended() == [Ended(EndReason.CANCELLED, "remote")]
    assert caller.s.state is SessionState.ENDED


def test_an_answer_stops_the_no_answer_timer(clock: VirtualClock, caller: Side,
                                              callee: Side) -> None:
    callee.on_incoming = rings_then_answers(1.0)
    caller.call(no_answer_after=5.0)
    clock.advance(20.0)
    assert caller.s.state is SessionState.CONFIRMED
    assert caller.sent("CANCEL") == []


def test_an_invite_nobody_answers_times_out(clock: VirtualClock, network: MemoryNetwork,
                                            caller: Side) -> None:
    network.detach(CALLEE_ADDR)
    caller.call()
    clock.advance(64 * T1 + 0.1)
    assert caller.ended() == [Ended(EndReason.TIMEOUT, "remote")]
    assert caller.s.state is SessionState.ENDED


# --- re-INVITE: hold, unhold, glare ------------------------------------------------------

@pytest.mark.parametrize("who", ["caller", "callee"])
def test_hold_and_unhold_by_reinvite(clock: VirtualClock, caller: Side, callee: Side,
                                     who: str) -> None:
    up(clock, caller, callee)
    holder, held = (caller, callee) if who == "caller" else (callee, caller)
    holder.run(holder.s.reinvite(sdp("sendonly")))
    holder.run(holder.s.reinvite(sdp("sendrecv")))  # queued behind the first
    clock.advance(1.0)
    offers = [r.request for r in held.reports if isinstance(r, ReinviteOffered)]
    assert [b"a=sendonly" in o.body for o in offers] == [True, False]
    done = [r.response for r in holder.reports if isinstance(r, ReinviteDone)]
    assert [r.status for r in done if r is not None] == [200, 200]
    assert len(holder.sent("ACK")) == (3 if who == "caller" else 2)
    assert held.s.state is holder.s.state is SessionState.CONFIRMED
    seqs = [o.cseq.seq for o in offers]
    assert seqs[1] == seqs[0] + 1


def test_a_refused_offer_is_reported(clock: VirtualClock, caller: Side, callee: Side) -> None:
    up(clock, caller, callee)
    callee.on_offer = lambda side, request: side.run(side.s.answer_reinvite(
        488, headers=(("Warning", '304 parley "no common codec"'),)))
    caller.run(caller.s.reinvite(sdp("sendonly")))
    clock.advance(1.0)
    done = [r.response for r in caller.reports if isinstance(r, ReinviteDone)]
    assert [r.status for r in done if r is not None] == [488]
    caller.run(caller.s.reinvite(sdp("sendrecv")))  # not stuck: the next one goes out
    clock.advance(1.0)
    assert len([m for m in caller.sent("INVITE") if m.cseq.seq > 1]) == 2


def test_glare_both_get_491_and_retry_after_the_rfc_wait(clock: VirtualClock, caller: Side,
                                                          callee: Side) -> None:
    up(clock, caller, callee)
    caller.rand, callee.rand = 0.5, 0.25  # caller 2.1 + 1.9·0.5 = 3.05 s; callee 0.5 s
    start = clock.monotonic()
    caller.run(caller.s.reinvite(sdp("sendonly")))
    callee.run(callee.s.reinvite(sdp("sendonly", host="10.0.0.2")))
    clock.advance(0.1)
    assert len(caller.sent(491)) == 1
    assert len(callee.sent(491)) == 1
    assert caller.timers.keys() == {"glare"}
    assert callee.timers.keys() == {"glare"}
    clock.advance(0.5)  # the callee (who does not own the Call-ID) retries first
    reinvites = [m for m in callee.sent("INVITE")]
    assert len(reinvites) == 2
    clock.advance(3.2)
    assert len([m for m in caller.sent("INVITE") if m.cseq.seq > 1]) == 2
    caller_done = [r.response for r in caller.reports if isinstance(r, ReinviteDone)]
    callee_done = [r.response for r in callee.reports if isinstance(r, ReinviteDone)]
    assert [r.status for r in caller_done if r] == [200]
    assert [r.status for r in callee_done if r] == [200]
    assert clock.monotonic() - start < 4.0


# --- in-dialog requests the session does not own, and odd orders -----------------------

def test_other_requests_are_reported_and_ended_calls_answer_481(
        clock: VirtualClock, caller: Side, callee: Side) -> None:
    up(clock, caller, callee)
    dialog = caller.s.dialog
    assert dialog is not None
    caller.endpoint.send_request(dialog.info(b"Signal=5\r\nDuration=100\r\n"), CALLEE_ADDR)
    clock.advance(0.1)
    reported = [r.request for r in callee.reports if isinstance(r, RequestReceived)]
    assert [r.method for r in reported] == ["INFO"]
    late = dialog.create_request("INFO", cseq=dialog.local_seq + 5)
    callee.run(callee.s.hangup())
    clock.advance(0.1)
    commands = callee.s.receive_request(late)
    assert [c.response.status for c in commands if isinstance(c, SendResponse)] == [481]


def test_out_of_order_cseq_gets_500(clock: VirtualClock, caller: Side, callee: Side) -> None:
    up(clock, caller, callee)
    dialog = caller.s.dialog
    assert dialog is not None
    stale = dialog.create_request("INFO", cseq=1)
    commands = callee.s.receive_request(stale)
    statuses = [c.response.status for c in commands if isinstance(c, SendResponse)]
    assert statuses == [500]


def test_early_bye_and_early_reinvite_at_the_callee(clock: VirtualClock, caller: Side,
                                                    callee: Side) -> None:
    callee.on_incoming = lambda side: side.run(side.s.ring())
    caller.call()
    clock.advance(0.5)
    reinvite = build_request(
        "INVITE", SipUri.parse("sip:1002@10.0.0.2"),
        from_=NameAddr.parse("<sip:1001@10.0.0.1>;tag=caller-tag"),
        to=NameAddr.parse("<sip:1002@10.0.0.2>;tag=callee-tag"), call_id="call-1@10.0.0.1",
        cseq=2, via=Via("UDP", "10.0.0.1", 5060, (("branch", new_branch()),)),
        contact=NameAddr(SipUri.parse("sip:1001@10.0.0.1:5060")), body=sdp(),
        content_type="application/sdp")
    out = callee.s.receive_request(reinvite)
    refused = [c.response for c in out if isinstance(c, SendResponse)]
    assert [r.status for r in refused] == [500]
    assert refused[0].header("Retry-After") == "1"
    bye = build_request(
        "BYE", SipUri.parse("sip:1002@10.0.0.2"),
        from_=NameAddr.parse("<sip:1001@10.0.0.1>;tag=caller-tag"),
        to=NameAddr.parse("<sip:1002@10.0.0.2>;tag=callee-tag"), call_id="call-1@10.0.0.1",
        cseq=3, via=Via("UDP", "10.0.0.1", 5060, (("branch", new_branch()),)))
    out = callee.s.receive_request(bye)
    assert sorted(c.response.status for c in out if isinstance(c, SendResponse)) == [200, 487]
    assert Ended(EndReason.BYE, "remote") in out


# --- the tables ----------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "action"), [
    ("caller", lambda s: s.ring()),
    ("caller", lambda s: s.answer(b"")),
    ("caller", lambda s: s.reinvite(b"")),
    ("caller", lambda s: s.no_ack()),
    ("callee", lambda s: s.reinvite(b"")),
    ("callee", lambda s: s.answer_reinvite(200)),
])
def test_an_event_the_state_does_not_know_raises(role: str, action: Callable[
        [InviteSession], list[Command]]) -> None:
    if role == "caller":
        session = InviteSession.outgoing(invite(), local_via=Via("UDP", "10.0.0.1", 5060, ()))
        session.start()
    else:
        session = InviteSession.incoming(
            invite(), local_tag="t", local_contact=NameAddr(SipUri.parse("sip:x@10.0.0.2")),
            local_via=Via("UDP", "10.0.0.2", 5060, ()))
    with pytest.raises(SessionError, match="cannot handle"):
        action(session)


def test_answering_a_hung_up_call_raises(clock: VirtualClock, caller: Side,
                                         callee: Side) -> None:
    callee.on_incoming = lambda side: side.run(side.s.hangup(486))
    caller.call()
    clock.advance(1.0)
    with pytest.raises(SessionError, match="Ended cannot handle answer"):
        callee.s.answer(sdp())
    with pytest.raises(SessionError, match="no re-INVITE is waiting"):
        InviteSession.answer_reinvite(_confirmed_callee(), 200)


def _confirmed_callee() -> InviteSession:
    session = InviteSession.incoming(
        invite(), local_tag="t", local_contact=NameAddr(SipUri.parse("sip:x@10.0.0.2")),
        local_via=Via("UDP", "10.0.0.2", 5060, ()))
    session.answer(sdp())
    ack = build_request("ACK", SipUri.parse("sip:x@10.0.0.2"),
                        from_=session.invite.from_, to=session.invite.to.with_tag("t"),
                        call_id=session.call_id, cseq=1,
                        via=Via("UDP", "10.0.0.1", 5060, (("branch", new_branch()),)))
    session.receive_request(ack)
    assert session.state is SessionState.CONFIRMED
    return session


def test_every_handler_says_what_it_does_and_docs_show_the_tables() -> None:
    for table in (CALLER, CALLEE):
        for handler in table.values():
            assert handler.__doc__, handler.__name__
    docs = Path(__file__).resolve().parents[2] / "docs" / "sip.md"
    assert tables_markdown() in docs.read_text(encoding="utf-8")


@pytest.mark.parametrize("seed", range(8))
def test_calls_complete_over_a_lossy_network(clock: VirtualClock, seed: int) -> None:
    network = MemoryNetwork(clock, loss=0.25, duplicate=0.1, min_delay=0.001, max_delay=0.05,
                            seed=seed)
    caller = Side(network, CALLER_ADDR, CALLEE_ADDR)
    callee = Side(network, CALLEE_ADDR, CALLER_ADDR)
    callee.on_incoming = rings_then_answers(1.0)
    caller.call()
    clock.advance(30.0)
    if caller.s.state is SessionState.CONFIRMED:
        caller.run(caller.s.reinvite(sdp("sendonly")))
        clock.advance(30.0)
        caller.run(caller.s.hangup())
        clock.advance(60.0)
        assert callee.s.state is SessionState.ENDED
    else:  # the INVITE or its answers were all lost: the caller gave up cleanly
        assert caller.s.state is SessionState.ENDED
        assert caller.ended()[0].reason in (EndReason.TIMEOUT, EndReason.BYE)
    assert caller.s.state is SessionState.ENDED
    assert not caller.endpoint.pending_timers
    assert not callee.endpoint.pending_timers
