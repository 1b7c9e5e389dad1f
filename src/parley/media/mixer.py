"""Conference mixing with roles, in batched numpy 20 ms ticks.

Who hears whom is a matrix per bridge: ``weights[i, j] = 1`` when party ``i`` hears party
``j``. The rules, from the roles of :class:`Role`:

* ``participant`` and ``barge``: heard by everyone else in the bridge (a barging supervisor
  is a full member of the conversation); they hear everyone they may hear, never themselves
  (mix-minus, so nobody gets their own voice back).
* ``listen`` (silent monitoring): hears the participants, is heard by nobody.
* ``whisper`` (coaching): hears the participants, is heard only by its target (the operator);
  the caller never hears it.

:func:`mix_block` mixes every bridge of a tick in one call: the matrices and the decoded
frames are stacked (bridges padded to the largest size) and multiplied at once, summed in
float32 and clipped to 16 bits, so loud parties saturate instead of wrapping around.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from parley.media import MediaError

FRAME = 160
Pcm = npt.NDArray[np.int16]
K = TypeVar("K", bound=Hashable)


class Role(StrEnum):
    """How a channel takes part in a bridge (DESIGN.md §3)."""

    PARTICIPANT = "participant"
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


class MixError(MediaError):
    """A bridge membership that cannot work (unknown party, whisper without a target)."""


@dataclass(frozen=True, slots=True)
class Member(Generic[K]):
    party: K
    role: Role
    whisper_to: K | None = None


def _heard(member: Member[K], listener: K) -> bool:
    if member.role is Role.LISTEN:
        return False
    if member.role is Role.WHISPER:
        return member.whisper_to == listener
    return True


class MixBridge(Generic[K]):
    """The membership of one mixing bridge; the matrix is rebuilt only when it changes."""

    def __init__(self, bridge_id: str = "") -> None:
        self.bridge_id = bridge_id
        self._members: dict[K, Member[K]] = {}
        self._weights: npt.NDArray[np.float32] | None = None
        self.version = 0  # bumped on every membership change

    def __len__(self) -> int:
        return len(self._members)

    @property
    def parties(self) -> list[K]:
        """Members in matrix order (the order they joined)."""
        return list(self._members)

    def member(self, party: K) -> Member[K]:
        try:
            return self._members[party]
        except KeyError:
            raise MixError(f"{party!r} is not in bridge {self.bridge_id!r}") from None

    def add(self, party: K, role: Role | str = Role.PARTICIPANT,
            whisper_to: K | None = None) -> None:
        """Add ``party`` or change its role; ``whisper_to`` names the operator it coaches."""
        role = Role(role)
        if role is Role.WHISPER:
            if whisper_to is None:
                raise MixError(f"{party!r} whispers to nobody: give the operator to whisper to")
            if whisper_to == party:
                raise MixError(f"{party!r} cannot whisper to itself")
            if whisper_to not in self._members:
                raise MixError(f"whisper target {whisper_to!r} is not in bridge "
                               f"{self.bridge_id!r}")
        elif whisper_to is not None:
            raise MixError(f"only the whisper role takes a target (got role {role.value!r})")
        self._members[party] = Member(party, role, whisper_to)
        self._weights = None
        self.version += 1

    def remove(self, party: K) -> None:
        """Take ``party`` out; whisperers coaching it fall back to listening."""
        self.member(party)
        del self._members[party]
        for other, member in list(self._members.items()):
            if member.whisper_to == party:
                self._members[other] = Member(other, Role.LISTEN)
        self._weights = None
        self.version += 1

    def hears(self, listener: K, talker: K) -> bool:
        """Whether ``listener`` hears ``talker`` under the current roles."""
        self.member(listener)
        return listener != talker and _heard(self.member(talker), listener)

    def weights(self) -> npt.NDArray[np.float32]:
        """The (n, n) hearing matrix: row = listener, column = talker."""
        if self._weights is None:
            members = list(self._members.values())
            n = len(members)
            weights = np.zeros((n, n), dtype=np.float32)
            for i, listener in enumerate(members):
                for j, talker in enumerate(members):
                    if i != j and _heard(talker, listener.party):
                        weights[i, j] = 1.0
            self._weights = weights
        return self._weights


def mix_block(weights: npt.NDArray[np.float32], frames: Pcm) -> Pcm:
    """Mix a tick of many bridges at once: ``weights`` (B, n, n), ``frames`` (B, n, 160) ->
    what each party hears, (B, n, 160) int16, clipped."""
    mixed = np.matmul(weights, frames.astype(np.float32))
    np.clip(mixed, -32768.0, 32767.0, out=mixed)
    result: Pcm = mixed.astype(np.int16)
    return result


class Mixer(Generic[K]):
    """Mixes all bridges of one tick; keeps the stacked matrices while memberships hold."""

    def __init__(self) -> None:
        self._layout_key: list[tuple[int, int]] = []
        self._weights = np.zeros((0, 0, 0), dtype=np.float32)
        self._parties: list[K] = []
        self._rows = np.zeros(0, dtype=np.intp)
        self._size = 0

    def _layout(self, bridges: list[MixBridge[K]]) -> None:
        """Stack the bridges' matrices, padded to the largest bridge, and note each party's
        row in the flattened (bridges * size, 160) block."""
        size = max(len(bridge) for bridge in bridges)
        weights = np.zeros((len(bridges), size, size), dtype=np.float32)
        parties: list[K] = []
        rows: list[int] = []
        for b, bridge in enumerate(bridges):
            n = len(bridge)
            weights[b, :n, :n] = bridge.weights()
            parties += bridge.parties
            rows += range(b * size, b * size + n)
        self._weights, self._parties, self._size = weights, parties, size
        self._rows = np.array(rows, dtype=np.intp)
        self._layout_key = [(id(bridge), bridge.version) for bridge in bridges]

    def mix(self, bridges: Iterable[MixBridge[K]], frames: Mapping[K, Pcm]) -> dict[K, Pcm]:
        """What every party of every bridge hears this tick.

        ``frames`` holds each party's decoded 20 ms frame; a party without one (no packet this
        tick, or muted) contributes silence.
        """
        active = [bridge for bridge in bridges if len(bridge)]
        if not active:
            return {}
        if self._layout_key != [(id(bridge), bridge.version) for bridge in active]:
            self._layout(active)
        silent = np.zeros(FRAME, dtype=np.int16)
        block = np.zeros((len(active) * self._size, FRAME), dtype=np.int16)
        block[self._rows] = [frames.get(party, silent) for party in self._parties]
        mixed = mix_block(self._weights, block.reshape(len(active), self._size, FRAME))
        flat = mixed.reshape(-1, FRAME)[self._rows]
        return dict(zip(self._parties, flat, strict=True))
