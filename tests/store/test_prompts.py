"""Prompts live in the store and each node mirrors them to its disk: a prompt saved through one
node plays on another after its next sync, a changed one is rewritten, a deleted one goes;
a node upgraded from the time prompts were only files gives them to the store once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from parley.clock import VirtualClock
from parley.store import Store
from parley.store.prompts import MANIFEST, PromptMirror

LANGUAGES = ("en", "ru")


def _wav(seconds: float) -> bytes:
    """A WAV of silence as the library plays it (44-byte header, 8 kHz 16-bit mono)."""
    return b"RIFF" + bytes(40) + bytes(int(16_000 * seconds))


async def test_a_prompt_saved_through_one_node_reaches_the_other_and_leaves_with_it(
        store: Store, clock: VirtualClock, tmp_path: Path) -> None:
    first = PromptMirror(store.prompts, tmp_path / "a", clock, LANGUAGES)
    second = PromptMirror(store.prompts, tmp_path / "b", clock, LANGUAGES)
    await store.prompts.put("en", "welcome", _wav(1.5), None, clock.utcnow())
    await store.prompts.put("ru", "goodbye", _wav(0.5), "До свидания", clock.utcnow())
    assert await first.sync() == 2
    assert await second.sync() == 2
    for folder in (tmp_path / "a", tmp_path / "b"):
        assert (folder / "en" / "welcome.wav").read_bytes() == _wav(1.5)
        assert not (folder / "en" / "welcome.txt").exists()
        assert (folder / "ru" / "goodbye.txt").read_text("utf-8") == "До свидания"
    [goodbye, welcome] = sorted(await store.prompts.list(), key=lambda p: p.name)
    assert (welcome.language, welcome.duration_s, welcome.text) == ("en", 1.5, None)
    assert (goodbye.language, goodbye.duration_s) == ("ru", 0.5)
    assert await second.sync() == 0  # nothing changed: no audio read, no file written

    clock.advance(timedelta(minutes=1).total_seconds())
    await store.prompts.put("en", "welcome", _wav(2.0), "Welcome", clock.utcnow())
    assert await store.prompts.delete("ru", "goodbye")
    assert not await store.prompts.delete("ru", "goodbye")  # already gone
    assert await second.sync() == 2
    assert (tmp_path / "b" / "en" / "welcome.wav").read_bytes() == _wav(2.0)
    assert (tmp_path / "b" / "en" / "welcome.txt").read_text("utf-8") == "Welcome"
    assert not (tmp_path / "b" / "ru" / "goodbye.wav").exists()
    assert not (tmp_path / "b" / "ru" / "goodbye.txt").exists()
    assert json.loads((tmp_path / "b" / MANIFEST).read_text("utf-8")).keys() == {"en/welcome"}
    found = await store.prompts.get("en", "welcome")
    assert found is not None
    assert (found.audio, found.info.text) == (_wav(2.0), "Welcome")


async def test_prompt_files_from_before_the_store_are_adopted_once(
        store: Store, clock: VirtualClock, tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "en").mkdir(parents=True)
    (old / "en" / "closed.wav").write_bytes(_wav(1.0))
    (old / "en" / "closed.txt").write_text("We are closed", "utf-8")
    await store.prompts.put("en", "hello", _wav(0.5), None, clock.utcnow())
    mirror = PromptMirror(store.prompts, old, clock, LANGUAGES)
    assert await mirror.sync() == 1  # hello written; closed was already there
    adopted = await store.prompts.get("en", "closed")
    assert adopted is not None
    assert (adopted.audio, adopted.info.text) == (_wav(1.0), "We are closed")
    other = PromptMirror(store.prompts, tmp_path / "other", clock, LANGUAGES)
    await other.sync()
    assert (tmp_path / "other" / "en" / "closed.wav").read_bytes() == _wav(1.0)
    # once mirrored, the store decides: a prompt deleted there goes from this folder too
    assert await store.prompts.delete("en", "closed")
    await mirror.sync()
    assert not (old / "en" / "closed.wav").exists()
    assert await store.prompts.get("en", "closed") is None
