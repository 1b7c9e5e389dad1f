"""DTMF: RFC 4733 telephone-event payloads, receiving and sending them, in-band detection.

* :class:`TelephoneEvent` is the 4-byte payload (event, end bit, volume, duration).
* :class:`EventReceiver` turns a stream of event packets into digits exactly once: a digit is
  reported on its first end packet (senders repeat the end packet three times), or when another
  event starts without an end packet having arrived; retransmissions and late updates of a
  reported event are recognised by the event's RTP timestamp and code, the timestamp also
  telling two presses of the same key apart.
* :func:`event_packets` is the sending side, as data: start, updates, three end packets.
* :class:`InbandDetector` finds DTMF tones in decoded audio with Goertzel filters, for peers
  that send tones in the voice stream.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from parley.media import MediaError
from parley.media.tones import DTMF_COLS, DTMF_KEYS, DTMF_ROWS

EVENT_DIGITS = "0123456789*#ABCD"  # RFC 4733 §3.2: event codes 0-15
CLOCK_RATE = 8000
MAX_DURATION = 0xFFFF


class DtmfError(MediaError):
    """A telephone-event payload or a digit is invalid."""


def digit_to_event(digit: str) -> int:
    code = EVENT_DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise DtmfError(f"{digit!r} is not a DTMF digit (0-9, *, #, A-D)")
    return code


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One RFC 4733 payload: ``volume`` is dBm0 below zero (0-63), ``duration`` in samples."""

    event: int
    end: bool
    volume: int
    duration: int

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise DtmfError(f"telephone-event payload is {len(payload)} bytes; it needs 4")
        event, flags, duration = struct.unpack_from("!BBH", payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        if not 0 <= self.event <= 255 or not 0 <= self.volume <= 63:
            raise DtmfError(f"event {self.event} / volume {self.volume} out of range")
        if not 0 <= self.duration <= MAX_DURATION:
            raise DtmfError(f"duration {self.duration} does not fit 16 bits")
        return struct.pack("!BBH", self.event, (0x80 if self.end else 0) | self.volume,
                           self.duration)

    @property
    def digit(self) -> str | None:
        """The key, or None for events other than DTMF (flash, tones)."""
        return EVENT_DIGITS[self.event] if self.event < len(EVENT_DIGITS) else None


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """A detected key press: ``timestamp`` is the event's RTP timestamp (or sample offset)."""

    digit: str
    duration_ms: int
    timestamp: int


class EventReceiver:
    """RFC 4733 receive side for one RTP stream: each key press comes out exactly once.

    A press is known by its RTP timestamp and event code. Packets of a press already reported
    (the repeated end packets, late updates) are dropped. The one exception is a packet with
    the marker bit for a press whose marker packet was already seen: that is the same key
    sent again with the same timestamp (a replayed capture, as sipp's ``play_pcap_audio``
    sends), so it starts a new press. Timestamps may jump backwards between presses.
    """

    def __init__(self, clock_rate: int = CLOCK_RATE, memory: int = 32) -> None:
        self.clock_rate = clock_rate
        self.memory = memory
        self._current: tuple[int, int] | None = None  # (timestamp, event code)
        self._current_marker = False
        self._duration = 0
        self._reported: dict[tuple[int, int], bool] = {}  # press -> its marker packet seen

    def feed(self, timestamp: int, payload: bytes, marker: bool = False) -> list[DtmfDigit]:
        """One telephone-event packet's RTP timestamp, payload and marker bit; returns the
        digits it completed."""
        event = TelephoneEvent.parse(payload)
        if event.digit is None:
            return []  # not a key (flash, tones)
        key = (timestamp, event.event)
        if key in self._reported:
            if not (marker and self._reported[key]):
                return []  # a retransmission or late packet of a reported press
            del self._reported[key]  # the same press sent again: a new one
        out: list[DtmfDigit] = []
        if self._current is not None and self._current != key:
            out += self._report()  # the previous press's end packets were all lost
        if self._current is None:
            self._current, self._current_marker, self._duration = key, False, 0
        self._current_marker = self._current_marker or marker
        self._duration = max(self._duration, event.duration)
        if event.end:
            out += self._report()
        return out

    def finish(self) -> list[DtmfDigit]:
        """The stream stopped (or went quiet): report a press whose end never came."""
        return self._report()

    def _report(self) -> list[DtmfDigit]:
        if self._current is None:
            return []
        timestamp, code = key = self._current
        self._current = None
        self._reported[key] = self._current_marker
        while len(self._reported) > self.memory:
            del self._reported[next(iter(self._reported))]
        duration_ms = self._duration * 1000 // self.clock_rate
        self._duration = 0
        return [DtmfDigit(EVENT_DIGITS[code], duration_ms, timestamp)]


@dataclass(frozen=True, slots=True)
class EventPacket:
    """A telephone-event packet to send ``offset_ms`` after the first one."""

    offset_ms: int
    timestamp: int
    marker: bool
    payload: bytes


def event_packets(digit: str, timestamp: int, duration_ms: int = 100, *, volume: int = 10,
                  packet_ms: int = 20, clock_rate: int = CLOCK_RATE,
                  end_repeats: int = 3) -> list[EventPacket]:
    """The packets of one key press (RFC 4733 §2.5.1): every packet carries the event's start
    timestamp; the first has the marker bit; updates every ``packet_ms`` grow the duration;
    the end packet goes out ``end_repeats`` times with the final duration."""
    code = digit_to_event(digit)
    total = duration_ms * clock_rate // 1000
    step = packet_ms * clock_rate // 1000
    if total <= 0 or total > MAX_DURATION:
        raise DtmfError(f"DTMF duration {duration_ms} ms must be between 1 ms and 8 s")
    packets: list[EventPacket] = []
    elapsed = step
    offset = 0
    while elapsed < total:
        payload = bytes(TelephoneEvent(code, False, volume, elapsed))
        packets.append(EventPacket(offset, timestamp, not packets, payload))
        elapsed += step
        offset += packet_ms
    end = bytes(TelephoneEvent(code, True, volume, total))
    for _ in range(end_repeats):
        packets.append(EventPacket(offset, timestamp, not packets, end))
        offset += packet_ms
    return packets


# --- in-band detection ----------------------------------------------------------------------
Pcm = npt.NDArray[np.int16]
BLOCK = 102  # 12.75 ms at 8 kHz: rows 73 Hz apart stay separable, short tones still fit
_FREQS = np.array(DTMF_ROWS + DTMF_COLS)
_N = np.arange(BLOCK)
_BASIS = np.concatenate([np.cos(2 * np.pi * np.outer(_N, _FREQS) / CLOCK_RATE),
                         np.sin(2 * np.pi * np.outer(_N, _FREQS) / CLOCK_RATE)], axis=1)


@dataclass(frozen=True, slots=True)
class InbandSettings:
    """Detector thresholds (ITU-T Q.24 style)."""

    min_level_dbfs: float = -36.0  # each tone of the pair must be at least this loud
    normal_twist_db: float = 8.0  # the low (row) tone may be this much louder than the high
    reverse_twist_db: float = 4.0  # the high (column) tone may be this much louder
    peak_ratio_db: float = 8.0  # each tone stands this far above the others of its group
    purity: float = 0.75  # share of the block's power the two tones must carry
    min_blocks: int = 2  # consecutive hits before a digit counts (2 blocks: 25.5 ms)
    gap_blocks: int = 2  # blocks without the digit that end it (the inter-digit gap)


class InbandDetector:
    """Goertzel DTMF detection on 8 kHz audio; feed frames, get each key press once."""

    def __init__(self, settings: InbandSettings | None = None) -> None:
        self.settings = s = settings or InbandSettings()
        self._min_power = (32768.0 * 10 ** (s.min_level_dbfs / 20)) ** 2 / 2
        self._normal_twist = 10 ** (s.normal_twist_db / 10)
        self._reverse_twist = 10 ** (s.reverse_twist_db / 10)
        self._peak = 10 ** (s.peak_ratio_db / 10)
        self._pending = np.zeros(0, dtype=np.float64)
        self._blocks_seen = 0  # blocks processed so far, for timestamps
        self._candidate: str | None = None
        self._candidate_run = 0
        self._digit: str | None = None  # the digit being held down
        self._digit_start = 0
        self._digit_last = 0
        self._misses = 0

    def feed(self, pcm: Pcm) -> list[DtmfDigit]:
        """Decoded audio of any length; returns key presses that have ended."""
        data = np.concatenate([self._pending, pcm.astype(np.float64)])
        count = len(data) // BLOCK
        self._pending = data[count * BLOCK:]
        if count == 0:
            return []
        hits = self._classify(data[:count * BLOCK].reshape(count, BLOCK))
        out: list[DtmfDigit] = []
        for hit in hits:
            out += self._step(hit)
            self._blocks_seen += 1
        return out

    def finish(self) -> list[DtmfDigit]:
        """End of the stream: report a key still held."""
        return self._end() if self._digit is not None else []

    def _classify(self, blocks: npt.NDArray[np.float64]) -> list[str | None]:
        s = self.settings
        proj = blocks @ _BASIS
        power = (proj[:, :8] ** 2 + proj[:, 8:] ** 2) * (2.0 / BLOCK**2)  # ≈ A²/2 per tone
        total = np.mean(blocks**2, axis=1)
        rows, cols = power[:, :4], power[:, 4:]
        best_row, best_col = rows.argmax(axis=1), cols.argmax(axis=1)
        index = np.arange(len(blocks))
        row_power, col_power = rows[index, best_row], cols[index, best_col]
        rows_sorted, cols_sorted = np.sort(rows, axis=1), np.sort(cols, axis=1)
        ok = (
            (row_power >= self._min_power) & (col_power >= self._min_power)
            & (row_power <= col_power * self._normal_twist)
            & (col_power <= row_power * self._reverse_twist)
            & (row_power >= rows_sorted[:, -2] * self._peak)
            & (col_power >= cols_sorted[:, -2] * self._peak)
            & (row_power + col_power >= s.purity * total)
        )
        return [DTMF_KEYS[r][c] if hit else None
                for hit, r, c in zip(ok.tolist(), best_row.tolist(), best_col.tolist(),
                                     strict=True)]

    def _step(self, hit: str | None) -> list[DtmfDigit]:
        s = self.settings
        out: list[DtmfDigit] = []
        if self._digit is not None:
            if hit == self._digit:
                self._misses = 0
                self._digit_last = self._blocks_seen
                return out
            self._misses += 1
            if self._misses < s.gap_blocks:
                return out
            out += self._end()
        if hit is not None and hit == self._candidate:
            self._candidate_run += 1
        else:
            self._candidate, self._candidate_run = hit, 1 if hit is not None else 0
        if self._candidate is not None and self._candidate_run >= s.min_blocks:
            self._digit = self._candidate
            self._digit_start = self._blocks_seen - self._candidate_run + 1
            self._digit_last = self._blocks_seen
            self._misses = 0
            self._candidate, self._candidate_run = None, 0
        return out

    def _end(self) -> list[DtmfDigit]:
        assert self._digit is not None  # noqa: S101 - callers check
        blocks = self._digit_last - self._digit_start + 1
        digit = DtmfDigit(self._digit, blocks * BLOCK * 1000 // CLOCK_RATE,
                          self._digit_start * BLOCK)
        self._digit = None
        self._misses = 0
        return [digit]


# --- SIP INFO (application/dtmf-relay, application/dtmf) ------------------------------------
def parse_info_body(content_type: str, body: bytes | str) -> tuple[str, int]:
    """The digit and duration (ms) of a SIP INFO DTMF body.

    ``application/dtmf-relay`` carries ``Signal=5`` and ``Duration=160`` lines (Cisco's
    format, which most phones use; some send 10 and 11 for ``*`` and ``#``);
    ``application/dtmf`` carries just the key. Durations default to 250 ms.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/dtmf":
        return _info_digit(text.strip(), "body"), 250
    if kind != "application/dtmf-relay":
        raise DtmfError(f"SIP INFO content type {content_type!r} is not DTMF "
                        "(application/dtmf-relay or application/dtmf)")
    fields: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise DtmfError(f"dtmf-relay body line {number} {line!r} is not 'Name=value'")
        fields[name.strip().lower()] = value.strip()
    if "signal" not in fields:
        raise DtmfError("dtmf-relay body has no Signal= line")
    digit = _info_digit(fields["signal"], "Signal")
    duration_text = fields.get("duration", "250")
    if not duration_text.isdigit():
        raise DtmfError(f"dtmf-relay Duration={duration_text!r} is not a number of ms")
    return digit, int(duration_text)


def _info_digit(value: str, field_name: str) -> str:
    if value in ("10", "11"):
        return "*" if value == "10" else "#"
    if len(value) == 1 and value.upper() in EVENT_DIGITS:
        return value.upper()
    raise DtmfError(f"{field_name}={value!r} is not a DTMF key (0-9, *, #, A-D)")


# --- collecting digits ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CollectResult:
    """What a collect gathered and why it stopped: ``reason`` is "max_digits", "terminator",
    "timeout" (no digit at all in time), "inter_digit_timeout" or "cancelled"."""

    digits: str
    reason: str
    terminator: str | None = None


class DigitCollector:
    """The logic of ``Channel.collect(max_digits, timeout, inter_digit_timeout, terminators)``.

    Time comes in as arguments (seconds on the shell's clock): the shell calls :meth:`digit`
    for each key press and :meth:`expire` when :attr:`deadline` passes.
    """

    def __init__(self, now: float, *, max_digits: int, timeout: float,
                 inter_digit_timeout: float | None = None, terminators: str = "#") -> None:
        if max_digits < 1:
            raise DtmfError(f"collect needs max_digits >= 1, got {max_digits}")
        if timeout <= 0 or (inter_digit_timeout is not None and inter_digit_timeout <= 0):
            raise DtmfError("collect timeouts must be positive")
        for key in terminators:
            digit_to_event(key)
        self.max_digits = max_digits
        self.timeout = timeout
        self.inter_digit_timeout = timeout if inter_digit_timeout is None else inter_digit_timeout
        self.terminators = terminators
        self.deadline = now + timeout
        self.result: CollectResult | None = None
        self._digits = ""

    def digit(self, digit: str, now: float) -> CollectResult | None:
        """A key press; returns the result when this press ends the collect."""
        if self.result is not None:
            return self.result
        if now >= self.deadline:
            return self.expire(now)
        if digit in self.terminators:
            self.result = CollectResult(self._digits, "terminator", digit)
            return self.result
        self._digits += digit
        if len(self._digits) >= self.max_digits:
            self.result = CollectResult(self._digits, "max_digits")
            return self.result
        self.deadline = now + self.inter_digit_timeout
        return None

    def expire(self, now: float) -> CollectResult | None:
        """Check the clock; returns the result once the deadline has passed."""
        if self.result is None and now >= self.deadline:
            reason = "inter_digit_timeout" if self._digits else "timeout"
            self.result = CollectResult(self._digits, reason)
        return self.result

    def cancel(self) -> CollectResult:
        """The caller hung up or the flow moved on."""
        if self.result is None:
            self.result = CollectResult(self._digits, "cancelled")
        return self.result
