"""Relay worker processes: bridged directions forwarded on another core
(``media.relay_workers``).

The node's event loop carries signalling, the ACD, the IVR, the store and the web; at a few
hundred calls the RTP relay's packets (two system calls and a Python dispatch each) take
most of its core. A direction of a two-party bridge that the relay only passes on, with or
without the header rewrite that continues a stream after a source change, can instead be
forwarded by a worker process: the relay sends it the two sockets (``SCM_RIGHTS`` over a
Unix socket pair: the worker's descriptors share the sockets, so the ports, the latched
phone and the other phone stay the same) and the stream's position, stops reading the
socket itself, and from then on the worker reads, rewrites and sends. Taking a direction
back is one synchronous request: the worker answers with its counts and the stream's
position, closes its descriptors and never touches the socket again; packets still queued
in the socket are the relay's to read.

The relay decides what may go (:meth:`parley.net.relay.MediaRelay.poll_kernel`), much
as for kernel forwarding; this module is the worker and its handle. Commands are one
datagram each (``SOCK_SEQPACKET``), a JSON object, with the sockets attached to ``add``:

- ``add``: ``port`` (the reading endpoint's), ``source`` (the latched phone), ``target``
  (the other phone), the stream's ``ssrc``, ``source_ssrc``, ``seq_delta``, ``ts_delta``,
  ``rewrite``, ``last_seq``, ``last_ts``; descriptors: the reading socket, the sending one.
- ``counts`` and ``remove`` (``ports``): answered with ``{"ports": {port: [packets, lost,
  last_seq, last_ts, ssrc, source_ssrc, seq_delta, ts_delta, rewrite]}, "departed": {…},
  "more": …}`` in datagrams of at most 256 directions, the last with ``more`` false.
- ``drop`` (``ports``): as ``remove``, for sockets the node is closing, with no answer (the
  node does not wait); the last counts come under ``departed`` in the next ``counts``.

The node asks for ``counts`` before each inactivity sweep (every second) without waiting
and applies the answer when it comes (:meth:`RelayWorker.request_counts`,
:meth:`RelayWorker.collect_counts`, the channel watched by the node's event loop, and read
again at the next poll): a worker that is busy, or starved of CPU on a full machine, does
not hold the node's event loop; one silent for ``_ANSWER_S`` is taken for dead, and so is
one whose end of the channel closes (seen at once, asked or not). ``remove`` (and
``counts`` when a stream must go on at once) is waited for.

The worker ends when its end of the pair closes (the node stopped or died).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_SEQ_TS_SSRC = struct.Struct("!HII")
_MAX_DATAGRAM = 2048
_FRAME_TICKS = 160  # the gap left in timestamps at a source change (as the relay does)
_MAX_DROPOUT = 3000
_COMMAND = 65536
_ANSWER_S = 2.0  # a worker that does not answer within this is taken for dead
_PER_ANSWER = 256  # directions per answer datagram (about 20 KB of JSON)
_BATCH = 64  # ready sockets handled per round: a command waits for at most so many packets


Counts = tuple[dict[int, "StreamState"], dict[int, "StreamState"]]
"""A counts answer: the forwarded directions' states and the dropped ones' last, by port."""


def _merged(older: Counts | None, newer: Counts) -> Counts:
    """Two counts answers as one, the newer one's states winning."""
    if older is None:
        return newer
    return {**older[0], **newer[0]}, {**older[1], **newer[1]}


class WorkerError(RuntimeError):
    """A worker could not be started, refused a command or died; the message says which."""


@dataclass
class StreamState:
    """What the phone on the sending side has got so far, to continue it (the relay's
    ``_OutboundStream`` as the worker carries it), and the reading side's counts."""

    ssrc: int | None
    source_ssrc: int | None
    seq_delta: int
    ts_delta: int
    rewrite: bool
    last_seq: int
    last_ts: int
    packets: int = 0  # read from the phone and passed on
    lost: int = 0  # gaps in the phone's sequence numbers while the worker had it

    def to_list(self) -> list[int | bool | None]:
        return [self.packets, self.lost, self.last_seq, self.last_ts, self.ssrc,
                self.source_ssrc, self.seq_delta, self.ts_delta, self.rewrite]

    @classmethod
    def from_list(cls, values: list[int | bool | None]) -> StreamState:
        packets, lost, last_seq, last_ts, ssrc, source_ssrc, seq_delta, ts_delta, rewrite = \
            values
        return cls(ssrc=_int_or_none(ssrc), source_ssrc=_int_or_none(source_ssrc),
                   seq_delta=int(seq_delta or 0), ts_delta=int(ts_delta or 0),
                   rewrite=bool(rewrite), last_seq=int(last_seq or 0),
                   last_ts=int(last_ts or 0), packets=int(packets or 0), lost=int(lost or 0))


def _int_or_none(value: int | bool | None) -> int | None:
    return None if value is None else int(value)


@dataclass
class Route:
    """One direction, as handed over: read at ``port`` from ``source``, send to ``target``
    through ``sender`` (the other endpoint's socket), continuing ``stream``."""

    port: int
    reader: socket.socket
    sender: socket.socket
    source: tuple[str, int]
    target: tuple[str, int]
    stream: StreamState
    _highest: int = -1  # the phone's highest sequence number, extended past 65535
    _base: int = -1  # the first sequence number of the phone's current stream
    _received: int = 0  # packets of that stream
    _lost_before: int = 0  # lost in the phone's earlier streams (while here)

    def forward(self, data: bytes, address: tuple[str, int]) -> None:
        """One packet read from the phone: drop a stranger's, count, rewrite, send."""
        if address != self.source or len(data) < 12:
            return
        seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
        step = (seq - self._highest) & 0xFFFF
        if 0 < step < _MAX_DROPOUT and self._highest >= 0:  # the usual next packet
            self._highest += step
            self._received += 1
        else:
            self._sequence(seq)
        stream = self.stream
        if stream.source_ssrc != ssrc:  # a new stream from the phone: continue ours
            if stream.ssrc is None:
                stream.ssrc = ssrc
            else:
                stream.seq_delta = (stream.last_seq + 1 - seq) & 0xFFFF
                stream.ts_delta = (stream.last_ts + _FRAME_TICKS - ts) & 0xFFFFFFFF
                stream.rewrite = (stream.seq_delta != 0 or stream.ts_delta != 0
                                  or ssrc != stream.ssrc)
            stream.source_ssrc = ssrc
        if stream.rewrite:
            seq = (seq + stream.seq_delta) & 0xFFFF
            ts = (ts + stream.ts_delta) & 0xFFFFFFFF
            packet = bytearray(data)
            _SEQ_TS_SSRC.pack_into(packet, 2, seq, ts, stream.ssrc or 0)
            data = bytes(packet)
        stream.last_seq = seq
        stream.last_ts = ts
        stream.packets += 1
        try:  # noqa: SIM105 - per packet: a context manager costs more than the send's checks
            self.sender.sendto(data, self.target)
        except OSError:
            pass  # a full buffer or a gone phone loses this packet, like the wire

    def _sequence(self, seq: int) -> None:
        """The first packet, a late one, or a jump of _MAX_DROPOUT or more (a new stream
        from the phone: what was lost before is kept)."""
        highest = self._highest
        step = (seq - highest) & 0xFFFF
        if highest < 0 or _MAX_DROPOUT <= step < 0x10000 - 100:
            if highest >= 0:
                self._lost_before = self.lost()
            self._highest = self._base = seq
            self._received = 0
        self._received += 1

    def lost(self) -> int:
        """Packets from the phone that never came while the worker had it."""
        if self._highest < 0:
            return self._lost_before
        expected = self._highest - self._base + 1
        return self._lost_before + max(0, expected - self._received)

    def close(self) -> None:
        self.reader.close()
        self.sender.close()


def serve(control: socket.socket) -> None:
    """The worker: forward the routes it is given until ``control`` closes. Commands come
    first in each round (the node waits for the answers), and a round handles at most
    _BATCH ready sockets, so a command waits for no more than that many packets."""
    control.setblocking(False)
    control_fd = control.fileno()
    poller = select.epoll()
    poller.register(control_fd, select.EPOLLIN)
    table = _Routes(poller, control)
    routes = table.routes
    while True:
        events = poller.poll(-1, _BATCH)
        if any(fd == control_fd for fd, _ in events) and not table.commands():
            return  # the node closed its end, or died
        for fd, _events in events:
            route = routes.get(fd)
            if route is None:
                continue
            # one packet per readiness: the poll is level-triggered, so a socket with more
            # is reported again, and no read ends in a failed call
            try:
                data, address = route.reader.recvfrom(_MAX_DATAGRAM)
            except OSError:  # nothing after all, or an ICMP error reported on it
                continue
            route.forward(data, address)


class _Routes:
    """The worker's routes and its side of the command channel."""

    def __init__(self, poller: select.epoll, control: socket.socket) -> None:
        self.poller = poller
        self.control = control
        self.routes: dict[int, Route] = {}  # by the reading socket's descriptor
        self.ports: dict[int, int] = {}  # port -> descriptor
        #: the last counts of directions dropped without an answer, sent with the next counts
        self.departed: dict[str, list[int | bool | None]] = {}

    def commands(self) -> bool:
        """Carry out every command waiting; False once the channel is closed."""
        while True:
            try:
                message, fds, _flags, _address = socket.recv_fds(self.control, _COMMAND, 2)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not message:
                return False
            command = json.loads(message)
            operation = command.get("op")
            if operation == "add":
                self.add(command, fds[0], fds[1])
                fds = fds[2:]
            elif operation in ("counts", "remove"):
                self.answer(command.get("ports"), remove=operation == "remove")
            elif operation == "drop":
                self.drop(command["ports"])
            for extra in fds:
                os.close(extra)

    def add(self, command: dict[str, Any], reader_fd: int, sender_fd: int) -> None:
        reader = socket.socket(fileno=reader_fd)
        sender = socket.socket(fileno=sender_fd)
        reader.setblocking(False)
        sender.setblocking(False)
        stream = StreamState(
            ssrc=command["ssrc"], source_ssrc=command["source_ssrc"],
            seq_delta=command["seq_delta"], ts_delta=command["ts_delta"],
            rewrite=command["rewrite"], last_seq=command["last_seq"],
            last_ts=command["last_ts"])
        route = Route(command["port"], reader, sender, tuple(command["source"]),
                      tuple(command["target"]), stream)
        self.routes[reader_fd] = route
        self.ports[route.port] = reader_fd
        self.poller.register(reader_fd, select.EPOLLIN)

    def _take(self, port: int, *, remove: bool) -> list[int | bool | None] | None:
        """A direction's counts; with ``remove`` it is read no more."""
        descriptor = self.ports.get(port)
        if descriptor is None:
            return None
        route = self.routes[descriptor]
        route.stream.lost = route.lost()
        if remove:
            self.poller.unregister(descriptor)
            del self.routes[descriptor], self.ports[port]
            route.close()
        return route.stream.to_list()

    def drop(self, ports: list[int]) -> None:
        """Stop reading ``ports`` now, answering nothing (the node is closing them); their
        last counts go out with the next counts."""
        for port in ports:
            state = self._take(port, remove=True)
            if state is not None:
                self.departed[str(port)] = state

    def answer(self, wanted: list[int] | None, *, remove: bool) -> None:
        """Send the counts of ``wanted`` ports (None: all, and the dropped ones' last), in
        datagrams of _PER_ANSWER; with ``remove`` stop reading them first."""
        entries: list[tuple[str, str, list[int | bool | None]]] = []
        for port in (list(self.ports) if wanted is None else wanted):
            state = self._take(port, remove=remove)
            if state is not None:
                entries.append(("ports", str(port), state))
        if wanted is None:
            entries += [("departed", name, state) for name, state in self.departed.items()]
            self.departed = {}
        for first in range(0, max(1, len(entries)), _PER_ANSWER):
            chunk = entries[first:first + _PER_ANSWER]
            answer: dict[str, Any] = {"ports": {}, "departed": {},
                                      "more": first + _PER_ANSWER < len(entries)}
            for key, name, state in chunk:
                answer[key][name] = state
            self._send(answer)

    def _send(self, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        while True:
            try:
                self.control.send(data)
                return
            except (BlockingIOError, InterruptedError):
                select.select([], [self.control], [], 1.0)  # the node is reading


class RelayWorker:
    """One worker process and the node's end of its command channel."""

    def __init__(self) -> None:
        self._control: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.ports: set[int] = set()  # the directions it forwards, by reading port
        self.dropped = False  # directions dropped whose last counts are still to be read
        #: when the counts asked for without waiting (:meth:`request_counts`) were asked
        self._asked_at: float | None = None
        self._partial: Counts = ({}, {})  # their answer so far
        #: an answer finished by a request that had to wait, not collected yet
        self._stash: Counts | None = None
        self._poll: select.poll | None = None  # the channel, for answers without waiting

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                [sys.executable, "-m", "parley.net.relay_worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        except OSError as error:
            ours.close()
            raise WorkerError(f"media.relay_workers: cannot start a relay worker: "
                              f"{error}") from error
        finally:
            theirs.close()
        ours.settimeout(_ANSWER_S)
        self._control = ours
        self._poll = select.poll()
        self._poll.register(ours.fileno(), select.POLLIN)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def fileno(self) -> int:
        """The node's end of the command channel (readable when an answer has come)."""
        return self._channel().fileno()

    def _channel(self) -> socket.socket:
        if self._control is None:
            raise WorkerError("the relay worker is not running")
        return self._control

    def add(self, port: int, reader: socket.socket, sender: socket.socket,
            source: tuple[str, int], target: tuple[str, int], stream: StreamState) -> None:
        """Hand a direction over; from the return on the worker reads ``reader``."""
        command = {"op": "add", "port": port, "source": list(source),
                   "target": list(target), "ssrc": stream.ssrc,
                   "source_ssrc": stream.source_ssrc, "seq_delta": stream.seq_delta,
                   "ts_delta": stream.ts_delta, "rewrite": stream.rewrite,
                   "last_seq": stream.last_seq, "last_ts": stream.last_ts}
        try:
            socket.send_fds(self._channel(), [json.dumps(command).encode()],
                            [reader.fileno(), sender.fileno()])
        except OSError as error:
            raise WorkerError(f"the relay worker is gone: {error}") from error
        self.ports.add(port)

    def _ask(self, operation: str, ports: Iterable[int] | None,
             departed: dict[int, StreamState] | None = None) -> dict[int, StreamState]:
        """One request, its answer waited for (after the counts asked for without waiting,
        which come first and are kept for :meth:`collect_counts`)."""
        self._finish_asked()
        command: dict[str, object] = {"op": operation}
        if ports is not None:
            command["ports"] = list(ports)
        channel = self._channel()
        answer: Counts = ({}, {})
        try:
            channel.send(json.dumps(command).encode())
            while not self._take(channel.recv(_COMMAND), answer, operation):
                pass
        except OSError as error:  # a timeout included
            raise WorkerError(f"the relay worker did not answer {operation!r}: "
                              f"{error}") from error
        if departed is not None:
            departed.update(answer[1])
        return answer[0]

    @staticmethod
    def _take(data: bytes, into: Counts, operation: str) -> bool:
        """One answer datagram added to ``into``; whether it was the last."""
        if not data:
            raise WorkerError("the relay worker is gone")
        try:
            answer = json.loads(data)
            into[0].update((int(port), StreamState.from_list(values))
                           for port, values in answer["ports"].items())
            into[1].update((int(port), StreamState.from_list(values))
                           for port, values in answer["departed"].items())
            return not answer["more"]
        except (ValueError, KeyError, TypeError) as error:
            raise WorkerError(f"the relay worker's answer to {operation!r} is garbled: "
                              f"{error}") from error

    def counts(self) -> Counts:
        """Every forwarded direction's counts and stream position, by reading port; and
        the last counts of the directions dropped since the previous call. Waits for the
        worker (:meth:`request_counts` does not)."""
        departed: dict[int, StreamState] = {}
        states = self._ask("counts", None, departed)
        self.dropped = False
        older, self._stash = self._stash, None
        return _merged(older, (states, departed))

    @property
    def asking(self) -> bool:
        """Counts were asked for without waiting and are not collected yet."""
        return self._asked_at is not None or self._stash is not None

    def request_counts(self) -> None:
        """Ask for :meth:`counts` without waiting for the answer (the node's loop goes on
        while a busy worker gets to it); :meth:`collect_counts` takes it later."""
        if self.asking:
            return
        try:
            self._channel().send(b'{"op": "counts"}')
        except OSError as error:
            raise WorkerError(f"the relay worker is gone: {error}") from error
        self._asked_at = time.monotonic()
        self.dropped = False  # the answer carries the last counts of those dropped so far

    def collect_counts(self) -> Counts | None:
        """The answer to :meth:`request_counts` if it has all come (None: not yet, or
        nothing asked); raises WorkerError for a worker gone or silent for _ANSWER_S."""
        if self._stash is not None:
            answer, self._stash = self._stash, None
            return answer
        channel = self._channel()
        if self._asked_at is None:
            # Nothing asked, so a readable channel is no answer: the worker's end closed (it
            # died), which stays readable and would make the node's reader spin.
            if self._readable():
                try:
                    data = channel.recv(_COMMAND)
                except OSError as error:
                    raise WorkerError(f"the relay worker is gone: {error}") from error
                if not data:
                    raise WorkerError("the relay worker is gone")
            return None
        while True:
            if not self._readable():
                if time.monotonic() - self._asked_at > _ANSWER_S:
                    raise WorkerError(f"the relay worker did not answer 'counts' within "
                                      f"{_ANSWER_S:g} s")
                return None
            try:
                data = channel.recv(_COMMAND)
            except OSError as error:
                raise WorkerError(f"the relay worker is gone: {error}") from error
            if self._take(data, self._partial, "counts"):
                answer, self._partial, self._asked_at = self._partial, ({}, {}), None
                return answer

    def _readable(self) -> bool:
        """Whether a datagram waits on the channel (polled: its timeout would make even a
        ``MSG_DONTWAIT`` read wait)."""
        if self._poll is None:
            raise WorkerError("the relay worker is not running")
        return bool(self._poll.poll(0))

    def _finish_asked(self) -> None:
        """Wait for the rest of the counts asked for without waiting (a request that waits
        must not read their answer as its own); kept for :meth:`collect_counts`."""
        if self._asked_at is None:
            return
        channel = self._channel()
        try:
            while not self._take(channel.recv(_COMMAND), self._partial, "counts"):
                pass
        except OSError as error:
            raise WorkerError(f"the relay worker did not answer 'counts': {error}") from error
        answer, self._partial, self._asked_at = self._partial, ({}, {}), None
        self._stash = _merged(self._stash, answer)

    def drop(self, ports: Iterable[int]) -> None:
        """Take directions back without waiting (the node is closing their sockets): the
        worker stops reading them as soon as it reads this; their last counts come with the
        next :meth:`counts`."""
        ports = list(ports)
        self.ports.difference_update(ports)
        self.dropped = True
        try:
            self._channel().send(json.dumps({"op": "drop", "ports": ports}).encode())
        except OSError as error:
            raise WorkerError(f"the relay worker is gone: {error}") from error

    def remove(self, ports: Iterable[int]) -> dict[int, StreamState]:
        """Take directions back: the worker stops reading them before it answers."""
        ports = list(ports)
        self.ports.difference_update(ports)
        return self._ask("remove", ports)

    def stop(self, *, kill: bool = False) -> None:
        """Close the channel (the worker ends) and reap the process; with ``kill`` (a worker
        taken for dead, perhaps only stopped) without waiting for it to end by itself."""
        if self._control is not None:
            self._control.close()
            self._control = None
        process = self._process
        self._process = None
        self.ports.clear()
        self._asked_at, self._partial, self._stash = None, ({}, {}), None
        self._poll = None
        if process is not None:
            if kill:
                process.kill()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> None:
    """``python -m parley.net.relay_worker FD``: serve the command channel on FD. Ctrl-C
    and SIGTERM are the node's to handle: the worker ends when the node closes the channel
    (or dies), after it took its directions back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    control = socket.socket(fileno=int(sys.argv[1]))
    control.setblocking(True)
    serve(control)


if __name__ == "__main__":
    main()
