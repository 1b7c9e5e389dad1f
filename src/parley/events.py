"""Cross-subsystem events and commands: frozen dataclasses, the only thing subsystems share.

Subsystems never reach into each other's objects (DESIGN.md §1.3). Each section below belongs
to the subsystem that emits it; add new types to your own section.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Direction(StrEnum):
    """Which way a call leg points, seen from Parley."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class HangupCause(IntEnum):
    """Why a leg ended, as ITU-T Q.850 cause values (what trunks, CDRs and reports speak)."""

    UNALLOCATED_NUMBER = 1
    NO_ROUTE_DESTINATION = 3
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONSE = 18
    NO_ANSWER = 19
    CALL_REJECTED = 21
    NUMBER_CHANGED = 22
    DESTINATION_OUT_OF_ORDER = 27
    INVALID_NUMBER_FORMAT = 28
    NORMAL_UNSPECIFIED = 31
    NORMAL_CIRCUIT_CONGESTION = 34
    NETWORK_OUT_OF_ORDER = 38
    TEMPORARY_FAILURE = 41
    SWITCH_CONGESTION = 42
    BEARER_CAPABILITY_NOT_AVAILABLE = 58
    INCOMPATIBLE_DESTINATION = 88
    RECOVERY_ON_TIMER_EXPIRE = 102
    INTERWORKING = 127
    # Not Q.850 on the wire, but distinct outcomes a contact center must tell apart.
    ORIGINATOR_CANCEL = 487
    MEDIA_TIMEOUT = 600


# --- telephony/: call control events (DESIGN.md §3) ------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelCreated:
    channel_id: str
    direction: Direction
    caller: str
    called: str


@dataclass(frozen=True, slots=True)
class Ringing:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Answered:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Dtmf:
    """A digit received on a channel; ``method`` is "rfc4733", "inband" or "info"."""

    channel_id: str
    digit: str
    duration_ms: int
    method: str


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """A playback ended; ``reason`` is "done", "stopped" or "hangup"."""

    playback_id: str
    channel_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RecordingFinished:
    recording_id: str
    channel_id: str
    path: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class AmdResult:
    """Answering-machine detection outcome: "human", "machine" or "unknown"."""

    channel_id: str
    result: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Hangup:
    channel_id: str
    cause: HangupCause
    by: str = ""  # "local", "remote" or a user id: who ended it, for the call timeline


TelephonyEvent = (
    ChannelCreated
    | Ringing
    | Answered
    | Dtmf
    | PlaybackFinished
    | RecordingFinished
    | AmdResult
    | Hangup
)
