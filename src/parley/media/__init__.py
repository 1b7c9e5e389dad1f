"""Pure media: G.711 codecs, audio conversion, tones, DTMF, playback, mixing, recording frames.

Nothing here opens sockets, starts tasks or reads the clock; the shells in ``telephony/`` and
``net/`` move samples, packets and files in and out.
"""

from parley.errors import ParleyError


class MediaError(ParleyError):
    """A media input is unusable (bad WAV file, unknown codec or digit); the message says why."""


__all__ = ["MediaError"]
