"""Registration events: who came online and who went away.

:class:`RegistrationWatch` follows the registrar and says when a user gains a first live
binding (:class:`~parley.events.UserRegistered`; a refresh or a second phone says nothing)
and when the last one goes (:class:`~parley.events.UserUnregistered` with reason
``"unregistered"`` for REGISTER with Expires 0, ``"expired"`` when the binding ran out).
Static contacts (devices at a fixed address) never register and never emit. Pure: the
engine passes ``now`` and emits what comes back.
"""

from __future__ import annotations

from parley.events import UserRegistered, UserUnregistered
from parley.sip.registrar import Binding, RegisterResult, Registrar

RegistrationEvent = UserRegistered | UserUnregistered


class RegistrationWatch:
    """The users with a live registered binding, as last reported."""

    def __init__(self, registrar: Registrar) -> None:
        self.registrar = registrar
        self.online: set[str] = set()

    def _live(self, aor: str, now: float) -> list[Binding]:
        return [b for b in self.registrar.lookup(aor, now) if not b.static]

    def before_register(self, aor: str, now: float) -> list[RegistrationEvent]:
        """A REGISTER is about to be applied: report bindings that ran out unnoticed (the
        registrar drops them silently while registering)."""
        if aor in self.online and not self._live(aor, now):
            self.online.discard(aor)
            return [UserUnregistered(aor, "expired")]
        return []

    def after_register(self, result: RegisterResult, now: float) -> list[RegistrationEvent]:
        """Events for the outcome of one REGISTER."""
        aor = result.aor
        if not result.ok or aor is None:
            return []
        live = self._live(aor, now)
        if live and aor not in self.online:
            self.online.add(aor)
            newest = result.added[0] if result.added else live[0]
            return [UserRegistered(aor, str(newest.uri))]
        if not live and aor in self.online:
            self.online.discard(aor)
            return [UserUnregistered(aor, "unregistered")]
        return []

    def restored(self, aors: list[str], now: float) -> list[RegistrationEvent]:
        """Events for bindings restored from the store: each user now online registered."""
        events: list[RegistrationEvent] = []
        for aor in aors:
            live = self._live(aor, now)
            if live and aor not in self.online:
                self.online.add(aor)
                events.append(UserRegistered(aor, str(live[0].uri)))
        return events

    def after_sweep(self, gone: list[Binding], now: float, *,
                    reason: str = "expired") -> list[RegistrationEvent]:
        """Events for bindings a sweep dropped as expired (or, with ``reason``
        "connection_closed", that went with a browser's WebSocket)."""
        events: list[RegistrationEvent] = []
        for aor in sorted({binding.aor for binding in gone}):
            if aor in self.online and not self._live(aor, now):
                self.online.discard(aor)
                events.append(UserUnregistered(aor, reason))
        return events
