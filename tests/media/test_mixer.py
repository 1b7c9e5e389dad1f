"""Who hears whom in a mixing bridge, checked with a distinct tone per party."""

from __future__ import annotations

import numpy as np
import pytest

from parley.media.mixer import MixBridge, Mixer, MixError, Role, mix_block

TONES = {"caller": 400.0, "operator": 900.0, "supervisor": 1700.0, "trainee": 2600.0}


def tone(freq: float, amplitude: float = 6000.0) -> np.ndarray:
    t = np.arange(160) / 8000
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def heard_parties(frame: np.ndarray) -> set[str]:
    """Which parties' tones are present in a frame (each tone is 50 Hz-bin aligned)."""
    spectrum = np.abs(np.fft.rfft(frame.astype(float)))
    return {name for name, freq in TONES.items() if spectrum[int(freq / 50)] > 160 * 1000}


def hearing(bridge: MixBridge[str]) -> dict[str, set[str]]:
    frames = {party: tone(TONES[party]) for party in bridge.parties}
    mixed = Mixer[str]().mix([bridge], frames)
    return {party: heard_parties(frame) for party, frame in mixed.items()}


def two_party() -> MixBridge[str]:
    bridge: MixBridge[str] = MixBridge("b1")
    bridge.add("caller")
    bridge.add("operator")
    return bridge


def test_participants_hear_each_other_but_not_themselves() -> None:
    assert hearing(two_party()) == {"caller": {"operator"}, "operator": {"caller"}}


def test_listen_hears_both_sides_and_is_heard_by_nobody() -> None:
    bridge = two_party()
    bridge.add("supervisor", Role.LISTEN)
    assert hearing(bridge) == {"caller": {"operator"}, "operator": {"caller"},
                               "supervisor": {"caller", "operator"}}


def test_whisper_is_heard_by_the_operator_only() -> None:
    bridge = two_party()
    bridge.add("supervisor", Role.WHISPER, whisper_to="operator")
    assert hearing(bridge) == {"caller": {"operator"},
                               "operator": {"caller", "supervisor"},
                               "supervisor": {"caller", "operator"}}
    assert bridge.hears("operator", "supervisor")
    assert not bridge.hears("caller", "supervisor")


def test_barge_makes_a_full_conference() -> None:
    bridge = two_party()
    bridge.add("supervisor", "barge")
    assert hearing(bridge) == {"caller": {"operator", "supervisor"},
                               "operator": {"caller", "supervisor"},
                               "supervisor": {"caller", "operator"}}


def test_roles_change_in_place_listen_whisper_barge() -> None:
    bridge = two_party()
    bridge.add("supervisor", Role.LISTEN)
    bridge.add("supervisor", Role.WHISPER, whisper_to="operator")
    assert hearing(bridge)["caller"] == {"operator"}
    bridge.add("supervisor", Role.BARGE)
    assert hearing(bridge)["caller"] == {"operator", "supervisor"}
    bridge.add("supervisor", Role.LISTEN)
    assert hearing(bridge)["caller"] == {"operator"}
    assert bridge.parties == ["caller", "operator", "supervisor"]


def test_two_supervisors_one_listening_one_whispering() -> None:
    bridge = two_party()
    bridge.add("supervisor", Role.LISTEN)
    bridge.add("trainee", Role.WHISPER, whisper_to="operator")
    assert hearing(bridge) == {"caller": {"operator"},
                               "operator": {"caller", "trainee"},
                               "supervisor": {"caller", "operator"},
                               "trainee": {"caller", "operator"}}


def test_removing_the_whisper_target_turns_the_whisperer_into_a_listener() -> None:
    bridge = two_party()
    bridge.add("supervisor", Role.WHISPER, whisper_to="operator")
    bridge.remove("operator")
    assert bridge.member("supervisor").role is Role.LISTEN
    assert hearing(bridge) == {"caller": set(), "supervisor": {"caller"}}


def test_bad_memberships_say_what_is_wrong() -> None:
    bridge = two_party()
    with pytest.raises(MixError, match="whispers to nobody"):
        bridge.add("supervisor", Role.WHISPER)
    with pytest.raises(MixError, match="'boss' is not in bridge 'b1'"):
        bridge.add("supervisor", Role.WHISPER, whisper_to="boss")
    with pytest.raises(MixError, match="only the whisper role"):
        bridge.add("supervisor", Role.LISTEN, whisper_to="operator")
    with pytest.raises(MixError, match="not in bridge"):
        bridge.remove("ghost")
    with pytest.raises(ValueError, match="'spy'"):
        bridge.add("x", "spy")


def test_many_bridges_of_different_sizes_in_one_tick() -> None:
    bridges: list[MixBridge[str]] = []
    frames = {}
    for b in range(40):
        bridge: MixBridge[str] = MixBridge(f"b{b}")
        size = 2 + b % 3
        for p in range(size):
            party = f"{b}.{p}"
            bridge.add(party, Role.PARTICIPANT)
            frames[party] = np.full(160, (b * 10 + p + 1) * 10, dtype=np.int16)
        bridges.append(bridge)
    mixed = Mixer[str]().mix(bridges, frames)
    for b, bridge in enumerate(bridges):
        total = sum((b * 10 + p + 1) * 10 for p in range(len(bridge)))
        for p, party in enumerate(bridge.parties):
            assert mixed[party][0] == total - (b * 10 + p + 1) * 10  # everyone but itself


def test_missing_frames_are_silence_and_loud_sums_clip() -> None:
    bridge: MixBridge[str] = MixBridge()
    for party in "abc":
        bridge.add(party)
    loud = np.full(160, 30000, dtype=np.int16)
    mixed = Mixer[str]().mix([bridge], {"a": loud, "b": loud})
    assert mixed["c"][0] == 32767  # 60000 clipped, not wrapped to a negative value
    assert mixed["a"][0] == 30000
    low = mix_block(np.ones((1, 2, 2), np.float32), np.full((1, 2, 160), -30000, np.int16))
    assert low.min() == -32768


def test_empty_bridges_mix_to_nothing() -> None:
    assert Mixer[str]().mix([MixBridge()], {}) == {}
