"""Answering-machine detection: is the answered call a person or a machine?

The classic rule set of Asterisk's ``AMD()`` (and its parameters, which operators know from
``amd.conf``), fed with per-frame voice decisions: a person answers with a short "hello?" and
waits; a machine starts with a long greeting, many words, or no sound at all. Each 20 ms
frame counts as voice when webrtcvad calls it speech and it is louder than
``silence_threshold`` (webrtcvad alone takes steady line noise for speech at first).

The result is ``"human"``, ``"machine"`` or ``"unknown"`` with a cause in Asterisk's form
(``HUMAN-600-800``, ``LONGGREETING-1520-1500``, ``MAXWORDS-3-3``, ``INITIALSILENCE-2500-2500``,
``TOOLONG-5000``), which the dialer's AMD policy and the ``AmdResult`` event carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from parley.media import MediaError
from parley.media.audio import FrameSplitter
from parley.media.vad import VoiceActivity

FRAME_MS = 20
Pcm = npt.NDArray[np.int16]
HUMAN = "human"
MACHINE = "machine"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AmdSettings:
    """Asterisk ``amd.conf`` parameters, in milliseconds."""

    initial_silence: int = 2500  # silence before the greeting: longer means a machine
    greeting: int = 1500  # a greeting longer than this is a machine's
    after_greeting_silence: int = 800  # silence after a greeting this long means a person
    total_analysis_time: int = 5000  # give up ("unknown") after this long
    min_word_length: int = 100  # voice this long counts as a word
    between_words_silence: int = 50  # silence this long separates words
    # this many words is a machine; Asterisk's 3 took a third of the persons who answer with
    # a short sentence ("Да, слушаю вас") for machines in the synthetic set of
    # docs/benchmarks.md, and a person dropped as a machine counts as an abandoned call
    maximum_number_of_words: int = 4
    maximum_word_length: int = 5000  # one word this long is a machine
    silence_threshold: int = 256  # RMS below this is silence, whatever the VAD says
    vad_aggressiveness: int = 2


@dataclass(frozen=True, slots=True)
class AmdVerdict:
    result: str  # HUMAN, MACHINE or UNKNOWN
    cause: str
    after_ms: int  # how much audio it took to decide


class AnsweringMachineDetector:
    """Feed the answered leg's decoded audio; :attr:`verdict` is set once it has decided."""

    def __init__(self, settings: AmdSettings | None = None) -> None:
        self.settings = s = settings or AmdSettings()
        if s.total_analysis_time <= 0 or s.min_word_length <= 0:
            raise MediaError("AMD analysis time and minimum word length must be positive")
        self._vad = VoiceActivity(s.vad_aggressiveness, FRAME_MS)
        self._frames = FrameSplitter(FRAME_MS * 8)
        self.verdict: AmdVerdict | None = None
        self.elapsed_ms = 0
        self.voice_ms = 0
        self.silence_ms = 0
        self.words = 0
        self._consecutive_voice = 0
        self._in_word = True  # as Asterisk: a word counts after a silence
        self._initial_silence = True
        self._in_greeting = False

    def feed(self, pcm: Pcm) -> AmdVerdict | None:
        """Audio of any length; returns the verdict once there is one."""
        if self.verdict is not None:
            return self.verdict
        for frame in self._frames.split(pcm):
            loud = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
            voiced = loud >= self.settings.silence_threshold and self._vad.is_speech(frame)
            self.verdict = self._frame(voiced)
            if self.verdict is not None:
                break
        return self.verdict

    def _decide(self, result: str, cause: str) -> AmdVerdict:
        return AmdVerdict(result, cause, self.elapsed_ms)

    def _frame(self, voiced: bool) -> AmdVerdict | None:
        s = self.settings
        self.elapsed_ms += FRAME_MS
        if self.elapsed_ms >= s.total_analysis_time:
            return self._decide(UNKNOWN, f"TOOLONG-{self.elapsed_ms}")
        if not voiced:
            self.silence_ms += FRAME_MS
            if self.silence_ms >= s.between_words_silence:
                self._in_word = False
                self._consecutive_voice = 0
            if self._initial_silence and self.silence_ms >= s.initial_silence:
                return self._decide(MACHINE,
                                    f"INITIALSILENCE-{self.silence_ms}-{s.initial_silence}")
            if self._in_greeting and self.silence_ms >= s.after_greeting_silence:
                return self._decide(HUMAN, f"HUMAN-{self.voice_ms}-{self.silence_ms}")
            return None
        self._consecutive_voice += FRAME_MS
        self.voice_ms += FRAME_MS
        if self._consecutive_voice >= s.min_word_length and not self._in_word:
            self.words += 1
            self._in_word = True
        if self._consecutive_voice >= s.maximum_word_length:
            return self._decide(MACHINE, f"MAXWORDLENGTH-{self._consecutive_voice}")
        if self.words >= s.maximum_number_of_words:
            return self._decide(MACHINE, f"MAXWORDS-{self.words}-{s.maximum_number_of_words}")
        if self._in_greeting and self.voice_ms >= s.greeting:
            return self._decide(MACHINE, f"LONGGREETING-{self.voice_ms}-{s.greeting}")
        if self.voice_ms >= s.min_word_length:
            self._initial_silence = False
            self._in_greeting = True
        self.silence_ms = 0
        return None
