"""RIFF/WAVE reading (PCM, μ-law, A-law) and PCM16 writing, bytes in and bytes out."""

from __future__ import annotations

import struct

from appliance.errors import AudioDecodeError
from appliance.media.pcm import Pcm, g711_to_pcm16, pcm_width_to_16

FORMAT_PCM = 1
FORMAT_ALAW = 6
FORMAT_MULAW = 7
FORMAT_EXTENSIBLE = 0xFFFE
UNKNOWN_LENGTHS = (0, 0xFFFFFFFF)
# Writers that stream to a pipe (espeak-ng, sox -t wav -) put a huge placeholder size
# in both the RIFF and data headers; a real file of that size would be 2 GiB.
STREAMING_PLACEHOLDER = 0x7FFF0000


def is_wav(data: bytes) -> bool:
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE"


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
    tag, channels, rate, bits = fmt
    if channels not in (1, 2):
        raise AudioDecodeError(f"WAV has {channels} channels; 1 or 2 are supported")
    if not 4000 <= rate <= 96000:
        raise AudioDecodeError(f"WAV sample rate {rate} Hz is not supported")
    if tag in (FORMAT_ALAW, FORMAT_MULAW):
        if bits != 8:
            raise AudioDecodeError("G.711 WAV must have 8 bits per sample")
        body = body[: len(body) - len(body) % channels]
        return Pcm(g711_to_pcm16(body, alaw=tag == FORMAT_ALAW), rate, channels)
    if tag != FORMAT_PCM:
        raise AudioDecodeError(f"WAV format tag {tag} is not supported (PCM, A-law, μ-law are)")
    if bits not in (8, 16, 24, 32):
        raise AudioDecodeError(f"WAV with {bits} bits per sample is not supported")
    frame = channels * bits // 8
    body = body[: len(body) - len(body) % frame]
    return Pcm(pcm_width_to_16(body, bits // 8), rate, channels)


def write_wav(pcm: Pcm) -> bytes:
    """A canonical 44-byte-header PCM16 WAV."""
    block = pcm.channels * 2
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm.samples),
        b"WAVE",
        b"fmt ",
        16,
        FORMAT_PCM,
        pcm.channels,
        pcm.rate,
        pcm.rate * block,
        block,
        16,
        b"data",
        len(pcm.samples),
    )
    return header + pcm.samples
