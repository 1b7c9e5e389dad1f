"""The capture helpers write what SIPp plays and what Parley's receivers understand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parley.media.dtmf import InbandDetector
from parley.media.g711 import Codec, decode
from parley.media.rtp import RtpPacket
from parley.media.stream import MediaStream, StreamSettings
from parley.media.tones import dtmf_sequence
from parley.testing.media import audio_packets, event_stream, read_pcap, write_pcap

DATA = Path(__file__).parent / "data"


def test_layout_matches_the_captures_sipp_ships(tmp_path: Path) -> None:
    shipped = (DATA / "dtmf_2833_5.pcap").read_bytes()
    ours = write_pcap(tmp_path / "five.pcap", event_stream("5", duration_ms=140)).read_bytes()
    assert ours[:24] == shipped[:24]  # same libpcap header: version 2.4, Ethernet
    # Ethernet + IPv4 (20 bytes) + UDP + 12-byte RTP + 4-byte event, as SIPp's own.
    assert len(ours) - 24 == 9 * (16 + 14 + 20 + 8 + 16)  # six updates, three ends
    assert len(shipped) - 24 == 10 * (16 + 14 + 20 + 8 + 16)


def test_events_read_back_as_the_digits(tmp_path: Path) -> None:
    packets = read_pcap(write_pcap(tmp_path / "d.pcap", event_stream("42#")).read_bytes())
    receiver = MediaStream(StreamSettings(telephone_event_pt=101), ssrc=1)
    digits = [d.digit for _, data in packets for d in receiver.receive(RtpPacket.parse(data))]
    assert digits == ["4", "2", "#"]
    times = [when for when, _ in packets]
    assert times == sorted(times)
    # Per press: four updates and three ends (7 ticks), then 100 ms of gap (5 ticks).
    assert abs(times[-1] - (2 * 12 + 6) * 0.020) < 1e-5


def test_inband_tones_read_back_as_the_digits(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "tones.pcap", audio_packets(dtmf_sequence("809", 100, 100),
                                                             Codec.PCMA))
    detector = InbandDetector()
    digits = []
    for when, data in read_pcap(path.read_bytes()):
        packet = RtpPacket.parse(data)
        assert packet.payload_type == 8
        assert abs(when - (packet.sequence - 1000) * 0.02) < 1e-6
        digits += [d.digit for d in detector.feed(decode(packet.payload, Codec.PCMA))]
    assert digits + [d.digit for d in detector.finish()] == ["8", "0", "9"]


def test_audio_round_trip_is_exact_up_to_the_codec() -> None:
    pcm = (np.arange(800) * 37 % 16000 - 8000).astype(np.int16)
    packets = audio_packets(pcm)
    assert len(packets) == 5
    payload = b"".join(RtpPacket.parse(data).payload for _, data in packets)
    assert np.abs(decode(payload, Codec.PCMU).astype(int) - pcm).max() < 300
