"""REGISTER over real UDP with SHA-256 digest (RFC 8760), refresh and un-register.

sipp and baresip 1.0 answer MD5 challenges only (covered by test_telephony_sipp and
test_telephony_baresip); here a minimal client built from ``parley.sip`` answers SHA-256.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from parley.clock import MonotonicClock
from parley.sip.auth import Challenge, authorization_header
from parley.sip.headers import NameAddr, Via
from parley.sip.message import SipResponse, build_request, new_branch, parse_message
from parley.sip.uri import SipUri
from parley.telephony.server import Telephony
from parley.telephony.users import demo_directory

from .conftest import telephony_settings


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[SipResponse] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        message = parse_message(data)
        if isinstance(message, SipResponse):
            self.replies.put_nowait(message)


@pytest.fixture
async def sha_parley() -> AsyncIterator[Telephony]:
    settings = telephony_settings(digest_algorithms=("SHA-256", "MD5"))
    telephony = Telephony(settings, demo_directory(settings.realm), MonotonicClock())
    async with telephony:
        yield telephony


async def test_sha256_registration_refresh_and_unregister(sha_parley: Telephony) -> None:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_Client,
                                                            local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    server = ("127.0.0.1", sha_parley.sip_port)
    aor = SipUri(user="1003", host="127.0.0.1", port=sha_parley.sip_port)
    registrar = SipUri(host="127.0.0.1", port=sha_parley.sip_port)
    contact = NameAddr(SipUri(user="1003", host="127.0.0.1", port=port))
    cseq = 0

    async def register(expires: int, authorization: str | None) -> SipResponse:
        nonlocal cseq
        cseq += 1
        headers = [("Expires", str(expires))]
        if authorization:
            headers.append(("Authorization", authorization))
        request = build_request(
            "REGISTER", registrar, from_=NameAddr(aor).with_tag("reg1"), to=NameAddr(aor),
            call_id="sha-reg-1", cseq=cseq, via=Via("UDP", "127.0.0.1", port,
                                                    (("branch", new_branch()), ("rport", None))),
            contact=contact, headers=headers)
        transport.sendto(bytes(request), server)
        return await asyncio.wait_for(client.replies.get(), 5)

    def answer(challenge_response: SipResponse, password: str) -> str:
        values = challenge_response.headers.values("WWW-Authenticate")
        challenges = [Challenge.parse(value) for value in values]
        assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
        return authorization_header(challenges[0], method="REGISTER", uri=str(registrar),
                                    username="1003", password=password)

    try:
        first = await register(600, None)
        assert first.status == 401
        wrong = await register(600, answer(first, "pw9999"))
        assert wrong.status == 403
        assert not sha_parley.engine.contacts_of("1003")

        challenge = await register(600, None)
        ok = await register(600, answer(challenge, "pw1003"))
        assert ok.status == 200
        bindings = sha_parley.engine.contacts_of("1003")
        assert [b.uri.port for b in bindings] == [port]
        assert "expires=" in (ok.headers.get("Contact") or "")

        challenge = await register(0, None)
        gone = await register(0, answer(challenge, "pw1003"))
        assert gone.status == 200
        assert not sha_parley.engine.contacts_of("1003")
    finally:
        transport.close()
