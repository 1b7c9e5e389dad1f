"""RFC 4733 events (exactly-once receive, send sequence) and in-band Goertzel detection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.media.audio import decode_wav, to_telephony
from parley.media.dtmf import (
    CollectResult,
    DigitCollector,
    DtmfError,
    EventPacket,
    EventReceiver,
    InbandDetector,
    TelephoneEvent,
    event_packets,
    parse_info_body,
)
from parley.media.g711 import Codec, decode, encode
from parley.media.tones import dtmf_sequence, dtmf_tone, render
from parley.telephony.moh import DEFAULT_MOH_DIR
from parley.testing.needs import HOLD_MUSIC, STOCK_PROMPTS, needs, stock_sounds


def receive(packets: list[EventPacket], receiver: EventReceiver | None = None) -> list[str]:
    receiver = receiver or EventReceiver()
    digits = []
    for packet in packets:
        digits += receiver.feed(packet.timestamp, packet.payload, packet.marker)
    digits += receiver.finish()
    return [d.digit for d in digits]


def press(digits: str, start: int = 1000, duration_ms: int = 100) -> list[list[EventPacket]]:
    """Packets per key press; each press starts 200 ms after the previous one."""
    return [event_packets(d, start + i * 1600, duration_ms) for i, d in enumerate(digits)]


# --- payload ---------------------------------------------------------------------------------
def test_payload_bytes_match_rfc4733_layout() -> None:
    event = TelephoneEvent(event=5, end=True, volume=10, duration=800)
    assert bytes(event) == b"\x05\x8a\x03\x20"
    assert TelephoneEvent.parse(b"\x0b\x0a\x00\xa0") == TelephoneEvent(11, False, 10, 160)
    assert TelephoneEvent.parse(b"\x0b\x0a\x00\xa0").digit == "#"
    assert TelephoneEvent(16, False, 0, 0).digit is None  # flash, not a key
    with pytest.raises(DtmfError, match="needs 4"):
        TelephoneEvent.parse(b"\x01\x02")
    with pytest.raises(DtmfError, match="volume 64"):
        bytes(TelephoneEvent(1, False, 64, 0))


def test_sender_produces_start_updates_and_three_ends() -> None:
    packets = event_packets("7", timestamp=4242, duration_ms=100)
    events = [TelephoneEvent.parse(p.payload) for p in packets]
    # The duration counts the packet's own 20 ms: the fifth packet ends the 100 ms press.
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert {p.timestamp for p in packets} == {4242}
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert [p.offset_ms for p in packets] == [0, 20, 40, 60, 80, 100, 120]
    assert all(e.digit == "7" for e in events)
    with pytest.raises(DtmfError, match="'x' is not a DTMF digit"):
        event_packets("x", 0)
    with pytest.raises(DtmfError, match="between 1 ms and 8 s"):
        event_packets("1", 0, duration_ms=9000)


# --- receiver --------------------------------------------------------------------------------
def test_each_press_is_reported_once_with_its_duration() -> None:
    receiver = EventReceiver()
    reported = []
    for packet in event_packets("5", 8000, 120):
        reported += receiver.feed(packet.timestamp, packet.payload)
    assert [(d.digit, d.duration_ms, d.timestamp) for d in reported] == [("5", 120, 8000)]
    assert receiver.finish() == []


def test_same_key_twice_is_two_digits() -> None:
    assert receive([p for presses in press("55") for p in presses]) == ["5", "5"]


def test_duplicated_packets_do_not_duplicate_digits() -> None:
    packets = [p for presses in press("1#1") for p in presses for _ in range(2)]
    assert receive(packets) == ["1", "#", "1"]


def test_lost_end_packets_report_at_the_next_press_or_at_finish() -> None:
    first, second = press("39")
    no_ends = [p for p in first if not TelephoneEvent.parse(p.payload).end]
    receiver = EventReceiver()
    got = [d.digit for p in no_ends for d in receiver.feed(p.timestamp, p.payload)]
    assert got == []
    got += [d.digit for p in second for d in receiver.feed(p.timestamp, p.payload)]
    assert got == ["3", "9"]
    lonely = [p for p in second if not TelephoneEvent.parse(p.payload).end]
    assert receive(lonely) == ["9"]


def test_late_end_retransmission_after_next_press_is_ignored() -> None:
    first, second = press("24")
    packets = first[:-1] + second[:2] + first[-1:] + second[2:]
    assert receive(packets) == ["2", "4"]


def test_the_same_press_replayed_is_two_presses() -> None:
    """sipp's play_pcap_audio sends a capture as it is: the same timestamp each time."""
    (press_packets,) = press("5")
    assert receive(press_packets + press_packets) == ["5", "5"]


def test_timestamps_may_jump_backwards_between_presses() -> None:
    first, second = press("12")
    assert receive(second + first) == ["2", "1"]


def test_timestamps_wrap_around() -> None:
    packets = [p for presses in press("12", start=0xFFFFFFFF - 800) for p in presses]
    wrapped = [EventPacket(p.offset_ms, p.timestamp & 0xFFFFFFFF, p.marker, p.payload)
               for p in packets]
    assert receive(wrapped) == ["1", "2"]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_loss_duplication_and_local_reordering_never_change_the_digits(
        data: st.DataObject) -> None:
    digits = data.draw(st.text(alphabet="0123456789*#ABCD", min_size=1, max_size=6))
    stream: list[EventPacket] = []
    for packets in press(digits):
        kept = [p for p in packets if data.draw(st.integers(0, 3)) > 0] or [packets[0]]
        for packet in data.draw(st.permutations(kept)):
            stream += [packet] * data.draw(st.integers(1, 2))  # some arrive twice
    assert receive(stream) == list(digits)


# --- in-band ---------------------------------------------------------------------------------
def detect(pcm: np.ndarray, chunk: int = 160) -> list[str]:
    detector = InbandDetector()
    found = []
    for start in range(0, len(pcm), chunk):
        found += detector.feed(pcm[start:start + chunk])
    found += detector.finish()
    return [d.digit for d in found]


def test_all_sixteen_keys_are_detected_in_order() -> None:
    assert detect(dtmf_sequence("123A456B789C*0#D", 60, 60)) == list("123A456B789C*0#D")


def test_repeated_key_with_short_gaps() -> None:
    assert detect(dtmf_sequence("5555", 45, 40)) == ["5"] * 4


def test_detected_through_mulaw_with_noise() -> None:
    rng = np.random.default_rng(7)
    clean = dtmf_sequence("90210#", 80, 80, level_dbfs=-20)
    noisy = np.clip(clean + rng.normal(0, 400, len(clean)), -32768, 32767).astype(np.int16)
    assert detect(decode(encode(noisy, Codec.PCMU), Codec.PCMU)) == list("90210#")


def test_timestamp_and_duration_of_a_press() -> None:
    pcm = np.concatenate([np.zeros(800, np.int16), render(dtmf_tone("8", 200))])
    detector = InbandDetector()
    (digit,) = detector.feed(pcm) + detector.finish()
    assert digit.digit == "8"
    assert abs(digit.timestamp - 800) <= 102
    assert 170 <= digit.duration_ms <= 210


def test_too_short_tones_quiet_tones_and_strong_twist_are_rejected() -> None:
    assert detect(dtmf_sequence("1111", 20, 60)) == []
    assert detect(dtmf_sequence("1", 200, 0, level_dbfs=-45)) == []
    row = render(dtmf_tone("1", 200, level_dbfs=-10))  # build a 12 dB twisted pair
    t = np.arange(len(row)) / 8000
    twisted = (3000 * np.sin(2 * np.pi * 697 * t) + 750 * np.sin(2 * np.pi * 1209 * t))
    assert detect(twisted.astype(np.int16)) == []


@pytest.mark.parametrize(("row_db", "col_db"), [(0, -6), (-3, 0), (-20, -20)])
def test_twist_within_limits_and_quiet_phones_are_accepted(row_db: float,
                                                           col_db: float) -> None:
    t = np.arange(800) / 8000
    row, col = 697.0, 1477.0  # key 3
    tone = (10000 * 10 ** (row_db / 20) * np.sin(2 * np.pi * row * t)
            + 10000 * 10 ** (col_db / 20) * np.sin(2 * np.pi * col * t))
    assert detect(tone.astype(np.int16)) == ["3"]


def test_single_tones_and_noise_are_not_digits() -> None:
    t = np.arange(16000) / 8000
    assert detect((8000 * np.sin(2 * np.pi * 697 * t)).astype(np.int16)) == []
    rng = np.random.default_rng(3)
    assert detect(rng.normal(0, 6000, 80000).astype(np.int16)) == []


@needs(STOCK_PROMPTS)
def test_no_false_digits_in_stock_speech() -> None:
    sounds = stock_sounds()
    files = sorted(sounds.glob("*.wav")) + sorted((sounds / "digits").glob("*.wav"))
    speech = np.concatenate([to_telephony(decode_wav(f.read_bytes(), str(f))) for f in files])
    assert len(speech) / 8000 > 600  # over ten minutes of real speech
    assert detect(speech, chunk=8000) == []


@needs(HOLD_MUSIC)
def test_no_false_digits_in_hold_music() -> None:
    music = np.concatenate([to_telephony(decode_wav(f.read_bytes(), str(f)))[:8000 * 60]
                            for f in sorted(DEFAULT_MOH_DIR.glob("*.wav"))])
    assert detect(music, chunk=8000) == []


@needs(STOCK_PROMPTS)
def test_digits_mixed_into_speech_are_found() -> None:
    speech = to_telephony(decode_wav((stock_sounds() / "queue-thereare.wav").read_bytes()))
    quiet_speech = (speech[:4800] * 0.3).astype(np.int16)
    tones = dtmf_sequence("42", 100, 100)
    mixed = quiet_speech.astype(np.int32)
    mixed[1000:1000 + len(tones)] += tones
    assert detect(np.clip(mixed, -32768, 32767).astype(np.int16)) == ["4", "2"]


# --- SIP INFO ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("content_type", "body", "expected"), [
    ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", ("5", 160)),
    ("Application/DTMF-Relay; charset=utf-8", b"Signal= #\nDuration= 250", ("#", 250)),
    ("application/dtmf-relay", "Signal=10\r\n", ("*", 250)),
    ("application/dtmf-relay", "Signal=11\r\nDuration=100", ("#", 100)),
    ("application/dtmf-relay", "Signal=b\r\nDuration=100", ("B", 100)),
    ("application/dtmf", "7", ("7", 250)),
])
def test_sip_info_bodies(content_type: str, body: str, expected: tuple[str, int]) -> None:
    assert parse_info_body(content_type, body) == expected


@pytest.mark.parametrize(("content_type", "body", "message"), [
    ("text/plain", "Signal=5", "not DTMF"),
    ("application/dtmf-relay", "Duration=100", "no Signal= line"),
    ("application/dtmf-relay", "Signal=5\r\nDuration=long", "Duration='long'"),
    ("application/dtmf-relay", "Signal=x", "Signal='x' is not a DTMF key"),
    ("application/dtmf-relay", "Signal 5", "line 1 'Signal 5'"),
])
def test_bad_sip_info_bodies_name_the_field(content_type: str, body: str, message: str) -> None:
    with pytest.raises(DtmfError, match=message):
        parse_info_body(content_type, body)


# --- collect -----------------------------------------------------------------------------------
def test_collect_stops_at_max_digits() -> None:
    collector = DigitCollector(0.0, max_digits=3, timeout=5.0)
    assert collector.digit("1", 1.0) is None
    assert collector.digit("2", 2.0) is None
    assert collector.digit("3", 3.0) == CollectResult("123", "max_digits")
    assert collector.digit("4", 3.5) == CollectResult("123", "max_digits")  # ignored after


def test_collect_terminator_is_not_part_of_the_digits() -> None:
    collector = DigitCollector(0.0, max_digits=10, timeout=5.0, terminators="#*")
    collector.digit("4", 0.5)
    assert collector.digit("*", 0.8) == CollectResult("4", "terminator", "*")


def test_collect_first_digit_timeout_then_inter_digit_timeout() -> None:
    collector = DigitCollector(10.0, max_digits=4, timeout=5.0, inter_digit_timeout=2.0)
    assert collector.deadline == 15.0
    assert collector.expire(14.9) is None
    assert collector.digit("9", 14.0) is None
    assert collector.deadline == 16.0
    assert collector.expire(16.0) == CollectResult("9", "inter_digit_timeout")
    silent = DigitCollector(0.0, max_digits=4, timeout=3.0)
    assert silent.expire(3.0) == CollectResult("", "timeout")
    late = DigitCollector(0.0, max_digits=4, timeout=3.0)
    assert late.digit("1", 3.5) == CollectResult("", "timeout")


def test_collect_cancel_and_bad_arguments() -> None:
    collector = DigitCollector(0.0, max_digits=4, timeout=3.0)
    collector.digit("1", 1.0)
    assert collector.cancel() == CollectResult("1", "cancelled")
    with pytest.raises(DtmfError, match="max_digits >= 1"):
        DigitCollector(0.0, max_digits=0, timeout=1.0)
    with pytest.raises(DtmfError, match="'x' is not a DTMF digit"):
        DigitCollector(0.0, max_digits=1, timeout=1.0, terminators="x")
