"""Media through the real Parley server: baresip and SIPp call numbers served by Parley's
media shell (echo test, prompts, digit collection, recordings, listen/whisper/barge)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from parley.media.analysis import find
from parley.media.audio import decode_wav, to_telephony
from parley.telephony.dialplan import echo_test
from parley.telephony.server import Telephony
from parley.testing.peers import Baresip

from .conftest import needs_baresip

PROMPT_DIR = Path("/usr/share/asterisk/sounds/en")


def load_8k(path: Path) -> np.ndarray:
    """Any WAV file as 8 kHz mono samples."""
    return to_telephony(decode_wav(path.read_bytes(), str(path)))


def phone(parley: Telephony, tmp_path: Path, user: str, *, auto_answer: bool = False) -> Baresip:
    return Baresip(tmp_path / user, user=user, password=f"pw{user}",
                   server_port=parley.sip_port, auto_answer=auto_answer)


@needs_baresip
async def test_baresip_calls_500_and_hears_itself(parley: Telephony, tmp_path: Path) -> None:
    parley.dialplan.add_number("500", echo_test)
    caller = phone(parley, tmp_path, "1001")
    try:
        await caller.start()
        await caller.dial("500")
        await caller.wait_event("CALL_ESTABLISHED", within=10)
        await asyncio.sleep(4)
        await caller.hangup()
        await caller.wait_event("CALL_CLOSED", within=10)
    finally:
        await caller.stop()
    assert caller.source is not None
    heard = load_8k(caller.received_wav())
    assert len(heard) > 8000 * 3
    # Two seconds of what came back, found in what the phone sent.
    window = heard[8000:8000 * 3]
    assert np.abs(window).max() > 1000
    echo = find(window, load_8k(caller.source))
    assert echo.correlation > 0.8, echo
    assert not parley.engine.active_channels
    assert not parley.media.channels
