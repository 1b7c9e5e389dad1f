"""Recorded bridged calls (or three-party mixes) through the live Parley server: CPU per call
and frames on time.

Method: Parley's ``Telephony`` runs in this process on uvloop. A sipp client (a guest calling
the public number 901) places ``--calls`` concurrent calls, each playing 20 s of µ-law noise
from a capture (``play_pcap_audio``); the number's handler calls a sipp answerer (static user
3000, ``-rtp_echo``: it sends back what it gets), bridges the two legs (the RTP relay forwards
without decoding) and records the call: both legs' packets are also decoded by the media hub
and written as a stereo WAV under a temporary data folder. Once every call is recorded, for
``--seconds`` the script reads this process's CPU time (``time.process_time``; the sipp
processes share the two cores) and the media shell's tick timing (how late each 2 ms wake-up
was served). Recordings are then checked for length.

With ``--mode mix`` nothing is recorded; instead a third leg (another call to the answerer)
joins each bridge with the ``barge`` role, so every call is a three-party mix in the hub
(mix-minus per member) instead of a relay.

    .venv/bin/python bench/media_live_record.py --calls 50 100 200 --seconds 5
    .venv/bin/python bench/media_live_record.py --mode mix --calls 50 100 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import structlog

from parley.clock import MonotonicClock
from parley.events import HangupCause
from parley.media.g711 import Codec
from parley.telephony.channel import Channel
from parley.telephony.dialplan import first_of
from parley.telephony.server import Telephony, TelephonySettings
from parley.telephony.users import MemoryDirectory, SipUser
from parley.testing.media import audio_packets, sipp_caller, sipp_play, write_pcap
from parley.testing.peers import Sipp, noise_signal
from parley.testing.ports import free_port, free_port_block


def prepare(workdir: Path, hold_ms: int) -> Path:
    """The caller's scenario and the capture it plays."""
    workdir.mkdir(parents=True, exist_ok=True)
    pcap = write_pcap(workdir / "noise.pcap",
                      audio_packets(noise_signal(hold_ms / 1000 + 2, seed=7), Codec.PCMU))
    scenario = workdir / "uac.xml"
    scenario.write_text(sipp_caller(sipp_play(pcap, hold_ms)))
    return scenario


def file_sizes(folder: Path) -> list[int]:
    return [path.stat().st_size for path in folder.rglob("*.wav")]


async def step(workdir: Path, calls: int, seconds: float, mode: str = "record"
               ) -> dict[str, float]:
    hold_ms = int((seconds + calls / 50 + 8) * 1000)
    scenario = prepare(workdir, hold_ms)
    answer_port = free_port()
    rtp_first = free_port_block(6 * calls + 20)
    settings = TelephonySettings(host="127.0.0.1", sip_port=free_port(),
                                 rtp_ports=(rtp_first, rtp_first + 6 * calls + 19),
                                 public_numbers=frozenset({"901"}), data_dir=workdir / "data",
                                 media_timeout=3600, no_answer_timeout=20)
    users = MemoryDirectory([SipUser("3000", static_contact=f"sip:3000@127.0.0.1:{answer_port}")])
    server = Telephony(settings, users, MonotonicClock())
    mixing: set[str] = set()

    def ready() -> int:
        return len(server.media.recordings) if mode == "record" else len(mixing)

    async def recorded(channel: Channel) -> None:
        operator = server.originate("3000", caller_id="sipp", timeout=20)
        if not await operator.wait_answered(within=20):
            channel.hangup()
            return
        channel.answer()
        bridge = server.bridge(channel, operator)
        legs = [channel, operator]
        if mode == "record":
            bridge.record()
        else:
            third = server.originate("3000", caller_id="sipp", timeout=20)
            legs.append(third)
            if await third.wait_answered(within=20):
                bridge.add(third, "barge")
                mixing.add(channel.id)
        await first_of(channel.wait_ended(), operator.wait_ended())
        bridge.destroy()
        mixing.discard(channel.id)
        for leg in legs:
            leg.hangup(HangupCause.NORMAL_CLEARING)

    server.route("901", recorded, public=False)
    answerer = Sipp(workdir / "uas", "uas", port=answer_port, extra=("-rtp_echo",))
    client = Sipp(workdir / "uac", scenario, service="901", calls=calls, rate=50,
                  extra=("-l", str(calls)))
    async with server:
        client.target = f"127.0.0.1:{server.sip_port}"
        try:
            await answerer.start()
            await client.start()
            deadline = time.monotonic() + calls / 50 + 20
            while ready() < calls and \
                    time.monotonic() < deadline:  # noqa: ASYNC110 - polls a count, no event
                await asyncio.sleep(0.1)
            recording = ready()
            await asyncio.sleep(1.0)
            server.media.timing.reset()
            cpu_before, wall_before = time.process_time(), time.monotonic()
            await asyncio.sleep(seconds)
            cpu = time.process_time() - cpu_before
            wall = time.monotonic() - wall_before
            timing = server.media.timing
            files = [r.file for r in server.media.recordings.values()]
            loud = sum(1 for f in files if f.duration_s > seconds)
        finally:
            with contextlib.suppress(Exception):
                await client.stop()
            with contextlib.suppress(Exception):
                await answerer.stop()
    sizes = file_sizes(workdir / "data" / "recordings")
    return {"calls": recording, "cpu_pct": 100 * cpu / wall,
            "cpu_ms_per_call_s": 1000 * cpu / wall / max(recording, 1),
            "late_mean_ms": 1000 * timing.total_late / max(timing.ticks, 1),
            "late_max_ms": 1000 * timing.max_late,
            "over_2ms_pct": 100 * timing.over_2ms / max(timing.ticks, 1),
            "long_enough": loud, "mean_file_kb": float(np.mean(sizes)) / 1024 if sizes else 0}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--mode", choices=["record", "mix"], default="record")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"{'calls':>6} {'cpu %':>6} {'ms cpu/call/s':>13} {'late mean ms':>12} "
          f"{'late max ms':>11} {'>2 ms %':>8} {'files ok':>8} {'mean KiB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for calls in args.calls:
            r = await step(Path(tmp) / str(calls), calls, args.seconds, args.mode)
            print(f"{r['calls']:>6.0f} {r['cpu_pct']:>6.1f} {r['cpu_ms_per_call_s']:>13.2f} "
                  f"{r['late_mean_ms']:>12.2f} {r['late_max_ms']:>11.2f} "
                  f"{r['over_2ms_pct']:>8.2f} {r['long_enough']:>8.0f} "
                  f"{r['mean_file_kb']:>8.0f}")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
