"""Scoring the answering-machine detector on labelled recordings.

A labelled set is a folder with ``human/`` and ``machine/`` subfolders of WAV files (and
optionally ``silence/``: dead air, nobody speaks), or a CSV of ``file,label`` (paths relative
to the CSV). Each recording is fed to :class:`~parley.media.amd.AnsweringMachineDetector` as
the media hub feeds an answered call, 20 ms at a time; a recording that ends before a verdict
goes on as silence, as a call whose far end stopped sending would.

Right answers: a human is ``human``, a machine is ``machine``, dead air is anything but
``human`` (nobody is there to talk to). Files that cannot be read are named with the reason
and left out; the rest is scored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from parley.media import MediaError
from parley.media.amd import (
    FRAME_MS,
    HUMAN,
    MACHINE,
    UNKNOWN,
    AmdSettings,
    AmdVerdict,
    AnsweringMachineDetector,
)
from parley.media.audio import decode_wav, to_telephony

Pcm = npt.NDArray[np.int16]
SILENCE = "silence"
LABELS = (HUMAN, MACHINE, SILENCE)
VERDICTS = (HUMAN, MACHINE, UNKNOWN)
_FRAME = FRAME_MS * 8


@dataclass(frozen=True, slots=True)
class Labelled:
    """One recording to score: its name (as the user wrote it), true label and audio."""

    name: str
    label: str
    pcm: Pcm


@dataclass(frozen=True, slots=True)
class Scored:
    name: str
    label: str
    verdict: AmdVerdict
    cpu_s: float = 0.0  # CPU time the detector took on this recording (when timed)

    @property
    def correct(self) -> bool:
        return is_correct(self.label, self.verdict.result)


def is_correct(label: str, result: str) -> bool:
    """Dead air is right when not called a person; the others when named as they are."""
    return result != HUMAN if label == SILENCE else result == label


def detect(pcm: Pcm, settings: AmdSettings | None = None) -> AmdVerdict:
    """The detector's verdict on a whole recording (padded with silence until it decides)."""
    detector = AnsweringMachineDetector(settings)
    for start in range(0, len(pcm), _FRAME):
        verdict = detector.feed(pcm[start:start + _FRAME])
        if verdict is not None:
            return verdict
    silence = np.zeros(_FRAME, dtype=np.int16)
    while True:  # the analysis time bounds this loop
        verdict = detector.feed(silence)
        if verdict is not None:
            return verdict


@dataclass
class AmdScore:
    """Per-file verdicts and what they add up to."""

    results: list[Scored] = field(default_factory=list)

    def confusion(self) -> dict[str, dict[str, int]]:
        """Counts by true label (rows) and verdict (columns), labels that occur only."""
        table = {label: dict.fromkeys(VERDICTS, 0) for label in LABELS
                 if any(r.label == label for r in self.results)}
        for result in self.results:
            table[result.label][result.verdict.result] += 1
        return table

    def accuracy(self, label: str | None = None) -> float:
        chosen = [r for r in self.results if label is None or r.label == label]
        return sum(r.correct for r in chosen) / len(chosen) if chosen else 0.0

    def mean_after_ms(self, label: str | None = None) -> float:
        """Mean audio heard before the verdict (time to verdict on a live call)."""
        chosen = [r.verdict.after_ms for r in self.results if label is None or r.label == label]
        return sum(chosen) / len(chosen) if chosen else 0.0

    def mean_cpu_ms(self) -> float:
        return 1000 * sum(r.cpu_s for r in self.results) / len(self.results) \
            if self.results else 0.0

    def report(self) -> list[str]:
        """The confusion matrix, accuracy per class and overall, time to verdict."""
        lines = [f"{'':>10} " + " ".join(f"{v:>8}" for v in VERDICTS)
                 + f" {'accuracy':>9} {'verdict after':>14}"]
        for label, row in self.confusion().items():
            lines.append(f"{label:>10} " + " ".join(f"{row[v]:>8}" for v in VERDICTS)
                         + f" {100 * self.accuracy(label):>8.1f}%"
                         + f" {self.mean_after_ms(label):>11.0f} ms")
        lines.append(f"{len(self.results)} recordings, accuracy "
                     f"{100 * self.accuracy():.1f}%, mean time to verdict "
                     f"{self.mean_after_ms():.0f} ms")
        return lines


def score(recordings: Iterable[Labelled], settings: AmdSettings | None = None,
          cpu_clock: Callable[[], float] | None = None) -> AmdScore:
    """Run the detector on each recording; ``cpu_clock`` (``time.process_time``) times each."""
    result = AmdScore()
    for item in recordings:
        started = cpu_clock() if cpu_clock else 0.0
        verdict = detect(item.pcm, settings)
        spent = cpu_clock() - started if cpu_clock else 0.0
        result.results.append(Scored(item.name, item.label, verdict, spent))
    return result


def read_recording(path: Path, name: str) -> Pcm:
    """A WAV file as 8 kHz mono int16 (any rate and channel count is converted)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MediaError(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    audio = decode_wav(data, name)
    if audio.samples.shape[0] == 0:
        raise MediaError(f"{name}: the file holds no audio")
    try:
        return to_telephony(audio)
    except (ValueError, ZeroDivisionError, MemoryError) as exc:
        raise MediaError(f"{name}: {audio.rate} Hz cannot be converted to 8 kHz "
                         f"({exc})") from exc


def load_labelled(path: Path) -> tuple[list[Labelled], list[str]]:
    """Recordings of a labelled folder or CSV, and a problem line for each one left out."""
    if path.is_dir():
        return _load_folder(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: cannot be read as a CSV of file,label ({exc})") from exc
    return _load_csv(path, text)


def _load_folder(root: Path) -> tuple[list[Labelled], list[str]]:
    found: list[Labelled] = []
    problems: list[str] = []
    folders = [root / label for label in LABELS if (root / label).is_dir()]
    if not folders:
        raise MediaError(f"{root}: no human/ or machine/ subfolder (or give a CSV of "
                         "file,label)")
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and entry.name not in LABELS:
            problems.append(f"{entry.name}/: not a label folder ({', '.join(LABELS)}); "
                            "its files are not scored")
        elif entry.is_file() and entry.suffix.lower() == ".wav":
            problems.append(f"{entry.name}: not in a label folder; not scored")
    for folder in folders:
        for file in sorted(folder.rglob("*")):
            if not file.is_file():
                continue
            name = str(file.relative_to(root))
            if file.suffix.lower() != ".wav":
                problems.append(f"{name}: not a .wav file; not scored")
                continue
            try:
                found.append(Labelled(name, folder.name, read_recording(file, name)))
            except MediaError as exc:
                problems.append(str(exc))
    return found, problems


def _load_csv(path: Path, text: str) -> tuple[list[Labelled], list[str]]:
    found: list[Labelled] = []
    problems: list[str] = []
    rows = list(csv.reader(io.StringIO(text)))
    start = 1 if rows and [c.strip().lower() for c in rows[0][:2]] == ["file", "label"] else 0
    for number, row in enumerate(rows[start:], start=start + 1):
        where = f"{path.name}: line {number}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            problems.append(f"{where}: {len(row)} fields; write file,label")
            continue
        file_text, label = row[0].strip(), row[1].strip().lower()
        if label not in LABELS:
            problems.append(f"{where}, field 'label': {row[1].strip()!r} is not a label "
                            f"({', '.join(LABELS)})")
            continue
        if not file_text:
            problems.append(f"{where}, field 'file': empty")
            continue
        file = Path(file_text)
        if not file.is_absolute():
            file = path.parent / file
        if not file.is_file():
            problems.append(f"{where}, field 'file': {file_text!r} not found")
            continue
        try:
            found.append(Labelled(file_text, label, read_recording(file, file_text)))
        except MediaError as exc:
            problems.append(f"{where}: {exc}")
    return found, problems
