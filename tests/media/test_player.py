"""Playback frames: gapless playlists, padding, stop, loop, and the shared tick of many channels."""

from __future__ import annotations

import numpy as np
import pytest

from parley.media import MediaError
from parley.media.g711 import Codec, decode, encode
from parley.media.player import (
    DONE,
    STOPPED,
    LoopSource,
    PcmSource,
    Player,
    Playout,
    SilenceSource,
)
from parley.media.tones import BEEP, RINGBACK, ToneSource, render


def ramp(n: int, start: int = 1) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int16)


def drain(player: Player) -> np.ndarray:
    frames = []
    while (frame := player.next_pcm()) is not None:
        frames.append(frame)
    return np.concatenate(frames) if frames else np.zeros(0, np.int16)


def test_playlist_is_gapless_and_padded_at_the_end() -> None:
    a, b = ramp(250), ramp(100, 1000)
    player = Player([PcmSource(a, "a"), SilenceSource(10), PcmSource(b, "b")])
    out = drain(player)
    assert len(out) == 480  # 250 + 80 + 100 = 430 samples, padded to 3 frames
    assert np.array_equal(out[:250], a)
    assert not out[250:330].any()
    assert np.array_equal(out[330:430], b)
    assert not out[430:].any()
    assert player.finished == DONE
    assert player.frames_played == 3
    assert player.next_pcm() is None


def test_exact_frame_multiple_ends_without_an_extra_frame() -> None:
    player = Player([PcmSource(ramp(320))])
    assert len(drain(player)) == 320
    assert player.finished == DONE


def test_tone_items_play_their_length() -> None:
    out = drain(Player([ToneSource(BEEP), SilenceSource(100), ToneSource(BEEP)]))
    beep = render(BEEP)
    assert np.array_equal(out[:2000], beep)
    assert np.array_equal(out[2800:4800], beep)


def test_stop_ends_at_once_with_reason() -> None:
    player = Player([ToneSource(RINGBACK)])
    assert player.next_pcm() is not None
    player.stop()
    assert player.next_pcm() is None
    assert player.finished == STOPPED
    player.stop("hangup")
    assert player.finished == STOPPED  # the first reason stays


def test_loop_wraps_seamlessly_and_never_finishes() -> None:
    player = Player([PcmSource(ramp(100)), PcmSource(ramp(30, 500))], loop=True)
    out = np.concatenate([player.next_pcm() for _ in range(13)])  # type: ignore[misc]
    cycle = np.concatenate([ramp(100), ramp(30, 500)])
    assert np.array_equal(out, np.tile(cycle, 16)[:len(out)])
    assert player.finished is None


def test_loop_of_nothing_finishes_instead_of_spinning() -> None:
    player = Player([SilenceSource(0)], loop=True)
    assert player.next_pcm() is None
    assert player.finished == DONE


def test_loop_source_resumes_where_it_stopped_with_a_fade_in() -> None:
    tracks = [ramp(400, 1000), ramp(300, 5000)]
    source = LoopSource(tracks, "moh")
    first = Player([source])
    played = np.concatenate([first.next_pcm() for _ in range(3)])  # type: ignore[misc]
    first.stop()
    assert source.position == (1, 80)
    source.resume()
    second = Player([source])
    frame = second.next_pcm()
    assert frame is not None
    expected = np.concatenate([tracks[0], tracks[1]])[480:640]
    assert np.array_equal(played, np.concatenate(tracks)[:480])
    assert abs(int(frame[0])) < abs(int(expected[0])) / 50  # faded in
    assert np.array_equal(frame[-1:], expected[-1:])
    after = second.next_pcm()
    assert after is not None
    assert np.array_equal(after, np.concatenate([tracks[1][240:], tracks[0][:100]]))
    with pytest.raises(MediaError, match="nothing to loop"):
        LoopSource([np.zeros(0, np.int16)])


def test_playout_encodes_every_channel_each_tick() -> None:
    playout: Playout[str] = Playout()
    playout.add("alice", Player([PcmSource(ramp(400) * 10)]), Codec.PCMU)
    playout.add("bob", Player([ToneSource(RINGBACK)]), Codec.PCMA)
    ticks = [playout.tick() for _ in range(3)]
    frames = [dict(t.frames) for t in ticks]
    assert [sorted(f) for f in frames] == [["alice", "bob"]] * 3
    alice = np.concatenate([decode(f["alice"], Codec.PCMU) for f in frames])
    assert np.array_equal(alice, decode(encode(
        np.concatenate([ramp(400) * 10, np.zeros(80, np.int16)]), Codec.PCMU), Codec.PCMU))
    bob = np.concatenate([decode(f["bob"], Codec.PCMA) for f in frames])
    assert np.array_equal(bob, decode(encode(render(RINGBACK, 60), Codec.PCMA), Codec.PCMA))
    assert [k for k, _ in ticks[2].finished] == ["alice"]
    assert ticks[2].finished[0][1].finished == DONE
    assert "alice" not in playout
    assert len(playout) == 1


def test_playout_replace_and_remove_report_stopped() -> None:
    playout: Playout[int] = Playout()
    first = Player([ToneSource(RINGBACK)])
    playout.add(1, first, Codec.PCMU)
    assert playout.add(1, Player([ToneSource(BEEP)]), Codec.PCMU) is first
    assert first.finished == STOPPED
    removed = playout.remove(1, "hangup")
    assert removed is not None
    assert removed.finished == "hangup"
    assert playout.tick().frames == []


def test_playout_grows_past_its_first_buffer() -> None:
    playout: Playout[int] = Playout()
    for channel in range(150):
        playout.add(channel, Player([PcmSource(np.full(160, channel, np.int16))]), Codec.PCMU)
    tick = playout.tick()
    assert len(tick.frames) == 150
    for channel, payload in tick.frames:
        assert payload == encode(np.full(160, channel, np.int16), Codec.PCMU)


def test_slots_spread_channels_and_each_gets_one_frame_per_period() -> None:
    playout: Playout[int] = Playout(slots=4)
    for channel in range(10):
        playout.add(channel, Player([PcmSource(np.full(1600, channel, np.int16))]), Codec.PCMU)
    assert sorted(playout.slot_of(c) for c in range(10)) == [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]
    served: list[int] = []
    for phase in range(4):
        served += [key for key, _ in playout.tick(phase).frames]
    assert sorted(served) == list(range(10))
    first_phase = [key for key, _ in playout.tick(0).frames]
    assert first_phase == [c for c in range(10) if playout.slot_of(c) == 0]
    # A replaced player keeps the channel's phase, so its packets stay 20 ms apart.
    slot = playout.slot_of(3)
    playout.add(3, Player([PcmSource(np.ones(160, np.int16))]), Codec.PCMU)
    assert playout.slot_of(3) == slot
    playout.remove(3)
    assert playout.slot_of(3) is None
    with pytest.raises(MediaError, match="between 1 and 20"):
        Playout(slots=0)


def test_finished_players_leave_their_slot() -> None:
    playout: Playout[str] = Playout(slots=2)
    playout.add("a", Player([PcmSource(np.ones(100, np.int16))]), Codec.PCMA)
    slot = playout.slot_of("a")
    assert slot is not None
    assert [k for k, _ in playout.tick(slot).finished] == ["a"]
    assert "a" not in playout
    assert playout.tick().frames == []
