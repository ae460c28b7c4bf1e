"""MP3: a frame walker that rejects garbage and truncation, decoding, encoding."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import BinaryIO

import lameenc
import miniaudio

from appliance.errors import AudioDecodeError
from appliance.media.pcm import BLOCK_FRAMES, MP3_RATES, Pcm, PcmStream

_BITRATES_V1_L3 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_BITRATES_V2_L3 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
# LAME's encoder delay plus the decoder's (576 + 529 frames): the audio we encode
# starts this many frames into what a decoder returns. Measured, constant across rates.
LAME_DELAY_FRAMES = 1105
_TRAILERS = (b"TAG", b"APETAGEX", b"LYRICSBEGIN")
_WINDOW = 1024 * 1024


def _skip_id3v2(data: bytes) -> int:
    if len(data) >= 10 and data[:3] == b"ID3":
        size = 0
        for b in data[6:10]:
            size = (size << 7) | (b & 0x7F)
        footer = 10 if data[5] & 0x10 else 0
        return 10 + size + footer
    return 0


def _frame_length(data: bytes, pos: int) -> int | None:
    """Length of the MPEG audio layer III frame at pos, or None when no header is there."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    version = (data[pos + 1] >> 3) & 3
    layer = (data[pos + 1] >> 1) & 3
    bitrate_index = data[pos + 2] >> 4
    rate_index = (data[pos + 2] >> 2) & 3
    padding = (data[pos + 2] >> 1) & 1
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    rate = _RATES[version][rate_index]
    if version == 3:
        return 144000 * _BITRATES_V1_L3[bitrate_index] // rate + padding
    return 72000 * _BITRATES_V2_L3[bitrate_index] // rate + padding


def looks_like_mp3(data: bytes) -> bool:
    return _frame_length(data, _skip_id3v2(data)) is not None


def check_mp3(data: bytes) -> int:
    """Walk every frame; return the count or raise AudioDecodeError (garbage, truncation)."""
    pos = _skip_id3v2(data)
    frames = 0
    while pos < len(data):
        length = _frame_length(data, pos)
        if length is None:
            if frames and any(data.startswith(t, pos) for t in _TRAILERS):
                break
            raise AudioDecodeError(f"MP3 is corrupt: no frame header at byte {pos}")
        if pos + length > len(data):
            raise AudioDecodeError(
                f"MP3 is truncated: frame at byte {pos} needs {length} bytes, "
                f"{len(data) - pos} present"
            )
        pos += length
        frames += 1
    if frames == 0:
        raise AudioDecodeError("MP3 holds no audio frames")
    return frames


def read_mp3(data: bytes) -> Pcm:
    check_mp3(data)
    try:
        decoded = miniaudio.mp3_read_s16(data)
    except miniaudio.DecodeError as exc:
        raise AudioDecodeError(f"MP3 cannot be decoded: {exc}") from None
    return Pcm(decoded.samples.tobytes(), decoded.sample_rate, decoded.nchannels)


def write_mp3(pcm: Pcm) -> bytes:
    """Encode with LAME: speech bitrates, mono 32 kbit/s at 8 kHz, more for wider audio."""
    out = bytearray()
    encode_mp3(PcmStream.of(pcm), out.extend)
    return bytes(out)


def encode_mp3(stream: PcmStream, write: Callable[[bytes], object]) -> int:
    """Encode piece by piece into write(); return the frames of the input (before resampling)."""
    frames = 0
    frame = 2 * stream.channels

    def counted() -> Iterator[bytes]:
        nonlocal frames
        for block in stream.blocks:
            frames += len(block) // frame
            yield block

    source = PcmStream(stream.rate, stream.channels, stream.frames, counted())
    if source.rate not in MP3_RATES:
        source = source.resampled(8000)
    encoder = lameenc.Encoder()
    encoder.set_in_sample_rate(source.rate)
    encoder.set_channels(source.channels)
    encoder.set_bit_rate((32 if source.rate <= 16000 else 64) * source.channels)
    encoder.set_quality(5)
    encoder.silence()
    encoded = False
    for block in source.blocks:
        encoded = True
        if out := encoder.encode(block):
            write(bytes(out))
    if not encoded:
        encoder.encode(b"")  # LAME refuses to flush an encoder that never encoded
    write(bytes(encoder.flush()))
    return frames


class _Source(miniaudio.StreamableSource):
    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def read(self, num_bytes: int) -> bytes:
        return self._fh.read(num_bytes)

    def seek(self, offset: int, origin: miniaudio.SeekOrigin) -> bool:
        self._fh.seek(offset, io.SEEK_SET if origin == miniaudio.SeekOrigin.START else io.SEEK_CUR)
        return True


def check_mp3_file(fh: BinaryIO) -> tuple[int, int, int]:
    """check_mp3 over a file, a window at a time: (frames, sample rate, channels)."""
    total = fh.seek(0, io.SEEK_END)
    fh.seek(0)
    pos = _skip_id3v2(fh.read(10))
    window, base = b"", pos
    frames, rate, channels = 0, 0, 0
    while pos < total:
        if pos - base + 16 > len(window) and base + len(window) < total:
            fh.seek(pos)
            window, base = fh.read(_WINDOW), pos
        at = pos - base
        length = _frame_length(window, at)
        if length is None:
            if frames and any(window.startswith(t, at) for t in _TRAILERS):
                break
            raise AudioDecodeError(f"MP3 is corrupt: no frame header at byte {pos}")
        if frames == 0:
            rate = _RATES[(window[at + 1] >> 3) & 3][(window[at + 2] >> 2) & 3]
            channels = 1 if window[at + 3] >> 6 == 3 else 2
        if pos + length > total:
            raise AudioDecodeError(
                f"MP3 is truncated: frame at byte {pos} needs {length} bytes, {total - pos} present"
            )
        pos += length
        frames += 1
    if frames == 0:
        raise AudioDecodeError("MP3 holds no audio frames")
    return frames, rate, channels


def open_mp3(fh: BinaryIO) -> PcmStream:
    """Check every frame, then decode piece by piece (the frame count is known at the end)."""
    _, rate, channels = check_mp3_file(fh)
    fh.seek(0)
    return PcmStream(rate, channels, None, _decode_blocks(fh, rate, channels))


def _decode_blocks(fh: BinaryIO, rate: int, channels: int) -> Iterator[bytes]:
    try:
        for samples in miniaudio.stream_any(
            _Source(fh),
            source_format=miniaudio.FileFormat.MP3,
            nchannels=channels,
            sample_rate=rate,
            frames_to_read=BLOCK_FRAMES,
        ):
            yield samples.tobytes()
    except miniaudio.DecodeError as exc:
        raise AudioDecodeError(f"MP3 cannot be decoded: {exc}") from None


def open_own_mp3(fh: BinaryIO, duration_ms: int) -> PcmStream:
    """open_mp3 for an MP3 this appliance wrote, without LAME's delay and padding."""
    stream = open_mp3(fh)
    return stream.window(LAME_DELAY_FRAMES, duration_ms * stream.rate // 1000)


def read_own_mp3(data: bytes, duration_ms: int) -> Pcm:
    """Decode an MP3 this appliance wrote, without LAME's leading delay and trailing padding."""
    pcm = read_mp3(data)
    return pcm.window(LAME_DELAY_FRAMES, duration_ms * pcm.rate // 1000)
