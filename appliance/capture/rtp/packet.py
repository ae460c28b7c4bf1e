"""RTP packets (RFC 3550 §5.1) parsed from bytes; no I/O here."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from appliance.errors import ApplianceError

HEADER = struct.Struct("!BBHII")


class RtpParseError(ApplianceError):
    """Bytes that are not an RTP packet we can use."""


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < HEADER.size:
            raise RtpParseError(f"{len(data)} bytes is shorter than an RTP header")
        first, second, sequence, timestamp, ssrc = HEADER.unpack_from(data)
        if first >> 6 != 2:
            raise RtpParseError(f"RTP version {first >> 6}, expected 2")
        offset = HEADER.size + 4 * (first & 0x0F)  # CSRC list
        if first & 0x10:  # header extension: 16-bit profile, 16-bit length in words
            if len(data) < offset + 4:
                raise RtpParseError("truncated header extension")
            offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
        end = len(data)
        if first & 0x20:  # padding: the last byte says how much
            if end == 0 or data[-1] == 0 or data[-1] > end - offset:
                raise RtpParseError("bad padding length")
            end -= data[-1]
        if offset > end:
            raise RtpParseError("header longer than the packet")
        return cls(second & 0x7F, sequence, timestamp, ssrc, bool(second & 0x80), data[offset:end])
