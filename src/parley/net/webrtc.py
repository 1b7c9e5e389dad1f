"""The WebRTC leg of the relay: a :class:`~parley.net.relay.MediaEndpoint` facing a browser.

It is the relay's endpoint with three differences on the wire, all on one socket (rtcp-mux,
one BUNDLEd audio stream), demultiplexed by the first byte (RFC 7983):

- STUN (0-3): the browser's ICE checks, answered by :class:`~parley.media.ice.IceLite`. The
  nominated address (USE-CANDIDATE) is where media goes; nothing is sent before it is known.
- DTLS (20-63): the handshake of :class:`~parley.media.dtls.DtlsSrtp` in the role the SDP gave,
  with the browser's certificate checked against its ``a=fingerprint``.
- SRTP (128-191): each packet is decrypted (one pylibsrtp call) and then takes the relay's
  ordinary path (loss accounting, the hub's tap, forwarding to the bridged leg); whatever the
  relay or the hub sends to the browser is encrypted last (``protect``). SRTCP from the browser
  is read and dropped; the leg sends its own sender/receiver reports every few seconds.

:meth:`WebRtcEndpoint.poll` (from the relay's sweep) resends overdue DTLS flights, sends the
reports, and ends the leg when the browser's consent expires (RFC 7675), the handshake fails or
the browser closes DTLS: media stops at once and ``on_lost(endpoint, reason)`` is called.
"""

from __future__ import annotations

import base64
import contextlib
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pylibsrtp

from parley.media.dtls import DtlsSrtp
from parley.media.ice import CONSENT_TIMEOUT, IceLite
from parley.media.rtp import RtcpPacket
from parley.media.srtp import SrtpKeys
from parley.net.relay import Address, MediaEndpoint

_MAX_DATAGRAM = 2048
REPORT_INTERVAL = 5.0
_NTP_EPOCH = 2208988800  # seconds from 1900 to 1970
_SR = struct.Struct("!IIIIII")  # SSRC, NTP high/low, RTP timestamp, packets, octets
_BLOCK = struct.Struct("!IIIIII")  # SSRC, fraction|lost, highest seq, jitter, LSR, DLSR


class LostReason:
    """Why a WebRTC leg stopped on its own (``on_lost``'s reason)."""

    CONSENT = "consent"  # the browser stopped answering/sending ICE checks (RFC 7675)
    DTLS_FAILED = "dtls-failed"  # no handshake, or a certificate not matching the SDP
    CLOSED = "closed"  # the browser sent DTLS close_notify


@dataclass(eq=False)
class WebRtcEndpoint(MediaEndpoint):
    """A relay endpoint speaking ICE-lite, DTLS-SRTP and rtcp-mux (module docstring)."""

    ice: IceLite = field(default_factory=IceLite.new)
    dtls: DtlsSrtp | None = None
    local_setup: str = "passive"
    consent_timeout: float = CONSENT_TIMEOUT
    on_lost: Callable[[WebRtcEndpoint, str], None] | None = None
    #: told once DTLS is done and media may flow (the leg can be carried from then on)
    on_connected: Callable[[WebRtcEndpoint], None] | None = None
    ended_reason: str | None = None  # a LostReason once the leg stopped on its own
    ended_detail: str = ""
    rtcp_received: int = 0
    remote_ssrc: int | None = None
    _candidate: Address | None = None  # the nominated pair's browser side
    _unprotect: Callable[[bytes], bytes] | None = None
    _next_report: float = 0.0
    _created: float = 0.0
    reports_sent: int = 0  # sender reports sent (SRTCP's index, for a node taking over)
    _handed_over: bool = False

    @property
    def created_at(self) -> float:
        """When the relay made the endpoint (its clock's monotonic seconds)."""
        return self._created

    # --- from the signalling side -------------------------------------------------------------
    def set_remote(self, host: str, port: int) -> None:
        """The SDP's address is only a default candidate: media goes where ICE says."""

    def configure(self, ufrag: str, pwd: str, fingerprints: tuple[tuple[str, str], ...],
                  role: str) -> None:
        """The browser's SDP is known: its ICE credentials, fingerprints, our DTLS role."""
        self.ice.set_remote(ufrag, pwd)
        if self.dtls is None:
            self.dtls = DtlsSrtp(self.relay.certificate, role, fingerprints,
                                 context=self.relay.dtls_context())
            if self._candidate is not None:
                self._start_dtls(self.relay.clock.monotonic())

    # --- the packet path ----------------------------------------------------------------------
    def _on_rtp(self) -> None:
        """Readable: drain the socket; SRTP first (the common case), then STUN and DTLS."""
        sock = self.rtp
        peer = self.peer
        now = self.relay.clock.monotonic()
        unprotect = self._unprotect
        candidate = self._candidate
        while True:
            try:
                data, address = sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            first = data[0] if data else 0
            if 127 < first < 192:
                if unprotect is None or address != candidate:
                    continue
                if 191 < data[1] < 224:
                    self._on_srtcp(data)
                    continue
                data = unprotect(data)
                if not data:
                    self.srtp_errors += 1
                    continue
                self._arrived(data, now, peer)
            elif first < 4:
                self._on_stun(data, address, now)
                candidate = self._candidate
            elif 19 < first < 64:
                self._on_dtls(data, address, now)
                unprotect = self._unprotect

    def _on_stun(self, data: bytes, address: Address, now: float) -> None:
        response = self.ice.receive(data, address, now)
        if response is not None:
            with contextlib.suppress(OSError):
                self.rtp.sendto(response, address)
        nominated = self.ice.selected
        if nominated is not None and nominated != self._candidate and self.ended_reason is None:
            first = self._candidate is None
            self._candidate = nominated
            if self.remote is not None:
                self.remote = nominated  # the browser moved (a new nomination)
            if first and self.dtls is not None:
                self._start_dtls(now)

    def _start_dtls(self, now: float) -> None:
        if self.dtls is not None:
            self._send_all(self.dtls.start(now))

    def _on_dtls(self, data: bytes, address: Address, now: float) -> None:
        dtls = self.dtls
        if dtls is None or address != self._candidate:
            return
        was_connected = dtls.connected
        self._send_all(dtls.receive(data, now))
        if dtls.connected and not was_connected:
            self.protect, self._unprotect = dtls.packet_functions()
            self.remote = self._candidate  # media may flow now, encrypted
            self.latched = True
            self.last_received = now
            self._next_report = now + REPORT_INTERVAL
            if self.on_connected is not None:
                self.on_connected(self)
        if dtls.failed:
            self._lose(LostReason.DTLS_FAILED, dtls.failed)
        elif dtls.closed:
            self._lose(LostReason.CLOSED, "the browser closed DTLS")

    def _send_all(self, datagrams: list[bytes]) -> None:
        target = self._candidate
        if target is None:
            return
        for datagram in datagrams:
            with contextlib.suppress(OSError):
                self.rtp.sendto(datagram, target)

    def _on_srtcp(self, data: bytes) -> None:
        """The browser's reports: checked and counted (the SIP side gets its own from its
        phone; reports are per hop); the browser's SSRC is noted for our report block."""
        dtls = self.dtls
        if dtls is None or not dtls.connected:
            return
        try:
            report = dtls.unprotect_rtcp(data)
        except pylibsrtp.Error:
            self.srtp_errors += 1
            return
        self.rtcp_received += 1
        if len(report) >= 8:
            self.remote_ssrc = int.from_bytes(report[4:8], "big")

    def _on_rtcp(self) -> None:
        """rtcp-mux: nothing is expected on the odd port; drain it."""
        while True:
            try:
                self.rtcp.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError, OSError):
                break

    # --- time ---------------------------------------------------------------------------------
    def poll(self, now: float) -> None:
        """Called about once a second: DTLS retransmission, consent, reports."""
        if self.ended_reason is not None:
            return
        dtls = self.dtls
        if dtls is not None and not dtls.connected:
            self._send_all(dtls.poll(now))
            if dtls.failed:
                self._lose(LostReason.DTLS_FAILED, dtls.failed)
                return
            if self._candidate is None and now - self._created > self.consent_timeout:
                self._lose(LostReason.CONSENT, "no ICE check from the browser")
                return
        if self.ice.consent_expired(now, self.consent_timeout):
            self._lose(LostReason.CONSENT,
                       f"no consent from the browser for {self.consent_timeout:g} s")
            return
        if self.protect is not None and now >= self._next_report:
            self._next_report = now + REPORT_INTERVAL
            self._send_report()

    def _lose(self, reason: str, detail: str) -> None:
        """Stop media to the browser at once and tell the owner (once)."""
        if self.ended_reason is not None:
            return
        self.ended_reason = reason
        self.ended_detail = detail
        self.remote = None
        self.protect = None
        if self.on_lost is not None:
            self.on_lost(self, reason)

    def _send_report(self) -> None:
        """A sender report (with a block on the browser's stream) plus SDES CNAME, in SRTCP."""
        stream = self._stream
        ssrc = stream.ssrc if stream.ssrc is not None else 0x50A1E7
        wall = time.time() + _NTP_EPOCH
        seconds = int(wall)
        fraction = int((wall - seconds) * (1 << 32)) & 0xFFFFFFFF
        sr_body = _SR.pack(ssrc, seconds & 0xFFFFFFFF, fraction, stream.last_ts,
                           self.sent_packets & 0xFFFFFFFF,
                           (self.sent_packets * 160) & 0xFFFFFFFF)  # G.711: 160 per packet
        blocks = 0
        if self._seq_highest >= 0 and self.remote_ssrc is not None:
            lost = min(self.lost, 0x7FFFFF)
            sr_body += _BLOCK.pack(self.remote_ssrc, lost, self._seq_highest & 0xFFFFFFFF,
                                   0, 0, 0)
            blocks = 1
        cname = b"parley"
        item = bytes([1, len(cname)]) + cname + b"\x00"
        item += b"\x00" * (-(4 + len(item)) % 4)
        sdes = RtcpPacket(202, 1, struct.pack("!I", ssrc) + item)
        compound = bytes(RtcpPacket(200, blocks, sr_body)) + bytes(sdes)
        if self.dtls is None or self.remote is None:
            return
        with contextlib.suppress(OSError, pylibsrtp.Error):
            self.reports_sent += 1
            self.rtp.sendto(self.dtls.protect_rtcp(compound), self.remote)

    # --- a call carried over to another node (parley.telephony.carry) ---------------------
    @property
    def carriable(self) -> bool:
        """Another node can go on with this leg (:meth:`carried_state` is not None)."""
        dtls = self.dtls
        return (dtls is not None and dtls.connected and self._candidate is not None
                and self.ended_reason is None)

    def carried_state(self) -> dict[str, Any] | None:
        """What another node needs to go on with this leg's media: the ICE credentials and
        the browser's address, the SRTP keys, and how far each direction went (packet
        indexes: the rollover counters go on); None before DTLS is done or once the leg
        stopped. It holds the call's keys: it goes only to the store the nodes share."""
        dtls = self.dtls
        candidate = self._candidate
        if not self.carriable or dtls is None or candidate is None:
            return None
        keys = dtls.keys
        return {
            "ice": [self.ice.local_ufrag, self.ice.local_pwd, self.ice.remote_ufrag,
                    self.ice.remote_pwd],
            "candidate": [candidate[0], candidate[1]], "local_setup": self.local_setup,
            "srtp": {"profile": dtls.profile, "libsrtp": keys.profile,
                     "tx": base64.b64encode(keys.tx).decode(),
                     "rx": base64.b64encode(keys.rx).decode()},
            **self.srtp_position(), "reports": self.reports_sent,
        }

    def carry_on(self, state: Mapping[str, Any], *, elapsed_s: float) -> None:
        """Go on with the leg :meth:`carried_state` described, written ``elapsed_s`` ago on
        the node that had it: the same ICE credentials (the browser's consent checks are
        answered as before), media to the browser's address at once, SRTP with the same
        keys going on past where each direction was (what the other node sent since it
        wrote the state is skipped over, a gap the browser takes for loss). No DTLS: the
        browser keeps the association it has. Raises KeyError, TypeError, ValueError (or
        binascii.Error) on a state that is not one."""
        local_ufrag, local_pwd, remote_ufrag, remote_pwd = (str(v) for v in state["ice"])
        host, port = state["candidate"]
        candidate = (str(host), int(port))
        srtp = state["srtp"]
        keys = SrtpKeys(base64.b64decode(srtp["tx"], validate=True),
                        base64.b64decode(srtp["rx"], validate=True), int(srtp["libsrtp"]))
        reports = int(state["reports"])
        dtls = DtlsSrtp.resume(self.relay.certificate, keys, str(srtp["profile"]))
        tx, rx = dtls.srtp
        now = self.relay.clock.monotonic()
        protect, unprotect = self.resume_srtp(keys, tx, rx, state, elapsed_s=elapsed_s)
        ssrc = self._stream.ssrc
        if ssrc is not None:  # SRTCP's index goes on too
            report = bytes(RtcpPacket(201, 0, struct.pack("!I", ssrc)))
            for _ in range(reports + int(elapsed_s / REPORT_INTERVAL) + 2):
                dtls.protect_rtcp(report)
        self.reports_sent = reports
        self.ice = IceLite(local_ufrag, local_pwd)
        self.ice.set_remote(remote_ufrag, remote_pwd)
        self.ice.nominated = candidate
        self.ice.last_consent = now
        self.local_setup = str(state["local_setup"])
        self.dtls = dtls
        self.protect, self._unprotect = protect, unprotect
        self._candidate = self.remote = candidate
        self.latched = True
        self.last_received = now
        self._next_report = now + REPORT_INTERVAL

    def hand_over(self) -> None:
        """No DTLS goodbye when this node closes the leg: the browser's association goes on
        with the node taking over (:meth:`carry_on`)."""
        self._handed_over = True

    def close(self) -> None:
        """Say goodbye in DTLS (close_notify), then close like any endpoint (not when
        another node goes on with the leg)."""
        if self.dtls is not None and self._candidate is not None and self.ended_reason is None \
                and not self._handed_over:
            self._send_all(self.dtls.close())
        super().close()
        self.on_lost = None  # closes over the call's channel (see MediaEndpoint.close)

