"""A browser stand-in for tests and the benchmark: a WebRTC phone over SIP (UDP).

:class:`WebRtcPhone` does what a browser tab does to Parley's media leg, with the libraries
Parley uses (aioice's STUN messages, pyOpenSSL DTLS through :class:`~parley.media.dtls.DtlsSrtp`,
pylibsrtp), and no browser: it offers ``UDP/TLS/RTP/SAVPF`` with ICE credentials and a DTLS
fingerprint in a SIP INVITE, sends ICE checks as the controlling agent (USE-CANDIDATE on the
first), runs the DTLS handshake in the role the answer leaves it, then sends a known audio
as SRTP every 20 ms and keeps what it hears. Consent checks go on every ``consent_interval``
until :meth:`WebRtcPhone.stop_consent` (a closed tab), which Parley must notice.

:class:`SipCaller` is the little SIP it needs: INVITE with digest authentication, ACK, BYE,
and answering Parley's BYE.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pylibsrtp
from aioice import stun

from parley.media.dtls import DtlsCertificate, DtlsSrtp, is_dtls
from parley.media.g711 import Codec as G711
from parley.media.g711 import decode, encode
from parley.media.ice import random_credential
from parley.sip.auth import Challenge, authorization_header
from parley.sip.headers import NameAddr, Via
from parley.sip.message import (
    SipRequest,
    SipResponse,
    build_request,
    build_response,
    new_branch,
    parse_message,
)
from parley.sip.uri import SipUri
from parley.telephony.media_sdp import read_audio

_RTP_HEADER_SIZE = 12


def _candidate(body: bytes) -> tuple[str, int] | None:
    """The first UDP host candidate of an SDP (``a=candidate:… udp … <ip> <port> typ host``)."""
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            if len(parts) >= 8 and parts[2].lower() == "udp":
                return parts[4], int(parts[5])
    return None


@dataclass(eq=False)
class WebRtcPhone:
    """The media side of a browser call (module docstring); one UDP socket, rtcp-mux."""

    host: str = "127.0.0.1"
    setup: str = "actpass"  # what the offer says; "passive" makes Parley the DTLS client
    consent_interval: float = 1.0
    certificate: DtlsCertificate = field(default_factory=DtlsCertificate.generate)
    ufrag: str = field(default_factory=lambda: random_credential(4))
    pwd: str = field(default_factory=lambda: random_credential(22))
    received: list[bytes] = field(default_factory=list)  # decrypted RTP packets heard
    stun_successes: int = 0
    srtp_errors: int = 0
    sent: int = 0
    dtls: DtlsSrtp | None = None
    port: int = 0
    _sock: socket.socket | None = None
    _remote: tuple[str, int] | None = None
    _remote_ufrag: str = ""
    _remote_pwd: str = ""
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _checked: asyncio.Event = field(default_factory=asyncio.Event)
    _consent: bool = True
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _rx: pylibsrtp.Session | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _reading: bool = True

    def open(self) -> WebRtcPhone:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.host, 0))
        sock.setblocking(False)
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        return self

    def offer(self, codecs: str = "0 8") -> bytes:
        """An offer shaped like Chromium's (PCMU/PCMA, telephone-event, BUNDLE, rtcp-mux)."""
        formats = f"{codecs} 126"
        lines = ["v=0", f"o=- {secrets.randbits(60)} 2 IN IP4 {self.host}", "s=-", "t=0 0",
                 "a=group:BUNDLE 0", f"m=audio {self.port} UDP/TLS/RTP/SAVPF {formats}",
                 f"c=IN IP4 {self.host}",
                 f"a=candidate:1 1 udp 2122194687 {self.host} {self.port} typ host",
                 f"a=ice-ufrag:{self.ufrag}", f"a=ice-pwd:{self.pwd}",
                 f"a=fingerprint:sha-256 {self.certificate.fingerprint}",
                 f"a=setup:{self.setup}", "a=mid:0", "a=sendrecv", "a=rtcp-mux",
                 "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
                 "a=rtpmap:126 telephone-event/8000", "a=fmtp:126 0-16"]
        return ("\r\n".join(lines) + "\r\n").encode()

    def answer(self, offer: bytes, setup: str = "active") -> bytes:
        """Answer Parley's offer (a call to this browser): ``active`` makes this phone the
        DTLS client, ``passive`` makes Parley the client."""
        lines = self.offer().decode().replace("a=setup:actpass", f"a=setup:{setup}")
        self.answered(offer, our_setup=setup)
        return lines.encode()

    def answered(self, body: bytes, our_setup: str = "actpass") -> None:
        """Parley's answer: where to check, its credentials, fingerprint and setup."""
        remote = read_audio(body)
        if remote.webrtc is None:
            raise ValueError("the answer is not a WebRTC answer")
        self._remote = _candidate(body) or (remote.host, remote.port)
        self._remote_ufrag = remote.webrtc.ice_ufrag
        self._remote_pwd = remote.webrtc.ice_pwd
        if our_setup == "actpass":
            role = "server" if remote.webrtc.setup == "active" else "client"
        else:
            role = "client" if our_setup == "active" else "server"
        self.dtls = DtlsSrtp(self.certificate, role, remote.webrtc.fingerprints)

    def target(self, address: tuple[str, int], ufrag: str, pwd: str,
               fingerprint: str, role: str = "client") -> None:
        """Aim at a relay port without SDP (the benchmark): its ICE credentials and
        certificate fingerprint, and this phone's DTLS role."""
        self._remote = address
        self._remote_ufrag = ufrag
        self._remote_pwd = pwd
        self.dtls = DtlsSrtp(self.certificate, role, (("sha-256", fingerprint),))

    def stop_reading(self) -> None:
        """Leave what Parley sends in the kernel (the benchmark reads back a sample only)."""
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self._reading = False

    async def connect(self, within: float = 5.0) -> None:
        """ICE (checks until one succeeds), then DTLS; raises TimeoutError."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._checks()))
        await asyncio.wait_for(self._checked.wait(), within)
        assert self.dtls is not None  # noqa: S101 - answered() came first
        self._send_all(self.dtls.start(loop.time()))
        self._tasks.append(loop.create_task(self._dtls_timer()))
        await asyncio.wait_for(self._connected.wait(), within)

    def stop_consent(self) -> None:
        """Stop sending ICE checks (the tab is gone as far as consent goes)."""
        self._consent = False

    async def _checks(self) -> None:
        first = True
        while True:
            if self._consent:
                self._check(use_candidate=first)
            await asyncio.sleep(0.05 if not self._checked.is_set() else self.consent_interval)
            first = first and not self._checked.is_set()

    async def _dtls_timer(self) -> None:
        loop = asyncio.get_running_loop()
        while self.dtls is not None and not self.dtls.connected:
            await asyncio.sleep(0.2)
            self._send_all(self.dtls.poll(loop.time()))

    def _check(self, *, use_candidate: bool) -> None:
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        request.attributes["USERNAME"] = f"{self._remote_ufrag}:{self.ufrag}"
        request.attributes["PRIORITY"] = 1853817087
        request.attributes["ICE-CONTROLLING"] = secrets.randbits(64)
        if use_candidate:
            request.attributes["USE-CANDIDATE"] = None
        request.add_message_integrity(self._remote_pwd.encode())
        self._send_all([bytes(request)])

    def _send_all(self, datagrams: list[bytes]) -> None:
        if self._sock is None or self._remote is None:
            return
        for datagram in datagrams:
            with contextlib.suppress(OSError):
                self._sock.sendto(datagram, self._remote)

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        loop_time = self._loop.time() if self._loop is not None else 0.0
        while True:
            try:
                data, _address = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError, OSError):
                return
            if not data:
                continue
            first = data[0]
            if 127 < first < 192:
                if self._rx is None or 191 < data[1] < 224:
                    continue  # RTCP from Parley: reports only
                try:
                    self.received.append(self._rx.unprotect(data))
                except pylibsrtp.Error:
                    self.srtp_errors += 1
            elif first < 4:
                with contextlib.suppress(ValueError):
                    message = stun.parse_message(data)
                    if (message.message_class == stun.Class.RESPONSE
                            and message.check_message_integrity(self._remote_pwd.encode())):
                        self.stun_successes += 1
                        self._checked.set()
            elif is_dtls(data) and self.dtls is not None:
                self._send_all(self.dtls.receive(data, loop_time))
                if self.dtls.connected and self._rx is None:
                    self._rx = self.dtls.srtp[1]
                    self._connected.set()

    def send_rtp(self, packet: bytes) -> None:
        """One plain RTP packet, encrypted and sent."""
        if self.dtls is None or not self.dtls.connected:
            return
        self._send_all([self.dtls.protect(packet)])
        self.sent += 1

    async def play(self, pcm: npt.NDArray[np.int16], codec: G711 = G711.PCMU,
                   payload_type: int = 0) -> None:
        """Send ``pcm`` (8 kHz) as 20 ms packets in real time."""
        loop = asyncio.get_running_loop()
        ssrc = secrets.randbits(32)
        start = loop.time()
        for index in range(len(pcm) // 160):
            frame = pcm[index * 160:(index + 1) * 160]
            header = bytes([0x80, payload_type | (0x80 if index == 0 else 0)])
            header += (index & 0xFFFF).to_bytes(2, "big")
            header += (index * 160 & 0xFFFFFFFF).to_bytes(4, "big") + ssrc.to_bytes(4, "big")
            self.send_rtp(header + encode(frame, codec))
            delay = start + (index + 1) * 0.020 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    def heard(self, codec: G711 = G711.PCMU) -> npt.NDArray[np.int16]:
        """What Parley sent, decoded in arrival order (audio packets only)."""
        frames = [decode(packet[_RTP_HEADER_SIZE:], codec) for packet in self.received
                  if len(packet) > _RTP_HEADER_SIZE and packet[1] & 0x7F in (0, 8)]
        if not frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(frames).astype(np.int16)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._sock is not None:
            if self._loop is not None and self._reading:
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None


class _SipProtocol(asyncio.DatagramProtocol):
    def __init__(self, caller: SipCaller) -> None:
        self.caller = caller

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(Exception):
            self.caller._received(parse_message(data), addr)


@dataclass(eq=False)
class SipCaller:
    """A SIP user agent over UDP for one call at a time: INVITE (with digest), ACK, BYE."""

    server: tuple[str, int]
    user: str
    password: str
    host: str = "127.0.0.1"
    realm_host: str = "127.0.0.1"
    port: int = 0
    responses: asyncio.Queue[SipResponse] = field(default_factory=asyncio.Queue)
    bye_received: asyncio.Event = field(default_factory=asyncio.Event)
    bye_reason: str | None = None
    _transport: asyncio.DatagramTransport | None = None
    _cseq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    answer_with: Callable[[bytes], bytes] | None = None  # offer -> answer, to take calls
    _invite: SipRequest | None = None
    _answer: SipResponse | None = None
    _incoming: SipRequest | None = None
    _incoming_tag: str = ""
    _incoming_body: bytes = b""

    async def open(self) -> SipCaller:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _SipProtocol(self),
                                                           local_addr=(self.host, 0))
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        return self

    def _received(self, message: SipRequest | SipResponse, addr: tuple[str, int]) -> None:
        if isinstance(message, SipResponse):
            self.responses.put_nowait(message)
        elif message.method == "INVITE" and self.answer_with is not None:
            if self._incoming is None or self._incoming.call_id != message.call_id:
                self._incoming = message
                self._incoming_tag = secrets.token_hex(4)
                self._incoming_body = self.answer_with(message.body)
            response = build_response(
                message, 200, to_tag=self._incoming_tag, body=self._incoming_body,
                content_type="application/sdp",
                contact=NameAddr(SipUri(user=self.user, host=self.host, port=self.port)))
            self._send(bytes(response))
        elif message.method == "BYE":
            self.bye_reason = message.header("Reason")
            self._send(bytes(build_response(message, 200)))
            self.bye_received.set()

    def _send(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.sendto(data, self.server)

    def _request(self, method: str, target: str, *, call_id: str, from_tag: str,
                 to: NameAddr | None = None, body: bytes = b"", cseq: int | None = None,
                 branch: str | None = None, authorization: str | None = None) -> SipRequest:
        uri = SipUri(user=target, host=self.realm_host, port=self.server[1])
        headers: list[tuple[str, str]] = []
        if authorization:
            headers.append(("Authorization", authorization))
        if body:
            headers.append(("Content-Type", "application/sdp"))
        me = SipUri(user=self.user, host=self.realm_host, port=self.server[1])
        return build_request(
            method, uri, from_=NameAddr(me).with_tag(from_tag), to=to or NameAddr(uri),
            call_id=call_id, cseq=cseq if cseq is not None else next(self._cseq),
            via=Via("UDP", self.host, self.port, (("branch", branch or new_branch()),
                                                  ("rport", None))),
            contact=NameAddr(SipUri(user=self.user, host=self.host, port=self.port)),
            headers=headers, body=body)

    async def _final(self, call_id: str, within: float) -> SipResponse:
        while True:
            response = await asyncio.wait_for(self.responses.get(), within)
            if response.call_id == call_id and response.status >= 200:
                return response

    async def invite(self, target: str, sdp: bytes, within: float = 10.0) -> SipResponse:
        """Call ``target``; answers a digest challenge; ACKs the final answer; returns it."""
        call_id = secrets.token_hex(8)
        from_tag = secrets.token_hex(4)
        invite = self._request("INVITE", target, call_id=call_id, from_tag=from_tag, body=sdp)
        self._send(bytes(invite))
        response = await self._final(call_id, within)
        if response.status in (401, 407):
            self._ack(invite, response)
            header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
            challenge = Challenge.parse(response.headers.values(header)[0])
            authorization = authorization_header(challenge, method="INVITE",
                                                 uri=str(invite.uri), username=self.user,
                                                 password=self.password)
            invite = self._request("INVITE", target, call_id=call_id, from_tag=from_tag,
                                   body=sdp, authorization=authorization)
            self._send(bytes(invite))
            response = await self._final(call_id, within)
        self._invite = invite
        self._ack(invite, response)
        if response.is_success:
            self._answer = response
        return response

    async def register(self, contact_transport: str = "ws", within: float = 5.0
                       ) -> SipResponse:
        """REGISTER (with digest) a Contact carrying ``;transport=ws``, as a browser's
        JsSIP does (here over UDP: the Contact alone must make Parley offer WebRTC)."""
        call_id = secrets.token_hex(8)
        from_tag = secrets.token_hex(4)
        authorization: str | None = None
        for _ in range(2):
            request = self._request("REGISTER", self.user, call_id=call_id, from_tag=from_tag,
                                    authorization=authorization)
            me = SipUri(user=self.user, host=self.realm_host, port=self.server[1])
            registrar = SipUri(host=self.realm_host, port=self.server[1])
            request = build_request(
                "REGISTER", registrar, from_=NameAddr(me).with_tag(from_tag), to=NameAddr(me),
                call_id=call_id, cseq=next(self._cseq), via=request.via,
                contact=NameAddr(SipUri(user=self.user, host=self.host, port=self.port,
                                        params=(("transport", contact_transport),))),
                headers=[("Expires", "300")] + ([("Authorization", authorization)]
                                                if authorization else []))
            self._send(bytes(request))
            response = await self._final(call_id, within)
            if response.status != 401:
                return response
            challenge = Challenge.parse(response.headers.values("WWW-Authenticate")[0])
            authorization = authorization_header(challenge, method="REGISTER",
                                                 uri=str(registrar), username=self.user,
                                                 password=self.password)
        return response

    def _ack(self, invite: SipRequest, response: SipResponse) -> None:
        """ACK a final answer: in the INVITE's transaction for a failure, a new one for 2xx."""
        branch = None if response.is_success else invite.branch
        ack = self._request("ACK", invite.uri.user or "", call_id=invite.call_id,
                            from_tag=invite.from_.tag or "", to=response.to,
                            cseq=invite.cseq.seq, branch=branch)
        self._send(bytes(ack))

    async def bye(self, within: float = 5.0) -> SipResponse | None:
        """Hang up the answered call."""
        if self._invite is None or self._answer is None:
            return None
        invite = self._invite
        bye = self._request("BYE", invite.uri.user or "", call_id=invite.call_id,
                            from_tag=invite.from_.tag or "", to=self._answer.to)
        self._send(bytes(bye))
        return await self._final(invite.call_id, within)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
