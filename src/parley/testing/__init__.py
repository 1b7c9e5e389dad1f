"""Public test helpers: the virtual clock, an in-memory lossy network, and real SIP peers."""

from parley.clock import VirtualClock
from parley.testing.network import MemoryNetwork, SipEndpoint

__all__ = ["MemoryNetwork", "SipEndpoint", "VirtualClock"]
