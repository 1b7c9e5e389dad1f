"""Prompts admins upload or type, kept in the store, and each node's copy of them on disk.

The store holds every uploaded or typed prompt (its audio as the library plays it, 8 kHz mono
16-bit WAV, and the text of a typed one), so that a second node, a restored backup or a
replaced disk has them too. The prompt library plays files, so each node mirrors the store
into its uploaded-prompts folder (``<data_dir>/prompts/<language>/<name>.wav``, and
``<name>.txt`` for the text): at start, after each change made through this node, and every
half minute for changes made through another node. A manifest in that folder
(``.store.json``: each prompt's stored time) tells which files are current, so a sync reads
only the audio that changed. The first sync of a folder that has no manifest yet takes the
files already there into the store (a site upgraded from the time prompts were only files
keeps them).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley.clock import Clock
from parley.store import models as m

log = structlog.get_logger("parley.store.prompts")

MANIFEST = ".store.json"
SYNC_EVERY_S = 30.0
WAV_HEADER = 44
BYTES_PER_SECOND = 16_000  # 8 kHz, 16-bit, mono


@dataclass(frozen=True, slots=True)
class PromptInfo:
    """A stored prompt without its audio."""

    language: str
    name: str
    size: int  # bytes of WAV
    text: str | None
    updated_at: datetime

    @property
    def duration_s(self) -> float:
        return round(max(0, self.size - WAV_HEADER) / BYTES_PER_SECOND, 2)


@dataclass(frozen=True, slots=True)
class PromptAudio:
    """A stored prompt with its audio."""

    info: PromptInfo
    audio: bytes


class PromptRepository:
    """Stored prompts by language and name; each call is its own transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def list(self) -> list[PromptInfo]:
        """Every stored prompt, by language and name (the audio is not read)."""
        query = select(m.Prompt.language, m.Prompt.name, func.length(m.Prompt.audio),
                       m.Prompt.text, m.Prompt.updated_at
                       ).order_by(m.Prompt.language, m.Prompt.name)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [PromptInfo(language, name, int(size or 0), text, updated_at)
                for language, name, size, text, updated_at in rows]

    async def get(self, language: str, name: str) -> PromptAudio | None:
        async with self._sessions() as session:
            row = await session.scalar(select(m.Prompt).where(
                m.Prompt.language == language, m.Prompt.name == name))
        if row is None:
            return None
        return PromptAudio(PromptInfo(row.language, row.name, len(row.audio), row.text,
                                      row.updated_at), row.audio)

    async def put(self, language: str, name: str, audio: bytes, text: str | None,
                  at: datetime) -> PromptInfo:
        """Store (or replace) a prompt; ``text`` is what a typed one speaks."""
        async with self._sessions() as session, session.begin():
            row = await session.scalar(select(m.Prompt).where(
                m.Prompt.language == language, m.Prompt.name == name))
            if row is None:
                session.add(m.Prompt(language=language, name=name, audio=audio, text=text,
                                     updated_at=at))
            else:
                row.audio, row.text, row.updated_at = audio, text, at
        return PromptInfo(language, name, len(audio), text, at)

    async def delete(self, language: str, name: str) -> bool:
        """Delete a prompt; False: there was none."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(delete(m.Prompt).where(
                m.Prompt.language == language, m.Prompt.name == name))
        return bool(getattr(result, "rowcount", 0))


def _write(path: Path, data: bytes) -> None:
    """Write atomically, so that a call never plays half a prompt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_FOLDER_LOCKS: dict[Path, asyncio.Lock] = {}
"""A sync of a folder at a time: two at once could each rewrite its manifest."""


class PromptMirror:
    """This node's copy of the stored prompts in its uploaded-prompts ``folder``."""

    def __init__(self, prompts: PromptRepository, folder: Path, clock: Clock,
                 languages: tuple[str, ...]) -> None:
        self.prompts = prompts
        self.folder = folder
        self.clock = clock
        self.languages = languages
        # one lock per folder, whichever mirror of it runs (the node's, an API request's)
        self._lock = _FOLDER_LOCKS.setdefault(folder.resolve(), asyncio.Lock())

    def _manifest(self) -> dict[str, str] | None:
        path = self.folder / MANIFEST
        try:
            loaded = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("prompt_manifest_unreadable", path=str(path))
            return {}
        return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}

    async def _adopt_files(self) -> dict[str, str]:
        """Store the prompts found in a folder that was never mirrored (kept as files
        before prompts were stored), a prompt the store has already left as stored; the
        manifest entries of those adopted (their files are current)."""
        stored = {(p.language, p.name) for p in await self.prompts.list()}
        adopted: dict[str, str] = {}
        for language in self.languages:
            folder = self.folder / language
            if not folder.is_dir():
                continue
            for wav in sorted(folder.glob("*.wav")):
                if (language, wav.stem) in stored:
                    continue
                text_file = wav.with_suffix(".txt")
                text = text_file.read_text("utf-8") if text_file.is_file() else None
                at = datetime.fromtimestamp(wav.stat().st_mtime, UTC)
                await self.prompts.put(language, wav.stem, wav.read_bytes(), text, at)
                adopted[f"{language}/{wav.stem}"] = at.isoformat()
        if adopted:
            log.info("prompts_adopted", count=len(adopted), folder=str(self.folder))
        return adopted

    async def sync(self) -> int:
        """Bring the folder to what the store holds; the number of files written or removed."""
        async with self._lock:
            manifest = self._manifest()
            if manifest is None:
                manifest = await self._adopt_files()
            changed = 0
            stored = {f"{p.language}/{p.name}": p for p in await self.prompts.list()}
            for key, info in stored.items():
                stamp = info.updated_at.isoformat()
                wav = self.folder / info.language / f"{info.name}.wav"
                if manifest.get(key) == stamp and wav.is_file():
                    continue
                found = await self.prompts.get(info.language, info.name)
                if found is None:
                    continue  # deleted meanwhile: the next sync removes it
                await asyncio.to_thread(_write, wav, found.audio)
                text = wav.with_suffix(".txt")
                if found.info.text is None:
                    text.unlink(missing_ok=True)
                else:
                    await asyncio.to_thread(_write, text, found.info.text.encode())
                manifest[key] = found.info.updated_at.isoformat()
                changed += 1
            for key in [key for key in manifest if key not in stored]:
                language, _, name = key.partition("/")
                for suffix in (".wav", ".txt"):
                    (self.folder / language / f"{name}{suffix}").unlink(missing_ok=True)
                del manifest[key]
                changed += 1
            await asyncio.to_thread(_write, self.folder / MANIFEST,
                                    json.dumps(manifest, sort_keys=True).encode())
            return changed

    async def run(self) -> None:
        """Sync every half minute (changes made through another node), until cancelled."""
        while True:
            await self.clock.sleep(SYNC_EVERY_S)
            try:
                await self.sync()
            except Exception:
                log.exception("prompt_sync_failed", folder=str(self.folder))
