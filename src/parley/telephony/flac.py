"""Recording files to FLAC and back, through ``sox`` (a runtime package; Debian's ``sox``
depends on ``libsox-fmt-base``, which brings the FLAC format).

:func:`compress_wav` turns a finished 16-bit PCM WAV into ``NAME.flac`` beside it, lossless,
channels kept: sox encodes to ``NAME.flac.part`` at the lowest CPU priority, the part is
synced to disk, decoded again and compared sample for sample with the WAV (same length,
same content), and only then renamed to ``NAME.flac``. A ``.flac`` under its final name is
therefore always a verified copy. The WAV itself is never touched here.

These are blocking calls, never made on the event loop. The node's recording service
(:mod:`parley.store.recording_files`) hands each file to a :class:`Compressor`: one helper
process (``python -m parley.telephony.flac``, at the lowest CPU priority) that runs
:func:`compress_wav` for it, so that the verification's reading and comparing and the
spawning of sox cost the node's process nothing but a line each way on a pipe.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from parley.media import MediaError
from parley.media.audio import decode_wav, parse_wav_header

FLAC_LEVEL = 0
"""libFLAC's compression level (sox ``-C``): the fastest; on µ-law calls levels 0, 5 and 8
give sizes within 0.5% of each other while 5 costs 40% and 8 twice as much CPU
(docs/benchmarks.md, "Recordings compressed to FLAC")."""
CHUNK = 1 << 16


class CompressError(MediaError):
    """A recording could not be compressed or verified; the message names the file."""


class Stopped(CompressError):
    """The node is stopping: the work was abandoned (the WAV is untouched)."""


@dataclass(frozen=True, slots=True)
class Compressed:
    flac: Path
    size_bytes: int
    wav_bytes: int
    frames: int


def part_of(flac: Path) -> Path:
    """Where the FLAC is written before it is verified."""
    return flac.with_name(flac.name + ".part")


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise CompressError(f"{name} is not installed (Debian package sox): recordings "
                            "cannot be compressed")
    return found


def _low_priority(command: list[str]) -> list[str]:
    """The command run by ``nice -n 19`` where ``nice`` exists (coreutils)."""
    nice = shutil.which("nice")
    return [nice, "-n", "19", *command] if nice else command


def _wait(process: subprocess.Popen[bytes], stop: threading.Event | None, what: Path) -> None:
    while True:
        try:
            process.wait(timeout=0.2)
            return
        except subprocess.TimeoutExpired:
            if stop is not None and stop.is_set():
                process.kill()
                process.wait()
                raise Stopped(f"{what}: compression abandoned, the node is stopping") from None


def _sync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _wav_data(wav: Path) -> tuple[int, int, int]:
    """(data offset, data bytes actually in the file, channels) of a 16-bit PCM WAV."""
    with wav.open("rb") as handle:
        head = handle.read(4096)
        length = handle.seek(0, os.SEEK_END)
    info = parse_wav_header(head, str(wav))
    if info.format_tag != 1 or info.bits != 16:
        raise CompressError(f"{wav}: not 16-bit PCM (format {info.format_tag}, "
                            f"{info.bits} bits); left as it is")
    available = min(info.data_size, max(0, length - info.data_offset))
    return info.data_offset, available - available % info.block_align, info.channels


def _decoded(flac: Path, stop: threading.Event | None) -> Iterator[bytes]:
    """The FLAC's samples as signed 16-bit little-endian bytes, decoded by sox."""
    command = _low_priority([_program("sox"), "-V1", "-t", "flac", str(flac), "-t", "raw",
                             "-e", "signed-integer", "-b", "16", "-L", "-"])
    process = subprocess.Popen(command, stdout=subprocess.PIPE,  # noqa: S603
                               stderr=subprocess.PIPE)
    assert process.stdout is not None  # noqa: S101 - asked for a pipe
    try:
        while chunk := process.stdout.read(CHUNK):
            if stop is not None and stop.is_set():
                raise Stopped(f"{flac}: verification abandoned, the node is stopping")
            yield chunk
        _wait(process, stop, flac)
        if process.returncode != 0:
            error = process.stderr.read().decode(errors="replace").strip() \
                if process.stderr else ""
            raise CompressError(f"{flac}: sox could not decode it: {error or process.returncode}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def verify(wav: Path, flac: Path, stop: threading.Event | None = None) -> int:
    """Decode ``flac`` and compare it with the samples of ``wav``; the frames compared.
    Raises :class:`CompressError` at the first difference or a different length."""
    offset, data_bytes, channels = _wav_data(wav)
    compared = 0
    with wav.open("rb") as handle:
        handle.seek(offset)
        for chunk in _decoded(flac, stop):
            if len(chunk) > data_bytes - compared or handle.read(len(chunk)) != chunk:
                raise CompressError(f"{flac}: decoded audio differs from {wav.name} after "
                                    f"byte {compared} of {data_bytes}")
            compared += len(chunk)
    if compared != data_bytes:
        raise CompressError(f"{flac}: decoded {compared} bytes of audio, {wav.name} holds "
                            f"{data_bytes}")
    return data_bytes // (2 * channels)


def compress_wav(wav: Path, stop: threading.Event | None = None, *,
                 level: int = FLAC_LEVEL) -> Compressed:
    """``NAME.wav`` to a verified ``NAME.flac`` beside it (see the module docstring)."""
    wav = Path(wav)
    flac = wav.with_suffix(".flac")
    part = part_of(flac)
    _offset, data_bytes, _channels = _wav_data(wav)
    command = _low_priority([_program("sox"), "-V1", "-t", "wav", str(wav), "-t", "flac",
                             "-C", str(level), str(part)])
    try:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,  # noqa: S603
                                   stderr=subprocess.PIPE)
        try:
            _wait(process, stop, wav)
            error = process.stderr.read().decode(errors="replace").strip() \
                if process.stderr else ""
        finally:
            if process.stderr is not None:
                process.stderr.close()
        if process.returncode != 0:
            raise CompressError(f"{wav}: sox could not encode it: {error or process.returncode}")
        with part.open("rb") as handle:
            os.fsync(handle.fileno())
        frames = verify(wav, part, stop)
        os.replace(part, flac)
        _sync_directory(flac.parent)
    except BaseException:
        with suppress(OSError):
            part.unlink()
        raise
    return Compressed(flac, flac.stat().st_size, data_bytes, frames)


class Compressor:
    """:func:`compress_wav` in a helper process (see the module docstring); one job at a time,
    from one thread. The helper starts at the first job and again after it died (that job
    fails: its WAV is kept); :meth:`close` ends it."""

    def __init__(self, *, level: int = FLAC_LEVEL) -> None:
        self.level = level
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The helper's process id while it runs (tests)."""
        process = self._process
        return None if process is None or process.poll() is not None else process.pid

    def compress(self, wav: Path, stop: threading.Event | None = None) -> Compressed:
        """As :func:`compress_wav`, in the helper; a ``stop`` ends the helper (the file in
        hand is abandoned, its WAV untouched) and raises :class:`Stopped`. A helper found
        dead is started again and the file tried once more."""
        wav = Path(wav)
        with self._lock:
            line = self._ask(wav, stop) or self._ask(wav, stop)
            if not line:
                raise CompressError(f"{wav}: the compressor process ended twice on it; "
                                    "the WAV is kept")
        answer = json.loads(line)
        if "error" in answer:
            raise CompressError(str(answer["error"]))
        return Compressed(Path(answer["flac"]), int(answer["size_bytes"]),
                          int(answer["wav_bytes"]), int(answer["frames"]))

    def _ask(self, wav: Path, stop: threading.Event | None) -> bytes:
        """One request to the helper; its answer line, or b"" if it ended meanwhile."""
        process = self._started()
        assert process.stdin is not None  # noqa: S101 - asked for pipes
        assert process.stdout is not None  # noqa: S101
        try:
            process.stdin.write(json.dumps({"wav": str(wav), "level": self.level}).encode()
                                + b"\n")
            process.stdin.flush()
            line = self._answer(process.stdout.fileno(), stop, wav)
        except BrokenPipeError:
            line = b""
        if not line:
            code = self._end()
            if stop is not None and stop.is_set():
                raise Stopped(f"{wav}: the compressor process ended (exit status {code}); "
                              "the node is stopping")
        return line

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._end()
        try:
            self._process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                _low_priority([sys.executable, "-m", "parley.telephony.flac"]),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                start_new_session=True)  # its own group: ended with the sox it runs
        except OSError as error:
            raise CompressError(f"cannot start the recording compressor: {error}") from error
        return self._process

    def _answer(self, fd: int, stop: threading.Event | None, wav: Path) -> bytes:
        """The helper's answer line, or b"" if it ended."""
        data = b""
        waiting = select.poll()  # not select(): a node with many calls has descriptors
        waiting.register(fd, select.POLLIN)  # above 1023, which select() refuses
        while not data.endswith(b"\n"):
            ready = waiting.poll(200)
            if stop is not None and stop.is_set():
                self._end()
                raise Stopped(f"{wav}: compression abandoned, the node is stopping")
            if ready:
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    return b""
                data += chunk
        return data

    def _end(self) -> int | None:
        """Stop the helper (if it runs); its exit status."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            with suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
        code = process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with suppress(OSError):
                    stream.close()
        return code

    def close(self) -> None:
        """End the helper (after the job in hand); the next job starts another."""
        with self._lock:
            self._end()


def _serve() -> None:
    """The helper: one JSON request a line on stdin (``wav``, ``level``), one answer a line
    on stdout (the :class:`Compressed` fields, or ``error``), until stdin closes."""
    for line in sys.stdin.buffer:
        request = json.loads(line)
        wav = Path(request["wav"])
        answer: dict[str, object]
        try:
            done = compress_wav(wav, level=int(request["level"]))
            answer = {"flac": str(done.flac), "size_bytes": done.size_bytes,
                      "wav_bytes": done.wav_bytes, "frames": done.frames}
        except MediaError as error:  # CompressError among them: they name the file
            answer = {"error": str(error)}
        except Exception as error:  # one bad file must not end the helper
            answer = {"error": f"{wav}: {type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def decode_flac(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    """A FLAC file's samples, shaped (frames, channels), and its rate (tests, QA, bench)."""
    path = Path(path)
    sox = _program("sox")
    info = subprocess.run([sox, "--i", "-c", str(path)], capture_output=True,  # noqa: S603
                          check=False)
    rate = subprocess.run([sox, "--i", "-r", str(path)], capture_output=True,  # noqa: S603
                          check=False)
    if info.returncode != 0 or rate.returncode != 0:
        raise CompressError(f"{path}: not a readable FLAC file: "
                            f"{info.stderr.decode(errors='replace').strip()}")
    channels = int(info.stdout)
    data = b"".join(_decoded(path, None))
    samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
    return samples.reshape(-1, channels), int(float(rate.stdout))


def read_recording(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    """A stored recording's or voicemail's samples, shaped (frames, channels), and its rate:
    a WAV as recorded or its FLAC once compressed (for QA, tests and benchmarks)."""
    path = Path(path)
    if path.suffix.lower() == ".flac":
        return decode_flac(path)
    audio = decode_wav(path.read_bytes(), str(path))
    pcm = np.rint(audio.samples * 32768).clip(-32768, 32767).astype(np.int16)
    return pcm, audio.rate


if __name__ == "__main__":
    _serve()
