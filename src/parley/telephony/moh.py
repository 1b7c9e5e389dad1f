"""Music on hold: named classes of looping files, started and stopped without glitches.

A class is a directory of WAV files played in name order (or an explicit list of files);
``default`` is Debian's ``asterisk-moh-opsound-wav`` in ``/usr/share/asterisk/moh``. Files are
converted to 8 kHz once through the prompt library's cache and shared by every channel on
hold. Each channel has its own :class:`HoldMusic`, which remembers where the music was: take a
caller off hold and back on, and the music goes on from the same frame, fading in over 20 ms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from parley.config import MediaSettings
from parley.media import MediaError
from parley.media.player import LoopSource, Player
from parley.telephony.prompts import Prompt, PromptLibrary

DEFAULT_MOH_DIR = Path("/usr/share/asterisk/moh")  # where the package puts its tracks
DEFAULT_MOH_PACKAGE = "asterisk-moh-opsound-wav"
DEFAULT_CLASS = "default"


class MohError(MediaError):
    """An unknown hold-music class, or a class without playable files."""


class MusicOnHold:
    """The hold-music classes of the site; one per process, built by the composition root."""

    def __init__(self, prompts: PromptLibrary,
                 classes: Mapping[str, Path | Sequence[Path]] | None = None) -> None:
        self.prompts = prompts
        self.classes: dict[str, Path | list[Path]] = {
            name: (Path(spec) if isinstance(spec, (str, Path)) else [Path(p) for p in spec])
            for name, spec in (classes or {DEFAULT_CLASS: DEFAULT_MOH_DIR}).items()}
        self._tracks: dict[str, list[Prompt]] = {}

    @classmethod
    def from_settings(cls, prompts: PromptLibrary, media: MediaSettings) -> MusicOnHold:
        """``default`` from ``media.moh_dir`` plus the named ``media.moh_classes``."""
        return cls(prompts, {DEFAULT_CLASS: media.moh_dir, **media.moh_classes})

    def class_names(self) -> list[str]:
        return sorted(self.classes)

    def files(self, name: str) -> list[Path]:
        """The files of class ``name``, in play order."""
        spec = self.classes.get(name)
        if spec is None:
            known = ", ".join(self.class_names()) or "none"
            raise MohError(f"unknown hold-music class {name!r} (known classes: {known})")
        if isinstance(spec, list):
            return spec
        hint = f" (install Debian's {DEFAULT_MOH_PACKAGE})" if spec == DEFAULT_MOH_DIR else ""
        if not spec.is_dir():
            raise MohError(f"hold-music class {name!r}: directory {spec} does not exist{hint}")
        found = sorted(p for p in spec.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
        if not found:
            raise MohError(f"hold-music class {name!r}: no .wav files in {spec}{hint}")
        return found

    def tracks(self, name: str = DEFAULT_CLASS) -> list[Prompt]:
        """The class's audio, loaded and converted on first use (the node warms every class
        as it starts: ``Telephony._warm_hold_music``)."""
        loaded = self._tracks.get(name)
        if loaded is None:
            loaded = [self.prompts.load_file(path) for path in self.files(name)]
            self._tracks[name] = loaded
        return loaded

    def hold_music(self, name: str = DEFAULT_CLASS, start_track: int = 0) -> HoldMusic:
        """A channel's hold-music state for class ``name``."""
        tracks = self.tracks(name)
        return HoldMusic(name, LoopSource([t.pcm for t in tracks], f"moh:{name}", start_track))


class HoldMusic:
    """One channel's hold music: start and stop as often as needed; it continues each time."""

    def __init__(self, class_name: str, source: LoopSource) -> None:
        self.class_name = class_name
        self.source = source
        self.player: Player | None = None

    @property
    def playing(self) -> bool:
        return self.player is not None and self.player.finished is None

    def start(self, playback_id: str = "") -> Player:
        """A player for the playout that resumes the music (fading in); idempotent."""
        if self.player is not None and self.player.finished is None:
            return self.player
        self.source.resume()
        self.player = Player([self.source], playback_id=playback_id or f"moh:{self.class_name}")
        return self.player

    def stop(self) -> None:
        """Stop after the last whole frame played; the next start continues from there."""
        if self.player is not None:
            self.player.stop()
            self.player = None
