"""`parley demo` as a user runs it: banner, a softphone registers as 1001, Ctrl-C stops it."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from pathlib import Path

import httpx

from parley.sip.message import SipResponse, parse_message
from parley.testing.peers import Baresip
from parley.testing.ports import free_port, free_port_block

from .conftest import needs_baresip

pytestmark = needs_baresip


def _options(port: int) -> bytes:
    return (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-demo-1;rport\r\n"
            "From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:127.0.0.1>\r\n"
            "Call-ID: demo-probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n").encode()


async def test_demo_serves_the_demo_users_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    sip_port = free_port()
    http_port = free_port()
    rtp_first = free_port_block(40)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from parley.cli import main; main()", "demo",
        "--sip-port", str(sip_port), "--http-port", str(http_port),
        "--rtp-ports", f"{rtp_first}-{rtp_first + 39}", "--data-dir", str(tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert process.stdout is not None
    phone = Baresip(tmp_path / "1001", user="1001", password="pw1001", server_port=sip_port)
    banner: list[str] = []
    try:
        while not any("Ctrl-C" in line for line in banner):
            line = await asyncio.wait_for(process.stdout.readline(), 20)
            assert line, f"demo exited early: {banner}"
            banner.append(line.decode())
        text = "".join(banner)
        assert f"127.0.0.1:{sip_port}" in text
        assert "pw1001" in text
        assert "1010" in text

        # The web side runs too, and the admin login the demo printed works.
        login = re.search(r"Admin login: user (\S+), password (\S+)", text)
        assert login, text
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as web:
            answer_web = await web.post("/api/auth/login", json={
                "username": login.group(1), "password": login.group(2)})
            assert answer_web.status_code == 200, answer_web.text
            wrong = await web.post("/api/auth/login", json={
                "username": login.group(1), "password": "not-the-password"})
            assert wrong.status_code == 401

        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        probe.settimeout(5)
        try:
            probe.sendto(_options(sip_port), ("127.0.0.1", sip_port))
            answer = parse_message(await asyncio.to_thread(probe.recv, 65535))
        finally:
            probe.close()
        assert isinstance(answer, SipResponse)
        assert answer.status == 200

        await phone.start()  # registers with pw1001, or raises
    finally:
        await phone.stop()
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        output = await asyncio.wait_for(process.stdout.read(), 15)
        await asyncio.wait_for(process.wait(), 15)
    assert process.returncode == 0, output.decode(errors="replace")[-2000:]
    assert b"Parley stopped." in output
