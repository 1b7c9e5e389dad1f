"""The root of Parley's exception families; each subsystem derives its own."""


class ParleyError(Exception):
    """Base of every error Parley raises on purpose; the message says what to fix."""
