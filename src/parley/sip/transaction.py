"""SIP transactions (RFC 3261 §17 with the RFC 6026 fix for 2xx) as transition tables.

Sans-IO: :class:`TransactionLayer` takes inputs (a received message with its source address,
a request or response the TU wants to send, a timer that fired, a transport error) together
with the current time, and returns a list of commands:

- :class:`Send` a message to an address over a transport,
- :class:`StartTimer` / :class:`CancelTimer` (the shell calls :meth:`TransactionLayer.
  timer_expired` when a started timer is due; stale expiries are ignored),
- :class:`Deliver` a request or response to the TU (transaction user: dialogs, B2BUA),
- :class:`CancelRequested` when a CANCEL matched a pending INVITE (the layer already answered
  the CANCEL with 200; the TU should answer the INVITE with 487),
- :class:`Terminated` with a :class:`TerminationReason` (timeout → the TU treats it as 408),
- :class:`Dropped` for input that matches nothing and needs nothing (for logs).

Each of the four transaction kinds is a table ``(state, event) -> handler``; the handler emits
commands and returns the next state. A pair missing from the table raises
:class:`TransactionError`; for input from the network the layer turns that into ``Dropped``.

2xx handling follows RFC 6026: the client INVITE transaction passes every 2xx to the TU in
state Accepted (the TU, i.e. the dialog, sends the ACK, also for retransmitted 2xx) and ends
on timer M. The server INVITE transaction retransmits its 2xx on timer G in state Accepted
until the ACK arrives (matched by Call-ID, CSeq and From tag, as the ACK for a 2xx has its own
branch), hands that ACK to the TU, and ends on timer L (reason NO_ACK if none came: the TU
should then send BYE, RFC 3261 §13.3.1.4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from parley.sip.errors import TransactionError
from parley.sip.headers import Headers
from parley.sip.message import SipRequest, SipResponse, build_response

Address = tuple[str, int]
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "WS", "WSS", "SCTP"})


@dataclass(frozen=True)
class TimerConfig:
    """RFC 3261 timer bases in seconds: T1 (RTT estimate), T2 (max retransmit interval),
    T4 (how long a message may stay in the network)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


@dataclass(frozen=True)
class TransactionKey:
    """Identifies a transaction: branch, sent-by (server side) and method (ACK → INVITE)."""

    branch: str
    method: str
    sent_by: str = ""
    server: bool = False


# --- commands --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Send:
    message: SipRequest | SipResponse
    destination: Address
    transport: str


@dataclass(frozen=True)
class StartTimer:
    key: TransactionKey
    timer: str
    at: float


@dataclass(frozen=True)
class CancelTimer:
    key: TransactionKey
    timer: str


@dataclass(frozen=True)
class Deliver:
    """A message for the TU. ``key`` is None for messages outside any transaction (an ACK for
    a 2xx after its transaction ended, a 2xx retransmission after timer M). ``source`` is
    the address a new request came from (use it to recognise trunk peers), or the peer of
    the transaction for responses and ACKs."""

    message: SipRequest | SipResponse
    key: TransactionKey | None
    source: Address | None = None
    transport: str | None = None


@dataclass(frozen=True)
class CancelRequested:
    cancel: SipRequest
    invite_key: TransactionKey


class TerminationReason(Enum):
    NORMAL = "normal"
    TIMEOUT = "timeout"          # no final response (B/F) or no ACK for a non-2xx (H)
    NO_ACK = "no-ack"            # a 2xx we sent was never acknowledged (L)
    TRANSPORT_ERROR = "transport-error"


@dataclass(frozen=True)
class Terminated:
    key: TransactionKey
    reason: TerminationReason
    request: SipRequest


@dataclass(frozen=True)
class Dropped:
    message: SipRequest | SipResponse | None
    reason: str


Command = Send | StartTimer | CancelTimer | Deliver | CancelRequested | Terminated | Dropped


# --- states and events -----------------------------------------------------------------------

class Kind(Enum):
    INVITE_CLIENT = "INVITE client"
    NON_INVITE_CLIENT = "non-INVITE client"
    INVITE_SERVER = "INVITE server"
    NON_INVITE_SERVER = "non-INVITE server"


class State(Enum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class Event(Enum):
    RECV_1XX = "received 1xx"
    RECV_2XX = "received 2xx"
    RECV_FINAL = "received 3xx-6xx"
    RECV_REQUEST = "received request retransmission"
    RECV_ACK = "received ACK"
    SEND_1XX = "TU sends 1xx"
    SEND_2XX = "TU sends 2xx"
    SEND_FINAL = "TU sends 3xx-6xx"
    TIMER_A = "timer A"
    TIMER_B = "timer B"
    TIMER_D = "timer D"
    TIMER_E = "timer E"
    TIMER_F = "timer F"
    TIMER_G = "timer G"
    TIMER_H = "timer H"
    TIMER_I = "timer I"
    TIMER_J = "timer J"
    TIMER_K = "timer K"
    TIMER_L = "timer L"
    TIMER_M = "timer M"
    TRANSPORT_ERROR = "transport error"


_TIMER_EVENTS = {e.value[-1]: e for e in Event if e.value.startswith("timer ")}


@dataclass
class Transaction:
    """One transaction's state. Mutated only by the handlers of its kind's table."""

    key: TransactionKey
    kind: Kind
    state: State
    request: SipRequest
    peer: Address
    transport: str
    config: TimerConfig
    out: list[Command] = field(default_factory=list)
    last_response: SipResponse | None = None
    ack: SipRequest | None = None
    timers: dict[str, float] = field(default_factory=dict)    # armed timer -> deadline
    intervals: dict[str, float] = field(default_factory=dict)  # retransmit interval
    acked: bool = False
    now: float = 0.0

    @property
    def reliable(self) -> bool:
        return self.transport.upper() in RELIABLE_TRANSPORTS

    # helpers used by handlers
    def send(self, message: SipRequest | SipResponse) -> None:
        self.out.append(Send(message, self.peer, self.transport))

    def start(self, timer: str, delay: float) -> None:
        self.timers[timer] = self.now + delay
        self.intervals[timer] = delay
        self.out.append(StartTimer(self.key, timer, self.now + delay))

    def cancel(self, *timers: str) -> None:
        for timer in timers:
            if self.timers.pop(timer, None) is not None:
                self.out.append(CancelTimer(self.key, timer))

    def deliver(self, message: SipRequest | SipResponse) -> None:
        self.out.append(Deliver(message, self.key, self.peer, self.transport))

    def terminate(self, reason: TerminationReason = TerminationReason.NORMAL) -> State:
        self.cancel(*list(self.timers))
        self.out.append(Terminated(self.key, reason, self.request))
        return State.TERMINATED

    def wait_or_end(self, timer: str, delay: float, state: State) -> State:
        """Enter ``state`` waiting ``delay`` on ``timer``; end at once when delay is zero."""
        if delay <= 0:
            return self.terminate()
        self.start(timer, delay)
        return state


Handler = Callable[[Transaction, SipRequest | SipResponse | None], State]


def _same(state: State) -> Handler:
    def absorb(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
        return state
    absorb.__doc__ = "absorb"
    return absorb


def _ended(reason: TerminationReason) -> Handler:
    def end(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
        return txn.terminate(reason)
    end.__doc__ = f"end the transaction ({reason.name})"
    return end


def _response(message: SipRequest | SipResponse | None) -> SipResponse:
    assert isinstance(message, SipResponse)  # noqa: S101 - the table guarantees it
    return message


# --- INVITE client (RFC 3261 §17.1.1, RFC 6026 §7.2) -------------------------------------

def build_ack_for_non2xx(request: SipRequest, response: SipResponse) -> SipRequest:
    """The ACK a client INVITE transaction sends for a 3xx-6xx (RFC 3261 §17.1.1.3)."""
    items: list[tuple[str, str]] = [("Via", request.headers.values("Via")[0])]
    items += [("Route", v) for v in request.headers.lines("Route")]
    items += [("Max-Forwards", "70"), ("From", request.headers.get("From") or ""),
              ("To", response.headers.get("To") or ""), ("Call-ID", request.call_id),
              ("CSeq", f"{request.cseq.seq} ACK"), ("Content-Length", "0")]
    return SipRequest("ACK", request.uri, Headers(items))


def _ic_provisional(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """pass the 1xx up; stop A and B → Proceeding"""
    txn.cancel("A", "B")
    txn.deliver(_response(message))
    return State.PROCEEDING


def _ic_2xx(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """pass the 2xx up (the TU ACKs it); start M → Accepted"""
    txn.cancel("A", "B")
    txn.deliver(_response(message))
    txn.start("M", 64 * txn.config.t1)
    return State.ACCEPTED


def _ic_final(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """send the ACK, pass the response up; start D → Completed"""
    response = _response(message)
    txn.cancel("A", "B")
    txn.ack = build_ack_for_non2xx(txn.request, response)
    txn.send(txn.ack)
    txn.deliver(response)
    return txn.wait_or_end("D", 0.0 if txn.reliable else max(32.0, 64 * txn.config.t1),
                           State.COMPLETED)


def _ic_resend_ack(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """re-send the ACK"""
    if txn.ack is not None:
        txn.send(txn.ack)
    return State.COMPLETED


def _ic_timer_a(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """re-send the INVITE; double A"""
    txn.send(txn.request)
    txn.start("A", txn.intervals["A"] * 2)
    return State.CALLING


def _ic_deliver_2xx(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """pass the retransmitted 2xx up (the TU ACKs it again)"""
    txn.deliver(_response(message))
    return State.ACCEPTED


INVITE_CLIENT: dict[tuple[State, Event], Handler] = {
    (State.CALLING, Event.TIMER_A): _ic_timer_a,
    (State.CALLING, Event.TIMER_B): _ended(TerminationReason.TIMEOUT),
    (State.CALLING, Event.RECV_1XX): _ic_provisional,
    (State.CALLING, Event.RECV_2XX): _ic_2xx,
    (State.CALLING, Event.RECV_FINAL): _ic_final,
    (State.CALLING, Event.TRANSPORT_ERROR): _ended(TerminationReason.TRANSPORT_ERROR),
    (State.PROCEEDING, Event.RECV_1XX): _ic_provisional,
    (State.PROCEEDING, Event.RECV_2XX): _ic_2xx,
    (State.PROCEEDING, Event.RECV_FINAL): _ic_final,
    (State.PROCEEDING, Event.TRANSPORT_ERROR): _ended(TerminationReason.TRANSPORT_ERROR),
    (State.COMPLETED, Event.RECV_FINAL): _ic_resend_ack,
    (State.COMPLETED, Event.RECV_1XX): _same(State.COMPLETED),
    (State.COMPLETED, Event.TIMER_D): _ended(TerminationReason.NORMAL),
    (State.COMPLETED, Event.TRANSPORT_ERROR): _ended(TerminationReason.TRANSPORT_ERROR),
    (State.ACCEPTED, Event.RECV_2XX): _ic_deliver_2xx,
    (State.ACCEPTED, Event.RECV_1XX): _same(State.ACCEPTED),
    (State.ACCEPTED, Event.RECV_FINAL): _same(State.ACCEPTED),
    (State.ACCEPTED, Event.TIMER_M): _ended(TerminationReason.NORMAL),
    (State.ACCEPTED, Event.TRANSPORT_ERROR): _same(State.ACCEPTED),
}


# --- non-INVITE client (RFC 3261 §17.1.2) --------------------------------------------------

def _nc_timer_e(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """re-send the request; E doubles up to T2 (Trying) or is T2 (Proceeding)"""
    txn.send(txn.request)
    if txn.state is State.TRYING:
        txn.start("E", min(txn.intervals["E"] * 2, txn.config.t2))
    else:
        txn.start("E", txn.config.t2)
    return txn.state


def _nc_provisional(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """pass the 1xx up → Proceeding"""
    txn.deliver(_response(message))
    return State.PROCEEDING


def _nc_final(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """pass the response up; start K → Completed"""
    txn.cancel("E", "F")
    txn.deliver(_response(message))
    return txn.wait_or_end("K", 0.0 if txn.reliable else txn.config.t4, State.COMPLETED)


NON_INVITE_CLIENT: dict[tuple[State, Event], Handler] = {
    (State.TRYING, Event.TIMER_E): _nc_timer_e,
    (State.TRYING, Event.TIMER_F): _ended(TerminationReason.TIMEOUT),
    (State.TRYING, Event.RECV_1XX): _nc_provisional,
    (State.TRYING, Event.RECV_2XX): _nc_final,
    (State.TRYING, Event.RECV_FINAL): _nc_final,
    (State.TRYING, Event.TRANSPORT_ERROR): _ended(TerminationReason.TRANSPORT_ERROR),
    (State.PROCEEDING, Event.TIMER_E): _nc_timer_e,
    (State.PROCEEDING, Event.TIMER_F): _ended(TerminationReason.TIMEOUT),
    (State.PROCEEDING, Event.RECV_1XX): _nc_provisional,
    (State.PROCEEDING, Event.RECV_2XX): _nc_final,
    (State.PROCEEDING, Event.RECV_FINAL): _nc_final,
    (State.PROCEEDING, Event.TRANSPORT_ERROR): _ended(TerminationReason.TRANSPORT_ERROR),
    (State.COMPLETED, Event.RECV_1XX): _same(State.COMPLETED),
    (State.COMPLETED, Event.RECV_2XX): _same(State.COMPLETED),
    (State.COMPLETED, Event.RECV_FINAL): _same(State.COMPLETED),
    (State.COMPLETED, Event.TIMER_K): _ended(TerminationReason.NORMAL),
}


# --- INVITE server (RFC 3261 §17.2.1, RFC 6026 §7.1) ---------------------------------------

def _is_send(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """send the provisional response"""
    txn.last_response = _response(message)
    txn.send(txn.last_response)
    return txn.state


def _is_resend(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """re-send the last response (if any)"""
    if txn.last_response is not None:
        txn.send(txn.last_response)
    return txn.state


def _is_send_2xx(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """send the 2xx; start G (unreliable) and L → Accepted"""
    txn.last_response = _response(message)
    txn.send(txn.last_response)
    if txn.state is not State.ACCEPTED:
        if not txn.reliable:
            txn.start("G", txn.config.t1)
        txn.start("L", 64 * txn.config.t1)
    return State.ACCEPTED


def _is_send_final(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """send the response; start G (unreliable) and H → Completed"""
    txn.last_response = _response(message)
    txn.send(txn.last_response)
    if not txn.reliable:
        txn.start("G", txn.config.t1)
    txn.start("H", 64 * txn.config.t1)
    return State.COMPLETED


def _is_timer_g(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """re-send the final response; G doubles up to T2"""
    if txn.last_response is not None:
        txn.send(txn.last_response)
    txn.start("G", min(txn.intervals["G"] * 2, txn.config.t2))
    return txn.state


def _is_ack(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """stop G and H; start I → Confirmed"""
    txn.cancel("G", "H")
    return txn.wait_or_end("I", 0.0 if txn.reliable else txn.config.t4, State.CONFIRMED)


def _is_ack_2xx(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """first ACK: stop G, pass the ACK up; later ones absorbed"""
    if not txn.acked:
        txn.acked = True
        txn.cancel("G")
        assert isinstance(message, SipRequest)  # noqa: S101 - the table guarantees it
        txn.deliver(message)
    return State.ACCEPTED


def _is_timer_l(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """end (NO_ACK if the 2xx was never acknowledged)"""
    return txn.terminate(TerminationReason.NORMAL if txn.acked else TerminationReason.NO_ACK)


INVITE_SERVER: dict[tuple[State, Event], Handler] = {
    (State.PROCEEDING, Event.RECV_REQUEST): _is_resend,
    (State.PROCEEDING, Event.SEND_1XX): _is_send,
    (State.PROCEEDING, Event.SEND_2XX): _is_send_2xx,
    (State.PROCEEDING, Event.SEND_FINAL): _is_send_final,
    (State.PROCEEDING, Event.TRANSPORT_ERROR): _ended(TerminationReason.TRANSPORT_ERROR),
    (State.COMPLETED, Event.RECV_REQUEST): _is_resend,
    (State.COMPLETED, Event.RECV_ACK): _is_ack,
    (State.COMPLETED, Event.TIMER_G): _is_timer_g,
    (State.COMPLETED, Event.TIMER_H): _ended(TerminationReason.TIMEOUT),
    (State.COMPLETED, Event.TRANSPORT_ERROR): _ended(TerminationReason.TRANSPORT_ERROR),
    (State.CONFIRMED, Event.RECV_REQUEST): _same(State.CONFIRMED),
    (State.CONFIRMED, Event.RECV_ACK): _same(State.CONFIRMED),
    (State.CONFIRMED, Event.TIMER_I): _ended(TerminationReason.NORMAL),
    (State.ACCEPTED, Event.RECV_REQUEST): _is_resend,
    (State.ACCEPTED, Event.RECV_ACK): _is_ack_2xx,
    (State.ACCEPTED, Event.SEND_2XX): _is_send_2xx,
    (State.ACCEPTED, Event.TIMER_G): _is_timer_g,
    (State.ACCEPTED, Event.TIMER_L): _is_timer_l,
    (State.ACCEPTED, Event.TRANSPORT_ERROR): _same(State.ACCEPTED),
}


# --- non-INVITE server (RFC 3261 §17.2.2) --------------------------------------------------

def _ns_send_1xx(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """send the provisional response → Proceeding"""
    txn.last_response = _response(message)
    txn.send(txn.last_response)
    return State.PROCEEDING


def _ns_send_final(txn: Transaction, message: SipRequest | SipResponse | None) -> State:
    """send the final response; start J → Completed"""
    txn.last_response = _response(message)
    txn.send(txn.last_response)
    return txn.wait_or_end("J", 0.0 if txn.reliable else 64 * txn.config.t1, State.COMPLETED)


NON_INVITE_SERVER: dict[tuple[State, Event], Handler] = {
    (State.TRYING, Event.RECV_REQUEST): _same(State.TRYING),
    (State.TRYING, Event.SEND_1XX): _ns_send_1xx,
    (State.TRYING, Event.SEND_2XX): _ns_send_final,
    (State.TRYING, Event.SEND_FINAL): _ns_send_final,
    (State.TRYING, Event.TRANSPORT_ERROR): _ended(TerminationReason.TRANSPORT_ERROR),
    (State.PROCEEDING, Event.RECV_REQUEST): _is_resend,
    (State.PROCEEDING, Event.SEND_1XX): _ns_send_1xx,
    (State.PROCEEDING, Event.SEND_2XX): _ns_send_final,
    (State.PROCEEDING, Event.SEND_FINAL): _ns_send_final,
    (State.PROCEEDING, Event.TRANSPORT_ERROR): _ended(TerminationReason.TRANSPORT_ERROR),
    (State.COMPLETED, Event.RECV_REQUEST): _is_resend,
    (State.COMPLETED, Event.TIMER_J): _ended(TerminationReason.NORMAL),
    (State.COMPLETED, Event.TRANSPORT_ERROR): _ended(TerminationReason.TRANSPORT_ERROR),
}

TABLES: dict[Kind, dict[tuple[State, Event], Handler]] = {
    Kind.INVITE_CLIENT: INVITE_CLIENT,
    Kind.NON_INVITE_CLIENT: NON_INVITE_CLIENT,
    Kind.INVITE_SERVER: INVITE_SERVER,
    Kind.NON_INVITE_SERVER: NON_INVITE_SERVER,
}


def step(txn: Transaction, event: Event, message: SipRequest | SipResponse | None,
         now: float) -> list[Command]:
    """Feed one event to a transaction; returns the commands it produced."""
    handler = TABLES[txn.kind].get((txn.state, event))
    if handler is None:
        raise TransactionError(
            f"{txn.kind.value} transaction {txn.key.branch} in state {txn.state.value} "
            f"cannot handle {event.value}")
    txn.now = now
    out: list[Command] = []
    txn.out = out
    txn.state = handler(txn, message)
    txn.out = _IDLE
    return out


class _Idle(list[Command]):
    """A transaction's ``out`` between events: its last commands (a delivered message among
    them) are not kept for the rest of its life, and a command given outside an event is
    an error, not lost."""

    def append(self, command: Command, /) -> None:
        raise TransactionError(f"{command!r}: a transaction gives commands only while it "
                               "handles an event")


_IDLE = _Idle()


def _response_event(status: int) -> Event:
    if status < 200:
        return Event.RECV_1XX
    return Event.RECV_2XX if status < 300 else Event.RECV_FINAL


def _send_event(status: int) -> Event:
    if status < 200:
        return Event.SEND_1XX
    return Event.SEND_2XX if status < 300 else Event.SEND_FINAL


def _sent_by(request: SipRequest | SipResponse) -> str:
    via = request.via
    return f"{via.host.lower()}:{via.port or 5060}"


def server_key(request: SipRequest) -> TransactionKey:
    """RFC 3261 §17.2.3 matching key; pre-RFC 3261 branches fall back to a digest of the
    §17.2.3 fields (Request-URI, From tag, Call-ID, CSeq number, top Via)."""
    method = "INVITE" if request.method == "ACK" else request.method
    branch = request.branch or ""
    if not branch.startswith("z9hG4bK"):
        to_tag = "" if request.method in ("ACK", "CANCEL") else (request.to.tag or "")
        ident = (f"{request.uri}|{request.from_.tag}|{to_tag}|{request.call_id}|"
                 f"{request.cseq.seq}|{request.via}")
        branch = "rfc2543-" + hashlib.sha1(ident.encode(), usedforsecurity=False).hexdigest()
    return TransactionKey(branch, method, _sent_by(request), server=True)


def client_key(message: SipRequest | SipResponse) -> TransactionKey:
    method = message.cseq.method
    return TransactionKey(message.branch or "", "INVITE" if method == "ACK" else method)


class TransactionLayer:
    """All transactions of one SIP endpoint, matched by branch (RFC 3261 §17.1.3, §17.2.3).

    ``auto_trying`` sends ``100 Trying`` for every new INVITE at once, so that UDP
    retransmissions stop while the TU decides.
    """

    def __init__(self, config: TimerConfig | None = None, *, auto_trying: bool = True) -> None:
        self.config = config or TimerConfig()
        self.auto_trying = auto_trying
        self._transactions: dict[TransactionKey, Transaction] = {}
        # ACKs for 2xx carry a new branch: find the INVITE by Call-ID, CSeq, From tag.
        self._accepted: dict[tuple[str, int, str], TransactionKey] = {}

    def __len__(self) -> int:
        return len(self._transactions)

    def get(self, key: TransactionKey) -> Transaction | None:
        return self._transactions.get(key)

    # inputs ---------------------------------------------------------------------------

    def send_request(self, request: SipRequest, destination: Address, transport: str,
                     now: float) -> tuple[TransactionKey, list[Command]]:
        """Start a client transaction for ``request`` (not for ACK: send that directly)."""
        if request.method == "ACK":
            raise TransactionError("ACK is not sent in a transaction; send it with Send")
        key = client_key(request)
        if key in self._transactions:
            raise TransactionError(f"a client transaction with branch {key.branch} and "
                                   f"method {key.method} already exists")
        invite = request.method == "INVITE"
        txn = Transaction(key, Kind.INVITE_CLIENT if invite else Kind.NON_INVITE_CLIENT,
                          State.CALLING if invite else State.TRYING, request, destination,
                          transport.upper(), self.config, now=now)
        self._transactions[key] = txn
        txn.send(request)
        if invite:
            if not txn.reliable:
                txn.start("A", self.config.t1)
            txn.start("B", 64 * self.config.t1)
        else:
            if not txn.reliable:
                txn.start("E", self.config.t1)
            txn.start("F", 64 * self.config.t1)
        out, txn.out = txn.out, _IDLE
        return key, out

    def send_response(self, response: SipResponse, now: float) -> list[Command]:
        """Send a TU's response through the server transaction it answers."""
        method = response.cseq.method
        key = TransactionKey(response.branch or "", method, _sent_by(response), server=True)
        txn = self._transactions.get(key)
        if txn is None:
            raise TransactionError(f"no server transaction for branch {key.branch} "
                                   f"({method}); it ended or never existed")
        return self._run(txn, _send_event(response.status), response, now)

    def receive(self, message: SipRequest | SipResponse, source: Address, transport: str,
                now: float) -> list[Command]:
        """A message that arrived from ``source`` over ``transport``."""
        if isinstance(message, SipResponse):
            return self._receive_response(message, source, transport, now)
        return self._receive_request(message, source, transport.upper(), now)

    def timer_expired(self, key: TransactionKey, timer: str, now: float) -> list[Command]:
        txn = self._transactions.get(key)
        if txn is None or timer not in txn.timers:
            return []  # cancelled or already replaced: a stale expiry
        del txn.timers[timer]
        return self._run(txn, _TIMER_EVENTS[timer], None, now)

    def transport_error(self, key: TransactionKey, now: float) -> list[Command]:
        txn = self._transactions.get(key)
        if txn is None:
            return []
        return self._run(txn, Event.TRANSPORT_ERROR, None, now)

    # internals ------------------------------------------------------------------------

    def _run(self, txn: Transaction, event: Event, message: SipRequest | SipResponse | None,
             now: float) -> list[Command]:
        out = step(txn, event, message, now)
        if txn.kind is Kind.INVITE_SERVER and txn.state is State.ACCEPTED:
            self._accepted[_ack_index(txn.request)] = txn.key
        if txn.state is State.TERMINATED:
            del self._transactions[txn.key]
            if txn.kind is Kind.INVITE_SERVER:
                self._accepted.pop(_ack_index(txn.request), None)
        return out

    def _receive_response(self, response: SipResponse, source: Address, transport: str,
                          now: float) -> list[Command]:
        key = client_key(response)
        txn = self._transactions.get(key)
        if txn is None:
            if response.is_success and key.method == "INVITE":
                # A 2xx retransmission after timer M: the dialog must ACK it again.
                return [Deliver(response, None, source, transport.upper())]
            return [Dropped(response, "response matches no client transaction")]
        try:
            return self._run(txn, _response_event(response.status), response, now)
        except TransactionError as exc:
            return [Dropped(response, str(exc))]

    def _receive_request(self, request: SipRequest, source: Address, transport: str,
                         now: float) -> list[Command]:
        key = server_key(request)
        txn = self._transactions.get(key)
        if request.method == "ACK":
            if txn is None:
                accepted = self._accepted.get(_ack_index(request))
                txn = self._transactions.get(accepted) if accepted else None
            if txn is None:
                return [Deliver(request, None, source, transport)]
            try:
                return self._run(txn, Event.RECV_ACK, request, now)
            except TransactionError as exc:
                return [Dropped(request, str(exc))]
        if txn is not None:
            try:
                return self._run(txn, Event.RECV_REQUEST, request, now)
            except TransactionError as exc:
                return [Dropped(request, str(exc))]
        peer = _response_address(request, source, transport)
        invite = request.method == "INVITE"
        txn = Transaction(key, Kind.INVITE_SERVER if invite else Kind.NON_INVITE_SERVER,
                          State.PROCEEDING if invite else State.TRYING, request, peer,
                          transport, self.config, now=now)
        self._transactions[key] = txn
        out: list[Command] = []
        if request.method == "CANCEL":
            return out + self._cancel(txn, request, now)
        out.append(Deliver(request, key, source, transport))  # the real source, for trust
        if invite and self.auto_trying:
            out += self._run(txn, Event.SEND_1XX, build_response(request, 100), now)
        return out

    def _cancel(self, txn: Transaction, cancel: SipRequest, now: float) -> list[Command]:
        invite_key = TransactionKey(txn.key.branch, "INVITE", txn.key.sent_by, server=True)
        invite = self._transactions.get(invite_key)
        if invite is None:
            return self._run(txn, Event.SEND_FINAL, build_response(cancel, 481), now)
        out = self._run(txn, Event.SEND_2XX, build_response(cancel, 200), now)
        if invite.state is State.PROCEEDING:
            out.append(CancelRequested(cancel, invite_key))
        return out


def _ack_index(request: SipRequest) -> tuple[str, int, str]:
    return (request.call_id, request.cseq.seq, request.from_.tag or "")


def _response_address(request: SipRequest, source: Address, transport: str) -> Address:
    """Where responses go: the source (rport, RFC 3581, or a stream), else Via sent-by port
    at the source address (RFC 3261 §18.2.2 with received)."""
    via = request.via
    if transport in RELIABLE_TRANSPORTS or via.wants_rport:
        return source
    return (source[0], via.port or 5060)


def build_cancel(invite: SipRequest) -> SipRequest:
    """The CANCEL for a pending INVITE (RFC 3261 §9.1): same branch, Call-ID, From, To."""
    items: list[tuple[str, str]] = [("Via", invite.headers.values("Via")[0])]
    items += [("Route", v) for v in invite.headers.lines("Route")]
    items += [("Max-Forwards", "70"), ("From", invite.headers.get("From") or ""),
              ("To", invite.headers.get("To") or ""), ("Call-ID", invite.call_id),
              ("CSeq", f"{invite.cseq.seq} CANCEL"), ("Content-Length", "0")]
    return SipRequest("CANCEL", invite.uri, Headers(items))


def tables_markdown() -> str:
    """The four transition tables as Markdown (docs/sip.md embeds this text verbatim)."""
    out: list[str] = []
    for kind, table in TABLES.items():
        out += [f"#### {kind.value}", "", "| state | event | action |", "|---|---|---|"]
        for (state, event), handler in table.items():
            out.append(f"| {state.value} | {event.value} | {handler.__doc__} |")
        out.append("")
    return "\n".join(out)
