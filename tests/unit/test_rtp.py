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
    return [RtpPacket(0, (start_seq + i) & 0xFFFF, (start_ts + 160 * i) % 2**32, ssrc, False, bytes([i % 250]) * 160)
            for i in range(n)]


def test_reordered_packets_come_out_in_order():
    packets = frames(10)
    timeline = Timeline()
    for i in (0, 2, 1, 3, 5, 4, 6, 9, 7, 8):
        timeline.add(packets[i])
    assert timeline.render() == b"".join(p.payload for p in packets)


def test_lost_packets_leave_exact_silence():
    packets = frames(10)
    timeline = Timeline()
    for p in packets[:3] + packets[6:]:
        timeline.add(p)
    out = timeline.render()
    assert len(out) == 1600 and out[480:960] == b"\xff" * 480 and out[960:1120] == packets[6].payload


def test_timestamp_wrap_keeps_the_timeline():
    packets = frames(4, start_seq=65534, start_ts=2**32 - 320)
    timeline = Timeline()
    for p in packets:
        timeline.add(p)
    assert timeline.render() == b"".join(p.payload for p in packets)


def test_new_ssrc_continues_where_the_last_stopped():
    timeline = Timeline()
    for p in frames(3, ssrc=1) + frames(2, start_ts=987654, ssrc=2):
        timeline.add(p)
    assert timeline.samples == 5 * 160


def test_late_packet_from_before_the_start_is_dropped():
    timeline = Timeline()
    packets = frames(3, start_ts=16000)
    for p in packets[1:]:
        timeline.add(p)
    timeline.add(packets[0])
    assert timeline.samples == 320
