"""SIP over WebSocket (RFC 7118) on a running demo node: a browser-like client registers as
1001 over ws://…/sip with its usual SIP credentials or with a web session's short-lived ones,
becomes a ready operator, is called back over its own connection, and loses its registration
when the socket (or the web session) closes; a bad frame closes only that connection."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from parley.app import Node
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
from parley.store.specs import DeviceSpec
from parley.testing.node import change

from .inbound_node import demo_node
from .test_api_live import acd_state, eventually, logged_in

pytestmark = pytest.mark.integration


class WsPhone:
    """What JsSIP does on the wire, in a few lines: one SIP message per text frame, Via and
    Contact with transport ws and an unresolvable ``.invalid`` host."""

    def __init__(self, socket: ClientConnection, host: str) -> None:
        self.socket = socket
        self.host = host
        self.contact_host = f"{secrets.token_hex(4)}.invalid"
        self.contact_user = secrets.token_hex(4)
        self.requests: asyncio.Queue[SipRequest] = asyncio.Queue()
        self.responses: asyncio.Queue[SipResponse] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.cseq = 0

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in self.socket:
                message = parse_message(frame.encode() if isinstance(frame, str) else frame)
                if isinstance(message, SipResponse):
                    self.responses.put_nowait(message)
                else:
                    self.requests.put_nowait(message)

    def register_request(self, user: str, *, call_id: str, expires: int = 600,
                         authorization: str | None = None) -> SipRequest:
        self.cseq += 1
        aor = SipUri(user=user, host=self.host)
        headers = [("Expires", str(expires))]
        if authorization:
            headers.append(("Authorization", authorization))
        return build_request(
            "REGISTER", SipUri(host=self.host), from_=NameAddr(aor).with_tag("t" + call_id),
            to=NameAddr(aor), call_id=call_id, cseq=self.cseq,
            via=Via("WS", self.contact_host, None, (("branch", new_branch()),)),
            contact=NameAddr(SipUri(user=self.contact_user, host=self.contact_host,
                                    params=(("transport", "ws"),))),
            headers=headers)

    async def send(self, message: SipRequest | SipResponse) -> None:
        await self.socket.send(bytes(message).decode())

    async def final(self, call_id: str) -> SipResponse:
        while True:
            response = await asyncio.wait_for(self.responses.get(), 5)
            if response.call_id == call_id and response.status >= 200:
                return response

    async def register(self, user: str, password: str, *, auth_name: str | None = None,
                       expires: int = 600) -> SipResponse:
        call_id = secrets.token_hex(8)
        await self.send(self.register_request(user, call_id=call_id, expires=expires))
        challenge = await self.final(call_id)
        if challenge.status != 401:
            return challenge
        authorization = authorization_header(
            Challenge.parse(challenge.headers.values("WWW-Authenticate")[0]),
            method="REGISTER", uri=str(SipUri(host=self.host)), username=auth_name or user,
            password=password)
        await self.send(self.register_request(user, call_id=call_id, expires=expires,
                                              authorization=authorization))
        return await self.final(call_id)


@contextlib.asynccontextmanager
async def ws_phone(node: Node, *, cookie: str | None = None) -> AsyncIterator[WsPhone]:
    url = node.url.replace("http://", "ws://") + "/sip"
    headers = {"Cookie": cookie} if cookie else None
    async with websockets.connect(url, subprotocols=["sip"],  # type: ignore[list-item]
                                  additional_headers=headers) as socket:
        assert socket.subprotocol == "sip"
        phone = WsPhone(socket, "127.0.0.1")
        try:
            yield phone
        finally:
            phone._reader.cancel()


async def closed(phone: WsPhone) -> tuple[int | None, str]:
    """How the server closed ``phone``'s socket: the close code and reason."""
    await asyncio.wait_for(phone._reader, 5)
    return phone.socket.close_code, phone.socket.close_reason or ""


def bindings(node: Node, user: str) -> list[str]:
    return [str(binding.transport) for binding in node.telephony.engine.contacts_of(user)]


async def test_a_browser_registers_over_websocket_is_ready_and_unregisters_when_it_closes(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        async with ws_phone(node) as phone:
            answer = await phone.register("1001", "pw1001")
            assert answer.status == 200, answer
            assert "transport=ws" in answer.headers.values("Contact")[0]
            assert bindings(node, "1001") == ["WS"]
            # ready_on_register: the registration counts as the operator's phone
            await acd_state(node, "1001", "ready")
            # wrong password: refused like a desk phone
            wrong = await phone.register("1002", "not-the-password")
            assert wrong.status == 403

            # a call to 1001 reaches the browser over its own connection
            channel = node.telephony.originate("1001", caller_id="1002", timeout=5)
            invite = await asyncio.wait_for(phone.requests.get(), 5)
            assert invite.method == "INVITE"
            assert invite.uri.host == phone.contact_host  # the browser's own contact
            assert invite.via.transport == "WS"
            assert "transport=ws" in invite.headers.values("Contact")[0]
            await phone.send(build_response(invite, 486, to_tag="b1"))
            await eventually(lambda: _ended(channel), what="the refused call ended")
        await eventually(lambda: _unbound(node, "1001"), what="1001 unregistered")
        await acd_state(node, "1001", "logged_out")


async def _ended(channel: object) -> bool:
    return bool(getattr(channel, "ended", False))


async def _unbound(node: Node, user: str) -> bool:
    return not bindings(node, user)


async def test_a_bad_frame_closes_only_its_own_connection(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node, ws_phone(node) as good, ws_phone(node) as bad:
        assert (await good.register("1001", "pw1001")).status == 200
        await bad.socket.send("HELLO there\r\n\r\n")
        code, reason = await closed(bad)
        assert code == 1008
        assert "not a SIP message" in reason
        # an oversized frame: 1009 for that connection only
        async with ws_phone(node) as big:
            await big.socket.send("x" * 70_000)
            code, reason = await closed(big)
            assert code == 1009
            assert "70000 bytes" in reason
        # the good one is still registered and still answered
        again = await good.register("1001", "pw1001")
        assert again.status == 200
        assert bindings(node, "1001") == ["WS"]
        assert node.telephony.transport.ws.closed_by_limit == 2


async def test_parley_can_close_a_browser_connection_and_its_registration_goes(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node, ws_phone(node) as phone:
        assert (await phone.register("1001", "pw1001")).status == 200
        (connection,) = node.telephony.transport.ws.connections()
        connection.close_soon(1001, "going away")
        code, reason = await closed(phone)
        assert (code, reason) == (1001, "going away")
        await eventually(lambda: _unbound(node, "1001"), what="1001 unregistered")


async def test_a_socket_without_the_sip_subprotocol_is_refused(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        url = node.url.replace("http://", "ws://") + "/sip"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url):
                pass
        assert refused.value.response.status_code == 403


async def test_the_credentials_name_the_signed_in_user_and_their_own_extension(
        tmp_path: Path) -> None:
    """A user whose device is not named after them (the supervisor at extension 2001): the
    page registers the device and greets the user by name."""
    async with demo_node(tmp_path) as node:
        await change(node, "devices", DeviceSpec(name="2001", user="supervisor",
                                                 sip_password="pw-boss-2001"))
        async with logged_in(node, "supervisor", "pw-supervisor") as api:
            response = await api.post("/api/phone/credentials")
            assert response.status_code == 200, response.text
            given = response.json()
            assert (given["user"], given["username"]) == ("2001", "supervisor")
            assert given["session_device"] is False


async def test_web_session_credentials_register_the_operator_and_die_with_the_session(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node, logged_in(node, "1001", "pw1001") as api:
        response = await api.post("/api/phone/credentials")
        assert response.status_code == 200, response.text
        given = response.json()
        assert given["user"] == "1001"
        assert given["authorization_user"].startswith("web-")
        assert given["password"] != "pw1001"
        assert given["ws_url"].endswith("/sip")
        assert given["ws_url"].startswith("ws://")
        assert 0 < given["expires_in_s"] <= 3600
        cookie = f"parley_session={api.cookies['parley_session']}"
        async with ws_phone(node, cookie=cookie) as phone:
            answer = await phone.register("1001", given["password"],
                                          auth_name=given["authorization_user"])
            assert answer.status == 200, answer
            await acd_state(node, "1001", "ready")
            # a credential only stands for its own user
            other = await phone.register("1002", given["password"],
                                         auth_name=given["authorization_user"])
            assert other.status == 403
            assert (await api.post("/api/auth/logout")).status_code == 204
            await eventually(lambda: _unbound(node, "1001"), what="1001 unregistered")
            refused = await phone.register("1001", given["password"],
                                           auth_name=given["authorization_user"])
            assert refused.status == 403
        # bearer tokens get no browser-phone credentials
        async with httpx.AsyncClient(base_url=node.url) as client:
            assert (await client.post("/api/phone/credentials")).status_code == 401


async def test_a_user_without_a_device_gets_one_for_the_session(tmp_path: Path) -> None:
    async with demo_node(tmp_path) as node:
        login = node.demo_login
        assert login is not None
        async with logged_in(node, login.username, login.password) as api:
            given = (await api.post("/api/phone/credentials")).json()
            assert given["user"] == login.username
            assert given["session_device"] is True
            async with ws_phone(node) as phone:
                answer = await phone.register(login.username, given["password"],
                                              auth_name=given["authorization_user"])
                assert answer.status == 200, answer
                # the session device can be called like any extension
                channel = node.telephony.originate(login.username, caller_id="1001",
                                                   timeout=5)
                invite = await asyncio.wait_for(phone.requests.get(), 5)
                assert invite.method == "INVITE"
                await phone.send(build_response(invite, 603, to_tag="b2"))
                await eventually(lambda: _ended(channel), what="the declined call ended")


async def test_over_https_the_browser_phone_registers_over_wss_with_the_trial_certificate(
        tmp_path: Path) -> None:
    async with demo_node(tmp_path, https=True) as node:
        certificate = node.certificate
        assert certificate is not None
        assert certificate.generated
        assert node.url.startswith("https://")
        assert any(certificate.fingerprint in line for line in node.banner)
        trusting = ssl.create_default_context(cafile=str(certificate.certificate))
        async with httpx.AsyncClient(base_url=node.url, verify=trusting) as client:
            login = await client.post("/api/auth/login",
                                      json={"username": "1001", "password": "pw1001"})
            assert login.status_code == 200
            assert "secure" in login.headers["set-cookie"].lower()
            given = (await client.post("/api/phone/credentials", headers={
                "X-CSRF-Token": login.json()["csrf_token"]})).json()
        assert given["ws_url"].startswith("wss://")
        async with websockets.connect(given["ws_url"], subprotocols=["sip"],  # type: ignore[list-item]
                                      ssl=trusting) as socket:
            phone = WsPhone(socket, "127.0.0.1")
            answer = await phone.register("1001", given["password"],
                                          auth_name=given["authorization_user"])
            assert answer.status == 200, answer
            assert bindings(node, "1001") == ["WSS"]
            phone._reader.cancel()
        # a browser that does not trust the certificate cannot connect at all
        with pytest.raises(ssl.SSLCertVerificationError):
            async with websockets.connect(given["ws_url"], subprotocols=["sip"]):  # type: ignore[list-item]
                pass
