"""What the network says before an outbound call is answered (early media, 183 with SDP).

A carrier that cannot complete a call often does not fail it at once: it plays busy or
congestion tones, special information tones, or an announcement ("the subscriber is
unavailable", "аппарат абонента выключен") over early media, and the call rings until the
dialer's timeout. :class:`EarlyMediaDetector` is fed that audio, 20 ms at a time, and returns a
:class:`EarlyMediaVerdict` as soon as it recognises one of

* **busy** and **congestion** cadences of the call-progress tone: 425 Hz (Russia, most of
  Europe: busy 0.35-0.5 s on and off, congestion 0.2-0.25 s) and the North American 480+620 Hz
  (busy 0.5 s, reorder 0.25 s). An on-period of 0.7 s or more is ringback (``ringing``; no
  verdict: the call may still be answered);
* **special information tones** (SIT): three rising tones. The ITU-T E.180 SIT (950, 1400,
  1800 Hz) gives ``itu_sit_cause`` (``unavailable`` by default: retrying is safer than
  striking a number off); the Telcordia codes of North America by the first two frequencies:
  intercept and vacant code give ``invalid``, no circuit and reorder ``congestion``;
* an **announcement**: speech where ringback should be gives ``unavailable``. Speech is what
  webrtcvad calls speech and falls by ``dip_db`` between syllables four times a second or
  more: a held tone never does, and music seldom that often.

Ringback music ("colour" ringback tones) can sound like speech to any detector of this kind:
``announcements=False`` turns the speech rule off for a trunk whose carrier plays music. Every
figure is a setting in :class:`EarlyMediaSettings`.

Frames are analysed with a 40 ms Hann window every 20 ms (25 Hz resolution): the share of the
frame's energy in each tone's band says which tone plays; webrtcvad says whether the rest is
speech.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from parley.media import MediaError
from parley.media.audio import FrameSplitter
from parley.media.vad import VoiceActivity

RATE = 8000
FRAME = 160  # 20 ms
FRAME_MS = 20
WINDOW = 2 * FRAME
Pcm = npt.NDArray[np.int16]

BUSY = "busy"
CONGESTION = "congestion"
SIT = "sit"
ANNOUNCEMENT = "announcement"
#: Causes: what the attempt closes with.
UNAVAILABLE = "unavailable"
INVALID = "invalid"
CAUSES = (BUSY, CONGESTION, UNAVAILABLE, INVALID)
#: The dialer outcome (``parley.dialer.model.Outcome`` values) each cause maps to.
OUTCOMES = {BUSY: "busy", CONGESTION: "failed", UNAVAILABLE: "no_answer", INVALID: "invalid"}

# frame classes
_QUIET = "quiet"
_PROGRESS = "progress"  # the call-progress tone: 425 Hz, 400+450 Hz, 440+480 Hz
_US_BUSY = "us-busy"  # 480+620 Hz
_SIT = ("sit1", "sit2", "sit3")
_SOUND = "sound"  # anything else with energy: speech, music, noise
_BANDS = {  # Hz, inclusive
    _PROGRESS: ((375.0, 500.0),),
    _US_BUSY: ((455.0, 505.0), (595.0, 645.0)),
    "sit1": ((880.0, 1020.0),),
    "sit2": ((1340.0, 1460.0),),
    "sit3": ((1740.0, 1840.0),),
}
_TONE_CLASSES = (_PROGRESS, _US_BUSY, *_SIT)
# Telcordia SIT codes by (first tone high?, second tone high?)
_TELCORDIA = {(False, False): ("IC", INVALID), (True, False): ("VC", INVALID),
              (True, True): ("NC", CONGESTION), (False, True): ("RO", CONGESTION)}


@dataclass(frozen=True, slots=True)
class EarlyMediaSettings:
    """Thresholds, in ms unless said otherwise."""

    tone_share: float = 0.8  # a tone's band holds this share of the frame's energy
    quiet_rms: int = 100  # frames quieter than this (int16 RMS, about -50 dBFS) are silence
    ringback_min_on: int = 700  # a tone this long is ringback
    busy_on: tuple[int, int] = (300, 700)
    busy_off: tuple[int, int] = (250, 750)
    busy_periods: int = 2  # on-periods in busy cadence before the verdict
    congestion_on: tuple[int, int] = (100, 300)
    congestion_off: tuple[int, int] = (100, 350)
    congestion_periods: int = 3
    sit_tone: tuple[int, int] = (200, 500)  # each of the three tones
    sit_gap: int = 120  # longest silence between them
    announcements: bool = True
    announcement_speech: int = 1500  # this much speech, with dips, is an announcement
    announcement_dips: float = 4.0  # per second of speech: syllables (music: its notes)
    dip_db: float = 12.0  # a frame this far below the loudest of the last 0.5 s is a dip
    speech_rms: int = 200  # speech frames are at least this loud
    itu_sit_cause: str = UNAVAILABLE
    vad_aggressiveness: int = 2


@dataclass(frozen=True, slots=True)
class EarlyMediaVerdict:
    """What the network said: ``kind`` (busy, congestion, sit, announcement), the ``cause`` the
    attempt closes with, a ``detail`` (``SIT-VC``, ``BUSY-425-400/400``), and when."""

    kind: str
    cause: str
    detail: str
    after_ms: int

    @property
    def outcome(self) -> str:
        """The dialer outcome for this cause."""
        return OUTCOMES[self.cause]


@dataclass(slots=True)
class _Segment:
    kind: str
    start_ms: int
    end_ms: int
    frequency: float = 0.0  # mean peak frequency of a tone segment

    @property
    def duration(self) -> int:
        return self.end_ms - self.start_ms


class EarlyMediaDetector:
    """Feed pre-answer audio; :attr:`verdict` is set once it has recognised something, and
    :attr:`ringing` once it has heard ringback."""

    def __init__(self, settings: EarlyMediaSettings | None = None) -> None:
        self.settings = s = settings or EarlyMediaSettings()
        if s.itu_sit_cause not in CAUSES:
            raise MediaError(f"itu_sit_cause {s.itu_sit_cause!r} must be one of "
                             f"{', '.join(CAUSES)}")
        if not 0 < s.tone_share <= 1:
            raise MediaError("tone_share must be between 0 and 1")
        self._vad = VoiceActivity(s.vad_aggressiveness, FRAME_MS)
        self._window = np.hanning(WINDOW)
        self._previous = np.zeros(FRAME, dtype=np.float64)
        self._frames = FrameSplitter(FRAME)
        self._masks = {name: self._mask(bands) for name, bands in _BANDS.items()}
        self._voice_band = self._mask(((300.0, 3400.0),))
        self.elapsed_ms = 0
        self.verdict: EarlyMediaVerdict | None = None
        self.ringing = False
        self._run: _Segment | None = None
        self._frequencies: list[float] = []
        self._segments: list[_Segment] = []  # closed tone and quiet segments, recent ones
        self._speech_ms = 0
        self._dips = 0
        self._in_dip = False
        self._levels: deque[float] = deque(maxlen=25)  # dB of the last 0.5 s of frames

    @staticmethod
    def _mask(bands: tuple[tuple[float, float], ...]) -> npt.NDArray[np.bool_]:
        frequencies = np.fft.rfftfreq(WINDOW, 1 / RATE)
        mask = np.zeros(len(frequencies), dtype=bool)
        for low, high in bands:
            mask |= (frequencies >= low) & (frequencies <= high)
        return mask

    def feed(self, pcm: Pcm) -> EarlyMediaVerdict | None:
        """Audio of any length; returns the verdict once there is one."""
        if self.verdict is not None:
            return self.verdict
        for frame in self._frames.split(pcm):
            self.verdict = self._frame(frame)
            if self.verdict is not None:
                break
        return self.verdict

    # --- one frame ----------------------------------------------------------------------------
    def _classify(self, frame: Pcm) -> tuple[str, float]:
        """The frame's class and, for a tone, its peak frequency."""
        current = frame.astype(np.float64)
        window = np.concatenate([self._previous, current])
        self._previous = current
        rms = float(np.sqrt(np.mean(current**2)))
        self._level(rms)
        if rms < self.settings.quiet_rms:
            return _QUIET, 0.0
        power = np.abs(np.fft.rfft(window * self._window)) ** 2
        total = float(power[self._voice_band].sum()) or 1.0
        for name in _TONE_CLASSES:
            mask = self._masks[name]
            if float(power[mask].sum()) / total >= self.settings.tone_share:
                return name, self._peak(power, mask)
        return _SOUND, 0.0

    def _level(self, rms: float) -> None:
        """Count dips: speech falls between syllables and words; a held tone or music much
        less often."""
        level = 20 * np.log10(rms + 1.0)
        dip = bool(self._levels) and level < max(self._levels) - self.settings.dip_db
        if dip and not self._in_dip and self._speech_ms:
            self._dips += 1
        self._in_dip = dip
        self._levels.append(level)

    @staticmethod
    def _peak(power: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_]) -> float:
        """The strongest frequency in the band, interpolated between bins."""
        indices = np.flatnonzero(mask)
        k = int(indices[np.argmax(power[indices])])
        if 0 < k < len(power) - 1:
            a, b, c = (float(np.log(power[i] + 1e-12)) for i in (k - 1, k, k + 1))
            denominator = a - 2 * b + c
            offset = 0.5 * (a - c) / denominator if denominator else 0.0
            return (k + offset) * RATE / WINDOW
        return k * RATE / WINDOW

    def _frame(self, frame: Pcm) -> EarlyMediaVerdict | None:
        kind, frequency = self._classify(frame)
        start = self.elapsed_ms
        self.elapsed_ms += FRAME_MS
        if kind == _SOUND:
            verdict = self._sound(frame)
            if verdict is not None:
                return verdict
        run = self._run
        if run is not None and run.kind == kind:
            run.end_ms = self.elapsed_ms
            if frequency:
                self._frequencies.append(frequency)
            return None
        verdict = self._close() if run is not None else None
        self._run = _Segment(kind, start, self.elapsed_ms)
        self._frequencies = [frequency] if frequency else []
        return verdict

    def _sound(self, frame: Pcm) -> EarlyMediaVerdict | None:
        """Speech where ringback should be: an announcement once long enough, with pauses."""
        s = self.settings
        loud = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) >= s.speech_rms
        if not (loud and self._vad.is_speech(frame)):
            return None
        self._speech_ms += FRAME_MS
        if s.announcements and self._speech_ms >= s.announcement_speech \
                and self._dips * 1000 >= s.announcement_dips * self._speech_ms:
            return EarlyMediaVerdict(ANNOUNCEMENT, UNAVAILABLE,
                                     f"ANNOUNCEMENT-{self._speech_ms}-{self._dips}",
                                     self.elapsed_ms)
        return None

    # --- segments -----------------------------------------------------------------------------
    def _close(self) -> EarlyMediaVerdict | None:
        """The run under way ended: file it and look at the cadence."""
        run = self._run
        assert run is not None  # noqa: S101 (only called with a run)
        if self._frequencies:
            run.frequency = sum(self._frequencies) / len(self._frequencies)
        if run.kind == _SOUND:
            if run.duration > 2 * FRAME_MS:  # not just a window across two tones
                self._segments.clear()  # speech or noise breaks any cadence
            return None
        self._segments.append(run)
        del self._segments[:-12]
        if run.kind in (_PROGRESS, _US_BUSY):
            return self._cadence(run)
        if run.kind == "sit3":
            return self._sit()
        return None

    def _gaps(self, kind: str) -> list[tuple[_Segment, int]]:
        """The latest tone segments of ``kind`` with the quiet gap before each (-1: none)."""
        found: list[tuple[_Segment, int]] = []
        previous_end: int | None = None
        for segment in self._segments:
            if segment.kind == kind:
                gap = -1 if previous_end is None else segment.start_ms - previous_end
                found.append((segment, gap))
                previous_end = segment.end_ms
            elif segment.kind != _QUIET:
                found.clear()
                previous_end = None
        return found

    def _cadence(self, run: _Segment) -> EarlyMediaVerdict | None:
        s = self.settings
        if run.duration >= s.ringback_min_on:
            self.ringing = True
            return None
        tones = self._gaps(run.kind)
        name = "425" if run.kind == _PROGRESS else "480+620"
        for kind, on, off, periods in ((BUSY, s.busy_on, s.busy_off, s.busy_periods),
                                       (CONGESTION, s.congestion_on, s.congestion_off,
                                        s.congestion_periods)):
            recent = tones[-periods:]
            if len(recent) < periods:
                continue
            if all(on[0] <= t.duration <= on[1] for t, _ in recent) and \
                    all(off[0] <= gap <= off[1] for _, gap in recent[1:]):
                mean_on = sum(t.duration for t, _ in recent) // periods
                mean_off = sum(gap for _, gap in recent[1:]) // (periods - 1)
                return EarlyMediaVerdict(kind, kind,
                                         f"{kind.upper()}-{name}-{mean_on}/{mean_off}",
                                         self.elapsed_ms)
        return None

    def _sit(self) -> EarlyMediaVerdict | None:
        s = self.settings
        tones = [t for t in self._segments if t.kind != _QUIET][-3:]
        if [t.kind for t in tones] != list(_SIT):
            return None
        if not all(s.sit_tone[0] <= t.duration <= s.sit_tone[1] for t in tones):
            return None
        if any(b.start_ms - a.end_ms > s.sit_gap for a, b in itertools.pairwise(tones)):
            return None
        first, second = tones[0].frequency, tones[1].frequency
        if abs(first - 950.0) < 18 and abs(second - 1400.0) < 15:
            code, cause = "ITU", s.itu_sit_cause
        else:
            code, cause = _TELCORDIA[(first >= 950.0, second >= 1400.0)]
        return EarlyMediaVerdict(SIT, cause, f"SIT-{code}-{first:.0f}-{second:.0f}",
                                 self.elapsed_ms)
