"""Test peers' ports: a port that a peer binds on every address is chosen free on every
address, a peer's ports are chosen apart from each other, and sipp starts again when its
control port is taken before it binds it."""

from __future__ import annotations

import os
import random
import socket
import subprocess
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest

from parley.testing import peers
from parley.testing.needs import SIPP, needs
from parley.testing.peers import Sipp, bound_ports
from parley.testing.ports import ANY_ADDRESS, LOOPBACK, free_port, free_port_block, port_is_free


@pytest.fixture
def held_elsewhere() -> Iterator[int]:
    """A UDP port held on 127.0.0.2 only (as a carrier apart's sipp holds one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.2", free_port("127.0.0.2")))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_a_port_held_on_another_address_is_not_free_for_a_wildcard_bind(
        held_elsewhere: int) -> None:
    assert port_is_free(held_elsewhere, LOOPBACK)  # what the loopback check alone saw
    assert not port_is_free(held_elsewhere, ANY_ADDRESS)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as wildcard, \
            pytest.raises(OSError, match="in use"):
        wildcard.bind((ANY_ADDRESS, held_elsewhere))  # what sipp's control socket does


def test_a_peer_counts_as_started_only_on_ports_it_holds_itself(held_elsewhere: int) -> None:
    """sipp is taken as started once it holds its SIP and control ports: a control port
    held by another process (here: this one, on 127.0.0.2) must not count as sipp's, or a
    sipp about to exit for want of it passes for started."""
    assert held_elsewhere in bound_ports(os.getpid())
    with subprocess.Popen(["sleep", "30"]) as other:
        try:
            assert held_elsewhere not in bound_ports(other.pid)
        finally:
            other.kill()


@needs(SIPP)
async def test_sipp_whose_control_port_is_taken_before_it_binds_starts_on_another(
        tmp_path: Path, held_elsewhere: int, monkeypatch: pytest.MonkeyPatch) -> None:
    offered: list[int] = []

    def taken_first(host: str = LOOPBACK, *, avoid: Collection[int] = ()) -> int:
        """The race: the first control port offered is taken by the time sipp binds it."""
        port = (held_elsewhere if host == ANY_ADDRESS and not offered
                else free_port(host, avoid=avoid))
        if host == ANY_ADDRESS:
            offered.append(port)
        return port

    monkeypatch.setattr(peers, "free_port", taken_first)
    answerer = Sipp(tmp_path / "phone", "uas")
    await answerer.start()
    try:
        assert offered[0] == held_elsewhere
        assert len(offered) == 2
        assert offered[1] != held_elsewhere
        assert answerer._process is not None
        assert answerer._process.returncode is None  # still running: it answers calls
    finally:
        await answerer.stop()


class Scripted(random.Random):
    """Candidate ports in a given order, instead of at random."""

    def __init__(self, candidates: list[int]) -> None:
        super().__init__()
        self.candidates = iter(candidates)

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        return next(self.candidates)


def test_a_block_never_holds_a_port_already_chosen_for_the_same_peer() -> None:
    """sipp's SIP port is chosen first and stays free until sipp binds it: a media block
    drawn over it made sipp exit at start, unable to bind its video RTP socket."""
    sip = free_port()
    elsewhere = free_port_block(4)
    while sip in range(elsewhere, elsewhere + 4):
        elsewhere = free_port_block(4)
    over_it = sip - 2 if sip % 2 == 0 else sip - 1  # an even block: sip - 2 .. sip + 1
    assert free_port_block(4, avoid=(sip,), rng=Scripted([over_it, elsewhere])) == elsewhere
