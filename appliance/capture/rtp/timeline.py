"""One direction of a call put back in order: packets by RTP timestamp, losses as silence.

A stream's audio is placed by its RTP timestamps, so reordering is undone and a lost
packet leaves silence of exactly its length: the timeline stays true. A new SSRC (the
sender switched source) continues where the previous one stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.capture.rtp.packet import RtpPacket

WRAP = 1 << 32
MAX_JUMP_SAMPLES = 8000 * 3600  # a timestamp jump beyond an hour is a new source's clock


@dataclass
class Timeline:
    """Payload bytes (one byte per sample: G.711) placed at sample offsets from the start."""

    silence: bytes = b"\xff"  # μ-law silence; A-law uses 0xd5
    _chunks: dict[int, bytes] = field(default_factory=dict)
    _ssrc: int | None = None
    _base: int = 0  # RTP timestamp that maps to offset _origin
    _origin: int = 0
    _end: int = 0  # one past the last sample placed

    def add(self, packet: RtpPacket) -> None:
        if packet.ssrc != self._ssrc:
            # A new source continues the timeline where the last one ended.
            self._ssrc, self._base, self._origin = packet.ssrc, packet.timestamp, self._end
        delta = (packet.timestamp - self._base) % WRAP
        if delta >= WRAP // 2:
            delta -= WRAP  # a late packet from before the base
        if abs(delta) > MAX_JUMP_SAMPLES:
            self._base, self._origin, delta = packet.timestamp, self._end, 0
        offset = self._origin + delta
        if offset < 0:
            return  # older than the start of the recording
        self._chunks[offset] = packet.payload
        self._end = max(self._end, offset + len(packet.payload))

    @property
    def samples(self) -> int:
        return self._end

    def render(self) -> bytes:
        """The whole stream, gaps filled with silence; where packets overlap the earlier wins."""
        out = bytearray(self.silence * self._end)
        for offset in sorted(self._chunks, reverse=True):
            chunk = self._chunks[offset]
            out[offset : offset + len(chunk)] = chunk
        return bytes(out)
