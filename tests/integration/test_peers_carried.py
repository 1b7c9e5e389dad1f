"""The contact center goes on through the active node's failure, with the peers a site
would have: sipp placing the callers' calls (each playing its voice), sipp answering as the
operators' phones (each sending back what it hears, as the inbound benchmark's operators
do), and a baresip softphone as one more operator, registered, talking and recording what
it hears; and new calls coming in all the while. The peers' audio is taken from their
host's wire (parley.testing.capture) and from baresip's recording: calls talking at the
failure keep their audio both ways, the callers waiting in the queue keep their hold music
and their place, and each reaches an operator once the talking calls end, answered by the
node that took over; the new calls are answered through the failure; every call has one
closed record.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from parley.store import open_store
from parley.store.database import database_url
from parley.testing.capture import RtpCapture
from parley.testing.media import audio_packets, write_pcap
from parley.testing.needs import needs
from parley.testing.netns import NETNS, Host, Lan
from parley.testing.netns import lan as lan
from parley.testing.peers import Baresip, audio_similarity, noise_signal, read_wav, write_wav
from parley.testing.postgres import (  # noqa: F401 - fixtures
    postgres_database,
    postgres_server_url,
    postgres_template,
)
from parley.testing.standby import (
    HOLD_NUMBER,
    QUEUE_NUMBER,
    SIP_PORT,
    echo_contacts,
    echo_phones,
    load_caller,
    queueing_site,
    voice_callers,
)

from .test_call_carried import TAKEOVER_LIMIT_S, closed_records, cluster, fail_over, until

pytestmark = needs(NETNS)

TALKER_MEDIA, WAITER_MEDIA = 40000, 42000  # the callers' media ports count from these
TALKERS, WAITERS = 4, 2
TALK_S, WAIT_S = 12.0, 20.0  # each caller's voice, then its BYE
SIMILAR = 0.5  # audio_similarity: unrelated audio scores near 0, a G.711 path above 0.9
# new calls through the failure (the 100 a second is bench/takeover.py --load 100):
# an IVR call each, hung up after 1 s; LOAD_LOST at most (those the killed node answered in
# its last moments, before it kept them for the other node: their BYE finds no call)
LOAD_RATE, LOAD_CALLS, LOAD_LOST = 20, 200, 10


def tail(recording: Path, seconds: float, path: Path) -> Path:
    """The last ``seconds`` of a WAV (all of it if shorter) into ``path``."""
    samples, rate = read_wav(recording)
    return write_wav(path, samples[-int(seconds * rate):].astype(np.int16), rate)


# the node's network cut with these peers: bench/takeover.py --center --cut (a phone on TCP
# would hear of the cut from the new node's reset only, and libre then waits 30-60 s)
@pytest.mark.parametrize("how", ["killed"])
async def test_sipp_and_baresip_peers_talk_and_wait_through_a_failure(
        tmp_path: Path, lan: Lan, postgres_database: tuple[str, str],  # noqa: F811
        how: str) -> None:
    """Four callers talk to the queue's four operators (three sipp phones that echo, one
    baresip registered over TCP), two wait with hold music; the active node fails
    (``how``: killed, or its network cut: it stops serving on its own when it cannot renew
    its lease). Baresip's connection dies with the node; it registers again over a new
    one at its next REGISTER (every 10 s here), which the new node's calls then use. Within the
    limit every talking caller hears its operator again (its own voice echoed: both ways
    through the new node) and every waiting caller its hold music; baresip hears its
    caller after the takeover; the talking callers' BYEs are answered; the waiting callers
    then reach operators and talk; six closed records, each answered by an operator. New
    calls come in at LOAD_RATE a second from before the failure to after it: they are
    answered, and once the killed node is back (as the standby: it writes the records its
    journal still held) each has one closed record."""
    staff = [(f"op{n}", f"21{n:02d}", f"secret-21{n:02d}") for n in range(1, 5)]
    echoing = [device for _name, device, _secret in staff[:3]]
    soft_name, soft_device, soft_secret = staff[3]
    voice = noise_signal(WAIT_S + 5, seed=77)
    voice_wav = write_wav(tmp_path / "voice.wav", voice)
    voice_pcap = write_pcap(tmp_path / "voice.pcap", audio_packets(voice))

    def site(peers: Host) -> Path:
        return queueing_site(tmp_path / "site.yaml", operators=staff,
                             contacts=echo_contacts(peers, echoing))

    async with cluster(tmp_path, lan, postgres_database, site, rtp_ports="20000-20999",
                       environment={"PARLEY_SIP_MIN_EXPIRES": "10"}) as c, \
            RtpCapture(c.peers) as capture:
        peers = c.peers
        echo = echo_phones(peers, tmp_path / "echo")
        soft = Baresip(tmp_path / soft_name, user=soft_device, password=soft_secret,
                       server_port=SIP_PORT, server_host=c.address, host=peers.ip,
                       namespace=peers.namespace, auto_answer=True, transport="tcp",
                       regint=10)
        talkers = voice_callers(peers, tmp_path / "talkers", c.address, voice_pcap,
                                calls=TALKERS, talk_s=TALK_S, media_port=TALKER_MEDIA)
        waiters = voice_callers(peers, tmp_path / "waiters", c.address, voice_pcap,
                                calls=WAITERS, talk_s=WAIT_S, media_port=WAITER_MEDIA)
        load = load_caller(peers, c.address, tmp_path / "load", LOAD_RATE, LOAD_CALLS)
        await echo.start()
        await soft.start()  # registered: ready (the site's ready_on_register)
        restarted: asyncio.Task[None] | None = None
        try:
            await asyncio.sleep(0.5)
            await talkers.start()

            def talking() -> list[int]:
                now = time.monotonic()
                return [port for port in capture.ports(lowest=TALKER_MEDIA,
                                                       highest=TALKER_MEDIA + 4 * TALKERS - 1)
                        if capture.count_between(port, now - 1.0, now) >= 40]

            await until(lambda: len(talking()) == TALKERS, within_s=10,
                        what="the talking callers hearing their operators")
            talker_ports = talking()
            await waiters.start()
            await asyncio.sleep(2.0)  # queued with hold music; the node keeps them (0.5 s)
            # (the baresip phone's own media port may be anywhere: left out)
            waiter_ports = capture.ports(lowest=WAITER_MEDIA,
                                         highest=WAITER_MEDIA + 4 * WAITERS - 1)
            assert len(waiter_ports) == WAITERS, waiter_ports
            now = time.monotonic()
            for port in waiter_ports:
                assert capture.count_between(port, now - 1.0, now) >= 40  # hold music
            assert any(event.type == "CALL_ESTABLISHED" for event in soft.events)
            since = datetime.now(UTC)
            await load.start()
            await asyncio.sleep(1.5)  # new calls coming in at the failure

            failed = await fail_over(c, how)
            ports = [*talker_ports, *waiter_ports]
            with contextlib.suppress(AssertionError):  # each one checked below
                await until(lambda: all(capture.first_after(port, failed + 0.1)
                                        for port in ports),
                            within_s=TAKEOVER_LIMIT_S, what="every call's audio back")
            for port in ports:
                back = capture.first_after(port, failed + 0.1)
                assert back is not None, (port, {
                    heard: (capture.count_between(heard, failed - 2, failed),
                            capture.count_between(heard, failed, time.monotonic()))
                    for heard in capture.ports()})
                assert back - failed <= TAKEOVER_LIMIT_S, (port, back - failed)
            await asyncio.sleep(3.0)
            # both ways: each talking caller hears its own voice back through its
            # operator's phone, or the baresip operator's voice
            voices = [voice_wav, soft.source or voice_wav]
            for port in talker_ports:
                score = capture.hears(port, time.monotonic() - 3.0, time.monotonic(), voices,
                                      tmp_path / f"talker-{port}.wav")
                assert score > SIMILAR, (port, score)

            result = await talkers.wait(within=TALK_S + 15)  # each BYE answered by the new node
            assert result.ok, result.log
            assert result.successful == TALKERS, result.log
            await soft.wait_event("CALL_CLOSED", within=10)
            # what baresip heard last in its first call: the caller, after the takeover
            first_call = sorted(soft.workdir.glob("dump-*-dec.wav"),
                                key=lambda path: path.stat().st_mtime)[0]
            assert audio_similarity(tail(first_call, 3.0, tmp_path / "soft-tail.wav"),
                                    voice_wav, window_s=1.0) > SIMILAR

            # the waiting callers reach the operators freed and talk
            await asyncio.sleep(4.0)
            for port in waiter_ports:
                score = capture.hears(port, time.monotonic() - 3.0, time.monotonic(), voices,
                                      tmp_path / f"waiter-{port}.wav")
                assert score > SIMILAR, (port, score)
            # the killed node restarted (by its service manager) while the callers finish
            restarted = asyncio.create_task(c.active.start())
            result = await waiters.wait(within=WAIT_S + 15)
            assert result.ok, result.log
            assert result.successful == WAITERS, result.log
            answered = await echo.stop()
            assert answered.failed == 0, answered.log  # no call the sipp phones did not expect
            loaded = await load.wait(within=30)
            assert loaded.successful + loaded.failed == LOAD_CALLS, loaded.log
            assert loaded.failed <= LOAD_LOST, loaded.log
            await restarted

            store = await open_store(database_url(c.server_url, tmp_path), run_migrations=False)
            try:
                records = await closed_records(store, TALKERS + WAITERS, QUEUE_NUMBER)
                for record in records:
                    assert record.outcome == "answered", record
                    assert record.operator in {name for name, _d, _s in staff}, record
                    kinds = [entry.kind for entry in record.timeline]
                    assert "carried over" in kinds, kinds
                    assert kinds.count("queued") == 1, kinds
                # each was answered (by the node killed, or the one that took over): one
                # record each, closed: those the killed node had not written yet come from
                # its journal as it starts again, as the standby
                expected = sorted(f"5550{n}" for n in range(1, LOAD_CALLS + 1))
                for _ in range(50):
                    new = [record for record in (await store.interactions.search(
                        since=since, number=HOLD_NUMBER, limit=2 * LOAD_CALLS)).items
                           if record.called == HOLD_NUMBER]
                    if sorted(record.caller for record in new) == expected \
                            and all(record.ended_at for record in new):
                        break
                    await asyncio.sleep(0.2)
                assert sorted(record.caller for record in new) == expected, new
                assert all(record.ended_at for record in new), [
                    record for record in new if not record.ended_at]
            finally:
                await store.close()
        finally:
            if restarted is not None and not restarted.done():
                restarted.cancel()
            await soft.stop()
            for peer in (talkers, waiters, echo, load):
                await peer.stop()
