"""Who may call what (no toll fraud) and which peers are trunks.

The engine classes every inbound call's caller (an authenticated user, a trunk trusted by
address, or a guest) and its dialled number, and :func:`may_call` decides; kept apart from
the engine so that the rule reads (and is tested) on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from parley.net.transport import Peer
from parley.telephony.media_sdp import Codec


class CallerClass(StrEnum):
    """Who is calling, for the toll-fraud rule."""

    USER = "user"  # authenticated with a SIP password
    TRUNK = "trunk"  # a configured trunk peer, trusted by address
    GUEST = "guest"  # anyone else


class Destination(StrEnum):
    """What a dialled number is."""

    EXTENSION = "extension"  # a SIP user of this node
    PUBLIC = "public"  # an IVR or queue number anyone may call
    OUTSIDE = "outside"  # an outside line through a trunk
    UNKNOWN = "unknown"


def may_call(caller: CallerClass, destination: Destination) -> bool:
    """No toll fraud: guests reach public numbers only; only users reach outside lines."""
    if caller is CallerClass.USER:
        return True
    if caller is CallerClass.TRUNK:
        return destination is not Destination.OUTSIDE
    return destination is Destination.PUBLIC


@dataclass(frozen=True)
class TrunkPeer:
    """A trunk or gateway trusted by source address (``port`` None: any port of ``host``)."""

    name: str
    host: str
    port: int | None = None

    def matches(self, peer: Peer) -> bool:
        return self.host == peer.host and (self.port is None or self.port == peer.port)


class InboundTrunk(Protocol):
    """What the engine needs of a carrier's trunk a call came in from (the live trunk of
    :mod:`parley.telephony.trunks`): its name, where the dialled number is, its media
    rules, and whether a channel is free under its ``max_channels``."""

    @property
    def name(self) -> str: ...

    @property
    def number_from(self) -> str: ...

    @property
    def allowed(self) -> tuple[Codec, ...] | None: ...

    @property
    def dtmf_mode(self) -> str: ...

    @property
    def srtp(self) -> str: ...

    def admit(self) -> bool: ...
