"""Stereo recording frames: who goes on which channel, pauses, transfers."""

from __future__ import annotations

import numpy as np

from parley.media.mixer import MixBridge, Role
from parley.media.recorder import Pause, Side, StereoRecorder


def const(value: int) -> np.ndarray:
    return np.full(160, value, dtype=np.int16)


def test_caller_left_operator_right() -> None:
    recorder: StereoRecorder[str] = StereoRecorder("caller", "operator")
    frame = recorder.frame({"caller": const(100), "operator": const(-200)})
    assert frame.shape == (160, 2)
    assert frame[0].tolist() == [100, -200]
    assert recorder.duration_s == 0.02


def test_whisper_goes_to_the_operator_side_and_listeners_are_not_recorded() -> None:
    bridge: MixBridge[str] = MixBridge()
    bridge.add("caller")
    bridge.add("operator")
    bridge.add("coach", Role.WHISPER, whisper_to="operator")
    bridge.add("monitor", Role.LISTEN)
    recorder: StereoRecorder[str] = StereoRecorder("caller")
    recorder.follow(bridge)
    frame = recorder.frame({"caller": const(10), "operator": const(1000), "coach": const(7),
                            "monitor": const(30000)})
    assert frame[0].tolist() == [10, 1007]
    assert recorder.side_of("coach") is Side.RIGHT
    assert recorder.side_of("monitor") is None


def test_barge_is_recorded_on_the_right_and_sums_clip() -> None:
    bridge: MixBridge[str] = MixBridge()
    for party in ("caller", "operator"):
        bridge.add(party)
    bridge.add("boss", Role.BARGE)
    recorder: StereoRecorder[str] = StereoRecorder("caller")
    recorder.follow(bridge)
    frame = recorder.frame({"caller": const(-30000), "operator": const(30000),
                            "boss": const(30000)})
    assert frame[0].tolist() == [-30000, 32767]


def test_transfer_puts_the_new_operator_on_the_right() -> None:
    recorder: StereoRecorder[str] = StereoRecorder("caller", "alice")
    recorder.assign("alice", None)
    recorder.assign("bob", Side.RIGHT)
    frame = recorder.frame({"caller": const(1), "alice": const(50), "bob": const(60)})
    assert frame[0].tolist() == [1, 60]


def test_pause_writes_silence_and_notes_when() -> None:
    recorder: StereoRecorder[str] = StereoRecorder("caller", "operator")
    frames = {"caller": const(5), "operator": const(6)}
    for _ in range(50):
        recorder.frame(frames)
    recorder.pause()
    recorder.pause()  # idempotent
    silent = [recorder.frame(frames).copy() for _ in range(25)]
    assert not np.any(silent)
    assert recorder.pauses == [Pause(1.0, None)]
    recorder.resume()
    assert recorder.frame(frames)[0].tolist() == [5, 6]
    assert recorder.pauses == [Pause(1.0, 1.5)]
    assert not recorder.paused
