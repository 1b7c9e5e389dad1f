"""Voice activity per frame (webrtcvad) and a per-channel speech/silence segment tracker.

Answering-machine detection reads the segments: a live person says a short "hello?" and
waits; a machine talks for seconds. :class:`SegmentTracker` smooths the per-frame decisions
(speech must last ``min_speech_ms`` to open a speech segment; silence must last
``min_silence_ms`` to close it) and reports the segments as they close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import webrtcvad

from parley.media import MediaError

RATE = 8000
Pcm = npt.NDArray[np.int16]
SPEECH = "speech"
SILENCE = "silence"


class VoiceActivity:
    """webrtcvad on 8 kHz frames of 10, 20 or 30 ms; ``aggressiveness`` 0 (lenient) to 3."""

    def __init__(self, aggressiveness: int = 2, frame_ms: int = 20) -> None:
        if aggressiveness not in (0, 1, 2, 3):
            raise MediaError(f"VAD aggressiveness {aggressiveness} must be 0, 1, 2 or 3")
        if frame_ms not in (10, 20, 30):
            raise MediaError(f"VAD frames are 10, 20 or 30 ms, not {frame_ms}")
        self.frame_ms = frame_ms
        self.frame_samples = RATE * frame_ms // 1000
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: Pcm) -> bool:
        if len(frame) != self.frame_samples:
            raise MediaError(f"VAD frame has {len(frame)} samples; {self.frame_ms} ms at "
                             f"8 kHz is {self.frame_samples}")
        return bool(self._vad.is_speech(np.ascontiguousarray(frame, "<i2").tobytes(), RATE))

    def classify(self, pcm: Pcm) -> list[bool]:
        """Speech or not for each whole frame of ``pcm``."""
        count = len(pcm) // self.frame_samples
        return [self.is_speech(pcm[i * self.frame_samples:(i + 1) * self.frame_samples])
                for i in range(count)]


@dataclass(frozen=True, slots=True)
class Segment:
    kind: str  # SPEECH or SILENCE
    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


class SegmentTracker:
    """Turns per-frame speech decisions into speech and silence segments with hangover."""

    def __init__(self, frame_ms: int = 20, min_speech_ms: int = 60,
                 min_silence_ms: int = 300) -> None:
        self.frame_ms = frame_ms
        self._speech_frames = max(1, -(-min_speech_ms // frame_ms))
        self._silence_frames = max(1, -(-min_silence_ms // frame_ms))
        self.kind = SILENCE
        self.start_ms = 0
        self.elapsed_ms = 0
        self.segments: list[Segment] = []
        self._run = 0  # consecutive frames contradicting the current state

    def update(self, speech: bool) -> Segment | None:
        """One frame's decision; returns the segment that just closed, if one did."""
        self.elapsed_ms += self.frame_ms
        contradicts = speech != (self.kind == SPEECH)
        self._run = self._run + 1 if contradicts else 0
        needed = self._speech_frames if self.kind == SILENCE else self._silence_frames
        if self._run < needed:
            return None
        switch_at = self.elapsed_ms - self._run * self.frame_ms
        closed = Segment(self.kind, self.start_ms, switch_at)
        self.kind = SPEECH if self.kind == SILENCE else SILENCE
        self.start_ms = switch_at
        self._run = 0
        if closed.duration_ms > 0:
            self.segments.append(closed)
            return closed
        return None

    def finish(self) -> Segment | None:
        """Close the segment under way (the call or the detection window ended)."""
        if self.elapsed_ms <= self.start_ms:
            return None
        closed = Segment(self.kind, self.start_ms, self.elapsed_ms)
        self.segments.append(closed)
        self.start_ms = self.elapsed_ms
        return closed

    def speech_segments(self) -> list[Segment]:
        return [s for s in self.segments if s.kind == SPEECH]
