"""A whole Parley node (store, web, telephony, contact center) in-process on free ports, as
``parley demo`` builds it, for the inbound acceptance tests (from
:mod:`parley.testing.node`); and the SIPp callers and operators they use."""

from __future__ import annotations

import asyncio
from pathlib import Path

from parley.app import Node
from parley.store.records import InteractionRecord
from parley.testing.media import (
    SIPP_AWAIT_BYE,
    audio_packets,
    event_stream,
    sipp_caller,
    sipp_play,
    write_pcap,
)
from parley.testing.node import change, demo_node
from parley.testing.peers import Baresip, Sipp, noise_signal

__all__ = ["change", "demo_node"]  # the tests import them from here too


def operator(services: Node, tmp_path: Path, user: str, *, auto_answer: bool = True,
             source: Path | None = None) -> Baresip:
    """A demo operator's baresip phone (password pw<user>)."""
    return Baresip(tmp_path / user, user=user, password=f"pw{user}",
                   server_port=services.telephony.sip_port, auto_answer=auto_answer,
                   source=source)


def caller_scenario(tmp_path: Path, *, digits: str = "", talk_s: float = 10.0,
                    ani: str = "sipp", seed: int = 5, before_digits_ms: int = 500,
                    after_digits_ms: int = 0, parley_hangs_up: bool = False
                    ) -> tuple[Path, Path]:
    """A SIPp caller: key presses (RFC 4733), then ``talk_s`` of noise, then BYE (or, with
    ``parley_hangs_up``, it waits for Parley's BYE). Returns the scenario and the WAV of the
    noise it sends."""
    from parley.testing.peers import write_wav

    middle = f'  <pause milliseconds="{before_digits_ms}"/>\n'
    if digits:
        events = write_pcap(tmp_path / "digits.pcap", event_stream(digits))
        middle += sipp_play(events, 200 * len(digits) + 200 + after_digits_ms)
    noise = noise_signal(talk_s, seed)
    wav = write_wav(tmp_path / "caller-noise.wav", noise)
    pcap = write_pcap(tmp_path / "noise.pcap", audio_packets(noise))
    middle += sipp_play(pcap, int(talk_s * 1000))
    text = sipp_caller(middle, dtmf=True)
    if parley_hangs_up:
        own_bye = text.index('  <send retrans="500"><![CDATA[\nBYE')
        text = text[:own_bye] + SIPP_AWAIT_BYE + "</scenario>\n"
    if ani != "sipp":
        text = text.replace("sip:sipp@", f"sip:{ani}@")
    scenario = tmp_path / "caller.xml"
    scenario.write_text(text)
    return scenario, wav


async def call_record(services: Node, *, number: str, operator: str | None = None,
                      within: float = 10.0) -> InteractionRecord:
    """The newest closed call record for calls to or from ``number`` (and ``operator``)."""
    store = services.store
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        page = await store.interactions.search(number=number, operator=operator, limit=5)
        closed = [record for record in page.items if record.ended_at is not None]
        if closed:
            return await store.interactions.get(closed[0].id)  # with legs and timeline
        if loop.time() > deadline:
            raise AssertionError(f"no closed call record for {number}: {page.items}")
        await asyncio.sleep(0.2)


async def dial(services: Node, tmp_path: Path, number: str, scenario: Path) -> Sipp:
    """Start a SIPp caller of ``scenario`` to ``number`` on the node (one call, and never
    running longer than 90 s, even when the test fails)."""
    caller = Sipp(tmp_path / "caller", scenario, service=number, calls=1,
                  target=f"127.0.0.1:{services.telephony.sip_port}",
                  extra=("-timeout", "90s", "-timeout_error"))
    await caller.start()
    return caller
