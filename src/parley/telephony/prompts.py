"""The prompt library: stock prompts by name, numbers, digits, durations, speech, playlists.

Prompts are looked up in a list of directories: the site's own first, then the stock English
prompts of Debian's ``asterisk-core-sounds-en-wav``. That package puts them in
``/usr/share/asterisk/sounds/en_US_f_Allison``; ``/usr/share/asterisk/sounds/en`` exists only
as an alternative (a link to one voice) made by the recommended ``asterisk-core-sounds-en``,
so both are searched, the link first, as it is the operator's choice. Each file is converted
once to 8 kHz mono 16-bit and cached under the data directory, keyed by the source path, its
modification time and size, so an edited prompt is converted again and an unchanged one never
is. Text-to-speech runs espeak-ng and caches the result by voice and text.

Each language has its own folders: English as above; Russian the site's Russian folders, then
Debian's ``asterisk-core-sounds-ru-wav`` (``/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU``).
A prompt missing in the caller's language is an error, never the English file instead. The
few words Russian grammar needs that the package lacks (:data:`parley.media.say_ru.NOT_SHIPPED`)
are spoken with the language's voice until the site records them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from parley.config import LANGUAGES, STOCK_PROMPT_DIRS, MediaSettings, prompts_dir
from parley.media import MediaError
from parley.media.audio import (
    TELEPHONY_RATE,
    Pcm,
    decode_wav,
    encode_wav,
    to_pcm16,
    to_telephony,
)
from parley.media.player import PcmSource, Player, Source
from parley.media.say import digit_prompts, duration_prompts, number_prompts
from parley.media.say_ru import NOT_SHIPPED as RU_NOT_SHIPPED
from parley.media.tones import ToneSource, ToneSpec

STOCK_SOUND_DIRS = STOCK_PROMPT_DIRS
STOCK_SOUNDS_PACKAGE = "asterisk-core-sounds-en-wav"
DEFAULT_VOICE = "en-us"
DEFAULT_LANGUAGE = "en"
STOCK_PACKAGES = {"en": STOCK_SOUNDS_PACKAGE, "ru": "asterisk-core-sounds-ru-wav"}
SPOKEN_WORDS: dict[str, dict[str, str]] = {"ru": RU_NOT_SHIPPED}
"""Per language, the grammar's words no stock package ships: spoken until recorded."""
ESPEAK_TIMEOUT_S = 20.0


class PromptError(MediaError):
    """A prompt cannot be found, read or spoken; the message names it and where it was sought."""


def find_stock_sounds(candidates: Sequence[Path] = STOCK_SOUND_DIRS) -> Path | None:
    """The first of ``candidates`` that holds the stock prompts (it has their ``digits/``
    folder), or None when none does."""
    for directory in candidates:
        if (directory / "digits").is_dir():
            return directory
    return None


def search_dirs(site_dirs: Sequence[Path], stock_dirs: Sequence[Path]) -> list[Path]:
    """The site's folders first, then the stock ones, each folder once."""
    ordered: list[Path] = []
    for directory in (*site_dirs, *stock_dirs):
        path = Path(directory)
        if path not in ordered:
            ordered.append(path)
    return ordered


@dataclass(frozen=True, slots=True, eq=False)
class Prompt:
    """Prompt audio ready to play: 8 kHz mono int16 samples and where they came from."""

    name: str
    pcm: Pcm
    source: str

    @property
    def duration(self) -> float:
        return len(self.pcm) / TELEPHONY_RATE

    def to_source(self) -> PcmSource:
        """A fresh playback source over this prompt's (shared) samples."""
        return PcmSource(self.pcm, self.name)


class PromptLibrary:
    """Finds, converts and caches prompts; one per process, built by the composition root."""

    def __init__(self, sound_dirs: Sequence[Path] = STOCK_SOUND_DIRS, *,
                 cache_dir: Path, espeak: str = "espeak-ng", voice: str = DEFAULT_VOICE,
                 language_dirs: Mapping[str, Sequence[Path]] | None = None,
                 voices: dict[str, str] | None = None,
                 default_language: str = DEFAULT_LANGUAGE,
                 uploads: Path | None = None) -> None:
        if not sound_dirs:
            raise PromptError("the prompt library needs at least one sound directory")
        self.sound_dirs = [Path(d) for d in sound_dirs]
        self.language_dirs = {name: [Path(d) for d in dirs]
                              for name, dirs in (language_dirs or {}).items()}
        self.cache_dir = Path(cache_dir)
        self.espeak = espeak
        self.voice = voice
        self.voices = {DEFAULT_LANGUAGE: voice, **(voices or {})}
        self.default_language = default_language  # the site's: calls no one chose one for
        #: the prompts admins upload or type, a folder per language, searched first
        self.uploads = Path(uploads) if uploads is not None else None
        self._loaded: dict[tuple[str, int, int], Prompt] = {}

    @classmethod
    def from_settings(cls, media: MediaSettings, data_dir: Path) -> PromptLibrary:
        """The library the composition root builds: the site's ``prompt_dirs`` before the
        ``stock_prompt_dirs`` (English); per other language its ``language_prompt_dirs``
        before its ``stock_language_prompt_dirs``; before all of them the prompts uploaded
        through the admin pages (``<data_dir>/prompts/<language>``); cache in
        ``<data_dir>/cache``."""
        english = [*media.language_prompt_dirs.get(DEFAULT_LANGUAGE, []), *media.prompt_dirs]
        others = {name: search_dirs(media.language_prompt_dirs.get(name, []),
                                    media.stock_language_prompt_dirs.get(name, []))
                  for name in LANGUAGES if name != DEFAULT_LANGUAGE}
        return cls(search_dirs(english, media.stock_prompt_dirs),
                   cache_dir=data_dir / "cache", espeak=media.espeak, voice=media.tts_voice,
                   language_dirs=others, voices=media.tts_voices,
                   default_language=media.language, uploads=prompts_dir(data_dir))

    def dirs_for(self, language: str | None = None) -> list[Path]:
        """The folders searched for prompts in ``language`` (None: the site's): the uploaded
        prompts' folder first."""
        language = language or self.default_language
        if language == DEFAULT_LANGUAGE:
            dirs = self.sound_dirs
        elif language not in self.language_dirs:
            raise PromptError(f"no prompt folders for language {language!r} "
                              f"(known: {', '.join([DEFAULT_LANGUAGE, *self.language_dirs])})")
        else:
            dirs = self.language_dirs[language]
        uploaded = self.upload_dir(language)
        return dirs if uploaded is None else [uploaded, *dirs]

    def upload_dir(self, language: str) -> Path | None:
        """The folder of ``language``'s uploaded prompts (None: this library has none)."""
        return None if self.uploads is None else self.uploads / language

    def voice_for(self, language: str | None = None) -> str:
        """The espeak-ng voice that speaks ``language`` (``tts_voices``; English:
        ``tts_voice``)."""
        language = language or self.default_language
        if language == DEFAULT_LANGUAGE:
            return self.voice
        return self.voices.get(language, language)

    # --- files ------------------------------------------------------------------------------
    def path_of(self, name: str, language: str | None = None) -> Path:
        """The file that plays as ``name`` (``queue-thereare``, ``digits/5``, ``sub/x.wav``)
        in ``language`` (None: English)."""
        clean = name.strip()
        if not clean or clean.startswith(("/", "\\")) or ".." in Path(clean).parts:
            raise PromptError(f"prompt name {name!r} must be a relative name such as "
                              "'queue-thereare' or 'digits/5'")
        relative = clean if clean.lower().endswith(".wav") else f"{clean}.wav"
        dirs = self.dirs_for(language)
        for directory in dirs:
            candidate = directory / relative
            if candidate.is_file():
                return candidate
        looked = ", ".join(str(d / relative) for d in dirs) or "no folder"
        hint = ""
        if find_stock_sounds(dirs) is None:
            package = STOCK_PACKAGES.get(language or self.default_language,
                                         STOCK_SOUNDS_PACKAGE)
            hint = (" (none of these folders holds the stock prompts: install Debian's "
                    f"{package})")
        shown = language or self.default_language
        where = "" if shown == DEFAULT_LANGUAGE else f" in language {shown!r}"
        raise PromptError(f"prompt {name!r} not found{where}; looked for {looked}{hint}")

    def exists(self, name: str, language: str | None = None) -> bool:
        """Whether ``name`` plays in ``language``: a file, or a grammar word spoken until it
        is recorded."""
        if self.spoken_word(name, language) is not None:
            return True
        try:
            self.path_of(name, language)
        except PromptError:
            return False
        return True

    def spoken_word(self, name: str, language: str | None = None) -> str | None:
        """The text of ``name`` when it is a grammar word that no folder of ``language``
        holds (it is then spoken), else None."""
        words = SPOKEN_WORDS.get(language or self.default_language, {})
        if name not in words:
            return None
        try:
            self.path_of(name, language)
        except PromptError:
            return words[name]
        return None

    def load(self, name: str, language: str | None = None) -> Prompt:
        """A stock or site prompt by name, converted to 8 kHz (from the cache when it can)."""
        return self.load_file(self.path_of(name, language), name=name)

    async def load_async(self, name: str, language: str | None = None) -> Prompt:
        """:meth:`load` off the event loop: converting a long or high-rate file takes tens of
        milliseconds, which must not delay the 20 ms media ticks."""
        return await asyncio.to_thread(self.load, name, language)

    def load_file(self, path: Path, *, name: str | None = None) -> Prompt:
        """Any WAV file by path (an uploaded announcement, a hold-music track)."""
        path = Path(path)
        try:
            stat = path.stat()
        except OSError as exc:
            raise PromptError(f"prompt file {path} cannot be read: {exc.strerror}") from exc
        memo_key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        cached = self._loaded.get(memo_key)
        if cached is not None:
            return cached
        digest = hashlib.sha256("\0".join(map(str, memo_key)).encode()).hexdigest()[:32]
        cache_file = self.cache_dir / "prompts" / f"{digest}.wav"
        pcm = self._read_cache(cache_file)
        if pcm is None:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise PromptError(f"prompt file {path} cannot be read: {exc.strerror}") from exc
            pcm = to_telephony(decode_wav(data, str(path)))
            self._write_cache(cache_file, pcm)
        prompt = Prompt(name or path.stem, pcm, str(path))
        self._loaded[memo_key] = prompt
        return prompt

    @staticmethod
    def _read_cache(cache_file: Path) -> Pcm | None:
        try:
            data = cache_file.read_bytes()
        except FileNotFoundError:
            return None
        try:
            audio = decode_wav(data, str(cache_file))
        except MediaError:
            return None  # a damaged cache entry is simply converted again
        if audio.rate != TELEPHONY_RATE or audio.channels != 1:
            return None
        return to_pcm16(audio.samples[:, 0])

    @staticmethod
    def _write_cache(cache_file: Path, pcm: Pcm) -> None:
        """Write atomically (temporary file, then rename) so readers never see half a file."""
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(encode_wav(pcm))
            os.replace(tmp, cache_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # --- composed prompts -------------------------------------------------------------------
    def playlist(self, items: Iterable[str | Prompt],
                 language: str | None = None) -> list[Prompt]:
        """Names and prompts in order, loaded; a missing name fails before anything plays."""
        return [item if isinstance(item, Prompt) else self.load(item, language)
                for item in items]

    def player(self, items: Iterable[str | Prompt | ToneSpec | Source], *, loop: bool = False,
               playback_id: str = "", language: str | None = None) -> Player:
        """A player for a playlist of prompt names, prompts, tones and other sources
        (``SilenceSource(500)`` for a pause). Every name is loaded first, so a missing
        prompt fails before anything plays."""
        sources: list[Source] = []
        for item in items:
            if isinstance(item, str):
                sources.append(self.load(item, language).to_source())
            elif isinstance(item, Prompt):
                sources.append(item.to_source())
            elif isinstance(item, ToneSpec):
                sources.append(ToneSource(item))
            else:
                sources.append(item)
        return Player(sources, loop=loop, playback_id=playback_id)

    def number(self, number: int) -> list[Prompt]:
        """Say a number: 1234 is "one thousand two hundred thirty four"."""
        return self.playlist(number_prompts(number))

    def digits(self, digits: str) -> list[Prompt]:
        """Say digits one by one: "5551234" is "five five five one two three four"."""
        return self.playlist(digit_prompts(digits))

    def duration(self, seconds: float) -> list[Prompt]:
        """Say a duration in minutes and seconds."""
        return self.playlist(duration_prompts(seconds))

    # --- text-to-speech ---------------------------------------------------------------------
    async def speak(self, text: str, voice: str | None = None) -> Prompt:
        """Text-to-speech through espeak-ng (the library's voice unless one is given), cached
        by voice and text."""
        voice = self.voice_for(None) if voice is None else voice
        if not text.strip():
            raise PromptError("text-to-speech needs some text")
        if not voice or voice.startswith("-") or any(c.isspace() for c in voice):
            raise PromptError(f"voice {voice!r} is not a valid espeak-ng voice name")
        digest = hashlib.sha256(f"{voice}\0{text}".encode()).hexdigest()[:32]
        cache_file = self.cache_dir / "tts" / f"{digest}.wav"
        label = f"tts:{voice}:{text[:40]}"
        pcm = self._read_cache(cache_file)
        if pcm is None:
            wav = await self._run_espeak(text, voice)
            pcm = to_telephony(decode_wav(wav, f"espeak-ng output for {text[:40]!r}"))
            self._write_cache(cache_file, pcm)
        return Prompt(label, pcm, str(cache_file))

    async def _run_espeak(self, text: str, voice: str) -> bytes:
        try:
            process = await asyncio.create_subprocess_exec(
                self.espeak, "-v", voice, "--stdout", "--stdin",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except FileNotFoundError as exc:
            raise PromptError(f"text-to-speech needs {self.espeak!r}, which is not installed "
                              "(Debian package espeak-ng)") from exc
        try:
            async with asyncio.timeout(ESPEAK_TIMEOUT_S):
                out, err = await process.communicate(text.encode())
        except TimeoutError as exc:
            process.kill()
            await process.wait()
            raise PromptError(f"espeak-ng took longer than {ESPEAK_TIMEOUT_S:.0f} s") from exc
        if process.returncode != 0 or not out:
            message = err.decode(errors="replace").strip() or f"exit status {process.returncode}"
            raise PromptError(f"espeak-ng failed for voice {voice!r}: {message}")
        return out
