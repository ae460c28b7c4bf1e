"""One entry point for turning uploaded bytes into PCM and PCM into the stored format."""

from __future__ import annotations

from typing import BinaryIO, Protocol

from appliance.domain.settings import FileFormat
from appliance.errors import AudioDecodeError
from appliance.media.av_audio import open_with_av
from appliance.media.mp3 import encode_mp3, looks_like_mp3, open_mp3, read_mp3, write_mp3
from appliance.media.pcm import Pcm, PcmStream
from appliance.media.wav import (
    FORMAT_GSM610,
    format_tag,
    is_wav,
    open_wav,
    read_wav,
    wav_header,
    write_wav,
)

EXTENSIONS = {FileFormat.MP3: "mp3", FileFormat.WAV: "wav"}
MEDIA_TYPES = {FileFormat.MP3: "audio/mpeg", FileFormat.WAV: "audio/wav"}


def decode_audio(data: bytes) -> Pcm:
    """WAV (PCM, G.711) or MP3 to PCM16; raise AudioDecodeError for anything else."""
    if not data:
        raise AudioDecodeError("the audio is empty")
    if is_wav(data):
        return read_wav(data)
    if looks_like_mp3(data):
        return read_mp3(data)
    raise AudioDecodeError("the audio is neither WAV (PCM, A-law, μ-law) nor MP3")


def open_audio_file(fh: BinaryIO, container: str | None = None) -> PcmStream:
    """decode_audio for a seekable file, decoded piece by piece as the stream is read.
    container names a headerless format the bytes cannot tell ("gsm": raw GSM 6.10)."""
    fh.seek(0)
    head = fh.read(64 * 1024)
    if not head:
        raise AudioDecodeError("the audio is empty")
    if container == "gsm":
        return open_with_av(fh, container)
    if is_wav(head):
        if format_tag(head) == FORMAT_GSM610:  # Asterisk's wav49
            return open_with_av(fh, "wav49")
        return open_wav(fh)
    if looks_like_mp3(head):
        return open_mp3(fh)
    raise AudioDecodeError("the audio is neither WAV (PCM, A-law, μ-law) nor MP3")


def encode_audio(pcm: Pcm, fmt: FileFormat) -> bytes:
    return write_mp3(pcm) if fmt is FileFormat.MP3 else write_wav(pcm)


class Sink(Protocol):
    """Where encoded audio goes: write() in order; patch_head() may rewrite the first bytes."""

    def write(self, data: bytes, /) -> object: ...

    def patch_head(self, data: bytes, /) -> object: ...


def encode_stream(stream: PcmStream, fmt: FileFormat, sink: Sink) -> int:
    """Encode piece by piece into the sink; return the frames of the input (its duration)."""
    if fmt is FileFormat.MP3:
        return encode_mp3(stream, sink.write)
    sink.write(wav_header(stream.rate, stream.channels, stream.frames or 0))
    frames = 0
    for block in stream.blocks:
        frames += len(block) // (2 * stream.channels)
        sink.write(block)
    if frames != stream.frames:
        sink.patch_head(wav_header(stream.rate, stream.channels, frames))
    return frames
