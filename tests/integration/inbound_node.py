"""A whole Parley node (store, web, telephony, contact center) in-process on free ports, as
``parley demo`` builds it, for the inbound acceptance tests; and the SIPp callers they use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from parley.app import Node, build, serve
from parley.clock import Clock
from parley.config import PortRange, Settings
from parley.events import ConfigurationChanged
from parley.store.records import InteractionRecord
from parley.store.specs import Spec
from parley.testing.media import (
    SIPP_AWAIT_BYE,
    audio_packets,
    event_stream,
    sipp_caller,
    sipp_play,
    write_pcap,
)
from parley.testing.peers import Baresip, Sipp, noise_signal
from parley.testing.ports import free_port, free_port_block


@contextlib.asynccontextmanager
async def demo_node(tmp_path: Path, *, database_url: str | None = None,
                    clock: Clock | None = None, **more: object) -> AsyncIterator[Node]:
    """``parley demo`` on free loopback ports with its data in ``tmp_path`` (and its store at
    ``database_url``, by default a SQLite file there), on ``clock`` (by default the real
    one); ``more`` are further settings."""
    rtp_first = free_port_block(200)
    settings = Settings(host="127.0.0.1", sip_port=free_port(), http_port=free_port(),
                        data_dir=tmp_path / "data", database_url=database_url,
                        rtp_ports=PortRange(first=rtp_first, last=rtp_first + 199),
                        **more)  # type: ignore[arg-type]
    services = await build(settings, demo=True, clock=clock)
    ready = asyncio.Event()
    task = asyncio.create_task(serve(services, ready=lambda _services: ready.set()))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # raises what stopped it
    assert ready.is_set(), "the node did not start within 30 s"
    try:
        yield services
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def change(services: Node, kind: str, spec: Spec) -> None:
    """Change a configuration record as the API does: store it, announce it, let the
    services reload."""
    await services.store.config.put(kind, spec)
    services.bus.publish(ConfigurationChanged(kind, spec.key, "update"))
    await asyncio.sleep(0.3)


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
