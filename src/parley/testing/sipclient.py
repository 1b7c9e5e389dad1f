"""A raw SIP client over real UDP or TCP, for tests and benchmarks that act as a phone or as
an attacker: it builds requests with :mod:`parley.sip`, answers digest challenges, and can
bind to any loopback address (127.0.0.2 is "another machine" to a server on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import socket
from dataclasses import dataclass, field

from parley.sip.auth import Challenge, authorization_header
from parley.sip.headers import NameAddr, Via
from parley.sip.message import (
    KeepAlive,
    SipRequest,
    SipResponse,
    StreamFramer,
    build_request,
    new_branch,
    parse_message,
)
from parley.sip.uri import SipUri


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, replies: asyncio.Queue[SipResponse]) -> None:
        self.replies = replies

    def datagram_received(self, data: bytes, addr: object) -> None:
        with contextlib.suppress(Exception):
            message = parse_message(data)
            if isinstance(message, SipResponse):
                self.replies.put_nowait(message)


@dataclass
class RawSipClient:
    """Open with :meth:`open`; ``transport`` is "UDP" or "TCP"; ``bind`` the local address;
    ``sock`` a socket of that transport made beforehand (e.g. in another network namespace,
    :mod:`parley.testing.netns`), bound to ``bind``."""

    server_host: str
    server_port: int
    transport: str = "UDP"
    bind: str = "127.0.0.1"
    realm_host: str = "127.0.0.1"
    replies: asyncio.Queue[SipResponse] = field(default_factory=asyncio.Queue)
    raw: list[bytes] = field(default_factory=list)  # every reply as it came (TCP: framed)
    local_port: int = 0
    sock: socket.socket | None = None
    _udp: asyncio.DatagramTransport | None = None
    _writer: asyncio.StreamWriter | None = None
    _reader_task: asyncio.Task[None] | None = None
    _cseq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def open(self) -> RawSipClient:
        loop = asyncio.get_running_loop()
        if self.transport == "UDP":
            raw = self.raw
            replies = self.replies

            class Recording(_Datagrams):
                def datagram_received(self, data: bytes, addr: object) -> None:
                    raw.append(data)
                    super().datagram_received(data, addr)

            if self.sock is not None:
                udp, _ = await loop.create_datagram_endpoint(lambda: Recording(replies),
                                                             sock=self.sock)
            else:
                udp, _ = await loop.create_datagram_endpoint(lambda: Recording(replies),
                                                             local_addr=(self.bind, 0))
            self._udp = udp
            self.local_port = int(udp.get_extra_info("sockname")[1])
        else:
            if self.sock is not None:  # made (and bound) beforehand: connected here
                await loop.sock_connect(self.sock, (self.server_host, self.server_port))
                reader, writer = await asyncio.open_connection(sock=self.sock)
            else:
                reader, writer = await asyncio.open_connection(
                    self.server_host, self.server_port, local_addr=(self.bind, 0))
            self._writer = writer
            self.local_port = int(writer.get_extra_info("sockname")[1])
            self._reader_task = loop.create_task(self._read(reader))
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        framer = StreamFramer()
        while data := await reader.read(65536):
            for item in framer.feed(data):
                if isinstance(item, KeepAlive):
                    continue
                self.raw.append(item)
                message = parse_message(item)
                if isinstance(message, SipResponse):
                    self.replies.put_nowait(message)

    @property
    def connected(self) -> bool:
        """UDP: open; TCP: the server has not closed the connection (nor this client)."""
        if self._udp is not None:
            return True
        return self._reader_task is not None and not self._reader_task.done() \
            and self._writer is not None and not self._writer.is_closing()

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task

    async def __aenter__(self) -> RawSipClient:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def send(self, request: SipRequest) -> None:
        data = bytes(request)
        if self._udp is not None:
            self._udp.sendto(data, (self.server_host, self.server_port))
        elif self._writer is not None:
            self._writer.write(data)

    async def request(self, request: SipRequest, wait_s: float = 5.0) -> SipResponse:
        """Send ``request`` and wait for its final response (provisional ones are skipped)."""
        self.send(request)
        while True:
            response = await asyncio.wait_for(self.replies.get(), wait_s)
            if response.call_id == request.call_id and response.status >= 200:
                return response

    def build(self, method: str, user: str, *, target: str | None = None,
              call_id: str | None = None, authorization: str | None = None,
              headers: list[tuple[str, str]] | None = None, body: bytes = b"",
              contact: SipUri | None = None) -> SipRequest:
        """A request from ``user`` (REGISTER: to its own AOR; else to ``target``); its
        Contact ``contact``, else this client's own address."""
        aor = SipUri(user=user, host=self.realm_host, port=self.server_port)
        uri = (SipUri(host=self.realm_host, port=self.server_port) if method == "REGISTER"
               else SipUri(user=target or user, host=self.realm_host, port=self.server_port))
        extra = list(headers or [])
        if authorization:
            extra.append(("Authorization", authorization))
        if body:
            extra.append(("Content-Type", "application/sdp"))
        return build_request(
            method, uri, from_=NameAddr(aor).with_tag(secrets.token_hex(4)),
            to=NameAddr(aor if method == "REGISTER" else uri),
            call_id=call_id or secrets.token_hex(8), cseq=next(self._cseq),
            via=Via(self.transport, self.bind, self.local_port,
                    (("branch", new_branch()), ("rport", None))),
            contact=NameAddr(contact or SipUri(user=user, host=self.bind,
                                               port=self.local_port)),
            headers=extra, body=body)

    async def authenticated(self, method: str, user: str, password: str, *,
                            target: str | None = None, challenge: SipResponse | None = None,
                            body: bytes = b"", contact: SipUri | None = None,
                            headers: list[tuple[str, str]] | None = None) -> SipResponse:
        """Send ``method`` (with more ``headers``) with credentials answering ``challenge``
        (or a fresh 401 got first); returns the final answer."""
        call_id = secrets.token_hex(8)
        if challenge is None:
            challenge = await self.request(self.build(method, user, target=target,
                                                      call_id=call_id, body=body,
                                                      contact=contact, headers=headers))
            if challenge.status != 401:
                return challenge
        value = challenge.headers.values("WWW-Authenticate")[0]
        uri = (str(SipUri(host=self.realm_host, port=self.server_port)) if method == "REGISTER"
               else str(SipUri(user=target or user, host=self.realm_host,
                               port=self.server_port)))
        authorization = authorization_header(Challenge.parse(value), method=method, uri=uri,
                                             username=user, password=password)
        return await self.request(self.build(method, user, target=target, call_id=call_id,
                                             authorization=authorization, body=body,
                                             contact=contact, headers=headers))
