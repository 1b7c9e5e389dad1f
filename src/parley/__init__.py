"""Parley: an open-source contact center (SIP, IVR, ACD, dialer, recording, reports)."""

__version__ = "0.1.0"
