"""One call leg's terminated media, sans-IO: RTP in -> audio frames and digits; frames -> RTP.

When Parley itself talks to a phone (playing prompts, recording, mixing, detecting DTMF)
rather than relaying it, the shell gives each leg a :class:`MediaStream`:

* ``receive(packet)`` for every RTP packet from the phone: audio goes into the jitter buffer,
  telephone-event packets into the RFC 4733 receiver (digits come back at once);
* ``tick()`` once per 20 ms tick: the leg's decoded frame for this tick (gaps concealed, None
  before the first packet or while the phone sends nothing) and any in-band digits found in it;
* ``audio_packet(payload)`` wraps a frame from the playout or the mixer in an RTP header,
  continuing sequence numbers and timestamps; ``idle()`` accounts for a tick with nothing to
  send, so the next packet keeps the timeline and carries the marker bit;
* ``dtmf_packets(digit)`` the RFC 4733 packets of a key press, with their send offsets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from parley.media.dtmf import DtmfError, EventReceiver, InbandDetector, event_packets
from parley.media.g711 import Codec, decode, silence
from parley.media.jitter import JitterBuffer
from parley.media.rtp import RtpPacket

FRAME = 160
_RTP_HEADER = struct.Struct("!BBHII")  # V=2, no padding/extension/CSRC: the hot path
Pcm = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What SDP negotiated for the leg, and how to listen to it."""

    codec: Codec = Codec.PCMU
    payload_type: int | None = None  # the negotiated number; None: the codec's static one
    telephone_event_pt: int | None = 101  # None when the phone did not offer telephone-event
    inband_dtmf: bool = False  # look for tones in the audio (peers without telephone-event)
    jitter_depth: int = 2
    jitter_capacity: int = 20

    @property
    def audio_pt(self) -> int:
        return int(self.codec) if self.payload_type is None else self.payload_type


@dataclass(frozen=True, slots=True)
class ReceivedDigit:
    """A key press and how it came: "rfc4733" or "inband" (the ``Dtmf`` event's method)."""

    digit: str
    duration_ms: int
    method: str


@dataclass(frozen=True, slots=True)
class OutgoingPacket:
    offset_ms: int  # send this long after the first packet of the batch
    data: bytes


class MediaStream:
    """Receive and send state of one leg's RTP; see the module docstring for the cycle."""

    def __init__(self, settings: StreamSettings, *, ssrc: int, first_sequence: int = 0,
                 first_timestamp: int = 0) -> None:
        self.settings = settings
        self.ssrc = ssrc & 0xFFFFFFFF
        self._sequence = first_sequence & 0xFFFF
        self._timestamp = first_timestamp & 0xFFFFFFFF
        self._marker = True
        self.jitter = JitterBuffer(settings.jitter_depth, settings.jitter_capacity)
        self.events = EventReceiver()
        self.inband = InbandDetector() if settings.inband_dtmf else None
        self._silence = silence(settings.codec)
        self.ignored = 0  # packets of other payload types (comfort noise, unknown codecs)
        self.malformed = 0  # telephone-event packets too short to read

    # --- receiving ----------------------------------------------------------------------------
    def receive(self, packet: RtpPacket) -> list[ReceivedDigit]:
        """One packet from the phone; returns RFC 4733 digits it completed."""
        settings = self.settings
        if packet.payload_type == settings.audio_pt:
            self.jitter.push(packet.sequence, packet.payload)
            return []
        if settings.telephone_event_pt is not None and \
                packet.payload_type == settings.telephone_event_pt:
            try:
                digits = self.events.feed(packet.timestamp, packet.payload, packet.marker)
            except DtmfError:
                self.malformed += 1  # a short event payload: dropped, like a lost packet
                return []
            return [ReceivedDigit(d.digit, d.duration_ms, "rfc4733") for d in digits]
        self.ignored += 1
        return []

    def receive_bytes(self, data: bytes) -> list[ReceivedDigit]:
        """:meth:`receive` for a packet as it came off the socket. The common case (RTP
        version 2 without padding, extension or CSRCs, carrying audio) goes straight to the
        jitter buffer; anything else is parsed in full (raising ``RtpError`` if malformed)."""
        if len(data) > 12 and data[0] == 0x80 and data[1] & 0x7F == self.settings.audio_pt:
            self.jitter.push((data[2] << 8) | data[3], data[12:])
            return []
        return self.receive(RtpPacket.parse(data))

    def tick(self) -> tuple[Pcm | None, list[ReceivedDigit]]:
        """This tick's decoded frame from the phone (None: nothing to hear) and in-band
        digits that ended in it."""
        payload = self.next_payload()
        if payload is None:
            return None, []
        pcm = decode(payload, self.settings.codec)
        return pcm, self.detect(pcm)

    def next_payload(self) -> bytes | None:
        """This tick's 160-byte payload from the jitter buffer, gaps concealed (the first half
        of :meth:`tick`, for callers that decode many legs at once)."""
        payload = self.jitter.pop_filled(self._silence)
        if payload is not None and len(payload) != FRAME:
            payload = (payload + self._silence)[:FRAME]  # 10 or 30 ms packets: pad or cut
        return payload

    def detect_inband(self, on: bool) -> None:
        """Start or stop looking for DTMF tones in the audio (costly: switch it on while
        digits are wanted, or for phones without telephone-event)."""
        if on and self.inband is None:
            self.inband = InbandDetector()
        elif not on:
            self.inband = None

    def detect(self, pcm: Pcm) -> list[ReceivedDigit]:
        """In-band digits that ended in this decoded frame (none unless ``inband_dtmf``)."""
        if self.inband is None:
            return []
        return [ReceivedDigit(d.digit, d.duration_ms, "inband") for d in self.inband.feed(pcm)]

    def finish(self) -> list[ReceivedDigit]:
        """The leg ended: digits whose end never arrived."""
        digits = [ReceivedDigit(d.digit, d.duration_ms, "rfc4733") for d in self.events.finish()]
        if self.inband is not None:
            digits += [ReceivedDigit(d.digit, d.duration_ms, "inband")
                       for d in self.inband.finish()]
        return digits

    # --- sending ------------------------------------------------------------------------------
    def audio_packet(self, payload: bytes) -> bytes:
        """An RTP packet carrying one 20 ms frame; advances sequence and timestamp."""
        header = _RTP_HEADER.pack(0x80, (0x80 if self._marker else 0) | self.settings.audio_pt,
                                  self._sequence, self._timestamp, self.ssrc)
        self._marker = False
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._timestamp = (self._timestamp + len(payload)) & 0xFFFFFFFF
        return header + payload

    def continue_from(self, ssrc: int, sequence: int, timestamp: int) -> None:
        """Carry on a stream someone else sent to the phone until now (the relay): same SSRC,
        the next sequence number and timestamp, so the phone's jitter buffer sees no jump."""
        self.ssrc = ssrc & 0xFFFFFFFF
        self._sequence = sequence & 0xFFFF
        self._timestamp = timestamp & 0xFFFFFFFF
        self._marker = True

    def idle(self, samples: int = FRAME) -> None:
        """Nothing was sent this tick: time moves on, and the next packet starts a talkspurt."""
        self._timestamp = (self._timestamp + samples) & 0xFFFFFFFF
        self._marker = True

    @property
    def sequence(self) -> int:
        """The sequence number the next packet will carry."""
        return self._sequence

    @property
    def timestamp(self) -> int:
        """The RTP timestamp the next packet will carry."""
        return self._timestamp

    def event_packet(self, timestamp: int, payload: bytes, marker: bool) -> bytes:
        """A telephone-event packet (next sequence number, the press's start ``timestamp``);
        the timeline is left to :meth:`idle`, one call per tick the packet stands for."""
        pt = self.settings.telephone_event_pt
        if pt is None:
            raise ValueError("the phone did not negotiate telephone-event; send in-band tones")
        header = _RTP_HEADER.pack(0x80, (0x80 if marker else 0) | pt, self._sequence,
                                  timestamp & 0xFFFFFFFF, self.ssrc)
        self._sequence = (self._sequence + 1) & 0xFFFF
        return header + payload

    def dtmf_packets(self, digit: str, duration_ms: int = 100,
                     volume: int = 10) -> list[OutgoingPacket]:
        """The RFC 4733 packets of one key press, from the current position of the stream.

        Send each ``offset_ms`` after the first, instead of audio; the stream's timestamp
        moves past the press, so audio afterwards continues the timeline.
        """
        start = self._timestamp
        out = [OutgoingPacket(event.offset_ms,
                              self.event_packet(start, event.payload, event.marker))
               for event in event_packets(digit, start, duration_ms, volume=volume)]
        self._timestamp = (start + max(1, -(-duration_ms // 20)) * FRAME) & 0xFFFFFFFF
        self._marker = True
        return out
