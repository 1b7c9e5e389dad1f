"""Finished recordings and voicemail messages compressed to FLAC, off the event loop.

A call recording is a stereo WAV of 16-bit samples at 8 kHz: about 115 MB per hour. Once it
is finished (``RecordingStored``: the call ended or the recording was stopped;
``VoicemailLeft``: a message was left) and its row is in the store, this service makes a
verified ``NAME.flac`` beside it (:func:`parley.telephony.flac.compress_wav`: lossless,
channels kept, in a helper process at the lowest CPU priority, one file at a time), points
the row at it (path, ``audio/flac``, ``size_bytes``) in one committed update that holds only
if the row still names the WAV, rewrites the JSON sidecar, and only then removes the WAV.

Nothing is lost on a crash or stop at any point: a ``.flac.part`` is an unverified leftover
(removed at start); a ``.flac`` beside a WAV whose row names the WAV is compressed again; a
WAV whose row already names the ``.flac`` is removed. At start every row that still names a
WAV is queued again (recordings made before FLAC was chosen too), a page of rows at a time.

The work queue is bounded: recordings finishing faster than one worker compresses them wait
on the live bus's bounded subscription; if that overflows, the rows are found again by a
sweep once the queue is empty. ``recording_format: wav`` turns all of this off.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import Event
from typing import Any, Literal

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from parley.bus import Envelope, LiveBus, Subscription
from parley.events import RecordingStored, VoicemailLeft
from parley.store import Store
from parley.store import models as m
from parley.telephony.flac import Compressed, CompressError, Compressor, Stopped, part_of

log = structlog.get_logger("parley.recordings")

RecordingFormat = Literal["flac", "wav"]
Table = Literal["recordings", "voicemails"]
_MODELS: dict[Table, type[m.Recording] | type[m.Voicemail]] = {
    "recordings": m.Recording, "voicemails": m.Voicemail}
PAGE = 500  # rows read at a time by the sweep


@dataclass(frozen=True, slots=True)
class Job:
    """Compress the WAV a row names (``table``, ``row_id``)."""

    table: Table
    row_id: str
    wav: Path
    waits: int = 0  # times the row was not written yet


@dataclass
class CompressFigures:
    """What the service has done since start (for logs, tests and benchmarks)."""

    compressed: int = 0
    failed: int = 0
    wav_bytes: int = 0
    flac_bytes: int = 0
    swept: int = 0  # rows queued by sweeps


class RecordingFiles:
    """The node's recording compressor (see the module docstring)."""

    def __init__(self, store: Store, bus: LiveBus, *, recordings_dir: Path,
                 voicemail_dir: Path, recording_format: RecordingFormat = "flac",
                 queue_size: int = 256, row_wait_s: float = 600.0) -> None:
        self._store = store
        self._bus = bus
        self.folders = (Path(recordings_dir), Path(voicemail_dir))
        self.format = recording_format
        self.queue_size = queue_size
        self.row_wait_s = row_wait_s
        self.figures = CompressFigures()
        self._jobs: asyncio.Queue[Job] = asyncio.Queue(queue_size)
        self._later: list[tuple[float, Job]] = []  # rows not written yet: look again then
        self._pending: set[tuple[Table, str]] = set()  # queued or in hand
        self._sweep_wanted = asyncio.Event()
        self._sweeping = recording_format == "flac"  # until the start's sweep has run
        self._busy = False
        self._feed: Subscription | None = None
        self._dropped = 0
        self._stop = Event()
        self._executor: ThreadPoolExecutor | None = None
        self._compressor = Compressor()

    # --- running ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Compress until cancelled; a stop abandons the file in hand (kept as a WAV)."""
        if self.format != "flac":
            return
        self._stop.clear()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="recording-compress")
        try:
            async with self._bus.subscribe(self._accept, size=self.queue_size) as feed:
                self._feed = feed
                try:
                    await self._finish_leftovers(await self._in_thread(self._clean_files))
                except Exception:  # a folder or the store unreadable: the sweep still runs
                    log.exception("recording_leftovers_not_checked")
                self._sweep_wanted.set()
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._listen(feed))
                    group.create_task(self._sweeps())
                    group.create_task(self._work())
        finally:
            self._stop.set()  # the job in hand ends within 0.2 s, then the helper
            self._executor.submit(self._compressor.close)
            self._executor.shutdown(wait=False)
            self._feed = None

    def sweep_again(self) -> None:
        """Look again for rows that name a WAV (recordings filed other than through the
        bus: repaired after a takeover)."""
        self._sweep_wanted.set()

    @property
    def idle(self) -> bool:
        """Nothing queued, in hand, waiting for its row or being swept."""
        return not (self._jobs.qsize() or self._later or self._busy or self._sweeping
                    or self._sweep_wanted.is_set() or (self._feed and self._feed.backlog))

    async def settled(self, within: float = 30.0) -> None:
        """Wait until :attr:`idle` (tests and benchmarks); TimeoutError after ``within``."""
        async with asyncio.timeout(within):
            while not self.idle:  # noqa: ASYNC110 - several conditions, polled
                await asyncio.sleep(0.05)

    @staticmethod
    def _accept(envelope: Envelope) -> bool:
        return isinstance(envelope.event, RecordingStored | VoicemailLeft)

    async def _in_thread(self, call: Any, *args: Any) -> Any:
        assert self._executor is not None  # noqa: S101 - set by run()
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    async def _listen(self, feed: Subscription) -> None:
        async for envelope in feed:
            event = envelope.event
            if isinstance(event, RecordingStored):
                await self._queue(Job("recordings", event.recording_id, Path(event.path)))
            elif isinstance(event, VoicemailLeft):
                await self._queue(Job("voicemails", event.voicemail_id, Path(event.path)))
            if feed.dropped > self._dropped:  # the bus dropped some: find them in the store
                log.warning("recording_compress_behind", dropped=feed.dropped - self._dropped)
                self._dropped = feed.dropped
                self._sweep_wanted.set()

    async def _queue(self, job: Job) -> None:
        key = (job.table, job.row_id)
        if key in self._pending or job.wav.suffix.lower() != ".wav":
            return
        self._pending.add(key)
        await self._jobs.put(job)

    async def _sweeps(self) -> None:
        """Queue every row that names a WAV: at start, and after the bus dropped events."""
        while True:
            await self._sweep_wanted.wait()
            if self.figures.swept:  # a later sweep: once the queue has drained
                await self._jobs.join()
            self._sweeping = True
            self._sweep_wanted.clear()
            try:
                for table in _MODELS:
                    async for row_id, path in self._rows_naming_wavs(table):
                        self.figures.swept += 1
                        await self._queue(Job(table, row_id, Path(path)))
            except Exception:  # the database busy or away: try again a little later
                log.exception("recording_sweep_deferred")
                self._sweep_wanted.set()
                await asyncio.sleep(5)
            finally:
                self._sweeping = False

    async def _rows_naming_wavs(self, table: Table) -> Any:
        model = _MODELS[table]
        last = ""
        while True:
            query = select(model.id, model.path).where(model.path.like("%.wav"),
                                                       model.id > last)
            if model is m.Recording:  # not those whose file the retention sweep deleted
                query = query.where(m.Recording.deleted_at.is_(None))
            async with self._store.sessions() as session:
                rows = (await session.execute(query.order_by(model.id).limit(PAGE))).all()
            for row_id, path in rows:
                yield row_id, path
            if len(rows) < PAGE:
                return
            last = rows[-1][0]

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for due, job in [item for item in self._later if item[0] <= now]:
                if self._jobs.full():
                    break
                self._later.remove((due, job))
                self._jobs.put_nowait(job)
            try:  # idle, it sleeps until a job comes (or a deferred one is due)
                next_due = min((at for at, _job in self._later), default=None)
                async with asyncio.timeout(None if next_due is None
                                           else max(0.05, next_due - now)):
                    job = await self._jobs.get()
            except TimeoutError:
                continue
            self._busy = True
            try:
                await self._process(job)
            except (CompressError, OSError) as exc:
                self.figures.failed += 1
                log.warning("recording_not_compressed", path=str(job.wav), error=str(exc),
                            kept="the WAV")
            except OperationalError:
                self._defer(job, busy=True)
            except Exception:  # one bad file must not stop the others
                self.figures.failed += 1
                log.exception("recording_not_compressed", path=str(job.wav))
            finally:
                self._busy = False
                self._jobs.task_done()
                if not any(key == (job.table, job.row_id) for key in self._later_keys()):
                    self._pending.discard((job.table, job.row_id))

    def _later_keys(self) -> Iterator[tuple[Table, str]]:
        return ((job.table, job.row_id) for _due, job in self._later)

    def _defer(self, job: Job, *, busy: bool = False) -> None:
        """Look again later (the row is not written yet, or the database was busy)."""
        delay = min(30.0, 0.5 * 2 ** job.waits)
        spent = sum(min(30.0, 0.5 * 2 ** n) for n in range(job.waits))
        if not busy and spent >= self.row_wait_s:
            log.warning("recording_row_missing", path=str(job.wav), row=job.row_id,
                        kept="the WAV; it is compressed at a later start if its row appears")
            return
        due = asyncio.get_running_loop().time() + delay
        self._later.append((due, Job(job.table, job.row_id, job.wav, job.waits + 1)))

    # --- one file -----------------------------------------------------------------------------
    async def _process(self, job: Job) -> None:
        wav, flac = job.wav, job.wav.with_suffix(".flac")
        named = await self._row_path(job)
        if named is None:
            self._defer(job)
            return
        if named == str(flac):  # compressed and committed; the WAV may be left over
            await self._in_thread(finish, wav, flac)
            return
        if named != str(wav):
            return  # the row names another file: not this job's
        if not await self._in_thread(_ready, wav):
            if await self._in_thread(flac.is_file):  # the WAV went after a verified copy
                await self._commit(job, wav, flac, (await self._in_thread(flac.stat)).st_size)
            return
        result: Compressed = await self._in_thread(self._compressor.compress, wav, self._stop)
        if await self._commit(job, wav, flac, result.size_bytes):
            await self._in_thread(finish, wav, flac)
            self.figures.compressed += 1
            self.figures.wav_bytes += result.wav_bytes + 44
            self.figures.flac_bytes += result.size_bytes
            log.info("recording_compressed", path=str(flac), wav_bytes=result.wav_bytes,
                     flac_bytes=result.size_bytes)
        elif await self._row_path(job) != str(flac):  # the row went or changed meanwhile
            await self._in_thread(lambda: flac.unlink(missing_ok=True))

    async def _row_path(self, job: Job) -> str | None:
        model = _MODELS[job.table]
        async with self._store.sessions() as session:
            path: str | None = await session.scalar(select(model.path).where(
                model.id == job.row_id))
            return path

    async def _commit(self, job: Job, wav: Path, flac: Path, size: int) -> bool:
        """Point the row at the FLAC if it still names the WAV; whether it did."""
        model = _MODELS[job.table]
        values: dict[str, Any] = {"path": str(flac), "size_bytes": size}
        if job.table == "recordings":
            values["media_type"] = "audio/flac"
        condition = [model.id == job.row_id, model.path == str(wav)]
        if model is m.Recording:  # a recording the retention sweep deleted stays deleted
            condition.append(m.Recording.deleted_at.is_(None))
        async with self._store.sessions() as session, session.begin():
            result = await session.execute(update(model).where(*condition).values(**values))
            return bool(getattr(result, "rowcount", 0) == 1)

    # --- files (on the worker thread) ---------------------------------------------------------
    def _clean_files(self) -> list[tuple[Path, Path]]:
        """At start: remove unverified ``.flac.part`` files; the WAVs that have a verified
        FLAC beside them (a stop came between the two)."""
        pairs = []
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for part in folder.rglob("*.flac.part"):
                log.warning("recording_part_removed", path=str(part))
                part.unlink(missing_ok=True)
            for wav in folder.rglob("*.wav"):
                flac = wav.with_suffix(".flac")
                if flac.is_file():
                    pairs.append((wav, flac))
        return pairs

    async def _finish_leftovers(self, pairs: list[tuple[Path, Path]]) -> None:
        """A WAV whose row already names its FLAC is removed (a row naming the WAV is the
        sweep's: compressed again)."""
        for wav, flac in pairs:
            for model in _MODELS.values():
                async with self._store.sessions() as session:
                    found = await session.scalar(select(model.id).where(
                        model.path == str(flac)).limit(1))
                if found is not None:
                    log.warning("recording_wav_left_over_removed", path=str(wav))
                    await self._in_thread(finish, wav, flac)
                    break


def _ready(wav: Path) -> bool:
    """Whether the WAV is there and finished (its sidecar, if any, says complete)."""
    if not wav.is_file():
        return False
    sidecar = wav.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return True  # no sidecar (or unreadable): the row says the file is finished
    return not isinstance(meta, dict) or bool(meta.get("complete", True))


def finish(wav: Path, flac: Path) -> None:
    """After the row names the FLAC: the sidecar names it too, then the WAV goes."""
    sidecar = wav.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        meta = None
    if isinstance(meta, dict) and meta.get("file") == wav.name:
        meta["file"] = flac.name
        if isinstance(meta.get("format"), dict):
            meta["format"]["encoding"] = "flac"
        part = sidecar.with_suffix(".json.part")
        part.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        os.replace(part, sidecar)
    wav.unlink(missing_ok=True)


__all__ = ["CompressFigures", "Job", "RecordingFiles", "RecordingFormat", "Stopped",
           "finish", "part_of"]
