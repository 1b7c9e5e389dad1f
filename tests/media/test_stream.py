"""A leg's terminated media end to end: one stream sends, another receives."""

from __future__ import annotations

import random

import numpy as np
import pytest

from parley.media.g711 import Codec, decode, encode
from parley.media.player import PcmSource, Player
from parley.media.rtp import RtpError, RtpPacket
from parley.media.stream import MediaStream, StreamSettings
from parley.media.tones import dtmf_sequence


def frames_of(pcm: np.ndarray) -> list[np.ndarray]:
    player = Player([PcmSource(pcm)])
    out = []
    while (frame := player.next_pcm()) is not None:
        out.append(frame)
    return out


def test_audio_crosses_with_reordering_and_duplicates() -> None:
    settings = StreamSettings(Codec.PCMA, jitter_depth=3)
    sender = MediaStream(settings, ssrc=0x1234, first_sequence=65530, first_timestamp=1000)
    receiver = MediaStream(settings, ssrc=0x9999)
    audio = (np.sin(np.arange(16000) / 5) * 8000).astype(np.int16)
    packets = [sender.audio_packet(encode(f, Codec.PCMA)) for f in frames_of(audio)]
    parsed = [RtpPacket.parse(p) for p in packets]
    assert parsed[0].marker
    assert not parsed[1].marker
    assert [p.sequence for p in parsed[:8]] == [65530, 65531, 65532, 65533, 65534, 65535, 0, 1]
    assert [p.timestamp - 1000 for p in parsed[:3]] == [0, 160, 320]
    assert {p.ssrc for p in parsed} == {0x1234}
    rng = random.Random(4)
    heard = []
    for i in range(0, len(parsed), 3):  # reorder within groups of three, send one twice
        group = parsed[i:i + 3]
        rng.shuffle(group)
        for packet in group + group[:1]:
            assert receiver.receive(packet) == []
        for _ in group:  # one tick per frame sent
            pcm, digits = receiver.tick()
            assert digits == []
            if pcm is not None:
                heard.append(pcm)
    while len(receiver.jitter):
        pcm, _ = receiver.tick()
        if pcm is not None:
            heard.append(pcm)
    got = np.concatenate(heard)
    assert np.array_equal(got, decode(encode(audio, Codec.PCMA), Codec.PCMA))


def test_idle_ticks_keep_the_timeline_and_mark_the_next_talkspurt() -> None:
    stream = MediaStream(StreamSettings(), ssrc=1)
    stream.audio_packet(bytes(160))
    stream.idle()
    stream.idle()
    packet = RtpPacket.parse(stream.audio_packet(bytes(160)))
    assert packet.timestamp == 480
    assert packet.sequence == 1
    assert packet.marker


def test_rfc4733_digits_between_streams() -> None:
    settings = StreamSettings(telephone_event_pt=96)
    sender = MediaStream(settings, ssrc=7)
    receiver = MediaStream(settings, ssrc=8)
    digits = []
    for key in "1#1":
        for outgoing in sender.dtmf_packets(key, 80):
            digits += receiver.receive(RtpPacket.parse(outgoing.data))
        sender.idle()
    assert [(d.digit, d.method) for d in digits] == [("1", "rfc4733"), ("#", "rfc4733"),
                                                     ("1", "rfc4733")]
    assert digits[0].duration_ms == 80
    after = RtpPacket.parse(sender.audio_packet(bytes(160)))
    assert after.marker
    assert after.timestamp == 3 * 4 * 160 + 3 * 160  # three 80 ms presses and idle ticks
    with pytest.raises(ValueError, match="telephone-event"):
        MediaStream(StreamSettings(telephone_event_pt=None), ssrc=1).dtmf_packets("1")


def test_inband_digits_in_the_audio_stream() -> None:
    settings = StreamSettings(Codec.PCMU, inband_dtmf=True, telephone_event_pt=None)
    sender = MediaStream(settings, ssrc=1)
    receiver = MediaStream(settings, ssrc=2)
    digits = []
    for frame in frames_of(dtmf_sequence("*42", 80, 80)):
        receiver.receive(RtpPacket.parse(sender.audio_packet(encode(frame, Codec.PCMU))))
        digits += receiver.tick()[1]
    digits += receiver.finish()
    assert [(d.digit, d.method) for d in digits] == [("*", "inband"), ("4", "inband"),
                                                     ("2", "inband")]


def test_other_payload_types_are_counted_and_ignored() -> None:
    stream = MediaStream(StreamSettings(), ssrc=1)
    assert stream.receive(RtpPacket(13, 1, 0, 5, b"\x40")) == []  # comfort noise
    assert stream.ignored == 1
    assert stream.tick() == (None, [])


def test_a_malformed_event_packet_is_dropped_not_raised() -> None:
    stream = MediaStream(StreamSettings(telephone_event_pt=101), ssrc=1)
    assert stream.receive(RtpPacket(101, 1, 0, 5, b"\x01")) == []
    assert stream.malformed == 1


def test_continue_from_carries_on_another_senders_stream() -> None:
    stream = MediaStream(StreamSettings(Codec.PCMU), ssrc=1, first_sequence=5)
    stream.continue_from(0xABCDEF01, 65535, 4_294_967_200)
    first = RtpPacket.parse(stream.audio_packet(bytes(160)))
    second = RtpPacket.parse(stream.audio_packet(bytes(160)))
    assert (first.ssrc, first.sequence, first.timestamp, first.marker) == (
        0xABCDEF01, 65535, 4_294_967_200, True)
    assert (second.sequence, second.timestamp, second.marker) == (0, 64, False)  # wrapped


def test_receive_bytes_matches_receive_for_audio_events_and_extensions() -> None:
    fast = MediaStream(StreamSettings(Codec.PCMU, jitter_depth=1), ssrc=1)
    full = MediaStream(StreamSettings(Codec.PCMU, jitter_depth=1), ssrc=1)
    phone = MediaStream(StreamSettings(Codec.PCMU), ssrc=9)
    payload = encode(np.full(160, 3000, dtype=np.int16), Codec.PCMU)
    plain = phone.audio_packet(payload)
    extended = bytes(RtpPacket(0, 7, 1120, 9, payload=payload, extension=(0xBEDE, b"\0" * 4)))
    for data in (plain, extended):
        assert fast.receive_bytes(data) == full.receive(RtpPacket.parse(data)) == []
        assert fast.next_payload() == full.next_payload() == payload
    digits = [d for p in phone.dtmf_packets("5", 80) for d in fast.receive_bytes(p.data)]
    assert [(d.digit, d.method) for d in digits] == [("5", "rfc4733")]
    with pytest.raises(RtpError):
        fast.receive_bytes(b"\x40" + bytes(20))  # RTP version 1
