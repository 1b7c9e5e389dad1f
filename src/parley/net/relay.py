"""The RTP relay: two-party bridges forward packets without decoding them (DESIGN.md §5).

Each call leg owns a :class:`MediaEndpoint`: an RTP/RTCP socket pair from the port pool on
Parley's side, facing one phone. Bridging two endpoints makes each forward what its phone sends
to the other's phone. The hot path is a ``loop.add_reader`` callback per socket that reads until
the socket is empty (``recvfrom`` until ``BlockingIOError``) and forwards the bytes as they are.

- Symmetric RTP (phones behind NAT): the first packet from the phone latches the endpoint onto
  the address it actually came from; replies go there, not to the address in the SDP.
- Continuity: a phone must see one RTP stream even when the bridge's source changes (a
  transfer, a re-bridge). The sending side keeps its first SSRC and continues sequence numbers
  and timestamps; headers are rewritten only after such a change.
- Terminated media: an endpoint may also hand each packet it receives to ``tap`` (the media
  hub's shell decodes, records or collects digits from it) and send packets of its own with
  :meth:`MediaEndpoint.send_packet`. While ``hub_sends`` is set the relay forwards nothing to
  that phone, so it never gets packets from two senders at once.
- Inactivity: an endpoint that has received nothing for ``timeout`` seconds (and is not on hold)
  is reported once through ``on_timeout``, so that dead calls end.
- Browsers: :meth:`MediaRelay.open_webrtc` opens a :class:`parley.net.webrtc.WebRtcEndpoint`,
  the same endpoint with ICE-lite, DTLS-SRTP and rtcp-mux on its socket; it decrypts before
  the path above and encrypts last (``protect``), so bridging, taps and continuity are shared.
- Kernel forwarding (``media.kernel_forwarding``): a direction that only needs passing on is
  handed to nftables (:mod:`parley.net.kernel_forward`) at the next check (every
  ``kernel_interval``), and taken back before anything that needs the relay happens: setting
  ``tap``, ``hub_sends`` or ``on_hold``, a new remote, SRTP keys, the hub continuing the
  stream, a re-bridge, unbridge or close. The kernel's packet counts are added to the
  endpoint's as they are read, so inactivity and ``packet_totals`` stay true. A stream that
  needs rewriting stays with the relay, unless ``media.kernel_new_streams`` lets the phone
  get the other phone's stream as it is (a new SSRC) from the hand-over on.
- Relay workers (``media.relay_workers``): the same hand-over, to worker processes on the
  other cores (:mod:`parley.net.relay_worker`) instead of the kernel, and sooner: a moment
  after a direction may have become safe (:meth:`MediaRelay.may_hand_over`), not only at the
  next check; a worker also continues a rewritten stream, so both directions of a bridge
  can go. While a worker has a direction the relay does not read its socket; taking it back
  returns the worker's counts, losses and the stream's position.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pylibsrtp
import structlog
from OpenSSL import SSL

from parley.clock import Clock
from parley.media.dtls import DtlsCertificate
from parley.media.ice import CONSENT_TIMEOUT
from parley.media.srtp import SrtpKeys, advance_outbound, packet_functions, resumed_unprotect
from parley.net.kernel_forward import (
    Direction,
    KernelForwarder,
    KernelForwardError,
    table_name,
)
from parley.net.relay_worker import RelayWorker, StreamState, WorkerError
from parley.net.rtp_ports import RtpPortPool

if TYPE_CHECKING:
    from parley.net.webrtc import WebRtcEndpoint

log = structlog.get_logger("parley.net.relay")
Address = tuple[str, int]
_SEQ_TS_SSRC = struct.Struct("!HII")
_MAX_DATAGRAM = 2048
_FRAME_TICKS = 160  # one 20 ms G.711 frame; the gap left in timestamps at a source change
HAND_OVER_SOON_S = 0.1
"""With relay workers, how soon a direction that became safe to hand over (its first packet
passed on, the hub or a tap let go of it) is handed over: a moment, so that what usually
follows a bridge at once (the hub letting go of both phones) is taken in one step, rather
than the next poll (up to ``kernel_interval``, every packet meanwhile through the relay)."""
_FRAME_S = 0.020  # the shortest packet interval a forwarded phone is assumed to send at
_MAX_DROPOUT = 3000  # sequence steps beyond this start a new stream (RFC 3550 A.1)
_MAX_MISORDER = 100  # steps back within this are late or duplicate packets
_MIN_SEQUENTIAL = 2  # in-order packets before a new stream's gaps count as losses
_BEHIND = 0.03  # s without a packet read from a phone after which its socket is drained


@dataclass
class _OutboundStream:
    """What one endpoint has sent to its phone: enough to continue it after a source change."""

    ssrc: int | None = None
    source: tuple[int, int] | None = None  # (id of the endpoint it came from, its SSRC)
    seq_delta: int = 0
    ts_delta: int = 0
    last_seq: int = 0
    last_ts: int = 0
    #: times the sequence numbers sent with SRTP wrapped past 65535 (its rollover counter,
    #: which a node taking the call over must go on from)
    cycles: int = 0
    rewrite: bool = False
    #: a relay worker sent to the phone last and its final position is not read yet
    settle: RelayWorker | None = None

    def carried_on(self, state: StreamState, source: MediaEndpoint) -> None:
        """Where a relay worker left the stream, forwarding ``source``'s phone."""
        self.ssrc = state.ssrc
        self.seq_delta, self.ts_delta = state.seq_delta, state.ts_delta
        self.rewrite = state.rewrite
        self.last_seq, self.last_ts = state.last_seq, state.last_ts
        self.source = None if state.source_ssrc is None else (id(source), state.source_ssrc)

    def went_on(self, packets: int) -> None:
        """The kernel passed the phone ``packets`` more of its source's 20 ms packets."""
        self.last_seq = (self.last_seq + packets) & 0xFFFF
        self.last_ts = (self.last_ts + packets * _FRAME_TICKS) & 0xFFFFFFFF

    def as_it_comes(self) -> None:
        """From now the phone gets its source's packets unrewritten (the kernel forwards
        them): the stream becomes the source's own, its SSRC and its position, so that what
        the relay or the hub sends after a take-back continues what the phone got."""
        if not self.rewrite or self.source is None:
            return
        self.ssrc = self.source[1]
        self.last_seq = (self.last_seq - self.seq_delta) & 0xFFFF
        self.last_ts = (self.last_ts - self.ts_delta) & 0xFFFFFFFF
        self.seq_delta = self.ts_delta = 0
        self.rewrite = False


@dataclass(eq=False)
class MediaEndpoint:
    """Parley's media socket pair for one call leg, facing one phone."""

    relay: MediaRelay
    rtp: socket.socket
    rtcp: socket.socket
    port: int
    label: str = ""
    remote: Address | None = None  # where the phone receives RTP (SDP, then latched)
    remote_rtcp: Address | None = None
    latched: bool = False
    peer: MediaEndpoint | None = None  # whose phone hears what this endpoint receives
    _on_hold: bool = False
    last_received: float = 0.0
    received_packets: int = 0
    sent_packets: int = 0
    timed_out: bool = False
    on_timeout: Callable[[MediaEndpoint], None] | None = None
    #: a limit shorter than the relay's timeout while nothing has been heard since
    #: :meth:`expect_audio_within` (a leg carried over: its phone may be gone)
    silence_limit: float | None = None
    _silent_since: float = 0.0
    _tap: Callable[[bytes], None] | None = None  # a copy of every RTP packet from the phone
    _hub_sends: bool = False  # the media hub feeds this phone: the relay must not
    protect: Callable[[bytes], bytes] | None = None  # SRTP (WebRTC, SDES), last before send
    #: SDES-keyed SRTP: decrypt first on arrival (the WebRTC leg demultiplexes on its own)
    unprotect: Callable[[bytes], bytes] | None = None
    srtp_errors: int = 0
    _stream: _OutboundStream = field(default_factory=_OutboundStream)
    _seq_base: int = -1  # first sequence number of the phone's current stream
    _seq_highest: int = -1  # highest sequence number seen, extended past 65535
    _rx_offset: int = 0  # SRTP: the phone's packet index less _seq_highest (a carried leg)
    _seq_received: int = 0  # packets of the current stream
    _lost_before: int = 0  # lost in the phone's earlier streams
    _seq_probation: int = 1  # in-order packets still needed before the stream is trusted
    _closed: bool = False
    #: the kernel or a relay worker forwards what this endpoint's phone sends
    #: (``media.kernel_forwarding``, ``media.relay_workers``)
    _kernel: bool = False
    _kernel_packets: int = 0  # the forwarder's count for the current hand-over, last read
    _kernel_read: float = 0.0  # when that count was read (or the direction handed over)
    _handed_lost: int = 0  # what was lost before the current hand-over to a worker

    # Setting any of these takes the bridge back from the kernel first (the hot path reads
    # the underscored fields directly).
    @property
    def on_hold(self) -> bool:
        return self._on_hold

    @on_hold.setter
    def on_hold(self, value: bool) -> None:
        if value != self._on_hold:
            self._take_back()
        self._on_hold = value
        if not value and self.peer is not None:
            self.relay.may_hand_over(self, self.peer)

    @property
    def tap(self) -> Callable[[bytes], None] | None:
        """Called with every RTP packet from the phone (recording, digits, listening)."""
        return self._tap

    @tap.setter
    def tap(self, value: Callable[[bytes], None] | None) -> None:
        if value is not None or self._tap is not None:
            self._take_back()
        self._tap = value
        if value is None:
            self.relay.may_hand_over(self)

    @property
    def hub_sends(self) -> bool:
        """The media hub feeds this phone; the relay must not."""
        return self._hub_sends

    @hub_sends.setter
    def hub_sends(self, value: bool) -> None:
        if value != self._hub_sends:
            self._take_back()
        self._hub_sends = value
        if not value and self.peer is not None:
            self.relay.may_hand_over(self.peer)

    def _restart_sequence(self) -> None:
        """Follow the phone's sequence numbers afresh (after a forwarder had them); what
        was lost so far is kept in ``_lost_before``."""
        self._seq_highest = -1
        self._seq_received = 0
        self._seq_probation = 1

    def _in_kernel(self) -> bool:
        """The kernel forwards to or from this endpoint's phone."""
        peer = self.peer
        return self._kernel or (peer is not None and peer._kernel)

    def _take_back(self) -> None:
        """Before a change the kernel cannot follow: forwarding to or from this endpoint's
        phone returns to the relay (nothing to do when the kernel has none of it)."""
        if self._in_kernel():
            self.relay.reclaim(self)

    @property
    def kernel_forwarded(self) -> bool:
        """True while the kernel, not the relay, forwards what this endpoint's phone sends."""
        return self._kernel

    def expect_audio_within(self, seconds: float) -> None:
        """End the call (``on_timeout``) if the phone sends nothing within ``seconds`` from
        now, instead of the relay's timeout; once it has sent, the relay's applies."""
        self.silence_limit = seconds
        self._silent_since = self.last_received

    def set_remote(self, host: str, port: int) -> None:
        """The address from the phone's SDP; kept until the phone's own packets say otherwise."""
        self._take_back()
        self.remote = (host, port)
        self.remote_rtcp = (host, port + 1)
        self.latched = False

    def _send(self, data: bytes, source: MediaEndpoint) -> None:
        """Send ``data`` (received by ``source``) to this endpoint's phone, keeping continuity."""
        remote = self.remote
        if remote is None or self._on_hold or self._hub_sends or len(data) < 12:
            return
        seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
        stream = self._stream
        if stream.settle is not None:  # a worker sent last: continue from where it was
            self.relay.settle(stream)
        key = (id(source), ssrc)
        if stream.source != key:
            if stream.ssrc is None:
                stream.ssrc = ssrc
            else:
                stream.seq_delta = (stream.last_seq + 1 - seq) & 0xFFFF
                stream.ts_delta = (stream.last_ts + _FRAME_TICKS - ts) & 0xFFFFFFFF
                stream.rewrite = (stream.seq_delta != 0 or stream.ts_delta != 0
                                  or ssrc != stream.ssrc)
            stream.source = key
            self.relay.may_hand_over(source)
        if stream.rewrite:
            seq = (seq + stream.seq_delta) & 0xFFFF
            ts = (ts + stream.ts_delta) & 0xFFFFFFFF
            packet = bytearray(data)
            _SEQ_TS_SSRC.pack_into(packet, 2, seq, ts, stream.ssrc or 0)
            data = bytes(packet)
        protect = self.protect
        if protect is not None and seq < stream.last_seq - 0x8000:
            stream.cycles += 1  # SRTP's rollover counter (a plain leg has none to count)
        stream.last_seq = seq
        stream.last_ts = ts
        if protect is not None:
            data = protect(data)
            if not data:
                return
        try:
            self.rtp.sendto(data, remote)
            self.sent_packets += 1
        except (BlockingIOError, OSError):
            pass  # a full send buffer or an unreachable phone loses this packet, like the wire

    def continuation(self) -> tuple[int, int, int] | None:
        """(SSRC, next sequence number, next timestamp) of what the phone got so far, for a
        new sender that must continue the stream; None before anything was sent."""
        self._take_back()
        stream = self._stream
        if stream.settle is not None:
            self.relay.settle(stream)
        if stream.ssrc is None:
            return None
        return (stream.ssrc, (stream.last_seq + 1) & 0xFFFF,
                (stream.last_ts + _FRAME_TICKS) & 0xFFFFFFFF)

    def handed_back(self, next_sequence: int, next_timestamp: int) -> None:
        """The hub stops sending: the relay continues at the hub's position (key presses
        share one timestamp per press, so the last packet alone does not tell it)."""
        stream = self._stream
        stream.last_seq = (next_sequence - 1) & 0xFFFF
        stream.last_ts = (next_timestamp - _FRAME_TICKS) & 0xFFFFFFFF
        stream.source = None

    def send_packet(self, data: bytes) -> None:
        """Send a packet built by the media hub to the phone. The hub continues the stream
        (:meth:`continuation`); what it sent is noted so the relay continues it after."""
        self._take_back()
        remote = self.remote
        if remote is None or self._closed or len(data) < 12:
            return  # on hold too: hold music is what a held phone should hear
        seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
        stream = self._stream
        if stream.settle is not None:
            self.relay.settle(stream)
        if stream.ssrc is None:
            stream.ssrc = ssrc
        stream.source = (0, ssrc)  # not a relay source: its next packet is rewritten to fit
        protect = self.protect
        if protect is not None and seq < stream.last_seq - 0x8000:
            stream.cycles += 1  # SRTP's rollover counter (a plain leg has none to count)
        stream.last_seq = seq
        stream.last_ts = ts
        if protect is not None:
            data = protect(data)
            if not data:
                return
        try:
            self.rtp.sendto(data, remote)
            self.sent_packets += 1
        except (BlockingIOError, OSError):
            pass

    def _on_rtp(self) -> None:
        """Readable: read a packet, latch onto the sender, forward it.

        One packet per call: a phone sends one every 20 ms, and the loop calls again while
        the socket holds more (it watches it level-triggered), so reading on until the
        socket is empty would mostly cost a failed ``recvfrom`` (an exception, about as dear
        as forwarding the packet). When the loop is behind (nothing read for more than
        ``_BEHIND`` seconds) the socket is drained, so a backlog never outgrows a loop that
        is slower than the phone.
        """
        sock = self.rtp
        peer = self.peer
        now = self.relay.clock.monotonic()
        drain = now - self.last_received > _BEHIND
        while True:
            try:
                data, address = sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # ICMP port unreachable reported on a UDP socket: nothing to read
            if self.latched and address != self.remote:
                continue  # not the phone this endpoint latched onto
            unprotect = self.unprotect
            if unprotect is not None:  # SDES: only a packet with a good tag may latch
                data = unprotect(data)
                if not data:
                    self.srtp_errors += 1
                    continue
            if not self.latched:
                self.remote = address
                self.remote_rtcp = (address[0], address[1] + 1)
                self.latched = True
            self._arrived(data, now, peer)
            if not drain:
                break

    def _arrived(self, data: bytes, now: float, peer: MediaEndpoint | None) -> None:
        """One RTP packet from the phone (decrypted already for a WebRTC leg): count it, tap
        it, forward it to the bridged phone."""
        self.last_received = now
        self.received_packets += 1
        if len(data) >= 12:  # loss accounting; the usual next packet costs least
            seq = (data[2] << 8) | data[3]
            step = (seq - self._seq_highest) & 0xFFFF
            if 0 < step < _MAX_DROPOUT and not self._seq_probation:
                self._seq_highest += step
                self._seq_received += 1
            else:
                self._sequence(seq)
        tap = self._tap
        if tap is not None:
            tap(data)
        if peer is not None and not self._on_hold:
            peer._send(data, self)

    def _sequence(self, seq: int) -> None:
        """Follow the phone's sequence numbers, for :attr:`lost` (RFC 3550 A.1: a stream is
        trusted after ``_MIN_SEQUENTIAL`` packets in order, so a stray first packet or a new
        SSRC far away in sequence space is not counted as a loss)."""
        highest = self._seq_highest
        step = (seq - highest) & 0xFFFF
        if self._seq_probation:
            if highest >= 0 and step == 1:
                self._seq_probation -= 1
                self._seq_highest = highest + 1
            else:
                self._new_stream(seq)
        elif 0 < step < _MAX_DROPOUT:
            self._seq_highest = highest + step
        elif step != 0 and step < 0x10000 - _MAX_MISORDER:
            self._new_stream(seq)
        self._seq_received += 1

    def _new_stream(self, seq: int) -> None:
        """The phone's packets start over at ``seq`` (first packet, new SSRC, restart)."""
        self._lost_before = self.lost
        self._seq_base = self._seq_highest = seq
        self._seq_received = 0
        self._seq_probation = _MIN_SEQUENTIAL - 1

    @property
    def lost(self) -> int:
        """RTP packets from the phone that never arrived (gaps in its sequence numbers)."""
        if self._seq_highest < 0:
            return self._lost_before
        expected = self._seq_highest - self._seq_base + 1
        return self._lost_before + max(0, expected - self._seq_received)

    def _on_rtcp(self) -> None:
        """Forward RTCP as it is to the other phone (reports only; never rewritten)."""
        while True:
            try:
                data, _address = self.rtcp.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError, OSError):
                break
            peer = self.peer
            if self.unprotect is not None or (peer is not None and peer.protect is not None):
                continue  # SRTCP is per hop: neither passed on in clear nor decrypted
            if peer is not None and peer.remote_rtcp is not None:
                with contextlib.suppress(OSError):
                    peer.rtcp.sendto(data, peer.remote_rtcp)

    # --- a call carried over to another node (parley.telephony.carry) ---------------------
    def srtp_position(self) -> dict[str, Any]:
        """How far this leg's SRTP streams went: what was sent last (SSRC, packet index with
        the rollover counter in its high bits, timestamp) and the phone's highest packet
        index; what a node taking the call over goes on past (:meth:`resume_srtp`)."""
        stream = self._stream
        return {"sent": None if stream.ssrc is None
                else [stream.ssrc, (stream.cycles << 16) | stream.last_seq, stream.last_ts],
                "received": None if self._seq_highest < 0
                else self._seq_highest + self._rx_offset}

    def resume_srtp(self, keys: SrtpKeys, tx: pylibsrtp.Session, rx: pylibsrtp.Session,
                    position: Mapping[str, Any], *, elapsed_s: float
                    ) -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
        """Go on with SRTP where another node left it (:meth:`srtp_position`, written
        ``elapsed_s`` ago), with ``keys`` and their fresh sessions ``tx``, ``rx``: what this
        endpoint sends goes on past the last packet that node may have sent (the phone
        takes the gap for loss), and the phone's next packet is placed from the last one it
        saw, rollover counters included. Returns (protect, unprotect); raises KeyError,
        TypeError or ValueError on a position that is not one."""
        sent, received = position["sent"], position["received"]
        # packets the other node may have sent after writing its state, and a margin
        gap = min(int(elapsed_s * 50 * 1.25) + 50, 0x4000)
        if sent is not None:
            ssrc, index, timestamp = (int(value) for value in sent)
            index += gap
            advance_outbound(tx, ssrc, index)
            stream = self._stream
            stream.ssrc, stream.source = ssrc, None  # the next packet is rewritten to fit
            stream.cycles, stream.last_seq = index >> 16, index & 0xFFFF
            stream.last_ts = (timestamp + gap * 160) & 0xFFFFFFFF
        protect, unprotect = packet_functions(tx, rx)
        if received is not None:
            def placed(index: int, seq: int) -> None:
                self._rx_offset = index - seq  # the phone's rollovers before this node
            unprotect = resumed_unprotect(unprotect, rx, keys, int(received), placed)
        return protect, unprotect

    def hand_over(self) -> None:
        """Another node goes on with this phone's media (a planned switch-over): nothing
        may tell the phone the leg ended when this node closes it."""

    def close(self) -> None:
        """Stop reading, close both sockets and give the port back to the pool."""
        if self._closed:
            return
        if self._in_kernel():  # the bridge ends: a relay worker is not waited for
            self.relay.reclaim(self, wait=False)
        self._closed = True
        if self.peer is not None and self.peer.peer is self:
            self.peer.peer = None
        self.peer = None
        # the callbacks name the call that owns this endpoint: let reference counting free
        # the finished call at once instead of the cycle collector, much later
        self.on_timeout = None
        self._tap = None
        self.relay._forget(self)


class MediaRelay:
    """Owns the media endpoints of one node: allocation, bridging, the inactivity sweep."""

    def __init__(self, pool: RtpPortPool, clock: Clock, *, timeout: float = 60.0,
                 consent_timeout: float = CONSENT_TIMEOUT,
                 loop: asyncio.AbstractEventLoop | None = None,
                 kernel_forwarding: bool = False, kernel_interval: float = 0.5,
                 kernel_new_streams: bool = False, relay_workers: int = 0) -> None:
        self.pool = pool
        self.clock = clock
        self.timeout = timeout
        self.consent_timeout = consent_timeout
        self._certificate: DtlsCertificate | None = None
        self._dtls_context: SSL.Context | None = None
        self._webrtc: set[WebRtcEndpoint] = set()
        self._loop = loop
        self._endpoints: set[MediaEndpoint] = set()
        self._closed_totals = (0, 0, 0)  # received, sent, lost by endpoints already closed
        #: ``media.kernel_forwarding``: hand safe two-party bridges to nftables (see
        #: :mod:`parley.net.kernel_forward`); started by :meth:`run`
        self.kernel_forwarding = kernel_forwarding
        self.kernel_interval = kernel_interval
        #: ``media.kernel_new_streams``: a stream that needs rewriting goes to the kernel too,
        #: its phone then getting the source's own stream (see :meth:`_kernel_safe`)
        self.kernel_new_streams = kernel_new_streams
        self.kernel: KernelForwarder | None = None
        self._forwarder: KernelForwarder | None = None
        if kernel_forwarding:  # its netlink socket before the RTP sockets (low descriptor)
            self._forwarder = KernelForwarder(table_name(pool.first))
            self._forwarder.open()
        self._bridged: set[MediaEndpoint] = set()  # bridged, not (yet) with the kernel
        #: bridged endpoints that may have just become safe for a worker (:meth:`may_hand_over`)
        self._soon: set[MediaEndpoint] = set()
        self._soon_timer: asyncio.Handle | None = None
        self._forwarded: dict[MediaEndpoint, Direction] = {}
        #: ``media.relay_workers``: that many worker processes take safe directions (see
        #: :mod:`parley.net.relay_worker`); started by :meth:`run`
        self.relay_workers = relay_workers
        self.workers: list[RelayWorker] = []
        self._worker_of: dict[MediaEndpoint, RelayWorker] = {}
        #: directions dropped at a close, by port, until their last counts come: (reading
        #: endpoint, sending endpoint, packets counted, lost before the hand-over, lost
        #: counted)
        self._dropped: dict[int, tuple[MediaEndpoint, MediaEndpoint | None, int, int, int]] \
            = {}

    @property
    def host(self) -> str:
        return self.pool.host

    @property
    def endpoints(self) -> int:
        return len(self._endpoints)

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def open(self, label: str = "",
             on_timeout: Callable[[MediaEndpoint], None] | None = None) -> MediaEndpoint:
        """A new endpoint on a fresh port pair, reading at once (to latch early)."""
        return self._opened(*self.pool.allocate(), label, on_timeout)

    def open_at(self, port: int, label: str = "",
                on_timeout: Callable[[MediaEndpoint], None] | None = None) -> MediaEndpoint:
        """An endpoint on the pair at ``port`` (a call carried over from another node:
        the phones go on sending there); :meth:`RtpPortPool.take` says what can fail."""
        return self._opened(*self.pool.take(port), label, on_timeout)

    def _opened(self, rtp: socket.socket, rtcp: socket.socket, label: str,
                on_timeout: Callable[[MediaEndpoint], None] | None) -> MediaEndpoint:
        port = int(rtp.getsockname()[1])
        endpoint = MediaEndpoint(self, rtp, rtcp, port, label=label, on_timeout=on_timeout,
                                 last_received=self.clock.monotonic())
        self._start(endpoint)
        return endpoint

    def open_webrtc(self, label: str = "",
                    on_timeout: Callable[[MediaEndpoint], None] | None = None) -> WebRtcEndpoint:
        """A new endpoint facing a browser (ICE-lite, DTLS-SRTP, rtcp-mux): see
        :mod:`parley.net.webrtc`. Its ICE credentials are fresh; the certificate is the
        node's."""
        return self._opened_webrtc(*self.pool.allocate(), label, on_timeout)

    def open_webrtc_at(self, port: int, label: str = "",
                       on_timeout: Callable[[MediaEndpoint], None] | None = None
                       ) -> WebRtcEndpoint:
        """:meth:`open_webrtc` on the pair at ``port`` (a browser's call carried over from
        another node: :meth:`WebRtcEndpoint.carry_on` gives it that node's side)."""
        return self._opened_webrtc(*self.pool.take(port), label, on_timeout)

    def _opened_webrtc(self, rtp: socket.socket, rtcp: socket.socket, label: str,
                       on_timeout: Callable[[MediaEndpoint], None] | None) -> WebRtcEndpoint:
        from parley.net.webrtc import WebRtcEndpoint

        port = int(rtp.getsockname()[1])
        now = self.clock.monotonic()
        endpoint = WebRtcEndpoint(self, rtp, rtcp, port, label=label, on_timeout=on_timeout,
                                  last_received=now,
                                  consent_timeout=self.consent_timeout, _created=now)
        self._start(endpoint)
        self._webrtc.add(endpoint)
        return endpoint

    @property
    def certificate(self) -> DtlsCertificate:
        """The node's DTLS certificate (made at first use; browsers pin its fingerprint per
        call through the SDP, so a new one at restart is fine)."""
        if self._certificate is None:
            self._certificate = DtlsCertificate.generate()
        return self._certificate

    def dtls_context(self) -> SSL.Context:
        """One OpenSSL context for every WebRTC leg of the node (its certificate loaded once)."""
        if self._dtls_context is None:
            self._dtls_context = self.certificate.context()
        return self._dtls_context

    def _start(self, endpoint: MediaEndpoint) -> None:
        rtp, rtcp = endpoint.rtp, endpoint.rtcp
        loop = self._event_loop()
        loop.add_reader(rtp.fileno(), endpoint._on_rtp)
        loop.add_reader(rtcp.fileno(), endpoint._on_rtcp)
        self._endpoints.add(endpoint)

    @staticmethod
    def bridge(first: MediaEndpoint, second: MediaEndpoint) -> None:
        """Make the two phones hear each other (replacing whatever each was bridged to)."""
        for endpoint in (first, second):
            endpoint._take_back()
            old = endpoint.peer
            if old is not None and old.peer is endpoint:
                old.peer = None
        first.peer = second
        second.peer = first
        relay = first.relay
        if relay.forwarding and first is not second:
            relay._bridged.add(first)
            relay._bridged.add(second)

    @staticmethod
    def unbridge(endpoint: MediaEndpoint) -> None:
        if endpoint._in_kernel():  # a relay worker is not waited for (the call may end)
            endpoint.relay.reclaim(endpoint, wait=False)
        peer = endpoint.peer
        if peer is not None and peer.peer is endpoint:
            peer.peer = None
        endpoint.peer = None
        endpoint.relay._bridged.discard(endpoint)

    # --- kernel forwarding (media.kernel_forwarding) and relay workers ---------------------

    @property
    def forwarded_directions(self) -> int:
        """Directions the kernel or the relay workers forward now."""
        return len(self._forwarded)

    @property
    def forwarding(self) -> bool:
        """Bridged directions may be handed to the kernel or to relay workers."""
        return self.kernel is not None or bool(self.workers)

    def start_workers(self) -> None:
        """Start ``relay_workers`` worker processes (raises WorkerError, named)."""
        if self.workers or self.relay_workers <= 0:
            return
        try:
            for _ in range(self.relay_workers):
                worker = RelayWorker()
                worker.start()
                self.workers.append(worker)
                self._watch(worker)
        except WorkerError:
            self.stop_workers()
            raise
        self._bridged.update(endpoint for endpoint in self._endpoints
                             if endpoint.peer is not None)
        log.info("relay_workers_started", pids=[worker.pid for worker in self.workers])

    def stop_workers(self) -> None:
        """Take every direction back and end the workers."""
        for endpoint in list(self._worker_of):
            if endpoint._kernel:
                self.reclaim(endpoint)
        workers, self.workers = self.workers, []
        for worker in workers:
            self._unwatch(worker)
            worker.stop()
        if self.kernel is None:
            self._bridged.clear()

    def start_kernel(self) -> None:
        """Create the nftables table (raises KernelForwardError, naming the setting, when
        the node cannot: no CAP_NET_ADMIN, no libnftables)."""
        if self.kernel is None:
            forwarder = self._forwarder or KernelForwarder(table_name(self.pool.first))
            forwarder.start()
            self._forwarder = None
            self.kernel = forwarder
            self._bridged.update(endpoint for endpoint in self._endpoints
                                 if endpoint.peer is not None)

    def stop_kernel(self) -> None:
        """Take every bridge back and remove the table."""
        forwarder = self.kernel
        if forwarder is None:
            return
        for endpoint in list(self._forwarded):
            if endpoint._kernel:
                self.reclaim(endpoint)
        self.kernel = None
        self._bridged.clear()
        forwarder.stop()

    def _kernel_safe(self, one: MediaEndpoint) -> Direction | None:
        """The direction from ``one``'s phone to its peer's when the kernel may forward it:
        two endpoints bridged both ways, neither with SRTP; ``one`` latched on an IPv4 phone,
        not tapped, not on hold; the peer not on hold, not fed by the hub, and its phone's
        stream coming from ``one`` unrewritten (a stream that needs continuity rewriting
        after a source change, such as the operator's voice after the caller heard a
        prompt, stays with the relay unless ``kernel_new_streams``: nftables cannot add to
        sequence numbers or timestamps, so the phone then gets ``one``'s stream as it is,
        a new SSRC, as after a re-INVITE)."""
        other = one.peer
        if other is None or other.peer is not one or other is one:
            return None
        source, target = one.remote, other.remote
        kernel = not self.workers  # nftables: IPv4 only, no rewriting
        if (source is None or target is None or not one.latched or one._closed
                or other._closed or (kernel and (":" in source[0] or ":" in target[0]))):
            return None
        if (one._tap is not None or one._on_hold or other._on_hold or other._hub_sends):
            return None
        for endpoint in (one, other):
            if (endpoint.protect is not None or endpoint.unprotect is not None
                    or endpoint in self._webrtc):
                return None
        stream = other._stream  # what the peer's phone got: from one (as it came, for nft)?
        if stream.source is None or stream.source[0] != id(one):
            return None
        if kernel and stream.rewrite and not self.kernel_new_streams:
            return None
        return Direction(one.port, source, target, other.port)

    def _hand_over(self) -> None:
        """Give the kernel every bridge that became safe (one nftables transaction), or
        the relay workers each direction that did."""
        if self.workers:
            self._hand_to_workers()
            return
        forwarder = self.kernel
        if forwarder is None or not self._bridged:
            return
        handed: list[tuple[MediaEndpoint, Direction]] = []
        for one in self._bridged:
            direction = self._kernel_safe(one)
            if direction is not None:
                handed.append((one, direction))
        if not handed:
            return
        try:
            forwarder.add(direction for _one, direction in handed)
        except KernelForwardError as error:
            log.warning("kernel_forwarding_refused", error=str(error))
            return  # these bridges stay with the relay
        now = self.clock.monotonic()
        for one, direction in handed:
            one._kernel = True
            one._kernel_packets = 0
            one._kernel_read = now
            if one.peer is not None:  # the kernel passes packets on as they come
                one.peer._stream.as_it_comes()
            self._forwarded[one] = direction
            self._bridged.discard(one)

    def may_hand_over(self, *endpoints: MediaEndpoint) -> None:
        """What ``endpoints``' phones send may now be safe for a relay worker: look again in
        HAND_OVER_SOON_S, not only at the next poll. (The kernel's hand-overs stay with the
        poll: each is an nftables transaction.)"""
        if not self.workers:
            return
        self._soon.update(endpoints)
        if self._soon_timer is None:
            try:
                loop = self._event_loop()
            except RuntimeError:  # no loop running (some tests): the next poll looks
                return
            self._soon_timer = loop.call_later(HAND_OVER_SOON_S, self._hand_over_soon)

    def _hand_over_soon(self) -> None:
        self._soon_timer = None
        candidates, self._soon = self._soon, set()
        if self.workers:
            self._hand_to_workers([one for one in candidates if one in self._bridged])

    def _hand_to_workers(self, candidates: list[MediaEndpoint] | None = None) -> None:
        """Each safe direction to a worker (spread by port): the relay stops reading the
        socket first, so the worker reads whatever is queued in it. ``candidates``: only
        those (else every bridged endpoint)."""
        loop = self._event_loop()
        for one in list(self._bridged) if candidates is None else candidates:
            direction = self._kernel_safe(one)
            other = one.peer
            if direction is None or other is None:
                continue
            stream = other._stream
            worker = self.workers[(one.port // 2) % len(self.workers)]
            if worker.asking:  # its last answer is late: it must not meet a new direction
                self._soon.add(one)  # looked at again when that answer comes
                continue
            state = StreamState(
                ssrc=stream.ssrc, source_ssrc=stream.source[1] if stream.source else None,
                seq_delta=stream.seq_delta, ts_delta=stream.ts_delta, rewrite=stream.rewrite,
                last_seq=stream.last_seq, last_ts=stream.last_ts)
            loop.remove_reader(one.rtp.fileno())
            try:
                worker.add(one.port, one.rtp, other.rtp, direction.source, direction.target,
                           state)
            except WorkerError as error:
                loop.add_reader(one.rtp.fileno(), one._on_rtp)
                self._worker_failed(worker, error)
                return
            one._kernel = True
            one._kernel_packets = 0
            # the worker follows the phone's sequence numbers from here: losses kept
            one._lost_before = one._handed_lost = one.lost
            one._restart_sequence()
            self._forwarded[one] = direction
            self._worker_of[one] = worker
            self._bridged.discard(one)

    def _count_worker(self, endpoint: MediaEndpoint, state: StreamState, now: float) -> None:
        """A worker's counts and stream position for ``endpoint``'s phone: as the Python
        path would have left them."""
        new = state.packets - endpoint._kernel_packets
        endpoint._lost_before = endpoint._handed_lost + state.lost
        if new <= 0:
            return
        endpoint._kernel_packets = state.packets
        endpoint.received_packets += new
        endpoint.last_received = now
        peer = endpoint.peer
        if peer is not None:
            peer.sent_packets += new
            peer._stream.carried_on(state, endpoint)

    def _poll_workers(self, count: bool) -> None:
        """Apply the counts a worker gave that were not applied as they came, hand new
        bridges over, and (with ``count``) ask for the next counts without waiting: a
        worker busy forwarding answers when it gets to it, and the loop does not stand still
        meanwhile (it did 50-130 ms at each poll with 2,000 directions at 150 calls/s)."""
        for worker in list(self.workers):
            self._answered(worker)
        self._hand_over()  # before asking again: an answer must not meet a new direction
        if not count:
            return
        for worker in list(self.workers):
            if worker.ports or worker.dropped:
                try:
                    worker.request_counts()
                except WorkerError as error:
                    self._worker_failed(worker, error)

    def _read_worker(self, worker: RelayWorker) -> None:
        """Apply a worker's counts and its dropped directions' last ones, now."""
        try:
            counts, departed = worker.counts()
        except WorkerError as error:
            self._worker_failed(worker, error)
            return
        self._apply_counts(worker, counts, departed)

    def _apply_counts(self, worker: RelayWorker, counts: Mapping[int, StreamState],
                      departed: Mapping[int, StreamState]) -> None:
        now = self.clock.monotonic()
        for endpoint, direction in list(self._forwarded.items()):
            state = counts.get(direction.port)
            if state is not None and self._worker_of.get(endpoint) is worker:
                self._count_worker(endpoint, state, now)
        for port, state in departed.items():
            self._settle_dropped(port, state)

    def _settle_dropped(self, port: int, state: StreamState) -> None:
        """The last counts of a direction dropped at a close: added where they belong (to
        the closed endpoints' totals, or to one still open)."""
        entry = self._dropped.pop(port, None)
        if entry is None:
            return
        one, peer, counted, handed_lost, lost_at_drop = entry
        new = max(0, state.packets - counted)
        more_lost = max(0, handed_lost + state.lost - lost_at_drop)
        received, sent, lost = self._closed_totals
        if one._closed:
            received, lost = received + new, lost + more_lost
        else:
            one.received_packets += new
            one._lost_before += more_lost
        if peer is not None and peer._closed:
            sent += new
        elif peer is not None:
            peer.sent_packets += new
            stream = peer._stream
            if stream.settle is not None:  # nothing was sent to that phone since
                stream.settle = None
                stream.carried_on(state, one)
        self._closed_totals = (received, sent, lost)

    def settle(self, stream: _OutboundStream) -> None:
        """``stream`` must go on now and a worker sent its last packets: read that worker's
        counts (its dropped directions' final positions) before anything else is sent."""
        worker = stream.settle
        if worker is not None and worker in self.workers:
            self._read_worker(worker)
        stream.settle = None  # (a dead worker's last position is lost: a jump, not a stop)

    def _worker_failed(self, worker: RelayWorker, error: WorkerError) -> None:
        """A worker that died or stopped answering: its directions return to the relay
        (without its last counts) and no more are handed over while it is down."""
        log.error("relay_worker_failed", error=str(error), pid=worker.pid)
        for endpoint in [one for one, owner in self._worker_of.items() if owner is worker]:
            self._give_back(endpoint, None)
        if worker in self.workers:
            self.workers.remove(worker)
        self._unwatch(worker)
        worker.stop(kill=True)

    def _watch(self, worker: RelayWorker) -> None:
        """Apply a worker's counts as soon as they come (without a running loop, as in some
        tests, they are read at the next poll)."""
        try:
            loop = self._event_loop()
        except RuntimeError:
            return
        loop.add_reader(worker.fileno(), self._answered, worker)

    def _unwatch(self, worker: RelayWorker) -> None:
        with contextlib.suppress(RuntimeError, ValueError, OSError, WorkerError):
            self._event_loop().remove_reader(worker.fileno())

    def _answered(self, worker: RelayWorker) -> None:
        if worker not in self.workers:
            return
        try:
            answer = worker.collect_counts()
        except WorkerError as error:
            self._worker_failed(worker, error)
            return
        if answer is not None:
            self._apply_counts(worker, *answer)
            if self._soon and self._soon_timer is None:  # held back while it was asked
                self._soon_timer = self._event_loop().call_soon(self._hand_over_soon)

    def _give_back(self, one: MediaEndpoint, state: StreamState | None) -> None:
        """``one``'s direction is the relay's again (its worker's last ``state``, if any)."""
        self._forwarded.pop(one, None)
        self._worker_of.pop(one, None)
        if state is not None:
            self._count_worker(one, state, self.clock.monotonic())
        one._kernel = False
        one._kernel_packets = 0
        one._restart_sequence()
        if not one._closed:
            self._event_loop().add_reader(one.rtp.fileno(), one._on_rtp)
            if one.peer is not None:
                self._bridged.add(one)

    def _count_kernel(self, endpoint: MediaEndpoint, packets: int, now: float) -> None:
        """The kernel has forwarded ``packets`` in all from ``endpoint``'s phone: count the
        new ones as received (and sent by its peer), as the Python path would."""
        endpoint._kernel_read = now
        new = packets - endpoint._kernel_packets
        if new <= 0:
            return
        endpoint._kernel_packets = packets
        endpoint.received_packets += new
        endpoint.last_received = now
        peer = endpoint.peer
        if peer is not None:
            peer.sent_packets += new
            peer._stream.went_on(new)  # the phone's stream went on unrewritten

    def _past_uncounted(self, endpoint: MediaEndpoint, now: float) -> None:
        """The bridge ends without its last counts read: since the last reading the peer's
        phone got at most one packet per 20 ms from ``endpoint``'s. What is sent to it next
        (a prompt after the operator hung up) continues past all of them: a gap the phone
        takes for loss, never a step back to numbers it already played. Those packets are
        not added to the totals (at most one poll's worth per ended bridge)."""
        peer = endpoint.peer
        if peer is None:
            return
        peer._stream.went_on(int((now - endpoint._kernel_read) / _FRAME_S)
                             + 10)  # and a burst's margin

    def poll_kernel(self, *, count: bool = True) -> None:
        """Read the kernel's (or the workers') packet counts and hand over new bridges;
        without ``count`` the counts are not read (the kernel's are a list of the whole map,
        2.5 ms with 500 directions; the workers' answers are decoded and applied direction
        by direction): the run reads them before each inactivity sweep only."""
        if self.workers:
            self._poll_workers(count)
            return
        forwarder = self.kernel
        if forwarder is None:
            return
        if self._forwarded and count:
            try:
                counts = forwarder.counters()
            except KernelForwardError as error:
                log.warning("kernel_forwarding_counters_failed", error=str(error))
                counts = {}
            now = self.clock.monotonic()
            for endpoint, direction in self._forwarded.items():
                self._count_kernel(endpoint, counts.get(direction.port, 0), now)
        self._hand_over()

    def reclaim(self, endpoint: MediaEndpoint, *, wait: bool = True) -> None:
        """Take ``endpoint``'s bridge back from the kernel or the workers (both directions,
        at once): from the return on, its phones' packets reach the relay's sockets again.
        Without ``wait`` (an unbridge, a close) a worker is not waited for: its last counts
        and stream positions are settled at the next poll, or at once when a stream must go
        on before that (:meth:`settle`)."""
        pair = [one for one in (endpoint, endpoint.peer)
                if one is not None and one in self._worker_of]
        if pair and not wait:
            for one in pair:
                worker = self._worker_of[one]
                try:
                    worker.drop([one.port])
                except WorkerError as error:
                    self._worker_failed(worker, error)
                    continue
                self._dropped[one.port] = (one, one.peer, one._kernel_packets,
                                           one._handed_lost, one._lost_before)
                if one.peer is not None:
                    one.peer._stream.settle = worker
                self._give_back(one, None)
            return
        if pair:
            by_worker: dict[RelayWorker, list[MediaEndpoint]] = {}
            for one in pair:  # one request per worker: the loop waits for each answer
                by_worker.setdefault(self._worker_of[one], []).append(one)
            for worker, ones in by_worker.items():
                try:
                    states = worker.remove([one.port for one in ones])
                except WorkerError as error:
                    self._worker_failed(worker, error)
                    continue
                for one in ones:
                    self._give_back(one, states.get(one.port))
            return
        forwarder = self.kernel
        pair = [one for one in (endpoint, endpoint.peer) if one is not None and one._kernel]
        directions = [self._forwarded.pop(one) for one in pair if one in self._forwarded]
        counts: dict[int, int] = {}
        if forwarder is not None:
            try:  # the last counts only where the call goes on (see remove())
                counts = forwarder.remove(directions, read_counts=wait)
            except KernelForwardError as error:  # the table is gone: nothing forwards
                log.warning("kernel_forwarding_reclaim_failed", error=str(error))
        now = self.clock.monotonic()
        for one in pair:
            if wait:
                self._count_kernel(one, counts.get(one.port, 0), now)
            else:
                self._past_uncounted(one, now)
            one._kernel = False
            one._kernel_packets = 0
            # the kernel does not follow sequence numbers: start over, losses kept
            one._lost_before = one.lost
            one._restart_sequence()
            if forwarder is not None and not one._closed and one.peer is not None:
                self._bridged.add(one)  # it may become safe again (a tap removed)

    def _forget(self, endpoint: MediaEndpoint) -> None:
        self._bridged.discard(endpoint)
        self._soon.discard(endpoint)
        loop = self._event_loop()
        for sock in (endpoint.rtp, endpoint.rtcp):
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(sock.fileno())
            sock.close()
        self.pool.release(endpoint.port)
        self._webrtc.discard(endpoint)
        if endpoint in self._endpoints:
            self._endpoints.discard(endpoint)
            received, sent, lost = self._closed_totals
            self._closed_totals = (received + endpoint.received_packets,
                                   sent + endpoint.sent_packets, lost + endpoint.lost)

    def packet_totals(self) -> tuple[int, int, int]:
        """RTP packets since start: (received from phones, sent to phones, lost on the way
        in), closed endpoints included."""
        received, sent, lost = self._closed_totals
        for endpoint in self._endpoints:
            received += endpoint.received_packets
            sent += endpoint.sent_packets
            lost += endpoint.lost
        return received, sent, lost

    def sweep(self) -> list[MediaEndpoint]:
        """Report endpoints silent for longer than the timeout (once each); returns them.
        WebRTC endpoints also resend DTLS flights, send reports and check consent here."""
        dead = self._silent()
        for endpoint in dead:
            self._time_out(endpoint)
        return dead

    async def _sweep_fairly(self) -> None:
        """:meth:`sweep`, letting the loop run between two reports: many calls silent at
        once (a network failure, the calls a takeover carried over whose phones hung up in
        the gap) end one by one among the other work, not as one long stall of the loop
        (a lease renewal held up past its deadline)."""
        for endpoint in self._silent():
            if self._is_silent(endpoint, self.clock.monotonic()):  # still, after the wait
                self._time_out(endpoint)
            await asyncio.sleep(0)

    def _silent(self) -> list[MediaEndpoint]:
        now = self.clock.monotonic()
        for webrtc in list(self._webrtc):
            webrtc.poll(now)
        return [endpoint for endpoint in self._endpoints if self._is_silent(endpoint, now)]

    def _is_silent(self, endpoint: MediaEndpoint, now: float) -> bool:
        return (not endpoint.timed_out and not endpoint.on_hold
                and now - endpoint.last_received > self._limit_of(endpoint))

    @staticmethod
    def _time_out(endpoint: MediaEndpoint) -> None:
        endpoint.timed_out = True  # a closed endpoint has no on_timeout any more
        if endpoint.on_timeout is not None:
            endpoint.on_timeout(endpoint)

    def _limit_of(self, endpoint: MediaEndpoint) -> float:
        """How long ``endpoint`` may stay silent: its own limit until it hears anything."""
        limit = endpoint.silence_limit
        if limit is None:
            return self.timeout
        if endpoint.last_received > endpoint._silent_since:  # heard: the usual timeout
            endpoint.silence_limit = None
            return self.timeout
        return limit

    async def run(self, interval: float = 1.0) -> None:
        """The inactivity sweep, until cancelled; then every endpoint is closed. With
        kernel forwarding or relay workers, also their counters and hand-overs (every
        ``kernel_interval``)."""
        if self.kernel_forwarding:
            self.start_kernel()
        self.start_workers()
        try:
            if not self.forwarding:
                while True:
                    await self.clock.sleep(interval)
                    await self._sweep_fairly()
            step = min(interval, self.kernel_interval)
            swept = self.clock.monotonic()
            while True:
                await self.clock.sleep(step)
                sweep = self.clock.monotonic() - swept >= interval - 1e-6
                self.poll_kernel(count=sweep)
                if sweep:
                    swept = self.clock.monotonic()
                    await self._sweep_fairly()
        finally:
            try:
                for endpoint in list(self._endpoints):
                    endpoint.close()
            finally:
                self.stop_workers()
                self.stop_kernel()
