"""Stereo recording frame logic: caller on the left, the contact center on the right.

Each 20 ms tick the recorder takes the decoded frames of the bridge's parties and builds one
stereo frame. The caller goes on the left channel; the operator on the right, and with them
everyone the caller is not meant to tell apart from the company side: a whispering supervisor
(whisper audio lands on the operator's channel, never on the caller's) and a barging one.
Silent listeners are not recorded: nobody hears them. When the call is transferred, the new
operator is assigned to the right channel and the recording carries on in the same file.

While paused (a caller reading out a card number) the recorder writes silence, so that the
file's timeline stays the call's timeline, and notes each pause in seconds from the start.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from parley.media.mixer import MixBridge, Role

FRAME = 160
RATE = 8000
Pcm = npt.NDArray[np.int16]
K = TypeVar("K", bound=Hashable)
_LOW, _HIGH = np.int32(-32768), np.int32(32767)


class Side(StrEnum):
    LEFT = "left"  # the caller
    RIGHT = "right"  # the operator, and whisper/barge audio


@dataclass(frozen=True, slots=True)
class Pause:
    """A pause, in seconds from the start of the recording; ``end_s`` None while it lasts."""

    start_s: float
    end_s: float | None


class StereoRecorder(Generic[K]):
    """Builds stereo frames from parties' frames; knows the pauses and the length."""

    def __init__(self, caller: K, operator: K | None = None) -> None:
        self.caller = caller
        self._sides: dict[K, Side] = {caller: Side.LEFT}
        if operator is not None:
            self._sides[operator] = Side.RIGHT
        self.samples = 0
        self._pauses: list[tuple[int, int | None]] = []
        self._out = np.zeros((FRAME, 2), dtype=np.int16)

    @property
    def paused(self) -> bool:
        return bool(self._pauses) and self._pauses[-1][1] is None

    @property
    def duration_s(self) -> float:
        return self.samples / RATE

    @property
    def pauses(self) -> list[Pause]:
        return [Pause(start / RATE, None if end is None else end / RATE)
                for start, end in self._pauses]

    @property
    def parties(self) -> list[K]:
        """Everyone recorded now (on either side)."""
        return list(self._sides)

    def side_of(self, party: K) -> Side | None:
        return self._sides.get(party)

    def assign(self, party: K, side: Side | None) -> None:
        """Record ``party`` on ``side`` (None: do not record it)."""
        if side is None:
            self._sides.pop(party, None)
        else:
            self._sides[party] = Side(side)

    def follow(self, bridge: MixBridge[K]) -> None:
        """Take the sides from a bridge's roles: the caller left, listeners nowhere, every
        other member (operator, whisper, barge) right. Call after each membership change."""
        self._sides = {}
        for party in bridge.parties:
            role = bridge.member(party).role
            if party == self.caller:
                self._sides[party] = Side.LEFT
            elif role is not Role.LISTEN:
                self._sides[party] = Side.RIGHT

    def restore(self, samples: int, pauses: list[tuple[int, int | None]]) -> None:
        """Go on from a recording another process wrote: ``samples`` already in the file,
        its ``pauses`` (in samples; the last one open if it was paused)."""
        self.samples = samples
        self._pauses = list(pauses)

    def skip(self, samples: int) -> None:
        """Advance the timeline by ``samples`` of silence that nobody heard (a gap in the
        recording, e.g. a takeover): noted as a pause unless paused already."""
        if samples <= 0:
            return
        if self.paused:
            self.samples += samples
            return
        self._pauses.append((self.samples, self.samples + samples))
        self.samples += samples

    def pause(self) -> None:
        if not self.paused:
            self._pauses.append((self.samples, None))

    def resume(self) -> None:
        if self.paused:
            start, _ = self._pauses[-1]
            self._pauses[-1] = (start, self.samples)

    def frame(self, frames: Mapping[K, Pcm]) -> Pcm:
        """One 20 ms stereo frame (160 x 2, int16) from this tick's party frames.

        The returned array is reused by the next call: write it out before then.
        """
        out = self._out
        self.samples += FRAME
        if self.paused:
            out.fill(0)
            return out
        for index, side in enumerate((Side.LEFT, Side.RIGHT)):
            parts = [pcm for party, party_side in self._sides.items()
                     if party_side is side and (pcm := frames.get(party)) is not None]
            if not parts:
                out[:, index] = 0
            elif len(parts) == 1:
                out[:, index] = parts[0]
            else:
                total: npt.NDArray[np.int32] = np.stack(parts).sum(axis=0, dtype=np.int32)
                np.maximum(total, _LOW, out=total)
                np.minimum(total, _HIGH, out=total)
                out[:, index] = total
        return out
