"""RTP parsing and the timeline: reordering undone, losses as exact silence, SSRC changes."""

from __future__ import annotations

import struct

import pytest

from appliance.capture.rtp.packet import RtpPacket, RtpParseError
from appliance.capture.rtp.timeline import Timeline


def rtp(seq: int, ts: int, payload: bytes, ssrc: int = 0x1234, pt: int = 0, *, csrc: int = 0,
        ext: bytes | None = None, pad: int = 0, version: int = 2) -> bytes:
    first = version << 6 | (0x20 if pad else 0) | (0x10 if ext is not None else 0) | csrc
    data = struct.pack("!BBHII", first, pt, seq, ts, ssrc) + b"\0\0\0\1" * csrc
    if ext is not None:
        data += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    return data + payload + (b"\0" * (pad - 1) + bytes([pad]) if pad else b"")


def test_plain_packet():
    p = RtpPacket.parse(rtp(7, 160, b"\x01" * 160, pt=8))
    assert (p.payload_type, p.sequence, p.timestamp, p.ssrc, len(p.payload)) == (8, 7, 160, 0x1234, 160)


def test_csrc_extension_and_padding_are_stripped():
    p = RtpPacket.parse(rtp(1, 0, b"abcd", csrc=2, ext=b"12345678", pad=4))
    assert p.payload == b"abcd"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x80\x00\x00", "shorter than an RTP header"),
        (rtp(1, 0, b"x", version=1), "version 1"),
        (rtp(1, 0, b"", ext=b"")[:13], "truncated header extension"),
        (bytes([0x8F]) + rtp(1, 0, b"ab")[1:], "header longer"),  # 15 CSRCs it lacks
    ],
)
def test_malformed_packets_are_refused(data, reason):
    with pytest.raises(RtpParseError, match=reason):
        RtpPacket.parse(data)


def test_bad_padding_is_refused():
    data = bytearray(rtp(1, 0, b"ab", pad=1))
    data[-1] = 200
    with pytest.raises(RtpParseError, match="padding"):
        RtpPacket.parse(bytes(data))


def frames(n: int, start_seq: int = 0, start_ts: int = 0, ssrc: int = 1) -> list[RtpPacket]:
    """PCM16 packets of 160 samples, each filled with its own value."""
    return [RtpPacket(0, (start_seq + i) & 0xFFFF, (start_ts + 160 * i) % 2**32, ssrc, False,
                      bytes([i % 250 + 1, 0]) * 160)
            for i in range(n)]


def place(timeline: Timeline, p: RtpPacket, arrival: int = 0) -> None:
    timeline.add(p.ssrc, p.timestamp, p.payload, arrival)


def test_reordered_packets_come_out_in_order():
    packets = frames(10)
    timeline = Timeline()
    for i in (0, 2, 1, 3, 5, 4, 6, 9, 7, 8):
        place(timeline, packets[i], 160 * i)
    assert timeline.render() == b"".join(p.payload for p in packets)


def test_lost_packets_leave_exact_silence():
    packets = frames(10)
    timeline = Timeline()
    for p in packets[:3] + packets[6:]:
        place(timeline, p)
    out = timeline.render()
    assert len(out) == 3200 and out[960:1920] == bytes(960) and out[1920:2240] == packets[6].payload


def test_timestamp_wrap_keeps_the_timeline():
    packets = frames(4, start_seq=65534, start_ts=2**32 - 320)
    timeline = Timeline()
    for p in packets:
        place(timeline, p)
    assert timeline.render() == b"".join(p.payload for p in packets)


def test_new_ssrc_continues_where_the_last_stopped():
    timeline = Timeline()
    for p in frames(3, ssrc=1) + frames(2, start_ts=987654, ssrc=2):
        place(timeline, p, 0)
    assert timeline.samples == 5 * 160


def test_a_leg_starts_at_its_first_arrival():
    timeline = Timeline()
    for p in frames(2, start_ts=5000):
        place(timeline, p, arrival=40)
    out = timeline.render()
    assert out[:80] == bytes(80) and out[80:400] == frames(1)[0].payload


def test_after_a_pause_audio_resumes_at_the_wall_clock():
    """A sender whose timestamps run on without a gap across the pause still gets the
    pause's length of silence."""
    timeline = Timeline()
    packets = frames(6)
    for p in packets[:3]:
        place(timeline, p, 0)
    timeline.resync()
    for p in packets[3:]:
        place(timeline, p, arrival=8000)  # one second after the start
    out = timeline.render()
    assert timeline.samples == 8000 + 3 * 160
    assert out[480 * 2 : 8000 * 2] == bytes((8000 - 480) * 2)
    assert out[16000:16320] == packets[3].payload


def test_render_pads_and_cuts_to_the_call_length():
    timeline = Timeline()
    for p in frames(2):
        place(timeline, p)
    assert len(timeline.render(400)) == 800 and timeline.render(100) == frames(1)[0].payload[:200]


def test_late_packet_from_before_the_start_is_dropped():
    timeline = Timeline()
    packets = frames(3, start_ts=16000)
    for p in packets[1:]:
        place(timeline, p)
    place(timeline, packets[0])
    assert timeline.samples == 320
