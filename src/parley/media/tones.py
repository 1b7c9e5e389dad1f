"""Call-progress tones (ringback, busy, beep) and DTMF tones as 8 kHz int16 audio.

A :class:`ToneSource` plays a cadence (tone on, silence off, repeated) phase-continuously and
frame by frame, so a ringback of any length costs a few sines per 20 ms tick and no memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from parley.media import MediaError

RATE = 8000
Pcm = npt.NDArray[np.int16]

DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLS = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = ("123A", "456B", "789C", "*0#D")


@dataclass(frozen=True, slots=True)
class ToneSpec:
    """Frequencies summed at ``level_dbfs`` each, played ``on_ms`` then silent ``off_ms``.

    ``repeat`` False plays the on/off pair once (a beep); True repeats it for ever (ringback).
    """

    name: str
    frequencies: tuple[float, ...]
    on_ms: int
    off_ms: int = 0
    repeat: bool = False
    level_dbfs: float = -16.0

    def __post_init__(self) -> None:
        if self.on_ms <= 0 or self.off_ms < 0:
            raise MediaError(f"tone {self.name!r}: on/off times must be positive")
        if any(not 0 < f < RATE / 2 for f in self.frequencies):
            raise MediaError(f"tone {self.name!r}: frequencies must lie between 0 and 4000 Hz")


# North American call-progress tones (ITU-T E.180 supplement), which Asterisk's "us" zone uses.
RINGBACK = ToneSpec("ringback", (440.0, 480.0), on_ms=2000, off_ms=4000, repeat=True,
                    level_dbfs=-19.0)
BUSY = ToneSpec("busy", (480.0, 620.0), on_ms=500, off_ms=500, repeat=True, level_dbfs=-24.0)
BEEP = ToneSpec("beep", (1000.0,), on_ms=250, level_dbfs=-13.0)
STOCK_TONES = {tone.name: tone for tone in (RINGBACK, BUSY, BEEP)}


def dtmf_frequencies(digit: str) -> tuple[float, float]:
    """The (row, column) frequencies of a DTMF key: 0-9, ``*``, ``#``, A-D."""
    key = digit.upper()
    for row, keys in enumerate(DTMF_KEYS):
        column = keys.find(key)
        if len(key) == 1 and column >= 0:
            return DTMF_ROWS[row], DTMF_COLS[column]
    raise MediaError(f"{digit!r} is not a DTMF key (0-9, *, #, A-D)")


def dtmf_tone(digit: str, on_ms: int = 100, off_ms: int = 0,
              level_dbfs: float = -10.0) -> ToneSpec:
    """The tone of one DTMF key, ``on_ms`` long, followed by ``off_ms`` of silence."""
    return ToneSpec(f"dtmf-{digit}", dtmf_frequencies(digit), on_ms, off_ms, False, level_dbfs)


class ToneSource:
    """Generates a tone's samples on demand; ``read`` returns fewer when a one-shot tone ends."""

    def __init__(self, spec: ToneSpec) -> None:
        self.spec = spec
        self._amplitude = 32767.0 * 10 ** (spec.level_dbfs / 20)
        self._on = spec.on_ms * RATE // 1000
        self._period = self._on + spec.off_ms * RATE // 1000
        self._position = 0  # samples since the start

    @property
    def name(self) -> str:
        return self.spec.name

    def rewind(self) -> None:
        self._position = 0

    def remaining(self) -> int | None:
        """Samples left, or None for a repeating tone."""
        return None if self.spec.repeat else max(0, self._period - self._position)

    def read(self, count: int) -> Pcm:
        if not self.spec.repeat:
            count = min(count, self._period - self._position)
            if count <= 0:
                return np.zeros(0, dtype=np.int16)
        n = np.arange(self._position, self._position + count, dtype=np.int64)
        t = n / RATE
        wave = np.zeros(count, dtype=np.float64)
        for freq in self.spec.frequencies:
            wave += np.sin(2 * np.pi * freq * t)
        gate = (n % self._period) < self._on
        self._position += count
        return np.rint(wave * self._amplitude * gate).astype(np.int16)


def render(spec: ToneSpec, duration_ms: int | None = None) -> Pcm:
    """A whole tone as one array (a one-shot tone by default, ``duration_ms`` of a cadence)."""
    source = ToneSource(spec)
    if duration_ms is None:
        if spec.repeat:
            raise MediaError(f"tone {spec.name!r} repeats for ever: give a duration")
        return source.read(source.remaining() or 0)
    return source.read(duration_ms * RATE // 1000)


def dtmf_sequence(digits: Sequence[str], on_ms: int = 100, off_ms: int = 100,
                  level_dbfs: float = -10.0) -> Pcm:
    """Digits as in-band tones with gaps, as a phone dials them."""
    parts = [render(dtmf_tone(d, on_ms, off_ms, level_dbfs)) for d in digits]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
