"""The end of an answering machine's greeting: its beep, or the silence after it.

A campaign that leaves a message on machines must start speaking after the greeting, or the
message is cut off the recording. :class:`GreetingEnd` is fed the answered leg's audio after
detection said "machine" and decides once it hears a beep (one steady tone between 300 and
2,500 Hz, holding most of the frame's energy, for ``beep_ms``) or a silence of
``silence_ms`` after some voice (machines without a beep). Pure: PCM in, a verdict out, in
the same form as :class:`parley.media.amd.AmdVerdict` (result ``beep`` or ``silence``) so
the media hub carries it as an ``AmdResult`` event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parley.media.amd import FRAME_MS, AmdVerdict, Pcm
from parley.media.audio import FrameSplitter

BEEP = "beep"
SILENCE = "silence"
_RATE = 8000
_FFT = 512


@dataclass(frozen=True, slots=True)
class GreetingEndSettings:
    beep_ms: int = 120  # a steady tone this long is the beep
    tone_share: float = 0.7  # share of the frame's energy within the tone's peak
    silence_ms: int = 1200  # this much silence after voice ends the greeting
    min_voice_ms: int = 200  # voice heard before a silence counts
    silence_threshold: int = 256  # RMS below this is silence


class GreetingEnd:
    """Feed audio after a "machine" verdict; :meth:`feed` returns the verdict once decided."""

    def __init__(self, settings: GreetingEndSettings | None = None) -> None:
        self.settings = settings or GreetingEndSettings()
        self._frames = FrameSplitter(FRAME_MS * 8)
        self.verdict: AmdVerdict | None = None
        self.elapsed_ms = 0
        self._voice_ms = 0
        self._silence_ms = 0
        self._tone_ms = 0
        self._tone_bin = -1
        self._window = np.hanning(FRAME_MS * 8)
        low, high = int(300 * _FFT / _RATE), int(2500 * _FFT / _RATE)
        self._band = slice(low, high + 1)

    def feed(self, pcm: Pcm) -> AmdVerdict | None:
        if self.verdict is not None:
            return self.verdict
        for frame in self._frames.split(pcm):
            if self._frame(frame):
                break
        return self.verdict

    def _frame(self, frame: Pcm) -> bool:
        """Take one 20 ms frame; True once the verdict is in."""
        s = self.settings
        self.elapsed_ms += FRAME_MS
        signal = frame.astype(np.float64)
        rms = float(np.sqrt(np.mean(signal * signal)))
        if rms < s.silence_threshold:
            self._tone_ms, self._tone_bin = 0, -1
            self._silence_ms += FRAME_MS
            if self._voice_ms >= s.min_voice_ms and self._silence_ms >= s.silence_ms:
                self.verdict = AmdVerdict(SILENCE, f"SILENCE-{self._silence_ms}",
                                          self.elapsed_ms)
            return self.verdict is not None
        self._silence_ms = 0
        self._voice_ms += FRAME_MS
        power = np.abs(np.fft.rfft(signal * self._window, _FFT)) ** 2
        total = float(power.sum()) or 1.0
        band = power[self._band]
        peak = int(np.argmax(band)) + self._band.start
        share = float(power[max(0, peak - 3):peak + 4].sum()) / total
        if share >= s.tone_share and (self._tone_bin < 0 or abs(peak - self._tone_bin) <= 2):
            self._tone_bin = peak if self._tone_bin < 0 else self._tone_bin
            self._tone_ms += FRAME_MS
            if self._tone_ms >= s.beep_ms:
                hz = round(self._tone_bin * _RATE / _FFT)
                self.verdict = AmdVerdict(BEEP, f"BEEP-{hz}HZ-{self._tone_ms}",
                                          self.elapsed_ms)
        else:
            self._tone_ms, self._tone_bin = 0, -1
        return self.verdict is not None
