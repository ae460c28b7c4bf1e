"""Linear PCM16 audio in memory and the audioop conversions it needs."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

# Rates LAME encodes natively; anything else is resampled to telephone rate first.
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


@dataclass(frozen=True)
class Pcm:
    """Interleaved signed 16-bit little-endian samples."""

    samples: bytes
    rate: int
    channels: int

    @property
    def frames(self) -> int:
        return len(self.samples) // (2 * self.channels)

    @property
    def duration_ms(self) -> int:
        return self.frames * 1000 // self.rate if self.rate else 0

    def window(self, first_frame: int, frames: int) -> Pcm:
        """The frames first_frame .. first_frame+frames (fewer if the audio ends sooner)."""
        size = 2 * self.channels
        return Pcm(
            self.samples[first_frame * size : (first_frame + frames) * size],
            self.rate,
            self.channels,
        )

    def resampled(self, rate: int) -> Pcm:
        if rate == self.rate:
            return self
        out, _ = audioop.ratecv(self.samples, 2, self.channels, self.rate, rate, None)
        return Pcm(out, rate, self.channels)


def g711_to_pcm16(data: bytes, *, alaw: bool) -> bytes:
    return audioop.alaw2lin(data, 2) if alaw else audioop.ulaw2lin(data, 2)


def pcm_width_to_16(data: bytes, width: int) -> bytes:
    """WAV 8-bit PCM is unsigned, wider ones signed; all become signed 16-bit."""
    if width == 2:
        return data if sys.byteorder == "little" else audioop.byteswap(data, 2)
    if width == 1:
        data = audioop.bias(data, 1, -128)
    return audioop.lin2lin(data, width, 2)


BLOCK_FRAMES = 64 * 1024  # PCM handed along in pieces of about this many frames


@dataclass
class PcmStream:
    """PCM16 audio that arrives in pieces (whole frames each), so no step holds it all.

    frames is the count when known in advance, else None (an MP3 being decoded)."""

    rate: int
    channels: int
    frames: int | None
    blocks: Iterator[bytes]

    @classmethod
    def of(cls, pcm: Pcm) -> PcmStream:
        step = BLOCK_FRAMES * 2 * pcm.channels
        view = memoryview(pcm.samples)
        pieces = (bytes(view[i : i + step]) for i in range(0, len(view), step))
        return cls(pcm.rate, pcm.channels, pcm.frames, pieces)

    def resampled(self, rate: int) -> PcmStream:
        if rate == self.rate:
            return self
        frames = None if self.frames is None else self.frames * rate // self.rate
        return PcmStream(rate, self.channels, frames, _ratecv(self.blocks, self, rate))

    def window(self, first_frame: int, frames: int) -> PcmStream:
        """Skip first_frame frames, then at most `frames` (fewer if the audio ends sooner)."""
        known = None if self.frames is None else max(0, min(frames, self.frames - first_frame))
        return PcmStream(
            self.rate,
            self.channels,
            known,
            _window(self.blocks, 2 * self.channels, first_frame, frames),
        )

    def read_all(self) -> Pcm:
        return Pcm(b"".join(self.blocks), self.rate, self.channels)


def _ratecv(blocks: Iterator[bytes], source: PcmStream, rate: int) -> Iterator[bytes]:
    state = None
    for block in blocks:
        out, state = audioop.ratecv(block, 2, source.channels, source.rate, rate, state)
        if out:
            yield out


def _window(blocks: Iterator[bytes], frame: int, first: int, count: int) -> Iterator[bytes]:
    skip, left = first * frame, count * frame
    for block in blocks:
        if skip:
            cut = min(skip, len(block))
            block, skip = block[cut:], skip - cut
        if not block:
            continue
        piece = block[:left]
        left -= len(piece)
        if piece:
            yield piece
        if left <= 0:
            return
