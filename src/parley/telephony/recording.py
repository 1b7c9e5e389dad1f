"""Recording files: a WAV writer that survives a crash, its repair, and the JSON sidecar.

Layout: ``<name>.wav`` (16-bit PCM, 8 kHz, stereo: caller left, operator right) and
``<name>.json`` next to it (call id, start time, pauses, duration, whether it completed).

The writer appends as it goes and hands the data to the operating system once a second,
updating the header's RIFF and data sizes each time; a killed process therefore leaves a file
that plays up to its last second. A machine crash can still leave sizes that disagree with the
file; :func:`repair_wav` recomputes them from the file's length (dropping a half-written
frame), and :func:`repair_directory`, run at start-up, repairs every recording whose sidecar
says it never completed; the node then files each with its call record (``Node.start``),
which the recording never reached.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from parley.events import RecordingStored
from parley.media import MediaError
from parley.media.audio import parse_wav_header, wav_header
from parley.media.recorder import Pause, StereoRecorder

RATE = 8000
_HEADER_BYTES = 44  # wav_header's
#: the longest gap a continued recording fills with silence (a longer one means the clock or
#: the recording's start is wrong: the file goes on without it)
MAX_GAP_S = 120.0
_NATIVE_LE = sys.byteorder == "little"
K = TypeVar("K", bound=Hashable)


class RecordingError(MediaError):
    """A recording file cannot be written or repaired; the message names the file."""


class WavWriter:
    """16-bit PCM WAV written as it goes; data reaches the OS every ``flush_every_s``."""

    def __init__(self, path: Path, *, channels: int = 2, rate: int = RATE,
                 flush_every_s: float = 1.0, fsync: bool = False,
                 append: bool = False) -> None:
        """A new file, or with ``append`` one this module wrote before (a recording cut
        off by a crash, repaired first: :func:`repair_wav`), written on from its end."""
        self.path = Path(path)
        self.channels = channels
        self.rate = rate
        self.fsync = fsync
        self._flush_bytes = max(1, int(flush_every_s * rate)) * channels * 2
        self._buffer = bytearray()
        self.data_bytes = 0  # handed to the OS (and in the header)
        if append:
            self._fd: int | None = self._reopen()
            return
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except OSError as exc:
            raise RecordingError(f"cannot create recording {self.path}: {exc.strerror}") from exc
        os.write(self._fd, wav_header(channels, rate, 16, 0))

    def _reopen(self) -> int:
        repaired = repair_wav(self.path)
        try:
            with self.path.open("rb") as handle:
                info = parse_wav_header(handle.read(4096), str(self.path))
        except (OSError, MediaError) as exc:
            raise RecordingError(f"cannot go on with recording {self.path}: {exc}") from exc
        if (info.channels, info.rate, info.bits, info.data_offset) != (
                self.channels, self.rate, 16, _HEADER_BYTES):
            raise RecordingError(
                f"cannot go on with recording {self.path}: {info.channels} channel(s) at "
                f"{info.rate} Hz, {info.bits} bits, data at byte {info.data_offset}; this "
                f"writer adds {self.channels} at {self.rate} Hz, 16 bits, data at byte "
                f"{_HEADER_BYTES}")
        try:
            fd = os.open(self.path, os.O_WRONLY)
        except OSError as exc:
            raise RecordingError(f"cannot go on with recording {self.path}: "
                                 f"{exc.strerror}") from exc
        os.lseek(fd, 0, os.SEEK_END)
        self.data_bytes = repaired.data_bytes
        return fd

    @property
    def samples(self) -> int:
        """Sample frames written so far, buffered or not."""
        return (self.data_bytes + len(self._buffer)) // (self.channels * 2)

    @property
    def duration_s(self) -> float:
        """Seconds written so far, buffered or not."""
        return (self.data_bytes + len(self._buffer)) / (self.channels * 2 * self.rate)

    def write(self, pcm: npt.NDArray[np.int16]) -> None:
        """Append samples shaped (n, channels); flushes when a second has gathered."""
        if self._fd is None:
            raise RecordingError(f"recording {self.path} is closed")
        if pcm.ndim != 2 or pcm.shape[1] != self.channels:
            raise RecordingError(f"recording {self.path} takes (n, {self.channels}) frames, "
                                 f"got shape {pcm.shape}")
        if _NATIVE_LE and pcm.dtype == np.int16:
            self._buffer += pcm.tobytes()  # C order: interleaved frames
        else:
            self._buffer += np.ascontiguousarray(pcm, dtype="<i2").tobytes()
        if len(self._buffer) >= self._flush_bytes:
            self.flush()

    def flush(self) -> None:
        """Write the buffered samples and the new sizes into the header."""
        if self._fd is None:
            return
        if self._buffer:
            os.write(self._fd, self._buffer)
            self.data_bytes += len(self._buffer)
            self._buffer.clear()
        os.pwrite(self._fd, struct.pack("<I", 36 + self.data_bytes), 4)
        os.pwrite(self._fd, struct.pack("<I", self.data_bytes), 40)
        if self.fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            self.flush()
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True, slots=True)
class RepairResult:
    path: Path
    data_bytes: int
    duration_s: float
    changed: bool  # False when the file was already consistent
    #: the recording's sidecar as rewritten (:func:`repair_directory`): ids, start, pauses
    metadata: Mapping[str, Any] | None = None


def repair_wav(path: Path) -> RepairResult:
    """Make a WAV's RIFF and data sizes match its length, trimming a partial last frame."""
    path = Path(path)
    try:
        with path.open("r+b") as handle:
            head = handle.read(4096)
            info = parse_wav_header(head, str(path))
            length = handle.seek(0, os.SEEK_END)
            if info.block_align <= 0:
                raise RecordingError(f"{path}: block align {info.block_align} is not usable")
            available = max(0, length - info.data_offset)
            data_bytes = available - available % info.block_align
            riff_size = info.data_offset - 8 + data_bytes
            (old_riff,) = struct.unpack_from("<I", head, 4)
            changed = (info.data_size != data_bytes or old_riff != riff_size
                       or length != info.data_offset + data_bytes)
            if changed:
                handle.truncate(info.data_offset + data_bytes)
                handle.seek(4)
                handle.write(struct.pack("<I", riff_size))
                handle.seek(info.data_offset - 4)
                handle.write(struct.pack("<I", data_bytes))
    except OSError as exc:
        raise RecordingError(f"cannot repair recording {path}: {exc.strerror}") from exc
    except MediaError as exc:
        raise RecordingError(f"cannot repair recording {path}: {exc}") from exc
    duration = data_bytes / (info.block_align * info.rate) if info.rate else 0.0
    return RepairResult(path, data_bytes, duration, changed)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _pauses_json(pauses: list[Pause]) -> list[dict[str, float | None]]:
    """Pauses in seconds; an open pause (the call is paused now) has ``end_s`` null."""
    return [{"start_s": round(p.start_s, 3),
             "end_s": None if p.end_s is None else round(p.end_s, 3)} for p in pauses]


@dataclass(frozen=True, slots=True)
class CutRecording:
    """A recording that another node was writing when it failed, on storage both nodes
    share, to be continued in the same file (:meth:`Recording.__init__`'s ``cut``)."""

    path: Path
    recording_id: str
    started: datetime
    #: its pauses as its sidecar last said, in seconds (the last one open if it was paused)
    pauses: tuple[tuple[float, float | None], ...]


def cut_recording(path: Path, recording_id: str) -> CutRecording:
    """The recording ``recording_id`` at ``path``, from its sidecar. Raises
    :class:`RecordingError` saying why it cannot be continued (gone, another recording,
    finished, unreadable)."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text())
    except OSError as exc:
        raise RecordingError(f"cannot go on with recording {path}: its sidecar {sidecar}: "
                             f"{exc.strerror}") from exc
    except ValueError as exc:
        raise RecordingError(f"cannot go on with recording {path}: its sidecar {sidecar} "
                             f"is not JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("recording_id") != recording_id:
        raise RecordingError(f"cannot go on with recording {path}: its sidecar names "
                             f"another recording than {recording_id!r}")
    if meta.get("file") != path.name or not path.is_file():
        raise RecordingError(f"cannot go on with recording {path}: the WAV is not there "
                             "(compressed or removed)")
    try:
        started = datetime.fromisoformat(str(meta["started"]))
        pauses = tuple((float(gap["start_s"]),
                        None if gap.get("end_s") is None else float(gap["end_s"]))
                       for gap in meta.get("pauses", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordingError(f"cannot go on with recording {path}: its sidecar's start or "
                             f"pauses are unreadable ({exc})") from exc
    return CutRecording(path, recording_id, started, pauses)


class Recording(Generic[K]):
    """One call's recording: stereo frames into a WAV, with its JSON sidecar kept current."""

    def __init__(self, path: Path, *, recording_id: str, call_id: str, started: datetime,
                 caller: K, operator: K | None = None, flush_every_s: float = 1.0,
                 interaction_id: str = "", cut: CutRecording | None = None,
                 now: datetime | None = None) -> None:
        """A new recording at ``path``; or, with ``cut``, the one another node was writing
        there, continued: what it wrote stays, the time from its last second on disk to
        ``now`` becomes silence noted as a pause (:attr:`gap_s`; none over
        :data:`MAX_GAP_S`), and its pauses go on (an open one stays open)."""
        self.path = Path(path)
        self.sidecar = self.path.with_suffix(".json")
        self.recording_id = recording_id
        self.call_id = call_id
        #: the call record it belongs to (a recording a crash cut off is given back to it)
        self.interaction_id = interaction_id
        self.started = started
        self.recorder: StereoRecorder[K] = StereoRecorder(caller, operator)
        #: seconds of silence put in for the time nobody recorded (a continued recording)
        self.gap_s = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if cut is None:
            self.writer = WavWriter(self.path, channels=2, flush_every_s=flush_every_s)
        else:
            self.started = cut.started
            self.writer = WavWriter(self.path, channels=2, flush_every_s=flush_every_s,
                                    append=True)
            self._go_on(cut, now or datetime.now(self.started.tzinfo))
        self.closed = False
        self._save(complete=False)

    def _go_on(self, cut: CutRecording, now: datetime) -> None:
        on_disk = self.writer.samples
        self.recorder.restore(on_disk, [
            (min(on_disk, round(start * RATE)),
             None if end is None else min(on_disk, round(end * RATE)))
            for start, end in cut.pauses if start * RATE < on_disk or end is None])
        missing = (now - self.started).total_seconds() - on_disk / RATE
        if 0 < missing <= MAX_GAP_S:
            samples = round(missing * RATE)
            self.gap_s = samples / RATE
            self.recorder.skip(samples)
            self.writer.write(np.zeros((samples, 2), dtype=np.int16))

    @property
    def duration_s(self) -> float:
        return self.recorder.duration_s

    def write_tick(self, frames: Mapping[K, npt.NDArray[np.int16]]) -> None:
        """One 20 ms tick: the decoded frame of each party that sent audio."""
        self.writer.write(self.recorder.frame(frames))

    def write_frame(self, stereo: npt.NDArray[np.int16]) -> None:
        """A stereo frame already built from :attr:`recorder` (by the media hub's tick)."""
        self.writer.write(stereo)

    def pause(self) -> None:
        """Write silence from now on (and say so in the sidecar) until :meth:`resume`."""
        if not self.recorder.paused:
            self.recorder.pause()
            self._save(complete=False)

    def resume(self) -> None:
        if self.recorder.paused:
            self.recorder.resume()
            self._save(complete=False)

    def close(self) -> dict[str, Any]:
        """Finish the file and the sidecar; returns the metadata stored with the call."""
        if not self.closed:
            self.recorder.resume()
            self.writer.close()
            self.closed = True
        return self._save(complete=True)

    def metadata(self, *, complete: bool) -> dict[str, Any]:
        return {
            "recording_id": self.recording_id,
            "call_id": self.call_id,
            "interaction_id": self.interaction_id,
            "started": self.started.isoformat(),
            "file": self.path.name,
            "format": {"encoding": "pcm_s16le", "rate": RATE, "channels": 2,
                       "left": "caller", "right": "operator"},
            "duration_s": round(self.duration_s, 3),
            "pauses": _pauses_json(self.recorder.pauses),
            "complete": complete,
        }

    def _save(self, *, complete: bool) -> dict[str, Any]:
        data = self.metadata(complete=complete)
        _write_json(self.sidecar, data)
        return data


def repair_directory(directory: Path, *,
                     live: Callable[[Mapping[str, Any]], bool] | None = None
                     ) -> list[RepairResult]:
    """Repair every recording whose sidecar says it did not complete (at start-up; on
    shared storage once active, ``live`` telling from its sidecar which of them are being
    written still), and mark it complete and repaired with the duration actually on disk."""
    results: list[RepairResult] = []
    for sidecar in sorted(Path(directory).rglob("*.json")):
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict) or meta.get("complete", True) or "file" not in meta:
            continue
        if live is not None and live(meta):
            continue
        wav = sidecar.with_name(str(meta["file"]))
        if not wav.is_file():
            continue
        result = repair_wav(wav)
        meta["duration_s"] = round(result.duration_s, 3)
        end = round(result.duration_s, 3)
        meta["pauses"] = [{"start_s": p["start_s"],
                           "end_s": end if p["end_s"] is None else min(p["end_s"], end)}
                          for p in meta.get("pauses", []) if p["start_s"] < end]
        meta["complete"] = True
        meta["repaired"] = True
        _write_json(sidecar, meta)
        results.append(RepairResult(result.path, result.data_bytes, result.duration_s,
                                    result.changed, meta))
    return results


def recording_stored(repaired: RepairResult) -> RecordingStored | None:
    """The notice that gives a repaired recording to its call record (None for a file
    whose sidecar names no call record: recorded before the sidecar said so)."""
    meta = repaired.metadata or {}
    interaction_id = meta.get("interaction_id")
    if not isinstance(interaction_id, str) or not interaction_id:
        return None
    try:
        started = datetime.fromisoformat(str(meta["started"]))
    except (KeyError, ValueError):
        return None
    pauses = tuple({"start_s": gap.get("start_s"), "end_s": gap.get("end_s"), "by": ""}
                   for gap in meta.get("pauses", []) if isinstance(gap, dict))
    return RecordingStored(str(meta.get("recording_id") or repaired.path.stem),
                           interaction_id, str(repaired.path), started,
                           repaired.duration_s, pauses)
