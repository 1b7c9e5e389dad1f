"""Playback frame logic: playlists of prompts, tones and silence as 20 ms G.711 frames.

A :class:`Player` turns a playlist into 160-sample frames on demand, gaplessly across items,
and knows why it finished ("done" at the end, "stopped" or "hangup" when stopped). A
:class:`Playout` holds every playing channel of the process and produces all their frames for
one tick at once, encoding them with one table lookup per codec.

The shared ticker (the design the ``telephony/`` shell follows): one task per process wakes on
the injected clock every ``20 / slots`` ms, at ``start + k * 0.020 / slots`` rather than "a
period after the last wake-up" so that lateness does not accumulate, calls
:meth:`Playout.tick` for phase ``k % slots`` and hands each frame to its channel's RTP sender
(:meth:`parley.media.stream.MediaStream.audio_packet`, which adds 160 to the timestamp and 1
to the sequence number). Ten slots (a wake-up every 2 ms) spread the sending of 500 channels
so that each frame leaves within 2 ms of its own schedule. A wake-up more than a few
periods late serves the missed phases in a burst of at most three periods and skips the rest
(the receiver's jitter buffer absorbs a short burst, never a long one);
:class:`parley.media.ticker.TickSchedule` does this arithmetic. ``finished`` players are
reported as ``PlaybackFinished`` events. No per-channel timers exist: 500 playing channels
cost 50 or 500 wake-ups a second, not 25,000.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from parley.media import MediaError
from parley.media.g711 import ENCODE_TABLES, Codec

FRAME = 160
RATE = 8000
Pcm = npt.NDArray[np.int16]

DONE = "done"
STOPPED = "stopped"
HANGUP = "hangup"


class Source(Protocol):
    """Something that yields 8 kHz samples; ``read`` returns fewer than asked when it ends."""

    @property
    def name(self) -> str: ...

    def read(self, count: int) -> Pcm: ...

    def rewind(self) -> None: ...


class PcmSource:
    """Audio already in memory (a converted prompt); the array is shared, never copied."""

    def __init__(self, pcm: Pcm, name: str = "audio") -> None:
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise MediaError(f"{name}: playback needs mono int16 samples")
        self._pcm = pcm
        self._name = name
        self._position = 0

    @property
    def name(self) -> str:
        return self._name

    def read(self, count: int) -> Pcm:
        chunk = self._pcm[self._position:self._position + count]
        self._position += len(chunk)
        return chunk

    def rewind(self) -> None:
        self._position = 0


class SilenceSource:
    """``duration_ms`` of silence (a pause between prompts)."""

    def __init__(self, duration_ms: int) -> None:
        if duration_ms < 0:
            raise MediaError(f"silence of {duration_ms} ms is negative")
        self._total = duration_ms * RATE // 1000
        self._position = 0

    @property
    def name(self) -> str:
        return f"silence:{self._total * 1000 // RATE}ms"

    def read(self, count: int) -> Pcm:
        count = min(count, self._total - self._position)
        self._position += count
        return np.zeros(count, dtype=np.int16)

    def rewind(self) -> None:
        self._position = 0


class LoopSource:
    """Tracks played one after the other for ever (hold music), resuming where it paused.

    Position survives :meth:`Player.stop`: reads happen in whole frames, so a stop always falls
    on a frame boundary and the next start continues with the very next sample. The first
    frame after :meth:`resume` fades in over 20 ms, so music that starts mid-phrase does not
    click.
    """

    def __init__(self, tracks: Sequence[Pcm], name: str = "loop", start_track: int = 0) -> None:
        self._tracks = [t for t in tracks if len(t)]
        if not self._tracks:
            raise MediaError(f"{name}: nothing to loop (no track has audio)")
        self._name = name
        self._track = start_track % len(self._tracks)
        self._position = 0
        self._fade = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def position(self) -> tuple[int, int]:
        """(track index, sample offset) of the next sample."""
        return self._track, self._position

    def resume(self) -> None:
        """Fade in the next frame (call when hold music starts again)."""
        self._fade = FRAME

    def read(self, count: int) -> Pcm:
        parts: list[Pcm] = []
        wanted = count
        while wanted:
            track = self._tracks[self._track]
            chunk = track[self._position:self._position + wanted]
            parts.append(chunk)
            wanted -= len(chunk)
            self._position += len(chunk)
            if self._position >= len(track):
                self._track = (self._track + 1) % len(self._tracks)
                self._position = 0
        out = np.concatenate(parts) if len(parts) > 1 else parts[0].copy()
        if self._fade:
            ramp = np.minimum(1.0, np.arange(1, count + 1) / self._fade)
            out = (out * ramp).astype(np.int16)
            self._fade = 0
        return out

    def rewind(self) -> None:
        self._track, self._position = 0, 0


class Player:
    """One playback: its playlist read frame by frame until the end, a stop, or for ever."""

    def __init__(self, sources: Sequence[Source], *, loop: bool = False,
                 playback_id: str = "") -> None:
        self.sources = list(sources)
        self.loop = loop
        self.playback_id = playback_id
        self.finished: str | None = None  # DONE, STOPPED or HANGUP once over
        self.frames_played = 0
        self._index = 0

    @property
    def current(self) -> str | None:
        """The name of the item playing now."""
        return self.sources[self._index].name if self._index < len(self.sources) else None

    @property
    def elapsed_ms(self) -> int:
        return self.frames_played * FRAME * 1000 // RATE

    def stop(self, reason: str = STOPPED) -> None:
        """End the playback now (it yields no more frames); the first reason given stays."""
        if self.finished is None:
            self.finished = reason

    def fill(self, out: Pcm) -> bool:
        """Write the next 160 samples into ``out``; False (and ``out`` untouched) when over.

        The last frame of a playlist is padded with silence and still returned; the player is
        then finished with reason "done".
        """
        if self.finished is not None:
            return False
        filled = 0
        wraps = 0
        read_since_wrap = 0
        while filled < FRAME:
            if self._index >= len(self.sources):
                if not self.loop or not self.sources or (wraps and not read_since_wrap):
                    break  # the end, or a looping playlist with no audio at all
                for source in self.sources:
                    source.rewind()
                self._index = 0
                wraps += 1
                read_since_wrap = 0
            chunk = self.sources[self._index].read(FRAME - filled)
            out[filled:filled + len(chunk)] = chunk
            filled += len(chunk)
            read_since_wrap += len(chunk)
            if filled < FRAME:
                self._index += 1
        if filled == 0:
            self.finished = DONE
            return False
        out[filled:] = 0
        self.frames_played += 1
        if filled < FRAME:
            self.finished = DONE
        return True

    def next_pcm(self) -> Pcm | None:
        """The next frame as a new array, or None when finished (for single-channel use)."""
        out = np.empty(FRAME, dtype=np.int16)
        return out if self.fill(out) else None


K = TypeVar("K", bound=Hashable)


@dataclass(slots=True)
class TickResult(Generic[K]):
    """What one 20 ms tick produced: an encoded frame per playing channel, and the players
    that ended (with ``finished`` set) and were removed."""

    frames: list[tuple[K, bytes]] = field(default_factory=list)
    finished: list[tuple[K, Player]] = field(default_factory=list)


class Playout(Generic[K]):
    """Every playing channel of the process, fed by one shared ticker.

    With ``slots=1`` every channel's frame is produced at each 20 ms tick. With more slots
    the 20 ms are cut into ``slots`` phases: each channel belongs to one (the least loaded
    when it starts) and the ticker wakes every ``20 / slots`` ms to serve one phase, so the
    sending work of many channels is spread over the period and each frame leaves close to
    its own schedule instead of queueing behind hundreds of others.
    """

    def __init__(self, slots: int = 1) -> None:
        if not 1 <= slots <= 20:
            raise MediaError(f"playout slots must be between 1 and 20, got {slots}")
        self.slots = slots
        self._phases: list[dict[K, tuple[Player, Codec]]] = [{} for _ in range(slots)]
        self._slot_of: dict[K, int] = {}
        self._buffer = np.zeros((64, FRAME), dtype=np.int16)

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: object) -> bool:
        return key in self._slot_of

    def slot_of(self, key: K) -> int | None:
        return self._slot_of.get(key)

    def add(self, key: K, player: Player, codec: Codec) -> Player | None:
        """Start playing on ``key`` (a channel); returns the player it replaced, stopped.

        A channel that was playing keeps its phase (its packets stay 20 ms apart)."""
        slot = self._slot_of.get(key)
        previous = self.remove(key)
        if slot is None:
            slot = min(range(self.slots), key=lambda s: len(self._phases[s]))
        self._phases[slot][key] = (player, codec)
        self._slot_of[key] = slot
        return previous

    def remove(self, key: K, reason: str = STOPPED) -> Player | None:
        """Stop and forget the player of ``key``; its ``finished`` says ``reason``."""
        slot = self._slot_of.pop(key, None)
        if slot is None:
            return None
        player, _codec = self._phases[slot].pop(key)
        player.stop(reason)
        return player

    def get(self, key: K) -> Player | None:
        slot = self._slot_of.get(key)
        return None if slot is None else self._phases[slot][key][0]

    def tick(self, slot: int | None = None) -> TickResult[K]:
        """Produce one frame for every channel of phase ``slot`` (all phases when None),
        encoded in one batch per codec."""
        result: TickResult[K] = TickResult()
        phases = self._phases if slot is None else [self._phases[slot % self.slots]]
        count = sum(len(phase) for phase in phases)
        if count == 0:
            return result
        if self._buffer.shape[0] < count:
            self._buffer = np.zeros((max(count, 2 * self._buffer.shape[0]), FRAME), np.int16)
        buffer = self._buffer
        keys: dict[Codec, list[K]] = {}
        rows: dict[Codec, list[int]] = {}
        row = 0
        for phase in phases:
            for key, (player, codec) in phase.items():
                if player.fill(buffer[row]):
                    keys.setdefault(codec, []).append(key)
                    rows.setdefault(codec, []).append(row)
                    row += 1
                if player.finished is not None:
                    result.finished.append((key, player))
        for codec, codec_rows in rows.items():
            block = buffer[codec_rows] if len(rows) > 1 else buffer[:row]
            payload = ENCODE_TABLES[codec][block.view(np.uint16)].tobytes()
            result.frames += [(key, payload[i * FRAME:(i + 1) * FRAME])
                              for i, key in enumerate(keys[codec])]
        for key, _player in result.finished:
            del self._phases[self._slot_of.pop(key)][key]
        return result
