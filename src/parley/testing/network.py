"""An in-memory datagram network on a :class:`VirtualClock` that drops, duplicates, delays
and reorders, and a SIP endpoint that drives :class:`parley.sip.transaction.TransactionLayer`
over it. For unit tests of the pure SIP core: 32-second timers take milliseconds, and loss is
a reproducible test input (seeded).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from parley.clock import TimerHandle, VirtualClock
from parley.sip.errors import SipParseError
from parley.sip.message import SipRequest, SipResponse, parse_message
from parley.sip.transaction import (
    CancelTimer,
    Command,
    Send,
    StartTimer,
    TimerConfig,
    TransactionKey,
    TransactionLayer,
)

Address = tuple[str, int]
Receiver = Callable[[bytes, Address], None]


@dataclass
class NetworkStats:
    sent: int = 0
    dropped: int = 0
    duplicated: int = 0
    delivered: int = 0
    unreachable: int = 0


class MemoryNetwork:
    """Datagrams between attached addresses, with seeded loss, duplication and delay.

    Each datagram (and each duplicate) gets its own delay drawn from
    ``[min_delay, max_delay]``, so datagrams sent close together arrive reordered.
    ``loss`` and ``duplicate`` are probabilities per datagram.
    """

    def __init__(
        self,
        clock: VirtualClock,
        *,
        loss: float = 0.0,
        duplicate: float = 0.0,
        min_delay: float = 0.001,
        max_delay: float = 0.020,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= loss < 1.0 or not 0.0 <= duplicate < 1.0:
            raise ValueError("loss and duplicate are probabilities in [0, 1)")
        if not 0.0 <= min_delay <= max_delay:
            raise ValueError("need 0 <= min_delay <= max_delay")
        self.clock = clock
        self.loss = loss
        self.duplicate = duplicate
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.stats = NetworkStats()
        self._random = random.Random(seed)  # noqa: S311 - simulation, not security
        self._endpoints: dict[Address, Receiver] = {}

    def attach(self, address: Address, receiver: Receiver) -> None:
        if address in self._endpoints:
            raise ValueError(f"address {address} is already attached")
        self._endpoints[address] = receiver

    def detach(self, address: Address) -> None:
        self._endpoints.pop(address, None)

    def send(self, data: bytes, source: Address, destination: Address) -> None:
        self.stats.sent += 1
        copies = 1
        if self._random.random() < self.duplicate:
            copies = 2
            self.stats.duplicated += 1
        for _ in range(copies):
            if self._random.random() < self.loss:
                self.stats.dropped += 1
                continue
            delay = self._random.uniform(self.min_delay, self.max_delay)
            self.clock.call_later(delay, lambda: self._deliver(data, source, destination))

    def _deliver(self, data: bytes, source: Address, destination: Address) -> None:
        receiver = self._endpoints.get(destination)
        if receiver is None:
            self.stats.unreachable += 1
            return
        self.stats.delivered += 1
        receiver(data, source)


class SipEndpoint:
    """A UDP-like SIP endpoint on a :class:`MemoryNetwork`: parses what arrives, runs it
    through its own :class:`TransactionLayer`, carries out the commands (sends, timers on the
    virtual clock) and hands everything meant for the TU to ``on_command`` (and records it
    in :attr:`received`)."""

    def __init__(
        self,
        network: MemoryNetwork,
        address: Address,
        *,
        config: TimerConfig | None = None,
        on_command: Callable[[SipEndpoint, Command], None] | None = None,
    ) -> None:
        self.network = network
        self.clock = network.clock
        self.address = address
        self.layer = TransactionLayer(config)
        self.on_command = on_command
        self.received: list[Command] = []
        self.sent: list[SipRequest | SipResponse] = []
        self.parse_errors: list[SipParseError] = []
        self._timers: dict[tuple[TransactionKey, str], TimerHandle] = {}
        network.attach(address, self._on_datagram)

    def _on_datagram(self, data: bytes, source: Address) -> None:
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self.parse_errors.append(exc)
            return
        self.execute(self.layer.receive(message, source, "UDP", self.clock.monotonic()))

    def send_request(self, request: SipRequest, destination: Address) -> TransactionKey:
        key, commands = self.layer.send_request(request, destination, "UDP",
                                                self.clock.monotonic())
        self.execute(commands)
        return key

    def send_response(self, response: SipResponse) -> None:
        self.execute(self.layer.send_response(response, self.clock.monotonic()))

    def send_raw(self, message: SipRequest | SipResponse, destination: Address) -> None:
        """Send outside any transaction (the ACK for a 2xx)."""
        self.execute([Send(message, destination, "UDP")])

    def execute(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, Send):
                self.sent.append(command.message)
                self.network.send(bytes(command.message), self.address, command.destination)
            elif isinstance(command, StartTimer):
                slot = (command.key, command.timer)
                old = self._timers.pop(slot, None)
                if old is not None:
                    old.cancel()
                self._timers[slot] = self.clock.call_at(command.at, self._firing(*slot))
            elif isinstance(command, CancelTimer):
                handle = self._timers.pop((command.key, command.timer), None)
                if handle is not None:
                    handle.cancel()
            else:
                self.received.append(command)
                if self.on_command is not None:
                    self.on_command(self, command)

    def _firing(self, key: TransactionKey, timer: str) -> Callable[[], None]:
        def fire() -> None:
            self._timers.pop((key, timer), None)
            self.execute(self.layer.timer_expired(key, timer, self.clock.monotonic()))
        return fire

    @property
    def pending_timers(self) -> int:
        return sum(1 for handle in self._timers.values() if not handle.cancelled)
