"""Public test helpers: the virtual clock, an in-memory lossy network, and real SIP peers."""

from parley.clock import VirtualClock

__all__ = ["VirtualClock"]
