"""One direction of a call put back in order: packets by RTP timestamp, losses as silence.

A stream's audio is placed by its RTP timestamps, so reordering is undone and a lost
packet leaves silence of exactly its length: the timeline stays true. A segment starts
at the first packet, at a new SSRC (the sender switched source), after a pause and at
an implausible timestamp jump; a segment is placed at the packet's arrival time (never
over audio already placed), so the two legs of a call line up and a pause lasts as
long as it did on the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WRAP = 1 << 32
MAX_JUMP_SAMPLES = 8000 * 3600  # a timestamp jump beyond an hour is a new source's clock
WIDTH = 2  # PCM16: bytes per sample


@dataclass
class Timeline:
    """Decoded PCM16 audio placed at sample offsets from the call's zero."""

    _chunks: dict[int, bytes] = field(default_factory=dict)
    _ssrc: int | None = None
    _base: int = 0  # RTP timestamp that maps to offset _origin
    _origin: int = 0
    _end: int = 0  # one past the last sample placed
    _resync: bool = True

    def resync(self) -> None:
        """The next packet starts a new segment at its arrival time (after a pause)."""
        self._resync = True

    def add(self, ssrc: int, timestamp: int, audio: bytes, arrival: int) -> None:
        """Place one packet's decoded audio; arrival is in samples from the call's zero."""
        if self._resync or ssrc != self._ssrc:
            self._new_segment(ssrc, timestamp, arrival)
        delta = (timestamp - self._base) % WRAP
        if delta >= WRAP // 2:
            delta -= WRAP  # a late packet from before the base
        if abs(delta) > MAX_JUMP_SAMPLES:
            self._new_segment(ssrc, timestamp, arrival)
            delta = 0
        offset = self._origin + delta
        if offset < 0:
            return  # older than the start of the recording
        self._chunks[offset] = audio
        self._end = max(self._end, offset + len(audio) // WIDTH)

    def _new_segment(self, ssrc: int, timestamp: int, arrival: int) -> None:
        self._ssrc, self._base, self._origin = ssrc, timestamp, max(self._end, arrival)
        self._resync = False

    @property
    def samples(self) -> int:
        return self._end

    def render(self, samples: int | None = None) -> bytes:
        """The stream as PCM16, gaps silent, padded or cut to `samples`; where packets
        overlap the earlier one wins."""
        total = self._end if samples is None else samples
        out = bytearray(total * WIDTH)
        for offset in sorted(self._chunks, reverse=True):
            if offset >= total:
                continue
            chunk = self._chunks[offset][: (total - offset) * WIDTH]
            out[offset * WIDTH : offset * WIDTH + len(chunk)] = chunk
        return bytes(out)
