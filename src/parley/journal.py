"""The node's event journal: every event the store's recorders consume, on disk before anything
relies on it (DESIGN.md §1.6: nothing is lost).

The live bus hands each such event to :meth:`Journal.append` as it is published. The journal
gives it the next sequence number and writes it as one JSON line to the current segment file
under its folder (``00000000000000000001.jsonl``, named by the first sequence number in it):
the lines of one loop turn in one ``write`` (so a ``kill -9`` loses nothing already
published: the kernel has the bytes), and an ``fsync`` at least every ``commit_interval_s``
(group commit, so that a power cut loses at most that much). Readers (the recorders) see only
what is synced, read from the files (a backlog waits on disk, not in memory), and say which
sequence numbers they still need with :meth:`Journal.release`; segments nobody needs are
deleted. On open, a torn last line (the process died mid-write) is cut off and numbering goes
on after the last whole line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import structlog

from parley.bus import Envelope, topic_of
from parley.event_codec import CODED, CodecError, decode, encode

_log = structlog.get_logger("parley.journal")

SUFFIX = ".jsonl"
COMMIT_INTERVAL_S = 0.1
"""How often written lines are synced to disk (group commit)."""
SEGMENT_BYTES = 8 * 1024 * 1024
"""A segment this large is closed and a new one started (old ones are deleted once read)."""
RECENT = 20_000
"""Envelopes this process appended that are kept for the readers (at most this many, the
newest), so that a reader keeping up takes the envelope instead of decoding its line again:
decoding costs each recorder about as much per event as the rest of its work on it. Older
entries, and all of an earlier run's, are decoded from the files."""
_SEQ_PREFIX = b'{"seq":'  # how encode_line begins every line


class JournalError(Exception):
    """A journal file that cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled event: its sequence number and envelope."""

    seq: int
    envelope: Envelope


def _segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SUFFIX}"


_LINE_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""Built once: ``json.dumps`` with any argument but the defaults builds an encoder per call
(0.9 us of the 3.7 us of an event's line)."""


def encode_line(seq: int, envelope: Envelope) -> bytes:
    """``envelope`` as the journal's line number ``seq``."""
    record = {"seq": seq, "id": envelope.id, "at": envelope.at.isoformat(),
              **encode(envelope.event)}
    return _LINE_ENCODER.encode(record).encode() + b"\n"


def decode_line(line: bytes, where: str) -> Entry:
    """The entry in ``line``; :class:`JournalError` naming ``where`` if it is not one."""
    try:
        record = json.loads(line)
        seq, envelope_id, at = record["seq"], record["id"], record["at"]
        if not isinstance(seq, int) or not isinstance(envelope_id, str) \
                or not isinstance(at, str):
            raise JournalError(f"{where}: 'seq', 'id' or 'at' has the wrong type")
        event = decode({"type": record.get("type"), "data": record.get("data")})
        return Entry(seq, Envelope(envelope_id, datetime.fromisoformat(at), topic_of(event),
                                   event))
    except JournalError:
        raise
    except (ValueError, KeyError, TypeError, CodecError) as exc:
        raise JournalError(f"{where}: {exc}") from exc


class Journal:
    """An append-only, segmented, group-committed event log in ``folder``."""

    def __init__(self, folder: Path, *, commit_interval_s: float = COMMIT_INTERVAL_S,
                 segment_bytes: int = SEGMENT_BYTES,
                 accept: Callable[[object], bool] = lambda event: isinstance(event, CODED)
                 ) -> None:
        self.folder = folder
        self.accept = accept
        self.commit_interval_s = commit_interval_s
        self.segment_bytes = segment_bytes
        self.last_seq = 0
        """The last sequence number given out."""
        self.synced_seq = 0
        """The last sequence number on disk for good (readers read up to here)."""
        self.started_seq = 1
        """The first sequence number of this process: all before it came from an earlier
        run of the node."""
        self._written_seq = 0
        self._pending: list[bytes] = []
        self._write_scheduled = False
        self._fd: int | None = None
        #: raised with each segment opened: an fsync in flight knows whether its segment is
        #: still the current one (a closed descriptor's number is soon reused)
        self._segment_serial = 0
        self._segment_size = 0
        self._segments: list[tuple[int, Path]] = []  # (first seq, path), oldest first
        self._needed: dict[str, int] = {}  # reader name -> first seq it still needs
        #: seq -> the envelope appended with it, oldest first (``RECENT``); events are
        #: frozen, so the envelope is what its line decodes to
        # an OrderedDict, not a dict: a dict whose oldest keys are deleted one by one scans
        # its deleted slots again at each next(iter()), 17 times the cost at 20,000 entries
        self._recent: OrderedDict[int, Envelope] = OrderedDict()
        self._synced = asyncio.Event()
        self._opened = False

    # --- opening -------------------------------------------------------------------------

    def open(self, after: int = 0) -> None:
        """Find the segments, cut off a torn last line, and start a new segment after the
        last whole line, or after ``after`` if that is later (the highest entry a consumer
        has applied: numbers are never given twice, even when files were lost). Idempotent."""
        if self._opened:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        segments = sorted((int(path.name.removesuffix(SUFFIX)), path)
                          for path in self.folder.glob(f"*{SUFFIX}")
                          if path.name.removesuffix(SUFFIX).isdigit())
        last = 0
        while segments:
            first, path = segments[-1]
            last = self._repair(path)
            if last:
                break
            last = first - 1  # an empty segment: numbering goes on from its name
            path.unlink()
            segments.pop()
        if after > last:
            _log.error("journal: entries the recorders applied are missing (files lost or"
                       " moved?); numbering goes on after them", last_on_disk=last,
                       last_applied=after)
            last = after
        self.last_seq = self.synced_seq = self._written_seq = last
        self.started_seq = last + 1
        self._segments = segments
        self._start_segment(last + 1)
        self._opened = True
        _log.info("journal open", folder=str(self.folder), next_seq=last + 1,
                  segments=len(self._segments))

    def _repair(self, path: Path) -> int:
        """The last whole line's sequence number in ``path`` (0 if none); a torn tail is
        truncated."""
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            _log.warning("journal: torn last line cut off", file=str(path),
                         bytes=len(data) - end)
            with path.open("r+b") as file:
                file.truncate(end)
                file.flush()
                os.fsync(file.fileno())
        if end == 0:
            return 0
        start = data.rfind(b"\n", 0, end - 1) + 1
        lines = data[:end].count(b"\n")
        return decode_line(data[start:end], f"{path}:{lines}").seq

    def _start_segment(self, first_seq: int) -> None:
        path = self.folder / _segment_name(first_seq)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._segment_serial += 1
        self._segment_size = os.fstat(self._fd).st_size
        self._segments.append((first_seq, path))
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name is durable too
        finally:
            os.close(dir_fd)

    # --- writing -------------------------------------------------------------------------

    def append(self, envelope: Envelope) -> int | None:
        """Journal ``envelope`` if its event is one the journal takes: its sequence number,
        else ``None``. Never blocks: the line is written at the end of this loop turn."""
        if not self.accept(envelope.event):
            return None
        if not self._opened:
            self.open()
        seq = self.last_seq + 1
        try:
            line = encode_line(seq, envelope)
        except (CodecError, TypeError, ValueError) as exc:  # e.g. a detail that is not JSON
            _log.error("event not journaled", event_type=envelope.type, error=str(exc))
            return None
        self.last_seq = seq
        self._pending.append(line)
        recent = self._recent
        recent[seq] = envelope
        if len(recent) > RECENT:
            recent.popitem(last=False)
        if not self._write_scheduled:
            self._write_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.write)
            except RuntimeError:  # no loop (a synchronous caller): write now
                self.write()
        return seq

    def write(self) -> None:
        """Hand the pending lines to the kernel (one ``write``), starting a new segment
        first when the current one is full."""
        self._write_scheduled = False
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        if self._segment_size >= self.segment_bytes:
            self._rotate(self._written_seq + 1)
        data = b"".join(lines)
        assert self._fd is not None  # noqa: S101 - opened above
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self._segment_size += len(data)
        self._written_seq = self.last_seq

    def _rotate(self, first_seq: int) -> None:
        assert self._fd is not None  # noqa: S101 - open
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        self._start_segment(first_seq)

    def sync(self) -> None:
        """Write what is pending and make everything written durable now."""
        self.write()
        if self._fd is not None and self._written_seq > self.synced_seq:
            os.fsync(self._fd)
        self._mark_synced(self._written_seq)

    def _mark_synced(self, seq: int) -> None:
        if seq > self.synced_seq:
            self.synced_seq = seq
            self._synced.set()
            self._synced = asyncio.Event()

    async def run(self) -> None:
        """Sync every ``commit_interval_s`` until cancelled, then sync the rest (the journal
        stays open: events published while the node stops are still written; the owner
        closes it last)."""
        self.open()
        try:
            while True:
                await asyncio.sleep(self.commit_interval_s)
                self.write()
                target, fd, serial = self._written_seq, self._fd, self._segment_serial
                if target > self.synced_seq and fd is not None:
                    try:
                        await asyncio.to_thread(os.fsync, fd)
                    except OSError:
                        if serial == self._segment_serial:
                            raise
                        # the segment was rotated meanwhile, which synced it (and its
                        # descriptor's number may belong to the next segment already)
                    self._mark_synced(target)
        finally:
            self.sync()

    def close(self) -> None:
        """Sync and close the current segment."""
        if self._fd is None:
            return
        self.sync()
        os.close(self._fd)
        self._fd = None
        self._opened = False

    async def synced_after(self, seq: int) -> None:
        """Return once something after ``seq`` is synced."""
        while self.synced_seq <= seq:
            await self._synced.wait()

    # --- reading and pruning -------------------------------------------------------------

    def hold(self, name: str) -> None:
        """Keep every entry for consumer ``name`` until it releases some (consumers say so
        when they are built, before any of them runs and releases)."""
        self._needed.setdefault(name, 0)

    def reader(self, name: str, first_seq: int) -> JournalReader:
        """A reader of the entries from ``first_seq`` on, for consumer ``name`` (which keeps
        them from being deleted until it releases them)."""
        self.open()
        self._needed[name] = first_seq
        return JournalReader(self, first_seq)

    def release(self, name: str, first_needed: int) -> None:
        """Consumer ``name`` no longer needs entries before ``first_needed``: delete the
        segments no consumer needs (never the current one)."""
        self._needed[name] = max(first_needed, self._needed.get(name, 0))
        floor = min(self._needed.values())
        recent = self._recent
        while recent and next(iter(recent)) < floor:
            recent.popitem(last=False)
        while len(self._segments) > 1 and self._segments[1][0] <= floor:
            _first, path = self._segments.pop(0)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def appended(self, seq: int) -> Envelope | None:
        """The envelope this process appended as ``seq``, while it is kept (``RECENT``)."""
        return self._recent.get(seq)

    def segment_holding(self, seq: int) -> tuple[int, Path] | None:
        """The segment holding ``seq`` (the oldest when ``seq`` is older than any)."""
        found = self._segments[0] if self._segments else None
        for segment in self._segments:
            if segment[0] <= seq:
                found = segment
        return found

    def segment_after(self, first_seq: int) -> tuple[int, Path] | None:
        """The segment that follows the one starting at ``first_seq``."""
        return next((segment for segment in self._segments if segment[0] > first_seq), None)

    @property
    def first_seq(self) -> int:
        """The oldest sequence number still on disk (or the next one)."""
        return self._segments[0][0] if self._segments else self.last_seq + 1


class JournalReader:
    """Reads entries in order from the journal's files, up to what is synced."""

    def __init__(self, journal: Journal, first_seq: int) -> None:
        self._journal = journal
        self.next_seq = first_seq
        self._segment = journal.segment_holding(first_seq)
        self._file: BinaryIO | None = None
        self._line = 0
        #: where the next line begins in the open file, kept here: asking the file (`tell`)
        #: is a system call per line, each one handing the interpreter to other threads
        self._offset = 0
        if self._segment is not None and self._segment[0] > first_seq:
            _log.warning("journal: entries missing (deleted before they were applied)",
                         wanted=first_seq, oldest=self._segment[0])

    def read(self, limit: int) -> list[Entry]:
        """Up to ``limit`` synced entries from where the reader is (none when caught up)."""
        entries: list[Entry] = []
        synced = self._journal.synced_seq
        while len(entries) < limit and self.next_seq <= synced and self._segment is not None:
            if self._file is None:
                self._file = self._segment[1].open("rb")
                self._line = self._offset = 0
            position = self._offset
            line = self._file.readline()
            self._offset += len(line)
            if not line.endswith(b"\n"):  # the end of this segment (for now)
                self._file.seek(position)
                self._offset = position
                following = self._journal.segment_after(self._segment[0])
                if following is None:
                    break
                self.close()
                self._segment = following
                continue
            self._line += 1
            entry = self._kept(line)
            if entry is None:
                try:
                    entry = decode_line(line, f"{self._segment[1]}:{self._line}")
                except JournalError as exc:
                    _log.error("journal line skipped", error=str(exc))
                    continue
            if entry.seq > synced:
                self._file.seek(position)
                self._offset = position
                self._line -= 1
                break
            if entry.seq >= self.next_seq:
                entries.append(entry)
                self.next_seq = entry.seq + 1
        return entries

    def _kept(self, line: bytes) -> Entry | None:
        """The entry of ``line`` from the envelope the journal still keeps, if it does."""
        if not line.startswith(_SEQ_PREFIX):
            return None
        end = line.find(b",", len(_SEQ_PREFIX))
        try:
            seq = int(line[len(_SEQ_PREFIX):end])
        except ValueError:
            return None
        envelope = self._journal.appended(seq)
        return None if envelope is None else Entry(seq, envelope)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
