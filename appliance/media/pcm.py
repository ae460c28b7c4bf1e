"""Linear PCM16 audio in memory and the audioop conversions it needs."""

from __future__ import annotations

import sys
import warnings
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
