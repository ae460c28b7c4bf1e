"""RIFF/WAVE reading (PCM, μ-law, A-law) and PCM16 writing: bytes, or files in pieces."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

from appliance.errors import AudioDecodeError
from appliance.media.pcm import BLOCK_FRAMES, Pcm, PcmStream, g711_to_pcm16, pcm_width_to_16

FORMAT_PCM = 1
FORMAT_ALAW = 6
FORMAT_MULAW = 7
FORMAT_GSM610 = 0x31
FORMAT_EXTENSIBLE = 0xFFFE
UNKNOWN_LENGTHS = (0, 0xFFFFFFFF)
# Writers that stream to a pipe (espeak-ng, sox -t wav -) put a huge placeholder size
# in both the RIFF and data headers; a real file of that size would be 2 GiB.
STREAMING_PLACEHOLDER = 0x7FFF0000


def is_wav(data: bytes) -> bool:
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE"


def format_tag(head: bytes) -> int | None:
    """The format tag of the fmt chunk in a WAV file's first bytes, if they hold it."""
    pos = 12
    while pos + 8 <= len(head):
        chunk_id, size = struct.unpack_from("<4sI", head, pos)
        if chunk_id == b"fmt ":
            return struct.unpack_from("<H", head, pos + 8)[0] if pos + 10 <= len(head) else None
        pos += 8 + size + (size & 1)
    return None


def read_wav(data: bytes) -> Pcm:
    """Decode a WAV file to PCM16; raise AudioDecodeError saying what is wrong."""
    if not is_wav(data):
        raise AudioDecodeError("not a RIFF/WAVE file")
    riff_size = struct.unpack_from("<I", data, 4)[0]
    streamed = riff_size in UNKNOWN_LENGTHS or riff_size >= STREAMING_PLACEHOLDER
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, pos)
        body_start = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or body_start + size > len(data):
                raise AudioDecodeError("WAV fmt chunk is truncated")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body_start)
            if tag == FORMAT_EXTENSIBLE and size >= 40:
                tag = struct.unpack_from("<H", data, body_start + 24)[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioDecodeError("WAV data chunk comes before its fmt chunk")
            available = len(data) - body_start
            if size in UNKNOWN_LENGTHS or (streamed and size >= STREAMING_PLACEHOLDER):
                size = available
            elif size > available:
                raise AudioDecodeError(
                    f"WAV is truncated: data chunk declares {size} bytes, {available} present"
                )
            return _decode(fmt, data[body_start : body_start + size])
        pos = body_start + size + (size & 1)
    raise AudioDecodeError("WAV has no data chunk" if fmt else "WAV has no fmt chunk")


def _decode(fmt: tuple[int, int, int, int], body: bytes) -> Pcm:
    channels, rate, frame, convert = _converter(fmt)
    body = body[: len(body) - len(body) % frame]
    return Pcm(convert(body), rate, channels)


def _converter(fmt: tuple[int, int, int, int]) -> tuple[int, int, int, Callable[[bytes], bytes]]:
    """(channels, rate, bytes per frame, a function turning whole frames into PCM16)."""
    tag, channels, rate, bits = fmt
    if channels not in (1, 2):
        raise AudioDecodeError(f"WAV has {channels} channels; 1 or 2 are supported")
    if not 4000 <= rate <= 96000:
        raise AudioDecodeError(f"WAV sample rate {rate} Hz is not supported")
    if tag in (FORMAT_ALAW, FORMAT_MULAW):
        if bits != 8:
            raise AudioDecodeError("G.711 WAV must have 8 bits per sample")
        alaw = tag == FORMAT_ALAW
        return channels, rate, channels, lambda body: g711_to_pcm16(body, alaw=alaw)
    if tag != FORMAT_PCM:
        raise AudioDecodeError(f"WAV format tag {tag} is not supported (PCM, A-law, μ-law are)")
    if bits not in (8, 16, 24, 32):
        raise AudioDecodeError(f"WAV with {bits} bits per sample is not supported")
    width = bits // 8
    return channels, rate, channels * width, lambda body: pcm_width_to_16(body, width)


def open_wav(fh: BinaryIO) -> PcmStream:
    """A WAV file decoded to PCM16 piece by piece; the same checks and messages as read_wav."""
    fh.seek(0, io.SEEK_END)
    total = fh.tell()
    fh.seek(0)
    head = fh.read(12)
    if not is_wav(head):
        raise AudioDecodeError("not a RIFF/WAVE file")
    riff_size = struct.unpack_from("<I", head, 4)[0]
    streamed = riff_size in UNKNOWN_LENGTHS or riff_size >= STREAMING_PLACEHOLDER
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= total:
        fh.seek(pos)
        chunk_id, size = struct.unpack("<4sI", fh.read(8))
        body_start = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or body_start + size > total:
                raise AudioDecodeError("WAV fmt chunk is truncated")
            body = fh.read(min(size, 40))
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == FORMAT_EXTENSIBLE and size >= 40:
                tag = struct.unpack_from("<H", body, 24)[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioDecodeError("WAV data chunk comes before its fmt chunk")
            available = total - body_start
            if size in UNKNOWN_LENGTHS or (streamed and size >= STREAMING_PLACEHOLDER):
                size = available
            elif size > available:
                raise AudioDecodeError(
                    f"WAV is truncated: data chunk declares {size} bytes, {available} present"
                )
            channels, rate, frame, convert = _converter(fmt)
            blocks = _read_blocks(fh, body_start, size - size % frame, frame, convert)
            return PcmStream(rate, channels, size // frame, blocks)
        pos = body_start + size + (size & 1)
    raise AudioDecodeError("WAV has no data chunk" if fmt else "WAV has no fmt chunk")


def _read_blocks(
    fh: BinaryIO, start: int, size: int, frame: int, convert: Callable[[bytes], bytes]
) -> Iterator[bytes]:
    fh.seek(start)
    step = BLOCK_FRAMES * frame
    left = size
    while left > 0:
        block = fh.read(min(step, left))
        if not block:
            raise AudioDecodeError("WAV ended while it was being read")
        block = block[: len(block) - len(block) % frame]
        left -= len(block)
        yield convert(block)


def wav_header(rate: int, channels: int, frames: int) -> bytes:
    """The 44-byte header of a canonical PCM16 WAV of this many frames."""
    block = channels * 2
    data_size = frames * block
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_size,
        b"WAVE",
        b"fmt ",
        16,
        FORMAT_PCM,
        channels,
        rate,
        rate * block,
        block,
        16,
        b"data",
        data_size,
    )


def write_wav(pcm: Pcm) -> bytes:
    """A canonical 44-byte-header PCM16 WAV."""
    return wav_header(pcm.rate, pcm.channels, pcm.frames) + pcm.samples
